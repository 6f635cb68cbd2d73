/**
 * The simulation's event log: every event (step, virtual time, kind,
 * detail) feeds a running SHA-256 (the run's digest), the last events stay
 * in a ring buffer for a violation's report, and a tracer may see all of
 * them (`--replay SEED --until STEP`). TLS bytes never enter it.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";

/** One logged event. */
export interface SimEvent {
  /** The scheduler step it happened in. */
  step: number;
  /** Virtual ms since the start. */
  t: number;
  /** What happened (`send`, `deliver`, `fault`, `peerDown`, ...). */
  kind: string;
  /** Its detail, deterministic text. */
  detail: string;
}

/**
 * The event log: a digest over every event and a ring of the last ones.
 *
 * @example
 * ```ts
 * import { EventLog } from "@web4/runtime/sim";
 * import assert from "node:assert/strict";
 *
 * const a = new EventLog(), b = new EventLog();
 * for (const log of [a, b]) log.add(1, 0, "send", "a>b state #1");
 * assert.equal(a.digest(), b.digest());
 * assert.equal(a.count, 1);
 * assert.equal(a.last().length, 1);
 * ```
 */
export class EventLog {
  readonly #hash: Hash = createHash("sha256");
  readonly #ring: SimEvent[];
  #at = 0;
  #count = 0;
  #tracer: ((e: SimEvent) => void) | undefined;

  /**
   * Creates it.
   *
   * @param ringSize How many of the last events to keep. @default {256}
   * @param tracer Sees every event (full tracing).
   */
  constructor(ringSize = 256, tracer?: (e: SimEvent) => void) {
    this.#ring = new Array<SimEvent>(Math.max(1, ringSize));
    this.#tracer = tracer;
  }

  /** Events logged. */
  get count(): number {
    return this.#count;
  }

  /**
   * Logs one event.
   *
   * @param step The scheduler step.
   * @param t Virtual ms.
   * @param kind What.
   * @param detail Its detail.
   */
  add(step: number, t: number, kind: string, detail: string): void {
    const e = { step, t, kind, detail };
    this.#hash.update(`${step} ${t} ${kind} ${detail}\n`);
    this.#ring[this.#at] = e;
    this.#at = (this.#at + 1) % this.#ring.length;
    this.#count++;
    this.#tracer?.(e);
  }

  /**
   * The last events, oldest first.
   *
   * @returns Up to the ring's size.
   */
  last(): SimEvent[] {
    const n = this.#ring.length;
    const out: SimEvent[] = [];
    for (let i = 0; i < n; i++) {
      const e = this.#ring[(this.#at + i) % n];
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  /**
   * The SHA-256 of every event so far, as hex (the log goes on).
   *
   * @returns 64 hex digits.
   */
  digest(): string {
    return this.#hash.copy().digest("hex");
  }
}

/**
 * One line of an event, as a trace or a violation report prints it.
 *
 * @param e The event.
 * @returns `step t kind detail`, time in seconds.
 *
 * @example
 * ```ts
 * import { formatEvent } from "@web4/runtime/sim";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatEvent({ step: 3, t: 1500, kind: "fault", detail: "cut a b" }), "#3 1.500s fault cut a b");
 * ```
 */
export function formatEvent(e: SimEvent): string {
  return `#${e.step} ${(e.t / 1000).toFixed(3)}s ${e.kind} ${e.detail}`;
}
