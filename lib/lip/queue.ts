/**
 * The deferred-acceptance queue's state machine (docs/protocols.md §4): claims
 * wait `pending`; `pending -> accepted` (verified), `pending -> disputed`
 * (conflict), `disputed -> accepted` (resolved), `pending -> rejected` (low
 * trust, blocked source, no provenance, expired). This project adds
 * `disputed -> rejected`, for a dispute resolved against the claim and for
 * an unresolved dispute that outlives the queue's time to live, so no claim
 * waits forever.
 *
 * @module
 */

import type { LipQueueItem } from "../store/mod.ts";
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

/**
 * Moves a queue item on an event and records why.
 *
 * @param item The queue item.
 * @param event What happened.
 * @param reason Why, for the record and the `LIP_ERROR` text.
 * @param nowMs The current time in ms.
 * @returns The item in its new state.
 * @throws {LipError} Code `invalid_transition` when the move is not in the table.
 *
 * @example
 * ```ts
 * import { moveClaim } from "./queue.ts";
 * import type { LipQueueItem } from "../store/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const item = { status: "pending", reason: "queued" } as LipQueueItem;
 * const moved = moveClaim(item, "expired", "pending longer than 3600000 ms", 10);
 * assert.equal(moved.status, "rejected");
 * assert.equal(moved.reason, "pending longer than 3600000 ms");
 * ```
 */
export function moveClaim(
  item: LipQueueItem,
  event: ClaimEvent,
  reason: string,
  nowMs: number,
): LipQueueItem {
  return { ...item, status: nextClaimState(item.status, event), reason, updatedMs: nowMs };
}
