/**
 * The audit stream: an event sink that keeps trust transitions, sanctions,
 * handshakes, consent changes and peer-caused fetches with room reserved
 * per trust level ({@linkcode AuditRetention}), readable in pages, and
 * kept in a JSON Lines file that survives restarts.
 *
 * @module
 */

import {
  type AuditBudget,
  auditLevelOf,
  type AuditLevelStats,
  AuditRetention,
  isAuditEvent,
  type RetainedEntry,
} from "./audit.ts";
import { TRUST_LEVELS, type TrustLevel, type Web4Event } from "./event.ts";
import type { EventSink } from "./telemetry.ts";
import { utf8ByteLength } from "./utf8.ts";

/** Options of {@linkcode AuditLog.open} and {@linkcode AuditLog.memory}. */
export interface AuditLogOptions {
  /**
   * Budgets per trust level (entries and bytes); a level or field not
   * given keeps its default (`DEFAULT_AUDIT_BUDGETS`).
   */
  budgets?: Partial<Record<TrustLevel, Partial<AuditBudget>>>;
  /**
   * Each peer's first entries kept while it has later ones to give up.
   *
   * @default {8}
   */
  keepFirst?: number;
  /**
   * The largest entry kept, in bytes (its JSON line); a larger one is
   * refused and counted in `oversized`. Events from a telemetry are far
   * below it (their strings and arrays are bounded).
   *
   * @default {65536}
   */
  maxEntryBytes?: number;
}

/** One entry of the audit stream. */
export interface AuditEntry {
  /** Its position: increases by one per entry, across restarts; the paging cursor. */
  readonly n: number;
  /** The trust level it is charged to ({@linkcode auditLevelOf}). */
  readonly level: TrustLevel;
  /** The event. */
  readonly event: Web4Event;
}

/** Which entries {@linkcode AuditLog.read} returns. */
export interface AuditQuery {
  /** Only entries after this position (the `next` of the previous page). @default {0} */
  after?: number;
  /** The most entries in the page, 1..1000. @default {100} */
  limit?: number;
  /** Only entries charged to this level. */
  level?: TrustLevel;
  /** Only entries concerning this peer fingerprint. */
  peer?: string;
  /** Only events of this kind. */
  kind?: string;
}

/** One page of the audit stream. */
export interface AuditPage {
  /** The entries, oldest first. */
  entries: AuditEntry[];
  /** The `after` of the next page, or `null` when there is no more. */
  next: number | null;
}

/** What the audit stream holds and what it lost. */
export interface AuditStats {
  /** Per level: entries and bytes kept, entries given up, the budget. */
  levels: Record<TrustLevel, AuditLevelStats>;
  /** Entries refused for their size. */
  oversized: number;
  /** Events written after `close()`. */
  dropped: number;
  /** Lines of the file that could not be read when it was opened. */
  unreadable: number;
  /** Failed background writes (the entries stay in memory and are written by the next compaction). */
  failures: number;
}

/** The most entries one page returns. */
export const MAX_AUDIT_PAGE = 1000;

const _encoder = new TextEncoder();
/** Garbage in the file (evicted entries) tolerated before it is rewritten. */
const _COMPACT_SLACK = 64 * 1024;

/**
 * The audit stream. As an event sink it keeps the audited events
 * ({@linkcode isAuditEvent}), each charged to a trust level
 * ({@linkcode auditLevelOf}) whose budget only that level's entries can
 * use up, so no stranger's traffic can rotate away the person's, the
 * anchors' or the trusted peers' entries (see {@linkcode AuditRetention}).
 * `read` returns it in pages, oldest first.
 *
 * With a file (`AuditLog.open(path)`), every entry is appended as one JSON
 * line `{"n":…,"level":…,"event":{…}}` by a background task (`write` never
 * blocks), the file is rewritten without the evicted entries once they
 * take more room than the kept ones, and opening the file again restores
 * the stream (a torn last line after a crash is skipped and counted). The
 * file holds at most about twice the budgets' bytes plus 64 KiB.
 *
 * @example Strangers cannot rotate away a trusted peer's handshake
 * ```ts
 * import { AuditLog } from "./audit_log.ts";
 * import assert from "node:assert/strict";
 *
 * const audit = AuditLog.memory({ budgets: { stranger: { entries: 10 } } });
 * const event = (seq: number, peer: string, level: "trusted" | "stranger") => ({
 *   v: "1.0" as const, id: `e${seq}`, ts: "2026-01-01T00:00:00.000Z", seq, node: "n",
 *   kind: "cip.handshake", severity: "info" as const, peer, level, data: { step: "verified" },
 * });
 * audit.write(event(1, "aa".repeat(32), "trusted"));
 * for (let i = 0; i < 1_000; i++) audit.write(event(2 + i, i.toString(16).padStart(64, "0"), "stranger"));
 * const page = audit.read({ level: "trusted" });
 * assert.equal(page.entries[0]?.event.peer, "aa".repeat(32));
 * assert.equal(audit.stats().levels.stranger.entries, 10);
 * ```
 */
export class AuditLog implements EventSink, AsyncDisposable {
  /** The file, if any. */
  readonly path: string | undefined;
  /** The largest entry kept, in bytes. */
  readonly maxEntryBytes: number;
  readonly #retention: AuditRetention;
  #next = 1;
  #file: Deno.FsFile | undefined;
  #fileBytes = 0;
  #queue: string[] = [];
  #pendingBytes = 0;
  #compactWanted = false;
  #pump: Promise<void> | undefined;
  #closed = false;
  #oversized = 0;
  #dropped = 0;
  #unreadable = 0;
  #failures = 0;
  #lastError: unknown;

  private constructor(path: string | undefined, options: AuditLogOptions) {
    this.path = path;
    this.maxEntryBytes = options.maxEntryBytes ?? 64 * 1024;
    if (!Number.isInteger(this.maxEntryBytes) || this.maxEntryBytes < 1) {
      throw new RangeError(
        `AuditLog maxEntryBytes must be a positive integer, got ${this.maxEntryBytes}`,
      );
    }
    this.#retention = new AuditRetention(options.budgets, options.keepFirst);
  }

  /**
   * An audit stream in memory only (gone when the process ends).
   *
   * @param options Budgets, `keepFirst`, `maxEntryBytes`.
   * @returns The audit stream.
   * @throws {RangeError} On a budget, `keepFirst` or `maxEntryBytes` that is not a positive integer.
   */
  static memory(options: AuditLogOptions = {}): AuditLog {
    return new AuditLog(undefined, options);
  }

  /**
   * Opens (creating or restoring) an audit stream kept in a file. Entries
   * already in the file are restored in order under the given budgets; the
   * file is rewritten at once when it held unreadable lines or entries the
   * budgets no longer keep.
   *
   * @param path The JSON Lines file.
   * @param options Budgets, `keepFirst`, `maxEntryBytes`.
   * @returns The audit stream.
   * @throws {RangeError} On a budget, `keepFirst` or `maxEntryBytes` that is not a positive integer.
   * @throws {Deno.errors.NotCapable} Without `--allow-read`/`--allow-write` for the path.
   */
  static async open(path: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    const log = new AuditLog(path, options);
    let text = "";
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    let evicted = 0;
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      const entry = _parseLine(line);
      if (entry === undefined) {
        log.#unreadable += 1;
        continue;
      }
      const bytes = utf8ByteLength(line) + 1;
      if (bytes > log.maxEntryBytes || entry.n < log.#next) {
        log.#unreadable += 1;
        continue;
      }
      log.#next = entry.n + 1;
      evicted += log.#retention.add(_retained(entry, line, bytes)).length;
    }
    log.#fileBytes = _encoder.encode(text).length;
    const torn = text !== "" && !text.endsWith("\n");
    if (evicted > 0 || log.#unreadable > 0 || torn) await log.#compact();
    log.#file ??= await Deno.open(path, { append: true, create: true });
    return log;
  }

  /**
   * Keeps an event if it is audited; never blocks and never throws.
   *
   * @param event The event.
   */
  write(event: Web4Event): void {
    if (!isAuditEvent(event)) return;
    if (this.#closed) {
      this.#dropped += 1;
      return;
    }
    const n = this.#next;
    const level = auditLevelOf(event);
    const line = JSON.stringify({ n, level, event });
    const bytes = utf8ByteLength(line) + 1;
    if (bytes > this.maxEntryBytes) {
      this.#oversized += 1;
      return;
    }
    this.#next += 1;
    this.#retention.add(_retained({ n, level, event }, line, bytes));
    if (this.path === undefined) return;
    this.#queue.push(line);
    this.#pendingBytes += bytes;
    this.#fileBytes += bytes;
    // A stalled disk: drop the queue, the next compaction writes what is kept.
    if (this.#pendingBytes > this.#retention.bytes + _COMPACT_SLACK) this.#compactWanted = true;
    this.#pump ??= this.#drain();
  }

  /**
   * One page of the stream, oldest first.
   *
   * @param query Cursor (`after`), `limit`, and filters (`level`, `peer`, `kind`).
   * @returns The entries and the cursor of the next page.
   * @throws {RangeError} When `limit` is not an integer in 1..1000 or `after` not an integer >= 0.
   */
  read(query: AuditQuery = {}): AuditPage {
    const after = query.after ?? 0;
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) {
      throw new RangeError(
        `Audit page limit must be an integer in 1..${MAX_AUDIT_PAGE}, got ${limit}`,
      );
    }
    if (!Number.isInteger(after) || after < 0) {
      throw new RangeError(`Audit cursor must be an integer >= 0, got ${after}`);
    }
    const entries: AuditEntry[] = [];
    for (const e of this.#retention.entries()) {
      if (e.n <= after) continue;
      if (query.level !== undefined && e.level !== query.level) continue;
      if (query.peer !== undefined && e.peer !== query.peer) continue;
      if (query.kind !== undefined && e.kind !== query.kind) continue;
      if (entries.length === limit) return { entries, next: entries.at(-1)!.n };
      entries.push(_parseLine(e.line)!);
    }
    return { entries, next: null };
  }

  /**
   * What the stream holds and what it lost.
   *
   * @returns Per-level counts and budgets, refusals, failures.
   */
  stats(): AuditStats {
    return {
      levels: this.#retention.stats(),
      oversized: this.#oversized,
      dropped: this.#dropped,
      unreadable: this.#unreadable,
      failures: this.#failures,
    };
  }

  /** The last background write error, if any. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /**
   * Waits until every kept entry is in the file.
   *
   * @returns When the queue is empty.
   */
  async flush(): Promise<void> {
    while (this.#pump) await this.#pump;
  }

  /** Flushes and closes the file; later events are dropped (counted). Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.flush();
    this.#file?.close();
    this.#file = undefined;
  }

  /** Same as {@linkcode AuditLog.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #garbage(): boolean {
    const kept = this.#retention.bytes;
    return this.#fileBytes - kept > Math.max(kept, _COMPACT_SLACK);
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0 || this.#compactWanted || this.#garbage()) {
        if (this.#compactWanted || this.#garbage()) {
          this.#compactWanted = false;
          this.#queue = [];
          this.#pendingBytes = 0;
          await this.#compact();
          continue;
        }
        const batch = this.#queue;
        this.#queue = [];
        const text = batch.join("\n") + "\n";
        const bytes = _encoder.encode(text);
        this.#pendingBytes -= bytes.length;
        try {
          for (let off = 0; off < bytes.length;) {
            off += await this.#file!.write(bytes.subarray(off));
          }
        } catch (err) {
          this.#failed(err);
          this.#compactWanted = true; // the next compaction writes what the file missed
        }
      }
    } finally {
      this.#pump = undefined;
    }
  }

  /** Rewrites the file with the kept entries only (a temporary file, then a rename). */
  async #compact(): Promise<void> {
    const path = this.path!;
    const lines: string[] = [];
    for (const e of this.#retention.entries()) lines.push(e.line);
    const text = lines.length === 0 ? "" : lines.join("\n") + "\n";
    const written = _encoder.encode(text);
    const tmp = `${path}.tmp`;
    try {
      await Deno.writeFile(tmp, written);
      this.#file?.close();
      this.#file = undefined;
      await Deno.rename(tmp, path);
      this.#fileBytes = written.length + this.#pendingBytes;
    } catch (err) {
      this.#failed(err);
      // Try again only once as much garbage has gathered again.
      this.#fileBytes = this.#retention.bytes + this.#pendingBytes;
    }
    if (this.#file === undefined) {
      try {
        this.#file = await Deno.open(path, { append: true, create: true });
      } catch (err) {
        this.#failed(err);
      }
    }
  }

  #failed(err: unknown): void {
    this.#failures += 1;
    this.#lastError = err;
  }
}

function _retained(entry: AuditEntry, line: string, bytes: number): RetainedEntry {
  return {
    n: entry.n,
    level: entry.level,
    peer: entry.event.peer ?? "",
    kind: entry.event.kind,
    line,
    bytes,
  };
}

const _LEVELS: ReadonlySet<string> = new Set(TRUST_LEVELS);

function _parseLine(line: string): AuditEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== "object") return undefined;
  const { n, level, event } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(n) || (n as number) < 1) return undefined;
  if (typeof level !== "string" || !_LEVELS.has(level)) return undefined;
  if (event === null || typeof event !== "object") return undefined;
  const e = event as Record<string, unknown>;
  if (typeof e.kind !== "string" || typeof e.data !== "object" || e.data === null) return undefined;
  return { n: n as number, level: level as TrustLevel, event: event as Web4Event };
}
