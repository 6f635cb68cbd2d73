/**
 * Presence and load index (lri) from real local load, through an
 * injectable {@linkcode LoadSource} (spec decision on determinism: tests
 * inject theirs, so a busy machine cannot flip an agent to `overloaded`).
 *
 * @module
 */

import type { Presence } from "../envelope/mod.ts";
import type { LocalLoad } from "../runtime/mod.ts";

/** One reading of the local load, each part in `0..1`. */
export interface LoadReading {
  /** CPU pressure: the 1-minute load average over the CPU count, capped at 1. */
  cpu: number;
  /** Memory pressure: the share of memory in use. */
  memory: number;
  /** The agent's own inbound pressure: bytes held of its inbound queue over its total share. */
  inbound?: number | undefined;
  /** The agent's own event-loop lag over the lag it tolerates. */
  lag?: number | undefined;
}

/** The agent's own pressure, measured by the agent and handed to {@linkcode LoadSource.read}. */
export interface OwnPressure {
  /** Bytes its inbound queue holds now (read from peers, not yet done with). */
  inboundBytes: number;
  /** What all peers together may hold (`InboundBudget.total`). */
  inboundCapacity: number;
  /** How late its last load tick ran, in ms of the agent's clock (0 without a load timer). */
  lagMs: number;
}

/** Where the agent reads its machine's load. */
export interface LoadSource {
  /**
   * Reads the current load.
   *
   * @param own The agent's own pressure (sources of the machine's load ignore it).
   * @returns Pressures in `0..1`.
   */
  read(own?: OwnPressure): LoadReading;
}

/** The agent's own activity, part of its load. */
export interface Activity {
  /** Inbound messages waiting to be dispatched. */
  queueDepth: number;
  /** Queue depth that counts as full (lri 100 from the queue alone). */
  queueCapacity: number;
  /** Intents the agent declared that await their answer (`focused` while any is open). */
  openIntents: number;
}

/**
 * The machine's load from `Deno.loadavg()` and `Deno.systemMemoryInfo()`
 * (needs `--allow-sys=loadavg,systemMemoryInfo`; without it that part
 * reads as 0, so a missing permission never makes an agent look busy).
 *
 * @returns The load source.
 *
 * @example
 * ```ts
 * import { systemLoadSource } from "./load.ts";
 * import assert from "node:assert/strict";
 *
 * const r = systemLoadSource().read();
 * assert.ok(r.cpu >= 0 && r.cpu <= 1 && r.memory >= 0 && r.memory <= 1);
 * ```
 */
export function systemLoadSource(): LoadSource {
  const cpus = Math.max(1, navigator.hardwareConcurrency || 1);
  return {
    read() {
      let cpu = 0;
      let memory = 0;
      try {
        cpu = (Deno.loadavg()[0] ?? 0) / cpus;
      } catch { /* no --allow-sys=loadavg: reads as idle */ }
      try {
        const m = Deno.systemMemoryInfo();
        if (m.total > 0) memory = 1 - m.available / m.total;
      } catch { /* no --allow-sys=systemMemoryInfo: reads as idle */ }
      return { cpu: _unit(cpu), memory: _unit(memory) };
    },
  };
}

/**
 * The agent's own pressure as its load (the default of `AgentOptions.load`):
 * its inbound queue's bytes against its total inbound share, and its
 * event-loop lag (how late the load timer ran, measured with the agent's
 * clock) against `lagBudgetMs`. The host's load average plays no part, so a
 * fresh agent on a busy machine still accepts work, while an agent that
 * cannot keep up with its peers reads as `overloaded`.
 *
 * @param options `lagBudgetMs`: the lag that counts as full. @default {{ lagBudgetMs: 1000 }}
 * @returns The load source.
 *
 * @example
 * ```ts
 * import { ownLoadSource, presenceOf } from "./load.ts";
 * import assert from "node:assert/strict";
 *
 * const source = ownLoadSource();
 * const idle = source.read({ inboundBytes: 0, inboundCapacity: 1000, lagMs: 20 });
 * const idleActivity = { queueDepth: 0, queueCapacity: 256, openIntents: 0 };
 * assert.equal(presenceOf(idle, idleActivity).lri, 2);
 * const flooded = source.read({ inboundBytes: 900, inboundCapacity: 1000, lagMs: 0 });
 * assert.equal(presenceOf(flooded, idleActivity).presence, "overloaded");
 * ```
 */
export function ownLoadSource(options: { lagBudgetMs?: number } = {}): LoadSource {
  const budget = options.lagBudgetMs ?? 1000;
  if (!(budget > 0)) throw new RangeError(`Expected lagBudgetMs > 0, got ${budget}`);
  return {
    read(own) {
      if (own === undefined) return { cpu: 0, memory: 0 };
      const inbound = own.inboundCapacity > 0 ? own.inboundBytes / own.inboundCapacity : 0;
      return { cpu: 0, memory: 0, inbound: _unit(inbound), lag: _unit(own.lagMs / budget) };
    },
  };
}

/**
 * A load source that always reads what it was last set to: for tests and
 * demos that must not depend on the machine they run on.
 *
 * @example
 * ```ts
 * import { FixedLoadSource } from "./load.ts";
 * import assert from "node:assert/strict";
 *
 * const load = new FixedLoadSource();
 * load.set({ cpu: 0.95 });
 * assert.deepEqual(load.read(), { cpu: 0.95, memory: 0 });
 * ```
 */
export class FixedLoadSource implements LoadSource {
  #reading: LoadReading;

  /**
   * Creates the source.
   *
   * @param reading The initial reading. @default {{ cpu: 0, memory: 0 }}
   */
  constructor(reading: Partial<LoadReading> = {}) {
    this.#reading = { cpu: _unit(reading.cpu ?? 0), memory: _unit(reading.memory ?? 0) };
  }

  /**
   * Changes the reading (the agent sees it at its next load tick).
   *
   * @param reading The parts to change.
   */
  set(reading: Partial<LoadReading>): void {
    this.#reading = {
      cpu: _unit(reading.cpu ?? this.#reading.cpu),
      memory: _unit(reading.memory ?? this.#reading.memory),
    };
  }

  /**
   * The current reading.
   *
   * @returns A copy of it.
   */
  read(): LoadReading {
    return { ...this.#reading };
  }
}

/** lri at or above which the agent is `overloaded` (the runtimes' `overloadLri`). */
export const OVERLOADED_LRI = 80;
/** lri at or above which the agent is `engaged`. */
export const ENGAGED_LRI = 50;

/**
 * The documented presence and lri rule. `lri` is the largest of CPU
 * pressure, memory pressure, the agent's own inbound and lag pressure
 * (when the source reads them) and queue fill, in percent, rounded:
 * `round(100 * max(cpu, memory, inbound, lag, queueDepth / queueCapacity))`. Presence:
 * `overloaded` at lri >= 80; `engaged` at lri >= 50; otherwise `focused`
 * while intents are open, `diffuse` when idle.
 *
 * @param reading The machine's load.
 * @param activity The agent's own activity.
 * @returns Presence and lri.
 *
 * @example
 * ```ts
 * import { presenceOf } from "./load.ts";
 * import assert from "node:assert/strict";
 *
 * const idle = { queueDepth: 0, queueCapacity: 100, openIntents: 0 };
 * assert.deepEqual(presenceOf({ cpu: 0.1, memory: 0.2 }, idle), { presence: "diffuse", lri: 20 });
 * assert.deepEqual(presenceOf({ cpu: 0.9, memory: 0.2 }, idle), { presence: "overloaded", lri: 90 });
 * ```
 */
export function presenceOf(reading: LoadReading, activity: Activity): LocalLoad {
  const queue = activity.queueCapacity > 0 ? activity.queueDepth / activity.queueCapacity : 0;
  const lri = Math.round(
    100 * Math.max(
      _unit(reading.cpu),
      _unit(reading.memory),
      _unit(reading.inbound ?? 0),
      _unit(reading.lag ?? 0),
      _unit(queue),
    ),
  );
  const presence: Presence = lri >= OVERLOADED_LRI
    ? "overloaded"
    : lri >= ENGAGED_LRI
    ? "engaged"
    : activity.openIntents > 0
    ? "focused"
    : "diffuse";
  return { presence, lri };
}

function _unit(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}
