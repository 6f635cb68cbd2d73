/**
 * The `quota_usage` table: per-peer counters that the schema's triggers
 * keep as rows are inserted and deleted, read to enforce the quotas.
 * Internal to the store.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { QuotaExceededError } from "./errors.ts";
import type { Row } from "./rows.ts";
import type { TrustLogTable } from "./trust_log.ts";
import type { QuotaName, StoreQuotas } from "./types.ts";

/** Reads the usage counters and enforces the quotas inside a transaction. */
export class QuotaUsage {
  readonly #get: StatementSync;
  readonly #quotas: Readonly<StoreQuotas>;
  readonly #trustLog: TrustLogTable;

  /**
   * Prepares the table's statement.
   *
   * @param db The migrated connection.
   * @param quotas The limits in force.
   * @param trustLog The trust log, whose oldest ignored entries make room
   *   when a subject is over its `evidence` quota.
   */
  constructor(db: DatabaseSync, quotas: Readonly<StoreQuotas>, trustLog: TrustLogTable) {
    this.#get = db.prepare("SELECT n FROM quota_usage WHERE peer = ? AND quota = ?");
    this.#quotas = quotas;
    this.#trustLog = trustLog;
  }

  /**
   * How much of a quota a peer uses now.
   *
   * @param peer The peer.
   * @param quota Which quota.
   * @returns The count (0 if the peer never used it).
   */
  usage(peer: string, quota: QuotaName): number {
    const row = this.#get.get(peer, quota) as Row | undefined;
    return row === undefined ? 0 : Number(row.n);
  }

  /**
   * Enforces one quota inside the open transaction. Over its `evidence`
   * quota, a subject's oldest ignored trust-log entries are dropped first.
   *
   * @param peer The peer.
   * @param quota Which quota.
   * @returns How many rows retention deleted to make room.
   * @throws {QuotaExceededError} If the peer is still over the limit.
   */
  enforce(peer: string, quota: QuotaName): number {
    const limit = this.#quotas[quota];
    let used = this.usage(peer, quota);
    let pruned = 0;
    if (used > limit && quota === "evidence") {
      pruned = this.#trustLog.dropOldestIgnored(peer, used - limit);
      used -= pruned;
    }
    if (used > limit) throw new QuotaExceededError(peer, quota, limit, used);
    return pruned;
  }
}
