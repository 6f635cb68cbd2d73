/**
 * Typed domain effects: what a runtime decided, as data (design decision
 * 17). A runtime returns its effects in its {@linkcode Outcome}; the router
 * commits the outcome's changes and only then returns the effects in its
 * dispatch result; the agent turns them into typed events; the mesh listens
 * to the agent. Telemetry is one subscriber that renders effects as v1.0
 * events; nothing reads telemetry to decide anything.
 *
 * This file is the one declaration of the effect union. Each variant is
 * discriminated by `type`; switch on it with an exhaustive `switch`.
 *
 * @module
 */

import type {
  FreeForm,
  HcpContextPayload,
  HcpDecisionPayload,
  HcpFeedbackPayload,
  HcpIntentPayload,
  HumanState,
  IntentPayload,
  PeerTrust,
  Presence,
  Priority,
  Protocol,
} from "../envelope/mod.ts";
import type { ClaimStatus, TrustLogEntry } from "../store/mod.ts";

/** What an HCP message hands to the agent loop. */
export type Delivery =
  | {
    /** The person's intent, allowed by consent, trust, check-in and pacing. */
    readonly kind: "intent";
    /** The `HCP_INTENT` `msg_id`. */
    readonly msgId: string;
    /** The person's fingerprint. */
    readonly person: string;
    /** The intent's goal. */
    readonly goal: HcpIntentPayload["goal"];
    /** The action topic, `kind:value` (a bare topic reads as `topic:<topic>`). */
    readonly topic: string;
    /** Its priority. */
    readonly priority: Priority;
  }
  | {
    /** Context from the person. */
    readonly kind: "context";
    /** The `HCP_CONTEXT` `msg_id`. */
    readonly msgId: string;
    /** The person's fingerprint. */
    readonly person: string;
    /** The payload. */
    readonly context: HcpContextPayload;
  }
  | {
    /** A decision of the person (with rationale and alternatives). */
    readonly kind: "decision";
    /** The `HCP_DECISION` `msg_id`. */
    readonly msgId: string;
    /** The person's fingerprint. */
    readonly person: string;
    /** The payload. */
    readonly decision: HcpDecisionPayload;
  }
  | {
    /** Feedback from the person (it may also have answered a check-in). */
    readonly kind: "feedback";
    /** The `HCP_FEEDBACK` `msg_id`. */
    readonly msgId: string;
    /** The person's fingerprint. */
    readonly person: string;
    /** The payload. */
    readonly feedback: HcpFeedbackPayload;
  };

/** A fetch the agent must run on a requester's behalf (a `LIP_FETCH`, or its own). */
export interface FetchRequest {
  /** An absolute http(s) URL, or search terms when the fetcher has a search URL. */
  readonly query: string;
  /** The `LIP_FETCH` constraints. */
  readonly constraints: readonly string[];
  /** The `LIP_FETCH` `msg_id` (`""` for the agent's own fetches). */
  readonly requestId: string;
  /** Fingerprint of who asked (the agent itself for its own fetches). */
  readonly requester: string;
  /** The requester's `agent_id` (the `LIP_EVIDENCE` reply is addressed to it). */
  readonly requesterAgentId: string;
  /**
   * Fingerprint of whom the fetch is attributed and charged to: whoever the
   * URL came from (the requester of a `LIP_FETCH`, the peer whose evidence
   * is re-fetched, this agent for its own). It must be the person, the
   * agent itself or a peer `trusted` at the moment the fetch runs.
   */
  readonly chargedTo: string;
}

/**
 * An effect: one decision of a runtime or the router, as data.
 *
 * The first variants are what the agent acts on (`deliver`, `fetch`,
 * `claimChanged`, `trustChanged`, `handshakeVerified`, `errorReceived`,
 * `intentReceived`, `humanState`); the others report what a runtime
 * recorded or refused, so that telemetry, one subscriber, can render every
 * v1.0 event from effects alone (`renderEffect`, `render.ts`).
 */
export type Effect =
  // ---- what the agent acts on ----
  | {
    /** Something reaches the agent loop from the person (an allowed intent renders `hcp.intent_delivered`). */
    readonly type: "deliver";
    /** What reaches it. */
    readonly delivery: Delivery;
  }
  | {
    /** The agent must run a fetch and answer with evidence or an error (`lip.fetch_requested`). */
    readonly type: "fetch";
    /** The request. */
    readonly request: FetchRequest;
  }
  | {
    /** A claim of the CIP ledger changed status (`cip.claim`). */
    readonly type: "claimChanged";
    /** The CIP claim ledger. */
    readonly origin: "cip";
    /** The claim id (its `FACT_PROPOSE` `msg_id`). */
    readonly claim: string;
    /** Its new status. */
    readonly status: ClaimStatus;
    /** Why, in words. */
    readonly reason: string;
    /** The peer that proposed it. */
    readonly peer?: string | undefined;
  }
  | {
    /** A claim of the LIP queue moved (`lip.claim`). */
    readonly type: "claimChanged";
    /** The LIP deferred-acceptance queue. */
    readonly origin: "lip";
    /** The claim id (its content id). */
    readonly claim: string;
    /** Its new status. */
    readonly status: ClaimStatus;
    /** Why, in words. */
    readonly reason: string;
    /** Who delivered the claim (a peer, the person, or this agent). */
    readonly peer?: string | undefined;
    /** Its status before the move (`null` for a new claim). */
    readonly from: ClaimStatus | null;
    /** The queue event that moved it (`verified`, `refuted`, `expired`, ...). */
    readonly event: string;
    /** The key of its source (see `sourceKey`). */
    readonly source: string;
  }
  | {
    /** A trust machine logged a step (committed; `entry.changed` says whether it moved). */
    readonly type: "trustChanged";
    /** The committed log entry. */
    readonly entry: TrustLogEntry;
  }
  | {
    /** A CIP handshake with `peer` completed and verified (`cip.handshake`, step `verified`). */
    readonly type: "handshakeVerified";
    /** The peer's fingerprint. */
    readonly peer: string;
    /** The peer's trust once the handshake's trust event applied. */
    readonly trust: PeerTrust;
  }
  | {
    /** A peer answered one of our messages with a protocol error (`*.error_received`). */
    readonly type: "errorReceived";
    /** The protocol of the error (`ERROR`, `HCP_ERROR`, `LIP_ERROR`). */
    readonly protocol: Protocol;
    /** Who sent it. */
    readonly peer: string;
    /** The error envelope's `msg_id`. */
    readonly msgId: string;
    /** The `msg_id` of ours it answers. */
    readonly inReplyTo: string;
    /** The error code (`unknown_fact`, `quota`, ...). */
    readonly code: string;
    /** Its reason. */
    readonly reason: string;
    /** When we may try again, if it says. */
    readonly retryAfterMs?: number | undefined;
  }
  | {
    /** A peer's CIP `INTENT` (not an answer) reached us, and how we decided (`cip.intent`). */
    readonly type: "intentReceived";
    /** The peer. */
    readonly peer: string;
    /** The `INTENT` `msg_id`. */
    readonly msgId: string;
    /** Its goal. */
    readonly goal: IntentPayload["goal"];
    /** Its topic. */
    readonly topic: string;
    /** Its priority. */
    readonly priority: Priority;
    /** Its free-form context, if any. */
    readonly context?: FreeForm | undefined;
    /** Our answer (`accept`, or `defer` under overload), when we answered. */
    readonly decision?: IntentPayload["decision"];
  }
  | {
    /** The person's human state as carried by an accepted HCP envelope. */
    readonly type: "humanState";
    /** The person's fingerprint. */
    readonly person: string;
    /** The state. */
    readonly human: HumanState;
  }
  // ---- CIP: what the runtime recorded ----
  | {
    /** A step of a CIP handshake short of verified (`cip.handshake`). */
    readonly type: "handshakeProgress";
    /** The peer. */
    readonly peer: string;
    /**
     * `hello_sent` (we opened), `hello_answered` (we answered its HELLO),
     * `simultaneous_open` (both opened; ours is kept, theirs ignored).
     */
    readonly step: "hello_sent" | "hello_answered" | "simultaneous_open";
  }
  | {
    /** A CIP handshake message was refused (`cip.handshake`, step `failed`). */
    readonly type: "handshakeFailed";
    /** The peer. */
    readonly peer: string;
    /** Why (`unexpected_hello`, `bad_challenge_response`, `nonce_mismatch`, ...). */
    readonly code: string;
    /** The refused message's `msg_id`. */
    readonly msgId: string;
  }
  | {
    /** An envelope failed verification for a reason that sanctions nobody (`cip.verification_failed`). */
    readonly type: "verificationIgnored";
    /** The session's peer. */
    readonly peer: string;
    /** Why it failed. */
    readonly reason: string;
  }
  | {
    /** A message from a blacklisted peer reached the runtime and was dropped (`cip.dropped`). */
    readonly type: "blacklistedDropped";
    /** The peer. */
    readonly peer: string;
    /** Its `msg_id`. */
    readonly msgId: string;
    /** Its message type. */
    readonly messageType: string;
  }
  | {
    /** A peer's presence and load (`STATE_UPDATE`) was recorded (`cip.state_update`). */
    readonly type: "presenceReceived";
    /** The peer. */
    readonly peer: string;
    /** Its presence. */
    readonly presence: Presence;
    /** Its load index, 0..100. */
    readonly lri: number;
    /** How it sees us. */
    readonly peerView: PeerTrust;
  }
  | {
    /** A peer answered one of our intents (`cip.intent_answered`). */
    readonly type: "intentAnswered";
    /** The peer. */
    readonly peer: string;
    /** Our `INTENT` it answers. */
    readonly inReplyTo: string;
    /** Its answer, if it gave one. */
    readonly decision?: IntentPayload["decision"];
    /** The topic. */
    readonly topic: string;
  }
  | {
    /** A peer's vote on a claim was recorded, counted or not (`cip.vote`). */
    readonly type: "voteReceived";
    /** The voter. */
    readonly peer: string;
    /** The claim voted on. */
    readonly claim: string;
    /** `FACT_CONFIRM`, `FACT_REJECT` or `FACT_CHALLENGE`. */
    readonly vote: "FACT_CONFIRM" | "FACT_REJECT" | "FACT_CHALLENGE";
    /** Whether it counts (only a trusted peer's vote on another's claim does). */
    readonly counted: boolean;
    /** Why it does not count, when it is not even recorded (`own_claim`). */
    readonly why?: "own_claim" | undefined;
  }
  | {
    /** A peer's decision and its DMP trace went to decision memory (`cip.decision`). */
    readonly type: "decisionShared";
    /** The peer. */
    readonly peer: string;
    /** The DMP decision id. */
    readonly decisionId: string;
    /** The choice made. */
    readonly choice: string;
  }
  // ---- HCP: the person's state and the gate ----
  | {
    /** The person's consent changed (`hcp.consent_changed`). */
    readonly type: "consentChanged";
    /** The person. */
    readonly person: string;
    /** The envelope that carried it. */
    readonly msgId: string;
    /** Consent before (`null` before the first vector). */
    readonly from: HumanState["consent"] | null;
    /** Consent now. */
    readonly to: HumanState["consent"];
  }
  | {
    /** A check-in opened: the person became anxious or tense (`hcp.check_in_opened`). */
    readonly type: "checkInOpened";
    /** The person. */
    readonly person: string;
    /** The envelope that carried the affect. */
    readonly msgId: string;
    /** The affect. */
    readonly affect: HumanState["affect"];
  }
  | {
    /** The person answered the check-in (`hcp.check_in_answered`). */
    readonly type: "checkInAnswered";
    /** The person. */
    readonly person: string;
    /** The `HCP_FEEDBACK` that answered. */
    readonly msgId: string;
    /** Whether the agent may go on. */
    readonly goOn: boolean;
  }
  | {
    /** Pacing started or ended (`hcp.pacing_started`, `hcp.pacing_ended`). */
    readonly type: "pacingChanged";
    /** The person. */
    readonly person: string;
    /** The envelope that changed it. */
    readonly msgId: string;
    /** Whether pacing applies now. */
    readonly paced: boolean;
  }
  | {
    /** The person's intent waits for the pacing delay (`hcp.paced`). */
    readonly type: "intentPaced";
    /** The person. */
    readonly person: string;
    /** The `HCP_INTENT`. */
    readonly msgId: string;
    /** Its action topic. */
    readonly topic: string;
    /** When it may be sent again. */
    readonly retryAfterMs: number;
  }
  | {
    /** The person's intent waits for a check-in answer (`hcp.check_in_required`). */
    readonly type: "checkInRequired";
    /** The person. */
    readonly person: string;
    /** The `HCP_INTENT`. */
    readonly msgId: string;
    /** Its action topic. */
    readonly topic: string;
  }
  // ---- HCP and LIP: refusals by rule ----
  | {
    /**
     * An HCP or LIP runtime refused a message by one of its rules
     * (`hcp.refused`, `lip.refused`); the router answers it with the
     * protocol's error type.
     */
    readonly type: "refused";
    /** `hcp` or `lip`. */
    readonly protocol: "hcp" | "lip";
    /** Who sent it. */
    readonly peer: string;
    /** Its `msg_id`. */
    readonly msgId: string;
    /** The rule's code. */
    readonly code: string;
    /** Why, in words. */
    readonly reason: string;
    /** Its message type (HCP refusals outside the intent gate). */
    readonly messageType?: string | undefined;
    /** The action topic (an HCP intent the gate refused). */
    readonly topic?: string | undefined;
  }
  // ---- LIP: fetches ----
  | {
    /** A fetch the agent ran was turned into evidence (`lip.fetched`). */
    readonly type: "fetched";
    /** Who asked. */
    readonly requester: string;
    /** The `LIP_FETCH` `msg_id` (`""` for the agent's own). */
    readonly requestId: string;
    /** Where the body came from. */
    readonly uri: string;
    /** SHA-256 of the body, lowercase hex. */
    readonly sha256: string;
  }
  | {
    /** A fetch the agent ran failed (`lip.fetch_failed`). */
    readonly type: "fetchFailed";
    /** Who asked. */
    readonly requester: string;
    /** The `LIP_FETCH` `msg_id` (`""` for the agent's own). */
    readonly requestId: string;
    /** The fetcher's code. */
    readonly code: string;
    /** Why. */
    readonly reason: string;
  };

/** The `type` of an {@linkcode Effect}. */
export type EffectType = Effect["type"];

/** The variant of {@linkcode Effect} whose `type` is `T`. */
export type EffectOf<T extends EffectType> = Extract<Effect, { type: T }>;

/**
 * The effects of one type, in order (a typed filter).
 *
 * @param effects Effects, as returned by the router.
 * @param type The variant wanted.
 * @returns The effects of that variant.
 *
 * @example
 * ```ts
 * import { effectsOf, type Effect } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const effects: Effect[] = [
 *   { type: "handshakeVerified", peer: "ab", trust: "probing" },
 *   { type: "claimChanged", origin: "cip", claim: "m1", status: "accepted", reason: "two confirmations" },
 * ];
 * assert.deepEqual(effectsOf(effects, "handshakeVerified").map((e) => e.peer), ["ab"]);
 * ```
 */
export function effectsOf<T extends EffectType>(
  effects: readonly Effect[],
  type: T,
): EffectOf<T>[] {
  return effects.filter((e): e is EffectOf<T> => e.type === type);
}
