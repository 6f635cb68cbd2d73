/**
 * The LIP judge: how an agent decides, by its own lights, whether to vouch
 * for a claim (docs/protocols.md §8, "judges"). Fetching a source again proves
 * only that the source said it; a corroboration (`LIP_ACCEPT`) is sent
 * only when the agent's judge verified the claim, by comparing it with the
 * agent's accepted knowledge or by a rule of its operator. There is no
 * default judge: an agent without one abstains.
 *
 * @module
 */

import type { StoreView } from "../store/mod.ts";
import type { LipQueueItem } from "../store/mod.ts";
import { claimSubject } from "./claims.ts";
import type { FetchedDocument } from "./fetcher.ts";

/** What a judge decides: vouch for the claim, dispute it, or say nothing. */
export type LipVerdict = "corroborate" | "dispute" | "abstain";

/** A judge's decision and why (the reason travels in the `LIP_ACCEPT`/`LIP_REJECT`). */
export interface LipJudgement {
  /** The decision. */
  readonly verdict: LipVerdict;
  /** Why, in words. */
  readonly reason: string;
}

/** What a judge is shown. */
export interface LipJudgeInput {
  /** The queued claim (its content, source, who delivered it, its evidence). */
  readonly item: LipQueueItem;
  /** The source as this agent just fetched it again (it gave the same claim). */
  readonly document: FetchedDocument;
  /** This agent's accepted knowledge. */
  readonly knowledge: Pick<StoreView, "causalFactsAbout" | "causalFact">;
}

/**
 * A judge: the operator's port that verifies a claim before the agent
 * corroborates it. It may be async (an operator's rule may look things up).
 */
export type LipJudge = (input: LipJudgeInput) => LipJudgement | Promise<LipJudgement>;

/**
 * A judge by accepted knowledge: a claim that names a subject and value
 * (`{ subject, value, domain? }`) is corroborated when this agent's causal
 * memory holds the same value for that subject, disputed when it holds a
 * different one, and left alone otherwise (so claims without a subject,
 * such as the default extractor's excerpts, are never vouched for).
 *
 * @returns The judge.
 *
 * @example
 * ```ts
 * import { knowledgeJudge } from "./judge.ts";
 * import type { LipJudgeInput } from "./judge.ts";
 * import assert from "node:assert/strict";
 *
 * const known = [{ id: "k", subject: "aral.nitrate", valueCanon: "12" }];
 * const knowledge = {
 *   causalFactsAbout: (_d: string, s: string) => known.filter((f) => f.subject === s),
 *   causalFact: () => undefined,
 * } as unknown as LipJudgeInput["knowledge"];
 * const judge = knowledgeJudge();
 * const ask = (claim: unknown) =>
 *   judge({ item: { claim }, document: {}, knowledge } as unknown as LipJudgeInput);
 * assert.equal((await ask({ subject: "aral.nitrate", value: 12 })).verdict, "corroborate");
 * assert.equal((await ask({ subject: "aral.nitrate", value: 40 })).verdict, "dispute");
 * assert.equal((await ask("the lake is fine")).verdict, "abstain");
 * ```
 */
export function knowledgeJudge(): LipJudge {
  return ({ item, knowledge }) => {
    const s = claimSubject(item.claim);
    if (s === null) return { verdict: "abstain", reason: "the claim names no subject and value" };
    const facts = knowledge.causalFactsAbout(s.domain, s.subject).filter((f) => f.id !== item.id);
    if (facts.length === 0) {
      return { verdict: "abstain", reason: `no accepted knowledge about ${s.subject}` };
    }
    const same = facts.find((f) => f.valueCanon === s.value);
    if (same !== undefined) {
      return { verdict: "corroborate", reason: `agrees with accepted knowledge ${same.id}` };
    }
    return {
      verdict: "dispute",
      reason: `contradicts accepted knowledge ${facts.map((f) => f.id).join(", ")}`,
    };
  };
}
