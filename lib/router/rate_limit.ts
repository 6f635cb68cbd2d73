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
}
