import assert from "node:assert/strict";
import { MetricsRegistry, quantile } from "../../lib/observability/mod.ts";

Deno.test("MetricsRegistry sums counters per label set and keeps gauges' last value", () => {
  const m = new MetricsRegistry();
  m.counter("msgs_total", 1, { type: "HELLO" });
  m.counter("msgs_total", 2, { type: "HELLO" });
  m.counter("msgs_total", 1, { type: "VERIFY" });
  m.gauge("queue_depth", 5);
  m.gauge("queue_depth", 3);
  const snap = m.snapshot();
  assert.deepEqual(snap.counters, {
    'msgs_total{type="HELLO"}': 3,
    'msgs_total{type="VERIFY"}': 1,
  });
  assert.deepEqual(snap.gauges, { queue_depth: 3 });
});

Deno.test("MetricsRegistry histograms give nearest-rank p50/p95/p99 over the recent reservoir", () => {
  const m = new MetricsRegistry({ reservoir: 100 });
  for (let i = 1; i <= 100; i++) m.histogram("lat_ms", i);
  assert.deepEqual(m.snapshot().histograms["lat_ms"], {
    count: 100,
    sum: 5050,
    p50: 50,
    p95: 95,
    p99: 99,
  });
  for (let i = 0; i < 100; i++) m.histogram("lat_ms", 1000);
  const h = m.snapshot().histograms["lat_ms"]!;
  assert.equal(h.count, 200);
  assert.equal(h.p50, 1000, "old samples left the reservoir");
  assert.equal(quantile([], 0.5), 0);
});

Deno.test("MetricsRegistry renders Prometheus text with TYPE lines, escaped labels and summaries", () => {
  const m = new MetricsRegistry();
  m.counter("msgs_total", 2, { peer: 'a"b\\c' });
  m.histogram("lat_ms", 4);
  const text = m.toPrometheus();
  assert.equal(
    text,
    [
      "# TYPE msgs_total counter",
      'msgs_total{peer="a\\"b\\\\c"} 2',
      "# TYPE lat_ms summary",
      'lat_ms{quantile="0.5"} 4',
      'lat_ms{quantile="0.95"} 4',
      'lat_ms{quantile="0.99"} 4',
      "lat_ms_sum 4",
      "lat_ms_count 1",
      "",
    ].join("\n"),
  );
  assert.equal(new MetricsRegistry().toPrometheus(), "");
});

Deno.test("MetricsRegistry refuses bad names, reused names, negative counts and bad samples", () => {
  const m = new MetricsRegistry();
  assert.throws(() => m.counter("bad-name"), /bad-name/);
  assert.throws(() => m.counter("ok_total", 1, { "bad-label": "x" }), /bad-label/);
  assert.throws(() => m.counter("ok_total", 1, { quantile: "x" }), /quantile/);
  m.counter("ok_total");
  assert.throws(() => m.gauge("ok_total", 1), /is a counter/);
  assert.throws(() => m.counter("ok_total", -1), RangeError);
  assert.throws(() => m.histogram("h_ms", Number.NaN), RangeError);
  assert.throws(() => new MetricsRegistry({ reservoir: 0 }), RangeError);
});

Deno.test("MetricsRegistry copies every sample to its mirror", () => {
  const seen: string[] = [];
  const m = new MetricsRegistry({
    mirror: {
      counter: (n, v) => seen.push(`c:${n}:${v}`),
      gauge: (n, v) => seen.push(`g:${n}:${v}`),
      histogram: (n, v) => seen.push(`h:${n}:${v}`),
    },
  });
  m.counter("a_total", 2);
  m.gauge("b", 7);
  m.histogram("c_ms", 1.5);
  assert.deepEqual(seen, ["c:a_total:2", "g:b:7", "h:c_ms:1.5"]);
});

Deno.test({
  name: "otelMirror metrics reach a local OTLP/HTTP receiver through Deno's built-in exporter",
  permissions: { run: true, net: ["127.0.0.1"], read: true, env: true },
  async fn() {
    const bodies: string[] = [];
    let resolveSeen: () => void;
    const seen = new Promise<void>((r) => resolveSeen = r);
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      async (req) => {
        const body = await req.text();
        if (new URL(req.url).pathname === "/v1/metrics") {
          bodies.push(body);
          if (body.includes("web4_otel_test_total")) resolveSeen();
        }
        return Response.json({});
      },
    );
    const script = new URL("../../lib/observability/mod.ts", import.meta.url).href;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { MetricsRegistry, otelMirror } from "${script}";
         const m = new MetricsRegistry({ mirror: otelMirror() });
         m.counter("web4_otel_test_total", 3, { peer: "p1" });
         m.histogram("web4_otel_test_ms", 1.5);
         await new Promise((r) => setTimeout(r, 30000));`,
      ],
      env: {
        OTEL_DENO: "true",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${server.addr.port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_METRIC_EXPORT_INTERVAL: "200",
      },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const exited = child.status.then((status) => {
      throw new Error(`exporter process exited (${status.code}) before metrics arrived`);
    });
    try {
      await Promise.race([seen, exited]);
    } finally {
      child.kill();
      await child.status;
      await child.stderr.cancel();
    }
    const text = bodies.join("\n");
    assert.match(text, /web4_otel_test_total/);
    assert.match(text, /web4_otel_test_ms/);
  },
});
