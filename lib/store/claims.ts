/**
 * The CIP claim ledger: the `claims` and `claim_votes` tables, written by
 * `claim.upsert` and `claim.vote`. Internal to the store.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { fromJson, optional, type Row, setDefined, Statement, toJson } from "./rows.ts";
import type { ClaimRecord, ClaimStatus, ClaimVote } from "./types.ts";
import type { WriteContext, Writers } from "./writers.ts";

/**
 * Claims and the votes on them. A claim counts against its proposer's
 * `claims` quota, a vote against its voter's; updating an existing claim
 * changes only its status, reason and time.
 */
export class ClaimsTable {
  /** The writers of `claim.upsert` and `claim.vote`. */
  readonly writers: Writers<"claim.upsert" | "claim.vote"> = {
    "claim.upsert": (change, context) => this.upsert(change.claim, context),
    "claim.vote": (change, context) => this.vote(change.vote, context),
  };
  readonly #upsert: Statement;
  readonly #vote: Statement;
  readonly #get: Statement;
  readonly #byPeer: Statement;
  readonly #about: Statement;
  readonly #votes: Statement;
  readonly #page: Statement;

  /**
   * Prepares the tables' statements.
   *
   * @param db The migrated connection.
   */
  constructor(db: DatabaseSync) {
    this.#upsert = new Statement(
      db,
      `INSERT INTO claims (id, peer, domain, subject, value_canon, status, reason, fact_json,
         trace_json, links_json, created_ms, updated_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, reason = excluded.reason,
         updated_ms = excluded.updated_ms`,
    );
    this.#vote = new Statement(
      db,
      `INSERT INTO claim_votes (claim_id, peer, kind, msg_id, reason, confidence, counted, at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (claim_id, peer, kind) DO UPDATE SET msg_id = excluded.msg_id,
         reason = excluded.reason, confidence = excluded.confidence,
         counted = excluded.counted, at_ms = excluded.at_ms`,
    );
    this.#get = new Statement(db, "SELECT * FROM claims WHERE id = ?");
    this.#byPeer = new Statement(
      db,
      "SELECT * FROM claims WHERE peer = ? AND (? IS NULL OR status = ?) ORDER BY created_ms, id",
    );
    this.#about = new Statement(
      db,
      "SELECT * FROM claims WHERE domain = ? AND subject = ? ORDER BY created_ms, id",
    );
    this.#votes = new Statement(
      db,
      "SELECT * FROM claim_votes WHERE claim_id = ? ORDER BY at_ms, peer, kind",
    );
    this.#page = new Statement(
      db,
      "SELECT rowid AS row_id, * FROM claims WHERE status = ? AND rowid > ? ORDER BY rowid LIMIT ?",
    );
  }

  /**
   * Inserts a claim, or updates an existing one's status, reason and time;
   * marks the proposer's `claims` quota.
   *
   * @param claim The claim.
   * @param context Where the quota is marked.
   */
  upsert(claim: ClaimRecord, context: WriteContext): void {
    this.#upsert.run(
      claim.id,
      claim.peer,
      claim.fact.domain,
      claim.subject ?? null,
      claim.valueCanon ?? null,
      claim.status,
      claim.reason,
      toJson(claim.fact),
      toJson(claim.trace),
      toJson(claim.links),
      claim.createdMs,
      claim.updatedMs,
    );
    context.touch(claim.peer, "claims");
  }

  /**
   * Records a vote (the same peer's vote of the same kind is replaced);
   * marks the voter's `claims` quota.
   *
   * @param vote The vote; its claim must be in the ledger (foreign key).
   * @param context Where the quota is marked.
   */
  vote(vote: ClaimVote, context: WriteContext): void {
    this.#vote.run(
      vote.claimId,
      vote.peer,
      vote.kind,
      vote.msgId,
      vote.reason,
      vote.confidence,
      vote.counted ? 1 : 0,
      vote.atMs,
    );
    context.touch(vote.peer, "claims");
  }

  /**
   * A claim by its id.
   *
   * @param id The `FACT_PROPOSE` `msg_id`.
   * @returns The claim, or `undefined`.
   */
  get(id: string): ClaimRecord | undefined {
    const r = this.#get.get(id) as Row | undefined;
    return r === undefined ? undefined : _claim(r);
  }

  /**
   * Claims proposed by a peer, optionally of one status, oldest first.
   *
   * @param peer The proposer.
   * @param status Only claims of this status.
   * @returns The claims.
   */
  by(peer: string, status?: ClaimStatus): ClaimRecord[] {
    return (this.#byPeer.all(peer, status ?? null, status ?? null) as Row[]).map(_claim);
  }

  /**
   * Claims about a domain and subject, oldest first.
   *
   * @param domain The fact's domain.
   * @param subject The fact's `context.subject`.
   * @returns The claims.
   */
  about(domain: string, subject: string): ClaimRecord[] {
    return (this.#about.all(domain, subject) as Row[]).map(_claim);
  }

  /**
   * Claims of one status in the order they were first stored, after a rowid.
   *
   * @param status The status.
   * @param afterRowid Only rows after this rowid.
   * @param limit The most rows.
   * @returns The claims with their rowids.
   */
  page(status: ClaimStatus, afterRowid: number, limit: number): {
    rowid: number;
    item: ClaimRecord;
  }[] {
    return (this.#page.all(status, afterRowid, limit) as Row[]).map((r) => ({
      rowid: Number(r.row_id),
      item: _claim(r),
    }));
  }

  /**
   * Votes on a claim, oldest first.
   *
   * @param claimId The claim.
   * @returns The votes.
   */
  votes(claimId: string): ClaimVote[] {
    return (this.#votes.all(claimId) as Row[]).map((r) => ({
      claimId,
      peer: r.peer as string,
      msgId: r.msg_id as string,
      kind: r.kind as ClaimVote["kind"],
      reason: r.reason as string,
      confidence: Number(r.confidence),
      counted: r.counted === 1,
      atMs: Number(r.at_ms),
    }));
  }
}

function _claim(r: Row): ClaimRecord {
  const claim: ClaimRecord = {
    id: r.id as string,
    peer: r.peer as string,
    fact: fromJson(r.fact_json),
    trace: fromJson(r.trace_json),
    links: fromJson(r.links_json),
    status: r.status as ClaimStatus,
    reason: r.reason as string,
    createdMs: Number(r.created_ms),
    updatedMs: Number(r.updated_ms),
  };
  setDefined(claim, "subject", optional<string>(r.subject));
  return setDefined(claim, "valueCanon", optional<string>(r.value_canon));
}
