/**
 * The simulator's one clock: a discrete-event timer queue (a binary heap)
 * that moves only when the scheduler runs its next timer, and the per-node
 * views of it (each node's own wall-clock offset, and the set of its timers
 * so a crash can end them as a dying process would).
 *
 * @module
 */

import type { Clock, TimerHandle } from "../ports/mod.ts";

interface _Timer {
  at: number;
  seq: number;
  fn: () => void;
  every: number;
  handle: TimerHandle;
  live: boolean;
}

/**
 * A virtual clock whose timers live in a binary heap: the next due timer is
 * found in O(log n), time jumps straight to it ({@linkcode SimClock.runNext}),
 * ties run in creation order. Implements the {@linkcode Clock} port.
 *
 * @example
 * ```ts
 * import { SimClock } from "@web4/runtime/sim";
 * import assert from "node:assert/strict";
 *
 * const clock = new SimClock({ start: 0 });
 * const seen: number[] = [];
 * clock.setTimeout(() => seen.push(clock.monotonic()), 30);
 * clock.setTimeout(() => seen.push(clock.monotonic()), 10);
 * while (clock.runNext()) { /* one timer per step *\/ }
 * assert.deepEqual(seen, [10, 30]);
 * ```
 */
export class SimClock implements Clock {
  readonly #start: number;
  #mono = 0;
  #seq = 0;
  #heap: _Timer[] = [];
  readonly #live = new Map<TimerHandle, _Timer>();

  /**
   * Creates a clock at `options.start` (wall ms since the epoch).
   *
   * @param options The wall time at monotonic 0. @default {{ start: 1767225600000 }} (2026-01-01)
   */
  constructor(options: { start?: number | undefined } = {}) {
    this.#start = options.start ?? 1_767_225_600_000;
  }

  /** Virtual wall time (ms since the epoch). */
  now(): number {
    return this.#start + this.#mono;
  }

  /** Virtual ms since the simulation began. */
  monotonic(): number {
    return this.#mono;
  }

  /** Runs `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, 0);
  }

  /** Runs `fn` every `ms` (at least 1). */
  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, Math.max(1, Number.isFinite(ms) ? ms : 1));
  }

  /** Cancels a timer (spent and unknown handles are ignored). */
  clear(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    const t = this.#live.get(handle);
    if (t === undefined) return;
    t.live = false;
    this.#live.delete(handle);
  }

  /** No-op: nothing virtual keeps the process alive. */
  ref(_handle: TimerHandle, _on: boolean): void {}

  /** Timers pending. */
  pending(): number {
    return this.#live.size;
  }

  /** When the next timer falls due (monotonic ms), or `undefined`. */
  nextAt(): number | undefined {
    this.#prune();
    return this.#heap[0]?.at;
  }

  /**
   * Moves time to the next due timer and runs it (only that one).
   *
   * @param until Runs nothing due after this instant (monotonic ms).
   * @returns Whether a timer ran.
   */
  runNext(until = Infinity): boolean {
    this.#prune();
    const t = this.#heap[0];
    if (t === undefined || t.at > until) return false;
    this.#pop();
    if (t.at > this.#mono) this.#mono = t.at;
    if (t.every > 0) {
      t.at += t.every;
      t.seq = ++this.#seq;
      this.#push(t);
    } else {
      t.live = false;
      this.#live.delete(t.handle);
    }
    t.fn();
    return true;
  }

  /**
   * Moves time forward to `at` without running anything (the scheduler
   * calls it when no timer is due before `at`).
   *
   * @param at Monotonic ms, not before now.
   */
  jumpTo(at: number): void {
    if (at > this.#mono) this.#mono = at;
  }

  #add(fn: () => void, ms: number, every: number): TimerHandle {
    const handle = ++this.#seq;
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const t: _Timer = {
      at: this.#mono + (every || delay),
      seq: handle,
      fn,
      every,
      handle,
      live: true,
    };
    this.#live.set(handle, t);
    this.#push(t);
    return handle;
  }

  #prune(): void {
    while (this.#heap.length > 0 && !this.#heap[0]!.live) this.#pop();
  }

  #less(a: _Timer, b: _Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(t: _Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

/**
 * One node's view of the simulation clock: the same monotonic time and
 * timers, its own wall-clock offset (pairwise skew), and the set of its
 * pending timers, which {@linkcode NodeClock.kill} cancels (a crashed
 * process runs nothing more).
 *
 * @example
 * ```ts
 * import { NodeClock, SimClock } from "@web4/runtime/sim";
 * import assert from "node:assert/strict";
 *
 * const clock = new SimClock({ start: 0 });
 * const node = new NodeClock(clock, 1500);
 * assert.equal(node.now(), 1500);
 * node.setInterval(() => {}, 10);
 * node.kill();
 * assert.equal(clock.pending(), 0);
 * ```
 */
export class NodeClock implements Clock {
  readonly #base: SimClock;
  readonly #offset: number;
  readonly #mine = new Set<TimerHandle>();
  #dead = false;

  /**
   * A view of `base` whose wall time is `offsetMs` ahead (or behind).
   *
   * @param base The simulation's clock.
   * @param offsetMs This node's wall-clock offset.
   */
  constructor(base: SimClock, offsetMs: number) {
    this.#base = base;
    this.#offset = offsetMs;
  }

  /** This node's wall-clock offset, ms. */
  get offset(): number {
    return this.#offset;
  }

  /** The node's wall time. */
  now(): number {
    return this.#base.now() + this.#offset;
  }

  /** The shared monotonic time. */
  monotonic(): number {
    return this.#base.monotonic();
  }

  /** A timer of this node (none once killed). */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    if (this.#dead) return 0;
    const h = this.#base.setTimeout(() => {
      this.#mine.delete(h);
      fn();
    }, ms);
    this.#mine.add(h);
    return h;
  }

  /** An interval of this node (none once killed). */
  setInterval(fn: () => void, ms: number): TimerHandle {
    if (this.#dead) return 0;
    const h = this.#base.setInterval(fn, ms);
    this.#mine.add(h);
    return h;
  }

  /** Cancels a timer. */
  clear(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    this.#mine.delete(handle);
    this.#base.clear(handle);
  }

  /** No-op. */
  ref(_handle: TimerHandle, _on: boolean): void {}

  /** Cancels every pending timer of this node (new ones are still taken). */
  cancelAll(): void {
    for (const h of this.#mine) this.#base.clear(h);
    this.#mine.clear();
  }

  /** The node crashed: every timer it has is cancelled, and it gets no new ones. */
  kill(): void {
    this.#dead = true;
    this.cancelAll();
  }
}
