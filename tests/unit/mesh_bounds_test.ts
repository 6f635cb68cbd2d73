/**
 * The mesh's bounds, piece by piece (PROTOCOLS.md section 8): the seen-id
 * cache (windows, per-origin bounds, a reserve for trusted origins, full is
 * full), frame bounds checked before parsing, held frames in bytes, the
 * limits' validation, the checking judge, and the link table's freshness
 * (re-advertised every `advertiseMs`, forgotten after `advertTtlMs`).
 */
import { systemClock } from "../../lib/ports/mod.ts";
import assert from "node:assert/strict";
import {
  checkingJudge,
  decodeFrame,
  DEFAULT_MESH_LIMITS,
  encodeFrame,
  MeshCluster,
  MeshError,
  meshLimits,
  type RelayFrame,
  SeenCache,
} from "../../lib/mesh/mod.ts";
import { signControl } from "../../lib/mesh/frame.ts";
import { HeldFrames } from "../../lib/mesh/held.ts";
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";
import { MemorySink } from "../../lib/observability/mod.ts";
import type { CausalFact } from "../../lib/store/mod.ts";

const fp = (c: string) => c.repeat(64);
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

Deno.test("SeenCache keeps each id until its own expiry, refuses past an origin's bound and past the total, keeps a reserve for privileged adds, and never forgets an id still in its window", () => {
  const seen = new SeenCache({ capacity: 8, reserve: 0.25 }); // 6 open, 2 reserved
  const at = (origin: string, untilMs: number, extra: Record<string, unknown> = {}) => ({
    origin,
    untilMs,
    nowMs: 0,
    ...extra,
  });
  for (let i = 0; i < 3; i++) {
    assert.equal(seen.add(`s${i}`, at("stranger", 5000, { limit: 3 })), "added");
  }
  assert.equal(seen.add("s3", at("stranger", 5000, { limit: 3 })), "full", "its own bound");
  for (let i = 0; i < 3; i++) assert.equal(seen.add(`p${i}`, at("probing", 5000)), "added");
  assert.equal(seen.add("p3", at("probing", 5000)), "full", "the open share is used up");
  assert.equal(seen.add("t0", at("trusted", 5000, { privileged: true })), "added", "the reserve");
  assert.equal(seen.add("t1", at("trusted", 9000, { privileged: true })), "added");
  assert.equal(seen.add("t2", at("trusted", 9000, { privileged: true })), "full", "full is full");
  assert.equal(seen.size, 8);
  assert.equal(seen.sizeOf("stranger"), 3);
  // Nothing was evicted: every id is still a duplicate within its window.
  for (const id of ["s0", "p2", "t0"]) assert.equal(seen.has(id, 4999), true);
  // Past their second of expiry they are forgotten, and room is back.
  assert.equal(seen.add("late", { origin: "probing", untilMs: 10_000, nowMs: 6000 }), "added");
  assert.equal(seen.size, 2, "t1 (until 9000) and late");
  assert.equal(seen.has("s0", 6000), false);
  assert.equal(seen.has("t1", 6000), true);
  assert.throws(() => new SeenCache({ capacity: 0 }), RangeError);
});

Deno.test("decodeFrame checks the byte bound before parsing (a relay frame's larger bound only for text that starts as a relay frame), and every list's bound", () => {
  const big = new Uint8Array(300 * 1024).fill(0x20);
  const control = new TextEncoder().encode('{"mesh":"1.0","kind":"links"');
  const oversized = new Uint8Array(big.length + control.length);
  oversized.set(control);
  oversized.set(big, control.length);
  assert.throws(
    () => decodeFrame(oversized),
    (e) => e instanceof MeshError && e.code === "TOO_LARGE",
  );
  // A relay frame of the same size is within its bound (and then checked as JSON).
  const relay: RelayFrame = {
    mesh: "1.0",
    kind: "relay",
    origin: fp("a"),
    destination: fp("b"),
    hop_limit: 1,
    hops: [fp("a")],
    channel: "state",
    envelope: "x".repeat(300 * 1024),
  };
  assert.equal(decodeFrame(encodeFrame(relay)).kind, "relay");
  // The same text with its keys reordered gets the control bound.
  const { kind: _k, mesh: _m, ...rest } = relay;
  assert.throws(
    () => decodeFrame(enc({ mesh: "1.0", ...rest, kind: "relay" })),
    (e) => e instanceof MeshError && e.code === "TOO_LARGE",
  );
  const base = {
    mesh: "1.0",
    id: crypto.randomUUID(),
    signer: fp("a"),
    pubkey: "p",
    at: 1,
    sig: "s",
  };
  const invalid = (v: unknown) =>
    assert.throws(
      () => decodeFrame(enc(v)),
      (e) => e instanceof MeshError && e.code === "INVALID_FRAME",
    );
  invalid({
    ...base,
    kind: "links",
    seq: 1,
    neighbours: Array.from({ length: 33 }, () => fp("b")),
  });
  invalid({ ...base, kind: "links", seq: 1, neighbours: ["not a fingerprint"] });
  invalid({
    ...base,
    kind: "copies",
    decision_id: "d",
    copies: Object.fromEntries(
      Array.from({ length: 65 }, (_, i) => [i.toString(16).padStart(64, "0"), "m"]),
    ),
  });
  invalid({
    ...base,
    kind: "malice",
    subject: fp("b"),
    evidence: Array.from({ length: 9 }, () => "{}"),
  });
  invalid({ ...base, id: "i".repeat(65), kind: "introduce", subject: fp("b"), agent_id: "x" });
  invalid({ ...base, at: "yesterday", kind: "introduce", subject: fp("b"), agent_id: "x" });
  assert.equal(
    decodeFrame(enc({ ...base, kind: "links", seq: 1, neighbours: [fp("b")] }), {
      linkNeighbours: 1,
    })
      .kind,
    "links",
  );
});

Deno.test("HeldFrames bounds bytes per destination and in total; past a bound the least trusted origin's oldest frame goes, and a frame less trusted than everything held is refused", () => {
  const frame = (origin: string, destination: string): RelayFrame => ({
    mesh: "1.0",
    kind: "relay",
    origin,
    destination,
    hop_limit: 1,
    hops: [origin],
    channel: "state",
    envelope: "{}",
  });
  const rank = (o: string) => (o === fp("u") ? 1 : o === fp("s") ? 2 : o === fp("m") ? 4 : 3);
  const held = new HeldFrames({ total: 300, perDestination: 200 });
  const h = (origin: string, destination: string, msgId: string) => ({
    frame: frame(origin, destination),
    msgId,
    timestampMs: 0,
    bytes: 100,
  });
  assert.deepEqual(held.add(h(fp("m"), fp("d"), "own"), rank), []);
  assert.deepEqual(held.add(h(fp("s"), fp("d"), "s1"), rank), []);
  // Per destination: the stranger's goes first, the node's own stays.
  assert.deepEqual(held.add(h(fp("t"), fp("d"), "t1"), rank).map((x) => x.msgId), ["s1"]);
  assert.deepEqual(held.add(h(fp("s"), fp("e"), "s2"), rank), []);
  // Total: an untrusted origin's frame cannot push out what more trusted origins hold.
  const refused = h(fp("u"), fp("f"), "u1");
  assert.deepEqual(held.add(refused, rank), [refused]);
  assert.equal(held.bytes, 300);
  assert.deepEqual(held.list().map((x) => x.msgId), ["own", "t1", "s2"]);
  assert.deepEqual(held.add(h(fp("t"), fp("f"), "t2"), rank).map((x) => x.msgId), ["s2"]);
});

Deno.test("meshLimits fills defaults and names a bad bound", () => {
  assert.deepEqual(meshLimits(), DEFAULT_MESH_LIMITS);
  assert.equal(meshLimits({ linkNodes: 12 }).heldBytes, 8 * 1024 * 1024);
  assert.throws(() => meshLimits({ linkNodes: 1.5 }), /linkNodes/);
  assert.throws(() => meshLimits({ forwardShare: 2 }), /forwardShare/);
});

Deno.test("checkingJudge: the node's own accepted knowledge first, then its operator's reading; no subject or nothing to compare with is an abstention", () => {
  const fact = (value: number) => ({
    statement: "s",
    domain: "water",
    confidence: 1,
    sources: [],
    context: { subject: "x", value },
  });
  const accepted = (valueCanon: string): CausalFact => ({
    id: "k",
    origin: "cip",
    fact: fact(0),
    subject: "x",
    valueCanon,
    acceptedMs: 0,
  });
  const judge = checkingJudge({ reference: () => 5 });
  assert.equal(judge(fact(5), "p", { accepted: () => [] }), "confirm");
  assert.equal(judge(fact(5), "p", { accepted: () => [accepted("6")] }), "challenge");
  assert.equal(judge(fact(6), "p", { accepted: () => [accepted("6")] }), "confirm");
  assert.equal(checkingJudge()(fact(5), "p", { accepted: () => [] }), "abstain");
  assert.equal(judge({ ...fact(5), context: "free text" }, "p", { accepted: () => [] }), "abstain");
});

Deno.test("Mesh (memory): a node re-advertises its links every advertiseMs (a fresh at), refuses a control frame signed more than 120 s away from its clock, and forgets an advertisement not renewed within advertTtlMs", async () => {
  let offsetMs = 0;
  const network = new MemoryNetwork();
  await using mesh = await MeshCluster.create({
    names: ["a", "b", "c"],
    edges: [["a", "b"], ["b", "c"]],
    transport: memory({ network }),
    mesh: (n) => ({
      sweepMs: 0,
      ...(n === "a" ? { clock: { ...systemClock, now: () => Date.now() + offsetMs } } : {}),
    }),
  });
  await mesh.linkAll();
  const [a, b, c] = [mesh.get("a"), mesh.get("b"), mesh.get("c")];
  // A frame from the future (121 s ahead of b's clock): refused, not forwarded.
  const ahead = await signControl(a.agent.identity, {
    kind: "introduce",
    subject: fp("e"),
    agent_id: "e",
  }, Date.now() + 121_000);
  await a.agent.sendFrame(b.fingerprint, "control", encodeFrame(ahead));
  await b.until(() =>
    (b.agent.metrics.snapshot().counters['web4_mesh_dropped_total{reason="stale"}'] ?? 0) === 1
  );
  // a's clock moves on a minute: its next sweep advertises again, with a fresh `at`.
  const again = b.agent.nextEvent("mesh.links", (e) => e.peer === a.fingerprint, {
    signal: AbortSignal.timeout(10_000),
  });
  offsetMs = 61_000;
  a.sweep();
  await again;
  // c drops off; at a, c's advertisement is forgotten once it was not renewed for 180 s.
  network.partition([c.agent.transport]);
  await a.until(() => a.route(c.fingerprint) === undefined);
  assert.ok(a.knownNodes().includes(c.fingerprint));
  offsetMs = 61_000 + DEFAULT_MESH_LIMITS.advertTtlMs + 1000;
  a.sweep();
  assert.equal(a.knownNodes().includes(c.fingerprint), false);
  network.heal();
});

Deno.test("Mesh (memory): a failure of the mesh's own work is a mesh.error (code failed, severity error, its text as reason), not an agent.error", async () => {
  let broken = false;
  const sink = new MemorySink();
  await using mesh = await MeshCluster.create({
    names: ["a", "b"],
    sinks: [sink],
    edges: [["a", "b"]],
    transport: memory({ network: new MemoryNetwork() }),
    mesh: (n) =>
      n === "b"
        ? {
          sweepMs: 0,
          clock: {
            ...systemClock,
            // Fails only where the mesh checks a control frame's `at`, in its own work
            // (not where the agent charges the frame to the peer's rate, before queueing it).
            now: () => {
              if (broken && /InboundFrames\.control /.test(new Error().stack ?? "")) {
                throw new Error("Clock broke");
              }
              return Date.now();
            },
          },
        }
        : { sweepMs: 0 },
  });
  await mesh.linkAll();
  const [a, b] = [mesh.get("a"), mesh.get("b")];
  const failed = b.agent.nextEvent("mesh.error", (e) => e.data.code === "failed", {
    signal: AbortSignal.timeout(10_000),
  });
  const frame = await signControl(a.agent.identity, {
    kind: "introduce",
    subject: fp("e"),
    agent_id: "e",
  }, Date.now());
  broken = true;
  await a.agent.sendFrame(b.fingerprint, "control", encodeFrame(frame));
  const e = await failed;
  broken = false;
  assert.equal(e.severity, "error");
  assert.equal(e.data.reason, "Clock broke");
  assert.equal(e.data.in_reply_to, undefined);
  assert.deepEqual(sink.events().filter((x) => x.kind === "agent.error"), []);
});
