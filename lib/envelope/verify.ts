/**
 * Verifying envelopes from the wire: the seven checks in their fixed order.
 *
 * @module
 */

import { verifyEd25519Base64 } from "../identity/verify.ts";
import {
  FingerprintMismatchError,
  InvalidEnvelopeError,
  ReplayError,
  SignatureMismatchError,
  TimestampError,
  TrustViolationError,
} from "./errors.ts";
import { matchesCanonical } from "./canonical.ts";
import { checkJsonText } from "./json_text.ts";
import {
  fingerprintOfBase64,
  isBytes,
  speculate,
  type Speculation,
  usesSpeculation,
} from "./fast_path.ts";
import type { Envelope } from "./protocols.ts";
import type { ReplayEntry, ReplayGuard } from "./replay_guard.ts";
import {
  DEFAULT_MAX_ENVELOPE_BYTES,
  MAX_DEPTH,
  prepare,
  type Prepared,
  show,
  SIGN_BLOCK_BYTES,
  validateEnvelope,
} from "./validate.ts";
import { systemClock } from "../ports/mod.ts";

/** Default `maxSkewMs`: 120 seconds. */
export const DEFAULT_MAX_SKEW_MS = 120_000;
const _encoder = new TextEncoder();
const _decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Step 1 for text, fast: the speculation holds when the text without its
 * `sign` member is the canonical JSON of the parsed envelope without `sign`
 * (checked in place by {@linkcode matchesCanonical}, nothing serialized)
 * and the key and signature it cut out are the envelope's. Such a text
 * cannot repeat a key, and `JSON.parse` read it right; what
 * {@linkcode prepare} would refuse (depth, `__proto__` keys, lone
 * surrogates) it does not prove, so those take the general path.
 */
function _speculationHolds(
  text: string,
  value: unknown,
  spec: Speculation,
  wellFormed: boolean,
): value is Record<string, unknown> {
  if (!wellFormed || typeof value !== "object" || value === null) return false;
  const { sender, sign } = value as Record<string, unknown>;
  return typeof sender === "object" && sender !== null &&
    (sender as Record<string, unknown>).pubkey === spec.pubkey &&
    typeof sign === "object" && sign !== null &&
    (sign as Record<string, unknown>).signature === spec.signature &&
    matchesCanonical(value, text, MAX_DEPTH, { at: spec.at, end: spec.end, key: "sign" });
}

/**
 * Step 1 for text, general: {@linkcode prepare} on what `JSON.parse`
 * returned, and the text's own checks: a repeated key is refused, and a
 * misread escaped key makes the text be parsed again exactly (see
 * `json_text.ts`). The speculation may still hold (a text that is not
 * canonical only in ways `matchesCanonical` does not prove).
 */
function _prepareText(
  text: string,
  value: unknown,
  spec: Speculation | null,
  maxBytes: number,
): { prepared: Prepared; speculated: boolean } {
  let prepared: Prepared | undefined;
  let failure: { error: unknown } | undefined;
  try {
    prepared = prepare(value, maxBytes, true);
  } catch (error) {
    failure = { error };
  }
  if (prepared !== undefined && spec !== null && usesSpeculation(spec, text, prepared)) {
    return { prepared, speculated: true };
  }
  const checked = checkJsonText(text, value);
  if (checked.duplicate !== null) {
    // JSON.parse keeps the last of two equal keys; the text is refused instead.
    const { key, path } = checked.duplicate;
    throw new InvalidEnvelopeError(
      `Envelope has the key ${show(key)} twice in one object, at ${path}`,
      path,
    );
  }
  if (checked.reparsed) {
    return { prepared: prepare(checked.value, maxBytes, true), speculated: false };
  }
  if (failure !== undefined) throw failure.error;
  return { prepared: prepared!, speculated: false };
}

/** Who an envelope must come from or go to: a fingerprint, or a fingerprint and agent id. */
export type ExpectedParty = string | { fingerprint: string; agent_id?: string | undefined };

/** Options of {@linkcode verifyEnvelope}. */
export interface VerifyEnvelopeOptions {
  /** The receiver's clock. @default {() => new Date(systemClock.now())} */
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
        `Envelope ${name} agent_id ${show(actual.agent_id)} is not the expected ${
          show(expected.agent_id)
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
 * 1. size and structure, and for text or bytes: UTF-8 JSON with no key
 *    repeated in any object (`InvalidEnvelopeError`);
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
  let spec: Speculation | null = null;
  if (typeof input === "string" || isBytes(input)) {
    const bytes = typeof input === "string" ? _encoder.encode(input) : input;
    if (bytes.length > maxBytes) {
      throw new InvalidEnvelopeError(
        `Envelope is ${bytes.length} bytes, more than the limit of ${maxBytes}`,
        "",
      );
    }
    try {
      text = typeof input === "string" ? input : _decoder.decode(input);
      // Step 4's input is cut out here when the text looks canonical; it is
      // used only if the canonical signing input, key and signature turn
      // out to be the very ones cut out.
      spec = speculate(text, bytes);
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
  const { prepared, speculated } = !parsed
    ? { prepared: prepare(value, maxBytes, false), speculated: false }
    : spec !== null &&
        _speculationHolds(text, value, spec, typeof input !== "string" || text.isWellFormed())
    ? { prepared: { value, signingText: "" }, speculated: true }
    : _prepareText(text, value, spec, maxBytes);
  const signingBytes = speculated ? spec!.signingBytes : _encoder.encode(prepared.signingText);
  const size = signingBytes.length + SIGN_BLOCK_BYTES;
  if (size > maxBytes) {
    throw new InvalidEnvelopeError(
      `Envelope is ${size} bytes, more than the limit of ${maxBytes}`,
      "",
    );
  }
  // 1 and 2. Structure, then the payload schema (the parsed value is ours:
  // returned as it is when the compiled schemas accept it).
  const envelope = validateEnvelope(prepared.value, parsed);

  // 3. Fingerprint.
  const { sender } = envelope;
  const known = fingerprintOfBase64(sender.pubkey);
  const fingerprint = typeof known === "string" ? known : await known;
  if (fingerprint !== sender.fingerprint) {
    throw new FingerprintMismatchError(
      `Sender fingerprint ${sender.fingerprint} does not match its pubkey (whose fingerprint is ${fingerprint})`,
      "/sender/fingerprint",
    );
  }

  // 4. Signature (synchronous with the node:crypto engine: see
  // lib/identity/ed25519.ts).
  const valid = verifyEd25519Base64(
    sender.pubkey,
    signingBytes,
    speculated ? spec!.signatureBytes : Uint8Array.fromBase64(envelope.sign.signature),
  );
  if (!(typeof valid === "boolean" ? valid : await valid)) {
    throw new SignatureMismatchError(
      `Signature of ${envelope.type} ${envelope.msg_id} from ${sender.fingerprint} does not verify`,
      "/sign/signature",
    );
  }

  // 5. Timestamp.
  const nowMs = options.now === undefined ? systemClock.now() : options.now().getTime();
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
