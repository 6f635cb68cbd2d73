/**
 * Judges: how a node decides its vote on another node's fact (docs/protocols.md
 * section 8, "judges"). A confirmation is a statement that this node
 * verified the fact, so it comes only from a judge that really checks;
 * there is no default judge, and a node without one abstains.
 *
 * @module
 */

import { factSubject } from "../cip/mod.ts";
import { canonicalize, type FactProposePayload } from "../envelope/mod.ts";
import type { CausalFact } from "../store/mod.ts";

/** A judge's verdict: confirm (verified), challenge (contradicted), or abstain (cannot tell). */
export type JudgeVerdict = "confirm" | "challenge" | "abstain";

/** What a judge may read of the node that votes. */
export interface JudgeContext {
  /**
   * The voter's own accepted facts about a domain and subject.
   *
   * @param domain The fact's domain.
   * @param subject Its `context.subject`.
   * @returns The accepted facts.
   */
  accepted(domain: string, subject: string): readonly CausalFact[];
}

/**
 * How a node judges a fact another node proposed to it. It must verify the
 * fact to confirm it (against the node's own knowledge, or a rule of its
 * operator); a judge that confirms what it did not check gives trust away.
 */
export type Judge = (
  fact: FactProposePayload["fact"],
  proposer: string,
  context: JudgeContext,
) => JudgeVerdict;

/** Options of {@linkcode checkingJudge}. */
export interface CheckingJudgeOptions {
  /**
   * The operator's own reading of a subject (a measurement, a register),
   * `undefined` when it has none. @default {no readings}
   */
  reference?: ((domain: string, subject: string) => unknown) | undefined;
}

/**
 * A judge that checks: a fact naming a subject (`context.subject` and
 * `value`) is confirmed when the node's own accepted knowledge, or else the
 * operator's reading, has the same value; challenged when it has another;
 * otherwise (no subject, nothing to compare with) the node abstains.
 *
 * @param options The operator's readings.
 * @returns The judge.
 *
 * @example
 * ```ts
 * import { checkingJudge } from "./judge.ts";
 * import assert from "node:assert/strict";
 *
 * const readings: Record<string, number> = { "station7.nitrate": 12 };
 * const judge = checkingJudge({ reference: (_domain, subject) => readings[subject] });
 * const fact = (value: number) => ({
 *   statement: "Nitrate", domain: "water", confidence: 0.9, sources: [],
 *   context: { subject: "station7.nitrate", value },
 * });
 * const none = { accepted: () => [] };
 * assert.equal(judge(fact(12), "p", none), "confirm");
 * assert.equal(judge(fact(50), "p", none), "challenge");
 * assert.equal(judge({ ...fact(1), context: { subject: "other", value: 1 } }, "p", none), "abstain");
 * ```
 */
export function checkingJudge(options: CheckingJudgeOptions = {}): Judge {
  return (fact, _proposer, context) => {
    const s = factSubject(fact);
    if (s === undefined) return "abstain";
    const known = context.accepted(fact.domain, s.subject)
      .filter((f) => f.valueCanon !== undefined);
    if (known.some((f) => f.valueCanon !== s.valueCanon)) return "challenge";
    if (known.length > 0) return "confirm";
    const reading = options.reference?.(fact.domain, s.subject);
    if (reading === undefined) return "abstain";
    return canonicalize(reading) === s.valueCanon ? "confirm" : "challenge";
  };
}
