/**
 * HCP/1.0, the Human Connection Protocol: the agent's side of its relation
 * with its one enrolled person. {@linkcode HcpRuntime} handles the person's
 * envelopes on the runtime contract (consent and social-trust gating,
 * pacing, check-ins, decisions); {@linkcode HcpRuntime.mayAct} is the gate
 * the agent asks before any automated action; the rules underneath
 * (consent scopes, the human-state vector, the gate) are pure functions.
 *
 * @example The gate the agent asks before acting
 * ```ts
 * import { gateAction, initialPersonState, applyHumanVector } from "@web4/runtime/hcp";
 * import assert from "node:assert/strict";
 *
 * const { state } = applyHumanVector(initialPersonState("ab".repeat(32), 0), {
 *   presence: "focused", affect: "calm", clarity: 80, pressure: 90, intent: "ship", consent: "granted",
 * }, "m1", 0);
 * const v = gateAction(state, "trusted", "topic:work", 1_000, { pacingDelayMs: 5_000 });
 * assert.equal(v.verdict, "paced");
 * assert.equal(v.verdict === "paced" && v.retryAfterMs, 4_000);
 * ```
 *
 * @module
 */

export {
  actionTopic,
  checkConsentCarried,
  checkConsentScope,
  CONSENT_TYPES,
  inConsentScope,
  parseScopeEntry,
  type ScopeEntry,
} from "./consent.ts";
export {
  CONSENT_RECORD_KEY,
  type ConsentRecord,
  consentRecordContext,
  consentRecordOf,
  describeConsent,
  readConsentRecord,
} from "./record.ts";
export {
  HcpConsentError,
  HcpConsentMismatchError,
  HcpDecisionError,
  HcpError,
  type HcpErrorCode,
  type HcpErrorOptions,
  HcpPersonError,
  HcpSocialTrustError,
} from "./errors.ts";
export {
  type ActionVerdict,
  DEFAULT_PACING_DELAY_MS,
  gateAction,
  type GateOptions,
} from "./gate.ts";
export {
  answerCheckIn,
  applyHello,
  applyHumanVector,
  CHECK_IN_GO_ON,
  type CheckIn,
  type CheckInAffect,
  initialPersonState,
  markCheckInAsked,
  NEUTRAL_HUMAN_STATE,
  PACING_CLARITY,
  PACING_PRESSURE,
  pacingApplies,
  type PersonNote,
  personRecordOf,
  type PersonState,
  personStateOf,
  type PersonUpdate,
  recordAction,
  SLOW_PACING_FLAG,
} from "./human_state.ts";
export {
  type ActionDecision,
  CHECK_IN_TOPIC,
  checkInQuestion,
  HcpRuntime,
  type HcpRuntimeOptions,
  MISUNDERSTANDING_SATISFACTION,
  VALIDATION_SATISFACTION,
} from "./runtime.ts";
