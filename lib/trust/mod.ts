/**
 * Trust: the CIP peer machine (LTP-Peer: untrusted, probing, trusted,
 * blacklisted) and the HCP social-trust machine (untrusted, probing,
 * trusted, restricted), as one pure transition path
 * ({@linkcode applyTrustEvent}); every transition and every ignored event
 * becomes store changes and a telemetry event. Trust starts only from
 * anchors the owner declares ({@linkcode declareAnchors}).
 *
 * @example
 * ```ts
 * import { applyTrustEvent, initialTrustRecord } from "@web4/runtime/trust";
 * import assert from "node:assert/strict";
 *
 * const peer = "ab".repeat(32);
 * let r = initialTrustRecord("cip", peer, 0);
 * r = applyTrustEvent(r, { type: "valid_handshake" }, { nowMs: 1 }).record;
 * r = applyTrustEvent(r, { type: "verified_knowledge" }, { nowMs: 2 }).record;
 * assert.equal(r.state, "trusted");
 * ```
 *
 * @module
 */

export {
  applyTrustEvent,
  CIP_TRUST_EVENTS,
  CIP_TRUST_STATES,
  DEFAULT_TRUST_CONFIG,
  HCP_TRUST_EVENTS,
  HCP_TRUST_STATES,
  initialTrustRecord,
  trustConfig,
} from "./fsm.ts";
export {
  createTrustView,
  declareAnchors,
  transitionChanges,
  transitionEvent,
  TrustBatch,
  trustLevelOf,
} from "./view.ts";
export type {
  CipTrustEventType,
  HcpTrustEventType,
  PinnedLevel,
  Transition,
  TrustConfig,
  TrustContext,
  TrustEvent,
  TrustEventType,
  TrustTelemetryEvent,
  TrustView,
} from "./types.ts";
