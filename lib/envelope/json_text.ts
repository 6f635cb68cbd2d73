/**
 * Reading envelope JSON text exactly as written.
 *
 * - **Repeated keys.** `JSON.parse` keeps the last of two equal keys
 *   silently, so a parser that keeps the first (or an intermediary) would act
 *   on another envelope than the one verified; docs/protocols.md §2 ("duplicate
 *   keys") refuses such text. {@linkcode scanKeys} sees what `JSON.parse`
 *   cannot: one pass over the text, no tokens built, key strings sliced only
 *   in object-key position (and decoded only when they contain an escape).
 * - **Escaped keys.** Deno 2.9.6's V8 (15.0) `JSON.parse` can return a wrong
 *   key for a key written with an escape (`"\""`, `"\n"`, `"\u0061"`) when
 *   an earlier parse in the same isolate left an object shape whose next key
 *   is `"\\"` at that position: `{"x\"y":0,"\\":1}` then `{"x\"y":0,"\"":1}`
 *   reads the second key as `\`. Any peer could prime that state, and an
 *   honest envelope would then fail its signature check. So every escaped
 *   key the scanner decodes is looked up in `JSON.parse`'s result, and on a
 *   mismatch the text is parsed again by {@linkcode parseJsonExact}.
 *
 * @module
 */

import { toJsonPointer } from "./canonical.ts";

/** A key found twice in one object. */
export interface DuplicateKey {
  /** The key, decoded (`"\u0061"` and `"a"` are the same key). */
  key: string;
  /** JSON Pointer to the repeated member, e.g. `/payload` or `/sender/pubkey`. */
  path: string;
}

/** A key written with an escape, and where its object is. */
export interface EscapedKey {
  /** Member names and indices from the root to the object holding the key. */
  at: (string | number)[];
  /** The key, decoded. */
  key: string;
}

/** What {@linkcode scanKeys} found. */
export interface KeyScan {
  /** The first key repeated in one object, in document order, or `null`. */
  duplicate: DuplicateKey | null;
  /** The keys written with escapes (empty for nearly every envelope). */
  escaped: readonly EscapedKey[];
}

/** Objects with more keys than this are checked with a `Set`, smaller ones by a linear search. */
const _LINEAR_KEYS = 16;
const _OBJECT = 1;
const _ARRAY = 2;
const _NONE: readonly EscapedKey[] = Object.freeze([]);

// Per-depth state, reused from call to call (the scan is synchronous). Keys
// are held as positions in the text (the opening and closing quote) and
// compared in place; an object switches to a `Set` of decoded keys when it
// grows large or has a key written with an escape.
const _kind: number[] = [];
const _starts: number[][] = [];
const _ends: number[][] = [];
const _keySet: (Set<string> | null)[] = [];
/** The member being read at each depth: its key's quotes, or the array index. */
const _memberStart: number[] = [];
const _memberEnd: number[] = [];
const _index: number[] = [];
/** Deepest level the last scan reached. */
let _deepest = -1;

/**
 * The end (index of the closing quote) of the JSON string whose opening
 * quote is at `open`.
 */
function _endOfEscapedString(text: string, open: number): number {
  let i = open + 1;
  while (true) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i; // "
    i += c === 0x5c ? 2 : 1; // \x: skip the escaped character (\uXXXX's digits are plain)
  }
}

/** The decoded string whose quotes are at `open` and `close`. */
function _decode(text: string, open: number, close: number): string {
  const raw = text.slice(open + 1, close);
  // A lone string goes through JSON.parse's string path, which is exact.
  return raw.includes("\\") ? JSON.parse(text.slice(open, close + 1)) : raw;
}

/** Whether the unescaped keys at (s1, e1) and (s2, e2) are the same. */
function _sameKey(text: string, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let k = 1; k < e1 - s1; k++) {
    if (text.charCodeAt(s1 + k) !== text.charCodeAt(s2 + k)) return false;
  }
  return true;
}

function _route(text: string, depth: number): (string | number)[] {
  const path: (string | number)[] = [];
  for (let d = 0; d < depth; d++) {
    path.push(_kind[d] === _OBJECT ? _decode(text, _memberStart[d]!, _memberEnd[d]!) : _index[d]!);
  }
  return path;
}

/**
 * Scans a JSON text that `JSON.parse` accepted (it relies on the text being
 * valid JSON and does not re-check its syntax) for the first key repeated in
 * one object, at any depth, and lists the keys written with escapes.
 * Insignificant white space is allowed anywhere JSON allows it. Keys are
 * compared decoded, as `JSON.parse` compares them.
 *
 * Runs in time linear in the text's length (objects with many keys, or with
 * escaped keys, use a `Set`) and allocates nothing for an object whose keys
 * are few and unescaped, as an envelope's are.
 *
 * @param text Valid JSON text.
 * @returns The first repeated key and the escaped keys.
 */
export function scanKeys(text: string): KeyScan {
  const found = _scan(text);
  for (let d = 0; d <= _deepest; d++) _keySet[d] = null; // let go of the key strings
  return found;
}

function _scan(text: string): KeyScan {
  const n = text.length;
  _deepest = -1;
  let escapedKeys: EscapedKey[] | null = null;
  let depth = -1;
  let expectKey = false;
  // Position of the next backslash at or after the last string start, so
  // that asking "does this string contain an escape?" stays linear overall.
  let nextBackslash = -2;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // "
      if (nextBackslash !== -1 && nextBackslash < i) nextBackslash = text.indexOf("\\", i);
      let end = text.indexOf('"', i + 1);
      const escaped = nextBackslash !== -1 && nextBackslash < end;
      if (escaped) end = _endOfEscapedString(text, i);
      if (expectKey) {
        expectKey = false;
        const starts = _starts[depth]!;
        const ends = _ends[depth]!;
        let set = _keySet[depth] ?? null;
        if (set === null && (escaped || starts.length >= _LINEAR_KEYS)) {
          set = _keySet[depth] = new Set();
          for (let k = 0; k < starts.length; k++) set.add(_decode(text, starts[k]!, ends[k]!));
        }
        let repeated = false;
        if (set !== null) {
          const key = _decode(text, i, end);
          repeated = set.has(key);
          set.add(key);
          if (escaped && !repeated) (escapedKeys ??= []).push({ at: _route(text, depth), key });
        } else {
          for (let k = 0; k < starts.length && !repeated; k++) {
            repeated = _sameKey(text, i, end, starts[k]!, ends[k]!);
          }
        }
        if (repeated) {
          const key = _decode(text, i, end);
          return {
            duplicate: { key, path: toJsonPointer([..._route(text, depth), key]) },
            escaped: escapedKeys ?? _NONE,
          };
        }
        starts.push(i);
        ends.push(end);
        _memberStart[depth] = i;
        _memberEnd[depth] = end;
      }
      i = end;
    } else if (c === 0x7b) { // {
      if (++depth > _deepest) _deepest = depth;
      _kind[depth] = _OBJECT;
      if (_starts[depth] === undefined) {
        _starts[depth] = [];
        _ends[depth] = [];
      } else {
        _starts[depth]!.length = 0;
        _ends[depth]!.length = 0;
      }
      _keySet[depth] = null;
      expectKey = true;
    } else if (c === 0x5b) { // [
      if (++depth > _deepest) _deepest = depth;
      _kind[depth] = _ARRAY;
      _index[depth] = 0;
      expectKey = false;
    } else if (c === 0x7d || c === 0x5d) { // } ]
      depth--;
      expectKey = false;
    } else if (c === 0x2c) { // ,
      if (_kind[depth] === _OBJECT) expectKey = true;
      else _index[depth]!++;
    }
  }
  return { duplicate: null, escaped: escapedKeys ?? _NONE };
}

/**
 * Finds the first key that appears twice in one object, at any depth, of a
 * JSON text that `JSON.parse` accepted (see {@linkcode scanKeys}).
 *
 * @param text Valid JSON text.
 * @returns The first repeated key and where it is, or `null`.
 *
 * @example
 * ```ts
 * import { findDuplicateKey } from "./json_text.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(findDuplicateKey('{"a": {"b": 1}, "c": [{"d": 2}]}'), null);
 * assert.deepEqual(findDuplicateKey('{"a": [{"b": 1, "\\u0062": 2}]}'), { key: "b", path: "/a/0/b" });
 * ```
 */
export function findDuplicateKey(text: string): DuplicateKey | null {
  return scanKeys(text).duplicate;
}

/** Whether every escaped key the scan decoded is where `JSON.parse` should have put it. */
function _escapedKeysFound(value: unknown, escaped: readonly EscapedKey[]): boolean {
  for (const { at, key } of escaped) {
    let v = value;
    for (const step of at) {
      if (v === null || typeof v !== "object" || !Object.hasOwn(v, step)) return false;
      v = (v as Record<string | number, unknown>)[step];
    }
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, key)) return false;
  }
  return true;
}

/**
 * Parses JSON text as `JSON.parse` specifies, one value at a time, without
 * `JSON.parse`'s object-shape fast paths (each string and number token is
 * still converted by `JSON.parse` or `Number`, alone). Iterative, so depth
 * costs heap, not stack. Used when `JSON.parse`'s result provably differs
 * from the text (see the module notes).
 *
 * @param text Valid JSON text (already accepted by `JSON.parse`).
 * @returns The value.
 */
export function parseJsonExact(text: string): unknown {
  const n = text.length;
  const containers: (unknown[] | Record<string, unknown>)[] = [];
  const names: string[] = [];
  let root: unknown;
  let i = 0;
  const skipSpace = () => {
    let c = text.charCodeAt(i);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++i);
  };
  const readString = (): string => {
    const end = _endOfEscapedString(text, i);
    const s: string = JSON.parse(text.slice(i, end + 1));
    i = end + 1;
    return s;
  };
  const readName = () => {
    skipSpace();
    names[containers.length - 1] = readString();
    skipSpace();
    i++; // :
  };
  const attach = (v: unknown) => {
    const top = containers[containers.length - 1];
    if (top === undefined) root = v;
    else if (Array.isArray(top)) top.push(v);
    else {
      // Like JSON.parse, "__proto__" becomes an own property.
      Object.defineProperty(top, names[containers.length - 1]!, {
        value: v,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    }
  };
  while (true) {
    // A value starts here.
    skipSpace();
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) { // { [
      const container = c === 0x7b ? {} : [];
      attach(container);
      i++;
      skipSpace();
      if (text.charCodeAt(i) !== (c === 0x7b ? 0x7d : 0x5d)) {
        containers.push(container);
        if (c === 0x7b) readName();
        continue;
      }
      i++; // empty
    } else if (c === 0x22) {
      attach(readString());
    } else {
      const start = i;
      let d = c;
      while (
        i < n && d !== 0x2c && d !== 0x5d && d !== 0x7d && d !== 0x20 && d !== 0x0a &&
        d !== 0x0d && d !== 0x09
      ) d = text.charCodeAt(++i);
      const token = text.slice(start, i);
      attach(
        token === "true"
          ? true
          : token === "false"
          ? false
          : token === "null"
          ? null
          : Number(token),
      );
    }
    // After a value: close containers, or move to the next member.
    while (true) {
      skipSpace();
      if (containers.length === 0) return root;
      const d = text.charCodeAt(i++);
      if (d === 0x2c) { // ,
        if (!Array.isArray(containers[containers.length - 1])) readName();
        break;
      }
      containers.pop(); // } or ]
    }
  }
}

/**
 * Checks the result of `JSON.parse(text)` against the text:
 * {@linkcode scanKeys} for a repeated key, and every escaped key looked up
 * in the result; if one is missing (the V8 bug in the module notes), the
 * text is parsed again by {@linkcode parseJsonExact}.
 *
 * @param text Valid JSON text.
 * @param parsed What `JSON.parse(text)` returned.
 * @returns The first repeated key (`null` if none) and the value: `parsed`,
 *   or the exact re-parse (`reparsed: true`).
 */
export function checkJsonText(
  text: string,
  parsed: unknown,
): { duplicate: DuplicateKey | null; value: unknown; reparsed: boolean } {
  const { duplicate, escaped } = scanKeys(text);
  if (duplicate === null && escaped.length > 0 && !_escapedKeysFound(parsed, escaped)) {
    return { duplicate, value: parseJsonExact(text), reparsed: true };
  }
  return { duplicate, value: parsed, reparsed: false };
}

/**
 * Parses JSON text: `JSON.parse`, then {@linkcode checkJsonText}.
 *
 * @param text The text.
 * @returns The value, and the first repeated key (`null` if none).
 * @throws {SyntaxError} If the text is not JSON.
 */
export function parseJsonText(text: string): { value: unknown; duplicate: DuplicateKey | null } {
  const { duplicate, value } = checkJsonText(text, JSON.parse(text));
  return { value, duplicate };
}
