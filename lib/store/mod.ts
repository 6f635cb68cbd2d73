/**
 * The agent's state in SQLite (`node:sqlite`): trust and its log, the claim
 * ledger, causal and decision memory, presence, handshakes, the person,
 * the LIP queue and source tiers, and the replay guard's window. Runtimes
 * read it through a {@linkcode StoreView} and ask for changes as
 * {@linkcode StoreChange}s; the router applies them with
 * {@linkcode Store.commit}, in one transaction, under per-peer quotas.
 *
 * @example
 * ```ts
 * import { openStore, QuotaExceededError } from "@web4/runtime/store";
 * import assert from "node:assert/strict";
 *
 * using store = openStore(":memory:", { quotas: { replay: 1 } });
 * const sender = "cd".repeat(32);
 * store.commit([{ kind: "replay.add", entry: { sender, msgId: "m-1", timestampMs: 1_000 } }], { nowMs: 1_000 });
 * assert.throws(
 *   () => store.commit([{ kind: "replay.add", entry: { sender, msgId: "m-2", timestampMs: 1_001 } }], { nowMs: 1_001 }),
 *   QuotaExceededError,
 * );
 * assert.equal(store.replayEntries(0).length, 1);
 * ```
 *
 * @module
 */

export { QuotaExceededError, StoreError, type StoreErrorCode } from "./errors.ts";
export { MAX_PAGE_LIMIT, type Page, type PageQuery } from "./page.ts";
export { type Migration, MIGRATIONS, ROW_OVERHEAD_BYTES, SCHEMA_VERSION } from "./schema.ts";
export { DEFAULT_BYTE_QUOTAS } from "./quota.ts";
export { DEFAULT_WAL_BYTES, type StorePragma } from "./connection.ts";
export {
  DEFAULT_QUOTAS,
  DEFAULT_RETENTION,
  openStore,
  SqliteStore,
  type StoreOptions,
} from "./sqlite.ts";
export type {
  ByteCharge,
  ByteLevel,
  ByteQuotas,
  CausalFact,
  CausalLink,
  ClaimRecord,
  ClaimStatus,
  ClaimVote,
  CommitOptions,
  CommitResult,
  CountQuotaName,
  DecisionRecord,
  HandshakeRecord,
  HandshakeStage,
  LipQueueItem,
  LipSourceRecord,
  PersonRecord,
  PresenceRecord,
  QuotaName,
  RetentionPolicy,
  SocialTrust,
  Store,
  StoreChange,
  StoreChangeKind,
  StoredTrustLogEntry,
  StoreQuotas,
  StoreView,
  TrustLogEntry,
  TrustLogQuery,
  TrustMachine,
  TrustRecord,
  TrustState,
  VoteKind,
} from "./types.ts";
