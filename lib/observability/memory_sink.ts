/**
 * A bounded in-memory ring of events, for tests, the console and recent
 * history.
 *
 * @module
 */

import type { Web4Event } from "./event.ts";
import type { EventSink } from "./telemetry.ts";

/** Options of {@linkcode MemorySink}. */
export interface MemorySinkOptions {
  /**
   * The most events kept; older ones are dropped (and counted).
   *
   * @default {10000}
   */
  capacity?: number;
}

/**
 * Keeps the last `capacity` events in order of arrival.
 *
 * @example
 * ```ts
 * import { MemorySink } from "./memory_sink.ts";
 * import assert from "node:assert/strict";
 *
 * const sink = new MemorySink({ capacity: 2 });
 * for (const seq of [1, 2, 3]) {
 *   sink.write({ v: "1.0", id: `e${seq}`, ts: "2026-01-01T00:00:00.000Z", seq, node: "n", kind: "test.tick", severity: "info", data: {} });
 * }
 * assert.deepEqual(sink.events().map((e) => e.seq), [2, 3]);
 * assert.equal(sink.dropped, 1);
 * ```
 */
export class MemorySink implements EventSink {
  /** The most events kept. */
  readonly capacity: number;
  #ring: Web4Event[] = [];
  #start = 0;
  #dropped = 0;

  /**
   * Creates an empty ring.
   *
   * @param options Capacity.
   * @throws {RangeError} When `capacity` is not a positive integer.
   */
  constructor(options: MemorySinkOptions = {}) {
    const capacity = options.capacity ?? 10_000;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`MemorySink capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** Events dropped because the ring was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Stores one event, dropping the oldest when full.
   *
   * @param event The event.
   */
  write(event: Web4Event): void {
    if (this.#ring.length < this.capacity) {
      this.#ring.push(event);
      return;
    }
    this.#ring[this.#start] = event;
    this.#start = (this.#start + 1) % this.capacity;
    this.#dropped += 1;
  }

  /**
   * The kept events, oldest first, optionally only those of one kind.
   *
   * @param kind Only events of this kind.
   * @returns A new array.
   */
  events(kind?: string): Web4Event[] {
    const ordered = [...this.#ring.slice(this.#start), ...this.#ring.slice(0, this.#start)];
    return kind === undefined ? ordered : ordered.filter((e) => e.kind === kind);
  }

  /** Forgets every kept event (the dropped count stays). */
  clear(): void {
    this.#ring = [];
    this.#start = 0;
  }
}
