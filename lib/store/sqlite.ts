/**
 * The SQLite implementation of {@linkcode Store}, on `node:sqlite` (built
 * into Deno 2.9): one file per agent, WAL journal, `synchronous=NORMAL`,
 * foreign keys on, versioned schema, one transaction per commit.
 *
 * @module
 */

import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import type { ReplayEntry } from "../envelope/mod.ts";
import { QuotaExceededError, StoreError } from "./errors.ts";
import { type Migration, MIGRATIONS } from "./schema.ts";
import type {
  CausalFact,
  CausalLink,
  ClaimRecord,
  ClaimStatus,
  ClaimVote,
  CommitOptions,
  CommitResult,
  DecisionRecord,
  HandshakeRecord,
  LipQueueItem,
  LipSourceRecord,
  PersonRecord,
  PresenceRecord,
  QuotaName,
  RetentionPolicy,
  Store,
  StoreChange,
  StoreChangeKind,
  StoredTrustLogEntry,
  StoreQuotas,
  TrustLogQuery,
  TrustMachine,
  TrustRecord,
  TrustState,
} from "./types.ts";

/** The default per-peer quotas. */
export const DEFAULT_QUOTAS: Readonly<StoreQuotas> = Object.freeze({
  claims: 10_000,
  lip_queue: 10_000,
  evidence: 10_000,
  replay: 100_000,
});

/** The default retention policy. */
export const DEFAULT_RETENTION: Readonly<RetentionPolicy> = Object.freeze({
  ignoredMaxAgeMs: 7 * 24 * 3600_000,
  replayWindowMs: 240_000,
});

/** The change kinds whose tables time-based retention prunes. */
const _PRUNED_KINDS: ReadonlySet<StoreChangeKind> = new Set(["trust.log", "replay.add"]);

/** Trust records kept in memory at most (the most recently used). */
const _TRUST_CACHE_MAX = 4096;

/** Options of {@linkcode openStore}. */
export interface StoreOptions {
  /** Per-peer quotas; missing ones take {@linkcode DEFAULT_QUOTAS}. */
  quotas?: Partial<StoreQuotas> | undefined;
  /** Retention; missing fields take {@linkcode DEFAULT_RETENTION}. */
  retention?: Partial<RetentionPolicy> | undefined;
  /** Clock in milliseconds since the epoch. @default {Date.now} */
  now?: (() => number) | undefined;
  /** The migrations to apply (tests only). @default {MIGRATIONS} */
  migrations?: readonly Migration[] | undefined;
}

type Row = Record<string, SQLInputValue | undefined>;

const _PRAGMAS = ["journal_mode", "synchronous", "foreign_keys", "user_version"];
const _QUOTA_NAMES: readonly QuotaName[] = ["claims", "lip_queue", "evidence", "replay"];

function _json(value: unknown): string {
  return JSON.stringify(value);
}

function _parse<T>(text: unknown): T {
  return JSON.parse(text as string) as T;
}

function _opt<T>(value: unknown): T | undefined {
  return value === null || value === undefined ? undefined : value as T;
}

/** Copies `value` into `target[key]` unless it is `undefined` (for exact optional types). */
function _set<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): T {
  if (value !== undefined) target[key] = value;
  return target;
}

function _positiveLimit(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 1)) {
    throw new RangeError(`Expected ${name} to be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * Opens (creating if needed) the store at `path`, or an in-memory one for
 * `":memory:"`, and brings its schema up to date.
 *
 * @param path A file path, or `":memory:"`.
 * @param options Quotas, retention, clock.
 * @returns The open store.
 * @throws {StoreError} Code `STORE_SCHEMA` if the file's schema is newer than
 *   this code, or a migration fails.
 * @throws {RangeError} If a quota or retention value is not a positive integer.
 *
 * @example Commit a trust change and read it back
 * ```ts
 * import { openStore } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * using store = openStore(":memory:");
 * const peer = "ab".repeat(32);
 * store.commit([
 *   {
 *     kind: "trust.state",
 *     record: { machine: "cip", subject: peer, state: "probing", sinceMs: 1, cooldownUntilMs: 0, maliceCount: 0, strikesMs: [] },
 *   },
 *   {
 *     kind: "trust.log",
 *     entry: { machine: "cip", subject: peer, atMs: 1, event: "valid_handshake", from: "untrusted", to: "probing", changed: true, reason: "handshake verified", evidence: ["m-1"] },
 *   },
 * ]);
 * assert.equal(store.trust("cip", peer)?.state, "probing");
 * assert.deepEqual(store.trustLog(peer)[0]?.evidence, ["m-1"]);
 * ```
 */
export function openStore(path: string, options: StoreOptions = {}): SqliteStore {
  return new SqliteStore(path, options);
}

/** A {@linkcode Store} on one SQLite database. Build it with {@linkcode openStore}. */
export class SqliteStore implements Store {
  /** The path given to {@linkcode openStore}. */
  readonly path: string;
  /** The per-peer quotas in force. */
  readonly quotas: Readonly<StoreQuotas>;
  /** The retention policy in force. */
  readonly retention: Readonly<RetentionPolicy>;
  #db: DatabaseSync | null;
  readonly #now: () => number;
  readonly #statements = new Map<string, StatementSync>();
  /**
   * Trust records by `machine\nsubject`, as last read or written (`null`:
   * no row). Cleared whenever a transaction rolls back, so it never holds
   * state that was not committed.
   */
  readonly #trustCache = new Map<string, TrustRecord | null>();
  /** When the last time-based pruning ran: at most once per second. */
  #lastPruneMs = -Infinity;
  /** Whether a write group is open. */
  #group = false;
  /** Rows pruned when the group opened, reported with its first list. */
  #groupPruned = 0;
  #schemaVersion = 0;

  /**
   * Opens the database; prefer {@linkcode openStore}.
   *
   * @param path A file path, or `":memory:"`.
   * @param options Quotas, retention, clock, migrations.
   */
  constructor(path: string, options: StoreOptions = {}) {
    if (typeof path !== "string" || path.length === 0) {
      throw new TypeError(`Expected a store path or ":memory:", got ${JSON.stringify(path)}`);
    }
    const quotas = { ...DEFAULT_QUOTAS, ...options.quotas };
    for (const name of _QUOTA_NAMES) _positiveLimit(`quotas.${name}`, quotas[name]);
    const retention = { ...DEFAULT_RETENTION, ...options.retention };
    _positiveLimit("retention.ignoredMaxAgeMs", retention.ignoredMaxAgeMs);
    _positiveLimit("retention.replayWindowMs", retention.replayWindowMs);
    this.path = path;
    this.quotas = Object.freeze(quotas);
    this.retention = Object.freeze(retention);
    this.#now = options.now ?? Date.now;
    const db = new DatabaseSync(path, { enableForeignKeyConstraints: true });
    this.#db = db;
    try {
      if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec("PRAGMA busy_timeout = 5000");
      this.#migrate(options.migrations ?? MIGRATIONS);
    } catch (error) {
      db.close();
      this.#db = null;
      throw error;
    }
  }

  /** The schema version of the open database. */
  get schemaVersion(): number {
    return this.#schemaVersion;
  }

  /**
   * Reads one of the settings the store relies on.
   *
   * @param name `journal_mode` (`"wal"` for files, `"memory"` for `:memory:`),
   *   `synchronous` (`1` = NORMAL), `foreign_keys` (`1`) or `user_version`.
   * @returns The value SQLite reports.
   * @throws {TypeError} If `name` is not one of these.
   */
  pragma(name: "journal_mode" | "synchronous" | "foreign_keys" | "user_version"): string | number {
    if (!_PRAGMAS.includes(name)) {
      throw new TypeError(`Unknown store pragma ${JSON.stringify(name)}`);
    }
    const row = this.#stmt(`PRAGMA ${name}`).get() as Row;
    return row[name] as string | number;
  }

  #migrate(migrations: readonly Migration[]): void {
    const db = this.#db!;
    const current = Number((db.prepare("PRAGMA user_version").get() as Row).user_version);
    const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
    if (current > latest) {
      throw new StoreError(
        "STORE_SCHEMA",
        `Store ${this.path} has schema version ${current}, newer than this code's ${latest}`,
      );
    }
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      db.exec("BEGIN IMMEDIATE");
      try {
        db.exec(migration.sql);
        db.prepare("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)")
          .run(migration.version, migration.name, this.#now());
        db.exec(`PRAGMA user_version = ${Number(migration.version)}`);
        db.exec("COMMIT");
      } catch (error) {
        db.exec("ROLLBACK");
        throw new StoreError(
          "STORE_SCHEMA",
          `Migration ${migration.version} (${migration.name}) of store ${this.path} failed: ${
            (error as Error).message
          }`,
          { cause: error },
        );
      }
    }
    this.#schemaVersion = Math.max(current, latest);
  }

  #stmt(sql: string): StatementSync {
    const db = this.#db;
    if (db === null) throw new StoreError("STORE_CLOSED", `Store ${this.path} is closed`);
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Applies every change in one transaction, checks quotas, and commits;
   * on any error, nothing of `changes` is stored (time-based retention of
   * old ignored log entries and replay pairs may still run).
   *
   * @param changes The changes, applied in order.
   * @param options The time retention is measured from.
   * @returns How many changes were applied and rows pruned.
   * @throws {QuotaExceededError} If a peer would go over a quota.
   * @throws {StoreError} Code `STORE_CLOSED` or `STORE_INVALID_CHANGE`.
   */
  commit(changes: readonly StoreChange[], options: CommitOptions = {}): CommitResult {
    if (this.#group) return this.#commitInGroup(changes);
    const [result] = this.commitBatch([changes], options);
    if (result instanceof Error) throw result;
    return result!;
  }

  /** Whether a write group is open ({@linkcode SqliteStore.beginGroup}). */
  get inGroup(): boolean {
    return this.#group;
  }

  /**
   * Opens a write group: until {@linkcode SqliteStore.endGroup}, each
   * `commit` applies its list inside one shared transaction (all or nothing
   * per list, through a savepoint; a refused list throws as usual and
   * leaves nothing), reads see the lists applied so far, and everything
   * becomes durable together at `endGroup`. One transaction for many
   * messages is what makes a router fast on a file; the router releases no
   * reply before the group's commit.
   *
   * @param options The time retention is measured from.
   * @throws {StoreError} `STORE_CLOSED`, or `STORE_INVALID_CHANGE` when a
   *   group is already open.
   *
   * @example
   * ```ts
   * import { openStore } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using store = openStore(":memory:");
   * const sender = "ab".repeat(32);
   * store.beginGroup({ nowMs: 5 });
   * store.commit([{ kind: "replay.add", entry: { sender, msgId: "m-1", timestampMs: 5 } }]);
   * assert.equal(store.replayEntries(0).length, 1); // visible inside the group
   * store.endGroup();
   * ```
   */
  beginGroup(options: CommitOptions = {}): void {
    const db = this.#db;
    if (db === null) throw new StoreError("STORE_CLOSED", `Store ${this.path} is closed`);
    if (this.#group) {
      throw new StoreError("STORE_INVALID_CHANGE", `Store ${this.path} already has a group open`);
    }
    db.exec("BEGIN IMMEDIATE");
    this.#group = true;
    this.#groupPruned = this.#prune(_PRUNED_KINDS, options.nowMs ?? this.#now());
  }

  /**
   * Commits the open group: every list applied since
   * {@linkcode SqliteStore.beginGroup} becomes durable at once.
   *
   * @throws {StoreError} `STORE_CLOSED`, or `STORE_INVALID_CHANGE` when no
   *   group is open; the database's own error if the commit fails (then the
   *   whole group is rolled back).
   */
  endGroup(): void {
    const db = this.#requireGroup();
    this.#group = false;
    try {
      db.exec("COMMIT");
    } catch (error) {
      this.#rollbackAll(db);
      throw error;
    }
  }

  /**
   * Rolls the open group back: nothing applied since
   * {@linkcode SqliteStore.beginGroup} is stored.
   *
   * @throws {StoreError} `STORE_CLOSED`, or `STORE_INVALID_CHANGE` when no group is open.
   */
  abortGroup(): void {
    const db = this.#requireGroup();
    this.#group = false;
    this.#rollbackAll(db);
  }

  #requireGroup(): DatabaseSync {
    const db = this.#db;
    if (db === null) throw new StoreError("STORE_CLOSED", `Store ${this.path} is closed`);
    if (!this.#group) {
      throw new StoreError("STORE_INVALID_CHANGE", `Store ${this.path} has no group open`);
    }
    return db;
  }

  #rollbackAll(db: DatabaseSync): void {
    try {
      db.exec("ROLLBACK");
    } finally {
      this.#trustCache.clear();
      this.#lastPruneMs = -Infinity;
    }
  }

  #commitInGroup(changes: readonly StoreChange[]): CommitResult {
    const db = this.#requireGroup();
    if (changes.length === 0) return { applied: 0, pruned: 0 };
    db.exec("SAVEPOINT change_list");
    try {
      const pruned = this.#applyList(changes) + this.#groupPruned;
      this.#groupPruned = 0;
      db.exec("RELEASE change_list");
      return { applied: changes.length, pruned };
    } catch (error) {
      db.exec("ROLLBACK TO change_list");
      db.exec("RELEASE change_list");
      this.#trustCache.clear();
      throw error;
    }
  }

  /**
   * Group commit: applies several change lists (one per message) in one
   * transaction, each all or nothing on its own (a savepoint each). A list
   * that fails (over quota, invalid) is rolled back alone and its error is
   * returned in its place; the others commit together. One commit (one WAL
   * sync point) for many messages is what makes a router fast on a file.
   *
   * @param batches The change lists, applied in order.
   * @param options The time retention is measured from.
   * @returns One result per list: what it applied, or why it was refused.
   * @throws {StoreError} Code `STORE_CLOSED`; or the database's own error
   *   if the transaction itself cannot commit (then nothing is stored).
   *
   * @example Two messages, one over quota
   * ```ts
   * import { openStore, QuotaExceededError } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * using store = openStore(":memory:", { quotas: { replay: 1 } });
   * const sender = "ab".repeat(32);
   * const add = (msgId: string) => [{ kind: "replay.add" as const, entry: { sender, msgId, timestampMs: 5 } }];
   * const [first, second] = store.commitBatch([add("m-1"), add("m-2")], { nowMs: 5 });
   * assert.deepEqual(first, { applied: 1, pruned: 0 });
   * assert.ok(second instanceof QuotaExceededError);
   * assert.deepEqual(store.replayEntries(0).map((e) => e.msgId), ["m-1"]);
   * ```
   */
  commitBatch(
    batches: readonly (readonly StoreChange[])[],
    options: CommitOptions = {},
  ): (CommitResult | StoreError)[] {
    const db = this.#db;
    if (db === null) throw new StoreError("STORE_CLOSED", `Store ${this.path} is closed`);
    if (this.#group) {
      return batches.map((changes) => {
        try {
          return this.#commitInGroup(changes);
        } catch (error) {
          if (error instanceof StoreError) return error;
          throw error;
        }
      });
    }
    const results: (CommitResult | StoreError)[] = batches.map(() => ({ applied: 0, pruned: 0 }));
    if (batches.every((b) => b.length === 0)) return results;
    const nowMs = options.nowMs ?? this.#now();
    db.exec("BEGIN IMMEDIATE");
    try {
      let pruned = this.#prune(new Set(batches.flatMap((b) => b.map((c) => c.kind))), nowMs);
      batches.forEach((changes, index) => {
        if (changes.length === 0) return;
        db.exec("SAVEPOINT change_list");
        try {
          const result = { applied: changes.length, pruned: this.#applyList(changes) + pruned };
          pruned = 0; // the time-based pruning is reported once, with the first list
          db.exec("RELEASE change_list");
          results[index] = result;
        } catch (error) {
          db.exec("ROLLBACK TO change_list");
          db.exec("RELEASE change_list");
          this.#trustCache.clear();
          if (!(error instanceof StoreError)) throw error;
          results[index] = error;
        }
      });
      db.exec("COMMIT");
      return results;
    } catch (error) {
      db.exec("ROLLBACK");
      this.#trustCache.clear();
      this.#lastPruneMs = -Infinity;
      throw error;
    }
  }

  /** Time-based retention, before the lists that touch the trust log or the replay pairs. */
  #prune(kinds: ReadonlySet<StoreChangeKind>, nowMs: number): number {
    // Rows just past their age harm nothing for a second (a restored guard
    // skips expired pairs), so pruning runs at most once per second rather
    // than in every transaction.
    if (nowMs - this.#lastPruneMs < 1000 && nowMs >= this.#lastPruneMs) return 0;
    this.#lastPruneMs = nowMs;
    let pruned = 0;
    if (kinds.has("trust.log")) {
      pruned += this.#stmt("DELETE FROM trust_log WHERE changed = 0 AND at_ms < ?")
        .run(nowMs - this.retention.ignoredMaxAgeMs).changes as number;
    }
    if (kinds.has("replay.add")) {
      pruned += this.#stmt("DELETE FROM replay WHERE ts_ms < ?")
        .run(nowMs - this.retention.replayWindowMs).changes as number;
    }
    return pruned;
  }

  /** Applies one change list inside the open transaction and checks its quotas. */
  #applyList(changes: readonly StoreChange[]): number {
    const touched = new Map<string, { peer: string; quota: QuotaName }>();
    const touch = (peer: string, quota: QuotaName) =>
      touched.set(`${quota}\n${peer}`, { peer, quota });
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i]!;
      try {
        this.#apply(change, touch);
      } catch (error) {
        if (error instanceof StoreError) throw error;
        throw new StoreError(
          "STORE_INVALID_CHANGE",
          `Change ${i} (${(change as { kind?: unknown })?.kind}) was refused by the store: ${
            (error as Error).message
          }`,
          { cause: error },
        );
      }
    }
    let pruned = 0;
    for (const { peer, quota } of touched.values()) pruned += this.#checkQuota(peer, quota);
    return pruned;
  }

  /** Enforces one quota inside the open transaction; returns rows pruned by retention. */
  #checkQuota(peer: string, quota: QuotaName): number {
    const limit = this.quotas[quota];
    let used = this.usage(peer, quota);
    let pruned = 0;
    if (used > limit && quota === "evidence") {
      // Retention: the oldest ignored entries of this subject go first.
      pruned = this.#stmt(
        `DELETE FROM trust_log WHERE id IN (
           SELECT id FROM trust_log WHERE subject = ? AND changed = 0 ORDER BY id LIMIT ?)`,
      ).run(peer, used - limit).changes as number;
      used -= pruned;
    }
    if (used > limit) throw new QuotaExceededError(peer, quota, limit, used);
    return pruned;
  }

  #apply(change: StoreChange, touch: (peer: string, quota: QuotaName) => void): void {
    switch (change.kind) {
      case "trust.state": {
        const r = change.record;
        this.#cacheTrust(`${r.machine}\n${r.subject}`, { ...r, strikesMs: [...r.strikesMs] });
        this.#stmt(
          `INSERT INTO trust (machine, subject, state, since_ms, cooldown_until_ms, malice_count, strikes_json)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (machine, subject) DO UPDATE SET state = excluded.state,
             since_ms = excluded.since_ms, cooldown_until_ms = excluded.cooldown_until_ms,
             malice_count = excluded.malice_count, strikes_json = excluded.strikes_json`,
        ).run(
          r.machine,
          r.subject,
          r.state,
          r.sinceMs,
          r.cooldownUntilMs,
          r.maliceCount,
          _json(r.strikesMs),
        );
        return;
      }
      case "trust.log": {
        const e = change.entry;
        const result = this.#stmt(
          `INSERT INTO trust_log (machine, subject, at_ms, event, from_state, to_state, changed, reason, actor)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          e.machine,
          e.subject,
          e.atMs,
          e.event,
          e.from,
          e.to,
          e.changed ? 1 : 0,
          e.reason,
          e.actor ?? null,
        );
        const logId = result.lastInsertRowid;
        const insert = this.#stmt(
          "INSERT INTO trust_evidence (log_id, seq, msg_id) VALUES (?, ?, ?)",
        );
        e.evidence.forEach((msgId, seq) => insert.run(logId, seq, msgId));
        touch(e.subject, "evidence");
        return;
      }
      case "claim.upsert": {
        const c = change.claim;
        this.#stmt(
          `INSERT INTO claims (id, peer, domain, subject, value_canon, status, reason, fact_json,
             trace_json, links_json, created_ms, updated_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET status = excluded.status, reason = excluded.reason,
             updated_ms = excluded.updated_ms`,
        ).run(
          c.id,
          c.peer,
          c.fact.domain,
          c.subject ?? null,
          c.valueCanon ?? null,
          c.status,
          c.reason,
          _json(c.fact),
          _json(c.trace),
          _json(c.links),
          c.createdMs,
          c.updatedMs,
        );
        touch(c.peer, "claims");
        return;
      }
      case "claim.vote": {
        const v = change.vote;
        this.#stmt(
          `INSERT INTO claim_votes (claim_id, peer, kind, msg_id, reason, confidence, counted, at_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (claim_id, peer, kind) DO UPDATE SET msg_id = excluded.msg_id,
             reason = excluded.reason, confidence = excluded.confidence,
             counted = excluded.counted, at_ms = excluded.at_ms`,
        ).run(
          v.claimId,
          v.peer,
          v.kind,
          v.msgId,
          v.reason,
          v.confidence,
          v.counted ? 1 : 0,
          v.atMs,
        );
        touch(v.peer, "claims");
        return;
      }
      case "causal.add": {
        const f = change.fact;
        this.#stmt(
          `INSERT INTO causal_facts (id, origin, domain, subject, value_canon, fact_json, accepted_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        ).run(
          f.id,
          f.origin,
          f.fact.domain,
          f.subject ?? null,
          f.valueCanon ?? null,
          _json(f.fact),
          f.acceptedMs,
        );
        const link = this.#stmt(
          "INSERT INTO causal_links (from_id, relation, ref) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        );
        for (const l of change.links) link.run(l.from, l.relation, l.ref);
        return;
      }
      case "decision.add": {
        const d = change.decision;
        this.#stmt(
          `INSERT INTO decisions (decision_id, peer, msg_id, choice, outcome, context_json, trace_json,
             retrospective, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (decision_id, peer) DO UPDATE SET msg_id = excluded.msg_id,
             choice = excluded.choice, outcome = excluded.outcome, context_json = excluded.context_json,
             trace_json = excluded.trace_json, retrospective = excluded.retrospective, at_ms = excluded.at_ms`,
        ).run(
          d.decisionId,
          d.peer,
          d.msgId,
          d.choice,
          d.outcome,
          d.context === undefined ? null : _json(d.context),
          _json(d.trace),
          d.retrospective ?? null,
          d.atMs,
        );
        touch(d.peer, "claims");
        return;
      }
      case "presence.set": {
        const p = change.record;
        this.#stmt(
          `INSERT OR REPLACE INTO presence (peer, presence, lri, peer_view, kernel_json, intent, updated_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          p.peer,
          p.presence,
          p.lri,
          p.peerView ?? null,
          _json(p.kernelSignals),
          p.intent ?? null,
          p.updatedMs,
        );
        return;
      }
      case "handshake.set": {
        const h = change.record;
        this.#stmt(
          `INSERT OR REPLACE INTO handshakes (peer, role, stage, our_nonce, our_challenge, our_hello_id,
             their_nonce, their_hello_id, started_ms, deadline_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          h.peer,
          h.role,
          h.stage,
          h.ourNonce,
          h.ourChallenge,
          h.ourHelloId,
          h.theirNonce ?? null,
          h.theirHelloId ?? null,
          h.startedMs,
          h.deadlineMs,
        );
        return;
      }
      case "handshake.clear":
        this.#stmt("DELETE FROM handshakes WHERE peer = ?").run(change.peer);
        return;
      case "person.upsert": {
        const p = change.person;
        this.#stmt(
          "INSERT OR REPLACE INTO persons (person, record_json, updated_ms) VALUES (?, ?, ?)",
        )
          .run(p.person, _json(p), p.updatedMs);
        return;
      }
      case "lip.upsert": {
        const q = change.item;
        this.#stmt(
          `INSERT INTO lip_queue (id, peer, status, created_ms, expires_ms, record_json)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET status = excluded.status, expires_ms = excluded.expires_ms,
             record_json = excluded.record_json`,
        ).run(q.id, q.peer, q.status, q.createdMs, q.expiresMs, _json(q));
        touch(q.peer, "lip_queue");
        return;
      }
      case "lip.source": {
        const s = change.source;
        this.#stmt(
          `INSERT OR REPLACE INTO lip_sources (uri, tier, accurate, inaccurate, updated_ms)
           VALUES (?, ?, ?, ?, ?)`,
        ).run(s.uri, s.tier, s.accurate, s.inaccurate, s.updatedMs);
        return;
      }
      case "replay.add": {
        const r = change.entry;
        this.#stmt("INSERT OR IGNORE INTO replay (sender, msg_id, ts_ms) VALUES (?, ?, ?)")
          .run(r.sender, r.msgId, r.timestampMs);
        touch(r.sender, "replay");
        return;
      }
      default:
        throw new StoreError(
          "STORE_INVALID_CHANGE",
          `Unknown store change kind ${JSON.stringify((change as { kind?: unknown })?.kind)}`,
        );
    }
  }

  /** {@inheritDoc StoreView.usage} */
  usage(peer: string, quota: QuotaName): number {
    const row = this.#stmt("SELECT n FROM quota_usage WHERE peer = ? AND quota = ?").get(
      peer,
      quota,
    ) as
      | Row
      | undefined;
    return row === undefined ? 0 : Number(row.n);
  }

  /** {@inheritDoc StoreView.trust} */
  trust(machine: TrustMachine, subject: string): TrustRecord | undefined {
    const key = `${machine}\n${subject}`;
    let record = this.#trustCache.get(key);
    if (record === undefined) {
      const r = this.#stmt("SELECT * FROM trust WHERE machine = ? AND subject = ?").get(
        machine,
        subject,
      ) as Row | undefined;
      record = r === undefined ? null : {
        machine,
        subject,
        state: r.state as TrustState,
        sinceMs: Number(r.since_ms),
        cooldownUntilMs: Number(r.cooldown_until_ms),
        maliceCount: Number(r.malice_count),
        strikesMs: _parse<number[]>(r.strikes_json),
      };
      this.#cacheTrust(key, record);
    }
    // A copy: callers may build on it without touching the cache.
    return record === null ? undefined : { ...record, strikesMs: [...record.strikesMs] };
  }

  #cacheTrust(key: string, record: TrustRecord | null): void {
    this.#trustCache.delete(key);
    this.#trustCache.set(key, record);
    if (this.#trustCache.size > _TRUST_CACHE_MAX) {
      this.#trustCache.delete(this.#trustCache.keys().next().value!);
    }
  }

  /** {@inheritDoc StoreView.trustLog} */
  trustLog(subject: string, query: TrustLogQuery = {}): StoredTrustLogEntry[] {
    const limit = query.limit ?? 1000;
    const rows = this.#stmt(
      `SELECT * FROM (SELECT * FROM trust_log WHERE subject = ? AND at_ms >= ?
         AND (? IS NULL OR machine = ?) ORDER BY id DESC LIMIT ?) ORDER BY id`,
    ).all(
      subject,
      query.sinceMs ?? -Number.MAX_SAFE_INTEGER,
      query.machine ?? null,
      query.machine ?? null,
      limit,
    ) as Row[];
    const evidence = this.#stmt("SELECT msg_id FROM trust_evidence WHERE log_id = ? ORDER BY seq");
    return rows.map((r) =>
      _set<StoredTrustLogEntry, "actor">(
        {
          id: Number(r.id),
          machine: r.machine as TrustMachine,
          subject,
          atMs: Number(r.at_ms),
          event: r.event as string,
          from: r.from_state as TrustState,
          to: r.to_state as TrustState,
          changed: r.changed === 1,
          reason: r.reason as string,
          evidence: (evidence.all(r.id as number) as Row[]).map((e) => e.msg_id as string),
        },
        "actor",
        _opt<string>(r.actor),
      )
    );
  }

  #claim(r: Row): ClaimRecord {
    const claim: ClaimRecord = {
      id: r.id as string,
      peer: r.peer as string,
      fact: _parse(r.fact_json),
      trace: _parse(r.trace_json),
      links: _parse(r.links_json),
      status: r.status as ClaimStatus,
      reason: r.reason as string,
      createdMs: Number(r.created_ms),
      updatedMs: Number(r.updated_ms),
    };
    _set(claim, "subject", _opt<string>(r.subject));
    return _set(claim, "valueCanon", _opt<string>(r.value_canon));
  }

  /** {@inheritDoc StoreView.claim} */
  claim(id: string): ClaimRecord | undefined {
    const r = this.#stmt("SELECT * FROM claims WHERE id = ?").get(id) as Row | undefined;
    return r === undefined ? undefined : this.#claim(r);
  }

  /** {@inheritDoc StoreView.claimsBy} */
  claimsBy(peer: string, status?: ClaimStatus): ClaimRecord[] {
    const rows = this.#stmt(
      "SELECT * FROM claims WHERE peer = ? AND (? IS NULL OR status = ?) ORDER BY created_ms, id",
    ).all(peer, status ?? null, status ?? null) as Row[];
    return rows.map((r) => this.#claim(r));
  }

  /** {@inheritDoc StoreView.claimsAbout} */
  claimsAbout(domain: string, subject: string): ClaimRecord[] {
    const rows = this.#stmt(
      "SELECT * FROM claims WHERE domain = ? AND subject = ? ORDER BY created_ms, id",
    ).all(domain, subject) as Row[];
    return rows.map((r) => this.#claim(r));
  }

  /** {@inheritDoc StoreView.votes} */
  votes(claimId: string): ClaimVote[] {
    const rows = this.#stmt(
      "SELECT * FROM claim_votes WHERE claim_id = ? ORDER BY at_ms, peer, kind",
    )
      .all(claimId) as Row[];
    return rows.map((r) => ({
      claimId,
      peer: r.peer as string,
      msgId: r.msg_id as string,
      kind: r.kind as ClaimVote["kind"],
      reason: r.reason as string,
      confidence: Number(r.confidence),
      counted: r.counted === 1,
      atMs: Number(r.at_ms),
    }));
  }

  #causal(r: Row): CausalFact {
    const fact: CausalFact = {
      id: r.id as string,
      origin: r.origin as CausalFact["origin"],
      fact: _parse(r.fact_json),
      acceptedMs: Number(r.accepted_ms),
    };
    _set(fact, "subject", _opt<string>(r.subject));
    return _set(fact, "valueCanon", _opt<string>(r.value_canon));
  }

  /** {@inheritDoc StoreView.causalFact} */
  causalFact(id: string): CausalFact | undefined {
    const r = this.#stmt("SELECT * FROM causal_facts WHERE id = ?").get(id) as Row | undefined;
    return r === undefined ? undefined : this.#causal(r);
  }

  /** {@inheritDoc StoreView.causalFactsAbout} */
  causalFactsAbout(domain: string, subject: string): CausalFact[] {
    const rows = this.#stmt(
      "SELECT * FROM causal_facts WHERE domain = ? AND subject = ? ORDER BY accepted_ms, id",
    ).all(domain, subject) as Row[];
    return rows.map((r) => this.#causal(r));
  }

  /** {@inheritDoc StoreView.causalLinks} */
  causalLinks(id: string, direction: "from" | "to" = "from"): CausalLink[] {
    const sql = direction === "from"
      ? "SELECT * FROM causal_links WHERE from_id = ? ORDER BY relation, ref"
      : "SELECT * FROM causal_links WHERE ref = ? ORDER BY from_id, relation";
    return (this.#stmt(sql).all(id) as Row[]).map((r) => ({
      from: r.from_id as string,
      relation: r.relation as string,
      ref: r.ref as string,
    }));
  }

  /** {@inheritDoc StoreView.decision} */
  decision(decisionId: string): DecisionRecord | undefined {
    const r = this.#stmt("SELECT * FROM decisions WHERE decision_id = ? ORDER BY at_ms LIMIT 1")
      .get(decisionId) as Row | undefined;
    if (r === undefined) return undefined;
    const decision: DecisionRecord = {
      decisionId,
      peer: r.peer as string,
      msgId: r.msg_id as string,
      choice: r.choice as string,
      outcome: r.outcome as string,
      trace: _parse(r.trace_json),
      atMs: Number(r.at_ms),
    };
    _set(decision, "context", r.context_json === null ? undefined : _parse(r.context_json));
    return _set(decision, "retrospective", _opt<string>(r.retrospective));
  }

  /** {@inheritDoc StoreView.presence} */
  presence(peer: string): PresenceRecord | undefined {
    const r = this.#stmt("SELECT * FROM presence WHERE peer = ?").get(peer) as Row | undefined;
    if (r === undefined) return undefined;
    const record: PresenceRecord = {
      peer,
      presence: r.presence as PresenceRecord["presence"],
      lri: Number(r.lri),
      kernelSignals: _parse(r.kernel_json),
      updatedMs: Number(r.updated_ms),
    };
    _set(record, "peerView", _opt<PresenceRecord["peerView"]>(r.peer_view));
    return _set(record, "intent", _opt<string>(r.intent));
  }

  /** {@inheritDoc StoreView.handshake} */
  handshake(peer: string): HandshakeRecord | undefined {
    const r = this.#stmt("SELECT * FROM handshakes WHERE peer = ?").get(peer) as Row | undefined;
    if (r === undefined) return undefined;
    const record: HandshakeRecord = {
      peer,
      role: r.role as HandshakeRecord["role"],
      stage: r.stage as HandshakeRecord["stage"],
      ourNonce: r.our_nonce as string,
      ourChallenge: r.our_challenge as string,
      ourHelloId: r.our_hello_id as string,
      startedMs: Number(r.started_ms),
      deadlineMs: Number(r.deadline_ms),
    };
    _set(record, "theirNonce", _opt<string>(r.their_nonce));
    return _set(record, "theirHelloId", _opt<string>(r.their_hello_id));
  }

  /** {@inheritDoc StoreView.person} */
  person(person: string): PersonRecord | undefined {
    const r = this.#stmt("SELECT record_json FROM persons WHERE person = ?").get(person) as
      | Row
      | undefined;
    return r === undefined ? undefined : _parse<PersonRecord>(r.record_json);
  }

  /** {@inheritDoc StoreView.lipItem} */
  lipItem(id: string): LipQueueItem | undefined {
    const r = this.#stmt("SELECT record_json FROM lip_queue WHERE id = ?").get(id) as
      | Row
      | undefined;
    return r === undefined ? undefined : _parse<LipQueueItem>(r.record_json);
  }

  /** {@inheritDoc StoreView.lipItems} */
  lipItems(status: ClaimStatus, limit = 1000): LipQueueItem[] {
    const rows = this.#stmt(
      "SELECT record_json FROM lip_queue WHERE status = ? ORDER BY created_ms, id LIMIT ?",
    ).all(status, limit) as Row[];
    return rows.map((r) => _parse<LipQueueItem>(r.record_json));
  }

  /** {@inheritDoc StoreView.lipSource} */
  lipSource(uri: string): LipSourceRecord | undefined {
    const r = this.#stmt("SELECT * FROM lip_sources WHERE uri = ?").get(uri) as Row | undefined;
    if (r === undefined) return undefined;
    return {
      uri,
      tier: r.tier as LipSourceRecord["tier"],
      accurate: Number(r.accurate),
      inaccurate: Number(r.inaccurate),
      updatedMs: Number(r.updated_ms),
    };
  }

  /** {@inheritDoc StoreView.replayEntries} */
  replayEntries(sinceMs: number): ReplayEntry[] {
    const rows = this.#stmt("SELECT * FROM replay WHERE ts_ms >= ? ORDER BY ts_ms, sender, msg_id")
      .all(sinceMs) as Row[];
    return rows.map((r) => ({
      sender: r.sender as string,
      msgId: r.msg_id as string,
      timestampMs: Number(r.ts_ms),
    }));
  }

  /** `PRAGMA integrity_check`: `"ok"`, or the problems found, one per line. */
  integrityCheck(): string {
    const rows = this.#stmt("PRAGMA integrity_check").all() as Row[];
    return rows.map((r) => String(r.integrity_check)).join("\n");
  }

  /** Closes the database; safe to call twice. */
  close(): void {
    const db = this.#db;
    if (db === null) return;
    this.#db = null;
    this.#statements.clear();
    db.close();
  }

  /** Closes the database (`using store = openStore(...)`). */
  [Symbol.dispose](): void {
    this.close();
  }
}
