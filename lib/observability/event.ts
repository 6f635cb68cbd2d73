/**
 * The event object of the observability contract, version 1.0.
 *
 * Every layer reports what happened as one JSON object of this shape; sinks
 * (memory ring, JSON Lines file, console) receive it unchanged. The list of
 * kinds is closed and documented in `docs/event-contract-v1.md`; this module
 * fixes the envelope of an event, not the list.
 *
 * @module
 */

/** The contract version every event carries in `v`. */
export const EVENT_CONTRACT_VERSION = "1.0" as const;

/**
 * How much an event matters: `debug` (detail), `info` (normal operation),
 * `warn` (refused or degraded, the system copes), `error` (something failed).
 */
export type Severity = "debug" | "info" | "warn" | "error";

/** The severities, in increasing order. */
export const SEVERITIES: readonly Severity[] = ["debug", "info", "warn", "error"];

/**
 * Whom an event concerns, as far as retention goes: `self` (the agent
 * itself, or no peer), its enrolled `person`, a trust `anchor` the owner
 * declared, a `trusted` peer, or a `stranger` (any other key: untrusted,
 * probing, blacklisted). Sinks reserve room per level (the audit stream,
 * the JSON Lines log's shares), so strangers' traffic cannot push the
 * others' events out.
 */
export type TrustLevel = "self" | "person" | "anchor" | "trusted" | "stranger";

/** The trust levels, the least protected last. */
export const TRUST_LEVELS: readonly TrustLevel[] = [
  "self",
  "person",
  "anchor",
  "trusted",
  "stranger",
];

/**
 * Why a mesh node drops a frame: the one list, read by the event contract
 * (`mesh.dropped`), the metric families (`web4_mesh_dropped_total`) and the
 * mesh (`DropReason`).
 *
 * @example
 * ```ts
 * import { MESH_DROP_REASONS } from "./event.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(MESH_DROP_REASONS.includes("stale"));
 * ```
 */
export const MESH_DROP_REASONS = [
  "invalid_frame",
  "oversize",
  "loop",
  "duplicate",
  "blocked_origin",
  "not_admitted",
  "bad_signature",
  "stale",
  "no_route",
  "rate_limited",
  "forward_share",
  "pending_full",
  "seen_full",
  "links_full",
  "adverts_full",
  "copies_full",
  "held_full",
  "evidence_full",
] as const;

/** A JSON value, as carried in an event's `data`. */
export type EventValue =
  | string
  | number
  | boolean
  | null
  | readonly EventValue[]
  | { readonly [key: string]: EventValue | undefined };

/** The `data` object of an event: kind-specific fields. */
export type EventData = { readonly [key: string]: EventValue | undefined };

/**
 * One observability event (contract v1.0).
 *
 * `kind` is dotted, area first (`trust.transition`, `rtt.session_open`);
 * `seq` increases by one per event within a node, so a reader can spot gaps;
 * `peer` is the fingerprint the event concerns (the authenticated peer, never
 * a fingerprint an envelope merely claims); `session` an RTT session id.
 */
export interface Web4Event {
  /** Contract version: always `"1.0"`. */
  readonly v: typeof EVENT_CONTRACT_VERSION;
  /** Unique id of this event (UUID). */
  readonly id: string;
  /** When it happened: RFC 3339 UTC with milliseconds. */
  readonly ts: string;
  /** Per-node sequence number, from 1. */
  readonly seq: number;
  /** The node (agent) that emitted it: its agent id or fingerprint. */
  readonly node: string;
  /** What happened, dotted and area first (`trust.transition`). */
  readonly kind: string;
  /** How much it matters. */
  readonly severity: Severity;
  /** The peer fingerprint the event concerns, if any. */
  readonly peer?: string;
  /** The transport session id the event concerns, if any. */
  readonly session?: string;
  /**
   * The trust level of the party the event concerns when it was emitted
   * (`self` without a peer); set by a telemetry given a `levelOf`, as the
   * agent's is.
   */
  readonly level?: TrustLevel;
  /** Kind-specific fields. */
  readonly data: EventData;
}

const KIND = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

/**
 * Checks an event kind's spelling: lowercase dotted words, at least two
 * (`area.name`).
 *
 * @param kind The kind to check.
 * @returns `true` when the kind is well formed.
 *
 * @example
 * ```ts
 * import { isEventKind } from "./event.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isEventKind("trust.transition"));
 * assert.ok(!isEventKind("Trust Transition"));
 * ```
 */
export function isEventKind(kind: string): boolean {
  return KIND.test(kind);
}
