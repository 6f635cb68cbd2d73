/**
 * A bounded memory of (sender fingerprint, msg_id) pairs for replay
 * detection, with its bounds kept per sender.
 *
 * @module
 */

import { systemClock } from "../ports/mod.ts";

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
   * The most pairs remembered at once **for one sender**. When a sender's
   * memory is full, its oldest pairs are forgotten and that sender's time
   * floor rises to their timestamp; other senders are not affected.
   *
   * @default {10000}
   */
  capacity?: number;
  /**
   * The most pairs remembered at once, all senders together (the memory
   * bound: about 120 bytes per pair). Beyond it, the oldest pair of the
   * sender holding the most pairs is forgotten and that sender's floor
   * rises; a sender's fresh envelopes are never refused by this.
   *
   * @default {100000}
   */
  maxEntries?: number;
  /**
   * The most senders remembered at once. When a new sender arrives and the
   * table is full, the least recently recorded sender is forgotten (see
   * {@linkcode ReplayGuard} for what that costs).
   *
   * @default {1024}
   */
  maxSenders?: number;
}

/**
 * The outcome of {@linkcode ReplayGuard.check} and
 * {@linkcode ReplayGuard.record}: `"accepted"` (new; `record` has now
 * remembered it), `"duplicate"` (seen before), `"expired"` (older than the
 * window), or `"below_floor"` (not newer than pairs the guard had to forget
 * for this sender, so it cannot tell whether it is a replay).
 */
export type ReplayVerdict = "accepted" | "duplicate" | "expired" | "below_floor";

/**
 * One remembered pair, as {@linkcode ReplayGuard.snapshot} returns and
 * {@linkcode ReplayGuard.restore} takes it: what a store persists for each
 * accepted envelope.
 */
export interface ReplayEntry {
  /** The sender's fingerprint (64 lowercase hex digits). */
  sender: string;
  /** The envelope's `msg_id`. */
  msgId: string;
  /** The envelope's timestamp, milliseconds since the epoch. */
  timestampMs: number;
}

/** One sender's memory: its pairs, a min-heap of their timestamps, its floor. */
class _SenderMemory {
  floorMs: number;
  newestMs = -Infinity;
  readonly seen = new Map<string, number>();
  // Binary min-heap of (timestamp, msg_id), in two parallel arrays.
  readonly heapTs: number[] = [];
  readonly heapKey: string[] = [];

  constructor(floorMs: number) {
    this.floorMs = floorMs;
  }

  /** The verdict for `msgId` at `timestampMs`; `horizon` is `now - windowMs`. */
  verdict(msgId: string, timestampMs: number, horizon: number, capacity: number): ReplayVerdict {
    if (timestampMs <= this.floorMs) return "below_floor";
    const seenAt = this.seen.get(msgId);
    if (seenAt !== undefined && seenAt >= horizon) return "duplicate";
    // Full, and no pair about to expire: the newcomer is only admitted if it
    // is newer than the oldest pair, which it would push out.
    if (this.seen.size >= capacity && this.heapTs[0]! >= horizon) {
      if (timestampMs <= this.heapTs[0]!) return "below_floor";
    }
    return "accepted";
  }

  /** Remembers a pair whose verdict was `"accepted"`. */
  add(msgId: string, timestampMs: number, horizon: number, capacity: number): void {
    // After this, a pair with the same msg_id is gone (it was outside the
    // window, or the verdict would have been "duplicate").
    this.expire(horizon);
    while (this.seen.size >= capacity) this.evictOldest();
    this.seen.set(msgId, timestampMs);
    this.#push(timestampMs, msgId);
    if (timestampMs > this.newestMs) this.newestMs = timestampMs;
  }

  /** Forgets the oldest pair, raising the floor to its timestamp. */
  evictOldest(): void {
    const [ts, oldKey] = this.#pop();
    this.seen.delete(oldKey);
    if (ts > this.floorMs) this.floorMs = ts;
  }

  expire(horizon: number): void {
    while (this.heapTs.length > 0 && this.heapTs[0]! < horizon) {
      const [, key] = this.#pop();
      this.seen.delete(key);
    }
  }

  #push(ts: number, key: string): void {
    const hts = this.heapTs;
    const hkey = this.heapKey;
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
    const hts = this.heapTs;
    const hkey = this.heapKey;
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

function _checkTimes(timestampMs: number, nowMs: number): void {
  if (typeof timestampMs !== "number" || !Number.isFinite(timestampMs)) {
    throw new TypeError(`Expected timestampMs to be a finite number, got ${timestampMs}`);
  }
  if (typeof nowMs !== "number" || !Number.isFinite(nowMs)) {
    throw new TypeError(`Expected nowMs to be a finite number, got ${nowMs}`);
  }
}

function _checkPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Expected ${name} to be a positive integer, got ${value}`);
  }
}

/**
 * Remembers which `msg_id`s each sender has used, within a time window, in
 * bounded memory, with every bound kept **per sender** (docs/protocols.md §2,
 * "replay window per sender"): no sender, not even one stamping its
 * envelopes up to the allowed skew into the future, can make another
 * sender's fresh envelopes look stale or replayed.
 *
 * - **Window.** A pair is kept while its envelope timestamp lies within
 *   `windowMs` of now; older envelopes are refused by time (`"expired"`),
 *   so they need no memory.
 * - **Capacity, per sender.** If more than `capacity` of one sender's pairs
 *   fall inside the window, that sender's oldest are forgotten and its own
 *   time floor rises to the newest forgotten timestamp: its envelopes at or
 *   below the floor are refused (`"below_floor"`). No replay ever passes,
 *   and its fresh traffic keeps flowing.
 * - **Senders, LRU.** At most `maxSenders` senders are remembered. A new
 *   sender beyond that forgets the least recently recorded one. A sender
 *   whose pairs have all left the window costs nothing to forget. Forgetting
 *   one with pairs still in the window raises a floor for *forgotten and
 *   new* senders to its newest timestamp, so that its pairs can still never
 *   be replayed; senders still remembered are not affected. Only someone
 *   holding more than `maxSenders` keys that each get envelopes through
 *   verification (in a router: authenticated sessions) within one window
 *   can delay new senders this way, and only until that floor (at most
 *   `maxSkewMs` ahead of now) passes.
 * - **Memory.** At most `maxEntries` pairs in all (about 12 MB by default).
 *   Beyond that, the sender holding the most pairs forgets its oldest one
 *   and its own floor rises to it; that only ever refuses envelopes older
 *   than pairs it still holds, never its fresh ones, and never touches
 *   another sender's pairs while that sender holds fewer.
 *
 * **Check, then record.** {@linkcode check} is pure: it returns the verdict
 * and changes nothing. {@linkcode record} checks again and, when the verdict
 * is `"accepted"`, remembers the pair. A router checks, applies the
 * envelope's state change, and records the pair in the same step as it
 * commits that change; a store persists each recorded pair
 * ({@linkcode ReplayEntry}) in that same transaction and, on restart, hands
 * the pairs still inside the window back to {@linkcode restore}, which
 * rebuilds the floors too. {@linkcode snapshot} lists what is remembered.
 *
 * @example Refusing a second use of a msg_id
 * ```ts
 * import { ReplayGuard } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const guard = new ReplayGuard({ windowMs: 120_000, capacity: 1000 });
 * const sender = "ab".repeat(32);
 * const now = Date.now();
 * assert.equal(guard.check(sender, "m-1", now, now), "accepted"); // nothing recorded yet
 * assert.equal(guard.record(sender, "m-1", now, now), "accepted"); // now remembered
 * assert.equal(guard.check(sender, "m-1", now, now), "duplicate");
 * assert.equal(guard.record(sender, "m-1", now, now), "duplicate");
 * ```
 *
 * @example Persisting and restoring
 * ```ts
 * import { ReplayGuard } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const now = Date.now();
 * const before = new ReplayGuard();
 * before.record("ab".repeat(32), "m-1", now, now);
 * const saved = before.snapshot(); // [{ sender, msgId: "m-1", timestampMs }]
 * const after = new ReplayGuard();
 * after.restore(saved, now);
 * assert.equal(after.check("ab".repeat(32), "m-1", now, now), "duplicate");
 * ```
 */
export class ReplayGuard {
  /** How long a pair is remembered, in milliseconds of envelope time. */
  readonly windowMs: number;
  /** The most pairs remembered at once for one sender. */
  readonly capacity: number;
  /** The most senders remembered at once. */
  readonly maxSenders: number;
  /** The most pairs remembered at once, all senders together. */
  readonly maxEntries: number;
  /** Senders, least recently recorded first. */
  readonly #senders = new Map<string, _SenderMemory>();
  /** Floor of senders not in the table: the newest pair of any forgotten sender. */
  #forgottenFloorMs = -Infinity;
  #size = 0;

  /**
   * Creates a guard.
   *
   * @param options `windowMs`, `capacity` (per sender), `maxSenders` and
   *   `maxEntries`.
   * @throws {RangeError} If `windowMs` is not a positive finite number, or
   *   `capacity`, `maxSenders` or `maxEntries` is not a positive integer.
   */
  constructor(options: ReplayGuardOptions = {}) {
    const windowMs = options.windowMs ?? 120_000;
    const capacity = options.capacity ?? 10_000;
    const maxSenders = options.maxSenders ?? 1024;
    const maxEntries = options.maxEntries ?? 100_000;
    if (typeof windowMs !== "number" || !Number.isFinite(windowMs) || windowMs <= 0) {
      throw new RangeError(`Expected windowMs to be a positive number, got ${windowMs}`);
    }
    _checkPositiveInteger("capacity", capacity);
    _checkPositiveInteger("maxSenders", maxSenders);
    _checkPositiveInteger("maxEntries", maxEntries);
    this.windowMs = windowMs;
    this.capacity = capacity;
    this.maxSenders = maxSenders;
    this.maxEntries = maxEntries;
  }

  /** Number of pairs currently remembered, all senders together. */
  get size(): number {
    return this.#size;
  }

  /** Number of senders currently remembered (never above `maxSenders`). */
  get senderCount(): number {
    return this.#senders.size;
  }

  /**
   * The time floor that applies to `sender` (milliseconds since the epoch):
   * its envelopes stamped at or below it are refused. `-Infinity` until that
   * sender's memory first fills up (or, for a sender not remembered, until
   * a sender with pairs in the window had to be forgotten).
   *
   * @param sender The sender's fingerprint.
   * @returns The floor.
   */
  floorOf(sender: string): number {
    return this.#senders.get(sender)?.floorMs ?? this.#forgottenFloorMs;
  }

  /**
   * Tells whether the pair is currently remembered.
   *
   * @param sender The sender's fingerprint.
   * @param msgId The message id.
   * @returns `true` if it was recorded and not yet forgotten.
   */
  has(sender: string, msgId: string): boolean {
    return this.#senders.get(sender)?.seen.has(msgId) ?? false;
  }

  /**
   * Tells what {@linkcode record} would answer now, without changing
   * anything (pure).
   *
   * @param sender The sender's fingerprint.
   * @param msgId The message id.
   * @param timestampMs The envelope's timestamp, milliseconds since the epoch.
   * @param nowMs The current time.
   * @returns The verdict; only `"accepted"` lets the envelope through.
   * @throws {TypeError} If `timestampMs` or `nowMs` is not a finite number.
   */
  check(
    sender: string,
    msgId: string,
    timestampMs: number,
    nowMs: number = systemClock.now(),
  ): ReplayVerdict {
    _checkTimes(timestampMs, nowMs);
    const horizon = nowMs - this.windowMs;
    if (timestampMs < horizon) return "expired";
    const memory = this.#senders.get(sender);
    if (memory === undefined) {
      return timestampMs <= this.#forgottenFloorMs ? "below_floor" : "accepted";
    }
    return memory.verdict(msgId, timestampMs, horizon, this.capacity);
  }

  /**
   * Checks a pair and, if the verdict is `"accepted"`, remembers it (the
   * commit half of check-then-record). Call it when the envelope's effects
   * are committed; a verdict other than `"accepted"` means another envelope
   * with the same pair was recorded since the check, and the caller must
   * not commit.
   *
   * @param sender The sender's fingerprint.
   * @param msgId The message id.
   * @param timestampMs The envelope's timestamp, milliseconds since the epoch.
   * @param nowMs The current time.
   * @returns The verdict; only `"accepted"` recorded anything.
   * @throws {TypeError} If `timestampMs` or `nowMs` is not a finite number.
   */
  record(
    sender: string,
    msgId: string,
    timestampMs: number,
    nowMs: number = systemClock.now(),
  ): ReplayVerdict {
    const verdict = this.check(sender, msgId, timestampMs, nowMs);
    if (verdict !== "accepted") return verdict;
    const horizon = nowMs - this.windowMs;
    let memory = this.#senders.get(sender);
    if (memory === undefined) {
      this.#forgetIdleSender(horizon);
      if (this.#senders.size >= this.maxSenders) this.#forgetOldestSender(horizon);
      memory = new _SenderMemory(
        this.#forgottenFloorMs >= horizon ? this.#forgottenFloorMs : -Infinity,
      );
    } else {
      this.#senders.delete(sender); // re-inserted below: most recently recorded
    }
    this.#senders.set(sender, memory);
    this.#size -= memory.seen.size;
    memory.add(msgId, timestampMs, horizon, this.capacity);
    this.#size += memory.seen.size;
    if (this.#size > this.maxEntries) this.#shrink(horizon);
    return verdict;
  }

  /**
   * Every pair currently remembered, for persisting (senders least recently
   * recorded first; within a sender, in no particular order).
   *
   * @returns Fresh entry objects.
   */
  snapshot(): ReplayEntry[] {
    const out: ReplayEntry[] = [];
    for (const [sender, memory] of this.#senders) {
      for (const [msgId, timestampMs] of memory.seen) out.push({ sender, msgId, timestampMs });
    }
    return out;
  }

  /**
   * Records persisted pairs (from {@linkcode snapshot} or a store's rows), in
   * timestamp order, so that capacity evictions and floors come out as they
   * were. Pairs already outside the window at `nowMs` are skipped, as are
   * duplicates. Restoring every pair recorded since `nowMs - windowMs`
   * (rather than only those {@linkcode snapshot} still lists) also restores
   * the floors exactly.
   *
   * @param entries The pairs, in any order.
   * @param nowMs The current time.
   * @returns How many pairs were recorded.
   * @throws {TypeError} If an entry is malformed (the guard is then unchanged).
   */
  restore(entries: Iterable<ReplayEntry>, nowMs: number = systemClock.now()): number {
    const list = [...entries];
    list.forEach((entry, i) => {
      if (
        entry === null || typeof entry !== "object" || typeof entry.sender !== "string" ||
        typeof entry.msgId !== "string" || typeof entry.timestampMs !== "number" ||
        !Number.isFinite(entry.timestampMs)
      ) {
        throw new TypeError(
          `Expected entry ${i} to be {sender, msgId, timestampMs}, got ${JSON.stringify(entry)}`,
        );
      }
    });
    if (typeof nowMs !== "number" || !Number.isFinite(nowMs)) {
      throw new TypeError(`Expected nowMs to be a finite number, got ${nowMs}`);
    }
    list.sort((a, b) => a.timestampMs - b.timestampMs);
    let restored = 0;
    for (const { sender, msgId, timestampMs } of list) {
      if (this.record(sender, msgId, timestampMs, nowMs) === "accepted") restored++;
    }
    return restored;
  }

  /** Forgets every pair, every sender and every floor. */
  clear(): void {
    this.#senders.clear();
    this.#forgottenFloorMs = -Infinity;
    this.#size = 0;
  }

  /** Back within `maxEntries`: the sender holding the most pairs gives up its oldest. */
  #shrink(horizon: number): void {
    while (this.#size > this.maxEntries) {
      let largest: _SenderMemory | undefined;
      for (const memory of this.#senders.values()) {
        if (largest === undefined || memory.seen.size > largest.seen.size) largest = memory;
      }
      const before = largest!.seen.size;
      largest!.expire(horizon);
      if (largest!.seen.size === before) largest!.evictOldest();
      this.#size -= before - largest!.seen.size;
    }
  }

  /** Drops the least recently recorded sender if all its pairs have left the window. */
  #forgetIdleSender(horizon: number): void {
    const first = this.#senders.entries().next().value;
    if (first !== undefined && first[1].newestMs < horizon && first[1].floorMs < horizon) {
      this.#senders.delete(first[0]);
      this.#size -= first[1].seen.size;
    }
  }

  /** Drops the least recently recorded sender, keeping its pairs unreplayable. */
  #forgetOldestSender(horizon: number): void {
    const first = this.#senders.entries().next().value;
    if (first === undefined) return;
    const [sender, memory] = first;
    this.#senders.delete(sender);
    this.#size -= memory.seen.size;
    const newest = Math.max(memory.newestMs, memory.floorMs);
    if (newest >= horizon && newest > this.#forgottenFloorMs) this.#forgottenFloorMs = newest;
  }
}
