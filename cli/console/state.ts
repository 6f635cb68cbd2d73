/**
 * What the console returns about the agent: `/api/state` (the agent, its
 * person's consent in words, and the first page of every list) and the
 * paged lists `/api/peers` and `/api/facts`. Every list is paged (a cursor
 * and a limit of at most {@linkcode CONSOLE_MAX_LIMIT}) and every text in
 * it clipped, so no size of the agent's state can make a response fail or
 * grow without bound.
 *
 * @module
 */

import type { HumanState } from "../../lib/envelope/mod.ts";
import { consentRecordOf, describeConsent } from "../../lib/hcp/mod.ts";
import type { ClaimStatus, Page } from "../../lib/store/mod.ts";
import type { AgentHost, EventHub } from "../commands/serve.ts";
import { clipJson, clipText } from "./clip.ts";

/** A list's default page size. */
export const CONSOLE_DEFAULT_LIMIT = 20;
/** The largest page a console list returns. */
export const CONSOLE_MAX_LIMIT = 100;
/** The claim statuses the console lists. */
export const CLAIM_STATUSES: readonly ClaimStatus[] = Object.freeze([
  "pending",
  "accepted",
  "disputed",
  "rejected",
]);
/** The most UTF-8 bytes of one text in a list (a statement, a claim). */
const _TEXT_BYTES = 1024;

/** A page request that could not be read: the console answers 400 with `error`. */
export interface BadPageRequest {
  /** Why, for the 400 answer. */
  error: string;
}

/** A peer as the console lists it. */
export interface PeerView {
  /** Its agent id (clipped). */
  agentId: string;
  /** Its fingerprint. */
  fingerprint: string;
  /** Its peer trust. */
  trust: string;
  /** Whether its handshake verified. */
  verified: boolean;
}

/** A fact (CIP claim or LIP item) as the console lists it. */
export interface FactView {
  /** Its id. */
  id: string;
  /** Who proposed (CIP) or delivered (LIP) it. */
  peer: string;
  /** Its text, clipped to 1 KiB. */
  text: string;
  /** CIP: the fact's domain; LIP: the source (both clipped). */
  where: string;
}

/** Which page of a list: after a cursor, at most `limit`. */
export interface PageParams {
  /** The previous page's `next`. */
  after: string | undefined;
  /** The page size (1..{@linkcode CONSOLE_MAX_LIMIT}). */
  limit: number;
}

/**
 * Reads `after` and `limit` from a request's query.
 *
 * @param query The URL's search params.
 * @returns The page to read, or why not (a limit outside 1..100, an over-long cursor).
 */
export function pageParams(query: URLSearchParams): PageParams | BadPageRequest {
  const raw = query.get("limit");
  const limit = raw === null ? CONSOLE_DEFAULT_LIMIT : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > CONSOLE_MAX_LIMIT) {
    return { error: `limit must be an integer from 1 to ${CONSOLE_MAX_LIMIT}` };
  }
  const after = query.get("after") ?? undefined;
  if (after !== undefined && (after.length === 0 || after.length > 64)) {
    return _BAD_CURSOR;
  }
  return { after, limit };
}

const _BAD_CURSOR: BadPageRequest = { error: "after must be the next cursor of a previous page" };

/**
 * One page of the agent's peers (the person excluded), by fingerprint.
 *
 * @param host The agent host.
 * @param page Which page.
 * @returns The page, or why not (a cursor that is not a fingerprint).
 */
export function peersPage(host: AgentHost, page: PageParams): Page<PeerView> | BadPageRequest {
  if (page.after !== undefined && !/^[0-9a-f]{64}$/.test(page.after)) return _BAD_CURSOR;
  const after = page.after ?? "";
  const peers = host.agent.peers()
    .filter((p) => !p.person && p.fingerprint > after)
    .sort((a, b) => a.fingerprint < b.fingerprint ? -1 : 1);
  const items = peers.slice(0, page.limit).map((p) => ({
    agentId: clipText(p.agentId, 128),
    fingerprint: p.fingerprint,
    trust: p.trust,
    verified: p.verified,
  }));
  return {
    items,
    next: peers.length > page.limit ? items.at(-1)!.fingerprint : null,
  };
}

/**
 * One page of the CIP claims or the LIP queue items of one status.
 *
 * @param host The agent host.
 * @param origin `cip` or `lip`.
 * @param status The status.
 * @param page Which page.
 * @returns The page, or why not (a cursor that is not one).
 */
export function factsPage(
  host: AgentHost,
  origin: "cip" | "lip",
  status: ClaimStatus,
  page: PageParams,
): Page<FactView> | BadPageRequest {
  const store = host.agent.store;
  const query = { after: page.after, limit: page.limit };
  try {
    if (origin === "cip") {
      const p = store.claimsPage(status, query);
      return {
        items: p.items.map((c) => ({
          id: c.id,
          peer: c.peer,
          text: clipJson((c.fact as { statement?: unknown }).statement ?? "", _TEXT_BYTES),
          where: clipText(String(c.fact.domain), 256),
        })),
        next: p.next,
      };
    }
    const p = store.lipItemsPage(status, query);
    return {
      items: p.items.map((i) => ({
        id: i.id,
        peer: i.peer,
        text: clipJson(i.claim, _TEXT_BYTES),
        where: clipText(i.sourceUri, 512),
      })),
      next: p.next,
    };
  } catch (err) {
    if (err instanceof RangeError) return _BAD_CURSOR; // the store's check of the cursor
    throw err;
  }
}

/** The person's part of `/api/state`. */
export interface PersonView {
  /** The enrolled person's fingerprint, `null` when none. */
  person: string | null;
  /** Whether `--person` fixed it. */
  personFixed: boolean;
  /** The relation's social trust, `null` without a person. */
  personTrust: string | null;
  /** The person's human-state vector as the agent holds it (`null`: none yet). */
  human: HumanState | null;
  /** The consent the agent holds, `null` when none. */
  consent: HumanState["consent"] | null;
  /** The consent in words (what the page shows). */
  consentText: string;
  /** The consent scope (at most 64 entries). */
  consentScope: string[] | null;
}

/**
 * The person's consent as the agent holds it, in words.
 *
 * @param host The agent host.
 * @param personFixed Whether `--person` fixed the person.
 * @returns The person's part of the state.
 */
export function personView(host: AgentHost, personFixed: boolean): PersonView {
  const person = host.person;
  if (person === undefined) {
    return {
      person: null,
      personFixed,
      personTrust: null,
      human: null,
      consent: null,
      consentText: "No person is enrolled yet: this agent does nothing automated for anyone.",
      consentScope: null,
    };
  }
  const stored = host.agent.store.person(person);
  const record = consentRecordOf(stored);
  const scope = record.consentScope.slice(0, 64).map((s) => clipText(s, 256));
  const consent = record.human?.consent ?? null;
  return {
    person,
    personFixed,
    personTrust: host.agent.router.trust.person(person),
    human: record.human === null
      ? null
      : { ...record.human, intent: clipText(record.human.intent, 1024) },
    consent,
    consentText: describeConsent(consent, scope),
    consentScope: stored === undefined ? null : scope,
  };
}

/**
 * `/api/state`: the agent, the person's consent in words, the first page of
 * the peers and of every fact list (with their `next` cursors), and the
 * last mission-drift warnings.
 *
 * @param host The agent host.
 * @param hub The agent's recent events.
 * @param personFixed Whether `--person` fixed the person.
 * @returns The state (bounded in size whatever the store holds).
 */
export function consoleState(host: AgentHost, hub: EventHub, personFixed: boolean) {
  const first: PageParams = { after: undefined, limit: CONSOLE_DEFAULT_LIMIT };
  const facts = (origin: "cip" | "lip") =>
    Object.fromEntries(CLAIM_STATUSES.map((s) => [s, factsPage(host, origin, s, first)]));
  // A first page (no cursor, the default limit) is never a bad request.
  return {
    agent: _agentView(host),
    viewer: false,
    ...personView(host, personFixed),
    peers: peersPage(host, first),
    facts: { cip: facts("cip"), lip: facts("lip") },
    drift: hub.recent.filter((e) => e.kind === "agent.mission_drift").slice(-5).map((e) => ({
      ts: e.ts,
      score: Number(e.data.score),
      lastTopic: clipText(String(e.data.last_topic ?? ""), 256),
    })),
    limits: { default: CONSOLE_DEFAULT_LIMIT, max: CONSOLE_MAX_LIMIT },
  };
}

function _agentView(host: AgentHost) {
  const agent = host.agent;
  return {
    agentId: agent.identity.agentId,
    fingerprint: agent.fingerprint,
    mission: clipText(agent.mission, 1024),
    listen: host.address,
    presence: agent.load.presence,
    lri: agent.load.lri,
  };
}

/**
 * `/api/state` for a request that has not proved the enrolled person's key
 * (a viewer, or any browser before enrolment): who the agent is and whose it
 * is, and that this browser cannot act; none of the person's consent,
 * outcomes, peers, facts or drift.
 *
 * @param host The agent host.
 * @param personFixed Whether `--person` fixed the person.
 * @returns The viewer's state.
 */
export function viewerState(host: AgentHost, personFixed: boolean) {
  const person = host.person ?? null;
  return {
    agent: _agentView(host),
    viewer: true,
    person,
    personFixed,
    consentText: person === null
      ? "No person is enrolled yet: this agent does nothing automated for anyone."
      : "Only this agent's person sees their consent and what the agent did for them.",
    limits: { default: CONSOLE_DEFAULT_LIMIT, max: CONSOLE_MAX_LIMIT },
  };
}
