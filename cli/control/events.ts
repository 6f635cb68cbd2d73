/**
 * The recent events a control endpoint pages through: a bounded ring with
 * sequence numbers, so a follower resumes from the cursor it was given.
 *
 * @module
 */

import type { EventSink, Web4Event } from "../../lib/observability/mod.ts";

/** One event with its sequence number (from 1). */
export interface SequencedEvent {
  /** Its sequence number. */
  seq: number;
  /** The event. */
  event: Web4Event;
}

/**
 * Keeps the last `capacity` events, numbered, and wakes followers.
 *
 * @example
 * ```ts
 * import { ControlEvents } from "./events.ts";
 * import assert from "node:assert/strict";
 *
 * const events = new ControlEvents(2);
 * for (const kind of ["a", "b", "c"]) events.write({ kind } as never);
 * const page = events.page(0, 10);
 * assert.deepEqual(page.items.map((e) => e.seq), [2, 3]);
 * assert.equal(page.next, 3);
 * ```
 */
export class ControlEvents implements EventSink {
  readonly #ring: SequencedEvent[] = [];
  readonly #capacity: number;
  readonly #waiters = new Set<() => void>();
  #seq = 0;

  /**
   * Creates the ring.
   *
   * @param capacity How many events it keeps. @default {1000}
   */
  constructor(capacity = 1000) {
    this.#capacity = capacity;
  }

  /**
   * Takes one event.
   *
   * @param event The event.
   */
  write(event: Web4Event): void {
    this.#ring.push({ seq: ++this.#seq, event });
    if (this.#ring.length > this.#capacity) this.#ring.shift();
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  /**
   * The events after `cursor`, at most `limit` of them.
   *
   * @param cursor The last sequence number seen (0: from the oldest kept).
   * @param limit How many at most.
   * @returns The events and the cursor to ask with next.
   */
  page(cursor: number, limit: number): { items: SequencedEvent[]; next: number } {
    const items = this.#ring.filter((e) => e.seq > cursor).slice(0, limit);
    return { items, next: items.at(-1)?.seq ?? Math.max(cursor, 0) };
  }

  /**
   * Waits until an event after `cursor` exists, `signal` aborts or
   * `timeoutMs` passes.
   *
   * @param cursor The last sequence number seen.
   * @param timeoutMs How long at most.
   * @param signal Ends the wait.
   */
  async wait(cursor: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#seq > cursor || timeoutMs <= 0 || signal?.aborted) return;
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => wake = resolve);
    this.#waiters.add(wake);
    const timer = setTimeout(wake, timeoutMs);
    signal?.addEventListener("abort", wake, { once: true });
    await woken;
    clearTimeout(timer);
    this.#waiters.delete(wake);
    signal?.removeEventListener("abort", wake);
  }
}
