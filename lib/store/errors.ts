/**
 * Typed errors of the store.
 *
 * @module
 */

import { Web4Error } from "../errors/mod.ts";
import type { ByteLevel, QuotaName } from "./types.ts";

/** The codes a {@linkcode StoreError} carries. */
export type StoreErrorCode = "STORE_CLOSED" | "STORE_SCHEMA" | "STORE_INVALID_CHANGE" | "QUOTA";

/**
 * Base class of the store's errors: the store is closed (`STORE_CLOSED`),
 * the database's schema is newer than this code or a migration failed
 * (`STORE_SCHEMA`), a change is malformed (`STORE_INVALID_CHANGE`), or a
 * quota would be exceeded (`QUOTA`, see {@linkcode QuotaExceededError}).
 *
 * @example
 * ```ts
 * import { StoreError } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new StoreError("STORE_CLOSED", "The store is closed");
 * assert.equal(err.code, "STORE_CLOSED");
 * ```
 */
export class StoreError extends Web4Error<StoreErrorCode> {}

/**
 * Code `QUOTA`: a commit would put a peer over one of its quotas (rows,
 * `bytes`), or the store's total over the cap of the peer's level
 * (`node_bytes`), so nothing of it was stored. The router answers the
 * message with an `ERROR` whose code is
 * {@linkcode QuotaExceededError.wireCode} (`"quota"`).
 *
 * @example
 * ```ts
 * import { QuotaExceededError } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new QuotaExceededError("ab".repeat(32), "claims", 10, 11);
 * assert.equal(err.wireCode, "quota");
 * assert.match(err.message, /claims/);
 * ```
 */
export class QuotaExceededError extends StoreError {
  /** Always `"QUOTA"`. */
  declare readonly code: "QUOTA";
  /** The code to put in the `ERROR` answer. */
  readonly wireCode = "quota" as const;
  /** The peer over quota. */
  readonly peer: string;
  /** Which quota. */
  readonly quota: QuotaName;
  /** The limit. */
  readonly limit: number;
  /** What the peer would have used. */
  readonly wanted: number;

  /**
   * Creates an error.
   *
   * @param peer The peer over quota.
   * @param quota Which quota.
   * @param limit The limit.
   * @param wanted What the peer would have used (for `node_bytes`: the store's total).
   * @param level For `node_bytes`: the level whose share of the total is full
   *   (the message then names no numbers: they are the node's, not the peer's).
   */
  constructor(
    peer: string,
    quota: QuotaName,
    limit: number,
    wanted: number,
    level?: ByteLevel,
  ) {
    super(
      "QUOTA",
      quota === "node_bytes"
        ? `The store has no room left for peers at level ${
          level ?? "probing"
        }: peer ${peer} may not add more`
        : `Peer ${peer} is over its ${quota} quota: ${wanted} > ${limit}`,
    );
    this.peer = peer;
    this.quota = quota;
    this.limit = limit;
    this.wanted = wanted;
  }
}
