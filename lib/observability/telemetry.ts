/**
 * The `Telemetry` port every layer takes (`telemetry?` in its options), a
 * no-op default, and `createTelemetry`, which stamps events and hands them to
 * sinks.
 *
 * @module
 */

import {
  EVENT_CONTRACT_VERSION,
  type EventData,
  type EventValue,
  isEventKind,
  type Severity,
  type TrustLevel,
  type Web4Event,
} from "./event.ts";
import { fitsUtf8, truncateUtf8 } from "./utf8.ts";
import { randomUuid, systemClock, systemRandom } from "../ports/mod.ts";

/**
 * The most UTF-8 bytes of one string in an event's `data`: a longer one is
 * cut at a code point boundary and ends with `…`, so no event grows with
 * what a peer sent.
 */
export const MAX_EVENT_STRING_BYTES = 1024;
/** The most items of one array in an event's `data`: the first ones are kept. */
export const MAX_EVENT_ARRAY_ITEMS = 64;
/** Deepest nesting kept in an event's `data`; deeper values become `null`. */
const _MAX_EVENT_DEPTH = 8;

/** Labels of a metric sample: a flat map of strings. */
export type MetricLabels = { readonly [name: string]: string };

/** Optional fields of an emitted event. */
export interface EmitOptions {
  /**
   * How much the event matters.
   *
   * @default {"info"}
   */
  severity?: Severity;
  /** The peer fingerprint the event concerns. */
  peer?: string;
  /** The transport session id the event concerns. */
  session?: string;
}

/**
 * What a layer needs to report: events, counters and histograms. Layers
 * depend on this port only, never on a sink; calls never throw and never
 * block the message path.
 */
export interface Telemetry {
  /**
   * Reports one event.
   *
   * @param kind Dotted kind, area first (`trust.transition`).
   * @param data Kind-specific fields.
   * @param options Severity, peer, session.
   */
  emit(kind: string, data: EventData, options?: EmitOptions): void;
  /**
   * Adds to a counter.
   *
   * @param name Metric name (`router_messages_total`).
   * @param value Amount to add. @default {1}
   * @param labels Metric labels.
   */
  counter(name: string, value?: number, labels?: MetricLabels): void;
  /**
   * Records one sample of a distribution (a latency in seconds, a size in bytes).
   *
   * @param name Metric name (`web4_router_dispatch_seconds`).
   * @param value The sample.
   * @param labels Metric labels.
   */
  histogram(name: string, value: number, labels?: MetricLabels): void;
}

/** Receives stamped events. A sink must not block; a throwing sink is counted and skipped. */
export interface EventSink {
  /**
   * Takes one event.
   *
   * @param event The stamped event.
   */
  write(event: Web4Event): void;
}

/**
 * A `Telemetry` that does nothing: the default of every layer.
 *
 * @example
 * ```ts
 * import { noopTelemetry } from "./telemetry.ts";
 *
 * noopTelemetry.emit("trust.transition", { from: "untrusted", to: "probing" });
 * ```
 */
export const noopTelemetry: Telemetry = Object.freeze({
  emit() {},
  counter() {},
  histogram() {},
});

/** Options of {@linkcode createTelemetry}. */
export interface TelemetryOptions {
  /** The node name stamped on every event (agent id or fingerprint). */
  node: string;
  /** Where events go. @default {[]} */
  sinks?: readonly EventSink[];
  /** Clock in milliseconds since the epoch. @default {systemClock.now} */
  now?: () => number;
  /** Event id source. @default {a UUID v4 from systemRandom} */
  newId?: () => string;
  /** Receives counter and histogram samples (a metrics registry). */
  metrics?: Pick<Telemetry, "counter" | "histogram">;
  /**
   * The trust level of a peer fingerprint, stamped on every event as
   * `level` (`self` for an event without a peer). Without it, events carry
   * no `level`. A throwing `levelOf` stamps `stranger`.
   */
  levelOf?: (peer: string) => TrustLevel;
}

/** A `Telemetry` that stamps events and fans them out to sinks. */
export interface StampingTelemetry extends Telemetry {
  /** Events whose sink threw, counted per sink index. */
  readonly sinkFailures: readonly number[];
  /** The `seq` of the last event emitted (0 before the first). */
  readonly lastSeq: number;
}

/**
 * Builds a `Telemetry` that stamps each event (`v`, `id`, `ts`, `seq`,
 * `node`, and `level` when given `levelOf`) and writes it to every sink. A
 * sink that throws is counted in `sinkFailures` and never stops the others
 * or the caller. The event's `data` is bounded on the way: strings to
 * {@linkcode MAX_EVENT_STRING_BYTES} UTF-8 bytes, arrays to
 * {@linkcode MAX_EVENT_ARRAY_ITEMS} items, so every sink holds events of a
 * bounded size whatever a peer sent.
 *
 * @param options Node name, sinks, clock, id source, metrics receiver.
 * @returns The telemetry port.
 * @throws {TypeError} When an emitted kind is not a dotted lowercase name.
 *
 * @example Collecting events in memory
 * ```ts
 * import { createTelemetry, MemorySink } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const sink = new MemorySink({ capacity: 100 });
 * const telemetry = createTelemetry({ node: "alice", sinks: [sink] });
 * telemetry.emit("trust.transition", { from: "untrusted", to: "probing" }, { peer: "ab".repeat(32) });
 * const [event] = sink.events();
 * assert.equal(event?.v, "1.0");
 * assert.equal(event?.seq, 1);
 * assert.equal(event?.node, "alice");
 * ```
 */
export function createTelemetry(options: TelemetryOptions): StampingTelemetry {
  const sinks = [...(options.sinks ?? [])];
  const now = options.now ?? systemClock.now;
  const newId = options.newId ?? (() => randomUuid(systemRandom));
  const failures = sinks.map(() => 0);
  const levelOf = options.levelOf;
  let seq = 0;
  return {
    get sinkFailures() {
      return failures;
    },
    get lastSeq() {
      return seq;
    },
    emit(kind, data, emitOptions = {}) {
      if (!isEventKind(kind)) {
        throw new TypeError(`Event kind "${kind}" is not a dotted lowercase name`);
      }
      seq += 1;
      const event: Web4Event = {
        v: EVENT_CONTRACT_VERSION,
        id: newId(),
        ts: new Date(now()).toISOString(),
        seq,
        node: options.node,
        kind,
        severity: emitOptions.severity ?? "info",
        ...(emitOptions.peer === undefined ? {} : { peer: emitOptions.peer }),
        ...(emitOptions.session === undefined ? {} : { session: emitOptions.session }),
        ...(levelOf === undefined ? {} : { level: _level(levelOf, emitOptions.peer) }),
        data: boundEventData(data),
      };
      for (let i = 0; i < sinks.length; i++) {
        try {
          sinks[i]!.write(event);
        } catch {
          failures[i] = (failures[i] ?? 0) + 1;
        }
      }
    },
    counter(name, value = 1, labels) {
      options.metrics?.counter(name, value, labels);
    },
    histogram(name, value, labels) {
      options.metrics?.histogram(name, value, labels);
    },
  };
}

function _level(levelOf: (peer: string) => TrustLevel, peer: string | undefined): TrustLevel {
  if (peer === undefined) return "self";
  try {
    return levelOf(peer);
  } catch {
    return "stranger";
  }
}

function _bound(value: EventValue | undefined, depth: number): EventValue | undefined {
  if (typeof value === "string") {
    return fitsUtf8(value, MAX_EVENT_STRING_BYTES)
      ? value
      : truncateUtf8(value, MAX_EVENT_STRING_BYTES);
  }
  if (value === null || typeof value !== "object") return value;
  if (depth >= _MAX_EVENT_DEPTH) return null;
  if (Array.isArray(value)) {
    const items = value as readonly EventValue[];
    let out: EventValue[] | undefined = items.length > MAX_EVENT_ARRAY_ITEMS
      ? items.slice(0, MAX_EVENT_ARRAY_ITEMS)
      : undefined;
    const n = Math.min(items.length, MAX_EVENT_ARRAY_ITEMS);
    for (let i = 0; i < n; i++) {
      const v = _bound(items[i], depth + 1) as EventValue;
      if (v !== items[i]) (out ??= items.slice(0, n))[i] = v;
    }
    return out ?? value;
  }
  const record = value as { readonly [key: string]: EventValue | undefined };
  let out: { [key: string]: EventValue | undefined } | undefined;
  for (const key in record) {
    const v = _bound(record[key], depth + 1);
    if (v !== record[key]) (out ??= { ...record })[key] = v;
  }
  return out ?? value;
}

/**
 * An event's `data` within the bounds every sink relies on: each string at
 * most {@linkcode MAX_EVENT_STRING_BYTES} UTF-8 bytes (cut at a code point
 * boundary, ending with `…`), each array at most
 * {@linkcode MAX_EVENT_ARRAY_ITEMS} items, nesting at most 8 deep. Returns
 * `data` itself when it is already within them (the usual case: nothing is
 * copied).
 *
 * @param data An event's fields.
 * @returns The same fields, bounded.
 *
 * @example
 * ```ts
 * import { boundEventData, MAX_EVENT_STRING_BYTES } from "./telemetry.ts";
 * import assert from "node:assert/strict";
 *
 * const small = { reason: "ok" };
 * assert.equal(boundEventData(small), small);
 * const big = boundEventData({ reason: "x".repeat(900_000) });
 * assert.equal((big.reason as string).length, MAX_EVENT_STRING_BYTES - 2); // "…" takes 3 bytes
 * ```
 */
export function boundEventData(data: EventData): EventData {
  return _bound(data, 0) as EventData;
}
