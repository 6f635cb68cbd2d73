/**
 * The one renderer from effects to the v1.0 event contract. Telemetry only
 * observes: the router renders each committed effect with
 * {@linkcode renderEffect} and emits the result; no runtime spells an event
 * kind, and nothing reads an event to decide anything.
 *
 * @module
 */

import type { EventData, Severity } from "../observability/mod.ts";
import { transitionEvent } from "../trust/mod.ts";
import type { Effect } from "./effects.ts";

/** A v1.0 event rendered from an effect, before the router stamps it. */
export interface EffectEvent {
  /** The event kind (`cip.claim`, `trust.transition`, ...). */
  readonly kind: string;
  /** Its fields, as the contract has them. */
  readonly data: EventData;
  /** How much it matters. */
  readonly severity: Severity;
  /** The peer concerned; absent: the party the message came from (the router fills it in). */
  readonly peer?: string | undefined;
}

function _event(kind: string, data: EventData, peer?: string, severity: Severity = "info") {
  return { kind, data, severity, ...(peer === undefined ? {} : { peer }) };
}

/** The fields of an `hcp.error_received` or `lip.error_received`: the error envelope's. */
function _errorData(effect: Extract<Effect, { type: "errorReceived" }>): EventData {
  return {
    msg_id: effect.msgId,
    in_reply_to: effect.inReplyTo,
    code: effect.code,
    reason: effect.reason,
    ...(effect.retryAfterMs === undefined ? {} : { retry_after_ms: effect.retryAfterMs }),
  };
}

/**
 * The v1.0 event of an effect, or `null` for an effect telemetry does not
 * report (a `humanState`, a delivery other than an intent).
 *
 * @param effect A committed effect.
 * @returns The event's kind, data, severity and peer, or `null`.
 *
 * @example
 * ```ts
 * import { renderEffect } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const peer = "ab".repeat(32);
 * assert.deepEqual(renderEffect({ type: "handshakeVerified", peer, trust: "probing" }), {
 *   kind: "cip.handshake",
 *   data: { step: "verified", trust: "probing" },
 *   severity: "info",
 *   peer,
 * });
 * assert.equal(renderEffect({ type: "humanState", person: peer, human: {
 *   presence: "focused", affect: "calm", clarity: 80, pressure: 20, intent: "plan", consent: "granted",
 * } }), null);
 * ```
 */
export function renderEffect(effect: Effect): EffectEvent | null {
  switch (effect.type) {
    // ---- what the agent acts on ----
    case "deliver": {
      const d = effect.delivery;
      if (d.kind !== "intent") return null;
      return _event(
        "hcp.intent_delivered",
        { msg_id: d.msgId, topic: d.topic, verdict: "allowed" },
        d.person,
      );
    }
    case "fetch": {
      const r = effect.request;
      return _event(
        "lip.fetch_requested",
        { msg_id: r.requestId, query: r.query, constraints: [...r.constraints] },
        r.requester,
      );
    }
    case "claimChanged":
      if (effect.origin === "cip") {
        // The peer of a `cip.claim` is the party whose message moved it; the proposer is a field.
        return _event("cip.claim", {
          claim: effect.claim,
          status: effect.status,
          reason: effect.reason,
          ...(effect.peer === undefined ? {} : { proposer: effect.peer }),
        });
      }
      return _event(
        "lip.claim",
        {
          id: effect.claim,
          from: effect.from,
          to: effect.status,
          event: effect.event,
          reason: effect.reason,
          source: effect.source,
        },
        effect.peer,
        effect.status === "rejected" ? "warn" : "info",
      );
    case "trustChanged":
      return transitionEvent(effect.entry);
    case "handshakeVerified":
      return _event("cip.handshake", { step: "verified", trust: effect.trust }, effect.peer);
    case "errorReceived":
      if (effect.protocol === "cip") {
        return _event(
          "cip.error_received",
          { in_reply_to: effect.inReplyTo, code: effect.code, reason: effect.reason },
          effect.peer,
          "warn",
        );
      }
      return effect.protocol === "hcp"
        ? _event("hcp.error_received", _errorData(effect), effect.peer, "warn")
        : _event("lip.error_received", _errorData(effect), effect.peer, "warn");
    case "intentReceived":
      if (effect.decision === undefined) return null;
      return _event(
        "cip.intent",
        { goal: effect.goal, topic: effect.topic, decision: effect.decision },
        effect.peer,
      );
    case "humanState":
      return null;
    // ---- CIP ----
    case "handshakeProgress":
      return _event(
        "cip.handshake",
        effect.step === "simultaneous_open"
          ? { step: effect.step, kept: "ours" }
          : { step: effect.step },
        effect.peer,
      );
    case "handshakeFailed":
      return _event(
        "cip.handshake",
        { step: "failed", code: effect.code, msg_id: effect.msgId },
        effect.peer,
        "warn",
      );
    case "verificationIgnored":
      return _event("cip.verification_failed", { reason: effect.reason }, effect.peer, "warn");
    case "blacklistedDropped":
      return _event(
        "cip.dropped",
        { msg_id: effect.msgId, type: effect.messageType },
        effect.peer,
        "warn",
      );
    case "presenceReceived":
      return _event(
        "cip.state_update",
        { presence: effect.presence, lri: effect.lri, peer_view: effect.peerView },
        effect.peer,
      );
    case "intentAnswered":
      return _event(
        "cip.intent_answered",
        { in_reply_to: effect.inReplyTo, decision: effect.decision ?? null, topic: effect.topic },
        effect.peer,
      );
    case "voteReceived":
      return _event(
        "cip.vote",
        {
          claim: effect.claim,
          type: effect.vote,
          counted: effect.counted,
          ...(effect.why === undefined ? {} : { why: effect.why }),
        },
        effect.peer,
      );
    case "decisionShared":
      return _event(
        "cip.decision",
        { decision_id: effect.decisionId, choice: effect.choice },
        effect.peer,
      );
    // ---- HCP ----
    case "consentChanged":
      return _event(
        "hcp.consent_changed",
        { msg_id: effect.msgId, from: effect.from, to: effect.to },
        effect.person,
        effect.to === "revoked" ? "warn" : "info",
      );
    case "checkInOpened":
      return _event(
        "hcp.check_in_opened",
        { msg_id: effect.msgId, affect: effect.affect },
        effect.person,
      );
    case "checkInAnswered":
      return _event(
        "hcp.check_in_answered",
        { msg_id: effect.msgId, goOn: effect.goOn },
        effect.person,
      );
    case "pacingChanged":
      return effect.paced
        ? _event("hcp.pacing_started", { msg_id: effect.msgId }, effect.person)
        : _event("hcp.pacing_ended", { msg_id: effect.msgId }, effect.person);
    case "intentPaced":
      return _event(
        "hcp.paced",
        {
          msg_id: effect.msgId,
          topic: effect.topic,
          verdict: "paced",
          retry_after_ms: effect.retryAfterMs,
        },
        effect.person,
      );
    case "checkInRequired":
      return _event(
        "hcp.check_in_required",
        { msg_id: effect.msgId, topic: effect.topic, verdict: "check_in" },
        effect.person,
      );
    // ---- refusals by rule ----
    case "refused":
      if (effect.protocol === "lip") {
        return _event(
          "lip.refused",
          { msg_id: effect.msgId, code: effect.code, reason: effect.reason },
          effect.peer,
          "warn",
        );
      }
      return _event(
        "hcp.refused",
        effect.topic === undefined
          ? {
            msg_id: effect.msgId,
            ...(effect.messageType === undefined ? {} : { type: effect.messageType }),
            code: effect.code,
          }
          : { msg_id: effect.msgId, topic: effect.topic, verdict: "refused", code: effect.code },
        effect.peer,
        "warn",
      );
    // ---- LIP ----
    case "fetched":
      return _event(
        "lip.fetched",
        { request: effect.requestId, uri: effect.uri, sha256: effect.sha256 },
        effect.requester,
      );
    case "fetchFailed":
      return _event(
        "lip.fetch_failed",
        { request: effect.requestId, code: effect.code, reason: effect.reason },
        effect.requester,
        "warn",
      );
    default: {
      const unknown: never = effect;
      throw new TypeError(`Unknown effect ${JSON.stringify(unknown)}`);
    }
  }
}
