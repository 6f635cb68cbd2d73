/**
 * The metric catalogue: every family the runtime records, with its type,
 * unit, help text and the label values it starts with. A
 * {@linkcode MetricsRegistry} exposes each of them from the start (counters
 * and gauges at zero, histograms with no samples), so a dashboard and an
 * alert rule find every series before the first event. `docs/operations.md`
 * lists the same families; a test keeps the two equal.
 *
 * Names follow the Prometheus conventions: a `web4_` prefix, `_total` on
 * counters, base units (`_seconds`, `_bytes`). No label carries a peer:
 * label values come from closed lists (reasons, codes, trust levels).
 *
 * @module
 */

import { MESH_DROP_REASONS, TRUST_LEVELS } from "./event.ts";

/** The type of a metric family. */
export type MetricType = "counter" | "gauge" | "histogram";

/** One metric family. */
export interface MetricFamily {
  /** Its Prometheus name (`web4_router_messages_total`). */
  readonly name: string;
  /** Counter, gauge or histogram. */
  readonly type: MetricType;
  /** Its unit as OpenTelemetry spells it (`s`, `By`, `1`). */
  readonly unit: string;
  /** One sentence: what it counts or measures (the `# HELP` line). */
  readonly help: string;
  /** Label sets present from the start (at zero); absent: the series without labels. */
  readonly start?: readonly Readonly<Record<string, string>>[] | undefined;
  /** Histogram bucket bounds, ascending (`+Inf` is implied). */
  readonly buckets?: readonly number[] | undefined;
}

/** Bucket bounds for durations in seconds: 0.5 ms to 10 s. */
export const SECONDS_BUCKETS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

const _each = (label: string, values: readonly string[]) => values.map((v) => ({ [label]: v }));

/** Why the mesh drops a frame (lib/mesh's `DropReason`, plus `tampered`). */
const _MESH_DROPS = [...MESH_DROP_REASONS, "tampered"] as const;

/** The router refusal codes a dashboard and the alert rules watch from the start. */
const _REFUSAL_CODES = ["replay", "quota", "untrusted", "stale", "invalid_signature"] as const;

/**
 * Every family the runtime records. Other names may be recorded too (a
 * runtime's own metrics); they get a generic help text.
 *
 * @example
 * ```ts
 * import { WEB4_METRICS } from "./metric_families.ts";
 * import assert from "node:assert/strict";
 *
 * const f = WEB4_METRICS.find((m) => m.name === "web4_router_dispatch_seconds");
 * assert.equal(f?.type, "histogram");
 * assert.ok(WEB4_METRICS.every((m) => m.name.startsWith("web4_")));
 * ```
 */
export const WEB4_METRICS: readonly MetricFamily[] = [
  // ---- transport ----
  {
    name: "web4_transport_sessions",
    type: "gauge",
    unit: "1",
    help: "Transport sessions open now.",
  },
  {
    name: "web4_transport_pending_handshakes",
    type: "gauge",
    unit: "1",
    help: "Inbound handshakes in flight now.",
  },
  {
    name: "web4_transport_handshakes_shed_total",
    type: "counter",
    unit: "1",
    help: "Pending inbound handshakes shed by the transport's flood limits.",
  },
  {
    name: "web4_transport_verification_failures_total",
    type: "counter",
    unit: "1",
    help: "Handshakes refused because the peer's certificate did not verify.",
  },
  {
    name: "web4_transport_received_bytes_total",
    type: "counter",
    unit: "By",
    help: "Payload bytes received over transport sessions.",
  },
  {
    name: "web4_transport_sent_bytes_total",
    type: "counter",
    unit: "By",
    help: "Payload bytes sent over transport sessions.",
  },
  {
    name: "web4_transport_receive_held_bytes",
    type: "gauge",
    unit: "By",
    help: "Bytes received and not yet read by the agent, held in the transport now.",
  },
  {
    name: "web4_transport_events_dropped_total",
    type: "counter",
    unit: "1",
    help: "Optional transport events (replay, drop, refused handshake) lost to a full event queue.",
  },
  {
    name: "web4_transport_reconnects_total",
    type: "counter",
    unit: "1",
    help: "Sessions resumed after a lost connection.",
  },
  {
    name: "web4_transport_replays_total",
    type: "counter",
    unit: "1",
    help: "Replayed transport frames dropped.",
  },
  {
    name: "web4_transport_dropped_messages_total",
    type: "counter",
    unit: "1",
    help: "Messages dropped by a full transport queue (back-pressure).",
  },
  {
    name: "web4_transport_ack_seconds",
    type: "histogram",
    unit: "s",
    help: "Time from sending a message to the peer's transport acknowledgement.",
    buckets: SECONDS_BUCKETS,
  },
  // ---- router ----
  {
    name: "web4_router_messages_total",
    type: "counter",
    unit: "1",
    help: "Inbound messages dispatched, by protocol and outcome status.",
  },
  {
    name: "web4_router_refusals_total",
    type: "counter",
    unit: "1",
    help:
      "Inbound messages refused or dropped, by the rule's code (replay, quota, untrusted, ...).",
    start: _each("code", _REFUSAL_CODES),
  },
  {
    name: "web4_router_rate_limited_total",
    type: "counter",
    unit: "1",
    help: "Inbound messages over a peer's rate limit.",
  },
  {
    name: "web4_router_dispatch_seconds",
    type: "histogram",
    unit: "s",
    help: "Time to dispatch one inbound message, commit included, by protocol.",
    buckets: SECONDS_BUCKETS,
  },
  // ---- store ----
  {
    name: "web4_store_bytes",
    type: "gauge",
    unit: "By",
    help: "Bytes the store counts against its byte quotas now, over all peers.",
  },
  {
    name: "web4_store_quota_bytes",
    type: "gauge",
    unit: "By",
    help: "The store's total byte quota (refusals with code quota start past it).",
  },
  // ---- trust ----
  {
    name: "web4_trust_transitions_total",
    type: "counter",
    unit: "1",
    help: "Committed trust transitions of peers, by state left and state entered.",
  },
  // ---- agent (the inbound budget and the loop) ----
  {
    name: "web4_agent_inbound_refused_total",
    type: "counter",
    unit: "1",
    help: "Inbound messages refused by the agent's byte budget, by reason.",
    start: _each("reason", ["too_large", "message_too_large"]),
  },
  {
    name: "web4_agent_inbound_paused_total",
    type: "counter",
    unit: "1",
    help: "Times a peer's inbound share filled and its reading paused, by trust level.",
    start: _each("level", TRUST_LEVELS),
  },
  {
    name: "web4_agent_inbound_held_bytes",
    type: "gauge",
    unit: "By",
    help: "Inbound bytes the agent holds, read and not yet handled.",
  },
  {
    name: "web4_agent_queue_depth",
    type: "gauge",
    unit: "1",
    help: "Work items waiting in the agent's loop.",
  },
  {
    name: "web4_agent_lri",
    type: "gauge",
    unit: "1",
    help: "The agent's load-response index, 0 (idle) to 100 (overloaded).",
  },
  {
    name: "web4_agent_mission_alignment",
    type: "gauge",
    unit: "1",
    help: "How well recent intents match the agent's mission, 0 to 1.",
  },
  // ---- mesh ----
  {
    name: "web4_mesh_held_frames",
    type: "gauge",
    unit: "1",
    help: "Mesh frames held for an unreachable destination now.",
  },
  {
    name: "web4_mesh_forwarded_total",
    type: "counter",
    unit: "1",
    help: "Mesh frames sent on, by role (origin or relay).",
    start: _each("role", ["origin", "relay"]),
  },
  {
    name: "web4_mesh_delivered_total",
    type: "counter",
    unit: "1",
    help: "Mesh frames delivered to this agent.",
  },
  {
    name: "web4_mesh_expired_total",
    type: "counter",
    unit: "1",
    help: "Held mesh frames that expired before a route appeared.",
  },
  {
    name: "web4_mesh_hop_expired_total",
    type: "counter",
    unit: "1",
    help: "Mesh frames dropped at their hop limit.",
  },
  {
    name: "web4_mesh_dropped_total",
    type: "counter",
    unit: "1",
    help: "Mesh frames dropped, by reason.",
    start: _each("reason", _MESH_DROPS),
  },
];
