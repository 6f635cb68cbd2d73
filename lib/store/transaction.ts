/**
 * The store's one transaction helper: `BEGIN IMMEDIATE` at the outside,
 * savepoints inside, rollback on throw. Migrations, commits, group
 * commits and write groups all go through it. Internal to the store.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";

/**
 * State kept beside the database that follows its transactions (the quota
 * counters in memory): told of every savepoint, and written right before
 * the outermost `COMMIT`.
 */
export interface TransactionObserver {
  /** A savepoint began. */
  savepoint(): void;
  /** The innermost savepoint was released (its writes kept). */
  released(): void;
  /** The innermost savepoint was rolled back. */
  rolledBackTo(): void;
  /** The transaction is about to commit: write what is kept beside it (a throw rolls it back). */
  flush(): void;
  /** The transaction committed. */
  committed(): void;
  /** The whole transaction was rolled back. */
  rolledBack(): void;
}

/** Options of {@linkcode Transactions}. */
export interface TransactionsOptions {
  /** State that follows the transactions (see {@linkcode TransactionObserver}). */
  observer?: TransactionObserver | undefined;
  /**
   * Called after every rollback, with `true` when the whole transaction
   * was rolled back and `false` when only a savepoint was: the place to
   * drop in-memory state that may hold what was just undone.
   */
  onRollback?: ((outermost: boolean) => void) | undefined;
}

/**
 * Nested transactions on one connection. The outermost level is a
 * `BEGIN IMMEDIATE` transaction (the write lock is taken at once, so a
 * commit never fails half way for a lock); every level inside it is a
 * savepoint, which rolls back alone.
 *
 * @example Rollback on throw, at any depth
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { Transactions } from "./transaction.ts";
 * import assert from "node:assert/strict";
 *
 * const db = new DatabaseSync(":memory:");
 * db.exec("CREATE TABLE t (x INTEGER)");
 * const tx = new Transactions(db);
 * tx.run(() => {
 *   db.exec("INSERT INTO t VALUES (1)");
 *   assert.throws(() =>
 *     tx.run(() => {
 *       db.exec("INSERT INTO t VALUES (2)");
 *       throw new Error("refused");
 *     })
 *   );
 * });
 * assert.deepEqual(db.prepare("SELECT x FROM t").all().map((r) => r.x), [1]);
 * db.close();
 * ```
 */
export class Transactions {
  readonly #db: DatabaseSync;
  readonly #onRollback: (outermost: boolean) => void;
  readonly #observer: TransactionObserver | undefined;
  #depth = 0;
  // The control statements, prepared once (`exec` would compile them on
  // every call): one transaction or savepoint per message made them a
  // visible share of a write.
  readonly #begin: StatementSync;
  readonly #commit: StatementSync;
  readonly #rollback: StatementSync;
  /** `[SAVEPOINT, RELEASE, ROLLBACK TO]` by savepoint depth (index 1 = the first savepoint). */
  readonly #savepoints: [StatementSync, StatementSync, StatementSync][] = [];

  /**
   * Wraps a connection; opens nothing yet.
   *
   * @param db The connection (not in a transaction).
   * @param options What to do after a rollback.
   */
  constructor(db: DatabaseSync, options: TransactionsOptions = {}) {
    this.#db = db;
    this.#onRollback = options.onRollback ?? (() => {});
    this.#observer = options.observer;
    this.#begin = db.prepare("BEGIN IMMEDIATE");
    this.#commit = db.prepare("COMMIT");
    this.#rollback = db.prepare("ROLLBACK");
  }

  /** How many levels are open: 0 outside a transaction, 1 in it, 2+ in savepoints. */
  get depth(): number {
    return this.#depth;
  }

  /**
   * Runs `fn` in one more level: a transaction when none is open, a
   * savepoint otherwise. Its writes are kept when it returns and rolled
   * back when it throws (the error is thrown again).
   *
   * @param fn The work; it may call `run` again.
   * @returns What `fn` returned.
   * @throws What `fn` threw; or the database's error if the commit
   *   fails (then the transaction is rolled back).
   */
  run<T>(fn: () => T): T {
    this.begin();
    let result: T;
    try {
      result = fn();
    } catch (error) {
      this.rollback();
      throw error;
    }
    this.commit();
    return result;
  }

  /**
   * Opens one level (`BEGIN IMMEDIATE`, or a savepoint inside a
   * transaction). Pair it with {@linkcode Transactions.commit} or
   * {@linkcode Transactions.rollback}; prefer {@linkcode Transactions.run}
   * unless the level outlives one call (a write group).
   *
   * @throws The database's error if the level cannot be opened.
   */
  begin(): void {
    if (this.#depth === 0) this.#begin.run();
    else {
      this.#savepoint()[0].run();
      this.#observer?.savepoint();
    }
    this.#depth++;
  }

  /**
   * Closes the innermost level, keeping its writes: `COMMIT` for the
   * transaction, `RELEASE` for a savepoint. A failing `COMMIT` rolls the
   * transaction back before its error is thrown.
   *
   * @throws {RangeError} If no level is open.
   * @throws The database's error if the commit fails.
   */
  commit(): void {
    this.#requireOpen("commit");
    if (this.#depth > 1) {
      this.#depth--;
      this.#savepoint()[1].run();
      this.#observer?.released();
      return;
    }
    try {
      this.#observer?.flush();
      this.#commit.run();
    } catch (error) {
      this.rollback();
      throw error;
    }
    this.#depth = 0;
    this.#observer?.committed();
  }

  /**
   * Closes the innermost level, undoing its writes: `ROLLBACK` for the
   * transaction, `ROLLBACK TO` and `RELEASE` for a savepoint. The
   * `onRollback` hook runs even if the database fails to roll back.
   *
   * @throws {RangeError} If no level is open.
   * @throws The database's error if the rollback fails.
   */
  rollback(): void {
    this.#requireOpen("roll back");
    this.#depth--;
    const outermost = this.#depth === 0;
    try {
      if (outermost) {
        // SQLite may have rolled back already (a failed COMMIT on a full disk).
        if (this.#db.isTransaction) this.#rollback.run();
      } else {
        const [, release, rollbackTo] = this.#savepoint();
        rollbackTo.run();
        release.run();
      }
    } finally {
      if (outermost) this.#observer?.rolledBack();
      else this.#observer?.rolledBackTo();
      this.#onRollback(outermost);
    }
  }

  /** The statements of the savepoint at the current depth (1 = the first savepoint). */
  #savepoint(): [StatementSync, StatementSync, StatementSync] {
    let statements = this.#savepoints[this.#depth];
    if (statements === undefined) {
      const name = `level_${this.#depth}`;
      statements = [
        this.#db.prepare(`SAVEPOINT ${name}`),
        this.#db.prepare(`RELEASE ${name}`),
        this.#db.prepare(`ROLLBACK TO ${name}`),
      ];
      this.#savepoints[this.#depth] = statements;
    }
    return statements;
  }

  #requireOpen(what: string): void {
    if (this.#depth === 0) throw new RangeError(`No transaction is open to ${what}`);
  }
}

/**
 * Units of work applied in one open transaction without a savepoint each,
 * all or nothing per unit: a unit is applied directly, and if it throws
 * half way the transaction is rolled back, opened again (`reopen`) and the
 * units applied before it are applied again, in order (they succeeded on
 * the same state, so they do again). After one failure the transaction's
 * next units each take a savepoint, so a stream of failing units costs at
 * most one redo per transaction.
 */
export class UnitsWithoutSavepoints<U> {
  readonly #tx: Transactions;
  readonly #apply: (unit: U) => number;
  readonly #reopen: () => void;
  #applied: U[] = [];
  #guarded = false;

  /**
   * @param tx The transactions of the connection.
   * @param apply Applies one unit; returns a count the caller sums (rows pruned).
   * @param reopen Runs right after the transaction is opened again (before the redo).
   */
  constructor(tx: Transactions, apply: (unit: U) => number, reopen: () => void) {
    this.#tx = tx;
    this.#apply = apply;
    this.#reopen = reopen;
  }

  /** A transaction was opened (or closed): nothing applied in it yet. */
  reset(): void {
    this.#applied = [];
    this.#guarded = false;
  }

  /**
   * Applies one unit in the open transaction, undoing it alone if it throws.
   *
   * @param unit The unit.
   * @returns What `apply` returned.
   * @throws What `apply` threw, once the unit is undone.
   */
  run(unit: U): number {
    if (this.#guarded) return this.#tx.run(() => this.#apply(unit));
    let result: number;
    try {
      result = this.#apply(unit);
    } catch (error) {
      const applied = this.#applied;
      this.#tx.rollback();
      this.#tx.begin();
      this.#guarded = true;
      this.#reopen();
      for (const done of applied) this.#apply(done);
      throw error;
    }
    this.#applied.push(unit);
    return result;
  }
}
