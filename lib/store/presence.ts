/**
 * The `presence` table: each CIP peer's last reported presence and load,
 * written by `presence.set`. Internal to the store.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { fromJson, optional, type Row, setDefined, Statement, toJson } from "./rows.ts";
import type { PresenceRecord } from "./types.ts";
import type { Writers } from "./writers.ts";

/** One presence record per peer, replaced by each report. */
export class PresenceTable {
  /** The writer of `presence.set`. */
  readonly writers: Writers<"presence.set"> = {
    "presence.set": (change) => this.set(change.record),
  };
  readonly #replace: Statement;
  readonly #get: Statement;

  /**
   * Prepares the table's statements.
   *
   * @param db The migrated connection.
   */
  constructor(db: DatabaseSync) {
    this.#replace = new Statement(
      db,
      `INSERT OR REPLACE INTO presence (peer, presence, lri, peer_view, kernel_json, intent, updated_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#get = new Statement(db, "SELECT * FROM presence WHERE peer = ?");
  }

  /**
   * Sets a peer's presence and load.
   *
   * @param record The report; `lri` must be 0..100 (a `CHECK` constraint).
   */
  set(record: PresenceRecord): void {
    this.#replace.run(
      record.peer,
      record.presence,
      record.lri,
      record.peerView ?? null,
      toJson(record.kernelSignals),
      record.intent ?? null,
      record.updatedMs,
    );
  }

  /**
   * A peer's last report.
   *
   * @param peer The peer.
   * @returns The record, or `undefined` if it never reported.
   */
  get(peer: string): PresenceRecord | undefined {
    const r = this.#get.get(peer) as Row | undefined;
    if (r === undefined) return undefined;
    const record: PresenceRecord = {
      peer,
      presence: r.presence as PresenceRecord["presence"],
      lri: Number(r.lri),
      kernelSignals: fromJson(r.kernel_json),
      updatedMs: Number(r.updated_ms),
    };
    setDefined(record, "peerView", optional<PresenceRecord["peerView"]>(r.peer_view));
    return setDefined(record, "intent", optional<string>(r.intent));
  }
}
