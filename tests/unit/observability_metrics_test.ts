import assert from "node:assert/strict";
import { MetricsRegistry, quantile, WEB4_METRICS } from "../../lib/observability/mod.ts";

Deno.test("MetricsRegistry sums counters per label set and keeps gauges' last value", () => {
  const m = new MetricsRegistry({ families: [] });
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
  const m = new MetricsRegistry({ reservoir: 100, families: [] });
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

Deno.test("MetricsRegistry renders Prometheus text through the SDK's serializer: HELP, TYPE, escaped labels, histograms with buckets", async () => {
  const m = new MetricsRegistry({
    families: [
      { name: "msgs_total", type: "counter", unit: "1", help: "Messages." },
      { name: "lat_seconds", type: "histogram", unit: "s", help: "Latency.", buckets: [0.1, 1] },
    ],
  });
  m.counter("msgs_total", 2, { kind: 'a"b\\c' });
  m.histogram("lat_seconds", 0.5);
  m.gauge("other_bytes", 3);
  const text = await m.toPrometheus();
  assert.match(text, /^# HELP msgs_total Messages\.\n# TYPE msgs_total counter\n/);
  assert.match(text, /^msgs_total 0$/m, "the family's start series");
  assert.match(text, /^msgs_total\{kind="a\\"b\\\\c"\} 2$/m);
  assert.match(text, /^# TYPE lat_seconds histogram$/m);
  assert.match(text, /^lat_seconds_bucket\{le="0\.1"\} 0$/m);
  assert.match(text, /^lat_seconds_bucket\{le="1"\} 1$/m);
  assert.match(text, /^lat_seconds_bucket\{le="\+Inf"\} 1$/m);
  assert.match(text, /^lat_seconds_count 1$/m);
  assert.match(text, /^# HELP other_bytes other_bytes \(recorded outside the web4 catalogue\)\.$/m);
  assert.ok(text.endsWith("\n"));
  assert.equal(
    await new MetricsRegistry({ families: [] }).toPrometheus(),
    "# no registered metrics\n",
  );
});

Deno.test("MetricsRegistry exposes every catalogue family from the start, web4_-prefixed, with HELP", async () => {
  const text = await new MetricsRegistry().toPrometheus();
  for (const f of WEB4_METRICS) {
    assert.match(f.name, /^web4_[a-z0-9_]+$/);
    if (f.type === "counter") assert.match(f.name, /_total$/);
    if (f.unit === "s") assert.match(f.name, /_seconds$/);
    if (f.unit === "By") assert.match(f.name, /_bytes(_total)?$/);
    assert.ok(text.includes(`# HELP ${f.name} ${f.help}\n`), f.name);
    assert.ok(text.includes(`# TYPE ${f.name} ${f.type}\n`), f.name);
    const zero = f.type === "histogram"
      ? `${f.name}_count 0`
      : `${f.name}${labels(f.start?.[0])} 0`;
    assert.ok(text.includes(zero + "\n"), zero);
  }
  assert.doesNotMatch(text, /peer=/, "no per-peer label");
});

function labels(l: Readonly<Record<string, string>> | undefined): string {
  if (l === undefined) return "";
  return "{" + Object.entries(l).map(([k, v]) => `${k}="${v}"`).join(",") + "}";
}

Deno.test("MetricsRegistry.observe runs before each scrape; counterTotal only ever raises a counter", async () => {
  const m = new MetricsRegistry({ families: [] });
  let total = 5;
  const stop = m.observe((r) => {
    r.counterTotal("seen_total", total);
    r.gauge("open", total);
  });
  m.observe(() => {
    throw new Error("a closed source");
  });
  assert.match(await m.toPrometheus(), /^seen_total 5$/m);
  total = 3; // a restarted source
  assert.match(await m.toPrometheus(), /^seen_total 5$/m);
  total = 9;
  const text = await m.toPrometheus();
  assert.match(text, /^seen_total 9$/m);
  assert.match(text, /^open 9$/m);
  stop();
  total = 20;
  assert.match(await m.toPrometheus(), /^seen_total 9$/m);
});

Deno.test("MetricsRegistry refuses bad names, reused names, negative counts and bad samples", () => {
  const m = new MetricsRegistry({ families: [] });
  assert.throws(() => m.counter("bad-name"), /bad-name/);
  assert.throws(() => m.counter("ok_total", 1, { "bad-label": "x" }), /bad-label/);
  assert.throws(() => m.counter("ok_total", 1, { quantile: "x" }), /quantile/);
  assert.throws(() => m.counter("ok_total", 1, { le: "x" }), /le/);
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

const _docs = new URL("../../docs/", import.meta.url);

/** The `web4_*` family names a text mentions (histogram series folded into their family). */
function _familiesIn(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/\bweb4_[a-z0-9_]+/g)) {
    names.add(m[0].replace(/_(bucket|sum|count)$/, ""));
  }
  return names;
}

Deno.test("docs/operations.md lists every catalogue family with its type, unit and meaning", async () => {
  const doc = await Deno.readTextFile(new URL("operations.md", _docs));
  const rows = new Map<string, string[]>();
  for (const line of doc.split("\n")) {
    const m = /^\| `(web4_[a-z0-9_]+)` +\|(.*)\|$/.exec(line);
    if (m !== null) rows.set(m[1]!, m[2]!.split("|").map((c) => c.trim()));
  }
  for (const f of WEB4_METRICS) {
    const row = rows.get(f.name);
    assert.ok(row !== undefined, `${f.name} missing from docs/operations.md`);
    const unit = f.unit === "s" ? "seconds" : f.unit === "By" ? "bytes" : "1";
    assert.deepEqual([row[0], row[1], row[3]], [f.type, unit, f.help], f.name);
  }
  const known = new Set(WEB4_METRICS.map((f) => f.name));
  for (const name of rows.keys()) {
    assert.ok(known.has(name), `${name} is in the doc, not the catalogue`);
  }
});

Deno.test("the Grafana dashboard and the alert rules query only families the catalogue has", async () => {
  const known = new Set(WEB4_METRICS.map((f) => f.name));
  const dashboard = JSON.parse(await Deno.readTextFile(new URL("grafana-dashboard.json", _docs)));
  const exprs: string[] = dashboard.panels.flatMap((p: { targets: { expr: string }[] }) =>
    p.targets.map((t) => t.expr)
  );
  assert.ok(exprs.length >= 10);
  const alerts = await Deno.readTextFile(new URL("alerts.yml", _docs));
  const used = _familiesIn(exprs.join("\n") + "\n" + alerts);
  for (const name of used) assert.ok(known.has(name), `${name} is not a web4 metric family`);
  for (
    const alert of ["Web4ReplayFlood", "Web4QuotaRefusals", "Web4ReconnectStorm", "Web4TrustDrops"]
  ) {
    assert.match(alerts, new RegExp(`alert: ${alert}\\n`));
  }
});
