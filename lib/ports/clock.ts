/**
 * The clock port: wall time for envelopes and records, monotonic time for
 * durations and the transport's deadlines, and timers. Every layer takes a
 * {@linkcode Clock} from its caller; {@linkcode systemClock} is the real one
 * and {@linkcode ManualClock} a virtual one that moves only when told.
 *
 * @module
 */

/** A pending timer, as {@linkcode Clock.setTimeout} returns it. */
export type TimerHandle = number;

/**
 * Time and timers, as every layer of the stack reads them. Call the methods
 * on the clock (`() => clock.now()`): {@linkcode systemClock}'s work unbound,
 * a {@linkcode ManualClock}'s do not.
 */
export interface Clock {
  /** Wall time: milliseconds since the Unix epoch (envelope timestamps, records). */
  now(): number;
  /** Monotonic milliseconds from an arbitrary origin (durations, transport deadlines). */
  monotonic(): number;
  /** Calls `fn` once, `ms` milliseconds from now. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Calls `fn` every `ms` milliseconds until cleared. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer or an interval; `undefined` and spent handles are ignored. */
  clear(handle: TimerHandle | undefined): void;
  /** Whether a pending timer keeps the process alive (a no-op on virtual clocks). */
  ref(handle: TimerHandle, on: boolean): void;
}

// The default implementation: the only place in lib/ that reads the real
// clock or starts a real timer (tests/unit/ports_lint_test.ts allows it here).
/**
 * The real clock: `Date.now()`, `performance.now()` and the global timers.
 *
 * @example
 * ```ts
 * import { systemClock } from "@web4/runtime/ports";
 * import assert from "node:assert/strict";
 *
 * assert.ok(Math.abs(systemClock.now() - Date.now()) < 1000);
 * const t = systemClock.setTimeout(() => {}, 10_000);
 * systemClock.clear(t);
 * ```
 */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (fn: () => void, ms: number) => Number(setTimeout(fn, ms)),
  setInterval: (fn: () => void, ms: number) => Number(setInterval(fn, ms)),
  clear: (handle: TimerHandle | undefined) => clearTimeout(handle),
  ref: (handle: TimerHandle, on: boolean) => on ? Deno.refTimer(handle) : Deno.unrefTimer(handle),
});

/**
 * Resolves after `ms` on `clock`, or rejects with `signal`'s reason when it
 * aborts first (the timer is cleared either way).
 *
 * @param clock The clock.
 * @param ms How long to wait.
 * @param signal Ends the wait early.
 * @returns A promise that resolves after `ms`.
 *
 * @example
 * ```ts
 * import { ManualClock, sleep } from "@web4/runtime/ports";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * let woke = false;
 * const done = sleep(clock, 50).then(() => woke = true);
 * clock.advance(50);
 * await done;
 * assert.ok(woke);
 * ```
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clock.clear(timer);
      reject(signal!.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Options of {@linkcode ManualClock}. */
export interface ManualClockOptions {
  /** The wall time at the start (ms since the epoch). @default {1767225600000} (2026-01-01) */
  start?: number | undefined;
}

interface _Timer {
  at: number;
  seq: number;
  fn: () => void;
  every: number;
}

/**
 * A virtual clock: time moves only by {@linkcode ManualClock.advance}, which
 * runs the timers that fall due in time order (ties in creation order). For
 * tests and simulations: one clock, nothing real pending.
 *
 * @example
 * ```ts
 * import { ManualClock } from "@web4/runtime/ports";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock({ start: 0 });
 * const seen: number[] = [];
 * const every = clock.setInterval(() => seen.push(clock.now()), 10);
 * clock.advance(35);
 * assert.deepEqual(seen, [10, 20, 30]);
 * clock.clear(every);
 * assert.equal(clock.pending(), 0);
 * ```
 */
export class ManualClock implements Clock {
  #wall: number;
  #mono = 0;
  #seq = 0;
  readonly #timers = new Map<TimerHandle, _Timer>();

  /**
   * Creates a clock standing at `options.start`.
   *
   * @param options The start time.
   */
  constructor(options: ManualClockOptions = {}) {
    this.#wall = options.start ?? 1_767_225_600_000;
  }

  /** The virtual wall time. */
  now(): number {
    return this.#wall + this.#mono;
  }

  /** The virtual milliseconds since the clock was made. */
  monotonic(): number {
    return this.#mono;
  }

  /** Schedules `fn` at `now + ms` (at least the current instant). */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, 0);
  }

  /** Schedules `fn` every `ms` (at least 1 ms). */
  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, Math.max(1, ms));
  }

  /** Cancels a timer. */
  clear(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.#timers.delete(handle);
  }

  /** No-op: a virtual timer never keeps a process alive. */
  ref(_handle: TimerHandle, _on: boolean): void {}

  /** How many timers and intervals are pending. */
  pending(): number {
    return this.#timers.size;
  }

  /** When the next timer falls due (monotonic ms), or `undefined` when none is pending. */
  nextAt(): number | undefined {
    let at: number | undefined;
    for (const t of this.#timers.values()) if (at === undefined || t.at < at) at = t.at;
    return at;
  }

  /**
   * Moves time forward by `ms`, running every timer that falls due on the
   * way, at its own instant.
   *
   * @param ms Milliseconds (not negative).
   * @throws {RangeError} If `ms` is negative or not finite.
   */
  advance(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) {
      throw new RangeError(`Expected a finite ms >= 0, got ${ms}`);
    }
    const end = this.#mono + ms;
    for (;;) {
      let next: [TimerHandle, _Timer] | undefined;
      for (const entry of this.#timers) {
        const t = entry[1];
        if (t.at > end) continue;
        if (
          next === undefined || t.at < next[1].at || (t.at === next[1].at && t.seq < next[1].seq)
        ) {
          next = entry;
        }
      }
      if (next === undefined) break;
      const [handle, timer] = next;
      this.#mono = Math.max(this.#mono, timer.at);
      if (timer.every > 0) {
        timer.at += timer.every;
        timer.seq = this.#seq++;
      } else {
        this.#timers.delete(handle);
      }
      timer.fn();
    }
    this.#mono = end;
  }

  #add(fn: () => void, ms: number, every: number): TimerHandle {
    const handle = ++this.#seq;
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    this.#timers.set(handle, { at: this.#mono + (every || delay), seq: handle, fn, every });
    return handle;
  }
}
