/**
 * The LIP runtime: the deferred-acceptance queue for claims from the
 * internet. Pure: it reads the store and trust through the context and
 * returns an {@linkcode Outcome} (store changes, unsigned replies, and
 * effects: `claimChanged` for every queue move, `fetch` for a fetch the
 * agent runs with a `LipFetcher`, `fetched`/`fetchFailed` for its result,
 * `refused` for a refusal by rule, `errorReceived` for a `LIP_ERROR`).
 *
 * @module
 */

import {
  type EnvelopeOf,
  type LipType,
  type SourceTrustTier,
  truncateText,
} from "../envelope/mod.ts";
import {
  type FetchRequest,
  newMsgId,
  type Outcome,
  type ProtocolRuntime,
  type RuntimeContext,
} from "../runtime/mod.ts";
import type { LipQueueItem } from "../store/mod.ts";
import { type AcceptanceOptions, DEFAULT_CLAIM_TTL_MS, MIN_CORROBORATORS } from "./acceptance.ts";
import { claimId, claimRefsInReason } from "./claims.ts";
import { LipError, LipFetchError } from "./errors.ts";
import { type ClaimExtractor, evidenceFromDocument } from "./evidence.ts";
import type { FetchedDocument } from "./fetcher.ts";
import { parseFetchConstraints } from "./urls.ts";
import { type FetchAccount, fetchAccount } from "./policy.ts";
import type { ClaimEvent } from "./queue.ts";
import { type ProvenanceOptions, provenanceQuality, sourceKey, tierInForce } from "./tiers.ts";
import { LipTurn, sourceOf } from "./turn.ts";

/** Default most claims one `LIP_EVIDENCE` may carry. */
export const DEFAULT_MAX_CLAIMS_PER_EVIDENCE = 64;

/** Options of {@linkcode LipRuntime}. */
export interface LipRuntimeOptions extends ProvenanceOptions {
  /** How long a claim may wait (pending or disputed) before it is rejected as expired. @default {86400000} */
  claimTtlMs?: number | undefined;
  /** Trusted corroborators that accept a claim without a `medium` source. @default {2} */
  minCorroborators?: number | undefined;
  /**
   * Tiers the owner pins, by source key (the origin of an http(s) URL, see
   * `sourceKey`), e.g. `{ "https://spam.example": "blocked" }`. A pinned
   * tier never moves.
   */
  sourceTiers?: Readonly<Record<string, SourceTrustTier>> | undefined;
  /** Most claims one `LIP_EVIDENCE` may carry. @default {64} */
  maxClaimsPerEvidence?: number | undefined;
}

/** Options of {@linkcode LipRuntime.fetched}. */
export interface FetchedOptions {
  /** Extracts claims from the document. @default {one `{ query, excerpt }` claim} */
  extract?: ClaimExtractor | undefined;
  /** The confidence reported. @default {0.5} */
  confidence?: number | undefined;
}

const _TYPES: readonly LipType[] = Object.freeze([
  "LIP_FETCH",
  "LIP_EVIDENCE",
  "LIP_CONFLICT",
  "LIP_ACCEPT",
  "LIP_REJECT",
  "LIP_ERROR",
]);

function _positiveInt(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Expected ${name} to be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/**
 * The LIP runtime.
 *
 * - `LIP_FETCH` from the person or a peer `trusted` at that moment (anyone
 *   else: refused, code `not_allowed`), with constraints the default
 *   fetcher can honour: `deferred` (code `fetch_requested`) with a `fetch`
 *   effect charged to the requester; the agent runs it with a
 *   `LipFetcher` and calls {@linkcode LipRuntime.fetched} (or
 *   {@linkcode LipRuntime.fetchFailed}).
 * - `LIP_EVIDENCE`: each claim is queued `pending` under its content id
 *   (`claimId`) and judged at once (`judgeClaim`); a peer `trusted` at that
 *   moment corroborates a claim with its own evidence for the same claim and
 *   source (docs/protocols.md section 4); good provenance counts for the source
 *   only from a trusted peer.
 * - `LIP_ACCEPT` / `LIP_REJECT` / `LIP_CONFLICT` from a peer `trusted` at
 *   that moment corroborate / dispute the claims they name (`claim:<id>`
 *   tokens in `reason`, or `local_refs`; otherwise the open claims of
 *   `source.uri`); from anyone else they are ignored (code `untrusted`).
 * - `LIP_ERROR` is recorded and never answered.
 *
 * Accepted claims go to causal memory (`causal.add`); rejected ones stay
 * in the queue with their reason. {@linkcode LipRuntime.sweep} expires
 * and re-judges waiting claims; {@linkcode LipRuntime.resolve} lets a
 * named human settle a dispute.
 *
 * @example Evidence from a medium source is accepted into causal memory
 * ```ts
 * import { LipRuntime } from "./runtime.ts";
 * import { createEnvelope } from "../envelope/mod.ts";
 * import { Identity } from "../identity/mod.ts";
 * import { createRuntimeContext, selfFromIdentity } from "../runtime/mod.ts";
 * import { openStore } from "../store/mod.ts";
 * import assert from "node:assert/strict";
 *
 * using store = openStore(":memory:");
 * const me = await Identity.generate({ agentId: "me" });
 * const lip = new LipRuntime({ sourceTiers: { "https://example.org": "medium" } });
 * const env = await createEnvelope("lip", "LIP_EVIDENCE", {
 *   identity: me,
 *   receiver: { agent_id: "me", fingerprint: me.fingerprint },
 *   source: { uri: "https://example.org/water", trust_tier: "medium", retrieved_at: new Date().toISOString() },
 *   payload: { claims: [{ subject: "bp", value: 100 }], evidence: ["page"], confidence: 0.9, extraction_notes: "by hand" },
 * });
 * const ctx = createRuntimeContext({ self: selfFromIdentity(me), peer: me.fingerprint, store });
 * const o = lip.handle(env, ctx);
 * store.commit(o.changes);
 * assert.equal(o.status, "handled");
 * assert.equal(store.causalFactsAbout("", "bp").length, 1);
 * ```
 */
export class LipRuntime implements ProtocolRuntime<"lip"> {
  /** Always `"lip"`. */
  readonly protocol = "lip" as const;
  /** Every LIP type, `LIP_ERROR` included. */
  readonly types: readonly LipType[] = _TYPES;
  /** The owner's pinned tiers, by source key. */
  readonly pins: Readonly<Record<string, SourceTrustTier>>;
  /** The acceptance rules' parameters. */
  readonly acceptance: Readonly<AcceptanceOptions>;
  readonly #ttlMs: number;
  readonly #maxClaims: number;

  /**
   * Creates the runtime.
   *
   * @param options Time to live, corroborators, pins, provenance bounds, claim limit.
   * @throws {RangeError} When a number is not a positive integer.
   */
  constructor(options: LipRuntimeOptions = {}) {
    this.#ttlMs = _positiveInt("claimTtlMs", options.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS, 1);
    this.#maxClaims = _positiveInt(
      "maxClaimsPerEvidence",
      options.maxClaimsPerEvidence ?? DEFAULT_MAX_CLAIMS_PER_EVIDENCE,
      1,
    );
    this.pins = Object.freeze({ ...options.sourceTiers });
    this.acceptance = Object.freeze({
      minCorroborators: _positiveInt(
        "minCorroborators",
        options.minCorroborators ?? MIN_CORROBORATORS,
        1,
      ),
      maxAgeMs: options.maxAgeMs,
      maxSkewMs: options.maxSkewMs,
    });
  }

  /**
   * The tier in force for a source URI: the owner's pin, else the earned tier.
   *
   * @param uri A source URI.
   * @param ctx A context (its store).
   * @returns The tier.
   *
   * @example
   * ```ts
   * import { LipRuntime } from "./runtime.ts";
   * import { openStore } from "../store/mod.ts";
   * import assert from "node:assert/strict";
   *
   * using store = openStore(":memory:");
   * const lip = new LipRuntime({ sourceTiers: { "https://spam.example": "blocked" } });
   * assert.equal(lip.tierOf("https://spam.example/page", { store }), "blocked");
   * assert.equal(lip.tierOf("https://new.example/page", { store }), "unknown");
   * ```
   */
  tierOf(uri: string, ctx: Pick<RuntimeContext, "store">): SourceTrustTier {
    const key = sourceKey(uri);
    return tierInForce(key, ctx.store.lipSource(key), this.pins);
  }

  /**
   * The account a fetch charged to `party` would run on now: `self` for
   * this agent and its person, `trusted` for a peer trusted at this moment,
   * `undefined` for anyone else (who may not cause a fetch).
   *
   * @param party The fingerprint the fetch is charged to.
   * @param ctx A context (its trust view and configuration).
   * @returns The account, or `undefined`.
   *
   * @example
   * ```ts
   * import { LipRuntime } from "./runtime.ts";
   * import { Identity } from "../identity/mod.ts";
   * import { createRuntimeContext, selfFromIdentity } from "../runtime/mod.ts";
   * import { openStore } from "../store/mod.ts";
   * import assert from "node:assert/strict";
   *
   * using store = openStore(":memory:");
   * const me = await Identity.generate({ agentId: "me" });
   * const ctx = createRuntimeContext({ self: selfFromIdentity(me), peer: me.fingerprint, store });
   * const lip = new LipRuntime();
   * assert.equal(lip.fetchAccountOf(me.fingerprint, ctx), "self");
   * assert.equal(lip.fetchAccountOf("ab".repeat(32), ctx), undefined); // a stranger
   * ```
   */
  fetchAccountOf(party: string, ctx: RuntimeContext): FetchAccount | undefined {
    return fetchAccount(new LipTurn(ctx, this).trustOf(party));
  }

  /**
   * Handles one verified LIP envelope.
   *
   * @param envelope The envelope (its sender is `ctx.peer`).
   * @param ctx The context.
   * @returns The outcome; a `fetch` effect follows an accepted `LIP_FETCH`.
   */
  handle(envelope: EnvelopeOf<"lip">, ctx: RuntimeContext): Outcome {
    const turn = new LipTurn(ctx, this);
    switch (envelope.type) {
      case "LIP_FETCH":
        return this.#fetch(envelope, turn);
      case "LIP_EVIDENCE":
        return this.#evidence(envelope, turn);
      case "LIP_ACCEPT":
      case "LIP_REJECT":
      case "LIP_CONFLICT":
        return this.#vote(envelope, turn);
      case "LIP_ERROR":
        return turn.finish("handled", {
          effects: [{
            type: "errorReceived",
            protocol: "lip",
            peer: ctx.peer,
            msgId: envelope.msg_id,
            inReplyTo: envelope.payload.in_reply_to,
            code: envelope.payload.code,
            reason: envelope.payload.reason,
            retryAfterMs: envelope.payload.retry_after_ms,
          }],
        });
    }
  }

  #refuse(turn: LipTurn, msgId: string, code: string, reason: string): Outcome {
    return turn.finish("refused", {
      code,
      reason,
      effects: [{ type: "refused", protocol: "lip", peer: turn.ctx.peer, msgId, code, reason }],
    });
  }

  #fetch(env: EnvelopeOf<"lip", "LIP_FETCH">, turn: LipTurn): Outcome {
    const peer = turn.ctx.peer;
    const trust = turn.trustOf(peer);
    if (fetchAccount(trust) === undefined) {
      return this.#refuse(
        turn,
        env.msg_id,
        "not_allowed",
        `LIP_FETCH from ${peer} refused: only the person and trusted peers may cause a fetch, and the peer is ${trust}`,
      );
    }
    try {
      parseFetchConstraints(env.payload.constraints);
    } catch (err) {
      if (!(err instanceof LipFetchError)) throw err;
      return this.#refuse(turn, env.msg_id, err.code, err.message);
    }
    const fetch: FetchRequest = {
      query: env.payload.query,
      constraints: [...env.payload.constraints],
      requestId: env.msg_id,
      requester: peer,
      requesterAgentId: env.sender.agent_id,
      chargedTo: peer,
    };
    return turn.finish("deferred", {
      code: "fetch_requested",
      reason: `Fetch of ${JSON.stringify(fetch.query)} requested by ${peer}`,
      effects: [{ type: "fetch", request: fetch }],
    });
  }

  #evidence(env: EnvelopeOf<"lip", "LIP_EVIDENCE">, turn: LipTurn): Outcome {
    const peer = turn.ctx.peer;
    const trust = turn.trustOf(peer);
    if (trust === "blacklisted") {
      return this.#refuse(
        turn,
        env.msg_id,
        "untrusted_sender",
        `LIP_EVIDENCE from ${peer} refused: peer is blacklisted`,
      );
    }
    const source = sourceOf(env);
    if (source === undefined) {
      return this.#refuse(turn, env.msg_id, "no_provenance", "LIP_EVIDENCE has no source block");
    }
    const { claims } = env.payload;
    if (claims.length > this.#maxClaims) {
      return this.#refuse(
        turn,
        env.msg_id,
        "too_many_claims",
        `LIP_EVIDENCE carries ${claims.length} claims, more than ${this.#maxClaims}`,
      );
    }
    if (claims.length === 0) {
      return turn.finish("ignored", {
        code: "no_claims",
        reason: "LIP_EVIDENCE carries no claims",
      });
    }
    return this.#ingest(turn, {
      msgId: env.msg_id,
      source,
      claims,
      evidence: env.payload.evidence,
      confidence: env.payload.confidence,
    });
  }

  #ingest(
    turn: LipTurn,
    e: {
      msgId: string;
      source: { uri: string; retrieved_at: string };
      claims: EnvelopeOf<"lip", "LIP_EVIDENCE">["payload"]["claims"];
      evidence: EnvelopeOf<"lip", "LIP_EVIDENCE">["payload"]["evidence"];
      confidence: number;
    },
  ): Outcome {
    const peer = turn.ctx.peer;
    const trust = turn.trustOf(peer);
    const key = sourceKey(e.source.uri);
    const quality = provenanceQuality(
      e.evidence,
      e.source.retrieved_at,
      turn.nowMs,
      this.acceptance,
    );
    // A stranger's word moves no source's record, not even from unknown to low.
    if (quality === "good" && (trust === "self" || trust === "trusted")) {
      turn.sourceEvent(key, "good_provenance");
    }
    const settled: LipQueueItem[] = [];
    for (const claim of e.claims) {
      const id = claimId(claim, e.source.uri);
      const known = turn.item(id);
      // A rejected claim is judged afresh on new evidence; an open or accepted one is not. A
      // trusted peer's own evidence for the same claim and source corroborates it (section 4).
      if (known !== undefined && known.status !== "rejected") {
        if (trust === "trusted" && known.peer !== peer && !known.corroborators.includes(peer)) {
          settled.push(turn.settle({
            ...known,
            corroborators: [...known.corroborators, peer],
            disputers: (known.disputers ?? []).filter((d) => d !== peer),
            updatedMs: turn.nowMs,
          }));
        } else {
          settled.push(known);
        }
        continue;
      }
      settled.push(turn.settle({
        id,
        peer,
        msgId: e.msgId,
        sourceUri: e.source.uri,
        tier: turn.tier(e.source.uri),
        retrievedAt: e.source.retrieved_at,
        claim,
        evidence: [...e.evidence],
        confidence: e.confidence,
        status: "pending",
        reason: "queued",
        corroborators: trust === "trusted" ? [peer] : [],
        disputers: [],
        createdMs: turn.nowMs,
        expiresMs: turn.nowMs + this.#ttlMs,
        updatedMs: turn.nowMs,
      }));
    }
    const open = settled.filter((i) => i.status === "pending" || i.status === "disputed");
    const rejected = settled.filter((i) => i.status === "rejected");
    if (open.length === 0 && rejected.length === settled.length) {
      return turn.finish("refused", {
        code: turn.firstRejection ?? "rejected",
        reason: rejected[0]!.reason,
      });
    }
    if (open.length > 0) {
      return turn.finish("deferred", {
        code: "pending",
        reason: `${open.length} of ${settled.length} claims wait: ${open[0]!.reason}`,
      });
    }
    return turn.finish("handled");
  }

  #vote(
    env: EnvelopeOf<"lip", "LIP_ACCEPT" | "LIP_REJECT" | "LIP_CONFLICT">,
    turn: LipTurn,
  ): Outcome {
    const peer = turn.ctx.peer;
    const trust = turn.trustOf(peer);
    if (trust !== "trusted") {
      return turn.finish("ignored", {
        code: "untrusted",
        reason: `${env.type} from ${peer} not counted: peer is ${trust}, not trusted`,
      });
    }
    const refs = env.type === "LIP_CONFLICT"
      ? env.payload.local_refs
      : claimRefsInReason(env.payload.reason);
    const named = refs.map((r) => turn.item(r)).filter((i): i is LipQueueItem =>
      i !== undefined && (i.status === "pending" || i.status === "disputed")
    );
    const uri = sourceOf(env)?.uri;
    const targets = named.length > 0 || uri === undefined ? named : turn.openItemsOf(uri);
    if (targets.length === 0) {
      return turn.finish("ignored", {
        code: "unknown_claim",
        reason: `${env.type} names no open claim (refs ${JSON.stringify(refs)}, source ${
          uri ?? "none"
        })`,
      });
    }
    const corroborate = env.type === "LIP_ACCEPT";
    for (const item of targets) {
      const corroborators = item.corroborators.filter((c) => c !== peer);
      const disputers = (item.disputers ?? []).filter((d) => d !== peer);
      if (corroborate) corroborators.push(peer);
      else disputers.push(peer);
      turn.settle({ ...item, corroborators, disputers, updatedMs: turn.nowMs });
    }
    return turn.finish("handled");
  }

  /**
   * Takes the result of a fetch the runtime asked for: queues its claims
   * as this agent's own (no corroboration value) and, when someone else
   * asked, answers them with the `LIP_EVIDENCE`.
   *
   * @param request The request of an earlier `fetch` effect (or the agent's own request).
   * @param document What the fetcher returned.
   * @param ctx The context (`ctx.self` is the fetcher).
   * @param options An extractor and the confidence.
   * @returns The outcome: queue changes and the `LIP_EVIDENCE` reply.
   */
  fetched(
    request: FetchRequest,
    document: FetchedDocument,
    ctx: RuntimeContext,
    options: FetchedOptions = {},
  ): Outcome {
    const self = { ...ctx, peer: ctx.self.fingerprint };
    const turn = new LipTurn(self, this);
    const tier = turn.tier(document.finalUrl);
    const { payload, source } = evidenceFromDocument(document, request.query, {
      tier,
      extract: options.extract,
      confidence: options.confidence,
    });
    const msgId = newMsgId(ctx.random);
    if (request.requester !== ctx.self.fingerprint) {
      turn.replies.push({
        protocol: "lip",
        type: "LIP_EVIDENCE",
        msg_id: msgId,
        receiver: { agent_id: request.requesterAgentId, fingerprint: request.requester },
        payload,
        source,
      });
    }
    turn.effects.push({
      type: "fetched",
      requester: request.requester,
      requestId: request.requestId,
      uri: source.uri,
      sha256: document.sha256,
    });
    if (payload.claims.length === 0) return turn.finish("handled");
    return this.#ingest(turn, {
      msgId,
      source,
      claims: payload.claims.slice(0, this.#maxClaims),
      evidence: payload.evidence,
      confidence: payload.confidence,
    });
  }

  /**
   * Reports a failed fetch: a `LIP_ERROR` (the fetcher's code and reason)
   * to the requester when it was not this agent.
   *
   * @param request The fetch that failed.
   * @param error Why.
   * @param ctx The context.
   * @returns The outcome (`handled`, with the reply).
   */
  fetchFailed(request: FetchRequest, error: LipFetchError, ctx: RuntimeContext): Outcome {
    const turn = new LipTurn(ctx, this);
    if (request.requester !== ctx.self.fingerprint && request.requestId !== "") {
      turn.replies.push({
        protocol: "lip",
        type: "LIP_ERROR",
        msg_id: newMsgId(ctx.random),
        receiver: { agent_id: request.requesterAgentId, fingerprint: request.requester },
        payload: {
          in_reply_to: request.requestId,
          code: error.code,
          reason: truncateText(error.message),
        },
      });
    }
    return turn.finish("handled", {
      code: error.code,
      reason: error.message,
      effects: [{
        type: "fetchFailed",
        requester: request.requester,
        requestId: request.requestId,
        code: error.code,
        reason: error.message,
      }],
    });
  }

  /**
   * Expires and re-judges every waiting claim (pending or disputed): claims
   * past their time to live are rejected (`expired`), claims deferred for
   * an overloaded state are accepted once it clears, sources blocked since
   * are rejected. Call it periodically (the router's or agent's timer).
   *
   * @param ctx The context.
   * @param limit Most claims of each state looked at. @default {1000}
   * @returns The outcome (`handled`), with the moves as changes and `claimChanged` effects.
   */
  sweep(ctx: RuntimeContext, limit = 1000): Outcome {
    const turn = new LipTurn(ctx, this);
    for (const status of ["pending", "disputed"] as const) {
      for (const item of ctx.store.lipItems(status, limit)) {
        const after = turn.settle(item);
        if (after.status === item.status) turn.touched.delete(item.id);
      }
    }
    return turn.finish("handled");
  }

  /**
   * Settles a disputed claim by a named human's decision: `accept` moves it
   * to accepted (and causal memory), `reject` to rejected (refuted).
   *
   * @param id The claim id.
   * @param decision `"accept"` or `"reject"`.
   * @param actor Who decided (logged in the reason).
   * @param ctx The context.
   * @returns The outcome with the move.
   * @throws {LipError} Code `unknown_claim` when no such claim is queued,
   *   `invalid_transition` when it is not disputed.
   * @throws {TypeError} When `actor` is empty.
   */
  resolve(
    id: string,
    decision: "accept" | "reject",
    actor: string,
    ctx: RuntimeContext,
  ): Outcome {
    if (typeof actor !== "string" || actor.trim() === "") {
      throw new TypeError("A dispute is resolved by a named human: actor must not be empty");
    }
    const turn = new LipTurn(ctx, this);
    const item = turn.item(id);
    if (item === undefined) {
      throw new LipError("unknown_claim", `No LIP claim ${JSON.stringify(id)} is queued`);
    }
    const event: ClaimEvent = decision === "accept" ? "resolved" : "refuted";
    turn.put(
      turn.move(item, event, `${decision === "accept" ? "accepted" : "rejected"} by ${actor}`),
    );
    // A named human's verdict is the only track record that counts for the source.
    if (decision === "accept") turn.sourceEvent(sourceKey(item.sourceUri), "accurate");
    return turn.finish("handled");
  }
}
