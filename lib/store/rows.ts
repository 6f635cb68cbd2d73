/**
 * Helpers the table modules share to turn records into column values and
 * rows back into records. Internal to the store.
 *
 * @module
 */

import type { SQLInputValue } from "node:sqlite";

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
