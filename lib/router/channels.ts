/**
 * Which channel kind each message type travels on: one table for every
 * type of the three protocols.
 *
 * @module
 */

import type { MessageType, Protocol } from "../envelope/mod.ts";

/** The RTT channel kinds the protocols use. */
export type RouteChannel = "control" | "state" | "knowledge";

/**
 * The channel of every message type (docs/protocols.md §1: `control` carries
 * handshakes and errors, `state` presence, load, intents and trust updates,
 * `knowledge` facts, decisions, DMP traces and internet evidence).
 */
export const CHANNEL_OF: {
  readonly [P in Protocol]: { readonly [T in MessageType<P>]: RouteChannel };
} = {
  cip: {
    HELLO: "control",
    VERIFY: "control",
    ERROR: "control",
    STATE_UPDATE: "state",
    INTENT: "state",
    FACT_PROPOSE: "knowledge",
    FACT_CHALLENGE: "knowledge",
    FACT_CONFIRM: "knowledge",
    FACT_REJECT: "knowledge",
    DECISION_SHARE: "knowledge",
  },
  hcp: {
    HCP_HELLO: "control",
    HCP_ERROR: "control",
    HCP_STATE_UPDATE: "state",
    HCP_INTENT: "state",
    HCP_CONTEXT: "knowledge",
    HCP_DECISION: "knowledge",
    HCP_FEEDBACK: "knowledge",
  },
  lip: {
    LIP_ERROR: "control",
    LIP_FETCH: "knowledge",
    LIP_EVIDENCE: "knowledge",
    LIP_CONFLICT: "knowledge",
    LIP_ACCEPT: "knowledge",
    LIP_REJECT: "knowledge",
  },
};

/**
 * The channel kind a message type travels on.
 *
 * @param protocol The protocol.
 * @param type A message type of that protocol.
 * @returns `"control"`, `"state"` or `"knowledge"`.
 * @throws {TypeError} For a type the protocol does not have.
 *
 * @example
 * ```ts
 * import { channelOf } from "./channels.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(channelOf("cip", "FACT_PROPOSE"), "knowledge");
 * assert.equal(channelOf("hcp", "HCP_ERROR"), "control");
 * ```
 */
export function channelOf(protocol: Protocol, type: string): RouteChannel {
  const channel = (CHANNEL_OF[protocol] as Readonly<Record<string, RouteChannel>> | undefined)
    ?.[type];
  if (channel === undefined) {
    throw new TypeError(`Unknown message type "${type}" for protocol "${protocol}"`);
  }
  return channel;
}
