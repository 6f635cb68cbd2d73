/**
 * The ProtocolRouter: one route per (protocol, message type), the channel
 * table, the per-peer rate limit, and the fixed dispatch pipeline (verify,
 * bind to the session's peer, replay, trust gate, runtime, one transaction,
 * signed replies and refusals, events).
 *
 * @example
 * ```ts
 * import { channelOf } from "./mod.ts";
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
export {
  type AnyProtocolRuntime,
  type Applied,
  type DispatchResult,
  type DispatchStatus,
  type Inbound,
  type OutboundEnvelope,
  ProtocolRouter,
  type RouterOptions,
  type SanctionRule,
} from "./router.ts";
