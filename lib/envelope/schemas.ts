/**
 * zod 4 schemas of the three envelopes and of every payload, with the exact
 * wire names, enums and ranges of PROTOCOLS.md §2-4. Objects are strict:
 * unknown keys are rejected everywhere except inside the documented
 * free-form fields (`context`, trace steps, evidence, claims, conflicts).
 *
 * @module
 */

import { z } from "zod";
import {
  agentId,
  base64Bytes,
  fingerprint,
  msgId,
  text,
  timestamp,
  UUID_PATTERN,
} from "./formats.ts";
import type * as T from "./types.ts";

// ---- shared pieces -------------------------------------------------------

const _jsonObject = z.record(z.string(), z.json());
const _freeForm = z.union([text(), _jsonObject]);
const _strings = z.array(text());
const _presence = z.enum(["focused", "diffuse", "overloaded", "engaged"]);
const _peerTrust = z.enum(["untrusted", "probing", "trusted", "blacklisted"]);
const _affect = z.enum(["calm", "tense", "anxious", "energized", "neutral"]);
const _consent = z.enum(["granted", "limited", "revoked"]);
const _priority = z.enum(["low", "normal", "high"]);
const _percent = z.number().min(0).max(100);
const _percentInt = z.int().min(0).max(100);
const _unit = z.number().min(0).max(1);
const _signatureB64 = base64Bytes(64);
const _nonceB64 = base64Bytes(16);

const _sender = z.strictObject({
  agent_id: agentId(),
  fingerprint: fingerprint(),
  capabilities: _strings,
  pubkey: base64Bytes(32),
});
const _receiver = z.strictObject({ agent_id: agentId(), fingerprint: fingerprint() });
const _sign = z.strictObject({ algo: z.literal("ed25519"), signature: _signatureB64 });
const _cipTrust = z.strictObject({
  sender_view: _peerTrust,
  receiver_view: z.enum(["unknown", "untrusted", "probing", "trusted", "blacklisted"]),
});
const _cipState = z.strictObject({
  presence: _presence,
  lri: _percentInt,
  kernel_signals: _strings.optional(),
  intent: text().optional(),
});
const _humanState = z.strictObject({
  presence: _presence,
  affect: _affect,
  clarity: _percent,
  pressure: _percent,
  intent: text(),
  consent: _consent,
});
const _hcpState = z.strictObject({
  human: _humanState,
  presence: _presence.optional(),
  lri: _percentInt.optional(),
  kernel_signals: _strings.optional(),
  intent: text().optional(),
});
const _lipSource = z.strictObject({
  uri: z.url(),
  trust_tier: z.enum(["unknown", "low", "medium", "high", "blocked"]),
  retrieved_at: timestamp(),
});
const _dmpTrace = z.strictObject({
  decision_id: z.string().regex(UUID_PATTERN, { error: "Expected a lowercase UUID" }),
  steps: z.array(_freeForm).min(1),
  counterfactuals: z.array(_freeForm).optional(),
  evidence: z.array(_freeForm),
});

// ---- CIP payloads --------------------------------------------------------

const _hello = z.strictObject({
  protocols: _strings.min(1),
  capabilities: _strings,
  session_nonce: _nonceB64,
  challenge: base64Bytes(32),
  features: z.strictObject({ supports_mesh: z.boolean(), supports_multiplex: z.boolean() }),
  challenge_response: _signatureB64.optional(),
  in_reply_to: msgId().optional(),
}).refine((p) => (p.challenge_response === undefined) === (p.in_reply_to === undefined), {
  error: "An answering HELLO carries both challenge_response and in_reply_to; a first one neither",
  path: ["in_reply_to"],
});

const _verify = z.strictObject({
  challenge_response: _signatureB64,
  in_reply_to: msgId(),
  session_nonces: z.tuple([_nonceB64, _nonceB64]),
});

const _intent = z.strictObject({
  goal: z.enum(["verify_knowledge", "ask", "learn", "propose_solution", "test_hypothesis"]),
  topic: text(),
  priority: _priority,
  context: _freeForm.optional(),
  in_reply_to: msgId().optional(),
  decision: z.enum(["accept", "defer"]).optional(),
}).refine((p) => (p.in_reply_to === undefined) === (p.decision === undefined), {
  error: "A reply INTENT carries both in_reply_to and decision; a first one neither",
  path: ["decision"],
});

const _factPropose = z.strictObject({
  fact: z.strictObject({
    statement: text(),
    domain: text(),
    confidence: _unit,
    sources: _strings,
    context: _freeForm.optional(),
  }),
  dmp_trace: _dmpTrace,
  causal_links: z.array(_freeForm).optional(),
});

const _factChallenge = z.strictObject({
  fact_ref: msgId(),
  reason: z.enum(["conflict", "insufficient_evidence", "cannot_verify"]),
  notes: text().optional(),
});

const _factConfirm = z.strictObject({
  fact_ref: msgId(),
  decision: z.literal("confirm"),
  confidence: _unit,
  notes: text().optional(),
});

const _factReject = z.strictObject({
  fact_ref: msgId(),
  decision: z.literal("reject"),
  confidence: _unit,
  notes: text().optional(),
});

const _decisionShare = z.strictObject({
  decision: z.strictObject({ choice: text(), outcome: text(), context: _freeForm.optional() }),
  dmp_trace: _dmpTrace,
  retrospective: text().optional(),
});

const _stateUpdate = z.strictObject({
  presence: _presence,
  lri: _percentInt,
  ltppeerstate: _peerTrust,
  kernel_signals: _strings.optional(),
  intent: text().optional(),
});

// ---- HCP payloads --------------------------------------------------------

const _hcpHello = z.strictObject({
  identity: z.strictObject({ name: text(), role: text() }),
  consent_scope: _strings,
  safety_flags: _strings,
});
const _hcpIntent = z.strictObject({
  goal: z.enum(["align", "request", "clarify", "decide", "resolve_conflict"]),
  topic: text(),
  priority: _priority,
});
const _hcpContext = z.strictObject({
  context: _freeForm,
  constraints: _strings,
  shared_history: z.array(_freeForm),
});
const _hcpDecision = z.strictObject({
  decision: text(),
  rationale: text(),
  alternatives: _strings,
  follow_up: text(),
});
const _hcpFeedback = z.strictObject({
  feedback: text(),
  corrections: _strings,
  satisfaction: _percentInt,
});
const _hcpStateUpdate = z.strictObject({
  presence: _presence,
  affect: _affect,
  clarity: _percent,
  pressure: _percent,
  consent: _consent,
});

// ---- LIP payloads --------------------------------------------------------

const _lipFetch = z.strictObject({ query: text(), constraints: _strings });
const _lipEvidence = z.strictObject({
  claims: z.array(_freeForm),
  evidence: z.array(_freeForm),
  confidence: _unit,
  extraction_notes: text(),
});
const _lipConflict = z.strictObject({
  conflicts: z.array(_freeForm),
  local_refs: _strings,
  severity: z.enum(["low", "medium", "high"]),
});
const _lipAccept = z.strictObject({
  decision: z.literal("accept"),
  reason: text(),
  corroborators: z.array(agentId()),
});
const _lipReject = z.strictObject({
  decision: z.literal("reject"),
  reason: text(),
  corroborators: z.array(agentId()),
});

// ---- payload tables ------------------------------------------------------

/** The payload schema of every CIP message type. */
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
} as const;

/** The payload schema of every HCP message type. */
export const HCP_PAYLOADS = {
  HCP_HELLO: _hcpHello,
  HCP_INTENT: _hcpIntent,
  HCP_CONTEXT: _hcpContext,
  HCP_DECISION: _hcpDecision,
  HCP_FEEDBACK: _hcpFeedback,
  HCP_STATE_UPDATE: _hcpStateUpdate,
} as const;

/** The payload schema of every LIP message type. */
export const LIP_PAYLOADS = {
  LIP_FETCH: _lipFetch,
  LIP_EVIDENCE: _lipEvidence,
  LIP_CONFLICT: _lipConflict,
  LIP_ACCEPT: _lipAccept,
  LIP_REJECT: _lipReject,
} as const;

/** Payload schemas by protocol and type. */
export const PAYLOADS = { cip: CIP_PAYLOADS, hcp: HCP_PAYLOADS, lip: LIP_PAYLOADS } as const;

// Compile-time proof that every schema's output is the documented type.
type _Is<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type _Check<P extends T.Protocol> = {
  [K in T.MessageType<P>]: _Is<
    z.output<(typeof PAYLOADS)[P][K & keyof (typeof PAYLOADS)[P]]>,
    T.PayloadOf<P, K>
  >;
};
type _AllTrue<R> = R[keyof R] extends true ? true : false;
const _payloadTypesMatch: [
  _AllTrue<_Check<"cip">>,
  _AllTrue<_Check<"hcp">>,
  _AllTrue<_Check<"lip">>,
  keyof typeof CIP_PAYLOADS extends T.CipType ? true : false,
  T.CipType extends keyof typeof CIP_PAYLOADS ? true : false,
  T.HcpType extends keyof typeof HCP_PAYLOADS ? true : false,
  T.LipType extends keyof typeof LIP_PAYLOADS ? true : false,
] = [true, true, true, true, true, true, true];
void _payloadTypesMatch;

// ---- envelopes -----------------------------------------------------------

/** Message types per protocol, in the spec's order. */
export const MESSAGE_TYPES = {
  cip: Object.keys(CIP_PAYLOADS) as T.CipType[],
  hcp: Object.keys(HCP_PAYLOADS) as T.HcpType[],
  lip: Object.keys(LIP_PAYLOADS) as T.LipType[],
} as const;

const _header = {
  msg_id: msgId(),
  timestamp: timestamp(),
  sender: _sender,
  receiver: _receiver,
  payload: z.record(z.string(), z.unknown()),
  sign: _sign,
};

/**
 * Envelope structure schemas: every header field checked, the payload only
 * required to be an object (its per-type check is a separate step).
 */
export const ENVELOPE_STRUCTURE = {
  cip: z.strictObject({
    cip: z.literal("1.0"),
    type: z.enum(MESSAGE_TYPES.cip),
    ..._header,
    trust: _cipTrust.optional(),
    state: _cipState.optional(),
  }),
  hcp: z.strictObject({
    hcp: z.literal("1.0"),
    type: z.enum(MESSAGE_TYPES.hcp),
    ..._header,
    state: _hcpState,
  }),
  lip: z.strictObject({
    lip: z.literal("1.0"),
    type: z.enum(MESSAGE_TYPES.lip),
    ..._header,
    source: _lipSource.optional(),
  }).refine((e) => e.type === "LIP_FETCH" || e.source !== undefined, {
    error: "A LIP envelope other than LIP_FETCH needs a source block",
    path: ["source"],
  }),
} as const;

/** The parts of each envelope the builder fills from its options. */
export const ENVELOPE_PARTS = {
  sender: _sender,
  receiver: _receiver,
  cipTrust: _cipTrust,
  cipState: _cipState,
  hcpState: _hcpState,
  lipSource: _lipSource,
} as const;

function _message<P extends T.Protocol>(
  protocol: P,
  base: z.ZodObject,
  payloads: Record<string, z.ZodType>,
  source?: "required" | "optional",
): z.ZodType {
  const members = Object.entries(payloads).map(([type, payload]) => {
    const extra: Record<string, z.ZodType> = { type: z.literal(type), payload };
    if (source !== undefined) {
      extra.source = type === "LIP_FETCH" ? _lipSource.optional() : _lipSource;
    }
    return base.extend(extra);
  });
  return z.discriminatedUnion("type", members as [z.ZodObject, ...z.ZodObject[]]).meta({
    title: `${protocol.toUpperCase()}/1.0 envelope`,
  });
}

/**
 * Complete message schemas (envelope plus the payload matching `type`), one
 * per protocol; these are the schemas exported to `docs/schemas/`.
 */
export const MESSAGE_SCHEMAS: Record<T.Protocol, z.ZodType> = {
  cip: _message(
    "cip",
    z.strictObject({
      cip: z.literal("1.0"),
      ..._header,
      trust: _cipTrust.optional(),
      state: _cipState.optional(),
    }),
    CIP_PAYLOADS,
  ),
  hcp: _message(
    "hcp",
    z.strictObject({ hcp: z.literal("1.0"), ..._header, state: _hcpState }),
    HCP_PAYLOADS,
  ),
  lip: _message(
    "lip",
    z.strictObject({ lip: z.literal("1.0"), ..._header }),
    LIP_PAYLOADS,
    "required",
  ),
};
