/**
 * Internal: how a `SqliteStore` commits. Change lists are applied
 * through the writers in one transaction (a plain commit, a batch, or a
 * write group spanning `beginGroup`..`endGroup`), each list all or nothing
 * without a savepoint of its own (`UnitsWithoutSavepoints`), its quotas
 * checked after it; time-based retention (old ignored trust-log entries,
 * replay pairs past their window) runs at most once a second, before the
 * lists that touch those tables.
 *
 * @module
 */

import { StoreError } from "./errors.ts";
import type { Tables } from "./tables.ts";
import { type Transactions, UnitsWithoutSavepoints } from "./transaction.ts";
import type {
  ByteCharge,
  CommitOptions,
  CommitResult,
  CountQuotaName,
  RetentionPolicy,
  StoreChange,
  StoreChangeKind,
} from "./types.ts";
import { applyChange, type WriteContext } from "./writers.ts";

/** The change kinds of some lists. */
function _kindsOf(batches: readonly (readonly StoreChange[])[]): Set<StoreChangeKind> {
  const kinds = new Set<StoreChangeKind>();
  for (const b of batches) for (const c of b) kinds.add(c?.kind);
  return kinds;
}

/** The change kinds whose tables time-based retention prunes. */
const _PRUNED_KINDS: ReadonlySet<StoreChangeKind> = new Set(["trust.log", "replay.add"]);
/** What the commits need from their store. */
export interface CommitsPorts {
  /** The store's path (for messages). */
  readonly path: string;
  /** The one transaction helper. */
  readonly tx: Transactions;
  /** The store's clock (ms since the epoch). */
  readonly now: () => number;
  /** The retention policy in force. */
  readonly retention: Readonly<RetentionPolicy>;
  /** The table modules of the open store. @throws {StoreError} `STORE_CLOSED`. */
  open(): Tables;
  /** The table modules, or `null` once closed. */
  tablesIfOpen(): Tables | null;
}

/** The commits, write groups and time-based retention of one store. */
export class Commits {
  readonly #ports: CommitsPorts;
  /** When the last time-based pruning ran: at most once per second. */
  #lastPruneMs = -Infinity;
  /** Whether a write group is open. */
  #group = false;
  /** Rows pruned but not yet reported: reported with the next list that commits. */
  #unreportedPruned = 0;
  /** The open transaction's time and pruned kinds (for pruning again when it is redone). */
  #txNowMs = 0;
  #txKinds: ReadonlySet<StoreChangeKind> = _PRUNED_KINDS;
  /** The lists of the open transaction, applied without a savepoint each. */
  readonly #lists: UnitsWithoutSavepoints<
    { tables: Tables; changes: readonly StoreChange[]; charge: ByteCharge | undefined }
  >;

  /** @param ports What the store lends. */
  constructor(ports: CommitsPorts) {
    this.#ports = ports;
    this.#lists = new UnitsWithoutSavepoints(
      ports.tx,
      ({ tables, changes, charge }) => this.#applyList(tables, changes, charge),
      () => this.#reopened(),
    );
  }

  /** Whether a write group is open. */
  get inGroup(): boolean {
    return this.#group;
  }

  /**
   * Opens a write group (see `SqliteStore.beginGroup`).
   *
   * @param options The time retention is measured from.
   * @throws {StoreError} `STORE_CLOSED`, or `STORE_INVALID_CHANGE` when a group is already open.
   */
  begin(options: CommitOptions = {}): void {
    this.#ports.open();
    if (this.#group) {
      throw new StoreError(
        "STORE_INVALID_CHANGE",
        `Store ${this.#ports.path} already has a group open`,
      );
    }
    this.#ports.tx.begin();
    this.#group = true;
    this.#opened(options.nowMs ?? this.#ports.now(), _PRUNED_KINDS);
    this.#unreportedPruned = this.#prune(this.#txKinds, this.#txNowMs);
  }

  /**
   * Commits the open group.
   *
   * @throws {StoreError} `STORE_CLOSED`, or `STORE_INVALID_CHANGE` when no group is open.
   */
  end(): void {
    this.#requireGroup();
    this.#group = false;
    this.#unreportedPruned = 0;
    this.#lists.reset();
    this.#ports.tx.commit();
  }

  /**
   * Rolls the open group back.
   *
   * @throws {StoreError} `STORE_CLOSED`, or `STORE_INVALID_CHANGE` when no group is open.
   */
  abort(): void {
    this.#requireGroup();
    this.#group = false;
    this.#unreportedPruned = 0;
    this.#lists.reset();
    this.#ports.tx.rollback();
  }

  /**
   * Applies several change lists, each all or nothing on its own, in the
   * open group or in one transaction of their own (see `SqliteStore.commitBatch`).
   *
   * @param batches The change lists, applied in order.
   * @param options The time retention is measured from; the byte charge.
   * @returns One result per list: what it applied, or why it was refused.
   * @throws {StoreError} Code `STORE_CLOSED`; or the database's own error
   *   if the transaction itself cannot commit.
   */
  batch(
    batches: readonly (readonly StoreChange[])[],
    options: CommitOptions = {},
  ): (CommitResult | StoreError)[] {
    const tables = this.#ports.open();
    if (this.#group) return this.#applyEach(tables, batches, options.charge);
    if (batches.every((b) => b.length === 0)) return batches.map(() => ({ applied: 0, pruned: 0 }));
    const nowMs = options.nowMs ?? this.#ports.now();
    try {
      return this.#ports.tx.run(() => {
        this.#opened(nowMs, _kindsOf(batches));
        this.#unreportedPruned = this.#prune(this.#txKinds, nowMs);
        return this.#applyEach(tables, batches, options.charge);
      });
    } finally {
      this.#unreportedPruned = 0;
      this.#lists.reset();
    }
  }

  /** A transaction opened: nothing applied in it yet. */
  #opened(nowMs: number, kinds: ReadonlySet<StoreChangeKind>): void {
    this.#txNowMs = nowMs;
    this.#txKinds = kinds;
    this.#lists.reset();
  }

  #requireGroup(): void {
    this.#ports.open();
    if (!this.#group) {
      throw new StoreError("STORE_INVALID_CHANGE", `Store ${this.#ports.path} has no group open`);
    }
  }

  /**
   * Applies each list in the open transaction, all or nothing per list
   * and without a savepoint each (`UnitsWithoutSavepoints`): a refused list
   * is undone alone and its error put in its place.
   */
  #applyEach(
    tables: Tables,
    batches: readonly (readonly StoreChange[])[],
    charge: ByteCharge | undefined,
  ): (CommitResult | StoreError)[] {
    return batches.map((changes) => {
      if (changes.length === 0) return { applied: 0, pruned: 0 };
      try {
        const pruned = this.#lists.run({ tables, changes, charge });
        // Time-based pruning is reported once, with the first list that commits.
        const result = { applied: changes.length, pruned: pruned + this.#unreportedPruned };
        this.#unreportedPruned = 0;
        return result;
      } catch (error) {
        if (error instanceof StoreError) return error;
        throw error;
      }
    });
  }

  /** The open transaction was redone: prune again (reported only if not reported yet). */
  #reopened(): void {
    const reported = this.#unreportedPruned === 0;
    const pruned = this.#prune(this.#txKinds, this.#txNowMs);
    this.#unreportedPruned = reported ? 0 : pruned;
  }

  /**
   * After a rollback: the trust and handshake caches may hold undone state; an undone pruning must run again.
   *
   * @param outermost Whether the whole transaction was rolled back.
   */
  rolledBack(outermost: boolean): void {
    const tables = this.#ports.tablesIfOpen();
    tables?.trust.forgetCached();
    tables?.handshakes.forgetCached();
    if (outermost) this.#lastPruneMs = -Infinity;
  }

  /** Time-based retention, before the lists that touch the trust log or the replay pairs. */
  #prune(kinds: ReadonlySet<StoreChangeKind>, nowMs: number): number {
    // Rows just past their age harm nothing for a second (a restored guard
    // skips expired pairs), so pruning runs at most once per second rather
    // than in every transaction.
    if (nowMs - this.#lastPruneMs < 1000 && nowMs >= this.#lastPruneMs) return 0;
    this.#lastPruneMs = nowMs;
    const tables = this.#ports.open();
    let pruned = 0;
    if (kinds.has("trust.log")) {
      pruned += tables.trustLog.pruneIgnored(nowMs - this.#ports.retention.ignoredMaxAgeMs);
    }
    if (kinds.has("replay.add")) {
      pruned += tables.replay.prune(nowMs - this.#ports.retention.replayWindowMs);
    }
    return pruned;
  }

  /**
   * Applies one change list inside the open transaction through the
   * writers, then checks the quotas it touched. A charged list is refused
   * before any writer runs when its peer (or the total) has no room left,
   * and after, when it grew past a byte limit.
   *
   * @returns Rows deleted by count-based retention.
   */
  #applyList(
    tables: Tables,
    changes: readonly StoreChange[],
    charge: ByteCharge | undefined,
  ): number {
    const baseline = charge === undefined ? undefined : tables.quota.checkRoom(charge);
    const touched = new Map<string, { peer: string; quota: CountQuotaName }>();
    const context: WriteContext = {
      touch: (peer, quota) => void touched.set(`${quota}\n${peer}`, { peer, quota }),
    };
    changes.forEach((change, i) => {
      try {
        applyChange(tables.writers, change, context);
      } catch (error) {
        if (error instanceof StoreError) throw error;
        throw new StoreError(
          "STORE_INVALID_CHANGE",
          `Change ${i} (${change?.kind}) was refused by the store: ${(error as Error).message}`,
          { cause: error },
        );
      }
    });
    let pruned = 0;
    for (const { peer, quota } of touched.values()) pruned += tables.quota.enforce(peer, quota);
    if (charge !== undefined) tables.quota.checkGrowth(charge, baseline!);
    return pruned;
  }
}
