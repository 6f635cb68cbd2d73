/**
 * A per-peer token bucket with a bounded number of peers.
 *
 * @module
 */

/** Options of {@linkcode RateLimiter}. */
export interface RateLimitOptions {
  /**
   * Messages a peer may send in a burst.
   *
   * @default {200}
   */
  burst?: number;
  /**
   * Sustained messages per second per peer.
   *
   * @default {100}
   */
  perSecond?: number;
  /**
   * Peers tracked at once; the least recently seen is forgotten (and starts
   * with a full bucket when it returns).
   *
   * @default {4096}
   */
  maxPeers?: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/** The answer of {@linkcode RateLimiter.take}. */
export type RateVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

/**
 * Token buckets per peer: each message takes one token; tokens refill at
 * `perSecond` up to `burst`.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "./rate_limit.ts";
 * import assert from "node:assert/strict";
 *
 * const limiter = new RateLimiter({ burst: 2, perSecond: 1 });
 * assert.ok(limiter.take("peer", 0).allowed);
 * assert.ok(limiter.take("peer", 0).allowed);
 * assert.deepEqual(limiter.take("peer", 0), { allowed: false, retryAfterMs: 1000 });
 * assert.ok(limiter.take("peer", 1000).allowed);
 * ```
 */
export class RateLimiter {
  /** Burst size. */
  readonly burst: number;
  /** Refill rate per second. */
  readonly perSecond: number;
  /** Peers tracked at once. */
  readonly maxPeers: number;
  #buckets = new Map<string, Bucket>();

  /**
   * Creates a limiter.
   *
   * @param options Burst, rate, peer bound.
   * @throws {RangeError} On non-positive values.
   */
  constructor(options: RateLimitOptions = {}) {
    this.burst = options.burst ?? 200;
    this.perSecond = options.perSecond ?? 100;
    this.maxPeers = options.maxPeers ?? 4096;
    for (
      const [name, value] of [["burst", this.burst], ["perSecond", this.perSecond], [
        "maxPeers",
        this.maxPeers,
      ]] as const
    ) {
      if (!(value > 0) || !Number.isFinite(value)) {
        throw new RangeError(`Rate limit ${name} must be a positive number, got ${value}`);
      }
    }
  }

  /**
   * Takes one token for `peer`.
   *
   * @param peer The authenticated peer.
   * @param nowMs The clock.
   * @returns Allowed, or refused with the wait until the next token.
   */
  take(peer: string, nowMs: number): RateVerdict {
    let bucket = this.#buckets.get(peer);
    if (bucket === undefined) {
      bucket = { tokens: this.burst, atMs: nowMs };
      if (this.#buckets.size >= this.maxPeers) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
    } else {
      this.#buckets.delete(peer); // re-inserted below: most recently seen last
      const elapsed = Math.max(0, nowMs - bucket.atMs);
      bucket.tokens = Math.min(this.burst, bucket.tokens + (elapsed * this.perSecond) / 1000);
      bucket.atMs = nowMs;
    }
    this.#buckets.set(peer, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return {
      allowed: false,
      retryAfterMs: Math.ceil(((1 - bucket.tokens) * 1000) / this.perSecond),
    };
  }

  /**
   * Gives back tokens taken for a unit that another gate will charge (so
   * one unit is charged once), up to the burst.
   *
   * @param peer The peer.
   * @param count How many tokens. @default {1}
   *
   * @example
   * ```ts
   * import { RateLimiter } from "./rate_limit.ts";
   * import assert from "node:assert/strict";
   *
   * const limiter = new RateLimiter({ burst: 1, perSecond: 1 });
   * assert.ok(limiter.take("peer", 0).allowed);
   * limiter.refund("peer");
   * assert.ok(limiter.take("peer", 0).allowed);
   * ```
   */
  refund(peer: string, count = 1): void {
    const bucket = this.#buckets.get(peer);
    if (bucket !== undefined) bucket.tokens = Math.min(this.burst, bucket.tokens + count);
  }
}

/** The answer of {@linkcode RateGate.take}. */
export type RateGateVerdict =
  | { readonly verdict: "allowed" }
  | {
    /** Over the limit: `refuse` (answer it, once a second per peer) or `flood` (drop it, counted). */
    readonly verdict: "refuse" | "flood";
    /** When the peer may send again. */
    readonly retryAfterMs: number;
    /** For `refuse`: the messages over the limit since the last refusal, this one included. */
    readonly dropped: number;
  };

/**
 * The router's rate limit: a {@linkcode RateLimiter}, and over it one
 * answered refusal per second per peer at most, the rest dropped and
 * counted, so a flood cannot make the router parse, sign or log a flood.
 *
 * @example
 * ```ts
 * import { RateGate } from "./rate_limit.ts";
 * import assert from "node:assert/strict";
 *
 * const gate = new RateGate({ burst: 1, perSecond: 0.5 });
 * assert.equal(gate.take("peer", 0).verdict, "allowed");
 * assert.deepEqual(gate.take("peer", 0), { verdict: "refuse", retryAfterMs: 2000, dropped: 1 });
 * assert.equal(gate.take("peer", 10).verdict, "flood"); // within the second: dropped, counted
 * const next = gate.take("peer", 1010); // a second later: answered again, reporting both
 * assert.equal(next.verdict === "refuse" && next.dropped, 2);
 * ```
 */
export class RateGate {
  /** The token buckets. */
  readonly limiter: RateLimiter;
  #lastRefusal = new Map<string, number>();
  /** Messages over the limit since the last refusal was answered. */
  #limited = 0;

  /**
   * Creates the gate.
   *
   * @param options Burst, rate, peer bound.
   * @throws {RangeError} On non-positive values.
   */
  constructor(options: RateLimitOptions = {}) {
    this.limiter = new RateLimiter(options);
  }

  /**
   * Takes one token for `peer` and says what to do with its message.
   *
   * @param peer The authenticated session peer.
   * @param nowMs The clock.
   * @returns `allowed`, `refuse` (with the count to report) or `flood`.
   */
  take(peer: string, nowMs: number): RateGateVerdict {
    const verdict = this.limiter.take(peer, nowMs);
    if (verdict.allowed) return { verdict: "allowed" };
    this.#limited += 1;
    const last = this.#lastRefusal.get(peer) ?? -Infinity;
    if (nowMs - last < 1000) {
      return { verdict: "flood", retryAfterMs: verdict.retryAfterMs, dropped: 0 };
    }
    this.#lastRefusal.set(peer, nowMs);
    if (this.#lastRefusal.size > this.limiter.maxPeers) {
      this.#lastRefusal.delete(this.#lastRefusal.keys().next().value!);
    }
    const dropped = this.#limited;
    this.#limited = 0;
    return { verdict: "refuse", retryAfterMs: verdict.retryAfterMs, dropped };
  }
}
