/**
 * The store's byte counters read from a file, and recounted from its rows
 * (shared by the byte-quota and crash tests).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { openStore } from "../../lib/store/mod.ts";

/** Every `bytes` counter of a store file, by peer (`*` is the total). */
export function counters(path: string): Record<string, number> {
  const db = new DatabaseSync(path);
  try {
    const rows = db.prepare("SELECT peer, n FROM quota_usage WHERE quota = 'bytes' ORDER BY peer")
      .all() as { peer: string; n: number }[];
    return Object.fromEntries(
      rows.filter((r) => Number(r.n) !== 0).map((r) => [r.peer, Number(r.n)]),
    );
  } finally {
    db.close();
  }
}

/**
 * Recounts a store file's bytes from its rows: migration 2 run again on the
 * data as it is (the byte-counting triggers dropped first), then migration 3.
 */
export function recount(path: string): Record<string, number> {
  const db = new DatabaseSync(path);
  try {
    const triggers = db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'trigger' AND (name LIKE '%bytes%' OR name LIKE '%count%')",
    ).all() as { name: string }[];
    db.exec("BEGIN");
    for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
    db.exec("DELETE FROM quota_usage WHERE quota = 'bytes'");
    db.exec("DELETE FROM schema_migrations WHERE version >= 2");
    db.exec("PRAGMA user_version = 1");
    db.exec("COMMIT");
  } finally {
    db.close();
  }
  openStore(path).close(); // applies migration 2 (the current bytes of every row) and the later ones
  return counters(path);
}
