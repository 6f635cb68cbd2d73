/**
 * The typed table of writers: one function per {@linkcode StoreChange}
 * kind, each owned by the table module the change touches, and the
 * dispatch that applies one change through it. Internal to the store.
 *
 * @module
 */

import { StoreError } from "./errors.ts";
import type { CountQuotaName, StoreChange, StoreChangeKind } from "./types.ts";

/** The {@linkcode StoreChange} of kind `K`. */
export type ChangeOf<K extends StoreChangeKind> = Extract<StoreChange, { kind: K }>;

/** What a writer is given besides its change. */
export interface WriteContext {
  /**
   * Marks a peer's quota as used by this change list, so it is checked
   * once the whole list is applied.
   */
  touch(peer: string, quota: CountQuotaName): void;
}

/**
 * Applies one change of kind `K` inside the open transaction.
 *
 * @throws Whatever the database throws (a constraint, a foreign key); the
 *   store turns it into `STORE_INVALID_CHANGE`.
 */
export type Writer<K extends StoreChangeKind> = (
  change: ChangeOf<K>,
  context: WriteContext,
) => void;

/**
 * Writers by change kind. `Writers` (all kinds) is what the store
 * dispatches over: a kind of the union without a writer is a type error
 * where the table is built. A table module declares `Writers<"a" | "b">`
 * for the kinds it owns.
 */
export type Writers<K extends StoreChangeKind = StoreChangeKind> = {
  readonly [P in K]: Writer<P>;
};

/**
 * Applies one change through the writer of its kind.
 *
 * @param writers Every kind's writer.
 * @param change The change (checked at run time: it may come from untyped code).
 * @param context Where quotas are marked.
 * @throws {StoreError} Code `STORE_INVALID_CHANGE` if no writer has the change's kind.
 * @throws Whatever the writer throws.
 *
 * @example
 * ```ts
 * import { applyChange, type Writers } from "./writers.ts";
 * import { StoreError } from "./errors.ts";
 * import type { StoreChange } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * const seen: StoreChange[] = [];
 * const keep = (change: StoreChange) => void seen.push(change);
 * const writers: Writers = {
 *   "trust.state": keep,
 *   "trust.log": keep,
 *   "claim.upsert": keep,
 *   "claim.vote": keep,
 *   "causal.add": keep,
 *   "decision.add": keep,
 *   "presence.set": keep,
 *   "handshake.set": keep,
 *   "handshake.clear": keep,
 *   "person.upsert": keep,
 *   "lip.upsert": keep,
 *   "lip.source": keep,
 *   "replay.add": keep,
 * };
 * applyChange(writers, { kind: "handshake.clear", peer: "p" }, { touch() {} });
 * assert.deepEqual(seen, [{ kind: "handshake.clear", peer: "p" }]);
 * assert.throws(
 *   () => applyChange(writers, { kind: "toString" } as never, { touch() {} }),
 *   StoreError,
 * );
 * ```
 */
export function applyChange(writers: Writers, change: StoreChange, context: WriteContext): void {
  const kind: unknown = change?.kind;
  if (typeof kind !== "string" || !Object.hasOwn(writers, kind)) {
    throw new StoreError(
      "STORE_INVALID_CHANGE",
      `Unknown store change kind ${JSON.stringify(kind)}`,
    );
  }
  _write(writers, change.kind, change, context);
}

/** Calls the writer of `kind` (`writers[kind]` is `Writer<K>` for a generic `K`). */
function _write<K extends StoreChangeKind>(
  writers: Writers,
  kind: K,
  change: ChangeOf<K>,
  context: WriteContext,
): void {
  writers[kind](change, context);
}
