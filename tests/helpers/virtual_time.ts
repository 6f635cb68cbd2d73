/**
 * Virtual time for the timing twins (issue 18 item 6): a {@linkcode ManualClock}
 * moved timer by timer, with the work each timer starts run to completion at
 * that timer's instant before time moves on. Not a simulator (that lives in
 * lib/sim): a stepping helper for tests that assert exact instants.
 *
 * Why stepping: `ManualClock.advance(ms)` runs the timers that fall due on
 * the way synchronously, but what they start (a write on a memory pipe, the
 * peer's read loop, the answer it writes) continues in promise callbacks,
 * which run only after `advance` returns. Advancing to each timer's instant
 * and then letting the event loop turn once makes that work happen at the
 * instant it belongs to, so a pong sent in answer to a ping carries the
 * ping's instant, not the end of a long `advance`.
 *
 * @module
 */

import { ManualClock } from "../../lib/ports/mod.ts";

/** A virtual clock stepped timer by timer (see the module doc). */
export class VirtualTime implements Disposable {
  /** The clock to hand to the code under test. */
  readonly clock: ManualClock;
  readonly #channel = new MessageChannel();
  #wake: (() => void) | undefined;

  /**
   * Creates a clock at monotonic 0 and wall time `start`.
   *
   * @param start The wall time at the start. @default {Date.UTC(2026, 0, 1)}
   */
  constructor(start: number = Date.UTC(2026, 0, 1)) {
    this.clock = new ManualClock({ start });
    this.#channel.port1.onmessage = () => {
      const w = this.#wake;
      this.#wake = undefined;
      w?.();
    };
  }

  /** Virtual milliseconds since the start (the clock's `monotonic()`). */
  get now(): number {
    return this.clock.monotonic();
  }

  /**
   * Lets the event loop turn `turns` times without moving virtual time: every
   * promise chain started so far (memory pipes, the RTT driver's pumps, hooks)
   * runs to its end. A message on a `MessageChannel` is one macrotask, with
   * none of the clamping of a zero-delay timer.
   *
   * @param turns How many macrotask turns. @default {2}
   */
  async settle(turns = 2): Promise<void> {
    for (let i = 0; i < turns; i++) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#channel.port2.postMessage(0);
      });
    }
  }

  /**
   * Moves virtual time to `at` (monotonic ms), stopping at every timer's
   * instant on the way and settling there.
   *
   * @param at The instant to reach (not before now).
   */
  async runUntil(at: number): Promise<void> {
    if (at < this.now) throw new RangeError(`Cannot go back from ${this.now} to ${at}`);
    await this.settle();
    for (let same = 0;;) {
      const next = this.clock.nextAt();
      if (next === undefined || next > at) break;
      same = next === this.now ? same + 1 : 0;
      if (same > 10_000) throw new Error(`Timers keep falling due at ${next} without end`);
      this.clock.advance(next - this.now);
      await this.settle();
    }
    this.clock.advance(at - this.now);
    await this.settle();
  }

  /**
   * Moves virtual time forward by `ms` (see {@linkcode VirtualTime.runUntil}).
   *
   * @param ms Milliseconds.
   */
  async runFor(ms: number): Promise<void> {
    await this.runUntil(this.now + ms);
  }

  /**
   * Steps timer by timer until `cond` holds, and returns that instant.
   *
   * @param what What is awaited, for the error message.
   * @param cond The condition, checked after every step.
   * @param limitMs The virtual instant past which it fails.
   * @returns The virtual instant (monotonic ms) at which `cond` first held.
   * @throws {Error} When `cond` still does not hold at `limitMs`.
   */
  async runUntilTrue(what: string, cond: () => boolean, limitMs: number): Promise<number> {
    await this.settle();
    while (!cond()) {
      const next = this.clock.nextAt();
      if (next === undefined || next > limitMs) {
        throw new Error(`Virtual time ${limitMs} ms reached without ${what} (now ${this.now})`);
      }
      this.clock.advance(next - this.now);
      await this.settle();
    }
    return this.now;
  }

  /**
   * Awaits `work` that needs off-thread steps (WebCrypto signs and verifies
   * on other threads) and may need a little virtual time too (the router's
   * write groups stay open up to 2 virtual ms for messages being verified):
   * whenever `work` is still pending after a settle, one real millisecond
   * passes and virtual time moves by at most one millisecond. So virtual
   * time runs no faster than real time while it waits, and no timer fires
   * early. For setting the scene (connects, handshakes), not for the instant
   * a test asserts.
   *
   * @param what What is awaited, for the error message.
   * @param work The pending work.
   * @param realMs Real milliseconds to wait at most (a liveness bound). @default {10000}
   * @returns What `work` resolves to.
   * @throws {Error} When `work` is still pending after `realMs`.
   */
  async flow<T>(what: string, work: Promise<T>, realMs = 10_000): Promise<T> {
    let settled = false;
    const done = work.finally(() => settled = true);
    done.catch(() => {});
    const deadline = performance.now() + realMs;
    await this.settle();
    while (!settled) {
      if (performance.now() > deadline) {
        throw new Error(`Timed out after ${realMs} real ms (virtual ${this.now}): ${what}`);
      }
      await new Promise((r) => setTimeout(r, 1));
      const next = this.clock.nextAt();
      if (next !== undefined && next <= this.now + 1) this.clock.advance(next - this.now);
      else this.clock.advance(1);
      await this.settle();
    }
    return await done;
  }

  /** Closes the message channel the settling uses. */
  [Symbol.dispose](): void {
    this.#channel.port1.close();
    this.#channel.port2.close();
  }
}
