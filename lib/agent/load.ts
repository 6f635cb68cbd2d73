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
}

/** Where the agent reads its machine's load. */
export interface LoadSource {
  /**
   * Reads the current load.
   *
   * @returns CPU and memory pressure in `0..1`.
   */
  read(): LoadReading;
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
 * pressure, memory pressure and queue fill, in percent, rounded:
 * `round(100 * max(cpu, memory, queueDepth / queueCapacity))`. Presence:
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
  const lri = Math.round(100 * Math.max(_unit(reading.cpu), _unit(reading.memory), _unit(queue)));
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
