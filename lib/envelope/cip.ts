/**
 * CIP/1.0 (agent <-> agent, docs/protocols.md §2): the envelope's types and
 * zod schemas together, for every message type including the refusal
 * `ERROR`.
 *
 * @module
 */

import { z } from "zod";
import * as C from "./common.ts";
import type { EnvelopeHeader, ErrorPayload, FreeForm, Presence, Priority } from "./common.ts";
import { base64Bytes, label, msgId, text, uuid } from "./formats.ts";
import { SCHEMA_LIMITS } from "./limits.ts";

const _ITEMS = SCHEMA_LIMITS.items;

// ---- types ----------------------------------------------------------------

/** Trust one CIP peer holds in another (the LTP-Peer states). */
export type PeerTrust = "untrusted" | "probing" | "trusted" | "blacklisted";
/** The CIP envelope's `trust` block. */
export interface CipTrust {
  /** How the sender sees the receiver. */
  sender_view: PeerTrust;
  /** How the sender believes the receiver sees it. */
  receiver_view: PeerTrust | "unknown";
}

/** The CIP envelope's `state` block. */
export interface CipState {
  /** The sender's presence. */
  presence: Presence;
  /** Load index, an integer 0..100. */
  lri: number;
  /** Kernel signals. */
  kernel_signals?: string[] | undefined;
  /** Current intent. */
  intent?: string | undefined;
}

/** CIP `HELLO` payload. */
export interface HelloPayload {
  /** Offered protocol versions, e.g. `["cip/1.0"]`. */
  protocols: string[];
  /** Offered capabilities, e.g. `"state_exchange"`. */
  capabilities: string[];
  /** Base64 of 16 random bytes. */
  session_nonce: string;
  /** Base64 of 32 random bytes for the peer to sign. */
  challenge: string;
  /** Transport features. */
  features: { supports_mesh: boolean; supports_multiplex: boolean };
  /** Answering HELLO only: base64 signature over the caller's challenge. */
  challenge_response?: string | undefined;
  /** Answering HELLO only: the caller's HELLO `msg_id`. */
  in_reply_to?: string | undefined;
}

/** CIP `VERIFY` payload. */
export interface VerifyPayload {
  /** The caller's signature over the answerer's challenge (base64). */
  challenge_response: string;
  /** The answering HELLO's `msg_id`. */
  in_reply_to: string;
  /** `[caller's nonce, answerer's nonce]`. */
  session_nonces: [string, string];
}

/** CIP `INTENT` payload. */
export interface IntentPayload {
  /** What the sender wants. */
  goal: "verify_knowledge" | "ask" | "learn" | "propose_solution" | "test_hypothesis";
  /** The subject. */
  topic: string;
  /** Its priority. */
  priority: Priority;
  /** Free-form context. */
  context?: FreeForm | undefined;
  /** In a reply: the INTENT answered. */
  in_reply_to?: string | undefined;
  /** In a reply: accept or defer. */
  decision?: "accept" | "defer" | undefined;
}

/** A fact as proposed in CIP `FACT_PROPOSE`. */
export interface Fact {
  /** The claim. */
  statement: string;
  /** Its domain. */
  domain: string;
  /** Confidence, 0..1. */
  confidence: number;
  /** Sources backing it (may be empty). */
  sources: string[];
  /** Free-form context. */
  context?: FreeForm | undefined;
}

/** A decision-making-process trace. */
export interface DmpTrace {
  /** A UUID naming the decision. */
  decision_id: string;
  /** The reasoning steps, at least one. */
  steps: FreeForm[];
  /** Alternatives considered. */
  counterfactuals?: FreeForm[] | undefined;
  /** Evidence used (may be empty). */
  evidence: FreeForm[];
}

/** CIP `FACT_PROPOSE` payload. */
export interface FactProposePayload {
  /** The proposed fact. */
  fact: Fact;
  /** How it was reached. */
  dmp_trace: DmpTrace;
  /** Causal links to other knowledge. */
  causal_links?: FreeForm[] | undefined;
}

/** CIP `FACT_CHALLENGE` payload. */
export interface FactChallengePayload {
  /** The `msg_id` of the challenged `FACT_PROPOSE`. */
  fact_ref: string;
  /** Why. */
  reason: "conflict" | "insufficient_evidence" | "cannot_verify";
  /** Notes. */
  notes?: string | undefined;
}

/** CIP `FACT_CONFIRM` payload. */
export interface FactConfirmPayload {
  /** The `msg_id` of the confirmed `FACT_PROPOSE`. */
  fact_ref: string;
  /** Always `"confirm"`. */
  decision: "confirm";
  /** Confidence, 0..1. */
  confidence: number;
  /** Notes. */
  notes?: string | undefined;
}

/** CIP `FACT_REJECT` payload. */
export interface FactRejectPayload {
  /** The `msg_id` of the rejected `FACT_PROPOSE`. */
  fact_ref: string;
  /** Always `"reject"`. */
  decision: "reject";
  /** Confidence, 0..1. */
  confidence: number;
  /** Notes. */
  notes?: string | undefined;
}

/** CIP `DECISION_SHARE` payload. */
export interface DecisionSharePayload {
  /** The decision. */
  decision: { choice: string; outcome: string; context?: FreeForm | undefined };
  /** How it was reached. */
  dmp_trace: DmpTrace;
  /** Looking back. */
  retrospective?: string | undefined;
}

/** CIP `STATE_UPDATE` payload. */
export interface StateUpdatePayload {
  /** The sender's presence. */
  presence: Presence;
  /** Load index, an integer 0..100. */
  lri: number;
  /** The sender's trust state towards the receiver. */
  ltppeerstate: PeerTrust;
  /** Kernel signals. */
  kernel_signals?: string[] | undefined;
  /** Current intent. */
  intent?: string | undefined;
}

/** CIP payload type per message type. */
export interface CipPayloads {
  /** Handshake opening and answer. */
  HELLO: HelloPayload;
  /** Handshake completion. */
  VERIFY: VerifyPayload;
  /** Intent declaration or reply. */
  INTENT: IntentPayload;
  /** Knowledge proposal. */
  FACT_PROPOSE: FactProposePayload;
  /** Knowledge challenge. */
  FACT_CHALLENGE: FactChallengePayload;
  /** Knowledge confirmation. */
  FACT_CONFIRM: FactConfirmPayload;
  /** Knowledge rejection. */
  FACT_REJECT: FactRejectPayload;
  /** Decision sharing. */
  DECISION_SHARE: DecisionSharePayload;
  /** Presence and load. */
  STATE_UPDATE: StateUpdatePayload;
  /** A refusal: why a message was refused or failed. */
  ERROR: ErrorPayload;
}

/** A CIP message type (`"HELLO"`, ...). */
export type CipType = keyof CipPayloads;

/** A signed CIP/1.0 envelope of type `T` (any CIP type by default). */
export type CipEnvelope<T extends CipType = CipType> = T extends CipType ? EnvelopeHeader & {
    /** Protocol version. */
    cip: "1.0";
    /** Message type. */
    type: T;
    /** Trust views. */
    trust?: CipTrust | undefined;
    /** Sender state. */
    state?: CipState | undefined;
    /** Per-type payload. */
    payload: CipPayloads[T];
  }
  : never;

// ---- schemas --------------------------------------------------------------

const _peerTrust = z.enum(["untrusted", "probing", "trusted", "blacklisted"]);
const _cipTrust = z.strictObject({
  sender_view: _peerTrust,
  receiver_view: z.enum(["unknown", "untrusted", "probing", "trusted", "blacklisted"]),
});
const _cipState = z.strictObject({
  presence: C.presence,
  lri: C.percentInt,
  kernel_signals: C.tags.optional(),
  intent: text().optional(),
});
const _dmpTrace = z.strictObject({
  decision_id: uuid(),
  steps: C.traceItems.min(1),
  counterfactuals: C.traceItems.optional(),
  evidence: C.traceItems,
});

const _hello = z.strictObject({
  protocols: C.list(label(), _ITEMS.protocols).min(1),
  capabilities: C.tags,
  session_nonce: C.nonceB64,
  challenge: base64Bytes(32),
  features: z.strictObject({ supports_mesh: z.boolean(), supports_multiplex: z.boolean() }),
  challenge_response: C.signatureB64.optional(),
  in_reply_to: msgId().optional(),
}).refine((p) => (p.challenge_response === undefined) === (p.in_reply_to === undefined), {
  error: "An answering HELLO carries both challenge_response and in_reply_to; a first one neither",
  path: ["in_reply_to"],
});

const _verify = z.strictObject({
  challenge_response: C.signatureB64,
  in_reply_to: msgId(),
  session_nonces: z.tuple([C.nonceB64, C.nonceB64]),
});

const _intent = z.strictObject({
  goal: z.enum(["verify_knowledge", "ask", "learn", "propose_solution", "test_hypothesis"]),
  topic: label(),
  priority: C.priority,
  context: C.freeForm.optional(),
  in_reply_to: msgId().optional(),
  decision: z.enum(["accept", "defer"]).optional(),
}).refine((p) => (p.in_reply_to === undefined) === (p.decision === undefined), {
  error: "A reply INTENT carries both in_reply_to and decision; a first one neither",
  path: ["decision"],
});

const _factPropose = z.strictObject({
  fact: z.strictObject({
    statement: text(),
    domain: label(),
    confidence: C.unit,
    sources: C.list(text(SCHEMA_LIMITS.urlBytes), _ITEMS.tags),
    context: C.freeForm.optional(),
  }),
  dmp_trace: _dmpTrace,
  causal_links: C.traceItems.optional(),
});

const _factChallenge = z.strictObject({
  fact_ref: msgId(),
  reason: z.enum(["conflict", "insufficient_evidence", "cannot_verify"]),
  notes: text().optional(),
});

const _factConfirm = z.strictObject({
  fact_ref: msgId(),
  decision: z.literal("confirm"),
  confidence: C.unit,
  notes: text().optional(),
});

const _factReject = z.strictObject({
  fact_ref: msgId(),
  decision: z.literal("reject"),
  confidence: C.unit,
  notes: text().optional(),
});

const _decisionShare = z.strictObject({
  decision: z.strictObject({ choice: text(), outcome: text(), context: C.freeForm.optional() }),
  dmp_trace: _dmpTrace,
  retrospective: text().optional(),
});

const _stateUpdate = z.strictObject({
  presence: C.presence,
  lri: C.percentInt,
  ltppeerstate: _peerTrust,
  kernel_signals: C.tags.optional(),
  intent: text().optional(),
});

/** The payload schema of every CIP message type, in the spec's order. */
export const CIP_PAYLOADS = {
  HELLO: _hello,
  VERIFY: _verify,
  INTENT: _intent,
  FACT_PROPOSE: _factPropose,
  FACT_CHALLENGE: _factChallenge,
  FACT_CONFIRM: _factConfirm,
  FACT_REJECT: _factReject,
  DECISION_SHARE: _decisionShare,
  STATE_UPDATE: _stateUpdate,
  ERROR: C.errorPayload,
} as const;

// Compile-time proof that every schema's output is the documented type.
const _cipSchemasMatch: C.SchemasMatch<typeof CIP_PAYLOADS, CipPayloads> = true;
void _cipSchemasMatch;

/** CIP message types, in the spec's order. */
export const CIP_TYPES = Object.keys(CIP_PAYLOADS) as CipType[];

const _cipBase = {
  cip: z.literal("1.0"),
  ...C.header,
  trust: _cipTrust.optional(),
  state: _cipState.optional(),
};

// Same members as the base, `type` second (zod reports the first failing member).
/** The CIP envelope structure: every header field checked, the payload only an object. */
export const CIP_STRUCTURE = z.strictObject({
  cip: _cipBase.cip,
  type: z.enum(CIP_TYPES),
  ...C.header,
  trust: _cipTrust.optional(),
  state: _cipState.optional(),
});

/** The complete CIP message schema (for the JSON Schema export). */
export const CIP_MESSAGE: z.ZodType = C.messageSchema(
  "cip",
  z.strictObject(_cipBase),
  CIP_PAYLOADS,
);
