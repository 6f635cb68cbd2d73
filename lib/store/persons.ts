/**
 * The `persons` table: the HCP person records, written by `person.upsert`.
 * Internal to the store.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { fromJson, type Row, Statement, toJson } from "./rows.ts";
import type { PersonRecord } from "./types.ts";
import type { Writers } from "./writers.ts";

/** One record per person, kept whole as JSON and replaced by each update. */
export class PersonsTable {
  /** The writer of `person.upsert`. */
  readonly writers: Writers<"person.upsert"> = {
    "person.upsert": (change) => this.put(change.person),
  };
  readonly #replace: Statement;
  readonly #get: Statement;

  /**
   * Prepares the table's statements.
   *
   * @param db The migrated connection.
   */
  constructor(db: DatabaseSync) {
    this.#replace = new Statement(
      db,
      "INSERT OR REPLACE INTO persons (person, record_json, updated_ms) VALUES (?, ?, ?)",
    );
    this.#get = new Statement(db, "SELECT record_json FROM persons WHERE person = ?");
  }

  /**
   * Inserts or replaces a person's record.
   *
   * @param person The record.
   */
  put(person: PersonRecord): void {
    this.#replace.run(person.person, toJson(person), person.updatedMs);
  }

  /**
   * A person's record.
   *
   * @param person The person's fingerprint.
   * @returns The record, or `undefined` if not enrolled.
   */
  get(person: string): PersonRecord | undefined {
    const r = this.#get.get(person) as Row | undefined;
    return r === undefined ? undefined : fromJson<PersonRecord>(r.record_json);
  }
}
