/**
 * The quotas over the `quota_usage` counters that the schema's triggers
 * count as rows are inserted, updated and deleted (rows per count quota,
 * bytes per peer and for the whole store; added up in memory by
 * `QuotaCounters` and written once per transaction), read to enforce them.
 * Internal to the store, except the defaults and their check.
 *
 * @module
 */

import type { QuotaCounters } from "./counters.ts";
import { QuotaExceededError } from "./errors.ts";
import type { TrustLogTable } from "./trust_log.ts";
import type {
  ByteCharge,
  ByteLevel,
  ByteQuotas,
  CountQuotaName,
  QuotaName,
  StoreQuotas,
} from "./types.ts";

const MiB = 1024 * 1024;

/** The default byte quotas (see {@linkcode ByteQuotas}). */
export const DEFAULT_BYTE_QUOTAS: Readonly<ByteQuotas> = Object.freeze({
  probing: MiB,
  trusted: 64 * MiB,
  total: 1024 * MiB,
  reserved: 512 * MiB,
});

/** The row of `quota_usage` holding the store's total (fingerprints are hex, so no peer is `*`). */
const _NODE = "*";

/**
 * Fills in and checks byte quotas.
 *
 * @param bytes The fields given; the rest take {@linkcode DEFAULT_BYTE_QUOTAS}.
 * @returns The byte quotas in force.
 * @throws {RangeError} If a limit is not a positive safe integer, or `reserved`
 *   is negative or not below `total`.
 *
 * @example
 * ```ts
 * import { byteQuotas } from "./quota.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(byteQuotas({ probing: 4096 }).trusted, 64 * 1024 * 1024);
 * assert.throws(() => byteQuotas({ reserved: 2 ** 31 }), RangeError);
 * ```
 */
export function byteQuotas(bytes: Partial<ByteQuotas> = {}): Readonly<ByteQuotas> {
  const q = { ...DEFAULT_BYTE_QUOTAS, ...bytes };
  for (const name of ["probing", "trusted", "total"] as const) {
    if (!(Number.isSafeInteger(q[name]) && q[name] >= 1)) {
      throw new RangeError(`Expected bytes.${name} to be a positive integer, got ${q[name]}`);
    }
  }
  if (!(Number.isSafeInteger(q.reserved) && q.reserved >= 0 && q.reserved < q.total)) {
    throw new RangeError(
      `Expected bytes.reserved to be an integer from 0 to below bytes.total (${q.total}), got ${q.reserved}`,
    );
  }
  return Object.freeze(q);
}

/** What a charged list found before it was applied. */
export interface ByteBaseline {
  /** The charged peer's bytes. */
  readonly peer: number;
  /** The store's total. */
  readonly total: number;
}

/** Reads the usage counters and enforces the quotas inside a transaction. */
export class QuotaUsage {
  readonly #counters: QuotaCounters;
  readonly #quotas: Readonly<StoreQuotas>;
  readonly #bytes: Readonly<ByteQuotas>;
  readonly #trustLog: TrustLogTable;

  /**
   * Wraps the connection's counters.
   *
   * @param counters The quota counters (in memory, written once per transaction).
   * @param quotas The count limits in force.
   * @param bytes The byte quotas in force.
   * @param trustLog The trust log, whose oldest ignored entries make room
   *   when a subject is over its `evidence` quota.
   */
  constructor(
    counters: QuotaCounters,
    quotas: Readonly<StoreQuotas>,
    bytes: Readonly<ByteQuotas>,
    trustLog: TrustLogTable,
  ) {
    this.#counters = counters;
    this.#quotas = quotas;
    this.#bytes = bytes;
    this.#trustLog = trustLog;
  }

  /**
   * How much of a quota a peer uses now.
   *
   * @param peer The peer.
   * @param quota Which quota (`node_bytes`: the store's total, whatever the peer).
   * @returns The count or bytes (0 if the peer never used it).
   */
  usage(peer: string, quota: QuotaName): number {
    return quota === "node_bytes"
      ? this.#counters.get(_NODE, "bytes")
      : this.#counters.get(peer, quota);
  }

  /**
   * Enforces one count quota inside the open transaction. Over its
   * `evidence` quota, a subject's oldest ignored trust-log entries are
   * dropped first.
   *
   * @param peer The peer.
   * @param quota Which quota.
   * @returns How many rows retention deleted to make room.
   * @throws {QuotaExceededError} If the peer is still over the limit.
   */
  enforce(peer: string, quota: CountQuotaName): number {
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

  /**
   * The byte quota of a level and the cap on the store's total a commit at
   * that level may reach (`total`, or `total - reserved` for `probing`).
   *
   * @param level The level.
   * @returns The per-peer limit and the total's cap.
   */
  limits(level: ByteLevel): { peer: number; total: number } {
    const b = this.#bytes;
    return {
      peer: level === "trusted" ? b.trusted : b.probing,
      total: level === "trusted" ? b.total : b.total - b.reserved,
    };
  }

  /**
   * Before a charged list is applied: refuses it when the peer is already
   * at its byte limit or the store's total at the level's cap, so an
   * over-quota peer's message writes nothing at all.
   *
   * @param charge The peer and its level.
   * @returns The usage the list starts from (for {@linkcode QuotaUsage.checkGrowth}).
   * @throws {QuotaExceededError} `bytes` or `node_bytes`.
   */
  checkRoom(charge: ByteCharge): ByteBaseline {
    const limits = this.limits(charge.level);
    const baseline = this.#bytesOf(charge.peer);
    this.#refuse(charge, limits, baseline.peer, baseline.total, (used, limit) => used >= limit);
    return baseline;
  }

  /**
   * After a charged list was applied (inside its savepoint): refuses it if
   * it grew the peer's bytes past its limit or the total past the level's
   * cap. What did not grow is never refused (an update, a deletion), so
   * data kept over a lowered quota stays, and only growth is refused.
   *
   * @param charge The peer and its level.
   * @param baseline What {@linkcode QuotaUsage.checkRoom} returned.
   * @throws {QuotaExceededError} `bytes` or `node_bytes`.
   */
  checkGrowth(charge: ByteCharge, baseline: ByteBaseline): void {
    const limits = this.limits(charge.level);
    const { peer, total } = this.#bytesOf(charge.peer);
    this.#refuse(
      charge,
      limits,
      peer > baseline.peer ? peer : 0,
      total > baseline.total ? total : 0,
      (
        used,
        limit,
      ) => used > limit,
    );
  }

  #bytesOf(peer: string): ByteBaseline {
    return { peer: this.#counters.get(peer, "bytes"), total: this.#counters.get(_NODE, "bytes") };
  }

  #refuse(
    charge: ByteCharge,
    limits: { peer: number; total: number },
    peer: number,
    total: number,
    over: (used: number, limit: number) => boolean,
  ): void {
    if (over(peer, limits.peer)) {
      throw new QuotaExceededError(charge.peer, "bytes", limits.peer, peer);
    }
    if (over(total, limits.total)) {
      throw new QuotaExceededError(charge.peer, "node_bytes", limits.total, total, charge.level);
    }
  }
}
