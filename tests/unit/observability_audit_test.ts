// The audit stream, the event log's shares and the telemetry's bounds
// (PROTOCOLS.md §8, "sizes and audit"; docs/event-contract-v1.md,
// "Retention by trust level").
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  AUDIT_KINDS,
  AuditLog,
  AuditRetention,
  boundEventData,
  checkEvent,
  createTelemetry,
  EVENT_KINDS,
  type EventData,
  JsonlFileSink,
  MAX_EVENT_ARRAY_ITEMS,
  MAX_EVENT_STRING_BYTES,
  MemorySink,
  type TrustLevel,
  utf8ByteLength,
  type Web4Event,
} from "../../lib/observability/mod.ts";
import { EventHub } from "../../cli/commands/serve.ts";

const fp = (i: number) => i.toString(16).padStart(64, "0");
let _seq = 0;
function event(
  kind: string,
  peer: string | undefined,
  level: TrustLevel | undefined,
  data: EventData = { step: "verified" },
): Web4Event {
  _seq += 1;
  return {
    v: "1.0",
    id: crypto.randomUUID(),
    ts: "2026-11-28T10:00:00.000Z",
    seq: _seq,
    node: "victim",
    kind,
    severity: "info",
    ...(peer === undefined ? {} : { peer }),
    ...(level === undefined ? {} : { level }),
    data,
  };
}

function all(audit: AuditLog, query: Parameters<AuditLog["read"]>[0] = {}): Web4Event[] {
  const out: Web4Event[] = [];
  let after = 0;
  for (;;) {
    const page = audit.read({ ...query, after, limit: 7 });
    out.push(...page.entries.map((e) => e.event));
    if (page.next === null) return out;
    after = page.next;
  }
}

// ---- telemetry ---------------------------------------------------------------

Deno.test("createTelemetry stamps each event's trust level (self without a peer; a throwing levelOf reads stranger)", () => {
  const sink = new MemorySink();
  const levels: Record<string, TrustLevel> = { [fp(1)]: "trusted", [fp(2)]: "person" };
  const t = createTelemetry({
    node: "n",
    sinks: [sink],
    levelOf: (peer) => {
      if (peer === fp(9)) throw new Error("broken");
      return levels[peer] ?? "stranger";
    },
  });
  t.emit("cip.handshake", { step: "verified" }, { peer: fp(1) });
  t.emit("hcp.consent_changed", { msg_id: crypto.randomUUID(), from: null, to: "granted" }, {
    peer: fp(2),
  });
  t.emit("cip.handshake", { step: "verified" }, { peer: fp(3) });
  t.emit("cip.handshake", { step: "verified" }, { peer: fp(9) });
  t.emit("agent.listening", { hostname: "h", port: 1 });
  assert.deepEqual(sink.events().map((e) => e.level), [
    "trusted",
    "person",
    "stranger",
    "stranger",
    "self",
  ]);
  for (const e of sink.events()) assert.equal(checkEvent(e), null);
  // Without levelOf, events carry no level (as before).
  const plain = new MemorySink();
  createTelemetry({ node: "n", sinks: [plain] }).emit("agent.listening", {
    hostname: "h",
    port: 1,
  });
  assert.equal("level" in plain.events()[0]!, false);
});

Deno.test("createTelemetry bounds every event's strings and arrays, whatever a peer sent", () => {
  const sink = new MemorySink();
  const t = createTelemetry({ node: "n", sinks: [sink] });
  t.emit("cip.error_received", {
    in_reply_to: crypto.randomUUID(),
    code: "x",
    reason: "😀".repeat(300_000),
  });
  t.emit("agent.undeliverable", { count: 500, types: Array.from({ length: 500 }, () => "ERROR") });
  const [error, undeliverable] = sink.events();
  const reason = error!.data.reason as string;
  assert.ok(utf8ByteLength(reason) <= MAX_EVENT_STRING_BYTES);
  assert.ok(reason.isWellFormed() && reason.endsWith("…"));
  assert.equal((undeliverable!.data.types as string[]).length, MAX_EVENT_ARRAY_ITEMS);
  assert.equal(checkEvent(error), null);
  assert.equal(checkEvent(undeliverable), null);
});

Deno.test("Property: boundEventData leaves bounded data as is (same object) and bounds the rest", () => {
  const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: "small" },
      fc.string({ unit: "grapheme", maxLength: 700 }),
      fc.integer(),
      fc.constant(null),
      fc.array(tie("v"), { maxLength: 80 }),
      fc.dictionary(fc.string({ maxLength: 4 }), tie("v"), { maxKeys: 4 }),
    ),
  })).v;
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 6 }), value, { maxKeys: 6 }), (d) => {
      const data = d as EventData;
      const out = boundEventData(data);
      const walk = (v: unknown, depth: number): boolean => {
        if (typeof v === "string") return utf8ByteLength(v) <= MAX_EVENT_STRING_BYTES;
        if (Array.isArray(v)) {
          return v.length <= MAX_EVENT_ARRAY_ITEMS && v.every((x) => walk(x, depth + 1));
        }
        if (v !== null && typeof v === "object") {
          return depth <= 8 && Object.values(v).every((x) => walk(x, depth + 1));
        }
        return true;
      };
      assert.ok(walk(out, 0));
      if (walk(data, 0) && JSON.stringify(data).length < 500) assert.equal(out, data);
    }),
    { numRuns: 300 },
  );
});

// ---- the audit retention -------------------------------------------------------

Deno.test("AuditRetention: a level only ever evicts its own entries; the heaviest peer gives up its oldest later entry first", () => {
  const r = new AuditRetention({ stranger: { entries: 10 }, trusted: { entries: 4 } }, 2);
  let n = 0;
  const add = (peer: string, level: TrustLevel) =>
    r.add({ n: ++n, level, peer, kind: "k", line: "{}", bytes: 3 });
  add("t1", "trusted");
  add("t1", "trusted");
  add("", "self");
  for (let i = 0; i < 1_000; i++) add("flood", "stranger");
  add("quiet", "stranger");
  const kept = [...r.entries()];
  assert.deepEqual(kept.filter((e) => e.level !== "stranger").map((e) => e.n), [1, 2, 3]);
  const flood = kept.filter((e) => e.peer === "flood").map((e) => e.n);
  assert.deepEqual(flood.slice(0, 2), [4, 5], "the flooder's first two entries are kept");
  assert.equal(flood.length, 9);
  assert.ok(kept.some((e) => e.peer === "quiet"), "the quiet stranger keeps its entry");
  const stats = r.stats();
  assert.equal(stats.stranger.entries, 10);
  assert.equal(stats.stranger.evicted, 991);
  assert.equal(stats.trusted.evicted, 0);
  assert.equal(stats.self.evicted, 0);
  assert.throws(() => new AuditRetention({ person: { bytes: 0 } }), RangeError);
  assert.throws(() => new AuditRetention({}, -1), RangeError);
});

Deno.test("AuditRetention: the byte budget holds too", () => {
  const r = new AuditRetention({ stranger: { entries: 1_000, bytes: 100 } });
  for (let i = 1; i <= 50; i++) {
    r.add({ n: i, level: "stranger", peer: fp(i % 3), kind: "k", line: "x", bytes: 10 });
  }
  assert.equal(r.stats().stranger.bytes, 100);
  assert.equal(r.stats().stranger.entries, 10);
});

// ---- the audit log -------------------------------------------------------------

Deno.test("AuditLog keeps only audited kinds, charges a demotion from trusted to trusted, and pages with a cursor", () => {
  const audit = AuditLog.memory();
  audit.write(event("router.dispatched", fp(1), "stranger", {}));
  audit.write(
    event("router.refused", fp(1), "stranger", { code: "payload_schema", type: "ERROR" }),
  );
  audit.write(event("router.refused", fp(1), "stranger", { code: "untrusted", type: "LIP_FETCH" }));
  for (let i = 0; i < 20; i++) audit.write(event("cip.handshake", fp(2), "trusted"));
  audit.write(
    event("trust.transition", fp(2), "stranger", {
      machine: "cip",
      event: "invalid_signature",
      from: "trusted",
      to: "untrusted",
      reason: "bad signature",
      evidence: [],
    }),
  );
  const entries = all(audit);
  assert.equal(entries.length, 22);
  assert.equal(entries[0]!.kind, "router.refused");
  const demotion = audit.read({ kind: "trust.transition" }).entries[0]!;
  assert.equal(demotion.level, "trusted");
  assert.equal(all(audit, { level: "trusted" }).length, 21);
  assert.equal(all(audit, { peer: fp(1) }).length, 1);
  const first = audit.read({ limit: 5 });
  assert.equal(first.entries.length, 5);
  assert.deepEqual(first.entries.map((e) => e.n), [1, 2, 3, 4, 5]);
  const second = audit.read({ after: first.next!, limit: 5 });
  assert.equal(second.entries[0]!.n, 6);
  assert.equal(audit.read({ after: 22 }).next, null);
  assert.throws(() => audit.read({ limit: 0 }), RangeError);
  assert.throws(() => audit.read({ limit: 1001 }), RangeError);
  assert.throws(() => audit.read({ after: -1 }), RangeError);
  for (const kind of AUDIT_KINDS) assert.ok((EVENT_KINDS as readonly string[]).includes(kind));
});

Deno.test("AuditLog in a file: restored after a restart, rewritten without evicted entries, a torn last line skipped", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/audit.jsonl`;
  const budgets = { stranger: { entries: 50 } };
  {
    await using audit = await AuditLog.open(path, { budgets });
    audit.write(event("hcp.consent_changed", fp(7), "person", {
      msg_id: crypto.randomUUID(),
      from: null,
      to: "granted",
    }));
    for (let i = 0; i < 5_000; i++) audit.write(event("cip.handshake", fp(1000 + i), "stranger"));
    await audit.flush();
    const size = (await Deno.stat(path)).size;
    const kept = Object.values(audit.stats().levels).reduce((n, l) => n + l.bytes, 0);
    assert.ok(size <= 2 * kept + 64 * 1024 + 1024, `file ${size} bytes, kept ${kept}`);
  }
  // A crash mid-append leaves a torn line.
  await Deno.writeTextFile(path, '{"n":99999,"level":"stran', { append: true });
  await using again = await AuditLog.open(path, { budgets });
  assert.equal(again.stats().unreadable, 1);
  const person = all(again, { level: "person" });
  assert.equal(person.length, 1);
  assert.equal(person[0]!.kind, "hcp.consent_changed");
  assert.equal(again.stats().levels.stranger.entries, 50);
  // Positions go on from where they were.
  const before = again.read({ limit: 1000 }).entries.at(-1)!.n;
  assert.ok(before > 5_000);
  again.write(event("cip.handshake", fp(1), "stranger"));
  assert.deepEqual(again.read({ after: before }).entries.map((e) => e.n), [before + 1]);
  await again.flush();
  const lines = (await Deno.readTextFile(path)).trim().split("\n");
  assert.ok(lines.every((l) => JSON.parse(l).n > 0), "the torn line is gone");
  // Smaller budgets on reopening evict at once.
  await again.close();
  await using smaller = await AuditLog.open(path, { budgets: { stranger: { entries: 5 } } });
  assert.equal(smaller.stats().levels.stranger.entries, 5);
  assert.equal(all(smaller, { level: "person" }).length, 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("AuditLog never throws on write: oversized entries and writes after close are counted", async () => {
  const audit = AuditLog.memory({ maxEntryBytes: 600 });
  audit.write(event("lip.refused", fp(1), "stranger", {
    msg_id: crypto.randomUUID(),
    code: "x",
    reason: "y".repeat(1_000),
  }));
  assert.equal(audit.stats().oversized, 1);
  await audit.close();
  audit.write(event("cip.handshake", fp(1), "stranger"));
  assert.equal(audit.stats().dropped, 1);
  assert.throws(() => AuditLog.memory({ maxEntryBytes: 0 }), RangeError);
});

// ---- the event log's shares ------------------------------------------------------

Deno.test("JsonlFileSink: strangers (any number of keys) and any one peer fill at most their share of a file, so they cannot rotate it", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/events.jsonl`;
  const sink = await JsonlFileSink.open(path, { maxBytes: 64 * 1024, keep: 1 });
  const t = createTelemetry({
    node: "victim",
    sinks: [sink],
    levelOf: (peer) => peer === fp(1) ? "trusted" : "stranger",
  });
  t.emit("cip.handshake", { step: "verified" }, { peer: fp(1) });
  for (let i = 0; i < 5_000; i++) {
    t.emit("cip.error_received", { in_reply_to: "x", code: "c", reason: "r".repeat(200) }, {
      peer: fp(100 + (i % 50)),
    });
  }
  // One trusted peer alone cannot fill a file either.
  for (let i = 0; i < 2_000; i++) {
    t.emit("cip.state_update", { presence: "focused", lri: 1, peer_view: "trusted" }, {
      peer: fp(1),
    });
  }
  await sink.close();
  await assert.rejects(Deno.stat(`${path}.1`), Deno.errors.NotFound, "never rotated");
  const lines = (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines[0].kind, "cip.handshake");
  const bytesOf = (pred: (e: Web4Event) => boolean) =>
    lines.filter(pred).reduce((n, e) => n + utf8ByteLength(JSON.stringify(e)) + 1, 0);
  assert.ok(bytesOf((e) => e.level === "stranger") <= 16 * 1024);
  assert.ok(bytesOf((e) => e.peer === fp(1)) <= 16 * 1024);
  assert.ok(sink.shed > 0);
  await assert.rejects(
    JsonlFileSink.open(path, { levelShares: { stranger: 1.5 } }),
    RangeError,
  );
  await Deno.remove(dir, { recursive: true });
});

// ---- the console's event hub -----------------------------------------------------

Deno.test("The console's event hub stays bounded: 500 events of bounded size", () => {
  const hub = new EventHub();
  const t = createTelemetry({ node: "victim", sinks: [hub] });
  const code = "c".repeat(5_000);
  const reason = "€".repeat(300_000);
  for (let i = 0; i < 2_000; i++) {
    t.emit("cip.error_received", { in_reply_to: "x", code, reason }, { peer: fp(i) });
  }
  assert.equal(hub.recent.length, 500);
  const bytes = utf8ByteLength(JSON.stringify(hub.recent));
  assert.ok(bytes < 500 * 3 * 1024, `${bytes} bytes`);
});
