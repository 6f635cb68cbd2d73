/**
 * The quota counters in memory: what the schema's triggers count (rows per
 * count quota, bytes per peer and for the whole store) is added up here,
 * through the SQL function the triggers call ({@linkcode COUNT_FUNCTION}),
 * and written to `quota_usage` once per transaction, right before its
 * `COMMIT`. So the counters on disk always equal their rows at every
 * commit (a `kill -9` loses both or neither), and a message costs no
 * counter statement of its own. Internal to the store.
 *
 * @module
 */

import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import type { Row } from "./rows.ts";

/**
 * The SQL function the counting triggers call (migration 3):
 * `web4_count(peer, quota, rows, bytes)` adds `rows` to the peer's count
 * quota `quota` (unless `quota` is NULL), and `bytes` to the peer's `bytes`
 * (unless `peer` is NULL: a row of the node's own) and to the node's total
 * (peer `*`).
 */
export const COUNT_FUNCTION = "web4_count";

/** The peer of the node's total (fingerprints are hex, so no peer is `*`). */
const _NODE = "*";

/** Counters written by one statement at most when a transaction commits. */
export const FLUSH_ROWS = 16;

/** Committed counters kept in memory at most (a cache: a forgotten one is read again). */
export const COUNTER_CACHE_MAX = 4096;

function _key(peer: string, quota: string): string {
  return `${quota}\n${peer}`;
}

/**
 * The counters of one connection: the committed values read from
 * `quota_usage` (a bounded cache) plus the open transaction's changes,
 * which follow its savepoints and are written once at its commit.
 *
 * @example Counted by a trigger, written at the commit
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { QuotaCounters } from "./counters.ts";
 * import assert from "node:assert/strict";
 *
 * const db = new DatabaseSync(":memory:");
 * const counters = new QuotaCounters(db);
 * db.exec(`CREATE TABLE quota_usage (peer TEXT, quota TEXT, n INTEGER, PRIMARY KEY (peer, quota));
 *   CREATE TABLE t (peer TEXT);
 *   CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN SELECT web4_count(NEW.peer, 'rows', 1, 0); END;`);
 * db.exec("BEGIN; INSERT INTO t VALUES ('p'), ('p');");
 * assert.equal(counters.get("p", "rows"), 2); // counted, not yet written
 * counters.flush();
 * db.exec("COMMIT");
 * counters.committed();
 * assert.equal(db.prepare("SELECT n FROM quota_usage").get()?.n, 2);
 * db.close();
 * ```
 */
export class QuotaCounters {
  readonly #db: DatabaseSync;
  #read: StatementSync | undefined;
  /** The flush statements by how many counters they write. */
  #writes: StatementSync[] = [];
  /** Committed values by key (`quota\npeer`), as read or last written. */
  #cache = new Map<string, number>();
  /** The open transaction's changes by key. */
  #delta = new Map<string, { peer: string; quota: string; n: number }>();
  /** The changes as they were when each open savepoint began (index 0: the first). */
  #marks: Map<string, { peer: string; quota: string; n: number }>[] = [];

  /**
   * Registers the counting function on the connection (before the
   * migrations run: migration 3's triggers call it).
   *
   * @param db The connection.
   */
  constructor(db: DatabaseSync) {
    this.#db = db;
    db.function(COUNT_FUNCTION, { deterministic: false }, (peer, quota, rows, bytes) => {
      if (
        (peer !== null && typeof peer !== "string") || (quota !== null && typeof quota !== "string")
      ) {
        throw new TypeError(
          `${COUNT_FUNCTION} needs a peer and a quota or NULL, got ${peer}, ${quota}`,
        );
      }
      if (peer !== null && quota !== null) this.add(peer, quota, Number(rows));
      const n = Number(bytes);
      if (peer !== null) this.add(peer, "bytes", n);
      this.add(_NODE, "bytes", n);
      return null;
    });
  }

  /**
   * Adds to a counter in the open transaction.
   *
   * @param peer The peer (`*` for the store's total).
   * @param quota The counter.
   * @param n How much (negative for rows deleted).
   */
  add(peer: string, quota: string, n: number): void {
    if (n === 0) return;
    const key = _key(peer, quota);
    const entry = this.#delta.get(key);
    if (entry === undefined) this.#delta.set(key, { peer, quota, n });
    else entry.n += n;
  }

  /**
   * A counter's value now, in the open transaction if there is one.
   *
   * @param peer The peer (`*` for the store's total).
   * @param quota The counter.
   * @returns Its value (0 if never counted).
   */
  get(peer: string, quota: string): number {
    const key = _key(peer, quota);
    let base = this.#cache.get(key);
    if (base === undefined) {
      this.#read ??= this.#db.prepare("SELECT n FROM quota_usage WHERE peer = ? AND quota = ?");
      const row = this.#read.get(peer, quota) as Row | undefined;
      base = row === undefined ? 0 : Number(row.n);
      if (this.#cache.size >= COUNTER_CACHE_MAX) this.#cache.clear();
      this.#cache.set(key, base);
    }
    return base + (this.#delta.get(key)?.n ?? 0);
  }

  /** A savepoint began: remember the changes so far. */
  savepoint(): void {
    this.#marks.push(new Map([...this.#delta].map(([k, v]) => [k, { ...v }])));
  }

  /** The innermost savepoint was released: its changes stay. */
  released(): void {
    this.#marks.pop();
  }

  /** The innermost savepoint was rolled back: its changes go. */
  rolledBackTo(): void {
    this.#delta = this.#marks.pop() ?? new Map();
  }

  /**
   * Writes the open transaction's changes to `quota_usage` (right before
   * its `COMMIT`): one statement for up to {@linkcode FLUSH_ROWS} counters.
   */
  flush(): void {
    const rows: SQLInputValue[] = [];
    for (const { peer, quota, n } of this.#delta.values()) {
      if (n !== 0) rows.push(peer, quota, n);
    }
    for (let at = 0; at < rows.length; at += 3 * FLUSH_ROWS) {
      const chunk = rows.slice(at, at + 3 * FLUSH_ROWS);
      this.#upsert(chunk.length / 3).run(...chunk);
    }
  }

  /** The statement adding `count` counters at once (prepared once per count). */
  #upsert(count: number): StatementSync {
    let statement = this.#writes[count];
    if (statement === undefined) {
      statement = this.#db.prepare(
        `INSERT INTO quota_usage (peer, quota, n) VALUES ${
          Array.from({ length: count }, () => "(?, ?, ?)").join(", ")
        } ON CONFLICT (peer, quota) DO UPDATE SET n = n + excluded.n`,
      );
      this.#writes[count] = statement;
    }
    return statement;
  }

  /** The transaction committed: its changes are the committed values now. */
  committed(): void {
    for (const [key, { n }] of this.#delta) {
      const base = this.#cache.get(key);
      if (base !== undefined) this.#cache.set(key, base + n);
    }
    this.#delta.clear();
    this.#marks = [];
  }

  /** The whole transaction was rolled back: its changes go. */
  rolledBack(): void {
    this.#delta.clear();
    this.#marks = [];
  }

  /** Forgets the committed values read (after something else wrote `quota_usage`: a migration). */
  forget(): void {
    this.#cache.clear();
  }
}
