/**
 * The acceptance rules of LIP (docs/protocols.md §4): which event, if any, a
 * queued claim's situation calls for. Pure; the runtime applies the event
 * with `moveClaim` and turns the result into store changes.
 *
 * @module
 */

import type { PeerTrust, SourceTrustTier } from "../envelope/mod.ts";
import type { LipQueueItem } from "../store/mod.ts";
import type { ClaimEvent } from "./queue.ts";
import { type ProvenanceOptions, provenanceQuality, tierAtLeast } from "./tiers.ts";

/** Default time a claim may wait before it expires: 24 hours. */
export const DEFAULT_CLAIM_TTL_MS = 24 * 3600_000;
/** Trusted corroborators that accept a claim whatever its source's tier (the spec's 2). */
export const MIN_CORROBORATORS = 2;

/** The rules' parameters. */
export interface AcceptanceOptions extends ProvenanceOptions {
  /** Trusted corroborators needed without a `medium` source. @default {2} */
  minCorroborators?: number | undefined;
}

/** The situation a claim is judged in. */
export interface ClaimSituation {
  /** The source's current tier. */
  readonly tier: SourceTrustTier;
  /** The CIP trust of the agent that fetched it now (`"self"` for this agent). */
  readonly fetcherTrust: PeerTrust | "self";
  /** Whether the local state is overloaded (no assimilation now). */
  readonly overloaded: boolean;
  /** The current time in ms. */
  readonly nowMs: number;
  /** Ids of accepted knowledge the claim contradicts (empty: none). */
  readonly conflictsWith: readonly string[];
}

/** What the rules say: move the claim on `event`, or leave it (`event: null`). */
export interface ClaimVerdict {
  /** The event to apply, or `null` to leave the claim as it is. */
  readonly event: ClaimEvent | null;
  /** Why, in words naming the values involved. */
  readonly reason: string;
}

/**
 * Judges a queued claim. First match wins:
 *
 * 1. `accepted` or `rejected`: final, nothing to do;
 * 2. source `blocked` -> `blocked_source`;
 * 3. pending and provenance missing (no evidence, or `retrieved_at` in the
 *    future) -> `no_provenance`;
 * 4. past its `expiresMs` (queued time + the queue's time to live) -> `expired`;
 * 5. pending and fetched by an `untrusted` or `blacklisted` peer -> `low_trust`;
 * 6. pending with a conflict (accepted knowledge it contradicts, or a
 *    trusted peer's dispute) -> `conflict`;
 * 7. local state overloaded -> stay (deferred, never dropped);
 * 8. disputed: trusted disputers >= `minCorroborators` + corroborators ->
 *    `refuted`; no local conflict left and corroborators >=
 *    `minCorroborators` + disputers -> `resolved`; otherwise stay;
 * 9. pending and (tier >= `medium` or corroborators >= `minCorroborators`)
 *    -> `verified`;
 * 10. otherwise stay, waiting for corroboration.
 *
 * @param item The queue item.
 * @param situation Its source's tier, its fetcher's trust, conflicts, load and clock.
 * @param options Corroborators needed, provenance bounds.
 * @returns The event to apply (or none) and why.
 *
 * @example
 * ```ts
 * import { judgeClaim } from "./acceptance.ts";
 * import type { LipQueueItem } from "../store/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const now = Date.parse("2026-11-28T10:00:00Z");
 * const claim = {
 *   status: "pending", createdMs: now, expiresMs: now + 60_000, evidence: ["page text"],
 *   retrievedAt: "2026-11-28T10:00:00Z", corroborators: [], disputers: [],
 * } as unknown as LipQueueItem;
 * const base = { fetcherTrust: "self", overloaded: false, nowMs: now, conflictsWith: [] } as const;
 * assert.equal(judgeClaim(claim, { ...base, tier: "medium" }).event, "verified");
 * assert.equal(judgeClaim(claim, { ...base, tier: "low" }).event, null);
 * assert.equal(judgeClaim(claim, { ...base, tier: "blocked" }).event, "blocked_source");
 * ```
 */
export function judgeClaim(
  item: LipQueueItem,
  situation: ClaimSituation,
  options: AcceptanceOptions = {},
): ClaimVerdict {
  const min = options.minCorroborators ?? MIN_CORROBORATORS;
  const { tier, nowMs } = situation;
  const pending = item.status === "pending";
  const corroborators = item.corroborators.length;
  const disputers = item.disputers?.length ?? 0;
  const conflicts = situation.conflictsWith;
  if (item.status === "accepted" || item.status === "rejected") {
    return { event: null, reason: `claim is ${item.status}` };
  }
  if (tier === "blocked") return { event: "blocked_source", reason: "source tier is blocked" };
  if (
    pending && provenanceQuality(item.evidence, item.retrievedAt, nowMs, options) === "missing"
  ) {
    return {
      event: "no_provenance",
      reason: item.evidence.length === 0
        ? "evidence carries no provenance items"
        : `retrieved_at ${item.retrievedAt} is not a past time`,
    };
  }
  if (nowMs >= item.expiresMs) {
    return {
      event: "expired",
      reason: `${item.status} for ${nowMs - item.createdMs} ms (limit ${
        item.expiresMs - item.createdMs
      } ms)`,
    };
  }
  if (
    pending && (situation.fetcherTrust === "untrusted" || situation.fetcherTrust === "blacklisted")
  ) {
    return { event: "low_trust", reason: `fetched by a ${situation.fetcherTrust} peer` };
  }
  if (pending && (conflicts.length > 0 || disputers > 0)) {
    return {
      event: "conflict",
      reason: conflicts.length > 0
        ? `conflicts with local knowledge ${conflicts.join(", ")}`
        : `disputed by ${disputers} trusted peer(s)`,
    };
  }
  if (situation.overloaded) return { event: null, reason: "local state overloaded: deferred" };
  if (!pending) {
    if (disputers >= min + corroborators) {
      return {
        event: "refuted",
        reason: `${disputers} trusted disputers against ${corroborators} corroborators`,
      };
    }
    if (conflicts.length === 0 && corroborators >= min + disputers) {
      return {
        event: "resolved",
        reason: `${corroborators} trusted corroborators against ${disputers} disputers`,
      };
    }
    return {
      event: null,
      reason: conflicts.length > 0
        ? `dispute unresolved: conflicts with local knowledge ${conflicts.join(", ")}`
        : `dispute unresolved: ${corroborators} trusted corroborators, ${disputers} disputers`,
    };
  }
  if (tierAtLeast(tier, "medium")) return { event: "verified", reason: `source tier is ${tier}` };
  if (corroborators >= min) {
    return { event: "verified", reason: `${corroborators} trusted corroborators` };
  }
  return {
    event: null,
    reason: `waiting: source tier ${tier}, ${corroborators} of ${min} trusted corroborators`,
  };
}
