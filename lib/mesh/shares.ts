/**
 * Shares of a rate and of bytes between origins (docs/protocols.md section 8,
 * "rate"). Every frame a neighbour delivers is charged to that neighbour's
 * rate limit (the router's buckets, `node.ts`); a node that forwards frames
 * of other origins to a next hop spends that next hop's limit for this node,
 * so it gives each origin only a share of it, and all of them together only
 * part of it: a stranger two hops away cannot starve a relay's own traffic.
 * Frames waiting to be handled are bounded in bytes per neighbour.
 *
 * @module
 */

import { RateLimiter } from "../router/mod.ts";

/**
 * Per next hop: a bucket per origin (but trusted ones) and one for all
 * forwarded frames.
 *
 * @example
 * ```ts
 * import { ForwardShares } from "./shares.ts";
 * import assert from "node:assert/strict";
 *
 * const shares = new ForwardShares({ burst: 8, perSecond: 4 }, { share: 0.25, total: 0.5 });
 * assert.ok(shares.take("next", "o1", 0));
 * assert.ok(shares.take("next", "o1", 0));
 * assert.equal(shares.take("next", "o1", 0), false); // o1's share (2 of 8) is spent
 * assert.ok(shares.take("next", "o2", 0));
 * assert.ok(shares.take("next", "o2", 0));
 * assert.equal(shares.take("next", "o3", 0), false); // all forwarded frames: 4 of 8
 * assert.equal(shares.take("next", "friend", 0, true), false); // trusted: the total still holds
 * ```
 */
export class ForwardShares {
  readonly #perOrigin: RateLimiter;
  readonly #total: RateLimiter;

  /**
   * Creates the shares.
   *
   * @param limit The next hop's limit (this node's own stands for it).
   * @param shares The share of one origin and of all forwarded frames.
   */
  constructor(
    limit: { burst: number; perSecond: number },
    shares: { share: number; total: number },
  ) {
    const part = (s: number) => ({
      burst: Math.max(1, Math.floor(limit.burst * s)),
      perSecond: limit.perSecond * s,
    });
    this.#perOrigin = new RateLimiter(part(shares.share));
    this.#total = new RateLimiter(part(shares.total));
  }

  /**
   * Takes one forwarded frame of `origin` to `next`. A trusted origin is
   * held only to the total share; any other to its own share as well.
   *
   * @param next The next hop.
   * @param origin The frame's origin (or signer).
   * @param nowMs The clock.
   * @param trusted Whether this node trusts the origin. @default {false}
   * @returns Whether it may go.
   */
  take(next: string, origin: string, nowMs: number, trusted = false): boolean {
    const key = `${next}\n${origin}`;
    if (!trusted && !this.#perOrigin.take(key, nowMs).allowed) return false;
    if (this.#total.take(next, nowMs).allowed) return true;
    if (!trusted) this.#perOrigin.refund(key);
    return false;
  }
}

/**
 * Bytes of frames waiting to be handled, per neighbour and in total.
 *
 * @example
 * ```ts
 * import { PendingBytes } from "./shares.ts";
 * import assert from "node:assert/strict";
 *
 * const pending = new PendingBytes(100);
 * assert.ok(pending.take("p", 60, 80));
 * assert.equal(pending.take("p", 30, 80), false); // over p's 80
 * pending.release("p", 60);
 * assert.equal(pending.bytes, 0);
 * ```
 */
export class PendingBytes {
  readonly #total: number;
  readonly #of = new Map<string, number>();
  #bytes = 0;

  /**
   * Creates the account.
   *
   * @param total The bound in total.
   */
  constructor(total: number) {
    this.#total = total;
  }

  /** Bytes waiting in total. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Reserves bytes for a neighbour's frame.
   *
   * @param peer The neighbour.
   * @param n The frame's bytes.
   * @param limit The neighbour's bound.
   * @returns Whether it fits.
   */
  take(peer: string, n: number, limit: number): boolean {
    const mine = this.#of.get(peer) ?? 0;
    if (mine + n > limit || this.#bytes + n > this.#total) return false;
    this.#of.set(peer, mine + n);
    this.#bytes += n;
    return true;
  }

  /**
   * Releases a handled frame's bytes.
   *
   * @param peer The neighbour.
   * @param n The frame's bytes.
   */
  release(peer: string, n: number): void {
    const left = (this.#of.get(peer) ?? 0) - n;
    if (left <= 0) this.#of.delete(peer);
    else this.#of.set(peer, left);
    this.#bytes = Math.max(0, this.#bytes - n);
  }
}
