/**
 * The CIP knowledge rules that need no state: what a fact is about, when two
 * facts conflict (docs/protocols.md §2, decision "what conflict means"), the
 * causal links of a proposal, the domain-separated challenge bytes, and the
 * checks of a DMP trace.
 *
 * @module
 */

import { canonicalize, type DmpTrace, type Fact, type FreeForm } from "../envelope/mod.ts";
import type { CausalLink } from "../store/mod.ts";

/** The prefix of every signed challenge response (decision: domain separation). */
export const CHALLENGE_DOMAIN = "web4/cip/1.0 challenge-response\n";

/**
 * The bytes a challenge response signs: the UTF-8 of
 * `"web4/cip/1.0 challenge-response\n" + challenger + "\n" + responder +
 * "\n" + challenge`, never the raw challenge.
 *
 * @param challenger The fingerprint of the side that sent the challenge.
 * @param responder The fingerprint of the side that signs it.
 * @param challenge The challenge, base64 as sent.
 * @returns The bytes to sign or verify.
 *
 * @example
 * ```ts
 * import { challengeResponseBytes } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const text = new TextDecoder().decode(challengeResponseBytes("aa", "bb", "Y2g="));
 * assert.equal(text, "web4/cip/1.0 challenge-response\naa\nbb\nY2g=");
 * ```
 */
export function challengeResponseBytes(
  challenger: string,
  responder: string,
  challenge: string,
): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${CHALLENGE_DOMAIN}${challenger}\n${responder}\n${challenge}`);
}

/** What a fact is about: `fact.context.subject` and the canonical JSON of `fact.context.value`. */
export interface FactSubject {
  /** The subject. */
  subject: string;
  /** RFC 8785 canonical JSON of the value. */
  valueCanon: string;
}

/**
 * What a fact names itself to be about, if it does: a `context` object with
 * a string `subject` and a `value`.
 *
 * @param fact The fact.
 * @returns Subject and canonical value, or `undefined`.
 *
 * @example
 * ```ts
 * import { factSubject } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const fact = { statement: "s", domain: "d", confidence: 1, sources: [], context: { subject: "x", value: { b: 1, a: 2 } } };
 * assert.deepEqual(factSubject(fact), { subject: "x", valueCanon: '{"a":2,"b":1}' });
 * assert.equal(factSubject({ ...fact, context: "free text" }), undefined);
 * ```
 */
export function factSubject(fact: Fact): FactSubject | undefined {
  const context = fact.context;
  if (typeof context !== "object" || context === null || Array.isArray(context)) return undefined;
  const { subject } = context;
  if (typeof subject !== "string" || subject === "" || !("value" in context)) return undefined;
  return { subject, valueCanon: canonicalize(context.value) };
}

/**
 * The causal links of a proposal that have the `{ relation, ref }` shape, as
 * causal-memory links from `from`.
 *
 * @param from The proposal's id.
 * @param links Its `causal_links`.
 * @returns The well-formed links, in order, without duplicates.
 *
 * @example
 * ```ts
 * import { causalLinksOf } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   causalLinksOf("m-2", [{ relation: "contradicts", ref: "m-1" }, "free text"]),
 *   [{ from: "m-2", relation: "contradicts", ref: "m-1" }],
 * );
 * ```
 */
export function causalLinksOf(from: string, links: readonly FreeForm[]): CausalLink[] {
  const seen = new Set<string>();
  const out: CausalLink[] = [];
  for (const link of links) {
    if (typeof link !== "object") continue;
    const { relation, ref } = link;
    if (typeof relation !== "string" || typeof ref !== "string" || relation === "" || ref === "") {
      continue;
    }
    const key = `${relation}\n${ref}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ from, relation, ref });
  }
  return out;
}

/** A fact with what the conflict rule needs. */
export interface Knowable {
  /** Its id (`msg_id` of the proposal, or LIP claim id). */
  id: string;
  /** The fact. */
  fact: Fact;
  /** Its subject and canonical value, if named. */
  subject?: string | undefined;
  /** Canonical value, if a subject is named. */
  valueCanon?: string | undefined;
  /** Its `contradicts` references. */
  contradicts: readonly string[];
}

/**
 * The conflict rule: same `domain` and `subject` with different canonical
 * `value`s, or one lists `{ relation: "contradicts", ref }` for the other.
 * Facts without a subject never conflict implicitly.
 *
 * @param a One fact.
 * @param b Another.
 * @returns Whether they conflict.
 *
 * @example
 * ```ts
 * import { conflicts } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const fact = { statement: "s", domain: "physics", confidence: 1, sources: [] };
 * const a = { id: "a", fact, subject: "x", valueCanon: "1", contradicts: [] };
 * assert.ok(conflicts(a, { ...a, id: "b", valueCanon: "2" }));
 * assert.ok(!conflicts(a, { ...a, id: "b" }));
 * assert.ok(conflicts(a, { id: "c", fact, contradicts: ["a"] }));
 * ```
 */
export function conflicts(a: Knowable, b: Knowable): boolean {
  if (a.id === b.id) return false;
  if (a.contradicts.includes(b.id) || b.contradicts.includes(a.id)) return true;
  return a.subject !== undefined && a.subject === b.subject && a.fact.domain === b.fact.domain &&
    a.valueCanon !== b.valueCanon;
}

/**
 * Checks a DMP trace: at least one non-empty step, and evidence (for a
 * fact, its `sources` count as evidence too).
 *
 * @param trace The trace.
 * @param fact The fact it backs, if a proposal.
 * @returns `null` if consistent, else what is wrong.
 *
 * @example
 * ```ts
 * import { traceProblem } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const trace = { decision_id: "0b5a4f4e-2d7c-4b8e-9a41-6f0d8c1e2a3b", steps: ["looked"], evidence: [] };
 * assert.match(traceProblem(trace)!, /no evidence/);
 * assert.equal(traceProblem({ ...trace, evidence: ["photo"] }), null);
 * ```
 */
export function traceProblem(trace: DmpTrace, fact?: Fact): string | null {
  const blank = (s: FreeForm) =>
    typeof s === "string" ? s.trim() === "" : Object.keys(s).length === 0;
  if (trace.steps.length === 0 || trace.steps.every(blank)) return "the trace has no steps";
  const evidence = trace.evidence.filter((e) => !blank(e)).length +
    (fact?.sources.filter((s) => s.trim() !== "").length ?? 0);
  if (evidence === 0) {
    return fact === undefined
      ? "the trace has no evidence"
      : "the trace has no evidence and the fact no sources";
  }
  return null;
}
