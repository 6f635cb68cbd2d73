/**
 * Observability: the event contract v1.0 (`Web4Event`), the `Telemetry` port
 * every layer takes, a no-op default and an in-memory sink. Imports nothing
 * else of the project.
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
  SEVERITIES,
  type Severity,
  type Web4Event,
} from "./event.ts";
export {
  createTelemetry,
  type EmitOptions,
  type EventSink,
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
export { otelMirror, type OtelMirrorOptions } from "./otel.ts";
export { JsonlFileSink, type JsonlFileSinkOptions } from "./file_sink.ts";
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
