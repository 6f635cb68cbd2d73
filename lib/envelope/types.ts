/**
 * TypeScript types of the CIP/1.0, HCP/1.0 and LIP/1.0 envelopes and of the
 * payload of every message type, with the spec's wire names
 * (PROTOCOLS.md §2-4). The zod schemas in `schemas.ts` are checked against
 * these types at compile time.
 *
 * @module
 */

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };
/**
 * A free-form field (`context`, trace steps, evidence, claims): a non-empty
 * string or a JSON object. These are the payloads' documented extension
 * points; everything else in a payload is closed.
 */
export type FreeForm = string | JsonObject;

/** The three envelope protocols. */
export type Protocol = "cip" | "hcp" | "lip";
/** Trust one CIP peer holds in another (the LTP-Peer states). */
export type PeerTrust = "untrusted" | "probing" | "trusted" | "blacklisted";
/** An agent's or human's presence. */
export type Presence = "focused" | "diffuse" | "overloaded" | "engaged";
/** A human's affect (HCP). */
export type Affect = "calm" | "tense" | "anxious" | "energized" | "neutral";
/** A human's consent (HCP). */
export type Consent = "granted" | "limited" | "revoked";
/** How far an internet source is trusted (LIP). */
export type SourceTrustTier = "unknown" | "low" | "medium" | "high" | "blocked";
/** Priority of an intent. */
export type Priority = "low" | "normal" | "high";

/** The envelope's `sender` block. */
export interface EnvelopeSender {
  /** The sender's human-readable name, 1-128 characters. */
  agent_id: string;
  /** Lowercase hex SHA-256 of the raw public key. */
  fingerprint: string;
  /** What the sender can do, e.g. `"state_exchange"` (may be empty). */
  capabilities: string[];
  /** Standard base64 of the raw 32-byte Ed25519 public key. */
  pubkey: string;
}

/** The envelope's `receiver` block. */
export interface EnvelopeReceiver {
  /** The receiver's human-readable name, 1-128 characters. */
  agent_id: string;
  /** The receiver's fingerprint. */
  fingerprint: string;
}

/** The envelope's `sign` block. */
export interface EnvelopeSignature {
  /** Always `"ed25519"`. */
  algo: "ed25519";
  /** Standard base64 of the 64-byte signature. */
  signature: string;
}

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

/** The LIP envelope's `source` block. */
export interface LipSource {
  /** Where the content came from. */
  uri: string;
  /** How far the source is trusted. */
  trust_tier: SourceTrustTier;
  /** When it was retrieved (RFC 3339 UTC). */
  retrieved_at: string;
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

/** LIP `LIP_FETCH` payload. */
export interface LipFetchPayload {
  /** What to look for. */
  query: string;
  /** Constraints, e.g. `"no_personal_data"`. */
  constraints: string[];
}

/** LIP `LIP_EVIDENCE` payload. */
export interface LipEvidencePayload {
  /** The claims extracted. */
  claims: FreeForm[];
  /** The evidence for them. */
  evidence: FreeForm[];
  /** Confidence, 0..1. */
  confidence: number;
  /** How they were extracted. */
  extraction_notes: string;
}

/** LIP `LIP_CONFLICT` payload. */
export interface LipConflictPayload {
  /** The conflicts found. */
  conflicts: FreeForm[];
  /** Local knowledge they conflict with. */
  local_refs: string[];
  /** How severe. */
  severity: "low" | "medium" | "high";
}

/** LIP `LIP_ACCEPT` payload. */
export interface LipAcceptPayload {
  /** Always `"accept"`. */
  decision: "accept";
  /** Why. */
  reason: string;
  /** Agent ids of the peers who corroborated. */
  corroborators: string[];
}

/** LIP `LIP_REJECT` payload. */
export interface LipRejectPayload {
  /** Always `"reject"`. */
  decision: "reject";
  /** Why. */
  reason: string;
  /** Agent ids of the peers who corroborated. */
  corroborators: string[];
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
}

/** LIP payload type per message type. */
export interface LipPayloads {
  /** A fetch request. */
  LIP_FETCH: LipFetchPayload;
  /** Evidence found. */
  LIP_EVIDENCE: LipEvidencePayload;
  /** A conflict. */
  LIP_CONFLICT: LipConflictPayload;
  /** Acceptance. */
  LIP_ACCEPT: LipAcceptPayload;
  /** Rejection. */
  LIP_REJECT: LipRejectPayload;
}

/** Payload maps of the three protocols. */
export interface ProtocolPayloads {
  /** CIP/1.0. */
  cip: CipPayloads;
  /** HCP/1.0. */
  hcp: HcpPayloads;
  /** LIP/1.0. */
  lip: LipPayloads;
}

/** A CIP message type (`"HELLO"`, ...). */
export type CipType = keyof CipPayloads;
/** An HCP message type (`"HCP_HELLO"`, ...). */
export type HcpType = keyof HcpPayloads;
/** A LIP message type (`"LIP_FETCH"`, ...). */
export type LipType = keyof LipPayloads;
/** The message types of protocol `P`. */
export type MessageType<P extends Protocol> = keyof ProtocolPayloads[P] & string;
/** The payload type of message type `T` of protocol `P`. */
export type PayloadOf<P extends Protocol, T extends MessageType<P>> = ProtocolPayloads[P][T];

/** Fields every envelope has. */
export interface EnvelopeHeader {
  /** UUID v4, unique per message. */
  msg_id: string;
  /** RFC 3339 UTC time of creation. */
  timestamp: string;
  /** Who sent it. */
  sender: EnvelopeSender;
  /** Who it is for. */
  receiver: EnvelopeReceiver;
  /** The signature over the rest. */
  sign: EnvelopeSignature;
}

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

/** A signed LIP/1.0 envelope of type `T` (any LIP type by default). */
export type LipEnvelope<T extends LipType = LipType> = T extends LipType ? EnvelopeHeader & {
    /** Protocol version. */
    lip: "1.0";
    /** Message type. */
    type: T;
    /** The source (optional on `LIP_FETCH` only). */
    source?: LipSource | undefined;
    /** Per-type payload. */
    payload: LipPayloads[T];
  }
  : never;

/** The envelope type of message type `T` of protocol `P`. */
export type EnvelopeOf<P extends Protocol, T extends MessageType<P> = MessageType<P>> = P extends
  "cip" ? CipEnvelope<T & CipType>
  : P extends "hcp" ? HcpEnvelope<T & HcpType>
  : P extends "lip" ? LipEnvelope<T & LipType>
  : never;

/** Any signed envelope of any protocol. */
export type Envelope = CipEnvelope | HcpEnvelope | LipEnvelope;

/** An envelope whose `sign` block may be missing (the input of signing). */
export type UnsignedEnvelope<E extends Envelope = Envelope> = E extends Envelope
  ? Omit<E, "sign"> & { sign?: EnvelopeSignature | undefined }
  : never;
