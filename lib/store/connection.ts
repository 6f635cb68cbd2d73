/**
 * Opening the store's SQLite connection with the settings it relies on:
 * WAL (for files), `synchronous=NORMAL`, foreign keys, a busy timeout,
 * recursive triggers (a REPLACE's deletion reaches the byte counters'
 * delete triggers), and the WAL's bound. Internal to the store.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import type { Row } from "./rows.ts";

/** The default WAL bound: the WAL is checkpointed past it and truncated back to it (4 MiB). */
export const DEFAULT_WAL_BYTES = 4 * 1024 * 1024;

/** The settings `SqliteStore.pragma` reads. */
export type StorePragma =
  | "journal_mode"
  | "synchronous"
  | "foreign_keys"
  | "user_version"
  | "journal_size_limit"
  | "wal_autocheckpoint";

/** Every {@linkcode StorePragma}, checked at run time. */
export const STORE_PRAGMAS: readonly string[] = [
  "journal_mode",
  "synchronous",
  "foreign_keys",
  "user_version",
  "journal_size_limit",
  "wal_autocheckpoint",
];

/**
 * Checks a positive integer option.
 *
 * @param name The option, for the message.
 * @param value Its value.
 * @returns The value.
 * @throws {RangeError} If it is not a positive safe integer.
 */
export function positiveLimit(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 1)) {
    throw new RangeError(`Expected ${name} to be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * Opens a connection with the store's settings. A commit that leaves more
 * than `walBytes` in the WAL checkpoints it, and a checkpointed WAL is
 * truncated back to `walBytes`: the WAL file holds at most that plus the
 * last transaction.
 *
 * @param path A file path, or `":memory:"`.
 * @param walBytes The WAL bound.
 * @param image For `":memory:"`: a database image to start from (a copy of
 *   it is loaded before the settings are made).
 * @returns The connection (the caller closes it).
 */
export function openConnection(
  path: string,
  walBytes: number,
  image?: Uint8Array,
): DatabaseSync {
  const db = new DatabaseSync(path, { enableForeignKeyConstraints: true });
  try {
    if (image !== undefined) db.deserialize(image);
    if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA recursive_triggers = ON");
    const pageSize = Number((db.prepare("PRAGMA page_size").get() as Row).page_size);
    db.exec(`PRAGMA wal_autocheckpoint = ${Math.max(1, Math.ceil(walBytes / pageSize))}`);
    db.exec(`PRAGMA journal_size_limit = ${walBytes}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
