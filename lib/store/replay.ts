/**
 * The `replay` table: the replay guard's window of `(sender, msg_id)`
 * pairs, written by `replay.add`, pruned by age, and read back after a
 * restart. Keyed by envelope time (migration 3), so a new pair is an
 * append, not an insert at a random place of a `(sender, msg_id)` key.
 * Internal to the store.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { ReplayEntry } from "../envelope/mod.ts";
import { type Row, Statement } from "./rows.ts";
import type { WriteContext, Writers } from "./writers.ts";

/**
 * Replay pairs with their envelope time. A pair counts against its
 * sender's `replay` quota; adding a known pair again (the same time)
 * changes nothing.
 */
export class ReplayTable {
  /** The writer of `replay.add`. */
  readonly writers: Writers<"replay.add"> = {
    "replay.add": (change, context) => this.add(change.entry, context),
  };
  readonly #insert: Statement;
  readonly #since: Statement;
  readonly #prune: Statement;

  /**
   * Prepares the table's statements.
   *
   * @param db The migrated connection.
   */
  constructor(db: DatabaseSync) {
    this.#insert = new Statement(
      db,
      "INSERT OR IGNORE INTO replay (sender, msg_id, ts_ms) VALUES (?, ?, ?)",
    );
    this.#since = new Statement(
      db,
      "SELECT * FROM replay WHERE ts_ms >= ? ORDER BY ts_ms, sender, msg_id",
    );
    this.#prune = new Statement(db, "DELETE FROM replay WHERE ts_ms < ?");
  }

  /**
   * Remembers a pair; marks the sender's `replay` quota.
   *
   * @param entry The pair and its envelope time.
   * @param context Where the quota is marked.
   */
  add(entry: ReplayEntry, context: WriteContext): void {
    this.#insert.run(entry.sender, entry.msgId, entry.timestampMs);
    context.touch(entry.sender, "replay");
  }

  /**
   * Pairs with envelope time at or after `sinceMs`, oldest first.
   *
   * @param sinceMs The start of the window.
   * @returns The pairs.
   */
  since(sinceMs: number): ReplayEntry[] {
    return (this.#since.all(sinceMs) as Row[]).map((r) => ({
      sender: r.sender as string,
      msgId: r.msg_id as string,
      timestampMs: Number(r.ts_ms),
    }));
  }

  /**
   * Time-based retention: deletes every pair older than `beforeMs`.
   *
   * @param beforeMs The cut-off envelope time.
   * @returns How many pairs were deleted.
   */
  prune(beforeMs: number): number {
    return Number(this.#prune.run(beforeMs).changes);
  }
}
