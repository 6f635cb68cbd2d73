/**
 * Signed envelopes for CIP/1.0, HCP/1.0 and LIP/1.0: RFC 8785 canonical
 * JSON, Ed25519 signatures over it, zod schemas for every message type,
 * verification in a fixed order with one error class per step, and a
 * bounded replay guard.
 *
 * @example Create, send, verify
 * ```ts
 * import { createEnvelope, encodeEnvelope, ReplayGuard, verifyEnvelope } from "@web4/runtime/envelope";
 * import { Identity } from "@web4/runtime";
 * import assert from "node:assert/strict";
 *
 * const alice = await Identity.generate({ agentId: "alice" });
 * const bob = await Identity.generate({ agentId: "bob" });
 * const env = await createEnvelope("hcp", "HCP_FEEDBACK", {
 *   identity: alice,
 *   receiver: { agent_id: "bob", fingerprint: bob.fingerprint },
 *   state: {
 *     human: {
 *       presence: "focused",
 *       affect: "calm",
 *       clarity: 80,
 *       pressure: 20,
 *       intent: "review",
 *       consent: "granted",
 *     },
 *   },
 *   payload: { feedback: "Looks right", corrections: [], satisfaction: 90 },
 * });
 * const wire = encodeEnvelope(env);
 * const guard = new ReplayGuard();
 * const got = await verifyEnvelope(wire, { replayGuard: guard, expectedSender: alice.fingerprint });
 * assert.equal(got.type, "HCP_FEEDBACK");
 * await assert.rejects(verifyEnvelope(wire, { replayGuard: guard }), { code: "REPLAY" });
 * ```
 *
 * @module
 */

export { canonicalize } from "./canonical.ts";
export {
  createEnvelope,
  type CreateEnvelopeOptions,
  encodeEnvelope,
  envelopeSigningBytes,
  signEnvelope,
} from "./sign.ts";
export { DEFAULT_MAX_ENVELOPE_BYTES, validatePayload } from "./validate.ts";
export { SCHEMA_LIMITS, type SchemaLimits, truncateText } from "./limits.ts";
export {
  DEFAULT_MAX_SKEW_MS,
  type ExpectedParty,
  replayEntryOf,
  verifyEnvelope,
  type VerifyEnvelopeOptions,
} from "./verify.ts";
export {
  EnvelopeError,
  type EnvelopeErrorCode,
  FingerprintMismatchError,
  InvalidEnvelopeError,
  PayloadSchemaError,
  ReplayError,
  SignatureMismatchError,
  TimestampError,
  TrustViolationError,
} from "./errors.ts";
export {
  type ReplayEntry,
  ReplayGuard,
  type ReplayGuardOptions,
  type ReplayVerdict,
} from "./replay_guard.ts";
export { envelopeJsonSchema, messageTypes } from "./public_schemas.ts";
export type {
  EnvelopeHeader,
  EnvelopeReceiver,
  EnvelopeSender,
  EnvelopeSignature,
  ErrorPayload,
  FreeForm,
  JsonObject,
  JsonValue,
  Presence,
  Priority,
  Protocol,
} from "./common.ts";
export type {
  CipEnvelope,
  CipPayloads,
  CipState,
  CipTrust,
  CipType,
  DecisionSharePayload,
  DmpTrace,
  Fact,
  FactChallengePayload,
  FactConfirmPayload,
  FactProposePayload,
  FactRejectPayload,
  HelloPayload,
  IntentPayload,
  PeerTrust,
  StateUpdatePayload,
  VerifyPayload,
} from "./cip.ts";
export type {
  Affect,
  Consent,
  HcpContextPayload,
  HcpDecisionPayload,
  HcpEnvelope,
  HcpFeedbackPayload,
  HcpHelloPayload,
  HcpIntentPayload,
  HcpPayloads,
  HcpState,
  HcpStateUpdatePayload,
  HcpType,
  HumanState,
} from "./hcp.ts";
export type {
  LipAcceptPayload,
  LipConflictPayload,
  LipEnvelope,
  LipEvidencePayload,
  LipFetchPayload,
  LipPayloads,
  LipRejectPayload,
  LipSource,
  LipType,
  SourceTrustTier,
} from "./lip.ts";
export {
  type Envelope,
  type EnvelopeOf,
  type ErrorType,
  errorTypeOf,
  type ErrorTypes,
  isErrorType,
  type MessageType,
  type PayloadOf,
  type ProtocolPayloads,
  type UnsignedEnvelope,
} from "./protocols.ts";
