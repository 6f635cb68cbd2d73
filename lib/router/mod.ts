/**
 * The ProtocolRouter: one route per (protocol, message type), the channel
 * table, the per-peer rate limit, the refusal table, the write groups, and
 * the fixed dispatch pipeline (verify, bind to the session's peer, replay,
 * trust gate, runtime, one transaction, signed replies and refusals, the
 * committed effects and their events).
 *
 * @example
 * ```ts
 * import { channelOf } from "@web4/runtime/router";
 * import assert from "node:assert/strict";
 *
 * assert.equal(channelOf("lip", "LIP_EVIDENCE"), "knowledge");
 * ```
 *
 * @module
 */

export { CHANNEL_OF, channelOf, type RouteChannel } from "./channels.ts";
export { RoutingError, type RoutingErrorCode } from "./errors.ts";
export { RateLimiter, type RateLimitOptions, type RateVerdict } from "./rate_limit.ts";
export { ProtocolRouter } from "./router.ts";
export {
  GROUP_DELAY_MS,
  GROUP_MAX,
  WRITE_GROUP_LIMITS,
  type WriteGroupOptions,
} from "./write_group.ts";
export type {
  AnyProtocolRuntime,
  Applied,
  DispatchResult,
  DispatchStatus,
  Inbound,
  OutboundEnvelope,
  RouterOptions,
} from "./types.ts";
