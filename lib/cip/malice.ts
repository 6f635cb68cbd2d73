/**
 * The judgement of a malice report (docs/protocols.md, the mesh's rules): given
 * the reported node's own signed fact proposals, already verified against
 * its key, and what this node accepted, does the evidence prove malice, show
 * a conflict, or show nothing? Pure: the caller verifies the signatures and
 * applies the trust event.
 *
 * @module
 */

import type { FactProposePayload } from "../envelope/mod.ts";
import { causalLinksOf, conflicts, factSubject, type Knowable } from "./knowledge_rules.ts";

/**
 * What a malice report's evidence shows: `proven_malice` (two of the
 * subject's own claims contradict each other), `conflict` (one contradicts
 * knowledge this node accepted), or `none`.
 */
export type MaliceVerdict = "proven_malice" | "conflict" | "none";

/** An accepted fact as the malice rule reads it (its own `contradicts` links do not count). */
export type AcceptedFact = Omit<Knowable, "contradicts">;

/**
 * A fact proposal as the conflict rule reads it: its subject and canonical
 * value (from `fact.context`) and the ids it says it contradicts.
 *
 * @param msgId The proposal's `msg_id` (its claim id).
 * @param payload The `FACT_PROPOSE` payload.
 * @returns The knowable fact.
 *
 * @example
 * ```ts
 * import { knowableOf } from "./malice.ts";
 * import assert from "node:assert/strict";
 *
 * const k = knowableOf("m-2", {
 *   fact: { statement: "x", domain: "water", confidence: 1, sources: [], context: { subject: "s", value: 1 } },
 *   dmp_trace: { decision_id: "0b5a4f4e-2d7c-4b8e-9a41-6f0d8c1e2a3b", steps: ["looked"], evidence: [] },
 *   causal_links: [{ relation: "contradicts", ref: "m-1" }],
 * });
 * assert.deepEqual([k.subject, k.valueCanon, k.contradicts], ["s", "1", ["m-1"]]);
 * ```
 */
export function knowableOf(msgId: string, payload: FactProposePayload): Knowable {
  const s = factSubject(payload.fact);
  return {
    id: msgId,
    fact: payload.fact,
    subject: s?.subject,
    valueCanon: s?.valueCanon,
    contradicts: causalLinksOf(msgId, payload.causal_links ?? [])
      .filter((l) => l.relation === "contradicts").map((l) => l.ref),
  };
}

/** Options of {@linkcode judgeMalice}. */
export interface JudgeMaliceOptions {
  /**
   * Whether a claim may found a verdict: a contradiction counts only when at
   * least one of its claims does (e.g. only claims signed after the owner's
   * manual override of the subject). @default {every claim}
   */
  counts?: ((claim: Knowable) => boolean) | undefined;
}

/**
 * Judges a malice report's evidence. Two of the subject's claims that
 * conflict with each other prove malice; otherwise one that conflicts with
 * an accepted fact about the same domain and subject is a conflict;
 * otherwise nothing is shown. Facts without a subject conflict only
 * through explicit `contradicts` links between the claims. With `counts`,
 * a contradiction needs at least one claim that counts.
 *
 * @param claims The subject's own claims (signatures already verified).
 * @param accepted This node's accepted facts about a domain and subject.
 * @param options Which claims count.
 * @returns The verdict.
 *
 * @example
 * ```ts
 * import { judgeMalice, type AcceptedFact } from "./malice.ts";
 * import assert from "node:assert/strict";
 *
 * const fact = { statement: "x", domain: "water", confidence: 1, sources: [] };
 * const at = (id: string, value: string) => ({ id, fact, subject: "s", valueCanon: value, contradicts: [] });
 * const none = (): AcceptedFact[] => [];
 * assert.equal(judgeMalice([at("a", "1"), at("b", "2")], none), "proven_malice");
 * assert.equal(judgeMalice([at("a", "1")], () => [at("k", "3")]), "conflict");
 * assert.equal(judgeMalice([at("a", "1")], none), "none");
 * // Only claims signed after the owner's override count:
 * const after = { counts: (k: { id: string }) => k.id === "c" };
 * assert.equal(judgeMalice([at("a", "1"), at("b", "2")], none, after), "none");
 * assert.equal(judgeMalice([at("a", "1"), at("c", "2")], none, after), "proven_malice");
 * ```
 */
export function judgeMalice(
  claims: readonly Knowable[],
  accepted: (domain: string, subject: string) => readonly AcceptedFact[],
  options: JudgeMaliceOptions = {},
): MaliceVerdict {
  const counts = options.counts ?? (() => true);
  if (
    claims.some((a, i) =>
      claims.slice(i + 1).some((b) => conflicts(a, b) && (counts(a) || counts(b)))
    )
  ) {
    return "proven_malice";
  }
  const contradictsKnowledge = (k: Knowable) =>
    counts(k) && k.subject !== undefined &&
    accepted(k.fact.domain, k.subject).some((c) => conflicts(k, { ...c, contradicts: [] }));
  return claims.some(contradictsKnowledge) ? "conflict" : "none";
}
