import assert from "node:assert/strict";
import { createTelemetry, MemorySink, noopTelemetry } from "../../lib/observability/mod.ts";

Deno.test("createTelemetry stamps version, node, seq and time from the injected clock", () => {
  const sink = new MemorySink();
  let id = 0;
  const telemetry = createTelemetry({
    node: "alice",
    sinks: [sink],
    now: () => Date.UTC(2026, 0, 2, 3, 4, 5, 6),
    newId: () => `id-${++id}`,
  });
  telemetry.emit("trust.transition", { from: "untrusted", to: "probing" }, {
    severity: "warn",
    peer: "ab".repeat(32),
  });
  telemetry.emit("router.dispatched", { type: "HELLO" });
  const [first, second] = sink.events();
  assert.deepEqual(first, {
    v: "1.0",
    id: "id-1",
    ts: "2026-01-02T03:04:05.006Z",
    seq: 1,
    node: "alice",
    kind: "trust.transition",
    severity: "warn",
    peer: "ab".repeat(32),
    data: { from: "untrusted", to: "probing" },
  });
  assert.equal(second?.seq, 2);
  assert.equal(second?.severity, "info");
  assert.ok(!("peer" in (second ?? {})));
  assert.equal(telemetry.lastSeq, 2);
});

Deno.test("createTelemetry counts a throwing sink and still delivers to the others", () => {
  const good = new MemorySink();
  const telemetry = createTelemetry({
    node: "n",
    sinks: [{
      write() {
        throw new Error("disk full");
      },
    }, good],
  });
  telemetry.emit("test.one", {});
  telemetry.emit("test.two", {});
  assert.deepEqual(telemetry.sinkFailures, [2, 0]);
  assert.equal(good.events().length, 2);
});

Deno.test("createTelemetry refuses a malformed kind with a TypeError naming it", () => {
  const telemetry = createTelemetry({ node: "n" });
  assert.throws(() => telemetry.emit("Bad Kind", {}), /Bad Kind/);
  assert.throws(() => telemetry.emit("single", {}), TypeError);
});

Deno.test("createTelemetry forwards counters and histograms to the metrics receiver", () => {
  const samples: string[] = [];
  const telemetry = createTelemetry({
    node: "n",
    metrics: {
      counter: (name, value, labels) => samples.push(`c ${name} ${value} ${labels?.type ?? ""}`),
      histogram: (name, value) => samples.push(`h ${name} ${value}`),
    },
  });
  telemetry.counter("router_messages_total", undefined, { type: "HELLO" });
  telemetry.histogram("router_dispatch_ms", 1.5);
  noopTelemetry.counter("ignored");
  assert.deepEqual(samples, ["c router_messages_total 1 HELLO", "h router_dispatch_ms 1.5"]);
});

Deno.test("MemorySink keeps the newest events in order, filters by kind, and refuses a bad capacity", () => {
  const sink = new MemorySink({ capacity: 3 });
  const telemetry = createTelemetry({ node: "n", sinks: [sink] });
  for (let i = 0; i < 5; i++) telemetry.emit(i % 2 ? "test.odd" : "test.even", { i });
  assert.deepEqual(sink.events().map((e) => e.seq), [3, 4, 5]);
  assert.deepEqual(sink.events("test.odd").map((e) => e.seq), [4]);
  assert.equal(sink.dropped, 2);
  sink.clear();
  assert.equal(sink.events().length, 0);
  assert.throws(() => new MemorySink({ capacity: 0 }), RangeError);
});
