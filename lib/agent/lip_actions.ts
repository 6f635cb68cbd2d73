/**
 * What the agent does over LIP: fetching a source itself (the claims wait
 * `pending`, the evidence is shared), asking a peer to fetch, checking a
 * peer's evidence (fetched again on that peer's account, then judged), and
 * running the fetches peers ask for. Every fetch is charged to whoever its
 * URL came from (docs/protocols.md §8, "who may cause a fetch").
 *
 * @module
 */

import type { Identity } from "../identity/mod.ts";
import {
  claimId,
  evidenceFromDocument,
  type FetchBudget,
  type FetchedDocument,
  type LipFetcher,
  LipFetchError,
  type LipJudge,
  type LipJudgement,
  type LipRuntime,
} from "../lip/mod.ts";
import type { OutboundEnvelope, ProtocolRouter } from "../router/mod.ts";
import { type FetchRequest, type Outcome, replySpec } from "../runtime/mod.ts";
import type { Store } from "../store/mod.ts";
import { AgentError } from "./errors.ts";
import type { Emit } from "./events.ts";
import type { Outbox, SendResult } from "./outbox.ts";

/** What {@linkcode LipActions} needs from the agent. */
export interface LipActionsPorts {
  /** The agent's identity (requester of its own fetches). */
  readonly identity: Identity;
  /** Where sources are fetched. */
  readonly fetcher: LipFetcher;
  /** How many fetches run at once, per account. */
  readonly budget: FetchBudget;
  /** The operator's judge, which verifies a claim before the agent vouches for it; none: abstain. */
  readonly judge: LipJudge | undefined;
  /** The LIP runtime. */
  readonly lip: Pick<LipRuntime, "fetched" | "fetchFailed" | "tierOf" | "fetchAccountOf">;
  /** The router (runtime contexts). */
  readonly router: Pick<ProtocolRouter, "context">;
  /** The store (the LIP queue, accepted knowledge for the judge). */
  readonly store: Pick<Store, "lipItem" | "causalFactsAbout" | "causalFact">;
  /** How messages leave. */
  readonly outbox: Pick<Outbox, "each" | "address" | "reply" | "send">;
  /** Where verifications and failed fetches are reported (`evidenceVerified`, `error`). */
  readonly emit: Emit;
  /** Aborted when the agent stops (ends fetches run for peers). */
  readonly signal: AbortSignal;
  /** Commits an outcome through the router and returns its signed envelopes. */
  commit(o: Outcome, to: { peer: string }): Promise<OutboundEnvelope[]>;
}

/**
 * What {@linkcode LipActions.verifyEvidence} did. `verified` is `true` only
 * when the judge vouched for the claim and the `LIP_ACCEPT` went out.
 * `reason`: `corroborated`, `disputed` (a `LIP_REJECT` went out),
 * `abstained`, `no_judge`, `judge_failed`, `different_content` (the source
 * no longer gives that claim), or the code of the fetch's `LipFetchError`
 * (`not_allowed` when the peer the claim came from may not cause a fetch
 * now, `busy`, `forbidden_address`, ...).
 */
export interface EvidenceCheck {
  /** Whether the agent vouched for the claim. */
  verified: boolean;
  /** Why (see above). */
  reason: string;
  /** The `LIP_ACCEPT`/`LIP_REJECT` sends (none when it abstained or could not check). */
  sent: SendResult[];
}

/** Most characters of a judge's reason repeated in a vote (the vote's reason stays under 1 KiB). */
const _JUDGE_REASON_CHARS = 200;

/**
 * The agent's LIP actions. Every fetch is charged to whoever its URL came
 * from (`FetchRequest.chargedTo`) and runs only if that party is this
 * agent, its person or a peer trusted now, within the {@linkcode FetchBudget}.
 *
 * @example
 * ```ts ignore
 * const lip = new LipActions(ports);
 * const { claims } = await lip.fetch("https://example.org/aral");
 * ```
 */
export class LipActions {
  readonly #ports: LipActionsPorts;

  /**
   * Creates the room.
   *
   * @param ports What it needs from the agent.
   */
  constructor(ports: LipActionsPorts) {
    this.#ports = ports;
  }

  /**
   * Fetches a source itself: the claims queue `pending` (an agent's own
   * fetch never corroborates) and the `LIP_EVIDENCE` goes to `share`.
   *
   * @param query An absolute http(s) URL.
   * @param options Constraints, `share` (default: every verified agent peer), a signal.
   * @returns The claim ids and the peers the evidence went to.
   * @throws {LipFetchError} When the fetch fails, a constraint forbids it or the agent's own
   *   fetches are at their bound (`busy`).
   */
  async fetch(
    query: string,
    options: {
      constraints?: string[] | undefined;
      share?: readonly string[] | undefined;
      signal?: AbortSignal | undefined;
    } = {},
  ): Promise<{ claims: string[]; sharedWith: SendResult[] }> {
    const { identity, lip, router, outbox } = this.#ports;
    const self = identity.fingerprint;
    const request: FetchRequest = {
      query,
      constraints: options.constraints ?? [],
      requestId: "",
      requester: self,
      requesterAgentId: identity.agentId,
      chargedTo: self,
    };
    const doc = await this.#charged(request, options.signal);
    const ctx = router.context(self);
    await this.#ports.commit(lip.fetched(request, doc, ctx), { peer: self });
    const { payload, source } = evidenceFromDocument(doc, query, {
      tier: lip.tierOf(doc.finalUrl, ctx),
    });
    const claims = payload.claims.map((c) => claimId(c, source.uri));
    const sharedWith = await outbox.each(
      options.share,
      (fp) =>
        outbox.reply(replySpec("lip", "LIP_EVIDENCE", { ...outbox.address(fp), payload, source })),
    );
    return { claims, sharedWith };
  }

  /**
   * Asks a peer to fetch for us (`LIP_FETCH`).
   *
   * @param peer The peer.
   * @param query The URL.
   * @param constraints The constraints.
   * @returns The send result.
   */
  async askToFetch(peer: string, query: string, constraints: string[]): Promise<SendResult> {
    const { outbox } = this.#ports;
    const [r] = await outbox.each([peer], (fp) =>
      outbox.reply(replySpec("lip", "LIP_FETCH", {
        ...outbox.address(fp),
        payload: { query, constraints },
      })));
    return r!;
  }

  /**
   * Checks a queued LIP claim and vouches for it only if the judge verified
   * it: without a judge the agent abstains (nothing fetched, nothing sent);
   * otherwise it fetches the source again, charged to the peer the claim
   * came from (refused, `not_allowed`, unless that peer is trusted now),
   * and when the same claim comes out asks the judge: `corroborate` sends
   * `LIP_ACCEPT` naming `claim:<id>`, `dispute` sends `LIP_REJECT`,
   * `abstain` sends nothing.
   *
   * @param claim The claim id in this agent's LIP queue.
   * @param options `to` (default: the claim's peer), a signal.
   * @returns What it did ({@linkcode EvidenceCheck}).
   * @throws {AgentError} `REFUSED` when no such claim is queued.
   */
  async verifyEvidence(
    claim: string,
    options: { to?: readonly string[] | undefined; signal?: AbortSignal | undefined } = {},
  ): Promise<EvidenceCheck> {
    const { identity, judge, outbox, emit, store } = this.#ports;
    const item = store.lipItem(claim);
    if (item === undefined) throw new AgentError("REFUSED", `No LIP claim ${claim} is queued`);
    const done = (verified: boolean, reason: string, sent: SendResult[] = []): EvidenceCheck => {
      emit("evidenceVerified", { claim, verified, reason });
      return { verified, reason, sent };
    };
    if (judge === undefined) return done(false, "no_judge");
    let doc: FetchedDocument;
    try {
      doc = await this.#charged({
        query: item.sourceUri,
        constraints: [],
        requestId: "",
        requester: identity.fingerprint,
        requesterAgentId: identity.agentId,
        chargedTo: item.peer,
      }, options.signal);
    } catch (err) {
      if (!(err instanceof LipFetchError)) throw err;
      return done(false, err.code);
    }
    const { payload, source } = evidenceFromDocument(doc, item.sourceUri, { tier: item.tier });
    if (!payload.claims.some((c) => claimId(c, source.uri) === claim)) {
      return done(false, "different_content");
    }
    let judgement: LipJudgement;
    try {
      judgement = await judge({ item, document: doc, knowledge: store });
    } catch (err) {
      emit("error", { where: "lip_judge", error: String(err), peer: item.peer });
      return done(false, "judge_failed");
    }
    if (judgement.verdict === "abstain") return done(false, "abstained");
    const why = `${[...String(judgement.reason)].slice(0, _JUDGE_REASON_CHARS).join("")}`;
    const at = { uri: item.sourceUri, trust_tier: item.tier, retrieved_at: doc.retrievedAt };
    const vouch = judgement.verdict === "corroborate";
    const sent = await outbox.each(
      options.to ?? [item.peer],
      (fp) =>
        outbox.reply(
          vouch
            ? replySpec("lip", "LIP_ACCEPT", {
              ...outbox.address(fp),
              payload: {
                decision: "accept",
                reason: `judged: ${why} claim:${claim}`,
                corroborators: [identity.agentId],
              },
              source: at,
            })
            : replySpec("lip", "LIP_REJECT", {
              ...outbox.address(fp),
              payload: {
                decision: "reject",
                reason: `judged: ${why} claim:${claim}`,
                corroborators: [],
              },
              source: at,
            }),
        ),
    );
    return done(vouch, vouch ? "corroborated" : "disputed", sent);
  }

  /**
   * Runs a fetch a peer asked for and answers it with the evidence (or a
   * `LIP_ERROR`: `not_allowed` when the requester is no longer trusted,
   * `busy` over the budget, or the fetcher's code).
   *
   * @param request The request.
   * @param peer Who asked.
   */
  async run(request: FetchRequest, peer: string): Promise<void> {
    const { lip, router, emit, signal, outbox } = this.#ports;
    let o: Outcome;
    try {
      const doc = await this.#charged(request, signal);
      o = lip.fetched(request, doc, router.context(peer));
    } catch (err) {
      if (!(err instanceof LipFetchError)) {
        emit("error", { where: "lip_fetch", error: String(err), peer });
        return;
      }
      o = lip.fetchFailed(request, err, router.context(peer));
    }
    if (signal.aborted) return;
    await outbox.send(peer, await this.#ports.commit(o, { peer }));
  }

  /** One fetch on its account: allowed now, within the budget. */
  async #charged(request: FetchRequest, signal: AbortSignal | undefined): Promise<FetchedDocument> {
    const { fetcher, lip, router, budget } = this.#ports;
    const party = request.chargedTo;
    const account = lip.fetchAccountOf(party, router.context(party));
    if (account === undefined) {
      throw new LipFetchError(
        "not_allowed",
        `Fetch of ${request.query} refused: it is charged to ${party}, who may not cause a fetch (only the person, this agent and trusted peers may)`,
        { url: request.query },
      );
    }
    const lease = budget.take(party, account);
    if (lease === undefined) {
      throw new LipFetchError(
        "busy",
        `Fetch of ${request.query} refused: ${
          budget.running(party)
        } fetches already run on the account of ${party}`,
        { url: request.query },
      );
    }
    using _ = lease;
    return await fetcher.fetch(request, signal === undefined ? {} : { signal });
  }
}
