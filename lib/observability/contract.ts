/**
 * The event contract v1.0: the closed list of event kinds every layer may
 * emit, each with the fields of its `data`, as zod schemas (and a JSON
 * Schema export, `docs/schemas/event-v1.schema.json`). An event of a kind
 * not listed here, or with a field not listed for its kind, is not a v1.0
 * event. `docs/event-contract-v1.md` documents every kind with an example.
 *
 * @module
 */

import { z } from "zod";
import {
  EVENT_CONTRACT_VERSION,
  MESH_DROP_REASONS,
  TRUST_LEVELS,
  type Web4Event,
} from "./event.ts";
import { MAX_EVENT_ARRAY_ITEMS, MAX_EVENT_STRING_BYTES } from "./telemetry.ts";
import { fitsUtf8 } from "./utf8.ts";

const fp = z.string().regex(/^[0-9a-f]{64}$/);
const uuid = z.string().regex(
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
);
// Every string and array of an event's data is bounded (the telemetry cuts longer ones).
const str = z.string().max(MAX_EVENT_STRING_BYTES).refine(
  (s) => fitsUtf8(s, MAX_EVENT_STRING_BYTES),
  { error: `Expected at most ${MAX_EVENT_STRING_BYTES} UTF-8 bytes` },
).meta({ "x-maxUtf8Bytes": MAX_EVENT_STRING_BYTES });
const list = <T extends z.ZodType>(item: T) => z.array(item).max(MAX_EVENT_ARRAY_ITEMS);
const nat = z.number().int().min(0);
const trustState = z.enum([
  "unknown",
  "untrusted",
  "probing",
  "trusted",
  "blacklisted",
  "restricted",
]);
const presence = z.enum(["focused", "diffuse", "overloaded", "engaged"]);
const status = z.enum(["handled", "deferred", "refused", "ignored", "dropped"]);
const claimStatus = z.enum(["pending", "accepted", "disputed", "rejected"]);
const protocol = z.enum(["cip", "hcp", "lip"]);
const o = z.strictObject;
const _transition = o({
  machine: z.enum(["cip", "hcp"]),
  event: str,
  from: trustState,
  to: trustState,
  reason: str,
  evidence: list(str),
  actor: str.optional(),
});

/** Every kind of the contract v1.0, sorted. */
export const EVENT_KINDS = [
  "a2a.task",
  "agent.error",
  "agent.hook_error",
  "agent.intent",
  "agent.intent_propagated",
  "agent.listening",
  "agent.mission_drift",
  "agent.peer_connected",
  "agent.peer_disconnected",
  "agent.presence",
  "agent.send_held",
  "agent.session_duplicate",
  "agent.started",
  "agent.stopping",
  "agent.undeliverable",
  "agent.verify_evidence",
  "cip.claim",
  "cip.decision",
  "cip.dropped",
  "cip.error_received",
  "cip.handshake",
  "cip.intent",
  "cip.intent_answered",
  "cip.state_update",
  "cip.verification_failed",
  "cip.vote",
  "console.unauthorized",
  "hcp.check_in_answered",
  "hcp.check_in_opened",
  "hcp.check_in_required",
  "hcp.consent_changed",
  "hcp.error_received",
  "hcp.intent_delivered",
  "hcp.paced",
  "hcp.pacing_ended",
  "hcp.pacing_started",
  "hcp.refused",
  "lip.claim",
  "lip.error_received",
  "lip.fetch_failed",
  "lip.fetch_requested",
  "lip.fetched",
  "lip.refused",
  "mesh.blocked",
  "mesh.delivered",
  "mesh.dropped",
  "mesh.error",
  "mesh.forwarded",
  "mesh.held",
  "mesh.hop_expired",
  "mesh.introduction",
  "mesh.links",
  "mesh.malice_report",
  "mesh.tampered",
  "mesh.vote",
  "person.received",
  "person.refused",
  "person.sent",
  "router.dispatched",
  "router.dropped",
  "router.error",
  "router.rate_limited",
  "router.refused",
  "router.replay",
  "rtt.backpressure",
  "rtt.connection_lost",
  "rtt.heartbeat_timeout",
  "rtt.rekey",
  "rtt.replay",
  "rtt.session_close",
  "rtt.session_open",
  "rtt.verification_failure",
  "trust.ignored",
  "trust.transition",
] as const;

/** A kind of the event contract v1.0. */
export type EventKind = typeof EVENT_KINDS[number];

/** Every kind of the contract, with the schema of its `data`. */
const _DATA: Record<EventKind, z.ZodObject> = {
  // ---- the A2A gateway (web4 serve --a2a) ----
  "a2a.task": o({
    task: str,
    client: str,
    method: str,
    state: z.enum([
      "TASK_STATE_SUBMITTED",
      "TASK_STATE_WORKING",
      "TASK_STATE_COMPLETED",
      "TASK_STATE_FAILED",
      "TASK_STATE_CANCELED",
      "TASK_STATE_INPUT_REQUIRED",
      "TASK_STATE_REJECTED",
    ]),
    topic: str.optional(),
    reason: str.optional(),
    msg_id: uuid.optional(),
  }),
  // ---- the console (web4 serve --console) ----
  "console.unauthorized": o({
    path: str,
    method: str,
    status: z.union([z.literal(401), z.literal(403)]),
    why: str,
  }),
  // ---- RTT lifecycle and telemetry (bridged by the agent from the transport) ----
  "rtt.session_open": o({ resumed: z.boolean(), reconnects: nat }),
  "rtt.session_close": o({ reason: str }),
  "rtt.heartbeat_timeout": o({}),
  "rtt.connection_lost": o({ reason: str }),
  "rtt.backpressure": o({ channel: str, cause: str, count: nat }),
  "rtt.replay": o({ channel: str, count: nat }),
  "rtt.rekey": o({ rekeys: nat }),
  "rtt.verification_failure": o({ code: str, message: str }),
  // ---- trust ----
  "trust.transition": _transition,
  "trust.ignored": _transition,
  // ---- CIP ----
  "cip.handshake": o({
    step: z.enum(["hello_sent", "hello_answered", "verified", "simultaneous_open", "failed"]),
    trust: trustState.optional(),
    kept: str.optional(),
    code: str.optional(),
    msg_id: uuid.optional(),
  }),
  "cip.verification_failed": o({ reason: str }),
  "cip.dropped": o({ msg_id: uuid, type: str }),
  "cip.state_update": o({ presence, lri: z.number().int().min(0).max(100), peer_view: trustState }),
  "cip.intent": o({ goal: str, topic: str, decision: z.enum(["accept", "defer"]) }),
  "cip.intent_answered": o({
    in_reply_to: uuid,
    decision: z.enum(["accept", "defer"]).nullable(),
    topic: str,
  }),
  "cip.claim": o({ claim: uuid, status: claimStatus, reason: str, proposer: fp.optional() }),
  "cip.vote": o({ claim: uuid, type: str, counted: z.boolean(), why: str.optional() }),
  "cip.decision": o({ decision_id: str, choice: str }),
  "cip.error_received": o({ in_reply_to: str, code: str, reason: str }),
  // ---- HCP ----
  "hcp.refused": o({
    msg_id: uuid,
    code: str,
    type: str.optional(),
    topic: str.optional(),
    verdict: str.optional(),
  }),
  "hcp.intent_delivered": o({ msg_id: uuid, topic: str, verdict: z.literal("allowed") }),
  "hcp.paced": o({ msg_id: uuid, topic: str, verdict: z.literal("paced"), retry_after_ms: nat }),
  "hcp.check_in_required": o({ msg_id: uuid, topic: str, verdict: z.literal("check_in") }),
  "hcp.consent_changed": o({
    msg_id: uuid,
    from: z.enum(["granted", "limited", "revoked"]).nullable(),
    to: z.enum(["granted", "limited", "revoked"]),
  }),
  "hcp.check_in_opened": o({ msg_id: uuid, affect: str }),
  "hcp.check_in_answered": o({ msg_id: uuid, goOn: z.boolean() }),
  "hcp.pacing_started": o({ msg_id: uuid }),
  "hcp.pacing_ended": o({ msg_id: uuid }),
  "hcp.error_received": o({
    msg_id: uuid,
    in_reply_to: str,
    code: str,
    reason: str,
    retry_after_ms: nat.optional(),
  }),
  // ---- LIP ----
  "lip.fetch_requested": o({ msg_id: uuid, query: str, constraints: list(str) }),
  "lip.fetched": o({ request: str, uri: str, sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  "lip.fetch_failed": o({ request: str, code: str, reason: str }),
  "lip.claim": o({
    id: z.string().regex(/^[0-9a-f]{64}$/),
    from: claimStatus.nullable(),
    to: claimStatus,
    event: str,
    reason: str,
    source: str,
  }),
  "lip.refused": o({ msg_id: uuid, code: str, reason: str }),
  "lip.error_received": o({
    msg_id: uuid,
    in_reply_to: str,
    code: str,
    reason: str,
    retry_after_ms: nat.optional(),
  }),
  // ---- router ----
  "router.dispatched": o({ protocol, type: str, msg_id: uuid, status, code: str.optional() }),
  "router.refused": o({ code: str, type: str.nullable() }),
  "router.dropped": o({
    code: str,
    type: str.nullable().optional(),
    msg_id: str.nullable().optional(),
  }),
  "router.rate_limited": o({ msg_id: str.nullable(), dropped: nat }),
  "router.replay": o({ msg_id: uuid, verdict: str }),
  "router.error": o({ code: str, type: str, message: str }),
  // ---- the agent ----
  "agent.started": o({ agent_id: str, mission: str, transport: str, person: fp.nullable() }),
  "agent.listening": o({ hostname: str, port: nat }),
  "agent.peer_connected": o({ dialer: z.enum(["self", "peer"]), person: z.boolean() }),
  "agent.peer_disconnected": o({ reason: str }),
  "agent.session_duplicate": o({ kept: str, closed: str, reason: z.literal("duplicate") }),
  "agent.presence": o({ presence, lri: z.number().int().min(0).max(100), previous: presence }),
  "agent.intent": o({
    source: z.enum(["peer", "person"]),
    goal: str,
    topic: str,
    priority: z.enum(["low", "normal", "high"]),
    decision: z.enum(["accept", "defer"]).nullable(),
  }),
  "agent.intent_propagated": o({
    hcp_msg_id: uuid,
    topic: str,
    sent: list(fp),
    deferred: list(fp),
  }),
  "agent.mission_drift": o({
    score: z.number().min(0).max(1),
    samples: nat,
    mission: str,
    last_topic: str,
  }),
  "agent.send_held": o({ code: str, reason: str }),
  "agent.undeliverable": o({ count: nat, types: list(str) }),
  "agent.verify_evidence": o({ claim: str, verified: z.boolean(), reason: str }),
  "agent.hook_error": o({ hook: str, error: str }),
  "agent.error": o({ where: str, error: str }),
  "agent.stopping": o({ sessions: nat }),
  // ---- the mesh (lib/mesh) ----
  "mesh.blocked": o({ blocked: z.boolean() }),
  "mesh.delivered": o({ origin: fp, hops: nat, msg_id: str }),
  "mesh.dropped": o({
    reason: z.enum(MESH_DROP_REASONS),
    origin: fp.nullable(),
    msg_id: str.nullable(),
    detail: str.optional(),
  }),
  "mesh.error": o({
    in_reply_to: uuid.optional(),
    code: z.enum(["expired", "undeliverable", "failed"]),
    reason: str,
  }),
  "mesh.forwarded": o({ origin: fp, destination: fp, next_hop: fp, hops: nat, msg_id: str }),
  "mesh.held": o({ msg_id: uuid, destination: fp }),
  "mesh.hop_expired": o({ origin: fp, destination: fp, hops: nat }),
  "mesh.introduction": o({ subject: fp, introducer: fp, admitted: z.boolean(), reason: str }),
  "mesh.links": o({ neighbours: nat, seq: nat }),
  "mesh.malice_report": o({ subject: fp, reporter: fp, applied: str, reason: str }),
  "mesh.tampered": o({ origin: fp, destination: fp, error: str }),
  "mesh.vote": o({
    claim: str,
    decision_id: str,
    vote: z.enum(["confirm", "challenge"]),
    to: nat,
  }),
  // ---- the person's client ----
  "person.sent": o({ type: str, msg_id: uuid }),
  "person.received": o({ type: str, msg_id: uuid, code: str.nullable() }),
  "person.refused": o({ reason: str }),
};

const _base = {
  v: z.literal(EVENT_CONTRACT_VERSION),
  id: uuid,
  ts: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
  seq: z.number().int().min(1),
  node: z.string().min(1),
  severity: z.enum(["debug", "info", "warn", "error"]),
  peer: fp.optional(),
  session: z.string().min(1).optional(),
  level: z.enum(TRUST_LEVELS as [string, ...string[]]).optional(),
};

/** The zod schema of one event of the contract v1.0 (a union over its kinds). */
const _eventSchema = z.discriminatedUnion(
  "kind",
  EVENT_KINDS.map((kind) =>
    z.strictObject({ ..._base, kind: z.literal(kind), data: _DATA[kind] })
  ) as unknown as [
    z.ZodObject,
    ...z.ZodObject[],
  ],
);

/** Why an event is not a v1.0 event. */
export interface EventProblem {
  /** The event's kind (as it claims). */
  kind: string;
  /** The first problem, with its path. */
  message: string;
}

/**
 * Checks one event against the contract.
 *
 * @param event Anything (an event object, e.g. a parsed JSON Lines row).
 * @returns `null` when it is a v1.0 event, else what is wrong.
 *
 * @example
 * ```ts
 * import { checkEvent } from "./contract.ts";
 * import assert from "node:assert/strict";
 *
 * const event = {
 *   v: "1.0", id: "0b1e6c52-7c3f-4d0e-9d1c-6a3f0f1b2c3d", ts: "2026-11-28T10:00:00.000Z",
 *   seq: 1, node: "alpha", kind: "rtt.session_close", severity: "info", data: { reason: "manual" },
 * };
 * assert.equal(checkEvent(event), null);
 * assert.match(checkEvent({ ...event, kind: "rtt.whatever" })!.message, /kind/);
 * ```
 */
export function checkEvent(event: unknown): EventProblem | null {
  const kind = typeof (event as { kind?: unknown })?.kind === "string"
    ? (event as { kind: string }).kind
    : "";
  if (!(kind in _DATA)) {
    return { kind, message: `Unknown event kind ${JSON.stringify(kind)} (not in contract v1.0)` };
  }
  const r = _eventSchema.safeParse(event);
  if (r.success) return null;
  const issue = r.error.issues[0]!;
  return { kind, message: `${issue.path.join(".") || "(event)"}: ${issue.message}` };
}

/**
 * Checks events against the contract.
 *
 * @param events The events.
 * @returns One problem per event that is not a v1.0 event (empty when all are).
 */
export function checkEvents(events: Iterable<Web4Event | unknown>): EventProblem[] {
  const out: EventProblem[] = [];
  for (const e of events) {
    const p = checkEvent(e);
    if (p !== null) out.push(p);
  }
  return out;
}

/**
 * The contract as a JSON Schema document (draft 2020-12), for
 * `docs/schemas/event-v1.schema.json`.
 *
 * @returns The schema object.
 */
export function eventContractJsonSchema(): Record<string, unknown> {
  return {
    $id: "urn:web4-runtime:schema:event:1.0",
    title: "web4-runtime event contract v1.0",
    ...z.toJSONSchema(_eventSchema),
  };
}

/** One sentence per kind: when it is emitted (the documentation's source). */
export const EVENT_DESCRIPTIONS: Readonly<Record<EventKind, string>> = Object.freeze({
  "a2a.task":
    "An A2A client's task changed state at the gateway (`web4 serve --a2a`): the A2A task id, the operator's name of the client, the JSON-RPC method, the state, the topic, why, and the CIP INTENT it became (`msg_id`).",
  "console.unauthorized":
    "The console (`web4 serve --console`) turned a request away: no or a wrong credential (401), or a page or envelope that did not prove the enrolled person (403); the path, the method, the status and why.",
  "rtt.session_open":
    "A transport session opened (or resumed after a reconnect: `resumed`, `reconnects`).",
  "rtt.session_close":
    "A transport session closed for good, with its reason (`manual`, `heartbeat_timeout`, `resume_timeout`, `replaced`, `replay_flood`, ...).",
  "rtt.heartbeat_timeout":
    "The peer missed its heartbeats; `connection_lost` or `session_close` follows.",
  "rtt.connection_lost": "The connection under a session was lost; the session waits to resume.",
  "rtt.backpressure": "A full send queue dropped messages under a dropping policy.",
  "rtt.replay":
    "Replayed frames were dropped on a channel (coalesced: at most one event per session and channel per second; `count` since the last one).",
  "rtt.rekey": "The session's TLS keys were updated.",
  "rtt.verification_failure":
    "An inbound transport handshake was refused (fingerprint mismatch, peer not allowed, TLS failure).",
  "trust.transition":
    "A trust machine (`cip` peer trust or `hcp` social trust) moved a subject to a new state.",
  "trust.ignored": "A trust event that the table does not move (logged, state unchanged).",
  "cip.handshake":
    "A step of the CIP handshake: `hello_sent`, `hello_answered`, `verified` (with the trust after the gate), `simultaneous_open`, `failed` (with the code).",
  "cip.verification_failed": "An envelope failed verification for a reason that sanctions nobody.",
  "cip.dropped": "A CIP message from a blacklisted peer was dropped.",
  "cip.state_update": "A peer's presence and load (STATE_UPDATE) was recorded.",
  "cip.intent": "A peer's INTENT was answered: `accept`, or `defer` under overload.",
  "cip.intent_answered": "A peer answered one of our intents.",
  "cip.claim":
    "A claim in the CIP ledger changed state: proposed (`pending`), `accepted` on trusted confirmations, `disputed`, `rejected`.",
  "cip.vote":
    "A confirmation, rejection or challenge of a claim arrived; `counted` only from a trusted peer.",
  "cip.decision": "A peer shared a decision with its DMP trace.",
  "cip.error_received": "A peer answered one of our messages with a CIP `ERROR`.",
  "hcp.refused":
    "An HCP message was refused (not the enrolled person, consent revoked or out of scope, social trust, invalid decision).",
  "hcp.intent_delivered":
    "The person's intent passed consent, trust, check-in and pacing and reached the agent loop.",
  "hcp.paced":
    "The person's intent was deferred by pacing (pressure >= 80, clarity <= 30, `slow_pacing`).",
  "hcp.check_in_required": "The person's intent waits for a check-in (affect anxious or tense).",
  "hcp.consent_changed": "The person's consent changed (`granted`, `limited`, `revoked`).",
  "hcp.check_in_opened": "A check-in is now required before acting (the person's affect).",
  "hcp.check_in_answered": "The person answered the check-in (`goOn`).",
  "hcp.pacing_started": "Pacing applies from now on.",
  "hcp.pacing_ended": "Pacing no longer applies.",
  "hcp.error_received": "The person's side answered with `HCP_ERROR`.",
  "lip.fetch_requested": "A peer asked this agent to fetch (LIP_FETCH accepted; the fetch runs).",
  "lip.fetched": "A fetch completed, with the document's URI and SHA-256.",
  "lip.fetch_failed": "A fetch failed (constraint, bound, permission, HTTP error).",
  "lip.claim":
    "A claim of the LIP deferred-acceptance queue moved (`pending`, `accepted`, `disputed`, `rejected`) with the event that moved it.",
  "lip.refused": "A LIP message was refused (untrusted, no provenance, too many claims, ...).",
  "lip.error_received": "A peer answered with `LIP_ERROR`.",
  "router.dispatched": "A message went through the router's pipeline, with the runtime's status.",
  "router.refused":
    "The router refused a message before or after its runtime (code names the rule).",
  "router.dropped":
    "The router dropped a message unanswered (blacklisted peer, bad signature, fingerprint mismatch).",
  "router.rate_limited":
    "A peer exceeded its rate limit (at most one event per peer per second; `dropped` counts the messages refused or dropped since the last one).",
  "router.replay": "A replayed envelope (msg_id seen before, or outside the window) was dropped.",
  "router.error": "A runtime threw while handling a message (answered `internal_error`).",
  "agent.started": "The agent started: its id, mission, transport backend and enrolled person.",
  "agent.listening": "The agent listens for sessions.",
  "agent.peer_connected":
    "A session with a peer (or the person) was adopted; `dialer` says who dialled.",
  "agent.peer_disconnected": "The session with a peer ended.",
  "agent.session_duplicate":
    "Both sides dialled at once: the session dialled by the lower fingerprint is kept, the other closed (`duplicate`).",
  "agent.presence":
    "The agent's presence or lri changed (a STATE_UPDATE goes to every verified peer).",
  "agent.intent":
    "An intent reached the agent loop: a peer's CIP INTENT, or the person's consented HCP_INTENT.",
  "agent.intent_propagated":
    "The person's consented intent was sent on as CIP INTENTs (and to whom).",
  "agent.mission_drift":
    "Recent intents scored below the mission-alignment threshold (edge-triggered).",
  "agent.send_held": "A message the agent started was not sent (peer overloaded, blacklisted).",
  "agent.undeliverable": "Messages for a peer without an open session were not sent.",
  "agent.verify_evidence": "The agent re-fetched a LIP claim's source to verify it.",
  "agent.hook_error": "A cognitive-cycle hook threw; the loop went on.",
  "agent.error":
    "An unexpected error in the agent's loop (a cycle, a send, a fetch). The mesh's own failures are `mesh.error` (`failed`).",
  "agent.stopping": "The agent is stopping.",
  "mesh.blocked": "The owner blocked (or unblocked) a peer: no route goes through it.",
  "mesh.delivered":
    "A relay frame reached its destination; the inner envelope goes to the router with the origin as signer and the delivering neighbour as relay.",
  "mesh.dropped":
    "A mesh frame, or an entry of the mesh's bounded state, was dropped (loop, duplicate, blacklisted or blocked origin, not admitted, bad frame signature, stale `at`, no route, over a rate, a share or a bound), counted in `web4_mesh_dropped_total{reason}`; drops a flood causes are reported once a second per reason and neighbour, with how many more were dropped.",
  "mesh.error":
    "The mesh failed. A message this node originated could not be delivered: the local `ERROR` (`expired` outside the +/-120 s window, `undeliverable`), with the message's id as `in_reply_to`; or the mesh's own work failed unexpectedly (`failed`: handling a frame, flooding, voting; severity `error`, no `in_reply_to`, the error's text as `reason`). Until this version the mesh reported those failures as `agent.error` (`where` `mesh`).",
  "mesh.forwarded": "A relay frame went to its next hop (from its origin or a relay).",
  "mesh.held": "A message had no route and is held until one appears or the window closes.",
  "mesh.hop_expired": "A relay frame arrived with no hops left and was dropped (counted).",
  "mesh.introduction":
    "A signed introduction arrived: admitted (allow-list, trusted introducer) or only logged.",
  "mesh.links": "A link-state advertisement: this node's (or a peer's) live verified neighbours.",
  "mesh.malice_report":
    "A signed malice report was sent, or received and applied (`proven_malice`, `conflict`) or not (`none`) under the trust rules.",
  "mesh.tampered":
    "A relayed inner envelope failed verification at a relay: dropped, the delivering neighbour sanctioned.",
  "mesh.vote":
    "This node voted on a fact: one confirmation or challenge to every other node's copy.",
  "person.sent": "The person's client sent an HCP message.",
  "person.received": "The person's client received a verified HCP message from its agent.",
  "person.refused": "The person's client refused a message from its agent (verification failed).",
});

/**
 * Whether a string is a kind of the contract v1.0.
 *
 * @param kind The kind.
 * @returns `true` for a listed kind.
 *
 * @example
 * ```ts
 * import { isContractKind } from "./contract.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isContractKind("trust.transition"), true);
 * assert.equal(isContractKind("trust.whatever"), false);
 * ```
 */
export function isContractKind(kind: string): kind is EventKind {
  return Object.hasOwn(_DATA, kind);
}

/**
 * The JSON Schema of one kind's `data` (for documentation).
 *
 * @param kind The kind.
 * @returns The JSON Schema object.
 */
export function eventDataJsonSchema(kind: EventKind): Record<string, unknown> {
  return z.toJSONSchema(_DATA[kind]) as Record<string, unknown>;
}
