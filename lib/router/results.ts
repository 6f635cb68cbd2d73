/**
 * What a dispatch returns, built in one place, and a handled message
 * waiting for its replies to be signed (that happens once its write group
 * has committed).
 *
 * @module
 */

import type { ReplySpec } from "../runtime/mod.ts";
import type { Header } from "./refusals.ts";
import type { DispatchResult, DispatchStatus, Inbound } from "./types.ts";

/** A handled (or refused) message before its replies are signed. */
export interface Pending {
  /** The result, its `replies` still empty. */
  result: DispatchResult;
  /** The runtime's replies to sign, in order. */
  replies: readonly ReplySpec[];
  /** Whether (and for what) to append the protocol's refusal answer. */
  answer: { header: Header; from: Inbound } | null;
}

/**
 * A dispatch result with the header's protocol, type and msg_id and the
 * given parts (only those defined), and no replies yet.
 *
 * @param status What happened.
 * @param header What is known of the message.
 * @param parts Code, reason, envelope, error, effects.
 * @returns The result.
 */
export function dispatchResult(
  status: DispatchStatus,
  header: Header,
  parts: Partial<Omit<DispatchResult, "status" | "replies">>,
): DispatchResult {
  const result: DispatchResult = { status, effects: parts.effects ?? [], replies: [] };
  if (header.protocol !== undefined) result.protocol = header.protocol;
  if (header.type !== undefined) result.type = header.type;
  if (header.msgId !== undefined) result.msgId = header.msgId;
  if (parts.code !== undefined) result.code = parts.code;
  if (parts.reason !== undefined) result.reason = parts.reason;
  if (parts.retryAfterMs !== undefined) result.retryAfterMs = parts.retryAfterMs;
  if (parts.envelope !== undefined) result.envelope = parts.envelope;
  if (parts.error !== undefined) result.error = parts.error;
  return result;
}
