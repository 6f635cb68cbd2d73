/**
 * Building, signing, encoding and verifying envelopes.
 *
 * @module
 */

import type { z } from "zod";
import { Identity } from "../identity/mod.ts";
import { verifyEd25519Base64 } from "../identity/identity.ts";
import {
  canonicalizeChecked,
  checkJsonValue,
  checkParsedJsonValue,
  toJsonPointer,
} from "./canonical.ts";
import { base64Pattern } from "./formats.ts";
import {
  type EnvelopeError,
  FingerprintMismatchError,
  InvalidEnvelopeError,
  PayloadSchemaError,
  ReplayError,
  SignatureMismatchError,
  TimestampError,
  TrustViolationError,
} from "./errors.ts";
import type { ReplayEntry, ReplayGuard } from "./replay_guard.ts";
import { ENVELOPE_STRUCTURE, MESSAGE_TYPES, PAYLOADS } from "./schemas.ts";
import type {
  CipState,
  CipTrust,
  Envelope,
  EnvelopeOf,
  EnvelopeReceiver,
  HcpState,
  LipSource,
  MessageType,
  PayloadOf,
  Protocol,
  UnsignedEnvelope,
} from "./types.ts";

/** Default `maxEnvelopeBytes`: 1 MiB. */
export const DEFAULT_MAX_ENVELOPE_BYTES = 1024 * 1024;
/** Default `maxSkewMs`: 120 seconds. */
export const DEFAULT_MAX_SKEW_MS = 120_000;
/** Deepest nesting accepted in an envelope. */
const _MAX_DEPTH = 32;
const _PROTOCOLS: readonly Protocol[] = ["cip", "hcp", "lip"];
const _encoder = new TextEncoder();
const _decoder = new TextDecoder("utf-8", { fatal: true });
// Placeholder used to validate an envelope's other fields before it is signed.
const _PLACEHOLDER_SIGN = { algo: "ed25519", signature: `${"A".repeat(85)}A==` } as const;

/** Fingerprints already computed, by base64 public key, oldest insertion first. */
const _fingerprints = new Map<string, string>();
/** Most entries in the fingerprint cache. */
export const FINGERPRINT_CACHE_SIZE = 1024;

/**
 * Number of entries in the fingerprint cache (never more than
 * {@linkcode FINGERPRINT_CACHE_SIZE}); for tests and diagnostics.
 *
 * @returns The number of cached fingerprints.
 */
export function fingerprintCacheSize(): number {
  return _fingerprints.size;
}

/**
 * Computes (or recalls) the fingerprint of a base64 public key that the
 * envelope schema has already checked (canonical base64 of 32 bytes). The
 * key is decoded only on a cache miss.
 */
function _fingerprintOfBase64(pubkey: string): string | Promise<string> {
  const hit = _fingerprints.get(pubkey);
  if (hit !== undefined) return hit;
  return crypto.subtle.digest("SHA-256", Uint8Array.fromBase64(pubkey)).then((digest) => {
    const fp = new Uint8Array(digest).toHex();
    _fingerprints.set(pubkey, fp);
    if (_fingerprints.size > FINGERPRINT_CACHE_SIZE) {
      // Evict the oldest insertion; a hot key is simply hashed again.
      const oldest = _fingerprints.keys().next().value;
      if (oldest !== undefined) _fingerprints.delete(oldest);
    }
    return fp;
  });
}

function _show(value: unknown): string {
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

function _fromZod(
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
  const got = value === undefined ? "missing" : `got ${_show(value)}`;
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problems)` : "";
  return make(`${what} field ${pointer || "(root)"}: ${issue.message}, ${got}${more}`, pointer);
}

function _protocolOf(envelope: Record<string, unknown>): Protocol {
  for (const p of _PROTOCOLS) if (Object.hasOwn(envelope, p)) return p;
  throw new InvalidEnvelopeError(
    'Envelope has no version key: expected one of "cip", "hcp" or "lip"',
    "",
  );
}

interface _Prepared {
  /** The input, now known to be a plain JSON object. */
  value: Record<string, unknown>;
  /** Canonical JSON of the input without its `sign` key. */
  signingText: string;
}

/**
 * Step 1, first half: plain JSON data (no cycles, no `__proto__` keys,
 * bounded depth and size), an object, and its signing text.
 */
function _prepare(
  input: unknown,
  maxBytes: number,
  parsed = false,
  serialize = true,
): _Prepared {
  let problem;
  try {
    const limits = { maxDepth: _MAX_DEPTH, maxBytes, rejectProtoKeys: true };
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
    throw new InvalidEnvelopeError(`Envelope must be a JSON object, got ${_show(input)}`, "");
  }
  if (!serialize) return { value: input as Record<string, unknown>, signingText: "" };
  const { sign: _sign, ...unsigned } = input as Record<string, unknown>;
  return { value: input as Record<string, unknown>, signingText: canonicalizeChecked(unsigned) };
}

/**
 * {@linkcode _prepare} for signing, in the other order: the signing text
 * first, so that signing can start before the walk runs. The walk still
 * decides: when it finds a problem, its error is thrown (and the text,
 * serialized from data JSON cannot carry, is never used); when
 * serialization failed and the walk found nothing, that failure is thrown.
 */
function _prepareForSigning(
  input: Record<string, unknown>,
  start: (signingText: string) => void,
): _Prepared {
  let signingText: string | undefined;
  let failure: { cause: unknown } | undefined;
  try {
    const { sign: _sign, ...unsigned } = input;
    signingText = canonicalizeChecked(unsigned);
  } catch (cause) {
    failure = { cause };
  }
  if (signingText !== undefined) start(signingText);
  const prepared = _prepare(input, Infinity, false, false);
  if (failure !== undefined) throw failure.cause;
  return { value: prepared.value, signingText: signingText! };
}

/** Step 1, second half (envelope structure), then step 2 (payload schema). */
function _validate(value: Record<string, unknown>): Envelope {
  const protocol = _protocolOf(value);
  const structure = ENVELOPE_STRUCTURE[protocol].safeParse(value);
  if (!structure.success) {
    throw _fromZod(
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
    throw _fromZod(
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
function _check(input: unknown, maxBytes: number): { envelope: Envelope; signingText: string } {
  const { value, signingText } = _prepare(input, maxBytes);
  return { envelope: _validate(value), signingText };
}

// The full canonical text is the signing text with `,"sign":{...}` added;
// the schema fixes that block's length (the algo name and an 88-character
// signature).
const _SIGN_BLOCK_BYTES = `,"sign":${JSON.stringify(_PLACEHOLDER_SIGN)}`.length;

/**
 * The bytes an envelope's signature covers: the UTF-8 of the RFC 8785
 * canonical JSON of the envelope without its `sign` key.
 *
 * @param envelope A signed or unsigned envelope.
 * @returns The signing input.
 * @throws {InvalidEnvelopeError} If the envelope's structure is invalid.
 * @throws {PayloadSchemaError} If its payload does not match its type.
 */
export function envelopeSigningBytes(
  envelope: UnsignedEnvelope | Envelope,
): Uint8Array<ArrayBuffer> {
  const withSign = envelope.sign === undefined
    ? { ...envelope, sign: _PLACEHOLDER_SIGN }
    : envelope;
  return _encoder.encode(_check(withSign, Infinity).signingText);
}

/**
 * The wire form of a signed envelope: the UTF-8 of its RFC 8785 canonical
 * JSON. {@linkcode verifyEnvelope} accepts these bytes directly.
 *
 * @param envelope A signed envelope.
 * @returns The bytes to send.
 * @throws {InvalidEnvelopeError} If the envelope's structure is invalid (for
 *   example, it is not signed).
 * @throws {PayloadSchemaError} If its payload does not match its type.
 */
export function encodeEnvelope(envelope: Envelope): Uint8Array<ArrayBuffer> {
  const { envelope: checked } = _check(envelope, Infinity);
  return _encoder.encode(canonicalizeChecked(checked));
}

/**
 * Signs an envelope: validates it, then signs the canonical JSON of
 * everything but `sign` with `identity`'s key, and returns a copy with the
 * `sign` block set (an existing `sign` is replaced).
 *
 * @param envelope The envelope; its `sender` must be `identity`'s.
 * @param identity The signer.
 * @returns The signed envelope.
 * @throws {InvalidEnvelopeError} If a header field is invalid.
 * @throws {PayloadSchemaError} If the payload does not match its type.
 * @throws {TypeError} If `identity` is not an `Identity`, or the envelope's
 *   `sender.fingerprint` or `sender.pubkey` is not `identity`'s.
 */
export async function signEnvelope<E extends Envelope = Envelope>(
  envelope: UnsignedEnvelope<E> | E,
  identity: Identity,
): Promise<E> {
  if (!(identity instanceof Identity)) {
    throw new TypeError(`Expected identity to be an Identity, got ${_show(identity)}`);
  }
  // Signing starts on WebCrypto's worker thread as soon as the signing text
  // is known, while this thread checks the data and validates the structure
  // and payload. If a check fails, the signature is dropped unseen: nothing
  // is returned for an invalid envelope.
  let signing: Promise<Uint8Array<ArrayBuffer>> | undefined;
  const { value } = _prepareForSigning({ ...envelope, sign: _PLACEHOLDER_SIGN }, (text) => {
    signing = identity.sign(_encoder.encode(text));
    signing.catch(() => {});
  });
  const checked = _validate(value);
  if (checked.sender.fingerprint !== identity.fingerprint) {
    throw new TypeError(
      `Envelope sender fingerprint ${checked.sender.fingerprint} is not the signing identity's ` +
        `(${identity.fingerprint})`,
    );
  }
  if (checked.sender.pubkey !== identity.publicKeyBase64) {
    throw new TypeError(
      `Envelope sender pubkey ${checked.sender.pubkey} is not the signing identity's ` +
        `(${identity.publicKeyBase64})`,
    );
  }
  const signature = await signing!;
  // `checked` is the validator's copy, never the caller's object.
  (checked as { sign: unknown }).sign = { algo: "ed25519", signature: signature.toBase64() };
  return checked as E;
}

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
  _checkProtocolAndType(protocol, type);
  const problem = checkJsonValue(payload, { maxDepth: _MAX_DEPTH });
  if (problem !== null) {
    const path = `/payload${problem.path}`;
    throw new PayloadSchemaError(`${type} payload is not valid: ${problem.message}`, path);
  }
  const schema = (PAYLOADS[protocol] as Record<string, z.ZodType>)[type]!;
  const result = schema.safeParse(payload);
  if (!result.success) {
    throw _fromZod(
      result.error,
      payload,
      ["payload"],
      (m, p) => new PayloadSchemaError(m, p),
      `${type} payload`,
    );
  }
  return result.data as PayloadOf<P, T>;
}

function _checkProtocolAndType(protocol: unknown, type: unknown): void {
  if (!_PROTOCOLS.includes(protocol as Protocol)) {
    throw new TypeError(`Unknown protocol ${_show(protocol)}: expected "cip", "hcp" or "lip"`);
  }
  if (
    typeof type !== "string" ||
    !(MESSAGE_TYPES[protocol as Protocol] as readonly string[]).includes(type)
  ) {
    throw new TypeError(
      `Unknown ${(protocol as string).toUpperCase()} message type ${_show(type)}`,
    );
  }
}

/** Options of {@linkcode createEnvelope}. */
export interface CreateEnvelopeOptions<P extends Protocol, T extends MessageType<P>> {
  /** The sender; signs the envelope. */
  identity: Identity;
  /** Who the envelope is for. */
  receiver: EnvelopeReceiver;
  /** The payload of message type `T`. */
  payload: PayloadOf<P, T>;
  /** CIP (optional) and HCP (required): the `state` block. */
  state?: (P extends "hcp" ? HcpState : CipState) | undefined;
  /** CIP only (optional): the `trust` block. */
  trust?: CipTrust | undefined;
  /** LIP only (required except for `LIP_FETCH`): the `source` block. */
  source?: LipSource | undefined;
  /** `sender.capabilities`. @default {[]} */
  capabilities?: string[] | undefined;
  /** The clock for `timestamp`. @default {() => new Date()} */
  clock?: (() => Date) | undefined;
  /** Randomness for `msg_id`. @default {crypto.getRandomValues} */
  random?: ((n: number) => Uint8Array) | undefined;
}

/**
 * Builds and signs an envelope. Fills the version key, `msg_id` (a UUID v4
 * from `random`), `timestamp` (from `clock`, millisecond precision, `Z`) and
 * `sender` (from `identity`), validates everything, and signs. With the
 * same inputs, clock and randomness the result is byte-for-byte the same.
 *
 * @param protocol `"cip"`, `"hcp"` or `"lip"`.
 * @param type A message type of that protocol, e.g. `"HELLO"`.
 * @param options The identity, receiver, payload and optional blocks.
 * @returns The signed envelope.
 * @throws {PayloadSchemaError} If the payload does not match `type`.
 * @throws {InvalidEnvelopeError} If another block (receiver, state, trust,
 *   source, capabilities) is invalid.
 * @throws {TypeError} If `protocol` or `type` is unknown, `identity` is not an
 *   `Identity`, a block is given that the protocol does not have, or
 *   `random` returns fewer than 16 bytes.
 * @throws {RangeError} If `clock` returns an invalid date.
 *
 * @example A CIP STATE_UPDATE
 * ```ts
 * import { createEnvelope, verifyEnvelope } from "./mod.ts";
 * import { Identity } from "../identity/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const alice = await Identity.generate({ agentId: "alice" });
 * const bob = await Identity.generate({ agentId: "bob" });
 * const env = await createEnvelope("cip", "STATE_UPDATE", {
 *   identity: alice,
 *   receiver: { agent_id: bob.agentId, fingerprint: bob.fingerprint },
 *   payload: { presence: "focused", lri: 20, ltppeerstate: "probing" },
 * });
 * const checked = await verifyEnvelope(env, { expectedReceiver: bob.fingerprint });
 * assert.equal(checked.sender.fingerprint, alice.fingerprint);
 * ```
 */
export async function createEnvelope<P extends Protocol, T extends MessageType<P>>(
  protocol: P,
  type: T,
  options: CreateEnvelopeOptions<P, T>,
): Promise<EnvelopeOf<P, T>> {
  _checkProtocolAndType(protocol, type);
  const { identity } = options;
  if (!(identity instanceof Identity)) {
    throw new TypeError(`Expected options.identity to be an Identity, got ${_show(identity)}`);
  }
  if (options.trust !== undefined && protocol !== "cip") {
    throw new TypeError(`A ${protocol.toUpperCase()} envelope has no trust block`);
  }
  if (options.state !== undefined && protocol === "lip") {
    throw new TypeError("A LIP envelope has no state block");
  }
  if (options.source !== undefined && protocol !== "lip") {
    throw new TypeError(`A ${protocol.toUpperCase()} envelope has no source block`);
  }
  const random = options.random ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
  const bytes = random(16);
  if (!(bytes instanceof Uint8Array) || bytes.length < 16) {
    throw new TypeError("Expected options.random(16) to return at least 16 bytes");
  }
  const id = bytes.slice(0, 16);
  id[6] = (id[6]! & 0x0f) | 0x40;
  id[8] = (id[8]! & 0x3f) | 0x80;
  const hex = id.toHex();
  const msgId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
  const date = (options.clock ?? (() => new Date()))();
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new RangeError(`Expected options.clock() to return a valid Date, got ${_show(date)}`);
  }
  const envelope: Record<string, unknown> = {
    [protocol]: "1.0",
    msg_id: msgId,
    type,
    timestamp: date.toISOString(),
    sender: {
      agent_id: identity.agentId,
      fingerprint: identity.fingerprint,
      capabilities: options.capabilities ?? [],
      pubkey: identity.publicKeyBase64,
    },
    receiver: options.receiver,
    payload: options.payload,
  };
  if (options.trust !== undefined) envelope.trust = options.trust;
  if (options.state !== undefined) envelope.state = options.state;
  if (options.source !== undefined) envelope.source = options.source;
  return await signEnvelope(envelope as unknown as UnsignedEnvelope<EnvelopeOf<P, T>>, identity);
}

const _PUBKEY_PATTERN = base64Pattern(32);
const _SIGNATURE_PATTERN = base64Pattern(64);

/**
 * Starts the Ed25519 check of a not yet validated envelope if its `pubkey`
 * and `sign.signature` are well-formed; `null` otherwise.
 */
function _startSignatureCheck(
  value: Record<string, unknown>,
  signingBytes: Uint8Array,
): Promise<boolean> | null {
  const sender = value.sender as Record<string, unknown> | null | undefined;
  const sign = value.sign as Record<string, unknown> | null | undefined;
  const pubkey = typeof sender === "object" && sender !== null ? sender.pubkey : undefined;
  const signature = typeof sign === "object" && sign !== null ? sign.signature : undefined;
  if (typeof pubkey !== "string" || !_PUBKEY_PATTERN.test(pubkey)) return null;
  if (typeof signature !== "string" || !_SIGNATURE_PATTERN.test(signature)) return null;
  return verifyEd25519Base64(pubkey, signingBytes, Uint8Array.fromBase64(signature))
    .catch(() => false);
}

/** The `sign` member as the canonical wire form spells it, up to the signature. */
const _SIGN_HEAD = ',"sign":{"algo":"ed25519","signature":"';
/** The last member of `sender` in the canonical form, up to the key. */
const _PUBKEY_HEAD = '"pubkey":"';
/** Characters of a base64 signature (64 bytes) and a base64 key (32 bytes). */
const _SIGNATURE_CHARS = 88;
const _PUBKEY_CHARS = 44;

/** A signature check started on the wire text before it was parsed. */
interface _Speculation {
  /** Where the `sign` member starts and ends in the text. */
  at: number;
  end: number;
  /** The UTF-8 of the text without the `sign` member. */
  signingBytes: Uint8Array<ArrayBuffer>;
  /** The `pubkey` and `signature` read from the text. */
  pubkey: string;
  signature: string;
  /** The running Ed25519 check of `signingBytes` under `pubkey`. */
  valid: Promise<boolean>;
}

/**
 * Starts step 4 on the wire text before it is parsed, on the guess that it
 * is already canonical (as {@linkcode encodeEnvelope} writes it). In the
 * canonical form the `sign` member directly follows `sender`, whose last
 * member is `pubkey`, so the key, the signature and the signing input can
 * be cut out of the text. The result only counts if, once the envelope is
 * parsed and canonicalized, the canonical signing text, `sender.pubkey` and
 * `sign.signature` are exactly these (see `_usesSpeculation`); otherwise
 * the check is made again on the canonical bytes.
 *
 * @param text The wire text.
 * @param bytes Its UTF-8 (the wire bytes).
 * @returns The started check, or `null` if the text does not have that shape.
 */
function _speculate(text: string, bytes: Uint8Array): _Speculation | null {
  const at = text.lastIndexOf(_SIGN_HEAD);
  if (at < 0) return null;
  const signatureStart = at + _SIGN_HEAD.length;
  const end = signatureStart + _SIGNATURE_CHARS + 2;
  const pubkeyStart = at - 2 - _PUBKEY_CHARS;
  if (
    text.charCodeAt(end - 2) !== 0x22 || text.charCodeAt(end - 1) !== 0x7d || // "}
    text.charCodeAt(at - 2) !== 0x22 || text.charCodeAt(at - 1) !== 0x7d || // "}
    pubkeyStart < _PUBKEY_HEAD.length ||
    !text.startsWith(_PUBKEY_HEAD, pubkeyStart - _PUBKEY_HEAD.length)
  ) {
    return null;
  }
  const signature = text.slice(signatureStart, end - 2);
  let raw: Uint8Array;
  try {
    raw = Uint8Array.fromBase64(signature);
  } catch {
    return null;
  }
  const pubkey = text.slice(pubkeyStart, at - 2);
  let signingBytes: Uint8Array<ArrayBuffer>;
  if (bytes.length === text.length) {
    // Only ASCII has as many bytes as characters: the offsets agree.
    signingBytes = new Uint8Array(bytes.length - (end - at));
    signingBytes.set(bytes.subarray(0, at));
    signingBytes.set(bytes.subarray(end), at);
  } else {
    signingBytes = _encoder.encode(text.slice(0, at) + text.slice(end));
  }
  const valid = verifyEd25519Base64(pubkey, signingBytes, raw).catch(() => false);
  return { at, end, signingBytes, pubkey, signature, valid };
}

/**
 * Whether a speculative check is the very check step 4 needs: same signing
 * text (the canonical one), same key, same signature.
 *
 * @param text The wire text the speculation was cut from.
 */
function _usesSpeculation(spec: _Speculation, text: string, prepared: _Prepared): boolean {
  const { sender, sign } = prepared.value;
  return typeof sender === "object" && sender !== null &&
    (sender as Record<string, unknown>).pubkey === spec.pubkey &&
    typeof sign === "object" && sign !== null &&
    (sign as Record<string, unknown>).signature === spec.signature &&
    text.slice(0, spec.at) + text.slice(spec.end) === prepared.signingText;
}

function _isBytes(input: unknown): input is Uint8Array {
  try {
    return input instanceof Uint8Array;
  } catch {
    return false; // a revoked Proxy; the walk in step 1 reports it
  }
}

/** Who an envelope must come from or go to: a fingerprint, or a fingerprint and agent id. */
export type ExpectedParty = string | { fingerprint: string; agent_id?: string | undefined };

/** Options of {@linkcode verifyEnvelope}. */
export interface VerifyEnvelopeOptions {
  /** The receiver's clock. @default {() => new Date()} */
  now?: (() => Date) | undefined;
  /** Largest allowed distance between `timestamp` and now. @default {120000} */
  maxSkewMs?: number | undefined;
  /** Replay memory; without it no replay check is made. */
  replayGuard?: ReplayGuard | undefined;
  /**
   * With a `replayGuard`: `true` records the pair once every check passed
   * (`replayGuard.record`); `false` only checks it (`replayGuard.check`,
   * which changes nothing), for a caller that records it itself when it
   * commits the envelope's effects (see {@linkcode replayEntryOf}).
   *
   * @default {true}
   */
  recordReplay?: boolean | undefined;
  /** The session's authenticated peer: `sender` must be this party. */
  expectedSender?: ExpectedParty | undefined;
  /** Ourselves: `receiver` must be this party. */
  expectedReceiver?: ExpectedParty | undefined;
  /** Largest accepted envelope (canonical JSON, UTF-8). @default {1048576} */
  maxEnvelopeBytes?: number | undefined;
}

/**
 * The replay-guard entry of a verified envelope: what
 * {@linkcode ReplayGuard.record} takes and a store persists when it commits
 * the envelope's effects.
 *
 * @param envelope A verified envelope.
 * @returns `{ sender: sender.fingerprint, msgId: msg_id, timestampMs }`.
 *
 * @example Check now, record at commit
 * ```ts
 * import { createEnvelope, ReplayGuard, replayEntryOf, verifyEnvelope } from "./mod.ts";
 * import { Identity } from "../identity/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const a = await Identity.generate();
 * const env = await createEnvelope("lip", "LIP_FETCH", {
 *   identity: a,
 *   receiver: { agent_id: a.agentId, fingerprint: a.fingerprint },
 *   payload: { query: "boiling point of water", constraints: [] },
 * });
 * const guard = new ReplayGuard();
 * const checked = await verifyEnvelope(env, { replayGuard: guard, recordReplay: false });
 * assert.equal(guard.size, 0); // nothing recorded yet
 * const { sender, msgId, timestampMs } = replayEntryOf(checked);
 * // ... apply the envelope and commit, then:
 * assert.equal(guard.record(sender, msgId, timestampMs), "accepted");
 * ```
 */
export function replayEntryOf(envelope: Envelope): ReplayEntry {
  return {
    sender: envelope.sender.fingerprint,
    msgId: envelope.msg_id,
    timestampMs: Date.parse(envelope.timestamp),
  };
}

function _checkParty(
  name: "sender" | "receiver",
  expected: ExpectedParty | undefined,
  actual: { agent_id: string; fingerprint: string },
): void {
  if (expected === undefined) return;
  const fp = typeof expected === "string" ? expected : expected.fingerprint;
  if (actual.fingerprint !== fp) {
    throw new TrustViolationError(
      `Envelope ${name} ${actual.fingerprint} is not the expected ${name} ${fp}`,
      `/${name}/fingerprint`,
    );
  }
  if (typeof expected !== "string" && expected.agent_id !== undefined) {
    if (actual.agent_id !== expected.agent_id) {
      throw new TrustViolationError(
        `Envelope ${name} agent_id ${_show(actual.agent_id)} is not the expected ${
          _show(expected.agent_id)
        }`,
        `/${name}/agent_id`,
      );
    }
  }
}

/**
 * Verifies an envelope straight from the wire (an object, JSON text, or
 * UTF-8 bytes) and returns it typed. The checks run in this fixed order,
 * each with its own error class:
 *
 * 1. size and structure (`InvalidEnvelopeError`);
 * 2. the payload schema of its type (`PayloadSchemaError`);
 * 3. `sender.fingerprint` is the SHA-256 of `sender.pubkey`
 *    (`FingerprintMismatchError`);
 * 4. the Ed25519 signature (`SignatureMismatchError`);
 * 5. `timestamp` within `maxSkewMs` of now (`TimestampError`);
 * 6. `sender` is `expectedSender` and `receiver` is `expectedReceiver`, when
 *    given (`TrustViolationError`);
 * 7. `msg_id` unseen for this sender, when a `replayGuard` is given
 *    (`ReplayError`); the pair is recorded only when every check passed,
 *    and only checked (not recorded) with `recordReplay: false`.
 *
 * @param input The envelope as received.
 * @param options Clock, skew, replay guard, expected parties, size limit.
 * @returns The verified envelope.
 * @throws {EnvelopeError} One of the subclasses above, with `code` and a
 *   JSON Pointer `path`.
 * @throws {RangeError} If `maxSkewMs` or `maxEnvelopeBytes` is negative or not a number.
 *
 * @example Refusing a tampered envelope
 * ```ts
 * import { createEnvelope, SignatureMismatchError, verifyEnvelope } from "./mod.ts";
 * import { Identity } from "../identity/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const a = await Identity.generate();
 * const env = await createEnvelope("lip", "LIP_FETCH", {
 *   identity: a,
 *   receiver: { agent_id: a.agentId, fingerprint: a.fingerprint },
 *   payload: { query: "boiling point of water", constraints: [] },
 * });
 * const tampered = { ...env, payload: { ...env.payload, query: "something else" } };
 * await assert.rejects(verifyEnvelope(tampered), SignatureMismatchError);
 * ```
 */
export async function verifyEnvelope(
  input: unknown,
  options: VerifyEnvelopeOptions = {},
): Promise<Envelope> {
  const maxBytes = options.maxEnvelopeBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  if (!(maxBytes >= 0)) throw new RangeError(`Expected maxEnvelopeBytes >= 0, got ${maxBytes}`);
  if (!(maxSkewMs >= 0)) throw new RangeError(`Expected maxSkewMs >= 0, got ${maxSkewMs}`);

  // 1. Size and structure.
  let value = input;
  let parsed = false;
  let text = "";
  let spec: _Speculation | null = null;
  if (typeof input === "string" || _isBytes(input)) {
    const bytes = typeof input === "string" ? _encoder.encode(input) : input;
    if (bytes.length > maxBytes) {
      throw new InvalidEnvelopeError(
        `Envelope is ${bytes.length} bytes, more than the limit of ${maxBytes}`,
        "",
      );
    }
    try {
      text = typeof input === "string" ? input : _decoder.decode(input);
      // Step 4 is started here when the text looks canonical, so that the
      // Ed25519 check runs on WebCrypto's worker thread while this thread
      // parses, canonicalizes and validates. Its result is only looked at
      // in step 4, and only if the canonical signing input, key and
      // signature turn out to be the very ones it checked.
      spec = _speculate(text, bytes);
      value = JSON.parse(text);
      parsed = true;
    } catch (cause) {
      throw new InvalidEnvelopeError(
        `Envelope is not UTF-8 JSON: ${(cause as Error).message}`,
        "",
        { cause },
      );
    }
  }
  const prepared = _prepare(value, maxBytes, parsed);
  const speculated = spec !== null && _usesSpeculation(spec, text, prepared);
  const signingBytes = speculated ? spec!.signingBytes : _encoder.encode(prepared.signingText);
  const size = signingBytes.length + _SIGN_BLOCK_BYTES;
  if (size > maxBytes) {
    throw new InvalidEnvelopeError(
      `Envelope is ${size} bytes, more than the limit of ${maxBytes}`,
      "",
    );
  }
  // Otherwise the signature check (step 4) is started here, on WebCrypto's
  // worker thread, when the key and signature are well-formed, so that it
  // runs while steps 1-3 finish on this thread. Its result is only looked
  // at in step 4: the errors keep their fixed order, and a malformed
  // envelope costs no more than one with a bad signature.
  const early = speculated ? spec!.valid : _startSignatureCheck(prepared.value, signingBytes);

  // 1 and 2. Structure, then the payload schema.
  const envelope = _validate(prepared.value);

  // 3. Fingerprint.
  const { sender } = envelope;
  const known = _fingerprintOfBase64(sender.pubkey);
  const fingerprint = typeof known === "string" ? known : await known;
  if (fingerprint !== sender.fingerprint) {
    throw new FingerprintMismatchError(
      `Sender fingerprint ${sender.fingerprint} does not match its pubkey (whose fingerprint is ${fingerprint})`,
      "/sender/fingerprint",
    );
  }

  // 4. Signature.
  const valid = early ??
    verifyEd25519Base64(
      sender.pubkey,
      signingBytes,
      Uint8Array.fromBase64(envelope.sign.signature),
    );
  if (!(await valid)) {
    throw new SignatureMismatchError(
      `Signature of ${envelope.type} ${envelope.msg_id} from ${sender.fingerprint} does not verify`,
      "/sign/signature",
    );
  }

  // 5. Timestamp.
  const nowMs = (options.now ?? (() => new Date()))().getTime();
  const timestampMs = Date.parse(envelope.timestamp);
  if (!(Math.abs(nowMs - timestampMs) <= maxSkewMs)) {
    throw new TimestampError(
      `Timestamp ${envelope.timestamp} of ${envelope.msg_id} is ${
        Math.round((timestampMs - nowMs) / 1000)
      } s from now, beyond the allowed ${maxSkewMs / 1000} s`,
      "/timestamp",
    );
  }

  // 6. Session binding.
  _checkParty("sender", options.expectedSender, sender);
  _checkParty("receiver", options.expectedReceiver, envelope.receiver);

  // 7. Replay.
  if (options.replayGuard !== undefined) {
    const guard = options.replayGuard;
    const verdict = options.recordReplay === false
      ? guard.check(sender.fingerprint, envelope.msg_id, timestampMs, nowMs)
      : guard.record(sender.fingerprint, envelope.msg_id, timestampMs, nowMs);
    if (verdict !== "accepted") {
      const why = verdict === "duplicate"
        ? "was already seen"
        : verdict === "expired"
        ? "is older than the replay window"
        : "is older than the replay guard's floor";
      throw new ReplayError(
        `Message ${envelope.msg_id} from ${sender.fingerprint} ${why}`,
        verdict === "duplicate" ? "/msg_id" : "/timestamp",
      );
    }
  }
  return envelope;
}
