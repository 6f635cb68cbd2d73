/**
 * The `trust_log` and `trust_evidence` tables: every trust transition (and
 * ignored event) with the `msg_id`s that are its evidence, written by
 * `trust.log`, and the log's retention. Internal to the store.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { optional, type Row, setDefined, Statement } from "./rows.ts";
import type {
  StoredTrustLogEntry,
  TrustLogEntry,
  TrustLogQuery,
  TrustMachine,
  TrustState,
} from "./types.ts";
import type { WriteContext, Writers } from "./writers.ts";

/**
 * The trust log. An entry counts against its subject's `evidence` quota
 * (one per entry, whatever its number of evidence rows); retention drops
 * ignored entries (`changed: false`), never transitions.
 */
export class TrustLogTable {
  /** The writer of `trust.log`. */
  readonly writers: Writers<"trust.log"> = {
    "trust.log": (change, context) => this.append(change.entry, context),
  };
  readonly #insert: Statement;
  readonly #insertEvidence: Statement;
  readonly #select: Statement;
  readonly #selectEvidence: Statement;
  readonly #pruneIgnored: Statement;
  readonly #dropOldestIgnored: Statement;

  /**
   * Prepares the tables' statements.
   *
   * @param db The migrated connection.
   */
  constructor(db: DatabaseSync) {
    this.#insert = new Statement(
      db,
      `INSERT INTO trust_log (machine, subject, at_ms, event, from_state, to_state, changed, reason, actor)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#insertEvidence = new Statement(
      db,
      "INSERT INTO trust_evidence (log_id, seq, msg_id) VALUES (?, ?, ?)",
    );
    this.#select = new Statement(
      db,
      `SELECT * FROM (SELECT * FROM trust_log WHERE subject = ? AND at_ms >= ?
         AND (? IS NULL OR machine = ?) ORDER BY id DESC LIMIT ?) ORDER BY id`,
    );
    this.#selectEvidence = new Statement(
      db,
      "SELECT msg_id FROM trust_evidence WHERE log_id = ? ORDER BY seq",
    );
    this.#pruneIgnored = new Statement(db, "DELETE FROM trust_log WHERE changed = 0 AND at_ms < ?");
    this.#dropOldestIgnored = new Statement(
      db,
      `DELETE FROM trust_log WHERE id IN (
         SELECT id FROM trust_log WHERE subject = ? AND changed = 0 ORDER BY id LIMIT ?)`,
    );
  }

  /**
   * Appends an entry and its evidence rows; marks the subject's
   * `evidence` quota.
   *
   * @param entry The entry.
   * @param context Where the quota is marked.
   */
  append(entry: TrustLogEntry, context: WriteContext): void {
    const { lastInsertRowid: logId } = this.#insert.run(
      entry.machine,
      entry.subject,
      entry.atMs,
      entry.event,
      entry.from,
      entry.to,
      entry.changed ? 1 : 0,
      entry.reason,
      entry.actor ?? null,
    );
    entry.evidence.forEach((msgId, seq) => this.#insertEvidence.run(logId, seq, msgId));
    context.touch(entry.subject, "evidence");
  }

  /**
   * A subject's log, oldest first.
   *
   * @param subject The peer's or person's fingerprint.
   * @param query Machine, start time, and the most entries (newest kept).
   * @returns The entries with their evidence.
   */
  read(subject: string, query: TrustLogQuery = {}): StoredTrustLogEntry[] {
    const rows = this.#select.all(
      subject,
      query.sinceMs ?? -Number.MAX_SAFE_INTEGER,
      query.machine ?? null,
      query.machine ?? null,
      query.limit ?? 1000,
    ) as Row[];
    return rows.map((r) =>
      setDefined<StoredTrustLogEntry, "actor">(
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
          evidence: (this.#selectEvidence.all(r.id as number) as Row[]).map((e) =>
            e.msg_id as string
          ),
        },
        "actor",
        optional<string>(r.actor),
      )
    );
  }

  /**
   * Time-based retention: deletes every ignored entry older than `beforeMs`.
   *
   * @param beforeMs The cut-off time.
   * @returns How many entries were deleted.
   */
  pruneIgnored(beforeMs: number): number {
    return Number(this.#pruneIgnored.run(beforeMs).changes);
  }

  /**
   * Count-based retention: deletes a subject's `count` oldest ignored
   * entries (fewer if it has fewer).
   *
   * @param subject The subject over its quota.
   * @param count How many to drop.
   * @returns How many entries were deleted.
   */
  dropOldestIgnored(subject: string, count: number): number {
    return Number(this.#dropOldestIgnored.run(subject, count).changes);
  }
}
