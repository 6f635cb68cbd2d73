/**
 * Observability: the event contract v1.0 (`Web4Event`), the `Telemetry` port
 * every layer takes, a no-op default, sinks (memory, JSON Lines, console),
 * the audit stream, UTF-8 sizes, and metrics (`MetricsRegistry` on the
 * OpenTelemetry SDK, Prometheus text, the `WEB4_METRICS` catalogue).
 * Imports nothing else of the project.
 *
 * @example
 * ```ts
 * import { createTelemetry, MemorySink } from "@web4/runtime/observability";
 * import assert from "node:assert/strict";
 *
 * const sink = new MemorySink();
 * const telemetry = createTelemetry({ node: "alice", sinks: [sink] });
 * telemetry.emit("router.dispatched", { type: "HELLO" });
 * assert.deepEqual(sink.events().map((e) => [e.v, e.node, e.kind]), [["1.0", "alice", "router.dispatched"]]);
 * ```
 *
 * @module
 */

export {
  EVENT_CONTRACT_VERSION,
  type EventData,
  type EventValue,
  isEventKind,
  MESH_DROP_REASONS,
  SEVERITIES,
  type Severity,
  TRUST_LEVELS,
  type TrustLevel,
  type Web4Event,
} from "./event.ts";
export { fitsUtf8, truncateUtf8, TRUNCATION_MARK, utf8ByteLength } from "./utf8.ts";
export {
  AUDIT_KINDS,
  type AuditBudget,
  auditLevelOf,
  type AuditLevelStats,
  AuditRetention,
  DEFAULT_AUDIT_BUDGETS,
  DEFAULT_AUDIT_KEEP_FIRST,
  isAuditEvent,
  type RetainedEntry,
} from "./audit.ts";
export {
  type AuditEntry,
  AuditLog,
  type AuditLogOptions,
  type AuditPage,
  type AuditQuery,
  type AuditStats,
  MAX_AUDIT_PAGE,
} from "./audit_log.ts";
export {
  boundEventData,
  createTelemetry,
  type EmitOptions,
  type EventSink,
  MAX_EVENT_ARRAY_ITEMS,
  MAX_EVENT_STRING_BYTES,
  type MetricLabels,
  noopTelemetry,
  type StampingTelemetry,
  type Telemetry,
  type TelemetryOptions,
} from "./telemetry.ts";
export { MemorySink, type MemorySinkOptions } from "./memory_sink.ts";
export {
  type HistogramSummary,
  type MetricsMirror,
  MetricsRegistry,
  type MetricsRegistryOptions,
  type MetricsSnapshot,
  quantile,
} from "./metrics.ts";
export {
  type MetricFamily,
  type MetricType,
  SECONDS_BUCKETS,
  WEB4_METRICS,
} from "./metric_families.ts";
export { otelMirror, type OtelMirrorOptions } from "./otel.ts";
export {
  DEFAULT_LOG_LEVEL_SHARES,
  DEFAULT_LOG_PEER_SHARE,
  JsonlFileSink,
  type JsonlFileSinkOptions,
} from "./file_sink.ts";
export {
  colorByDefault,
  ConsoleSink,
  type ConsoleSinkOptions,
  formatEventLine,
} from "./console_sink.ts";
export {
  checkEvent,
  checkEvents,
  EVENT_DESCRIPTIONS,
  EVENT_KINDS,
  eventContractJsonSchema,
  eventDataJsonSchema,
  type EventKind,
  type EventProblem,
  isContractKind,
} from "./contract.ts";
