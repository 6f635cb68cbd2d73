/**
 * Helpers the table modules share to turn records into column values and
 * rows back into records. Internal to the store.
 *
 * @module
 */

import type {
  DatabaseSync,
  SQLInputValue,
  StatementResultingChanges,
  StatementSync,
} from "node:sqlite";

/** One row as `node:sqlite` returns it: column name to value. */
export type Row = Record<string, SQLInputValue | undefined>;

/**
 * A JSON column's text.
 *
 * @param value Any JSON value.
 * @returns Its `JSON.stringify` text.
 *
 * @example
 * ```ts
 * import { toJson } from "./rows.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(toJson([1, 2]), "[1,2]");
 * ```
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * A JSON column's value, typed by the caller (the column was written by
 * {@linkcode toJson} from a value of that type).
 *
 * @param text The column's text.
 * @returns The parsed value.
 * @throws {SyntaxError} If the column does not hold JSON.
 *
 * @example
 * ```ts
 * import { fromJson } from "./rows.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(fromJson<number[]>("[1,2]"), [1, 2]);
 * ```
 */
export function fromJson<T>(text: SQLInputValue | undefined): T {
  return JSON.parse(text as string) as T;
}

/**
 * A nullable column's value, with SQL `NULL` read as `undefined`.
 *
 * @param value The column's value.
 * @returns The value, or `undefined` for `NULL`.
 *
 * @example
 * ```ts
 * import { optional } from "./rows.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(optional<string>(null), undefined);
 * assert.equal(optional<string>("x"), "x");
 * ```
 */
export function optional<T>(value: SQLInputValue | undefined): T | undefined {
  return value === null || value === undefined ? undefined : value as T;
}

/**
 * Copies `value` into `target[key]` unless it is `undefined`, so records
 * read back carry no `key: undefined` (exact optional property types).
 *
 * @param target The record being built.
 * @param key The optional field.
 * @param value Its value, if any.
 * @returns `target`.
 *
 * @example
 * ```ts
 * import { setDefined } from "./rows.ts";
 * import assert from "node:assert/strict";
 *
 * const record: { a: number; b?: string } = { a: 1 };
 * assert.deepEqual(setDefined(record, "b", undefined), { a: 1 });
 * assert.deepEqual(setDefined(record, "b", "x"), { a: 1, b: "x" });
 * ```
 */
export function setDefined<T extends object, K extends keyof T>(
  target: T,
  key: K,
  value: T[K] | undefined,
): T {
  if (value !== undefined) target[key] = value;
  return target;
}

/**
 * A statement prepared on its first use, so that opening a store prepares
 * only what it runs (a fresh store in a test runs a few of its dozens).
 * Its SQL is fixed by the migrated schema; an error in it surfaces on the
 * first use.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { type Row, Statement } from "./rows.ts";
 * import assert from "node:assert/strict";
 *
 * const db = new DatabaseSync(":memory:");
 * const answer = new Statement(db, "SELECT 41 + ? AS n");
 * assert.equal((answer.get(1) as Row).n, 42);
 * db.close();
 * ```
 */
export class Statement {
  readonly #db: DatabaseSync;
  readonly #sql: string;
  #statement: StatementSync | undefined;

  /**
   * Keeps the SQL; prepares nothing yet.
   *
   * @param db The connection.
   * @param sql The statement.
   */
  constructor(db: DatabaseSync, sql: string) {
    this.#db = db;
    this.#sql = sql;
  }

  #prepared(): StatementSync {
    return this.#statement ??= this.#db.prepare(this.#sql);
  }

  /**
   * Runs it (`StatementSync.run`).
   *
   * @param params The bound values.
   * @returns The changes it made.
   */
  run(...params: SQLInputValue[]): StatementResultingChanges {
    return this.#prepared().run(...params);
  }

  /**
   * Its first row (`StatementSync.get`).
   *
   * @param params The bound values.
   * @returns The row, or `undefined` when there is none.
   */
  get(...params: SQLInputValue[]): unknown {
    return this.#prepared().get(...params);
  }

  /**
   * Every row (`StatementSync.all`).
   *
   * @param params The bound values.
   * @returns The rows.
   */
  all(...params: SQLInputValue[]): unknown[] {
    return this.#prepared().all(...params);
  }
}

/**
 * The rows a table read or wrote last, at most `max` (the least recently
 * remembered dropped first), by key; `null` remembers that there is no
 * row. A table that reads through one empties it after every rollback
 * (`clear`), so it never holds a state that was not committed.
 *
 * @example
 * ```ts
 * import { RecentRows } from "./rows.ts";
 * import assert from "node:assert/strict";
 *
 * const rows = new RecentRows<number>(2);
 * rows.remember("a", 1);
 * rows.remember("b", null);
 * rows.remember("c", 3); // "a" is dropped
 * assert.equal(rows.get("a"), undefined);
 * assert.equal(rows.get("b"), null);
 * assert.equal(rows.get("c"), 3);
 * ```
 */
export class RecentRows<V> {
  readonly #max: number;
  readonly #rows = new Map<string, V | null>();

  /** @param max The most rows kept. */
  constructor(max: number) {
    this.#max = max;
  }

  /**
   * A remembered row.
   *
   * @param key Its key.
   * @returns The row, `null` (known absent), or `undefined` (not remembered).
   */
  get(key: string): V | null | undefined {
    return this.#rows.get(key);
  }

  /**
   * Remembers a row (or its absence) as the most recent.
   *
   * @param key Its key.
   * @param row The row, or `null`.
   */
  remember(key: string, row: V | null): void {
    this.#rows.delete(key);
    this.#rows.set(key, row);
    if (this.#rows.size > this.#max) this.#rows.delete(this.#rows.keys().next().value!);
  }

  /** Forgets every row (after a rollback). */
  clear(): void {
    this.#rows.clear();
  }
}
