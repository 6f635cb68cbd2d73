/**
 * The deferred-acceptance queue's state machine (PROTOCOLS.md §4): claims
 * wait `pending`; `pending -> accepted` (verified), `pending -> disputed`
 * (conflict), `disputed -> accepted` (resolved), `pending -> rejected` (low
 * trust, blocked source, no provenance, expired). This project adds
 * `disputed -> rejected`, for a dispute resolved against the claim and for
 * an unresolved dispute that outlives the queue's time to live, so no claim
 * waits forever.
 *
 * @module
 */

import type { FreeForm } from "../envelope/mod.ts";
import { LipError } from "./errors.ts";

/** A claim's state in the queue. */
export type ClaimState = "pending" | "accepted" | "disputed" | "rejected";

/** What happened to a claim. */
export type ClaimEvent =
  | "verified"
  | "conflict"
  | "resolved"
  | "refuted"
  | "low_trust"
  | "blocked_source"
  | "no_provenance"
  | "expired";

/** The queue's transitions: `from` and event -> `to`. Anything else is refused. */
export const CLAIM_TRANSITIONS: Readonly<
  Record<ClaimState, Readonly<Partial<Record<ClaimEvent, ClaimState>>>>
> = Object.freeze({
  pending: Object.freeze({
    verified: "accepted",
    conflict: "disputed",
    low_trust: "rejected",
    blocked_source: "rejected",
    no_provenance: "rejected",
    expired: "rejected",
  }),
  disputed: Object.freeze({
    resolved: "accepted",
    refuted: "rejected",
    blocked_source: "rejected",
    expired: "rejected",
  }),
  accepted: Object.freeze({}),
  rejected: Object.freeze({}),
});

/**
 * The state a claim moves to on an event.
 *
 * @param from The claim's state.
 * @param event What happened.
 * @returns The next state.
 * @throws {LipError} Code `invalid_transition`, naming the state and event,
 *   when the table has no such row (e.g. anything from `accepted`).
 *
 * @example
 * ```ts
 * import { nextClaimState } from "./queue.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(nextClaimState("pending", "conflict"), "disputed");
 * assert.equal(nextClaimState("disputed", "resolved"), "accepted");
 * assert.throws(() => nextClaimState("accepted", "conflict"), { code: "invalid_transition" });
 * ```
 */
export function nextClaimState(from: ClaimState, event: ClaimEvent): ClaimState {
  const to = CLAIM_TRANSITIONS[from][event];
  if (to === undefined) {
    throw new LipError(
      "invalid_transition",
      `Claim queue has no transition from "${from}" on "${event}"`,
    );
  }
  return to;
}

/** One claim in the queue (JSON-serializable; the store keeps it). */
export interface QueuedClaim {
  /** The claim id (see `claimId`). */
  readonly id: string;
  /** The claim itself. */
  readonly claim: FreeForm;
  /** The source's URI. */
  readonly sourceUri: string;
  /** The source key its tier is kept under (see `sourceKey`). */
  readonly sourceKey: string;
  /** When the source was retrieved (RFC 3339), as the evidence says. */
  readonly retrievedAt: string;
  /** The evidence the first `LIP_EVIDENCE` gave. */
  readonly evidence: readonly FreeForm[];
  /** Fingerprint of the agent that signed the first `LIP_EVIDENCE` (the fetcher). */
  readonly fetchedBy: string;
  /** `msg_id` of that `LIP_EVIDENCE`. */
  readonly evidenceMsgId: string;
  /** The claim's state. */
  readonly state: ClaimState;
  /** When it was queued (ms). */
  readonly queuedAtMs: number;
  /** When its state or votes last changed (ms). */
  readonly updatedAtMs: number;
  /** Fingerprints of the peers, trusted at the time, that corroborated it. */
  readonly corroborators: readonly string[];
  /** Fingerprints of the peers, trusted at the time, that disputed it. */
  readonly disputers: readonly string[];
  /** Ids of the local knowledge (accepted claims or facts) it conflicts with. */
  readonly conflictsWith: readonly string[];
  /** Why it is in its state (the last transition's reason). */
  readonly reason: string;
}

/**
 * Moves a claim on an event and records why.
 *
 * @param claim The claim.
 * @param event What happened.
 * @param reason Why, for the record and the `LIP_ERROR`/`LIP_REJECT` text.
 * @param nowMs The current time in ms.
 * @returns The claim in its new state.
 * @throws {LipError} Code `invalid_transition` when the move is not in the table.
 *
 * @example
 * ```ts
 * import { moveClaim, type QueuedClaim } from "./queue.ts";
 * import assert from "node:assert/strict";
 *
 * const c = { state: "pending", reason: "queued" } as QueuedClaim;
 * const moved = moveClaim(c, "expired", "pending longer than 3600000 ms", 10);
 * assert.equal(moved.state, "rejected");
 * assert.equal(moved.reason, "pending longer than 3600000 ms");
 * ```
 */
export function moveClaim(
  claim: QueuedClaim,
  event: ClaimEvent,
  reason: string,
  nowMs: number,
): QueuedClaim {
  return { ...claim, state: nextClaimState(claim.state, event), reason, updatedAtMs: nowMs };
}
