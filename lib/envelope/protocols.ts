/**
 * The three protocols side by side: payload maps, the generic envelope
 * types, the schema tables the validator looks up by protocol and type, and
 * the refusal (error) types.
 *
 * @module
 */

import type { z } from "zod";
import {
  CIP_MESSAGE,
  CIP_PAYLOADS,
  CIP_STRUCTURE,
  CIP_TYPES,
  type CipEnvelope,
  type CipPayloads,
  type CipType,
} from "./cip.ts";
import type { EnvelopeSignature, Protocol } from "./common.ts";
import {
  HCP_MESSAGE,
  HCP_PAYLOADS,
  HCP_STRUCTURE,
  HCP_TYPES,
  type HcpEnvelope,
  type HcpPayloads,
  type HcpType,
} from "./hcp.ts";
import {
  LIP_MESSAGE,
  LIP_PAYLOADS,
  LIP_STRUCTURE,
  LIP_TYPES,
  type LipEnvelope,
  type LipPayloads,
  type LipType,
} from "./lip.ts";

/** Payload maps of the three protocols. */
export interface ProtocolPayloads {
  /** CIP/1.0. */
  cip: CipPayloads;
  /** HCP/1.0. */
  hcp: HcpPayloads;
  /** LIP/1.0. */
  lip: LipPayloads;
}

/** The message types of protocol `P`. */
export type MessageType<P extends Protocol> = keyof ProtocolPayloads[P] & string;
/** The payload type of message type `T` of protocol `P`. */
export type PayloadOf<P extends Protocol, T extends MessageType<P>> = ProtocolPayloads[P][T];

/** The envelope type of message type `T` of protocol `P`. */
export type EnvelopeOf<P extends Protocol, T extends MessageType<P> = MessageType<P>> = P extends
  "cip" ? CipEnvelope<T & CipType>
  : P extends "hcp" ? HcpEnvelope<T & HcpType>
  : P extends "lip" ? LipEnvelope<T & LipType>
  : never;

/** Any signed envelope of any protocol. */
export type Envelope = CipEnvelope | HcpEnvelope | LipEnvelope;

/** An envelope whose `sign` block may be missing (the input of signing). */
export type UnsignedEnvelope<E extends Envelope = Envelope> = E extends Envelope
  ? Omit<E, "sign"> & { sign?: EnvelopeSignature | undefined }
  : never;

/** The three protocols, in order. */
export const PROTOCOLS: readonly Protocol[] = ["cip", "hcp", "lip"];

/** Payload schemas by protocol and type. */
export const PAYLOADS: Readonly<Record<Protocol, Readonly<Record<string, z.ZodType>>>> = {
  cip: CIP_PAYLOADS,
  hcp: HCP_PAYLOADS,
  lip: LIP_PAYLOADS,
};

/** Message types per protocol, in the spec's order. */
export const MESSAGE_TYPES: {
  readonly cip: readonly CipType[];
  readonly hcp: readonly HcpType[];
  readonly lip: readonly LipType[];
} = { cip: CIP_TYPES, hcp: HCP_TYPES, lip: LIP_TYPES };

/**
 * Envelope structure schemas: every header field checked, the payload only
 * required to be an object (its per-type check is a separate step).
 */
export const ENVELOPE_STRUCTURE: Readonly<Record<Protocol, z.ZodType>> = {
  cip: CIP_STRUCTURE,
  hcp: HCP_STRUCTURE,
  lip: LIP_STRUCTURE,
};

/**
 * Complete message schemas (envelope plus the payload matching `type`), one
 * per protocol; these are the schemas exported to `docs/schemas/`.
 */
export const MESSAGE_SCHEMAS: Readonly<Record<Protocol, z.ZodType>> = {
  cip: CIP_MESSAGE,
  hcp: HCP_MESSAGE,
  lip: LIP_MESSAGE,
};

/** The refusal type of each protocol. */
export interface ErrorTypes {
  /** CIP's refusal. */
  cip: "ERROR";
  /** HCP's refusal. */
  hcp: "HCP_ERROR";
  /** LIP's refusal. */
  lip: "LIP_ERROR";
}

/** A refusal type: `"ERROR"`, `"HCP_ERROR"` or `"LIP_ERROR"`. */
export type ErrorType = ErrorTypes[Protocol];

const _ERROR_TYPES: Readonly<ErrorTypes> = { cip: "ERROR", hcp: "HCP_ERROR", lip: "LIP_ERROR" };

/**
 * Tells whether a message type is a refusal (CIP `ERROR`, HCP `HCP_ERROR`,
 * LIP `LIP_ERROR`). An error never answers an error (docs/protocols.md §2,
 * "refusals on the wire"): a router that would refuse an envelope of such a
 * type drops it (and logs) instead of answering.
 *
 * @param type Any message type (or any string).
 * @returns `true` for the three refusal types only.
 *
 * @example Never answering an error with an error
 * ```ts
 * import { isErrorType } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isErrorType("HCP_ERROR"), true);
 * assert.equal(isErrorType("HELLO"), false);
 * assert.equal(isErrorType("error"), false); // wire names are exact
 * ```
 */
export function isErrorType(type: string): type is ErrorType {
  return type === "ERROR" || type === "HCP_ERROR" || type === "LIP_ERROR";
}

/**
 * The refusal type of a protocol: the type to answer a refused envelope of
 * that protocol with.
 *
 * @param protocol `"cip"`, `"hcp"` or `"lip"`.
 * @returns `"ERROR"`, `"HCP_ERROR"` or `"LIP_ERROR"`.
 * @throws {TypeError} If `protocol` is unknown.
 *
 * @example
 * ```ts
 * import { errorTypeOf } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(errorTypeOf("lip"), "LIP_ERROR");
 * ```
 */
export function errorTypeOf<P extends Protocol>(protocol: P): ErrorTypes[P] {
  checkProtocol(protocol);
  return _ERROR_TYPES[protocol];
}

/**
 * Asserts that a value names one of the three protocols.
 *
 * @param protocol The candidate.
 * @throws {TypeError} If it does not.
 */
export function checkProtocol(protocol: unknown): asserts protocol is Protocol {
  if (protocol !== "cip" && protocol !== "hcp" && protocol !== "lip") {
    let shown: string;
    try {
      shown = JSON.stringify(protocol) ?? String(protocol);
    } catch {
      shown = String(protocol);
    }
    throw new TypeError(`Unknown protocol ${shown}: expected "cip", "hcp" or "lip"`);
  }
}
