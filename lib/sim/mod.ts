/**
 * A deterministic simulator of the whole stack (DESIGN.md decision 21,
 * `docs/simulation.md`): N mesh nodes over the `memory` backend on one
 * virtual clock, one seed, faults and a workload drawn from it, invariants
 * checked as it runs, a digest over the event log.
 *
 * @example
 * ```ts
 * import { simulate, summaryLine } from "@web4/runtime/sim";
 * import assert from "node:assert/strict";
 *
 * const run = () => simulate({ seed: 7, nodes: 2, durationMs: 5_000 });
 * const result = await run();
 * assert.equal(result.violations.length, 0);
 * assert.equal((await run()).digest, result.digest); // the same seed, the same run
 * console.log(summaryLine(result)); // sim: seed=7 nodes=2 virtual=5s ... digest=<hex>
 * ```
 *
 * @module
 */

export { NodeClock, SimClock } from "./clock.ts";
export { CryptoSerialiser, Quiescence } from "./quiescence.ts";
export { EventLog, formatEvent, type SimEvent } from "./log.ts";
export {
  APP_CHANNELS,
  APP_MAGIC,
  decodeAppFrame,
  encodeAppFrame,
  type StreamCounts,
  Streams,
  type StreamViolation,
} from "./streams.ts";
export {
  FAULT_KINDS,
  type FaultKind,
  type FaultOptions,
  FaultPlan,
  MAX_DELAY_MS,
} from "./faults.ts";
export { Invariants, type Violation } from "./invariants.ts";
export { type SimNode, World, type WorldHooks, type WorldOptions } from "./world.ts";
export { Workload, type WorkloadOptions } from "./workload.ts";
export { type SimOptions, type SimProgress, type SimResult, simulate, summaryLine } from "./run.ts";
