/**
 * The CIP/1.0 runtime (agent <-> agent): the handshake with domain-separated
 * challenge responses and its trust gate, presence and intents, and the
 * knowledge exchange (claim ledger, causal and decision memory) under the
 * spec's acceptance rules. Pure: no transport, no writes; it returns
 * outcomes (see `lib/runtime/`).
 *
 * @example
 * ```ts
 * import { CipRuntime } from "@web4/runtime/cip";
 * import assert from "node:assert/strict";
 *
 * const cip = new CipRuntime({ handshakeTimeoutMs: 10_000 });
 * assert.ok(cip.types.includes("FACT_PROPOSE"));
 * ```
 *
 * @module
 */

export { CIP_TYPES, CipRuntime, type CipRuntimeOptions } from "./runtime.ts";
export {
  causalLinksOf,
  CHALLENGE_DOMAIN,
  challengeResponseBytes,
  conflicts,
  type FactSubject,
  factSubject,
  type Knowable,
  traceProblem,
} from "./knowledge_rules.ts";
export {
  type AcceptedFact,
  judgeMalice,
  type JudgeMaliceOptions,
  knowableOf,
  type MaliceVerdict,
} from "./malice.ts";
