/**
 * The SQLite implementation of {@linkcode Store}, on `node:sqlite` (built
 * into Deno 2.9): one file per agent, WAL journal, `synchronous=NORMAL`,
 * foreign keys on, versioned schema, one transaction per commit. The
 * tables' statements live in their own modules (see `tables.ts`); this
 * one opens, migrates, and runs commits and write groups.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { ReplayEntry } from "../envelope/mod.ts";
import { StoreError } from "./errors.ts";
import { type Page, type PageQuery, readPage } from "./page.ts";
import type { Row } from "./rows.ts";
import {
  DEFAULT_WAL_BYTES,
  openConnection,
  positiveLimit,
  STORE_PRAGMAS,
  type StorePragma,
} from "./connection.ts";
import { QuotaCounters } from "./counters.ts";
import { byteQuotas } from "./quota.ts";
import { type Migration, MIGRATIONS } from "./schema.ts";
import { openTables, type Tables } from "./tables.ts";
import { Transactions } from "./transaction.ts";
import { Commits } from "./commits.ts";
import type {
  ByteQuotas,
  CausalFact,
  CausalLink,
  ClaimRecord,
  ClaimStatus,
  ClaimVote,
  CommitOptions,
  CommitResult,
  CountQuotaName,
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
  StoredTrustLogEntry,
  StoreQuotas,
  TrustLogQuery,
  TrustMachine,
  TrustRecord,
} from "./types.ts";
import { systemClock } from "../ports/mod.ts";

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

/** Options of {@linkcode openStore}. */
export interface StoreOptions {
  /** Per-peer count quotas; missing ones take {@linkcode DEFAULT_QUOTAS}. */
  quotas?: Partial<StoreQuotas> | undefined;
  /** Byte quotas (per peer by level, the total, the reserve); missing ones take `DEFAULT_BYTE_QUOTAS`. */
  bytes?: Partial<ByteQuotas> | undefined;
  /**
   * The WAL file's bound: a commit that leaves more than this in the WAL
   * checkpoints it (`wal_autocheckpoint`), and a checkpointed WAL is
   * truncated back to it (`journal_size_limit`). The WAL then holds at most
   * this plus the last transaction. @default {4194304} (4 MiB)
   */
  walBytes?: number | undefined;
  /** Retention; missing fields take {@linkcode DEFAULT_RETENTION}. */
  retention?: Partial<RetentionPolicy> | undefined;
  /** Clock in milliseconds since the epoch. @default {systemClock.now} */
  now?: (() => number) | undefined;
  /** The migrations to apply (tests only). @default {MIGRATIONS} */
  migrations?: readonly Migration[] | undefined;
}

const _QUOTA_NAMES: readonly CountQuotaName[] = ["claims", "lip_queue", "evidence", "replay"];

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
  /** The per-peer count quotas in force. */
  readonly quotas: Readonly<StoreQuotas>;
  /** The byte quotas in force. */
  readonly byteQuotas: Readonly<ByteQuotas>;
  /** The WAL bound in force (see {@linkcode StoreOptions.walBytes}). */
  readonly walBytes: number;
  /** The retention policy in force. */
  readonly retention: Readonly<RetentionPolicy>;
  #db: DatabaseSync | null;
  /** The table modules; `null` once closed. */
  #tables: Tables | null = null;
  readonly #tx: Transactions;
  readonly #now: () => number;
  /** Commits, write groups and time-based retention. */
  readonly #commits: Commits;
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
    for (const name of _QUOTA_NAMES) positiveLimit(`quotas.${name}`, quotas[name]);
    const retention = { ...DEFAULT_RETENTION, ...options.retention };
    positiveLimit("retention.ignoredMaxAgeMs", retention.ignoredMaxAgeMs);
    positiveLimit("retention.replayWindowMs", retention.replayWindowMs);
    this.byteQuotas = byteQuotas(options.bytes);
    this.walBytes = positiveLimit("walBytes", options.walBytes ?? DEFAULT_WAL_BYTES);
    this.path = path;
    this.quotas = Object.freeze(quotas);
    this.retention = Object.freeze(retention);
    this.#now = options.now ?? systemClock.now;
    // A fresh in-memory store starts from a copy of one the migrations built
    // (once per process): the same schema, without running them again.
    const fresh = path === ":memory:" && options.migrations === undefined;
    const db = openConnection(
      path,
      this.walBytes,
      fresh ? SqliteStore.#freshImage(this.#now) : undefined,
    );
    this.#db = db;
    // Registered before the migrations: migration 3's triggers call it.
    const counters = new QuotaCounters(db);
    this.#tx = new Transactions(db, {
      observer: counters,
      onRollback: (outermost) => this.#commits.rolledBack(outermost),
    });
    this.#commits = new Commits({
      path,
      tx: this.#tx,
      now: this.#now,
      retention: this.retention,
      open: () => this.#open(),
      tablesIfOpen: () => this.#tables,
    });
    try {
      this.#migrate(db, options.migrations ?? MIGRATIONS);
      counters.forget(); // a migration may have written the counters directly
      this.#tables = openTables(db, this.quotas, this.byteQuotas, counters);
    } catch (error) {
      db.close();
      this.#db = null;
      throw error;
    }
  }

  /** An empty in-memory store with every migration applied, as bytes (built once per process). */
  static #fresh: Uint8Array | undefined;

  static #freshImage(now: () => number): Uint8Array {
    if (SqliteStore.#fresh === undefined) {
      const store = new SqliteStore(":memory:", { migrations: MIGRATIONS, now });
      try {
        SqliteStore.#fresh = store.#openDb().serialize();
      } finally {
        store.close();
      }
    }
    return SqliteStore.#fresh;
  }

  /** The schema version of the open database. */
  get schemaVersion(): number {
    return this.#schemaVersion;
  }

  /**
   * Reads one of the settings the store relies on.
   *
   * @param name `journal_mode` (`"wal"` for files, `"memory"` for `:memory:`),
   *   `synchronous` (`1` = NORMAL), `foreign_keys` (`1`), `user_version`, or the
   *   WAL bound's `journal_size_limit` (bytes) and `wal_autocheckpoint` (pages).
   * @returns The value SQLite reports.
   * @throws {TypeError} If `name` is not one of these.
   */
  pragma(name: StorePragma): string | number {
    if (!STORE_PRAGMAS.includes(name)) {
      throw new TypeError(`Unknown store pragma ${JSON.stringify(name)}`);
    }
    const row = this.#openDb().prepare(`PRAGMA ${name}`).get() as Row;
    return row[name] as string | number;
  }

  #migrate(db: DatabaseSync, migrations: readonly Migration[]): void {
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
      try {
        this.#tx.run(() => {
          db.exec(migration.sql);
          db.prepare("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)")
            .run(migration.version, migration.name, this.#now());
          db.exec(`PRAGMA user_version = ${Number(migration.version)}`);
        });
      } catch (error) {
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

  /** The open connection. */
  #openDb(): DatabaseSync {
    if (this.#db === null) throw new StoreError("STORE_CLOSED", `Store ${this.path} is closed`);
    return this.#db;
  }

  /** The table modules of the open store. */
  #open(): Tables {
    if (this.#tables === null) {
      throw new StoreError("STORE_CLOSED", `Store ${this.path} is closed`);
    }
    return this.#tables;
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
    const [result] = this.commitBatch([changes], options);
    if (result instanceof Error) throw result;
    return result!;
  }

  /** Whether a write group is open ({@linkcode SqliteStore.beginGroup}). */
  get inGroup(): boolean {
    return this.#commits.inGroup;
  }

  /**
   * Opens a write group: until {@linkcode SqliteStore.endGroup}, each
   * `commit` applies its list inside one shared transaction (all or nothing
   * per list, without a savepoint (see `commits.ts`); a refused list throws as usual and
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
    this.#commits.begin(options);
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
    this.#commits.end();
  }

  /**
   * Rolls the open group back: nothing applied since
   * {@linkcode SqliteStore.beginGroup} is stored.
   *
   * @throws {StoreError} `STORE_CLOSED`, or `STORE_INVALID_CHANGE` when no group is open.
   */
  abortGroup(): void {
    this.#commits.abort();
  }

  /**
   * Group commit: applies several change lists (one per message) in one
   * transaction, each all or nothing on its own (no savepoint each). A list
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
    return this.#commits.batch(batches, options);
  }

  /** {@inheritDoc StoreView.usage} */
  usage(peer: string, quota: QuotaName): number {
    return this.#open().quota.usage(peer, quota);
  }

  /** {@inheritDoc StoreView.totalBytes} */
  totalBytes(): number {
    return this.#open().quota.usage("", "node_bytes");
  }

  /** {@inheritDoc StoreView.trust} */
  trust(machine: TrustMachine, subject: string): TrustRecord | undefined {
    return this.#open().trust.get(machine, subject);
  }

  /** {@inheritDoc StoreView.trustLog} */
  trustLog(subject: string, query: TrustLogQuery = {}): StoredTrustLogEntry[] {
    return this.#open().trustLog.read(subject, query);
  }

  /** {@inheritDoc StoreView.claim} */
  claim(id: string): ClaimRecord | undefined {
    return this.#open().claims.get(id);
  }

  /** {@inheritDoc StoreView.claimsBy} */
  claimsBy(peer: string, status?: ClaimStatus): ClaimRecord[] {
    return this.#open().claims.by(peer, status);
  }

  /** {@inheritDoc StoreView.claimsAbout} */
  claimsAbout(domain: string, subject: string): ClaimRecord[] {
    return this.#open().claims.about(domain, subject);
  }

  /** {@inheritDoc StoreView.votes} */
  votes(claimId: string): ClaimVote[] {
    return this.#open().claims.votes(claimId);
  }

  /** {@inheritDoc StoreView.causalFact} */
  causalFact(id: string): CausalFact | undefined {
    return this.#open().memory.fact(id);
  }

  /** {@inheritDoc StoreView.causalFactsAbout} */
  causalFactsAbout(domain: string, subject: string): CausalFact[] {
    return this.#open().memory.factsAbout(domain, subject);
  }

  /** {@inheritDoc StoreView.causalFactsIn} */
  causalFactsIn(domain: string, limit = 20): CausalFact[] {
    if (!(Number.isSafeInteger(limit) && limit >= 1 && limit <= 1000)) {
      throw new RangeError(`Expected a limit from 1 to 1000, got ${limit}`);
    }
    return this.#open().memory.factsIn(domain, limit);
  }

  /** {@inheritDoc StoreView.causalLinks} */
  causalLinks(id: string, direction: "from" | "to" = "from"): CausalLink[] {
    return this.#open().memory.links(id, direction);
  }

  /** {@inheritDoc StoreView.decision} */
  decision(decisionId: string): DecisionRecord | undefined {
    return this.#open().memory.decision(decisionId);
  }

  /** {@inheritDoc StoreView.presence} */
  presence(peer: string): PresenceRecord | undefined {
    return this.#open().presence.get(peer);
  }

  /** {@inheritDoc StoreView.handshake} */
  handshake(peer: string): HandshakeRecord | undefined {
    return this.#open().handshakes.get(peer);
  }

  /** {@inheritDoc StoreView.person} */
  person(person: string): PersonRecord | undefined {
    return this.#open().persons.get(person);
  }

  /** {@inheritDoc StoreView.lipItem} */
  lipItem(id: string): LipQueueItem | undefined {
    return this.#open().lip.item(id);
  }

  /** {@inheritDoc StoreView.lipItems} */
  lipItems(status: ClaimStatus, limit = 1000): LipQueueItem[] {
    return this.#open().lip.items(status, limit);
  }

  /** {@inheritDoc StoreView.claimsPage} */
  claimsPage(status: ClaimStatus, query: PageQuery): Page<ClaimRecord> {
    const claims = this.#open().claims;
    return readPage(query, (after, limit) => claims.page(status, after, limit));
  }

  /** {@inheritDoc StoreView.lipItemsPage} */
  lipItemsPage(status: ClaimStatus, query: PageQuery): Page<LipQueueItem> {
    const lip = this.#open().lip;
    return readPage(query, (after, limit) => lip.page(status, after, limit));
  }

  /** {@inheritDoc StoreView.lipSource} */
  lipSource(uri: string): LipSourceRecord | undefined {
    return this.#open().lip.source(uri);
  }

  /** {@inheritDoc StoreView.replayEntries} */
  replayEntries(sinceMs: number): ReplayEntry[] {
    return this.#open().replay.since(sinceMs);
  }

  /** `PRAGMA integrity_check`: `"ok"`, or the problems found, one per line. */
  integrityCheck(): string {
    const rows = this.#openDb().prepare("PRAGMA integrity_check").all() as Row[];
    return rows.map((r) => String(r.integrity_check)).join("\n");
  }

  /** Closes the database; safe to call twice. */
  close(): void {
    const db = this.#db;
    if (db === null) return;
    this.#db = null;
    this.#tables = null;
    db.close();
  }

  /** Closes the database (`using store = openStore(...)`). */
  [Symbol.dispose](): void {
    this.close();
  }
}
