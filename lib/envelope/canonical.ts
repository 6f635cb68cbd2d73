/**
 * RFC 8785 (JCS) canonical JSON through the npm package `canonicalize`,
 * behind a validation pass that refuses what JSON cannot carry.
 *
 * @module
 */

import _canonicalizeImpl from "canonicalize";

const _serialize = _canonicalizeImpl as (input: unknown) => string | undefined;

/**
 * Escapes one JSON Pointer reference token (RFC 6901).
 *
 * @param token The key or index.
 * @returns The escaped token.
 */
export function escapePointerToken(token: string | number): string {
  return String(token).replaceAll("~", "~0").replaceAll("/", "~1");
}

/**
 * Renders a path as a JSON Pointer (`""` for the root).
 *
 * @param path The keys and indexes.
 * @returns The pointer, e.g. `/payload/lri`.
 */
export function toJsonPointer(path: readonly PropertyKey[]): string {
  return path.map((p) => "/" + escapePointerToken(typeof p === "symbol" ? String(p) : p)).join("");
}

/** What {@linkcode checkJsonValue} found wrong, if anything. */
export interface JsonProblem {
  /** JSON Pointer of the offending value. */
  path: string;
  /** What is wrong, starting with a capital letter. */
  message: string;
}

/** Limits for {@linkcode checkJsonValue}. */
export interface JsonCheckLimits {
  /** Deepest allowed nesting of objects and arrays. */
  maxDepth?: number;
  /**
   * Give up once the canonical UTF-8 size certainly exceeds this many bytes
   * (the walk keeps a lower bound of the size; the caller checks the exact
   * size after serializing).
   */
  maxBytes?: number;
  /**
   * Refuse object keys named `__proto__` (legal JSON, but a trap for code
   * that copies objects by assignment).
   */
  rejectProtoKeys?: boolean;
}

function _describe(value: unknown): string {
  if (typeof value === "bigint") return `BigInt ${value}n`;
  if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
  if (typeof value === "symbol") return String(value);
  if (typeof value === "number") return String(value);
  if (value === undefined) return "undefined";
  const ctor = (value as object).constructor?.name;
  return ctor ? `a ${ctor} object` : "an exotic object";
}

/**
 * Checks that `value` is plain JSON data: `null`, booleans, finite numbers,
 * well-formed strings, arrays and plain objects, without cycles. Properties
 * whose value is `undefined` are allowed (they are omitted, as JSON does);
 * `undefined` as an array element or as the whole value is not.
 *
 * @param value The value to check.
 * @param limits Optional depth and size limits.
 * @returns `null` if the value is fine, otherwise the first problem found.
 */
export function checkJsonValue(value: unknown, limits: JsonCheckLimits = {}): JsonProblem | null {
  const maxDepth = limits.maxDepth ?? Infinity;
  const maxBytes = limits.maxBytes ?? Infinity;
  const rejectProto = limits.rejectProtoKeys ?? false;
  // A lower bound of the canonical UTF-8 size seen so far.
  let bytes = 0;

  // Iterative depth-first walk with one frame per open object or array
  // (primitives are checked in place), so deep values cannot overflow the
  // stack. Frames link to their parent: paths are built only for a problem.
  interface Frame {
    value: object;
    parent: Frame | null;
    key: string | number;
    depth: number;
    keys: string[] | null;
    index: number;
    members: number;
  }
  const fail = (
    parent: Frame | null,
    key: string | number | null,
    message: (where: string) => string,
  ): JsonProblem => {
    const keys: (string | number)[] = key === null ? [] : [key];
    for (let f = parent; f !== null && f.parent !== null; f = f.parent) keys.push(f.key);
    const path = toJsonPointer(keys.reverse());
    return { path, message: message(path || "the root") };
  };
  // Checks a primitive; returns a message maker for a bad one, else null.
  const primitive = (v: unknown, inArray: boolean): ((where: string) => string) | null => {
    switch (typeof v) {
      case "string":
        if (!v.isWellFormed()) return (w) => `String at ${w} has a lone surrogate`;
        bytes += v.length + 2;
        return null;
      case "number":
        if (!Number.isFinite(v)) return (w) => `Cannot represent ${v} at ${w} in JSON`;
        bytes += 1;
        return null;
      case "boolean":
        bytes += 4;
        return null;
      case "undefined":
        return inArray ? (w) => `Cannot represent undefined at ${w} in JSON` : null;
      case "object": // null
        bytes += 4;
        return null;
      default:
        return (w) => `Cannot represent ${_describe(v)} at ${w} in JSON`;
    }
  };
  const stack: Frame[] = [];
  const ancestors = new Set<object>();
  const enter = (
    v: object,
    parent: Frame | null,
    key: string | number,
    depth: number,
  ): JsonProblem | null => {
    const at = parent === null ? null : key;
    if (ancestors.has(v)) return fail(parent, at, (w) => `Cycle at ${w}: JSON cannot carry it`);
    if (depth >= maxDepth) {
      return fail(parent, at, (w) => `Nesting at ${w} is deeper than ${maxDepth} levels`);
    }
    const isArray = Array.isArray(v);
    if (!isArray) {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        return fail(
          parent,
          at,
          (w) => `Cannot represent ${_describe(v)} at ${w}: only plain objects and arrays`,
        );
      }
    }
    ancestors.add(v);
    bytes += 2;
    stack.push({
      value: v,
      parent,
      key,
      depth,
      keys: isArray ? null : Object.keys(v),
      index: 0,
      members: 0,
    });
    return null;
  };

  if (value === null || typeof value !== "object") {
    const bad = primitive(value, true);
    return bad === null ? null : fail(null, null, bad);
  }
  const rootProblem = enter(value, null, "", 0);
  if (rootProblem !== null) return rootProblem;
  outer: while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const container = frame.value as Record<string | number, unknown>;
    const keys = frame.keys;
    const length = keys === null ? (container as unknown as unknown[]).length : keys.length;
    while (frame.index < length) {
      const i = frame.index++;
      const key = keys === null ? i : keys[i]!;
      const child = container[key];
      if (keys !== null) {
        const k = key as string;
        if (!k.isWellFormed()) return fail(frame, k, (w) => `Key at ${w} has a lone surrogate`);
        if (rejectProto && k === "__proto__") {
          return fail(frame, k, (w) => `Key "__proto__" at ${w} is not allowed`);
        }
        // Quotes and colon, and a comma before every member but the first.
        if (child !== undefined) bytes += k.length + 3 + (frame.members++ > 0 ? 1 : 0);
      } else if (i > 0) {
        bytes += 1; // comma
      }
      if (child !== null && typeof child === "object") {
        const problem = enter(child, frame, key, frame.depth + 1);
        if (problem !== null) return problem;
        if (bytes > maxBytes) break outer;
        continue outer;
      }
      const bad = primitive(child, keys === null);
      if (bad !== null) return fail(frame, key, bad);
      if (bytes > maxBytes) break outer;
    }
    ancestors.delete(frame.value);
    stack.pop();
  }
  if (bytes > maxBytes) {
    return { path: "", message: `The value serializes to more than ${maxBytes} bytes` };
  }
  return null;
}

/**
 * {@linkcode checkJsonValue} for a value that `JSON.parse` returned, with
 * the same result (problem, path and message) for every such value: it
 * skips the checks that cannot fail for parsed JSON (cycles, non-plain
 * objects, `undefined`, functions, symbols, BigInt) and walks recursively,
 * which is safe because nesting is bounded by `maxDepth`.
 *
 * @param value A value returned by `JSON.parse`.
 * @param limits Depth (required, finite) and optional size limits.
 * @returns `null` if the value is fine, otherwise the first problem found.
 * @throws {RangeError} If `limits.maxDepth` is not a finite number.
 */
export function checkParsedJsonValue(
  value: unknown,
  limits: JsonCheckLimits & { maxDepth: number },
): JsonProblem | null {
  const { maxDepth } = limits;
  if (!Number.isFinite(maxDepth)) {
    throw new RangeError(`Expected a finite maxDepth, got ${maxDepth}`);
  }
  const maxBytes = limits.maxBytes ?? Infinity;
  const rejectProto = limits.rejectProtoKeys ?? false;
  let bytes = 0;
  let problem: JsonProblem | null = null;
  const path: (string | number)[] = [];
  const fail = (message: (where: string) => string): false => {
    const pointer = toJsonPointer(path);
    problem = { path: pointer, message: message(pointer || "the root") };
    return false;
  };
  // Each returns false to stop: a problem was found or the size is exceeded.
  const members = (v: object, depth: number): boolean => {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        if (i > 0) bytes += 1; // comma
        path.push(i);
        if (!child(v[i], depth)) return false;
        path.pop();
      }
      return true;
    }
    const keys = Object.keys(v);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      path.push(k);
      if (!k.isWellFormed()) return fail((w) => `Key at ${w} has a lone surrogate`);
      if (rejectProto && k === "__proto__") {
        return fail((w) => `Key "__proto__" at ${w} is not allowed`);
      }
      bytes += k.length + (i > 0 ? 4 : 3); // quotes, colon, comma
      if (!child((v as Record<string, unknown>)[k], depth)) return false;
      path.pop();
    }
    return true;
  };
  const child = (v: unknown, depth: number): boolean => {
    switch (typeof v) {
      case "string":
        if (!v.isWellFormed()) return fail((w) => `String at ${w} has a lone surrogate`);
        bytes += v.length + 2;
        break;
      case "number":
        if (!Number.isFinite(v)) return fail((w) => `Cannot represent ${v} at ${w} in JSON`);
        bytes += 1;
        break;
      case "boolean":
        bytes += 4;
        break;
      case "object":
        if (v === null) {
          bytes += 4;
          break;
        }
        if (depth + 1 >= maxDepth) {
          return fail((w) => `Nesting at ${w} is deeper than ${maxDepth} levels`);
        }
        bytes += 2;
        if (bytes > maxBytes) return false;
        return members(v, depth + 1);
      default:
        return fail((w) => `Cannot represent ${_describe(v)} at ${w} in JSON`);
    }
    return !(bytes > maxBytes);
  };
  if (value === null || typeof value !== "object") {
    // As in checkJsonValue, a lone primitive has no size check.
    child(value, 0);
    return problem;
  }
  if (0 >= maxDepth) {
    fail((w) => `Nesting at ${w} is deeper than ${maxDepth} levels`);
    return problem;
  }
  bytes += 2;
  members(value, 0);
  if (problem !== null) return problem;
  if (bytes > maxBytes) {
    return { path: "", message: `The value serializes to more than ${maxBytes} bytes` };
  }
  return null;
}

/**
 * Serializes already checked JSON data canonically (no validation pass).
 *
 * @param value Plain JSON data.
 * @returns The canonical JSON text.
 */
export function canonicalizeChecked(value: unknown): string {
  const out = _serialize(value);
  if (out === undefined) throw new TypeError("Cannot canonicalize undefined");
  return out;
}

/**
 * Serializes `value` as RFC 8785 canonical JSON: object keys sorted by
 * UTF-16 code units, no insignificant white space, ECMAScript number
 * formatting, minimal string escaping. Properties whose value is
 * `undefined` are omitted, as `JSON.stringify` does.
 *
 * @param value Plain JSON data.
 * @returns The canonical JSON text.
 * @throws {TypeError} For values JSON cannot carry: `NaN`, `Infinity`,
 *   BigInt, functions, symbols, cycles, lone surrogates, `undefined` as an
 *   array element or as the whole value, and objects that are not plain
 *   (a `Date`, a `Map`, a class instance). The message names the offending
 *   value and its JSON Pointer.
 *
 * @example Sorted keys and ECMAScript numbers
 * ```ts
 * import { canonicalize } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(canonicalize({ b: [1e21, 0.5], a: "é", c: undefined }), '{"a":"é","b":[1e+21,0.5]}');
 * assert.throws(() => canonicalize({ x: NaN }), TypeError);
 * ```
 */
export function canonicalize(value: unknown): string {
  const problem = checkJsonValue(value);
  if (problem !== null) throw new TypeError(problem.message);
  return canonicalizeChecked(value);
}

/** Characters a JSON string must escape (RFC 8785 escapes exactly these, as `JSON.stringify` does). */
// deno-lint-ignore no-control-regex
const _MUST_ESCAPE = /["\\\u0000-\u001f]/;

/** Where the text being matched skips a member (the `sign` member of a wire envelope). */
export interface TextCut {
  /** Index of the first character skipped (the comma before the member). */
  at: number;
  /** Index just after the member. */
  end: number;
  /** The top-level key the skipped member holds; it is left out of the value's members. */
  key: string;
}

/**
 * Whether `text` is exactly the RFC 8785 canonical JSON of `value` (the
 * result of `JSON.parse(text)`, or of the text with `cut` removed), checked
 * in one walk over the value that compares against the text in place,
 * without serializing anything: the equivalent of
 * `canonicalizeChecked(value) === text`, allocation-free except for the
 * key lists of objects whose keys `JSON.parse` did not leave sorted, and
 * numbers (compared through their ECMAScript form). It also refuses what
 * {@linkcode checkParsedJsonValue} refuses (depth, `__proto__` keys); the
 * text must be well-formed (no lone surrogates), as decoded UTF-8 is.
 * `false` only means "not proven": the caller takes the general path.
 *
 * @param value What `JSON.parse` returned for the text.
 * @param text The text, well-formed UTF-16.
 * @param maxDepth Deepest nesting accepted (as {@linkcode checkParsedJsonValue}).
 * @param cut A top-level member to skip in the text and leave out of the value.
 * @returns Whether the text is the canonical form of the value.
 */
export function matchesCanonical(
  value: unknown,
  text: string,
  maxDepth: number,
  cut: TextCut | null = null,
): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  return _matchObject(value as Record<string, unknown>, text, 0, 0, maxDepth, cut) === text.length;
}

/** Sorted (by UTF-16 code units, as JCS orders them) own keys of `v`. */
function _sortedKeys(v: object): string[] {
  const keys = Object.keys(v);
  for (let i = 1; i < keys.length; i++) {
    if (!(keys[i - 1]! < keys[i]!)) return keys.sort();
  }
  return keys;
}

/** Matches the JSON string of `s` at `pos`; returns the index after it, or -1. */
function _matchString(s: string, text: string, pos: number): number {
  if (text.charCodeAt(pos) !== 0x22) return -1;
  if (!_MUST_ESCAPE.test(s)) {
    if (!text.startsWith(s, pos + 1)) return -1;
    const close = pos + 1 + s.length;
    return text.charCodeAt(close) === 0x22 ? close + 1 : -1;
  }
  const encoded = JSON.stringify(s);
  return text.startsWith(encoded, pos) ? pos + encoded.length : -1;
}

function _matchValue(
  v: unknown,
  text: string,
  pos: number,
  depth: number,
  maxDepth: number,
): number {
  switch (typeof v) {
    case "string":
      return _matchString(v, text, pos);
    case "number": {
      if (!Number.isFinite(v)) return -1;
      const s = JSON.stringify(v);
      return text.startsWith(s, pos) ? pos + s.length : -1;
    }
    case "boolean":
      if (v) return text.startsWith("true", pos) ? pos + 4 : -1;
      return text.startsWith("false", pos) ? pos + 5 : -1;
    case "object": {
      if (v === null) return text.startsWith("null", pos) ? pos + 4 : -1;
      if (depth + 1 >= maxDepth) return -1;
      if (!Array.isArray(v)) {
        return _matchObject(v as Record<string, unknown>, text, pos, depth + 1, maxDepth, null);
      }
      if (text.charCodeAt(pos++) !== 0x5b) return -1; // [
      for (let i = 0; i < v.length; i++) {
        if (i > 0 && text.charCodeAt(pos++) !== 0x2c) return -1; // ,
        pos = _matchValue(v[i], text, pos, depth + 1, maxDepth);
        if (pos < 0) return -1;
      }
      return text.charCodeAt(pos) === 0x5d ? pos + 1 : -1; // ]
    }
    default:
      return -1;
  }
}

function _matchObject(
  v: Record<string, unknown>,
  text: string,
  pos: number,
  depth: number,
  maxDepth: number,
  cut: TextCut | null,
): number {
  if (text.charCodeAt(pos++) !== 0x7b) return -1; // {
  const keys = _sortedKeys(v);
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (k === "__proto__") return -1;
    if (cut !== null && k === cut.key) continue;
    const child = v[k];
    if (child === undefined) continue; // omitted, as JSON omits it
    if (cut !== null && pos === cut.at) pos = cut.end;
    if (!first && text.charCodeAt(pos++) !== 0x2c) return -1; // ,
    first = false;
    pos = _matchString(k, text, pos);
    if (pos < 0 || text.charCodeAt(pos++) !== 0x3a) return -1; // :
    pos = _matchValue(child, text, pos, depth, maxDepth);
    if (pos < 0) return -1;
  }
  if (cut !== null && pos === cut.at) pos = cut.end;
  return text.charCodeAt(pos) === 0x7d ? pos + 1 : -1; // }
}
