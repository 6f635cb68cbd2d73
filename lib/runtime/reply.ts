/**
 * The one typed builder of a {@linkcode ReplySpec}: protocol and type first,
 * then a payload checked against that type's schema type, so no caller
 * needs a cast at the seam.
 *
 * @module
 */

import type {
  CipState,
  CipTrust,
  EnvelopeReceiver,
  HcpState,
  LipSource,
  MessageType,
  PayloadOf,
  Protocol,
} from "../envelope/mod.ts";
import type { ReplySpec } from "./types.ts";

/** The parts of a reply besides its protocol and type. */
export interface ReplyParts<P extends Protocol, T extends MessageType<P>> {
  /** The UUID v4 to sign it with (see `newMsgId`). */
  msg_id: string;
  /** Who it goes to. */
  receiver: EnvelopeReceiver;
  /** The payload, typed by protocol and message type. */
  payload: PayloadOf<P, T>;
  /** CIP/HCP `state` block. */
  state?: (P extends "hcp" ? HcpState : CipState) | undefined;
  /** CIP `trust` block. */
  trust?: CipTrust | undefined;
  /** LIP `source` block. */
  source?: LipSource | undefined;
}

/**
 * Builds an unsigned reply for the router to sign and send.
 *
 * @param protocol The protocol.
 * @param type The message type (one of the protocol's).
 * @param parts The `msg_id`, receiver, payload and optional blocks.
 * @returns The reply spec.
 *
 * @example
 * ```ts
 * import { replySpec } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const spec = replySpec("cip", "ERROR", {
 *   msg_id: "00000000-0000-4000-8000-000000000000",
 *   receiver: { agent_id: "bob", fingerprint: "ab".repeat(32) },
 *   payload: { in_reply_to: "00000000-0000-4000-8000-000000000001", code: "quota", reason: "Over quota" },
 * });
 * assert.equal(spec.type, "ERROR");
 * ```
 */
export function replySpec<P extends Protocol, T extends MessageType<P>>(
  protocol: P,
  type: T,
  parts: ReplyParts<P, T>,
): ReplySpec {
  const spec: Record<string, unknown> = {
    protocol,
    type,
    msg_id: parts.msg_id,
    receiver: parts.receiver,
    payload: parts.payload,
  };
  if (parts.state !== undefined) spec.state = parts.state;
  if (parts.trust !== undefined) spec.trust = parts.trust;
  if (parts.source !== undefined) spec.source = parts.source;
  // The one place the correlated (protocol, type, payload) triple meets the
  // distributed union: TypeScript cannot narrow a generic pair into it, and
  // `ReplyParts<P, T>` already checked every field against it.
  return spec as ReplySpec;
}
