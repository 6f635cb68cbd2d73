/**
 * What the audit stream keeps and how its retention reserves room per
 * trust level: the audited kinds, the level an entry is charged to, and
 * {@linkcode AuditRetention}, the pure in-memory structure that decides
 * which entry goes when a level is full. `AuditLog` (`audit_log.ts`) adds
 * the file and the paged reads.
 *
 * @module
 */

import type { EventKind } from "./contract.ts";
import { TRUST_LEVELS, type TrustLevel, type Web4Event } from "./event.ts";

/**
 * The event kinds the audit stream keeps: trust transitions (sanctions
 * included), handshakes, the person's consent changes, the mesh's malice
 * reports, blocks and introductions, every fetch a peer caused (requested,
 * done, failed, refused), and the agent's starts and stops that frame
 * them. A `router.refused` of a `LIP_FETCH` (the trust gate's refusal) is
 * kept too.
 */
export const AUDIT_KINDS: readonly EventKind[] = Object.freeze(
  [
    "agent.started",
    "agent.stopping",
    "cip.handshake",
    "hcp.consent_changed",
    "lip.fetch_failed",
    "lip.fetch_requested",
    "lip.fetched",
    "lip.refused",
    "mesh.blocked",
    "mesh.introduction",
    "mesh.malice_report",
    "trust.transition",
  ] as const,
);

const _AUDITED: ReadonlySet<string> = new Set(AUDIT_KINDS);

/**
 * Whether the audit stream keeps an event: one of
 * {@linkcode AUDIT_KINDS}, or the router's refusal of a `LIP_FETCH`.
 *
 * @param event An event.
 * @returns `true` when it is audited.
 *
 * @example
 * ```ts
 * import { isAuditEvent } from "./audit.ts";
 * import assert from "node:assert/strict";
 *
 * const base = { v: "1.0", id: "e", ts: "2026-01-01T00:00:00.000Z", seq: 1, node: "n", severity: "info" } as const;
 * assert.equal(isAuditEvent({ ...base, kind: "cip.handshake", data: { step: "verified" } }), true);
 * assert.equal(isAuditEvent({ ...base, kind: "router.refused", data: { code: "untrusted", type: "LIP_FETCH" } }), true);
 * assert.equal(isAuditEvent({ ...base, kind: "router.refused", data: { code: "payload_schema", type: "ERROR" } }), false);
 * ```
 */
export function isAuditEvent(event: Web4Event): boolean {
  if (_AUDITED.has(event.kind)) return true;
  return event.kind === "router.refused" && event.data.type === "LIP_FETCH";
}

/**
 * The level an audit entry is charged to: the event's `level` (without
 * one, `stranger` for an event with a peer and `self` without); a trust
 * transition away from `trusted` stays charged to `trusted`, so a sanction
 * of a trusted peer is kept in the room of trusted peers, not of strangers.
 *
 * @param event An event.
 * @returns Its level.
 *
 * @example
 * ```ts
 * import { auditLevelOf } from "./audit.ts";
 * import assert from "node:assert/strict";
 *
 * const e = {
 *   v: "1.0", id: "e", ts: "2026-01-01T00:00:00.000Z", seq: 1, node: "n", severity: "warn",
 *   kind: "trust.transition", peer: "ab".repeat(32), level: "stranger",
 *   data: { machine: "cip", event: "invalid_signature", from: "trusted", to: "untrusted", reason: "bad signature", evidence: [] },
 * } as const;
 * assert.equal(auditLevelOf(e), "trusted");
 * ```
 */
export function auditLevelOf(event: Web4Event): TrustLevel {
  const level = event.level ?? (event.peer === undefined ? "self" : "stranger");
  if (level === "stranger" && event.kind === "trust.transition" && event.data.from === "trusted") {
    return "trusted";
  }
  return level;
}

/** How much one trust level may keep in the audit stream. */
export interface AuditBudget {
  /** The most entries. */
  entries: number;
  /** The most bytes (each entry counted as its JSON line in UTF-8). */
  bytes: number;
}

/**
 * Default audit budgets: 16,384 entries and 8 MiB in all, reserved per
 * level so that strangers (any number of keys) can only ever rotate
 * strangers' entries.
 */
export const DEFAULT_AUDIT_BUDGETS: Readonly<Record<TrustLevel, Readonly<AuditBudget>>> = Object
  .freeze({
    self: Object.freeze({ entries: 2_048, bytes: 1024 * 1024 }),
    person: Object.freeze({ entries: 2_048, bytes: 1024 * 1024 }),
    anchor: Object.freeze({ entries: 4_096, bytes: 2 * 1024 * 1024 }),
    trusted: Object.freeze({ entries: 4_096, bytes: 2 * 1024 * 1024 }),
    stranger: Object.freeze({ entries: 4_096, bytes: 2 * 1024 * 1024 }),
  });

/** Default number of each peer's first entries kept while its later ones go first. */
export const DEFAULT_AUDIT_KEEP_FIRST = 8;

/** One entry as the retention holds it. */
export interface RetainedEntry {
  /** Position in the stream. */
  readonly n: number;
  /** The level it is charged to. */
  readonly level: TrustLevel;
  /** The peer it concerns (`""` for none). */
  readonly peer: string;
  /** The event kind. */
  readonly kind: string;
  /** Its JSON line, without the newline. */
  readonly line: string;
  /** Its size in bytes (the line in UTF-8 and its newline). */
  readonly bytes: number;
}

class _PeerEntries {
  /** The peer's first entries, kept while it has later ones to give up. */
  readonly first: RetainedEntry[] = [];
  /** Its later entries, oldest first from `head`. */
  later: RetainedEntry[] = [];
  head = 0;
  /** Entries ever added for this peer since it was last empty. */
  seen = 0;

  get size(): number {
    return this.first.length + this.later.length - this.head;
  }

  /** Its oldest entry's position (for ties between peers holding as many entries). */
  get oldest(): number {
    return Math.min(this.first[0]?.n ?? Infinity, this.later[this.head]?.n ?? Infinity);
  }

  /** Gives up its oldest later entry, else its oldest first entry. */
  shift(): RetainedEntry {
    let e: RetainedEntry;
    if (this.head < this.later.length) {
      e = this.later[this.head]!;
      this.head += 1;
      if (this.head >= 1024 && this.head * 2 >= this.later.length) {
        this.later = this.later.slice(this.head);
        this.head = 0;
      }
    } else e = this.first.shift()!;
    return e;
  }
}

class _Level {
  entries = 0;
  bytes = 0;
  evicted = 0;
  readonly peers = new Map<string, _PeerEntries>();
  constructor(readonly budget: Readonly<AuditBudget>) {}
}

/** What one level holds in the audit stream. */
export interface AuditLevelStats {
  /** Entries kept. */
  entries: number;
  /** Their bytes. */
  bytes: number;
  /** Entries this level gave up to stay within its budget. */
  evicted: number;
  /** Its budget. */
  budget: AuditBudget;
}

/**
 * The audit stream's retention, in memory and pure: entries in stream
 * order, each charged to a level with its own budget of entries and
 * bytes. An entry only ever evicts entries of its own level, so the
 * person, anchors and trusted peers keep their room whatever strangers
 * do. Within a level, the peer holding the most entries (the oldest of
 * them on a tie) gives up its oldest entry, keeping its first `keepFirst`
 * entries (a handshake, a first fetch) until it has nothing later to give
 * up: one flooding peer rotates its own later entries, not its first ones
 * and not other peers'; many throw-away keys each keep a fair share, the
 * oldest going first.
 *
 * @example
 * ```ts
 * import { AuditRetention } from "./audit.ts";
 * import assert from "node:assert/strict";
 *
 * const r = new AuditRetention({ stranger: { entries: 3, bytes: 1_000 } }, 1);
 * const add = (n: number, peer: string) => r.add({ n, level: "stranger", peer, kind: "k", line: "{}", bytes: 3 });
 * add(1, "a"); // a's first entry
 * add(2, "b");
 * add(3, "a");
 * add(4, "a"); // the level is full: a (holding the most) gives up 3, its oldest later entry
 * assert.deepEqual([...r.entries()].map((e) => e.n), [1, 2, 4]);
 * ```
 */
export class AuditRetention {
  /** Each peer's first entries that are kept while it has later ones. */
  readonly keepFirst: number;
  readonly #levels: ReadonlyMap<TrustLevel, _Level>;
  readonly #entries = new Map<number, RetainedEntry>();
  #bytes = 0;

  /**
   * Creates an empty retention.
   *
   * @param budgets Budgets per level; a level not given keeps its default.
   * @param keepFirst Each peer's first entries kept while it has later ones. @default {8}
   * @throws {RangeError} For a budget or `keepFirst` that is not an integer (budgets >= 1, `keepFirst` >= 0).
   */
  constructor(
    budgets: Partial<Record<TrustLevel, Partial<AuditBudget>>> = {},
    keepFirst: number = DEFAULT_AUDIT_KEEP_FIRST,
  ) {
    if (!Number.isInteger(keepFirst) || keepFirst < 0) {
      throw new RangeError(`Audit keepFirst must be an integer >= 0, got ${keepFirst}`);
    }
    this.keepFirst = keepFirst;
    const levels = new Map<TrustLevel, _Level>();
    for (const level of TRUST_LEVELS) {
      const budget = { ...DEFAULT_AUDIT_BUDGETS[level], ...budgets[level] };
      for (const [name, value] of Object.entries(budget)) {
        if (!Number.isInteger(value) || value < 1) {
          throw new RangeError(
            `Audit budget ${level}.${name} must be a positive integer, got ${value}`,
          );
        }
      }
      levels.set(level, new _Level(Object.freeze(budget)));
    }
    this.#levels = levels;
  }

  /** Entries kept, all levels. */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes kept, all levels. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Keeps an entry, then gives up entries of its level until the level is
   * within its budget.
   *
   * @param entry The entry (its `n` greater than every kept entry's).
   * @returns The entries given up (possibly the new one).
   */
  add(entry: RetainedEntry): RetainedEntry[] {
    const level = this.#levels.get(entry.level)!;
    let peer = level.peers.get(entry.peer);
    if (peer === undefined) level.peers.set(entry.peer, peer = new _PeerEntries());
    if (peer.seen < this.keepFirst) peer.first.push(entry);
    else peer.later.push(entry);
    peer.seen += 1;
    level.entries += 1;
    level.bytes += entry.bytes;
    this.#entries.set(entry.n, entry);
    this.#bytes += entry.bytes;
    const evicted: RetainedEntry[] = [];
    while (level.entries > level.budget.entries || level.bytes > level.budget.bytes) {
      evicted.push(this.#evictFrom(level));
    }
    return evicted;
  }

  /** The kept entries in stream order. */
  entries(): IterableIterator<RetainedEntry> {
    return this.#entries.values();
  }

  /**
   * What each level holds.
   *
   * @returns Entries, bytes, evictions and budget per level.
   */
  stats(): Record<TrustLevel, AuditLevelStats> {
    const out = {} as Record<TrustLevel, AuditLevelStats>;
    for (const [name, l] of this.#levels) {
      out[name] = {
        entries: l.entries,
        bytes: l.bytes,
        evicted: l.evicted,
        budget: { ...l.budget },
      };
    }
    return out;
  }

  #evictFrom(level: _Level): RetainedEntry {
    let victim: [string, _PeerEntries] | undefined;
    for (const candidate of level.peers) {
      const [, p] = candidate;
      if (
        victim === undefined || p.size > victim[1].size ||
        (p.size === victim[1].size && p.oldest < victim[1].oldest)
      ) victim = candidate;
    }
    const [key, peer] = victim!;
    const e = peer.shift();
    if (peer.size === 0) level.peers.delete(key);
    level.entries -= 1;
    level.bytes -= e.bytes;
    level.evicted += 1;
    this.#entries.delete(e.n);
    this.#bytes -= e.bytes;
    return e;
  }
}
