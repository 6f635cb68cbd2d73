/**
 * What the agent does over LIP: fetching a source itself (the claims wait
 * `pending`, the evidence is shared), asking a peer to fetch, verifying a
 * peer's evidence by fetching it again, and running the fetches peers ask for.
 *
 * @module
 */

import type { Identity } from "../identity/mod.ts";
import {
  claimId,
  evidenceFromDocument,
  type FetchedDocument,
  type LipFetcher,
  LipFetchError,
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
  /** The LIP runtime. */
  readonly lip: Pick<LipRuntime, "fetched" | "fetchFailed" | "tierOf">;
  /** The router (runtime contexts). */
  readonly router: Pick<ProtocolRouter, "context">;
  /** The store (the LIP queue). */
  readonly store: Pick<Store, "lipItem">;
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
 * The agent's LIP actions.
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
   * @throws {LipFetchError} When the fetch fails or a constraint forbids it.
   */
  async fetch(
    query: string,
    options: {
      constraints?: string[] | undefined;
      share?: readonly string[] | undefined;
      signal?: AbortSignal | undefined;
    } = {},
  ): Promise<{ claims: string[]; sharedWith: SendResult[] }> {
    const { identity, fetcher, lip, router, outbox } = this.#ports;
    const self = identity.fingerprint;
    const request: FetchRequest = {
      query,
      constraints: options.constraints ?? [],
      requestId: "",
      requester: self,
      requesterAgentId: identity.agentId,
    };
    const doc = await fetcher.fetch(
      request,
      options.signal === undefined ? {} : { signal: options.signal },
    );
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
   * Verifies a queued LIP claim by fetching its source again; when the same
   * claim comes out, corroborates it (`LIP_ACCEPT` naming `claim:<id>`).
   *
   * @param claim The claim id in this agent's LIP queue.
   * @param options `to` (default: the claim's peer), a signal.
   * @returns Whether it verified, and the sends.
   * @throws {AgentError} `REFUSED` when no such claim is queued.
   */
  async verifyEvidence(
    claim: string,
    options: { to?: readonly string[] | undefined; signal?: AbortSignal | undefined } = {},
  ): Promise<{ verified: boolean; sent: SendResult[] }> {
    const { identity, fetcher, lip, router, outbox, emit, store } = this.#ports;
    const item = store.lipItem(claim);
    if (item === undefined) throw new AgentError("REFUSED", `No LIP claim ${claim} is queued`);
    let doc: FetchedDocument;
    try {
      doc = await fetcher.fetch({
        query: item.sourceUri,
        constraints: [],
        requestId: "",
        requester: identity.fingerprint,
        requesterAgentId: identity.agentId,
      }, options.signal === undefined ? {} : { signal: options.signal });
    } catch (err) {
      if (!(err instanceof LipFetchError)) throw err;
      emit("evidenceVerified", { claim, verified: false, reason: err.code });
      return { verified: false, sent: [] };
    }
    const ctx = router.context(identity.fingerprint);
    const { payload, source } = evidenceFromDocument(doc, item.sourceUri, {
      tier: lip.tierOf(doc.finalUrl, ctx),
    });
    const verified = payload.claims.some((c) => claimId(c, source.uri) === claim);
    emit("evidenceVerified", {
      claim,
      verified,
      reason: verified ? "same_claim" : "different_content",
    });
    if (!verified) return { verified, sent: [] };
    const sent = await outbox.each(
      options.to ?? [item.peer],
      (fp) =>
        outbox.reply(replySpec("lip", "LIP_ACCEPT", {
          ...outbox.address(fp),
          payload: {
            decision: "accept",
            reason: `re-fetched and verified claim:${claim}`,
            corroborators: [identity.agentId],
          },
          source: { uri: item.sourceUri, trust_tier: item.tier, retrieved_at: doc.retrievedAt },
        })),
    );
    return { verified, sent };
  }

  /**
   * Runs a fetch a peer asked for and answers it with the evidence (or a `LIP_ERROR`).
   *
   * @param request The request.
   * @param peer Who asked.
   */
  async run(request: FetchRequest, peer: string): Promise<void> {
    const { fetcher, lip, router, emit, signal, outbox } = this.#ports;
    let o: Outcome;
    try {
      const doc = await fetcher.fetch(request, { signal });
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
}
