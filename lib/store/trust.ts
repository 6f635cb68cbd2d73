/**
 * The `trust` table: each subject's current trust record, written by
 * `trust.state` and read through a small most-recently-used cache.
 * Internal to the store.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { fromJson, RecentRows, type Row, Statement, toJson } from "./rows.ts";
import type { TrustMachine, TrustRecord, TrustState } from "./types.ts";
import type { Writers } from "./writers.ts";

/** Trust records kept in memory at most (the most recently used). */
const _CACHE_MAX = 4096;

/**
 * Trust records, one per machine and subject. Reads go through a cache
 * of the records last read or written; the store calls
 * {@linkcode TrustTable.forgetCached} after every rollback, so the cache
 * never holds a state that was not committed.
 */
export class TrustTable {
  /** The writer of `trust.state`. */
  readonly writers: Writers<"trust.state"> = {
    "trust.state": (change) => this.put(change.record),
  };
  readonly #upsert: Statement;
  readonly #get: Statement;
  /** Records by `machine\nsubject` (`null`: no row), least recently used first. */
  readonly #cache = new RecentRows<TrustRecord>(_CACHE_MAX);

  /**
   * Prepares the table's statements.
   *
   * @param db The migrated connection.
   */
  constructor(db: DatabaseSync) {
    this.#upsert = new Statement(
      db,
      `INSERT INTO trust (machine, subject, state, since_ms, cooldown_until_ms, malice_count, strikes_json)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (machine, subject) DO UPDATE SET state = excluded.state,
         since_ms = excluded.since_ms, cooldown_until_ms = excluded.cooldown_until_ms,
         malice_count = excluded.malice_count, strikes_json = excluded.strikes_json`,
    );
    this.#get = new Statement(db, "SELECT * FROM trust WHERE machine = ? AND subject = ?");
  }

  /**
   * Inserts or replaces a subject's record.
   *
   * @param record The record.
   */
  put(record: TrustRecord): void {
    this.#cache.remember(_key(record.machine, record.subject), {
      ...record,
      strikesMs: [...record.strikesMs],
    });
    this.#upsert.run(
      record.machine,
      record.subject,
      record.state,
      record.sinceMs,
      record.cooldownUntilMs,
      record.maliceCount,
      toJson(record.strikesMs),
    );
  }

  /**
   * A subject's record, if one exists: a copy the caller may change.
   *
   * @param machine Which machine.
   * @param subject The peer's or person's fingerprint.
   * @returns The record, or `undefined`.
   */
  get(machine: TrustMachine, subject: string): TrustRecord | undefined {
    const key = _key(machine, subject);
    let record = this.#cache.get(key);
    if (record === undefined) {
      const r = this.#get.get(machine, subject) as Row | undefined;
      record = r === undefined ? null : {
        machine,
        subject,
        state: r.state as TrustState,
        sinceMs: Number(r.since_ms),
        cooldownUntilMs: Number(r.cooldown_until_ms),
        maliceCount: Number(r.malice_count),
        strikesMs: fromJson<number[]>(r.strikes_json),
      };
      this.#cache.remember(key, record);
    }
    return record === null ? undefined : { ...record, strikesMs: [...record.strikesMs] };
  }

  /** Empties the cache (after a rollback). */
  forgetCached(): void {
    this.#cache.clear();
  }
}

function _key(machine: TrustMachine, subject: string): string {
  return `${machine}\n${subject}`;
}
