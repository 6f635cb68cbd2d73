/**
 * Validation compiled from the zod schemas: a predicate per schema that
 * answers only "zod would accept this value unchanged", without copying
 * the value or building issues. Verification calls it first on what
 * `JSON.parse` returned; when it answers `false` (or a schema uses a
 * construct it does not know), zod itself runs, so the errors, their paths
 * and the accepted set stay zod's. The schemas stay the one place the rules
 * live (`cip.ts`, `hcp.ts`, `lip.ts`, `common.ts`, `formats.ts`): nothing
 * here restates a limit; each check a schema carries is run by zod's own
 * check code (`check._zod.check`), except the plain type tests, which are
 * the same one-line tests zod's parsers make.
 *
 * Soundness is what matters (a `true` must mean zod accepts the value and
 * returns an equal one); a `false` only costs the zod path. So every
 * construct whose output can differ from its input (transforms, defaults,
 * catches, coercion, overwriting checks, pipes) or whose rules are not
 * mirrored exactly (exclusive unions, records keyed by an enum, objects
 * that strip unknown keys) makes the compiler give up on the whole schema,
 * and unknown keys of a stripping object answer `false`.
 *
 * @module
 */

import type { z } from "zod";

/**
 * A compiled schema: whether zod accepts `value` as it is. Meant for what
 * `JSON.parse` returned (plain objects with own string keys, arrays,
 * primitives); other values may get `false` where zod would accept them.
 */
export type SchemaCheck = (value: unknown) => boolean;

/** The parts of zod 4's internals the compiler reads (`schema._zod`). */
interface _Internals {
  def: _Def;
  traits: Set<string>;
  optin?: string | undefined;
  optout?: string | undefined;
  check?: ((payload: _Payload) => unknown) | undefined;
  innerType?: _Node | undefined;
  values?: Set<unknown> | undefined;
}
interface _Node {
  _zod: _Internals;
}
interface _Def {
  type: string;
  checks?: _Node[] | undefined;
  check?: string | undefined;
  coerce?: boolean | undefined;
  when?: ((payload: _Payload) => boolean) | undefined;
  shape?: Record<string, _Node> | undefined;
  catchall?: _Node | undefined;
  element?: _Node | undefined;
  items?: _Node[] | undefined;
  rest?: _Node | null | undefined;
  options?: _Node[] | undefined;
  inclusive?: boolean | undefined;
  innerType?: _Node | undefined;
  keyType?: _Node | undefined;
  valueType?: _Node | undefined;
  mode?: string | undefined;
}
interface _Payload {
  value: unknown;
  issues: unknown[];
}

/** Thrown inside the compiler when a schema uses a construct it does not mirror. */
class _Unsupported extends Error {}

const _compiled = new WeakMap<object, SchemaCheck | null>();

/**
 * Compiles a zod schema into a predicate (cached per schema object).
 *
 * @param schema A zod 4 schema.
 * @returns The predicate, or `null` when the schema uses a construct the
 *   compiler does not mirror (then only zod can decide).
 */
export function compileSchema(schema: z.ZodType): SchemaCheck | null {
  const key = schema as unknown as object;
  if (_compiled.has(key)) return _compiled.get(key)!;
  let check: SchemaCheck | null;
  try {
    check = _compile(schema as unknown as _Node, new Map());
  } catch (error) {
    if (!(error instanceof _Unsupported)) throw error;
    check = null;
  }
  _compiled.set(key, check);
  return check;
}

/** Runs zod's own checks of a node (its refinements, lengths, formats) on a value of the right type. */
function _checksOf(node: _Node): SchemaCheck | null {
  const own = node._zod.def.checks ?? [];
  const list = node._zod.traits.has("$ZodCheck") ? [node, ...own] : own;
  if (list.length === 0) return null;
  for (const ch of list) {
    if (ch._zod.def.check === "overwrite" || typeof ch._zod.check !== "function") {
      throw new _Unsupported(`check ${ch._zod.def.check}`);
    }
  }
  const payload: _Payload = { value: undefined, issues: [] };
  return (value) => {
    payload.value = value;
    payload.issues.length = 0;
    for (const ch of list) {
      const when = ch._zod.def.when;
      if (when !== undefined && !when(payload)) continue;
      const r = ch._zod.check!(payload);
      if (r instanceof Promise || payload.issues.length > 0 || payload.value !== value) {
        payload.value = undefined;
        return false;
      }
    }
    payload.value = undefined;
    return true;
  };
}

function _compile(node: _Node, seen: Map<_Node, SchemaCheck>): SchemaCheck {
  const known = seen.get(node);
  if (known !== undefined) return known;
  // A forwarder first, so a recursive schema (z.json()) refers to itself.
  let inner: SchemaCheck = () => false;
  const forward: SchemaCheck = (v) => inner(v);
  seen.set(node, forward);
  const typed = _compileType(node, seen);
  const checks = _checksOf(node);
  inner = checks === null ? typed : (v) => typed(v) && checks(v);
  return inner;
}

function _isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function _isPlainObject(v: unknown): v is Record<string, unknown> {
  if (!_isObject(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function _compileType(node: _Node, seen: Map<_Node, SchemaCheck>): SchemaCheck {
  const def = node._zod.def;
  if (def.coerce === true) throw new _Unsupported("coercion");
  switch (def.type) {
    case "string":
      return (v) => typeof v === "string";
    case "number":
      return (v) => typeof v === "number" && Number.isFinite(v);
    case "boolean":
      return (v) => typeof v === "boolean";
    case "null":
      return (v) => v === null;
    case "unknown":
    case "any":
    case "custom": // its function is its check (`_checksOf`)
      return () => true;
    case "never":
      return () => false;
    case "enum":
    case "literal": {
      // The very set zod's parser looks values up in.
      const values = node._zod.values;
      if (!(values instanceof Set)) throw new _Unsupported(def.type);
      return (v) => values.has(v);
    }
    case "optional": {
      const item = _compile(def.innerType!, seen);
      return (v) => v !== undefined && item(v);
    }
    case "nullable": {
      const item = _compile(def.innerType!, seen);
      return (v) => v === null || item(v);
    }
    case "lazy": {
      const lazy = node._zod.innerType;
      if (lazy === undefined) throw new _Unsupported("lazy");
      return _compile(lazy, seen);
    }
    case "union": {
      if (def.inclusive === false) throw new _Unsupported("exclusive union");
      const options = (def.options ?? []).map((o) => _compile(o, seen));
      return (v) => {
        for (const option of options) if (option(v)) return true;
        return false;
      };
    }
    case "array": {
      const item = _compile(def.element!, seen);
      return (v) => {
        if (!Array.isArray(v)) return false;
        for (let i = 0; i < v.length; i++) if (!item(v[i])) return false;
        return true;
      };
    }
    case "tuple": {
      const items = (def.items ?? []).map((o) => {
        if (o._zod.optin !== undefined) throw new _Unsupported("optional tuple item");
        return _compile(o, seen);
      });
      if (def.rest !== null && def.rest !== undefined) throw new _Unsupported("tuple rest");
      return (v) => {
        if (!Array.isArray(v) || v.length !== items.length) return false;
        for (let i = 0; i < items.length; i++) if (!items[i]!(v[i])) return false;
        return true;
      };
    }
    case "record":
      return _compileRecord(def, seen);
    case "object":
      return _compileObject(def, seen);
    default:
      throw new _Unsupported(def.type);
  }
}

function _compileRecord(def: _Def, seen: Map<_Node, SchemaCheck>): SchemaCheck {
  const keyType = def.keyType!;
  if (keyType._zod.def.type !== "string" || keyType._zod.values !== undefined) {
    throw new _Unsupported("record key");
  }
  const key = _compile(keyType, seen);
  const value = _compile(def.valueType!, seen);
  return (v) => {
    if (!_isPlainObject(v)) return false;
    for (const k in v) {
      if (!Object.hasOwn(v, k)) return false; // inherited enumerable keys: let zod decide
      if (k === "__proto__" || !key(k) || !value(v[k])) return false;
    }
    return true;
  };
}

function _compileObject(def: _Def, seen: Map<_Node, SchemaCheck>): SchemaCheck {
  const shape = def.shape ?? {};
  const names = Object.keys(shape);
  const fields = names.map((name) => {
    const field = shape[name]!;
    const { optin, optout } = field._zod;
    if (optin !== undefined && optin !== "optional") throw new _Unsupported("defaulted field");
    // Absent keys: only a plain optional field may be missing.
    const mayBeAbsent = optin === "optional" && optout === "optional";
    return { name, mayBeAbsent, check: _compile(field, seen) };
  });
  const catchall = def.catchall;
  const catchallType = catchall?._zod.def.type;
  // Unknown keys: refused (strict), checked (catchall), or stripped by zod (then `false`).
  const rest: SchemaCheck | null = catchall === undefined || catchallType === "never"
    ? null
    : _compile(catchall, seen);
  const known = new Set(names);
  return (v) => {
    if (!_isObject(v)) return false;
    let present = 0;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const item = v[f.name];
      if (item === undefined) {
        if (Object.hasOwn(v, f.name) || !f.mayBeAbsent) return false;
        continue;
      }
      if (!Object.hasOwn(v, f.name) || !f.check(item)) return false;
      present++;
    }
    let count = 0;
    for (const k in v) {
      if (!Object.hasOwn(v, k)) return false;
      count++;
      if (rest !== null && !known.has(k) && (k === "__proto__" || !rest(v[k]))) return false;
    }
    return rest !== null || count === present;
  };
}
