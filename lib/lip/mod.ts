/**
 * LIP/1.0, the Liminal Internet Protocol: claims from the internet wait in
 * a deferred-acceptance queue until their source's tier (pinned by the
 * owner) or trusted peers' judged corroborations vouch for them.
 * {@linkcode LipRuntime} handles LIP envelopes on the runtime contract;
 * fetching goes through the {@linkcode LipFetcher} port
 * ({@linkcode HttpFetcher} by default: globally reachable addresses only,
 * unless the operator lists the origin; it also asks other A2A agents,
 * `a2a+https://agent.example/?q=...`), which the agent calls, never the
 * runtime; only the person, the agent and trusted peers may cause a fetch
 * ({@linkcode fetchAccount}, {@linkcode FetchBudget}); an agent vouches for
 * a claim only when its {@linkcode LipJudge} verified it. The rules
 * underneath (addresses, queue, tiers, acceptance) are pure functions.
 *
 * @example Judging a claim
 * ```ts
 * import { judgeClaim } from "@web4/runtime/lip";
 * import type { LipQueueItem } from "@web4/runtime/store";
 * import assert from "node:assert/strict";
 *
 * const now = Date.parse("2026-11-28T10:00:00Z");
 * const item = {
 *   status: "pending", createdMs: now, expiresMs: now + 60_000, evidence: ["page"],
 *   retrievedAt: "2026-11-28T09:59:00Z", corroborators: ["a".repeat(64), "b".repeat(64)], disputers: [],
 * } as unknown as LipQueueItem;
 * const v = judgeClaim(item, { tier: "low", fetcherTrust: "probing", overloaded: false, nowMs: now, conflictsWith: [] });
 * assert.equal(v.event, "verified");
 * ```
 *
 * @module
 */

export { type AddressVerdict, classifyAddress, type IpAddress, parseIpAddress } from "./address.ts";
export { A2A_CARD_MAX_BYTES, A2A_PROTOCOL_VERSION, type A2aUri, readA2aUri } from "./a2a.ts";
export {
  type AcceptanceOptions,
  type ClaimSituation,
  type ClaimVerdict,
  DEFAULT_CLAIM_TTL_MS,
  judgeClaim,
  MIN_CORROBORATORS,
} from "./acceptance.ts";
export {
  claimId,
  claimRefsInReason,
  claimsConflict,
  type ClaimSubject,
  claimSubject,
} from "./claims.ts";
export {
  LipError,
  type LipErrorCode,
  LipFetchError,
  type LipFetchErrorCode,
  type LipFetchErrorOptions,
} from "./errors.ts";
export {
  type ClaimExtractor,
  DEFAULT_EXCERPT_CHARS,
  evidenceFromDocument,
  type EvidenceOptions,
} from "./evidence.ts";
export {
  type A2aProvenance,
  clockDeadline,
  type Deadline,
  type FetchCallOptions,
  type FetchedDocument,
  HttpFetcher,
  type HttpFetcherOptions,
  type LipFetcher,
} from "./fetcher.ts";
export { textDocument } from "./document.ts";
export {
  checkUrl,
  type FetchConstraints,
  parseFetchConstraints,
  parseOrigins,
  shownUrl,
} from "./urls.ts";
export {
  knowledgeJudge,
  type LipJudge,
  type LipJudgeInput,
  type LipJudgement,
  type LipVerdict,
} from "./judge.ts";
export {
  type Connector,
  type ConnectTarget,
  dnsResolver,
  type FetchConnection,
  type Resolver,
  tcpConnector,
  type TcpConnectorOptions,
} from "./net.ts";
export {
  type FetchAccount,
  fetchAccount,
  FetchBudget,
  type FetchBudgetOptions,
  type FetchLease,
} from "./policy.ts";
export {
  CLAIM_TRANSITIONS,
  type ClaimEvent,
  type ClaimState,
  moveClaim,
  nextClaimState,
} from "./queue.ts";
export {
  DEFAULT_MAX_CLAIMS_PER_EVIDENCE,
  type FetchedOptions,
  LipRuntime,
  type LipRuntimeOptions,
} from "./runtime.ts";
export {
  applySourceEvent,
  earnedTier,
  newSource,
  type ProvenanceOptions,
  type ProvenanceQuality,
  provenanceQuality,
  type SourceEvent,
  sourceKey,
  tierAtLeast,
  tierInForce,
} from "./tiers.ts";
