/**
 * HCP/1.0 (human <-> agent, docs/protocols.md §3): the envelope's types and
 * zod schemas together, for every message type including the refusal
 * `HCP_ERROR`.
 *
 * @module
 */

import { z } from "zod";
import * as C from "./common.ts";
import type { EnvelopeHeader, ErrorPayload, FreeForm, Presence, Priority } from "./common.ts";
import { label, text } from "./formats.ts";
import { SCHEMA_LIMITS } from "./limits.ts";

// ---- types ----------------------------------------------------------------

/** A human's affect (HCP). */
export type Affect = "calm" | "tense" | "anxious" | "energized" | "neutral";
/** A human's consent (HCP). */
export type Consent = "granted" | "limited" | "revoked";
/** The human-state vector (`state.human` in HCP). */
export interface HumanState {
  /** The human's presence. */
  presence: Presence;
  /** The human's affect. */
  affect: Affect;
  /** Clarity, 0..100. */
  clarity: number;
  /** Pressure, 0..100. */
  pressure: number;
  /** What the human is trying to do. */
  intent: string;
  /** The human's consent. */
  consent: Consent;
}

/**
 * The HCP envelope's `state` block: the human-state vector, plus the
 * sending agent's own CIP-style state fields, all optional.
 */
export interface HcpState {
  /** The human-state vector. */
  human: HumanState;
  /** The agent's presence. */
  presence?: Presence | undefined;
  /** The agent's load index, an integer 0..100. */
  lri?: number | undefined;
  /** Kernel signals. */
  kernel_signals?: string[] | undefined;
  /** The agent's current intent. */
  intent?: string | undefined;
}

/** HCP `HCP_HELLO` payload. */
export interface HcpHelloPayload {
  /** Who the human is. */
  identity: { name: string; role: string };
  /** What the agent may act on, e.g. `"topic:work"`. */
  consent_scope: string[];
  /** Safety preferences, e.g. `"slow_pacing"`. */
  safety_flags: string[];
}

/** HCP `HCP_INTENT` payload. */
export interface HcpIntentPayload {
  /** What the human wants. */
  goal: "align" | "request" | "clarify" | "decide" | "resolve_conflict";
  /** The subject. */
  topic: string;
  /** Its priority. */
  priority: Priority;
}

/** HCP `HCP_CONTEXT` payload. */
export interface HcpContextPayload {
  /** Free-form context. */
  context: FreeForm;
  /** Constraints. */
  constraints: string[];
  /** Shared history. */
  shared_history: FreeForm[];
}

/** HCP `HCP_DECISION` payload. */
export interface HcpDecisionPayload {
  /** The decision. */
  decision: string;
  /** Why. */
  rationale: string;
  /** The alternatives considered. */
  alternatives: string[];
  /** What happens next. */
  follow_up: string;
}

/** HCP `HCP_FEEDBACK` payload. */
export interface HcpFeedbackPayload {
  /** The feedback. */
  feedback: string;
  /** Corrections. */
  corrections: string[];
  /** Satisfaction, an integer 0..100. */
  satisfaction: number;
}

/** HCP `HCP_STATE_UPDATE` payload. */
export interface HcpStateUpdatePayload {
  /** Presence. */
  presence: Presence;
  /** Affect. */
  affect: Affect;
  /** Clarity, 0..100. */
  clarity: number;
  /** Pressure, 0..100. */
  pressure: number;
  /** Consent. */
  consent: Consent;
}

/** HCP payload type per message type. */
export interface HcpPayloads {
  /** Session opening. */
  HCP_HELLO: HcpHelloPayload;
  /** The human's intent. */
  HCP_INTENT: HcpIntentPayload;
  /** Context. */
  HCP_CONTEXT: HcpContextPayload;
  /** A decision. */
  HCP_DECISION: HcpDecisionPayload;
  /** Feedback. */
  HCP_FEEDBACK: HcpFeedbackPayload;
  /** Human-state update. */
  HCP_STATE_UPDATE: HcpStateUpdatePayload;
  /** A refusal: why a message was refused or failed. */
  HCP_ERROR: ErrorPayload;
}

/** An HCP message type (`"HCP_HELLO"`, ...). */
export type HcpType = keyof HcpPayloads;

/** A signed HCP/1.0 envelope of type `T` (any HCP type by default). */
export type HcpEnvelope<T extends HcpType = HcpType> = T extends HcpType ? EnvelopeHeader & {
    /** Protocol version. */
    hcp: "1.0";
    /** Message type. */
    type: T;
    /** Human state (required). */
    state: HcpState;
    /** Per-type payload. */
    payload: HcpPayloads[T];
  }
  : never;

// ---- schemas --------------------------------------------------------------

const _affect = z.enum(["calm", "tense", "anxious", "energized", "neutral"]);
const _consent = z.enum(["granted", "limited", "revoked"]);
const _humanState = z.strictObject({
  presence: C.presence,
  affect: _affect,
  clarity: C.percent,
  pressure: C.percent,
  intent: text(),
  consent: _consent,
});
const _hcpState = z.strictObject({
  human: _humanState,
  presence: C.presence.optional(),
  lri: C.percentInt.optional(),
  kernel_signals: C.tags.optional(),
  intent: text().optional(),
});

const _hcpHello = z.strictObject({
  identity: z.strictObject({
    name: text(SCHEMA_LIMITS.nameBytes),
    role: text(SCHEMA_LIMITS.nameBytes),
  }),
  consent_scope: C.list(label(), SCHEMA_LIMITS.items.scopes),
  safety_flags: C.tags,
});
const _hcpIntent = z.strictObject({
  goal: z.enum(["align", "request", "clarify", "decide", "resolve_conflict"]),
  topic: label(),
  priority: C.priority,
});
const _texts = C.list(text(), SCHEMA_LIMITS.items.tags);
const _hcpContext = z.strictObject({
  context: C.freeForm,
  constraints: _texts,
  shared_history: C.traceItems,
});
const _hcpDecision = z.strictObject({
  decision: text(),
  rationale: text(),
  alternatives: _texts,
  follow_up: text(),
});
const _hcpFeedback = z.strictObject({
  feedback: text(),
  corrections: _texts,
  satisfaction: C.percentInt,
});
const _hcpStateUpdate = z.strictObject({
  presence: C.presence,
  affect: _affect,
  clarity: C.percent,
  pressure: C.percent,
  consent: _consent,
});

/** The payload schema of every HCP message type, in the spec's order. */
export const HCP_PAYLOADS = {
  HCP_HELLO: _hcpHello,
  HCP_INTENT: _hcpIntent,
  HCP_CONTEXT: _hcpContext,
  HCP_DECISION: _hcpDecision,
  HCP_FEEDBACK: _hcpFeedback,
  HCP_STATE_UPDATE: _hcpStateUpdate,
  HCP_ERROR: C.errorPayload,
} as const;

// Compile-time proof that every schema's output is the documented type.
const _hcpSchemasMatch: C.SchemasMatch<typeof HCP_PAYLOADS, HcpPayloads> = true;
void _hcpSchemasMatch;

/** HCP message types, in the spec's order. */
export const HCP_TYPES = Object.keys(HCP_PAYLOADS) as HcpType[];

const _hcpBase = { hcp: z.literal("1.0"), ...C.header, state: _hcpState };

// Same members as the base, `type` second (zod reports the first failing member).
/** The HCP envelope structure: every header field checked, the payload only an object. */
export const HCP_STRUCTURE = z.strictObject({
  hcp: _hcpBase.hcp,
  type: z.enum(HCP_TYPES),
  ...C.header,
  state: _hcpState,
});

/** The complete HCP message schema (for the JSON Schema export). */
export const HCP_MESSAGE: z.ZodType = C.messageSchema(
  "hcp",
  z.strictObject(_hcpBase),
  HCP_PAYLOADS,
);
