/**
 * The `handshakes` table: the per-peer CIP handshake state, written by
 * `handshake.set` and `handshake.clear`. Internal to the store.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { optional, RecentRows, type Row, setDefined, Statement } from "./rows.ts";
import type { HandshakeRecord } from "./types.ts";
import type { Writers } from "./writers.ts";

/** Handshake records kept in memory at most (the most recently used). */
const _CACHE_MAX = 4096;

/**
 * At most one handshake per peer, replaced by each step and deleted when
 * done with. Reads go through a cache of the records last read or written
 * (the mesh asks for a peer's stage on every frame it floods); the store
 * calls {@linkcode HandshakesTable.forgetCached} after every rollback, so
 * the cache never holds a state that was not committed.
 */
export class HandshakesTable {
  /** The writers of `handshake.set` and `handshake.clear`. */
  readonly writers: Writers<"handshake.set" | "handshake.clear"> = {
    "handshake.set": (change) => this.set(change.record),
    "handshake.clear": (change) => this.clear(change.peer),
  };
  readonly #replace: Statement;
  readonly #delete: Statement;
  readonly #get: Statement;
  /** Records by peer (`null`: no row), least recently used first. */
  readonly #cache = new RecentRows<HandshakeRecord>(_CACHE_MAX);

  /**
   * Prepares the table's statements.
   *
   * @param db The migrated connection.
   */
  constructor(db: DatabaseSync) {
    this.#replace = new Statement(
      db,
      `INSERT OR REPLACE INTO handshakes (peer, role, stage, our_nonce, our_challenge, our_hello_id,
         their_nonce, their_hello_id, started_ms, deadline_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#delete = new Statement(db, "DELETE FROM handshakes WHERE peer = ?");
    this.#get = new Statement(db, "SELECT * FROM handshakes WHERE peer = ?");
  }

  /**
   * Sets a peer's handshake state.
   *
   * @param record The state.
   */
  set(record: HandshakeRecord): void {
    this.#replace.run(
      record.peer,
      record.role,
      record.stage,
      record.ourNonce,
      record.ourChallenge,
      record.ourHelloId,
      record.theirNonce ?? null,
      record.theirHelloId ?? null,
      record.startedMs,
      record.deadlineMs,
    );
    this.#cache.remember(record.peer, { ...record });
  }

  /**
   * Forgets a peer's handshake state (nothing happens if there is none).
   *
   * @param peer The peer.
   */
  clear(peer: string): void {
    this.#delete.run(peer);
    this.#cache.remember(peer, null);
  }

  /**
   * A peer's handshake state.
   *
   * @param peer The peer.
   * @returns The state, or `undefined`.
   */
  get(peer: string): HandshakeRecord | undefined {
    let record = this.#cache.get(peer);
    if (record === undefined) {
      record = this.#read(peer);
      this.#cache.remember(peer, record);
    }
    return record === null ? undefined : { ...record };
  }

  /** Empties the cache (after a rollback). */
  forgetCached(): void {
    this.#cache.clear();
  }

  #read(peer: string): HandshakeRecord | null {
    const r = this.#get.get(peer) as Row | undefined;
    if (r === undefined) return null;
    const record: HandshakeRecord = {
      peer,
      role: r.role as HandshakeRecord["role"],
      stage: r.stage as HandshakeRecord["stage"],
      ourNonce: r.our_nonce as string,
      ourChallenge: r.our_challenge as string,
      ourHelloId: r.our_hello_id as string,
      startedMs: Number(r.started_ms),
      deadlineMs: Number(r.deadline_ms),
    };
    setDefined(record, "theirNonce", optional<string>(r.their_nonce));
    return setDefined(record, "theirHelloId", optional<string>(r.their_hello_id));
  }
}
