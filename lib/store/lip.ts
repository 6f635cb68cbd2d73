/**
 * The LIP tables: the deferred-acceptance queue (`lip_queue`, written by
 * `lip.upsert`) and the internet sources' tiers (`lip_sources`, written by
 * `lip.source`). Internal to the store.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { fromJson, type Row, Statement, toJson } from "./rows.ts";
import type { ClaimStatus, LipQueueItem, LipSourceRecord } from "./types.ts";
import type { WriteContext, Writers } from "./writers.ts";

/**
 * Queue items (kept whole as JSON, indexed by status and time) and source
 * records. An item counts against its delivering peer's `lip_queue`
 * quota; updating an item keeps its peer and creation time.
 */
export class LipTables {
  /** The writers of `lip.upsert` and `lip.source`. */
  readonly writers: Writers<"lip.upsert" | "lip.source"> = {
    "lip.upsert": (change, context) => this.upsertItem(change.item, context),
    "lip.source": (change) => this.putSource(change.source),
  };
  readonly #upsertItem: Statement;
  readonly #replaceSource: Statement;
  readonly #item: Statement;
  readonly #items: Statement;
  readonly #page: Statement;
  readonly #source: Statement;

  /**
   * Prepares the tables' statements.
   *
   * @param db The migrated connection.
   */
  constructor(db: DatabaseSync) {
    this.#upsertItem = new Statement(
      db,
      `INSERT INTO lip_queue (id, peer, status, created_ms, expires_ms, record_json)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, expires_ms = excluded.expires_ms,
         record_json = excluded.record_json`,
    );
    this.#replaceSource = new Statement(
      db,
      `INSERT OR REPLACE INTO lip_sources (uri, tier, accurate, inaccurate, updated_ms)
       VALUES (?, ?, ?, ?, ?)`,
    );
    this.#item = new Statement(db, "SELECT record_json FROM lip_queue WHERE id = ?");
    this.#items = new Statement(
      db,
      "SELECT record_json FROM lip_queue WHERE status = ? ORDER BY created_ms, id LIMIT ?",
    );
    this.#source = new Statement(db, "SELECT * FROM lip_sources WHERE uri = ?");
    this.#page = new Statement(
      db,
      `SELECT rowid AS row_id, record_json FROM lip_queue WHERE status = ? AND rowid > ?
       ORDER BY rowid LIMIT ?`,
    );
  }

  /**
   * Inserts a queue item, or replaces an existing one's status, expiry and
   * record; marks the delivering peer's `lip_queue` quota.
   *
   * @param item The item.
   * @param context Where the quota is marked.
   */
  upsertItem(item: LipQueueItem, context: WriteContext): void {
    this.#upsertItem.run(
      item.id,
      item.peer,
      item.status,
      item.createdMs,
      item.expiresMs,
      toJson(item),
    );
    context.touch(item.peer, "lip_queue");
  }

  /**
   * Inserts or replaces a source's record.
   *
   * @param source The record.
   */
  putSource(source: LipSourceRecord): void {
    this.#replaceSource.run(
      source.uri,
      source.tier,
      source.accurate,
      source.inaccurate,
      source.updatedMs,
    );
  }

  /**
   * A queue item.
   *
   * @param id The item's id.
   * @returns The item, or `undefined`.
   */
  item(id: string): LipQueueItem | undefined {
    const r = this.#item.get(id) as Row | undefined;
    return r === undefined ? undefined : fromJson<LipQueueItem>(r.record_json);
  }

  /**
   * Queue items of one status, oldest first.
   *
   * @param status The status.
   * @param limit The most items returned.
   * @returns The items.
   */
  items(status: ClaimStatus, limit = 1000): LipQueueItem[] {
    return (this.#items.all(status, limit) as Row[]).map((r) =>
      fromJson<LipQueueItem>(r.record_json)
    );
  }

  /**
   * Queue items of one status in the order they were first queued, after a rowid.
   *
   * @param status The status.
   * @param afterRowid Only rows after this rowid.
   * @param limit The most rows.
   * @returns The items with their rowids.
   */
  page(status: ClaimStatus, afterRowid: number, limit: number): {
    rowid: number;
    item: LipQueueItem;
  }[] {
    return (this.#page.all(status, afterRowid, limit) as Row[]).map((r) => ({
      rowid: Number(r.row_id),
      item: fromJson<LipQueueItem>(r.record_json),
    }));
  }

  /**
   * A source's record.
   *
   * @param uri The source.
   * @returns The record, or `undefined`.
   */
  source(uri: string): LipSourceRecord | undefined {
    const r = this.#source.get(uri) as Row | undefined;
    if (r === undefined) return undefined;
    return {
      uri,
      tier: r.tier as LipSourceRecord["tier"],
      accurate: Number(r.accurate),
      inaccurate: Number(r.inaccurate),
      updatedMs: Number(r.updated_ms),
    };
  }
}
