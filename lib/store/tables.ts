/**
 * Every table module of one open store, and the writers they own put
 * together into the one typed table the store dispatches over.
 * Internal to the store.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { ClaimsTable } from "./claims.ts";
import { HandshakesTable } from "./handshakes.ts";
import { LipTables } from "./lip.ts";
import { MemoryTables } from "./memory.ts";
import { PersonsTable } from "./persons.ts";
import { PresenceTable } from "./presence.ts";
import type { QuotaCounters } from "./counters.ts";
import { QuotaUsage } from "./quota.ts";
import { ReplayTable } from "./replay.ts";
import { TrustTable } from "./trust.ts";
import { TrustLogTable } from "./trust_log.ts";
import type { ByteQuotas, StoreQuotas } from "./types.ts";
import type { Writers } from "./writers.ts";

/** The table modules of one open store, with their statements prepared. */
export interface Tables {
  /** Trust records (`trust.state`). */
  readonly trust: TrustTable;
  /** The trust log (`trust.log`). */
  readonly trustLog: TrustLogTable;
  /** The claim ledger (`claim.upsert`, `claim.vote`). */
  readonly claims: ClaimsTable;
  /** Causal and decision memory (`causal.add`, `decision.add`). */
  readonly memory: MemoryTables;
  /** Presence (`presence.set`). */
  readonly presence: PresenceTable;
  /** Handshakes (`handshake.set`, `handshake.clear`). */
  readonly handshakes: HandshakesTable;
  /** Persons (`person.upsert`). */
  readonly persons: PersonsTable;
  /** The LIP queue and sources (`lip.upsert`, `lip.source`). */
  readonly lip: LipTables;
  /** The replay window (`replay.add`). */
  readonly replay: ReplayTable;
  /** Quota counters and their enforcement. */
  readonly quota: QuotaUsage;
  /** Every change kind's writer. */
  readonly writers: Writers;
}

/**
 * Prepares every table module's statements on a migrated connection.
 *
 * @param db The connection, with the schema applied.
 * @param quotas The count limits in force.
 * @param bytes The byte quotas in force.
 * @param counters The connection's quota counters.
 * @returns The tables and their writers.
 * @throws The database's error if a statement does not fit the schema.
 */
export function openTables(
  db: DatabaseSync,
  quotas: Readonly<StoreQuotas>,
  bytes: Readonly<ByteQuotas>,
  counters: QuotaCounters,
): Tables {
  const trust = new TrustTable(db);
  const trustLog = new TrustLogTable(db);
  const claims = new ClaimsTable(db);
  const memory = new MemoryTables(db);
  const presence = new PresenceTable(db);
  const handshakes = new HandshakesTable(db);
  const persons = new PersonsTable(db);
  const lip = new LipTables(db);
  const replay = new ReplayTable(db);
  // Typed `Writers`: a change kind that no table writes does not compile.
  const writers: Writers = Object.freeze({
    ...trust.writers,
    ...trustLog.writers,
    ...claims.writers,
    ...memory.writers,
    ...presence.writers,
    ...handshakes.writers,
    ...persons.writers,
    ...lip.writers,
    ...replay.writers,
  });
  return {
    trust,
    trustLog,
    claims,
    memory,
    presence,
    handshakes,
    persons,
    lip,
    replay,
    quota: new QuotaUsage(counters, quotas, bytes, trustLog),
    writers,
  };
}
