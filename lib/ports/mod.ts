/**
 * Time and chance as inputs (DESIGN.md decision 18): the {@linkcode Clock}
 * and {@linkcode RandomSource} ports every layer takes from its caller, their
 * real defaults ({@linkcode systemClock}, {@linkcode systemRandom}) and their
 * deterministic twins ({@linkcode ManualClock}, {@linkcode seededRandom}).
 * This module imports nothing from the project; every layer may import it.
 *
 * @example A virtual clock and a seeded source
 * ```ts
 * import { ManualClock, randomUuid, seededRandom } from "@web4/runtime/ports";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock({ start: 0 });
 * let fired = 0;
 * clock.setTimeout(() => fired++, 1000);
 * clock.advance(999);
 * assert.equal(fired, 0);
 * clock.advance(1);
 * assert.equal(fired, 1);
 * assert.equal(randomUuid(seededRandom(42)), randomUuid(seededRandom(42)));
 * ```
 *
 * @module
 */

export {
  type Clock,
  ManualClock,
  type ManualClockOptions,
  sleep,
  systemClock,
  type TimerHandle,
} from "./clock.ts";
export {
  jitter,
  randomInt,
  type RandomSource,
  randomUuid,
  seededRandom,
  systemRandom,
} from "./random.ts";
