/**
 * One turn of the LIP runtime: everything one envelope (or call) changes in
 * the queue, the sources' records and causal memory, collected as it is
 * handled, with the acceptance rules applied move by move.
 *
 * @module
 */

import {
  canonicalize,
  type LipSource,
  type PeerTrust,
  type SourceTrustTier,
} from "../envelope/mod.ts";
import {
  type Effect,
  isOverloaded,
  type Outcome,
  outcome,
  type ReplySpec,
  type RuntimeContext,
} from "../runtime/mod.ts";
import type { CausalFact, LipQueueItem, LipSourceRecord, StoreChange } from "../store/mod.ts";
import { type AcceptanceOptions, judgeClaim } from "./acceptance.ts";
import { claimSubject } from "./claims.ts";
import { type ClaimEvent, moveClaim } from "./queue.ts";
import { applySourceEvent, newSource, sourceKey, tierInForce } from "./tiers.ts";

/** The rules a turn judges by: the owner's pinned tiers and the acceptance parameters. */
export interface LipRules {
  /** The owner's pinned tiers, by source key. */
  readonly pins: Readonly<Record<string, SourceTrustTier>>;
  /** The acceptance rules' parameters. */
  readonly acceptance: Readonly<AcceptanceOptions>;
}

/** Everything one envelope (or call) changes, collected as it is handled. */
export class LipTurn {
  readonly items = new Map<string, LipQueueItem>();
  readonly touched = new Set<string>();
  readonly sources = new Map<string, LipSourceRecord>();
  readonly sourcesTouched = new Set<string>();
  readonly accepted: CausalFact[] = [];
  readonly changes: StoreChange[] = [];
  readonly effects: Effect[] = [];
  /** The queue event of the first move to `rejected` in this turn, if any. */
  firstRejection: ClaimEvent | undefined;
  readonly replies: ReplySpec[] = [];
  readonly nowMs: number;

  constructor(readonly ctx: RuntimeContext, readonly rules: LipRules) {
    this.nowMs = ctx.now();
  }

  /** A queued item as this turn has it (its own moves first, then the store). */
  item(id: string): LipQueueItem | undefined {
    return this.items.get(id) ?? this.ctx.store.lipItem(id);
  }

  /** Records an item's new state (committed by {@linkcode LipTurn.finish}). */
  put(item: LipQueueItem): void {
    this.items.set(item.id, item);
    this.touched.add(item.id);
  }

  /** Pending and disputed items of a source URI. */
  openItemsOf(uri: string): LipQueueItem[] {
    const out = new Map<string, LipQueueItem>();
    for (const status of ["pending", "disputed"] as const) {
      for (const i of this.ctx.store.lipItems(status)) if (i.sourceUri === uri) out.set(i.id, i);
    }
    for (const i of this.items.values()) {
      if (i.sourceUri !== uri) continue;
      if (i.status === "pending" || i.status === "disputed") out.set(i.id, i);
      else out.delete(i.id);
    }
    return [...out.values()];
  }

  /** A source's record as this turn has it (a fresh one if unknown). */
  source(key: string): LipSourceRecord {
    return this.sources.get(key) ?? this.ctx.store.lipSource(key) ?? newSource(key, this.nowMs);
  }

  /** Applies an event to a source's record. */
  sourceEvent(key: string, event: "good_provenance" | "accurate" | "inaccurate"): void {
    this.sources.set(key, applySourceEvent(this.source(key), event, this.nowMs));
    this.sourcesTouched.add(key);
  }

  /** The tier in force for a source URI: the owner's pin, else the earned tier. */
  tier(uri: string): SourceTrustTier {
    const key = sourceKey(uri);
    return tierInForce(
      key,
      this.sources.get(key) ?? this.ctx.store.lipSource(key),
      this.rules.pins,
    );
  }

  /** CIP trust of whoever delivered an item: `self` for this agent and its person. */
  trustOf(fingerprint: string): PeerTrust | "self" {
    if (fingerprint === this.ctx.self.fingerprint || fingerprint === this.ctx.config.person) {
      return "self";
    }
    return this.ctx.trust.peer(fingerprint);
  }

  /** Accepted knowledge the item contradicts (causal memory and this turn's acceptances). */
  conflictsOf(item: LipQueueItem): string[] {
    const s = claimSubject(item.claim);
    if (s === null) return [];
    const known = [
      ...this.ctx.store.causalFactsAbout(s.domain, s.subject),
      ...this.accepted.filter((f) => f.fact.domain === s.domain && f.subject === s.subject),
    ];
    return known.filter((f) => f.id !== item.id && f.valueCanon !== s.value).map((f) => f.id);
  }

  /** Judges an item until the rules leave it, applying each move. */
  settle(item: LipQueueItem): LipQueueItem {
    let current = item;
    for (let step = 0; step < 4; step++) {
      const verdict = judgeClaim(current, {
        tier: this.tier(current.sourceUri),
        fetcherTrust: this.trustOf(current.peer),
        overloaded: isOverloaded(this.ctx.load, this.ctx.config),
        nowMs: this.nowMs,
        conflictsWith: this.conflictsOf(current),
      }, this.rules.acceptance);
      if (verdict.event === null) {
        // Record why it waits (never for a final state: its reason is its verdict).
        if (current.status === "pending" || current.status === "disputed") {
          current = { ...current, reason: verdict.reason };
        }
        break;
      }
      current = this.move(current, verdict.event, verdict.reason);
    }
    this.put(current);
    return current;
  }

  /** One queue move, with its consequences for causal memory and the source's record. */
  move(item: LipQueueItem, event: ClaimEvent, reason: string): LipQueueItem {
    const moved = moveClaim(item, event, reason, this.nowMs);
    const key = sourceKey(item.sourceUri);
    this.effects.push({
      type: "claimChanged",
      origin: "lip",
      claim: item.id,
      status: moved.status,
      reason,
      peer: item.peer,
      from: item.status,
      event,
      source: key,
    });
    if (moved.status === "rejected") this.firstRejection ??= event;
    if (moved.status === "accepted") {
      const fact = causalFactOf(moved, this.nowMs);
      this.accepted.push(fact);
      this.changes.push({
        kind: "causal.add",
        fact,
        links: [{ from: moved.id, relation: "derived_from", ref: moved.sourceUri }],
      });
      // Corroboration (peers fetching it again) shows the source said it, not that it was right:
      // it never counts as the source's accuracy (docs/protocols.md §8, "source tiers").
    } else if (event === "refuted") {
      this.sourceEvent(key, "inaccurate");
    }
    return moved;
  }

  /** The turn's outcome: the touched sources and items, its changes, replies and effects. */
  finish(status: Outcome["status"], parts: Partial<Outcome> = {}): Outcome {
    const changes: StoreChange[] = [];
    for (const key of this.sourcesTouched) {
      changes.push({ kind: "lip.source", source: this.sources.get(key)! });
    }
    for (const id of this.touched) changes.push({ kind: "lip.upsert", item: this.items.get(id)! });
    return outcome(status, {
      ...parts,
      changes: [...changes, ...this.changes],
      replies: [...this.replies, ...(parts.replies ?? [])],
      effects: [...this.effects, ...(parts.effects ?? [])],
    });
  }
}

/**
 * The `source` block (the schema requires it on every type but `LIP_FETCH` and `LIP_ERROR`).
 *
 * @param env An LIP envelope.
 * @returns Its source block, if any.
 */
export function sourceOf(env: { source?: LipSource | undefined }): LipSource | undefined {
  return env.source;
}

/**
 * The causal-memory fact of an accepted queue item.
 *
 * @param item The accepted item.
 * @param nowMs When it was accepted.
 * @returns The fact.
 */
export function causalFactOf(item: LipQueueItem, nowMs: number): CausalFact {
  const s = claimSubject(item.claim);
  const claim = item.claim;
  const fact: CausalFact = {
    id: item.id,
    origin: "lip",
    fact: {
      statement: typeof claim === "string" ? claim : canonicalize(claim),
      domain: s?.domain ?? "",
      confidence: item.confidence,
      sources: [item.sourceUri],
      ...(s === null || typeof claim === "string"
        ? {}
        : { context: { subject: s.subject, value: claim.value ?? null } }),
    },
    acceptedMs: nowMs,
  };
  if (s !== null) {
    fact.subject = s.subject;
    fact.valueCanon = s.value;
  }
  return fact;
}
