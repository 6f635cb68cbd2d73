/**
 * Signed envelopes for CIP/1.0, HCP/1.0 and LIP/1.0: RFC 8785 canonical
 * JSON, Ed25519 signatures over it, zod schemas for every message type,
 * verification in a fixed order with one error class per step, and a
 * bounded replay guard.
 *
 * @example Create, send, verify
 * ```ts
 * import { createEnvelope, encodeEnvelope, ReplayGuard, verifyEnvelope } from "./mod.ts";
 * import { Identity } from "../identity/mod.ts";
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
  DEFAULT_MAX_ENVELOPE_BYTES,
  DEFAULT_MAX_SKEW_MS,
  encodeEnvelope,
  envelopeSigningBytes,
  type ExpectedParty,
  replayEntryOf,
  signEnvelope,
  validatePayload,
  verifyEnvelope,
  type VerifyEnvelopeOptions,
} from "./envelope.ts";
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
  Affect,
  CipEnvelope,
  CipPayloads,
  CipState,
  CipTrust,
  CipType,
  Consent,
  DecisionSharePayload,
  DmpTrace,
  Envelope,
  EnvelopeHeader,
  EnvelopeOf,
  EnvelopeReceiver,
  EnvelopeSender,
  EnvelopeSignature,
  Fact,
  FactChallengePayload,
  FactConfirmPayload,
  FactProposePayload,
  FactRejectPayload,
  FreeForm,
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
  HelloPayload,
  HumanState,
  IntentPayload,
  JsonObject,
  JsonValue,
  LipAcceptPayload,
  LipConflictPayload,
  LipEnvelope,
  LipEvidencePayload,
  LipFetchPayload,
  LipPayloads,
  LipRejectPayload,
  LipSource,
  LipType,
  MessageType,
  PayloadOf,
  PeerTrust,
  Presence,
  Priority,
  Protocol,
  ProtocolPayloads,
  SourceTrustTier,
  StateUpdatePayload,
  UnsignedEnvelope,
  VerifyPayload,
} from "./types.ts";
