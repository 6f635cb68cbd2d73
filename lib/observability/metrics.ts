/**
 * Metrics: counters, gauges and latency histograms, readable as an object
 * (`snapshot()`) and as Prometheus text (`toPrometheus()`), optionally
 * mirrored to OpenTelemetry through `npm:@opentelemetry/api`.
 *
 * @module
 */

import type { MetricLabels } from "./telemetry.ts";

/** Options of {@linkcode MetricsRegistry}. */
export interface MetricsRegistryOptions {
  /**
   * How many recent samples each histogram series keeps for its quantiles.
   * Count and sum cover every sample; p50/p95/p99 cover the most recent ones.
   *
   * @default {2048}
   */
  reservoir?: number;
  /**
   * Receives every sample too, e.g. {@linkcode otelMirror} to feed Deno's
   * built-in OpenTelemetry export.
   */
  mirror?: MetricsMirror;
}

/** Something that takes a copy of every metric sample (OpenTelemetry). */
export interface MetricsMirror {
  /**
   * A counter increment.
   *
   * @param name Metric name.
   * @param value Increment.
   * @param labels Labels.
   */
  counter(name: string, value: number, labels: MetricLabels): void;
  /**
   * A gauge value.
   *
   * @param name Metric name.
   * @param value Current value.
   * @param labels Labels.
   */
  gauge(name: string, value: number, labels: MetricLabels): void;
  /**
   * A histogram sample.
   *
   * @param name Metric name.
   * @param value Sample.
   * @param labels Labels.
   */
  histogram(name: string, value: number, labels: MetricLabels): void;
}

/** One histogram series, summarised. */
export interface HistogramSummary {
  /** Samples recorded, ever. */
  count: number;
  /** Sum of every sample recorded. */
  sum: number;
  /** Median of the recent samples (0 before the first). */
  p50: number;
  /** 95th percentile of the recent samples. */
  p95: number;
  /** 99th percentile of the recent samples. */
  p99: number;
}

/** Every series of a registry, keyed by `name{label="value",...}`. */
export interface MetricsSnapshot {
  /** Counter totals. */
  counters: Record<string, number>;
  /** Gauge values. */
  gauges: Record<string, number>;
  /** Histogram summaries. */
  histograms: Record<string, HistogramSummary>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface Series<T> {
  name: string;
  labels: MetricLabels;
  value: T;
}

interface Reservoir {
  count: number;
  sum: number;
  samples: number[];
  next: number;
}

/**
 * Holds metric series in memory. Names follow Prometheus rules; a name used
 * as one type cannot be reused as another.
 *
 * @example Counting and timing, then reading as Prometheus text
 * ```ts
 * import { MetricsRegistry } from "./metrics.ts";
 * import assert from "node:assert/strict";
 *
 * const metrics = new MetricsRegistry();
 * metrics.counter("router_messages_total", 1, { type: "HELLO" });
 * for (const ms of [1, 2, 3, 4, 100]) metrics.histogram("router_dispatch_ms", ms);
 * assert.equal(metrics.snapshot().histograms["router_dispatch_ms"]?.p50, 3);
 * assert.match(metrics.toPrometheus(), /router_messages_total\{type="HELLO"\} 1/);
 * ```
 */
export class MetricsRegistry {
  /** Recent samples kept per histogram series. */
  readonly reservoir: number;
  #types = new Map<string, "counter" | "gauge" | "histogram">();
  #counters = new Map<string, Series<number>>();
  #gauges = new Map<string, Series<number>>();
  #histograms = new Map<string, Series<Reservoir>>();
  #mirror: MetricsMirror | undefined;

  /**
   * Creates an empty registry.
   *
   * @param options Reservoir size and mirror.
   * @throws {RangeError} When `reservoir` is not a positive integer.
   */
  constructor(options: MetricsRegistryOptions = {}) {
    const reservoir = options.reservoir ?? 2048;
    if (!Number.isInteger(reservoir) || reservoir < 1) {
      throw new RangeError(`Metrics reservoir must be a positive integer, got ${reservoir}`);
    }
    this.reservoir = reservoir;
    this.#mirror = options.mirror;
  }

  /**
   * Adds to a counter.
   *
   * @param name Metric name.
   * @param value Non-negative increment. @default {1}
   * @param labels Labels.
   * @throws {TypeError} On a bad name or label, or a name already used as another type.
   * @throws {RangeError} On a negative or non-finite increment.
   */
  counter(name: string, value = 1, labels: MetricLabels = {}): void {
    if (!(value >= 0) || !Number.isFinite(value)) {
      throw new RangeError(`Counter "${name}" increment must be finite and >= 0, got ${value}`);
    }
    const series = this.#series(this.#counters, "counter", name, labels, () => 0);
    series.value += value;
    this.#mirror?.counter(name, value, labels);
  }

  /**
   * Sets a gauge.
   *
   * @param name Metric name.
   * @param value Current value.
   * @param labels Labels.
   * @throws {TypeError} On a bad name or label, or a name already used as another type.
   */
  gauge(name: string, value: number, labels: MetricLabels = {}): void {
    const series = this.#series(this.#gauges, "gauge", name, labels, () => 0);
    series.value = value;
    this.#mirror?.gauge(name, value, labels);
  }

  /**
   * Records a histogram sample.
   *
   * @param name Metric name.
   * @param value Sample (finite).
   * @param labels Labels.
   * @throws {TypeError} On a bad name or label, or a name already used as another type.
   * @throws {RangeError} On a non-finite sample.
   */
  histogram(name: string, value: number, labels: MetricLabels = {}): void {
    if (!Number.isFinite(value)) {
      throw new RangeError(`Histogram "${name}" sample must be finite, got ${value}`);
    }
    const series = this.#series(
      this.#histograms,
      "histogram",
      name,
      labels,
      () => ({ count: 0, sum: 0, samples: [], next: 0 }),
    );
    const r = series.value;
    r.count += 1;
    r.sum += value;
    if (r.samples.length < this.reservoir) r.samples.push(value);
    else {
      r.samples[r.next] = value;
      r.next = (r.next + 1) % this.reservoir;
    }
    this.#mirror?.histogram(name, value, labels);
  }

  /**
   * Every series, summarised.
   *
   * @returns A plain object (safe to serialise).
   */
  snapshot(): MetricsSnapshot {
    const out: MetricsSnapshot = { counters: {}, gauges: {}, histograms: {} };
    for (const [key, s] of this.#counters) out.counters[key] = s.value;
    for (const [key, s] of this.#gauges) out.gauges[key] = s.value;
    for (const [key, s] of this.#histograms) out.histograms[key] = summarize(s.value);
    return out;
  }

  /**
   * The registry in Prometheus text exposition format (version 0.0.4):
   * counters and gauges as such, histograms as summaries with quantiles
   * 0.5, 0.95, 0.99, `_sum` and `_count`.
   *
   * @returns The text, ending with a newline.
   */
  toPrometheus(): string {
    const lines: string[] = [];
    const byName = new Map<string, string[]>();
    const add = (name: string, type: string, line: string) => {
      let list = byName.get(name);
      if (!list) {
        list = [`# TYPE ${name} ${type}`];
        byName.set(name, list);
      }
      list.push(line);
    };
    for (const s of this.#counters.values()) {
      add(s.name, "counter", `${s.name}${labelText(s.labels)} ${num(s.value)}`);
    }
    for (const s of this.#gauges.values()) {
      add(s.name, "gauge", `${s.name}${labelText(s.labels)} ${num(s.value)}`);
    }
    for (const s of this.#histograms.values()) {
      const sum = summarize(s.value);
      for (const [q, v] of [["0.5", sum.p50], ["0.95", sum.p95], ["0.99", sum.p99]] as const) {
        add(s.name, "summary", `${s.name}${labelText({ ...s.labels, quantile: q })} ${num(v)}`);
      }
      add(s.name, "summary", `${s.name}_sum${labelText(s.labels)} ${num(sum.sum)}`);
      add(s.name, "summary", `${s.name}_count${labelText(s.labels)} ${sum.count}`);
    }
    for (const list of byName.values()) lines.push(...list);
    return lines.length === 0 ? "" : lines.join("\n") + "\n";
  }

  #series<T>(
    map: Map<string, Series<T>>,
    type: "counter" | "gauge" | "histogram",
    name: string,
    labels: MetricLabels,
    init: () => T,
  ): Series<T> {
    const key = seriesKey(name, labels);
    const existing = map.get(key);
    if (existing) return existing;
    if (!NAME.test(name)) throw new TypeError(`Metric name "${name}" is not a Prometheus name`);
    for (const label of Object.keys(labels)) {
      if (!LABEL.test(label) || label === "quantile") {
        throw new TypeError(`Metric "${name}" label "${label}" is not allowed`);
      }
    }
    const known = this.#types.get(name);
    if (known !== undefined && known !== type) {
      throw new TypeError(`Metric "${name}" is a ${known}, not a ${type}`);
    }
    this.#types.set(name, type);
    const series = { name, labels: { ...labels }, value: init() };
    map.set(key, series);
    return series;
  }
}

/**
 * Quantile of a sample list by the nearest-rank method.
 *
 * @param sorted Samples in ascending order.
 * @param q Quantile in [0, 1].
 * @returns The sample at rank ceil(q * n), or 0 for no samples.
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

function summarize(r: Reservoir): HistogramSummary {
  const sorted = [...r.samples].sort((a, b) => a - b);
  return {
    count: r.count,
    sum: r.sum,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
  };
}

function seriesKey(name: string, labels: MetricLabels): string {
  return name + labelText(labels);
}

function labelText(labels: MetricLabels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  return "{" + keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(",") + "}";
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

function num(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
