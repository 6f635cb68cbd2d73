/**
 * Validation: steps 1 (plain JSON data, size, envelope structure) and 2
 * (the payload schema of its type) of verification, shared by signing,
 * encoding and verifying, and `validatePayload`.
 *
 * @module
 */

import type { z } from "zod";
import {
  canonicalizeChecked,
  checkJsonValue,
  checkParsedJsonValue,
  toJsonPointer,
} from "./canonical.ts";
import type { Protocol } from "./common.ts";
import { compileSchema, type SchemaCheck } from "./schema_check.ts";
import { type EnvelopeError, InvalidEnvelopeError, PayloadSchemaError } from "./errors.ts";
import {
  checkProtocol,
  type Envelope,
  ENVELOPE_STRUCTURE,
  MESSAGE_TYPES,
  type MessageType,
  type PayloadOf,
  PAYLOADS,
  PROTOCOLS,
} from "./protocols.ts";

/** Default `maxEnvelopeBytes`: 1 MiB. */
export const DEFAULT_MAX_ENVELOPE_BYTES = 1024 * 1024;
/** Deepest nesting accepted in an envelope. */
export const MAX_DEPTH = 32;
/** Placeholder used to validate an envelope's other fields before it is signed. */
export const PLACEHOLDER_SIGN = { algo: "ed25519", signature: `${"A".repeat(85)}A==` } as const;

export function show(value: unknown): string {
  let s: string;
  try {
    s = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function _valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

export function fromZod(
  error: z.ZodError,
  root: unknown,
  prefix: readonly PropertyKey[],
  make: (message: string, path: string) => EnvelopeError,
  what: string,
): EnvelopeError {
  const issue = error.issues[0]!;
  let path: PropertyKey[] = [...prefix, ...issue.path];
  if (issue.code === "unrecognized_keys" && issue.keys.length > 0) {
    path = [...path, issue.keys[0]!];
    const pointer = toJsonPointer(path);
    return make(`${what} has an unknown key at ${pointer}`, pointer);
  }
  const pointer = toJsonPointer(path);
  const value = _valueAt(root, issue.path);
  const got = value === undefined ? "missing" : `got ${show(value)}`;
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problems)` : "";
  return make(`${what} field ${pointer || "(root)"}: ${issue.message}, ${got}${more}`, pointer);
}

export function protocolOf(envelope: Record<string, unknown>): Protocol {
  for (const p of PROTOCOLS) if (Object.hasOwn(envelope, p)) return p;
  throw new InvalidEnvelopeError(
    'Envelope has no version key: expected one of "cip", "hcp" or "lip"',
    "",
  );
}

export interface Prepared {
  /** The input, now known to be a plain JSON object. */
  value: Record<string, unknown>;
  /** Canonical JSON of the input without its `sign` key. */
  signingText: string;
}

/**
 * Step 1, first half: plain JSON data (no cycles, no `__proto__` keys,
 * bounded depth and size), an object, and its signing text.
 */
export function prepare(
  input: unknown,
  maxBytes: number,
  parsed = false,
  serialize = true,
): Prepared {
  let problem;
  try {
    const limits = { maxDepth: MAX_DEPTH, maxBytes, rejectProtoKeys: true };
    // JSON.parse output needs only the checks that can fail for it.
    problem = parsed ? checkParsedJsonValue(input, limits) : checkJsonValue(input, limits);
  } catch (cause) {
    // Only in-process objects get here (a throwing getter, a revoked Proxy).
    throw new InvalidEnvelopeError(`Envelope cannot be read: ${String(cause)}`, "", { cause });
  }
  if (problem !== null) {
    throw new InvalidEnvelopeError(`Envelope is not valid: ${problem.message}`, problem.path);
  }
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new InvalidEnvelopeError(`Envelope must be a JSON object, got ${show(input)}`, "");
  }
  if (!serialize) return { value: input as Record<string, unknown>, signingText: "" };
  const { sign: _sign, ...unsigned } = input as Record<string, unknown>;
  return { value: input as Record<string, unknown>, signingText: canonicalizeChecked(unsigned) };
}

/** The compiled structure checks, by protocol, and payload checks, by protocol and type. */
const _fastStructure = new Map<Protocol, SchemaCheck | null>();
const _fastPayload = new Map<string, SchemaCheck | null>();

/**
 * Whether the compiled schemas accept an envelope as it is (a `false` is
 * decided again by zod). Only for values `JSON.parse` returned.
 */
function _fastAccepts(protocol: Protocol, value: Record<string, unknown>): boolean {
  let structure = _fastStructure.get(protocol);
  if (structure === undefined) {
    structure = compileSchema(ENVELOPE_STRUCTURE[protocol]);
    _fastStructure.set(protocol, structure);
  }
  if (structure === null || !structure(value)) return false;
  const type = value.type as string;
  const payloads = PAYLOADS[protocol] as Record<string, z.ZodType>;
  if (!Object.hasOwn(payloads, type)) return false;
  const key = `${protocol}/${type}`;
  let payload = _fastPayload.get(key);
  if (payload === undefined) {
    payload = compileSchema(payloads[type]!);
    _fastPayload.set(key, payload);
  }
  return payload !== null && payload(value.payload);
}

/**
 * Step 1, second half (envelope structure), then step 2 (payload schema).
 *
 * @param value The prepared envelope.
 * @param owned Whether `value` is this call's own (what `JSON.parse`
 *   returned): then, when the schemas compiled by `schema_check.ts` accept
 *   it, it is returned as it is; otherwise (and always for a caller's
 *   object, which is never handed back) zod validates and copies it.
 */
export function validateEnvelope(value: Record<string, unknown>, owned = false): Envelope {
  const protocol = protocolOf(value);
  if (owned && _fastAccepts(protocol, value)) return value as unknown as Envelope;
  const structure = ENVELOPE_STRUCTURE[protocol].safeParse(value);
  if (!structure.success) {
    throw fromZod(
      structure.error,
      value,
      [],
      (m, p) => new InvalidEnvelopeError(m, p),
      `${protocol.toUpperCase()} envelope`,
    );
  }
  const env = structure.data as Record<string, unknown> & { type: string; payload: unknown };
  const payloadSchema = (PAYLOADS[protocol] as Record<string, z.ZodType>)[env.type]!;
  const payload = payloadSchema.safeParse(env.payload);
  if (!payload.success) {
    throw fromZod(
      payload.error,
      env.payload,
      ["payload"],
      (m, p) => new PayloadSchemaError(m, p),
      `${env.type} payload`,
    );
  }
  // `env` is zod's copy of the input, so it can take the parsed payload.
  env.payload = payload.data;
  return env as unknown as Envelope;
}

/** Steps 1 and 2 at once, for signing and encoding. */
export function checkEnvelope(
  input: unknown,
  maxBytes: number,
): { envelope: Envelope; signingText: string } {
  const { value, signingText } = prepare(input, maxBytes);
  return { envelope: validateEnvelope(value), signingText };
}

// The full canonical text is the signing text with `,"sign":{...}` added;
// the schema fixes that block's length (the algo name and an 88-character
// signature).
export const SIGN_BLOCK_BYTES = `,"sign":${JSON.stringify(PLACEHOLDER_SIGN)}`.length;

/**
 * Checks a payload against its message type's schema (strict objects; the
 * free-form fields take a string or a JSON object) and returns it typed.
 *
 * @param protocol `"cip"`, `"hcp"` or `"lip"`.
 * @param type A message type of that protocol.
 * @param payload The candidate payload.
 * @returns The payload, typed.
 * @throws {PayloadSchemaError} If it does not match; `path` points into it
 *   (e.g. `/payload/lri`).
 * @throws {TypeError} If `protocol` or `type` is unknown.
 *
 * @example
 * ```ts
 * import { PayloadSchemaError, validatePayload } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(
 *   () => validatePayload("cip", "STATE_UPDATE", { presence: "focused", lri: 101, ltppeerstate: "probing" }),
 *   (e) => e instanceof PayloadSchemaError && e.path === "/payload/lri",
 * );
 * ```
 */
export function validatePayload<P extends Protocol, T extends MessageType<P>>(
  protocol: P,
  type: T,
  payload: unknown,
): PayloadOf<P, T> {
  checkProtocolAndType(protocol, type);
  const problem = checkJsonValue(payload, { maxDepth: MAX_DEPTH });
  if (problem !== null) {
    const path = `/payload${problem.path}`;
    throw new PayloadSchemaError(`${type} payload is not valid: ${problem.message}`, path);
  }
  const schema = (PAYLOADS[protocol] as Record<string, z.ZodType>)[type]!;
  const result = schema.safeParse(payload);
  if (!result.success) {
    throw fromZod(
      result.error,
      payload,
      ["payload"],
      (m, p) => new PayloadSchemaError(m, p),
      `${type} payload`,
    );
  }
  return result.data as PayloadOf<P, T>;
}

export function checkProtocolAndType(protocol: unknown, type: unknown): void {
  checkProtocol(protocol);
  if (typeof type !== "string" || !(MESSAGE_TYPES[protocol] as readonly string[]).includes(type)) {
    throw new TypeError(`Unknown ${protocol.toUpperCase()} message type ${show(type)}`);
  }
}
