import assert from "node:assert/strict";
import { ConsoleSink, createTelemetry, JsonlFileSink } from "../../lib/observability/mod.ts";

Deno.test("JsonlFileSink appends one JSON object per line and rotates by size", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/events.jsonl`;
  const sink = await JsonlFileSink.open(path, { maxBytes: 600, keep: 2 });
  const telemetry = createTelemetry({ node: "n", sinks: [sink] });
  for (let i = 0; i < 12; i++) telemetry.emit("test.tick", { i });
  await sink.close();
  const files = [path, `${path}.1`, `${path}.2`];
  const lines: { seq: number }[] = [];
  for (const f of [...files].reverse()) {
    const text = await Deno.readTextFile(f);
    assert.ok(new TextEncoder().encode(text).length <= 600, `${f} stays within maxBytes`);
    for (const line of text.trim().split("\n")) lines.push(JSON.parse(line));
  }
  const seqs = lines.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "order kept across rotation");
  assert.equal(seqs.at(-1), 12);
  await assert.rejects(Deno.stat(`${path}.3`), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("JsonlFileSink drops (and counts) past its queue bound and after close, never throwing", async () => {
  const path = await Deno.makeTempFile();
  const sink = await JsonlFileSink.open(path, { maxPendingBytes: 300 });
  const telemetry = createTelemetry({ node: "n", sinks: [sink] });
  for (let i = 0; i < 20; i++) telemetry.emit("test.burst", { i });
  assert.ok(sink.dropped > 0, "a burst past the bound is dropped, not buffered");
  await sink.close();
  await sink.close();
  const before = sink.dropped;
  telemetry.emit("test.late", {});
  assert.equal(sink.dropped, before + 1);
  const written = (await Deno.readTextFile(path)).trim().split("\n").length;
  assert.equal(written + before, 20);
  await Deno.remove(path);
});

Deno.test("JsonlFileSink refuses non-positive bounds", async () => {
  await assert.rejects(JsonlFileSink.open("/nonexistent", { maxBytes: 0 }), RangeError);
});

Deno.test("ConsoleSink colours by severity when asked", () => {
  const lines: string[] = [];
  const sink = new ConsoleSink({ print: (l) => lines.push(l), color: true, minSeverity: "debug" });
  const telemetry = createTelemetry({ node: "n", sinks: [sink] });
  telemetry.emit("rtt.replay", { count: 3 }, { severity: "warn" });
  assert.ok(lines[0]!.includes("\x1b[33mrtt.replay\x1b[0m count=3"), lines[0]);
});
