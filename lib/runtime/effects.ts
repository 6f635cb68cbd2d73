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
}

/** An effect: one decision of a runtime or the router, as data. */
export type Effect =
  | {
    /** Something reaches the agent loop from the person. */
    readonly type: "deliver";
    /** What reaches it. */
    readonly delivery: Delivery;
  }
  | {
    /** The agent must run a fetch and answer with evidence or an error. */
    readonly type: "fetch";
    /** The request. */
    readonly request: FetchRequest;
  }
  | {
    /** A claim of the CIP ledger or the LIP queue changed status. */
    readonly type: "claimChanged";
    /** Which store: the CIP claim ledger or the LIP queue. */
    readonly origin: "cip" | "lip";
    /** The claim id (a `FACT_PROPOSE` `msg_id` or a LIP claim id). */
    readonly claim: string;
    /** Its new status. */
    readonly status: ClaimStatus;
    /** Why, in words. */
    readonly reason: string;
    /** The peer concerned, when one is. */
    readonly peer?: string | undefined;
  }
  | {
    /** A trust machine logged a step (committed; `entry.changed` says whether it moved). */
    readonly type: "trustChanged";
    /** The committed log entry. */
    readonly entry: TrustLogEntry;
  }
  | {
    /** A CIP handshake with `peer` completed and verified. */
    readonly type: "handshakeVerified";
    /** The peer's fingerprint. */
    readonly peer: string;
  }
  | {
    /** A peer answered one of our messages with a protocol error. */
    readonly type: "errorReceived";
    /** The protocol of the error (`ERROR`, `HCP_ERROR`, `LIP_ERROR`). */
    readonly protocol: Protocol;
    /** Who sent it. */
    readonly peer: string;
    /** The `msg_id` of ours it answers. */
    readonly inReplyTo: string;
    /** The error code (`unknown_fact`, `quota`, ...). */
    readonly code: string;
    /** Its reason. */
    readonly reason: string;
  }
  | {
    /** A peer's CIP `INTENT` (not an answer) reached us, and how we decided. */
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
 *   { type: "handshakeVerified", peer: "ab" },
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
