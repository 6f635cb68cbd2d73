/**
 * Relay frames held for lack of a route, bounded in bytes per destination
 * and in total: past a bound, the oldest frame of the least trusted origin
 * is dropped (or the new one refused) and the caller is told which.
 * Pure: no I/O, no clock.
 *
 * @module
 */

import type { RelayFrame } from "./frame.ts";
import { leastTrustedOldest } from "./limits.ts";

/** One held frame. */
export interface HeldFrame {
  /** The frame, as it will be forwarded. */
  frame: RelayFrame;
  /** The inner envelope's msg_id. */
  msgId: string;
  /** The inner envelope's timestamp (ms): it expires outside the window around it. */
  timestampMs: number;
  /** Its size (the frame's encoded bytes). */
  bytes: number;
}

/**
 * Held relay frames with byte bounds.
 *
 * @example
 * ```ts
 * import { HeldFrames } from "./held.ts";
 * import assert from "node:assert/strict";
 *
 * const fp = (c: string) => c.repeat(64);
 * const frame = (origin: string) => ({
 *   mesh: "1.0" as const, kind: "relay" as const, origin, destination: fp("d"), hop_limit: 1,
 *   hops: [origin], channel: "state" as const, envelope: "{}",
 * });
 * const held = new HeldFrames({ total: 100, perDestination: 100 });
 * const rank = (o: string) => (o === fp("s") ? 2 : 3);
 * assert.deepEqual(held.add({ frame: frame(fp("s")), msgId: "1", timestampMs: 0, bytes: 60 }, rank), []);
 * const dropped = held.add({ frame: frame(fp("t")), msgId: "2", timestampMs: 0, bytes: 60 }, rank);
 * assert.deepEqual(dropped.map((h) => h.msgId), ["1"]); // the stranger's frame made room
 * assert.equal(held.bytes, 60);
 * ```
 */
export class HeldFrames {
  readonly #total: number;
  readonly #perDestination: number;
  readonly #held: HeldFrame[] = [];
  readonly #bytesTo = new Map<string, number>();
  #bytes = 0;

  /**
   * Creates the store.
   *
   * @param bounds Bytes in total and per destination.
   */
  constructor(bounds: { total: number; perDestination: number }) {
    this.#total = bounds.total;
    this.#perDestination = bounds.perDestination;
  }

  /** How many frames are held. */
  get count(): number {
    return this.#held.length;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The held frames, oldest first (a copy). */
  list(): HeldFrame[] {
    return [...this.#held];
  }

  /**
   * Holds a frame within the bounds.
   *
   * @param h The frame.
   * @param rank How much this node trusts an origin (`trustRank`).
   * @returns What was dropped to make room, or `[h]` itself when it was refused.
   */
  add(h: HeldFrame, rank: (origin: string) => number): HeldFrame[] {
    const dest = h.frame.destination;
    if (h.bytes > this.#perDestination || h.bytes > this.#total) return [h];
    const victims = new Set<HeldFrame>();
    let toDest = this.#bytesTo.get(dest) ?? 0;
    let total = this.#bytes;
    for (;;) {
      const overDest = toDest + h.bytes > this.#perDestination;
      if (!overDest && total + h.bytes <= this.#total) break;
      const candidates = this.#held
        .filter((x) => !victims.has(x) && (!overDest || x.frame.destination === dest))
        .map((x) => [x, x.frame.origin] as const);
      const victim = leastTrustedOldest(candidates, rank);
      // Nothing is dropped for a frame that is itself the one to refuse.
      if (victim === undefined || rank(victim.frame.origin) > rank(h.frame.origin)) return [h];
      victims.add(victim);
      total -= victim.bytes;
      if (victim.frame.destination === dest) toDest -= victim.bytes;
    }
    for (const v of victims) this.remove(v);
    this.#held.push(h);
    this.#bytesTo.set(dest, (this.#bytesTo.get(dest) ?? 0) + h.bytes);
    this.#bytes += h.bytes;
    return [...victims];
  }

  /**
   * Takes a frame out.
   *
   * @param h The frame.
   * @returns Whether it was held.
   */
  remove(h: HeldFrame): boolean {
    const i = this.#held.indexOf(h);
    if (i < 0) return false;
    this.#held.splice(i, 1);
    const dest = h.frame.destination;
    const left = (this.#bytesTo.get(dest) ?? 0) - h.bytes;
    if (left <= 0) this.#bytesTo.delete(dest);
    else this.#bytesTo.set(dest, left);
    this.#bytes -= h.bytes;
    return true;
  }
}
