/**
 * The OpenTelemetry bridge: a {@linkcode MetricsMirror} that records every
 * sample through the global `npm:@opentelemetry/api` meter as well (the
 * registry's own SDK meter serves `/metrics`). Run with `OTEL_DENO=true`
 * and Deno's built-in exporter sends them over OTLP; without it the API is
 * a no-op and costs almost nothing. Instruments carry the catalogue's help
 * text and unit.
 *
 * @module
 */

import { type Attributes, metrics } from "@opentelemetry/api";
import { type MetricFamily, WEB4_METRICS } from "./metric_families.ts";
import type { MetricsMirror } from "./metrics.ts";

/** Options of {@linkcode otelMirror}. */
export interface OtelMirrorOptions {
  /**
   * Meter name.
   *
   * @default {"web4-runtime"}
   */
  meterName?: string;
  /**
   * Where instruments take their description and unit from.
   *
   * @default {WEB4_METRICS}
   */
  families?: readonly MetricFamily[];
}

/**
 * Builds a mirror that records counters, gauges and histograms on an
 * OpenTelemetry meter (instruments created on first use).
 *
 * @param options Meter name.
 * @returns The mirror, to pass as `MetricsRegistry`'s `mirror`.
 *
 * @example
 * ```ts
 * import { MetricsRegistry, otelMirror } from "./mod.ts";
 *
 * const metrics = new MetricsRegistry({ mirror: otelMirror() });
 * metrics.counter("web4_example_total");
 * ```
 */
export function otelMirror(options: OtelMirrorOptions = {}): MetricsMirror {
  const meter = metrics.getMeter(options.meterName ?? "web4-runtime");
  const families = new Map((options.families ?? WEB4_METRICS).map((f) => [f.name, f]));
  const describe = (name: string) => {
    const f = families.get(name);
    return f === undefined ? {} : { description: f.help, unit: f.unit === "1" ? "" : f.unit };
  };
  const counters = new Map<string, ReturnType<typeof meter.createCounter>>();
  const gauges = new Map<string, ReturnType<typeof meter.createGauge>>();
  const histograms = new Map<string, ReturnType<typeof meter.createHistogram>>();
  return {
    counter(name, value, labels) {
      let c = counters.get(name);
      if (!c) counters.set(name, c = meter.createCounter(name, describe(name)));
      c.add(value, labels as Attributes);
    },
    gauge(name, value, labels) {
      let g = gauges.get(name);
      if (!g) gauges.set(name, g = meter.createGauge(name, describe(name)));
      g.record(value, labels as Attributes);
    },
    histogram(name, value, labels) {
      let h = histograms.get(name);
      if (!h) histograms.set(name, h = meter.createHistogram(name, describe(name)));
      h.record(value, labels as Attributes);
    },
  };
}
