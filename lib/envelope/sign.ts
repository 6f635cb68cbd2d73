/**
 * Building, signing and encoding envelopes.
 *
 * @module
 */

import { Identity } from "../identity/mod.ts";
import { canonicalizeChecked } from "./canonical.ts";
import type { EnvelopeReceiver } from "./common.ts";
import type { CipState, CipTrust } from "./cip.ts";
import type { HcpState } from "./hcp.ts";
import type { LipSource } from "./lip.ts";
import type {
  Envelope,
  EnvelopeOf,
  MessageType,
  PayloadOf,
  UnsignedEnvelope,
} from "./protocols.ts";
import type { Protocol } from "./common.ts";
import {
  checkEnvelope,
  checkProtocolAndType,
  PLACEHOLDER_SIGN,
  prepare,
  show,
  validateEnvelope,
} from "./validate.ts";
import { systemClock, systemRandom } from "../ports/mod.ts";

const _encoder = new TextEncoder();

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
  const withSign = envelope.sign === undefined ? { ...envelope, sign: PLACEHOLDER_SIGN } : envelope;
  return _encoder.encode(checkEnvelope(withSign, Infinity).signingText);
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
  // The walk alone (the signing text would be serialized for nothing), then
  // the schemas, then the one serialization. Only checked, never handed
  // back: the compiled schemas may accept the caller's object as it is
  // (`owned`), without zod's copy; it is serialized in the same call.
  const { value } = prepare(envelope, Infinity, false, false);
  return _encoder.encode(canonicalizeChecked(validateEnvelope(value, true)));
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
    throw new TypeError(`Expected identity to be an Identity, got ${show(identity)}`);
  }
  // Checked and validated first, then signed: nothing is signed for an
  // invalid envelope.
  const { value, signingText } = prepare(
    { ...envelope, sign: PLACEHOLDER_SIGN },
    Infinity,
    false,
    true,
  );
  // Validated on a copy parsed from the canonical text (this call's own,
  // so the compiled schemas can accept it as it is; `value` is the
  // caller's): the returned envelope never shares an object with the caller.
  const checked = validateEnvelope({ ...JSON.parse(signingText), sign: value.sign }, true);
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
  const signature = await identity.sign(_encoder.encode(signingText));
  // `checked` is a copy, never the caller's object (nor PLACEHOLDER_SIGN: replaced).
  (checked as { sign: unknown }).sign = { algo: "ed25519", signature: signature.toBase64() };
  return checked as E;
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
  /** The clock for `timestamp`. @default {() => new Date(systemClock.now())} */
  clock?: (() => Date) | undefined;
  /** Randomness for `msg_id`. @default {systemRandom} */
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
  checkProtocolAndType(protocol, type);
  const { identity } = options;
  if (!(identity instanceof Identity)) {
    throw new TypeError(`Expected options.identity to be an Identity, got ${show(identity)}`);
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
  const random = options.random ?? systemRandom;
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
  const date = new Date((options.clock ?? (() => new Date(systemClock.now())))().getTime());
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new RangeError(`Expected options.clock() to return a valid Date, got ${show(date)}`);
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
