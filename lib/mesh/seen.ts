/**
 * The seen-id cache: the ids of frames this node verified, each kept until
 * its own time (`at` + the window, by this node's clock), so a replay within
 * the window is a duplicate and one outside it is stale. Full is full: a new
 * id is refused rather than an id still in its window forgotten, so no
 * flood of other frames can make an old one new again. Pure: the caller
 * passes the clock.
 *
 * @module
 */

/** What {@linkcode SeenCache.add} did: kept it, knew it, or refused it (a bound). */
export type SeenVerdict = "added" | "duplicate" | "full";

/** Options of {@linkcode SeenCache}. */
export interface SeenCacheOptions {
  /** Ids held at once. @default {16384} */
  capacity?: number | undefined;
  /** The share of `capacity` only privileged adds may fill (trusted origins, this node). @default {0.25} */
  reserve?: number | undefined;
}

/** One id to remember. */
export interface SeenEntry {
  /** Whose id it is (the frame's signer or origin): its ids are counted against `limit`. */
  origin: string;
  /** Remembered until this time (ms); an id past it is forgotten. */
  untilMs: number;
  /** Now (ms). */
  nowMs: number;
  /** How many ids this origin may hold. @default {Infinity} */
  limit?: number | undefined;
  /** Whether the add may use the reserved share (a trusted origin, this node). @default {false} */
  privileged?: boolean | undefined;
}

/**
 * Ids seen, each until its own expiry, with a total bound, per-origin
 * bounds, and a share reserved for trusted origins.
 *
 * @example
 * ```ts
 * import { SeenCache } from "./seen.ts";
 * import assert from "node:assert/strict";
 *
 * const seen = new SeenCache({ capacity: 2 });
 * const entry = { origin: "o", untilMs: 1000, nowMs: 0, privileged: true };
 * assert.equal(seen.add("a", entry), "added");
 * assert.equal(seen.add("a", entry), "duplicate");
 * assert.equal(seen.add("b", entry), "added");
 * assert.equal(seen.add("c", entry), "full"); // "a" is still in its window: kept
 * assert.equal(seen.has("a", 500), true);
 * assert.equal(seen.add("c", { ...entry, nowMs: 1001, untilMs: 2000 }), "added"); // a, b expired
 * assert.equal(seen.has("a", 1001), false);
 * ```
 */
export class SeenCache {
  /** Ids held at once. */
  readonly capacity: number;
  readonly #open: number;
  readonly #ids = new Map<string, { origin: string; untilMs: number }>();
  readonly #perOrigin = new Map<string, number>();
  /** Ids by the second they expire in. */
  readonly #buckets = new Map<number, string[]>();
  #oldest = Infinity;

  /**
   * Creates the cache.
   *
   * @param options Capacity and the reserved share.
   * @throws {RangeError} For a capacity that is not a positive integer or a reserve outside [0, 1).
   */
  constructor(options: SeenCacheOptions = {}) {
    const capacity = options.capacity ?? 16_384;
    const reserve = options.reserve ?? 0.25;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`SeenCache capacity must be a positive integer, got ${capacity}`);
    }
    if (!(reserve >= 0 && reserve < 1)) {
      throw new RangeError(`SeenCache reserve must be in [0, 1), got ${reserve}`);
    }
    this.capacity = capacity;
    this.#open = Math.max(1, Math.floor(capacity * (1 - reserve)));
  }

  /** How many ids it holds (expired ones may still count until the next call). */
  get size(): number {
    return this.#ids.size;
  }

  /**
   * How many ids of one origin it holds.
   *
   * @param origin The origin.
   * @returns The count.
   */
  sizeOf(origin: string): number {
    return this.#perOrigin.get(origin) ?? 0;
  }

  /**
   * Whether an id is held and still in its window.
   *
   * @param id The id.
   * @param nowMs Now.
   * @returns Whether it was seen.
   */
  has(id: string, nowMs: number): boolean {
    this.#purge(nowMs);
    const e = this.#ids.get(id);
    return e !== undefined && e.untilMs >= nowMs;
  }

  /**
   * Remembers an id (only once its frame verified).
   *
   * @param id The id.
   * @param entry Its origin, expiry, the clock and the origin's bound.
   * @returns `added`, `duplicate` (held and in its window) or `full` (a bound: refuse the frame).
   */
  add(id: string, entry: SeenEntry): SeenVerdict {
    const { origin, untilMs, nowMs } = entry;
    this.#purge(nowMs);
    const held = this.#ids.get(id);
    if (held !== undefined) {
      if (held.untilMs >= nowMs) return "duplicate";
      this.#forget(id);
    }
    const bound = entry.privileged === true ? this.capacity : this.#open;
    const limit = entry.limit ?? Infinity;
    // At a bound, ids expired within the current second go first (the rest stay).
    if (this.sizeOf(origin) >= limit || this.#ids.size >= bound) this.#purgeSecond(nowMs);
    if (this.sizeOf(origin) >= limit) return "full";
    if (this.#ids.size >= bound) return "full";
    this.#ids.set(id, { origin, untilMs });
    this.#perOrigin.set(origin, this.sizeOf(origin) + 1);
    const second = Math.floor(untilMs / 1000);
    const bucket = this.#buckets.get(second);
    if (bucket === undefined) this.#buckets.set(second, [id]);
    else bucket.push(id);
    if (second < this.#oldest) this.#oldest = second;
    return "added";
  }

  #forget(id: string): void {
    const e = this.#ids.get(id);
    if (e === undefined) return;
    this.#ids.delete(id);
    const n = this.sizeOf(e.origin) - 1;
    if (n <= 0) this.#perOrigin.delete(e.origin);
    else this.#perOrigin.set(e.origin, n);
  }

  /** Forgets the ids of the current second's bucket that expired before `nowMs`. */
  #purgeSecond(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const ids = this.#buckets.get(second);
    if (ids === undefined) return;
    const keep = ids.filter((id) => {
      const e = this.#ids.get(id);
      if (e === undefined || Math.floor(e.untilMs / 1000) !== second) return false;
      if (e.untilMs >= nowMs) return true;
      this.#forget(id);
      return false;
    });
    if (keep.length === 0) this.#buckets.delete(second);
    else this.#buckets.set(second, keep);
  }

  /** Forgets every id whose second of expiry is over. */
  #purge(nowMs: number): void {
    const current = Math.floor(nowMs / 1000);
    if (current <= this.#oldest) return;
    let oldest = Infinity;
    for (const [second, ids] of this.#buckets) {
      if (second < current) {
        for (const id of ids) {
          // An id re-added later sits in a later bucket with a later expiry: keep it.
          const e = this.#ids.get(id);
          if (e !== undefined && Math.floor(e.untilMs / 1000) === second) this.#forget(id);
        }
        this.#buckets.delete(second);
      } else if (second < oldest) oldest = second;
    }
    this.#oldest = oldest;
  }
}
