/**
 * A bounded memory of (sender fingerprint, msg_id) pairs for replay
 * detection.
 *
 * @module
 */

/** Options of {@linkcode ReplayGuard}. */
export interface ReplayGuardOptions {
  /**
   * How long (in milliseconds of envelope time) a `msg_id` is remembered.
   * Must be at least the `maxSkewMs` that `verifyEnvelope` uses: an envelope
   * older than `now - windowMs` is refused by the guard itself.
   *
   * @default {120000}
   */
  windowMs?: number;
  /**
   * The most pairs remembered at once. When full, the oldest pairs are
   * forgotten and the time floor rises to their timestamp.
   *
   * @default {100000}
   */
  capacity?: number;
}

/**
 * The outcome of {@linkcode ReplayGuard.check}: `"accepted"` (recorded now),
 * `"duplicate"` (seen before), `"expired"` (older than the window), or
 * `"below_floor"` (not newer than pairs the guard had to forget, so it cannot
 * tell whether it is a replay).
 */
export type ReplayVerdict = "accepted" | "duplicate" | "expired" | "below_floor";

/**
 * Remembers which `msg_id`s each sender has used, within a time window, in
 * bounded memory.
 *
 * A pair is kept only while its envelope timestamp lies within `windowMs` of
 * now; older envelopes are refused by time, so they need no memory. If more
 * than `capacity` pairs fall inside the window, the oldest are evicted and a
 * time floor rises to the newest evicted timestamp: envelopes at or below the
 * floor are refused. No replay ever passes, and fresh traffic keeps flowing.
 *
 * @example Refusing a second use of a msg_id
 * ```ts
 * import { ReplayGuard } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const guard = new ReplayGuard({ windowMs: 120_000, capacity: 1000 });
 * const now = Date.now();
 * assert.equal(guard.check("ab".repeat(32), "m-1", now, now), "accepted");
 * assert.equal(guard.check("ab".repeat(32), "m-1", now, now), "duplicate");
 * ```
 */
export class ReplayGuard {
  /** How long a pair is remembered, in milliseconds of envelope time. */
  readonly windowMs: number;
  /** The most pairs remembered at once. */
  readonly capacity: number;
  #floorMs = -Infinity;
  readonly #seen = new Map<string, number>();
  // Binary min-heap of (timestamp, key), in two parallel arrays.
  readonly #heapTs: number[] = [];
  readonly #heapKey: string[] = [];

  /**
   * Creates a guard.
   *
   * @param options `windowMs` and `capacity`.
   * @throws {RangeError} If `windowMs` is not a positive finite number or
   *   `capacity` is not a positive integer.
   */
  constructor(options: ReplayGuardOptions = {}) {
    const windowMs = options.windowMs ?? 120_000;
    const capacity = options.capacity ?? 100_000;
    if (typeof windowMs !== "number" || !Number.isFinite(windowMs) || windowMs <= 0) {
      throw new RangeError(`Expected windowMs to be a positive number, got ${windowMs}`);
    }
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`Expected capacity to be a positive integer, got ${capacity}`);
    }
    this.windowMs = windowMs;
    this.capacity = capacity;
  }

  /** Number of pairs currently remembered (never above `capacity`). */
  get size(): number {
    return this.#seen.size;
  }

  /**
   * Timestamps at or below this (milliseconds since the epoch) are refused
   * because pairs that old had to be evicted; `-Infinity` until the guard
   * first fills up.
   */
  get floorMs(): number {
    return this.#floorMs;
  }

  /**
   * Tells whether the pair is currently remembered.
   *
   * @param fingerprint The sender's fingerprint.
   * @param msgId The message id.
   * @returns `true` if it was accepted before and not yet forgotten.
   */
  has(fingerprint: string, msgId: string): boolean {
    return this.#seen.has(`${fingerprint}\n${msgId}`);
  }

  /**
   * Checks a pair and, if it is new, records it.
   *
   * @param fingerprint The sender's fingerprint.
   * @param msgId The message id.
   * @param timestampMs The envelope's timestamp, milliseconds since the epoch.
   * @param nowMs The current time.
   * @returns The verdict; only `"accepted"` lets the envelope through.
   * @throws {TypeError} If `timestampMs` or `nowMs` is not a finite number.
   */
  check(
    fingerprint: string,
    msgId: string,
    timestampMs: number,
    nowMs: number = Date.now(),
  ): ReplayVerdict {
    if (!Number.isFinite(timestampMs)) {
      throw new TypeError(`Expected timestampMs to be a finite number, got ${timestampMs}`);
    }
    if (!Number.isFinite(nowMs)) {
      throw new TypeError(`Expected nowMs to be a finite number, got ${nowMs}`);
    }
    const horizon = nowMs - this.windowMs;
    this.#expire(horizon);
    if (timestampMs < horizon) return "expired";
    if (timestampMs <= this.#floorMs) return "below_floor";
    const key = `${fingerprint}\n${msgId}`;
    if (this.#seen.has(key)) return "duplicate";
    if (this.#seen.size >= this.capacity) {
      // Full: the newcomer is only admitted if it is newer than the oldest
      // pair, which is then forgotten and becomes the floor.
      if (timestampMs <= this.#heapTs[0]!) return "below_floor";
      while (this.#seen.size >= this.capacity) {
        const [ts, oldKey] = this.#pop();
        this.#seen.delete(oldKey);
        if (ts > this.#floorMs) this.#floorMs = ts;
      }
    }
    this.#seen.set(key, timestampMs);
    this.#push(timestampMs, key);
    return "accepted";
  }

  /** Forgets every pair and resets the floor. */
  clear(): void {
    this.#seen.clear();
    this.#heapTs.length = 0;
    this.#heapKey.length = 0;
    this.#floorMs = -Infinity;
  }

  #expire(horizon: number): void {
    while (this.#heapTs.length > 0 && this.#heapTs[0]! < horizon) {
      const [, key] = this.#pop();
      this.#seen.delete(key);
    }
  }

  #push(ts: number, key: string): void {
    const hts = this.#heapTs;
    const hkey = this.#heapKey;
    let i = hts.length;
    hts.push(ts);
    hkey.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (hts[parent]! <= ts) break;
      hts[i] = hts[parent]!;
      hkey[i] = hkey[parent]!;
      i = parent;
    }
    hts[i] = ts;
    hkey[i] = key;
  }

  #pop(): [number, string] {
    const hts = this.#heapTs;
    const hkey = this.#heapKey;
    const top: [number, string] = [hts[0]!, hkey[0]!];
    const lastTs = hts.pop()!;
    const lastKey = hkey.pop()!;
    const n = hts.length;
    if (n > 0) {
      let i = 0;
      while (true) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && hts[r]! < hts[l]! ? r : l;
        if (hts[c]! >= lastTs) break;
        hts[i] = hts[c]!;
        hkey[i] = hkey[c]!;
        i = c;
      }
      hts[i] = lastTs;
      hkey[i] = lastKey;
    }
    return top;
  }
}
