/**
 * A JSON Lines file sink: one event per line, appended in the background,
 * rotated by size.
 *
 * @module
 */

import type { TrustLevel, Web4Event } from "./event.ts";
import type { EventSink } from "./telemetry.ts";

/**
 * Default {@linkcode JsonlFileSink} level shares: strangers' events may
 * fill at most a quarter of each file; the other levels are bounded by
 * the per-peer share only.
 */
export const DEFAULT_LOG_LEVEL_SHARES: Readonly<Partial<Record<TrustLevel, number>>> = Object
  .freeze({ stranger: 0.25 });
/** Default {@linkcode JsonlFileSink} peer share: one peer's events fill at most a quarter of a file. */
export const DEFAULT_LOG_PEER_SHARE = 0.25;

/** Options of {@linkcode JsonlFileSink.open}. */
export interface JsonlFileSinkOptions {
  /**
   * Rotate when the file would grow past this many bytes: `FILE` becomes
   * `FILE.1`, `FILE.1` becomes `FILE.2`, ... up to `keep` old files.
   *
   * @default {10485760}
   */
  maxBytes?: number;
  /**
   * Rotated files kept.
   *
   * @default {3}
   */
  keep?: number;
  /**
   * Bytes waiting to be written at most; past it, events are dropped and
   * counted in `dropped` rather than blocking or growing memory.
   *
   * @default {4194304}
   */
  maxPendingBytes?: number;
  /**
   * The share of each file (a fraction of `maxBytes`, 0..1) that the events
   * of one trust level (an event's `level`) may fill; past it, that level's
   * events are dropped (counted in `shed`) until the file rotates. A level
   * not listed is bounded only by `peerShare`. With the default, strangers
   * alone can never fill a file, so they cannot rotate the others' events
   * away.
   *
   * @default {{ stranger: 0.25 }}
   */
  levelShares?: Partial<Record<TrustLevel, number>>;
  /**
   * The share of each file (a fraction of `maxBytes`, 0..1) that the events
   * of one peer (an event's `peer`) may fill; past it, its events are
   * dropped (counted in `shed`) until the file rotates.
   *
   * @default {0.25}
   */
  peerShare?: number;
}

const encoder = new TextEncoder();

/**
 * Appends events to a file as JSON Lines without ever blocking the caller:
 * `write` queues the line and a background task writes batches. `flush()`
 * waits for the queue to drain; `close()` flushes and closes the file.
 * Write errors are counted in `failures` and reported by `lastError`.
 *
 * Within each file (from one rotation to the next), one peer's events take
 * at most `peerShare` of `maxBytes` and one trust level's at most its
 * `levelShares` entry; events past a share are dropped and counted in
 * `shed`. So one peer, or all strangers together, cannot rotate the log on
 * their own: a file fills only with enough of everyone else's events.
 *
 * @example
 * ```ts
 * import { JsonlFileSink } from "./file_sink.ts";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * await using sink = await JsonlFileSink.open(path);
 * sink.write({ v: "1.0", id: "e1", ts: "2026-01-01T00:00:00.000Z", seq: 1, node: "n", kind: "test.tick", severity: "info", data: {} });
 * await sink.flush();
 * assert.equal(JSON.parse(await Deno.readTextFile(path)).kind, "test.tick");
 * await Deno.remove(path);
 * ```
 */
export class JsonlFileSink implements EventSink, AsyncDisposable {
  /** The file written. */
  readonly path: string;
  /** Rotation threshold in bytes. */
  readonly maxBytes: number;
  /** Rotated files kept. */
  readonly keep: number;
  /** Queue bound in bytes. */
  readonly maxPendingBytes: number;
  /** Bytes of the current file each level may fill. */
  readonly #levelCaps: ReadonlyMap<TrustLevel, number>;
  /** Bytes of the current file each peer may fill. */
  readonly #peerCap: number;
  /** Bytes admitted into the current file (the rotation follows the same count). */
  #admitted: number;
  readonly #levelBytes = new Map<TrustLevel, number>();
  readonly #peerBytes = new Map<string, number>();
  #shed = 0;
  #file: Deno.FsFile;
  #size: number;
  #queue: Uint8Array[] = [];
  #pendingBytes = 0;
  #pump: Promise<void> | undefined;
  #closed = false;
  #dropped = 0;
  #failures = 0;
  #lastError: unknown;

  private constructor(
    path: string,
    file: Deno.FsFile,
    size: number,
    o: Required<JsonlFileSinkOptions>,
  ) {
    this.path = path;
    this.#file = file;
    this.#size = size;
    this.#admitted = size;
    this.maxBytes = o.maxBytes;
    this.keep = o.keep;
    this.maxPendingBytes = o.maxPendingBytes;
    this.#levelCaps = new Map(
      Object.entries(o.levelShares).map(([level, share]) => [
        level as TrustLevel,
        Math.floor(o.maxBytes * share!),
      ]),
    );
    this.#peerCap = Math.floor(o.maxBytes * o.peerShare);
  }

  /**
   * Opens (creating or appending to) a JSON Lines file.
   *
   * @param path File path.
   * @param options Rotation and queue bounds, level and peer shares.
   * @returns The sink.
   * @throws {RangeError} On non-positive bounds, or a share outside 0..1.
   * @throws {Deno.errors.NotCapable} Without `--allow-write`/`--allow-read` for the path.
   */
  static async open(path: string, options: JsonlFileSinkOptions = {}): Promise<JsonlFileSink> {
    const o = {
      maxBytes: options.maxBytes ?? 10 * 1024 * 1024,
      keep: options.keep ?? 3,
      maxPendingBytes: options.maxPendingBytes ?? 4 * 1024 * 1024,
    };
    for (const [name, value] of Object.entries(o)) {
      if (!Number.isInteger(value) || value < (name === "keep" ? 0 : 1)) {
        throw new RangeError(`JsonlFileSink ${name} must be a positive integer, got ${value}`);
      }
    }
    const levelShares = { ...DEFAULT_LOG_LEVEL_SHARES, ...options.levelShares };
    const peerShare = options.peerShare ?? DEFAULT_LOG_PEER_SHARE;
    for (const [name, share] of [...Object.entries(levelShares), ["peerShare", peerShare]]) {
      if (typeof share !== "number" || !(share >= 0 && share <= 1)) {
        throw new RangeError(`JsonlFileSink share of ${name} must be within 0..1, got ${share}`);
      }
    }
    const file = await Deno.open(path, { append: true, create: true });
    const { size } = await file.stat();
    return new JsonlFileSink(path, file, size, { ...o, levelShares, peerShare });
  }

  /** Events dropped because the queue was full or the sink closed. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Events dropped because their peer or trust level had filled its share of the current file. */
  get shed(): number {
    return this.#shed;
  }

  /** Failed background writes. */
  get failures(): number {
    return this.#failures;
  }

  /** The last background write error, if any. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /**
   * Queues one event; never blocks and never throws.
   *
   * @param event The event.
   */
  write(event: Web4Event): void {
    const line = encoder.encode(JSON.stringify(event) + "\n");
    if (this.#closed || this.#pendingBytes + line.length > this.maxPendingBytes) {
      this.#dropped += 1;
      return;
    }
    if (!this.#admit(event, line.length)) {
      this.#shed += 1;
      return;
    }
    this.#queue.push(line);
    this.#pendingBytes += line.length;
    this.#pump ??= this.#drain();
  }

  /**
   * Waits until every queued event is written.
   *
   * @returns When the queue is empty.
   */
  async flush(): Promise<void> {
    while (this.#pump) await this.#pump;
  }

  /** Flushes and closes the file; later writes are dropped. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.flush();
    this.#file.close();
  }

  /** Same as {@linkcode JsonlFileSink.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Charges a line to the current file's shares, or refuses it. The count
   * follows the rotation rule of `#drain` (a non-empty file that the line
   * would take past `maxBytes` rotates first), so both see the same files.
   */
  #admit(event: Web4Event, bytes: number): boolean {
    if (this.#admitted > 0 && this.#admitted + bytes > this.maxBytes) {
      this.#admitted = 0;
      this.#levelBytes.clear();
      this.#peerBytes.clear();
    }
    const level = event.level;
    const levelCap = level === undefined ? undefined : this.#levelCaps.get(level);
    const levelUsed = level === undefined ? 0 : this.#levelBytes.get(level) ?? 0;
    if (levelCap !== undefined && levelUsed + bytes > levelCap) return false;
    const peerUsed = event.peer === undefined ? 0 : this.#peerBytes.get(event.peer) ?? 0;
    if (event.peer !== undefined && peerUsed + bytes > this.#peerCap) return false;
    this.#admitted += bytes;
    if (level !== undefined) this.#levelBytes.set(level, levelUsed + bytes);
    if (event.peer !== undefined) this.#peerBytes.set(event.peer, peerUsed + bytes);
    return true;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        let bytes = 0;
        for (const line of batch) bytes += line.length;
        this.#pendingBytes -= bytes;
        try {
          let chunk: Uint8Array[] = [];
          let chunkBytes = 0;
          for (const line of batch) {
            if (
              this.#size + chunkBytes > 0 && this.#size + chunkBytes + line.length > this.maxBytes
            ) {
              await this.#writeAll(chunk, chunkBytes);
              await this.#rotate();
              chunk = [];
              chunkBytes = 0;
            }
            chunk.push(line);
            chunkBytes += line.length;
          }
          await this.#writeAll(chunk, chunkBytes);
        } catch (err) {
          this.#failures += 1;
          this.#lastError = err;
        }
      }
    } finally {
      this.#pump = undefined;
    }
  }

  async #writeAll(lines: readonly Uint8Array[], bytes: number): Promise<void> {
    if (bytes === 0) return;
    const joined = new Uint8Array(bytes);
    let at = 0;
    for (const line of lines) {
      joined.set(line, at);
      at += line.length;
    }
    for (let off = 0; off < joined.length;) off += await this.#file.write(joined.subarray(off));
    this.#size += bytes;
  }

  async #rotate(): Promise<void> {
    this.#file.close();
    if (this.keep === 0) {
      await Deno.remove(this.path).catch(() => {});
    } else {
      await Deno.remove(`${this.path}.${this.keep}`).catch(() => {});
      for (let i = this.keep - 1; i >= 1; i--) {
        await Deno.rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch(() => {});
      }
      await Deno.rename(this.path, `${this.path}.1`);
    }
    this.#file = await Deno.open(this.path, { append: true, create: true });
    this.#size = 0;
  }
}
