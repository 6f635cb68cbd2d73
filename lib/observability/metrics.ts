/**
 * Metrics: counters, gauges and histograms, recorded on the OpenTelemetry
 * metrics SDK (`npm:@opentelemetry/sdk-metrics`) and exposed in the
 * Prometheus text format by its serializer
 * (`npm:@opentelemetry/exporter-prometheus`); also readable as an object
 * (`snapshot()`, with recent quantiles), and optionally mirrored to the
 * global OpenTelemetry API.
 *
 * @module
 */

import { type Attributes, type Meter, ValueType } from "@opentelemetry/api";
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  type MetricData,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { type MetricFamily, type MetricType, WEB4_METRICS } from "./metric_families.ts";
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
  /**
   * The families exposed from the start, with their help text and unit.
   *
   * @default {WEB4_METRICS}
   */
  families?: readonly MetricFamily[];
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

/** Reads the SDK's meters on demand (a scrape), for the Prometheus serializer. */
class _ScrapeReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** Records one sample on a family's SDK instrument (a counter adds, a gauge sets, a histogram records). */
type Record_ = (value: number, labels: Attributes) => void;

/**
 * Holds metric series: each sample goes to an OpenTelemetry SDK meter (for
 * the Prometheus exposition) and to an in-memory summary (for
 * {@linkcode MetricsRegistry.snapshot}). Names follow Prometheus rules; a
 * name used as one type cannot be reused as another. The catalogue's
 * families ({@linkcode WEB4_METRICS} by default) are present from the start.
 *
 * @example Counting and timing, then reading as Prometheus text
 * ```ts
 * import { MetricsRegistry } from "./metrics.ts";
 * import assert from "node:assert/strict";
 *
 * const metrics = new MetricsRegistry();
 * metrics.counter("web4_router_messages_total", 1, { protocol: "CIP", status: "ok" });
 * for (const s of [0.001, 0.002, 0.003, 0.004, 0.1]) {
 *   metrics.histogram("web4_router_dispatch_seconds", s, { protocol: "CIP" });
 * }
 * const key = 'web4_router_dispatch_seconds{protocol="CIP"}';
 * assert.equal(metrics.snapshot().histograms[key]?.p50, 0.003);
 * const text = await metrics.toPrometheus();
 * assert.match(text, /web4_router_messages_total\{protocol="CIP",status="ok"\} 1/);
 * assert.match(text, /# HELP web4_mesh_dropped_total /);
 * ```
 */
export class MetricsRegistry {
  /** Recent samples kept per histogram series. */
  readonly reservoir: number;
  #counters = new Map<string, Series<number>>();
  #gauges = new Map<string, Series<number>>();
  #histograms = new Map<string, Series<Reservoir>>();
  #mirror: MetricsMirror | undefined;
  #families = new Map<string, MetricFamily>();
  #instruments = new Map<string, Record_>();
  #observers = new Set<(metrics: MetricsRegistry) => void>();
  #meter: Meter;
  #reader = new _ScrapeReader();

  /**
   * Creates a registry with the catalogue's families at zero.
   *
   * @param options Reservoir size, mirror, families.
   * @throws {RangeError} When `reservoir` is not a positive integer.
   * @throws {TypeError} When a family's name or label is not a Prometheus one.
   */
  constructor(options: MetricsRegistryOptions = {}) {
    const reservoir = options.reservoir ?? 2048;
    if (!Number.isInteger(reservoir) || reservoir < 1) {
      throw new RangeError(`Metrics reservoir must be a positive integer, got ${reservoir}`);
    }
    this.reservoir = reservoir;
    this.#mirror = options.mirror;
    this.#meter = new MeterProvider({ readers: [this.#reader] }).getMeter("web4-runtime");
    for (const family of options.families ?? WEB4_METRICS) {
      this.#families.set(family.name, family);
      this.#instrument(family.name, family.type);
      if (family.type === "histogram") continue;
      for (const labels of family.start ?? [{}]) {
        if (family.type === "counter") this.#record("counter", family.name, 0, labels, false);
        else this.#record("gauge", family.name, 0, labels, false);
      }
    }
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
    this.#record("counter", name, value, labels, true);
  }

  /**
   * Raises a counter to a total counted elsewhere (a transport's own
   * count, read by an {@linkcode MetricsRegistry.observe} callback). A total
   * below the current value (a restarted source) changes nothing.
   *
   * @param name Metric name.
   * @param total The source's total.
   * @param labels Labels.
   * @throws {TypeError} On a bad name or label, or a name already used as another type.
   */
  counterTotal(name: string, total: number, labels: MetricLabels = {}): void {
    const current = this.#counters.get(seriesKey(name, labels))?.value ?? 0;
    if (Number.isFinite(total) && total > current) this.counter(name, total - current, labels);
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
    this.#record("gauge", name, value, labels, true);
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
    this.#record("histogram", name, value, labels, true);
  }

  /**
   * Runs `read` before every {@linkcode MetricsRegistry.toPrometheus} (e.g.
   * to copy a transport's own counts with `gauge` and `counterTotal`). A
   * callback that throws is skipped for that scrape.
   *
   * @param read Sets the values it observes.
   * @returns Removes the callback.
   */
  observe(read: (metrics: MetricsRegistry) => void): () => void {
    this.#observers.add(read);
    return () => this.#observers.delete(read);
  }

  /** The families known: the catalogue's and any other recorded since. */
  get families(): readonly MetricFamily[] {
    return [...this.#families.values()];
  }

  /**
   * Every series, summarised (observers are not run).
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
   * Runs the observers, collects the SDK's meter and serializes it in the
   * Prometheus text format (version 0.0.4): `# HELP` and `# TYPE` for every
   * family, counters, gauges, and histograms with cumulative `_bucket`
   * series, `_sum` and `_count` (a histogram without samples at zero).
   *
   * @returns The text, ending with a newline.
   */
  async toPrometheus(): Promise<string> {
    for (const read of this.#observers) {
      try {
        read(this);
      } catch {
        // An observer that cannot read (a closed transport) leaves the last values.
      }
    }
    const { resourceMetrics } = await this.#reader.collect();
    const scope = resourceMetrics.scopeMetrics[0];
    const seen = new Set(scope?.metrics.map((m) => m.descriptor.name));
    const empty = [...this.#families.values()]
      .filter((f) => f.type === "histogram" && !seen.has(f.name))
      .map((f) => _emptyHistogram(f));
    const scopeMetrics = scope === undefined && empty.length === 0 ? [] : [{
      scope: scope?.scope ?? { name: "web4-runtime" },
      metrics: [...(scope?.metrics ?? []), ...empty],
    }];
    const text = new PrometheusSerializer("", false, undefined, true).serialize({
      resource: resourceMetrics.resource,
      scopeMetrics,
    });
    return text.trimEnd() + "\n";
  }

  #record(type: MetricType, name: string, value: number, labels: MetricLabels, mirror: boolean) {
    const key = seriesKey(name, labels);
    switch (type) {
      case "counter": {
        const s = this.#counters.get(key) ?? this.#series(this.#counters, type, name, labels, 0);
        s.value += value;
        this.#instrument(name, type)(value, labels);
        if (mirror) this.#mirror?.counter(name, value, labels);
        return;
      }
      case "gauge": {
        const s = this.#gauges.get(key) ?? this.#series(this.#gauges, type, name, labels, 0);
        s.value = value;
        this.#instrument(name, type)(value, labels);
        if (mirror) this.#mirror?.gauge(name, value, labels);
        return;
      }
      case "histogram": {
        const s = this.#histograms.get(key) ??
          this.#series(this.#histograms, type, name, labels, {
            count: 0,
            sum: 0,
            samples: [],
            next: 0,
          });
        const r = s.value;
        r.count += 1;
        r.sum += value;
        if (r.samples.length < this.reservoir) r.samples.push(value);
        else {
          r.samples[r.next] = value;
          r.next = (r.next + 1) % this.reservoir;
        }
        this.#instrument(name, type)(value, labels);
        if (mirror) this.#mirror?.histogram(name, value, labels);
        return;
      }
    }
  }

  #series<T>(
    map: Map<string, Series<T>>,
    type: MetricType,
    name: string,
    labels: MetricLabels,
    init: T,
  ): Series<T> {
    for (const label of Object.keys(labels)) {
      if (!LABEL.test(label) || label === "le" || label === "quantile") {
        throw new TypeError(`Metric "${name}" label "${label}" is not allowed`);
      }
    }
    this.#instrument(name, type);
    const series = { name, labels: { ...labels }, value: init };
    map.set(seriesKey(name, labels), series);
    return series;
  }

  /** The SDK instrument of a family, created (and the type fixed) on first use. */
  #instrument(name: string, type: MetricType): Record_ {
    const known = this.#families.get(name);
    if (known !== undefined && known.type !== type) {
      throw new TypeError(`Metric "${name}" is a ${known.type}, not a ${type}`);
    }
    const existing = this.#instruments.get(name);
    if (existing) return existing;
    if (!NAME.test(name)) throw new TypeError(`Metric name "${name}" is not a Prometheus name`);
    const family = known ?? {
      name,
      type,
      unit: "",
      help: `${name} (recorded outside the web4 catalogue).`,
    };
    this.#families.set(name, family);
    const opts = { description: family.help, unit: family.unit === "1" ? "" : family.unit };
    let record: Record_;
    if (type === "counter") {
      const c = this.#meter.createCounter(name, opts);
      record = (value, labels) => c.add(value, labels);
    } else if (type === "gauge") {
      const g = this.#meter.createGauge(name, opts);
      record = (value, labels) => g.record(value, labels);
    } else {
      const h = this.#meter.createHistogram(name, {
        ...opts,
        advice: { explicitBucketBoundaries: [...(family.buckets ?? SECONDS_DEFAULT)] },
      });
      record = (value, labels) => h.record(value, labels);
    }
    this.#instruments.set(name, record);
    return record;
  }
}

const SECONDS_DEFAULT = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A histogram family without samples: one series at zero, so it is exposed from the start. */
function _emptyHistogram(family: MetricFamily): MetricData {
  const boundaries = [...(family.buckets ?? SECONDS_DEFAULT)];
  return {
    descriptor: {
      name: family.name,
      description: family.help,
      unit: family.unit === "1" ? "" : family.unit,
      valueType: ValueType.DOUBLE,
    },
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.HISTOGRAM,
    dataPoints: [{
      attributes: {},
      startTime: [0, 0],
      endTime: [0, 0],
      value: {
        buckets: { boundaries, counts: boundaries.map(() => 0).concat(0) },
        count: 0,
        sum: 0,
      },
    }],
  };
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
