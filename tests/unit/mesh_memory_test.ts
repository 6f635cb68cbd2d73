/**
 * The mesh on the memory backend (the real native core over in-process
 * pipes, real signatures, real SQLite stores in memory): multi-hop delivery,
 * loops, duplicates, hop limits, blocked peers, tampering relays,
 * introductions, a liar, partition and heal, consensus on ten nodes.
 *
 * Timing twin: the partition test here skews one node's clock and calls
 * sweep() by hand; tests/unit/virtual_time_agent_test.ts ("Mesh sweep
 * (virtual)") lets the sweep timer expire a held message at the first sweep
 * outside the window, not at the sweep on its edge.
 */
import { systemClock } from "../../lib/ports/mod.ts";
import assert from "node:assert/strict";
import {
  checkingJudge,
  decodeFrame,
  encodeFrame,
  MeshCluster,
  type RelayFrame,
} from "../../lib/mesh/mod.ts";
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";
import { MemorySink, type Web4Event } from "../../lib/observability/mod.ts";
import { assertEventContract } from "../helpers/agents.ts";

/** A memory sink that can also wait for an event from any node. */
class WatchSink extends MemorySink {
  readonly #waiters = new Set<{ match: (e: Web4Event) => boolean; resolve: () => void }>();
  override write(e: Web4Event): void {
    super.write(e);
    for (const w of [...this.#waiters]) {
      if (w.match(e)) {
        this.#waiters.delete(w);
        w.resolve();
      }
    }
  }
  /** Resolves once any node emitted a matching event (before or after the call); 10 s at most. */
  seen(match: (e: Web4Event) => boolean): Promise<void> {
    if (this.events().some(match)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        reject(new Error("No such event within 10 s"));
      }, 10_000);
      const w = {
        match,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.add(w);
    });
  }
}

async function cluster(
  names: string[],
  edges: [string, string][],
  options: Partial<Parameters<typeof MeshCluster.create>[0]> = {},
) {
  const sink = new WatchSink();
  const network = new MemoryNetwork();
  const mesh = await MeshCluster.create({
    names,
    edges,
    transport: memory({ network }),
    sinks: [sink],
    ...options,
  });
  return { mesh, sink, network };
}

const of = (sink: WatchSink, kind: string, node?: string): Web4Event[] =>
  sink.events().filter((e) => e.kind === kind && (node === undefined || e.node === node));

Deno.test("Mesh (memory): a -- b -- c -- d, a reaches d over two relays; the handshake and the intent are signed end to end", async () => {
  const { mesh, sink } = await cluster(["a", "b", "c", "d"], [["a", "b"], ["b", "c"], ["c", "d"]]);
  await using _ = mesh;
  await mesh.linkAll();
  const a = mesh.get("a");
  assert.deepEqual(a.route(mesh.fp("d")), [mesh.fp("b"), mesh.fp("c"), mesh.fp("d")]);
  await a.meet(mesh.fp("d"), "d");
  const d = mesh.get("d");
  await d.until(() => d.agent.store.handshake(mesh.fp("a"))?.stage === "verified");
  assert.equal(d.agent.router.trust.peer(mesh.fp("a")), "trusted", "anchor declared by d's owner");
  const got = next(d, "agent.intent", (e) => e.peer === mesh.fp("a"));
  const [sent] = await a.agent.declareIntent({ goal: "ask", topic: "aral nitrate" }, {
    to: [mesh.fp("d")],
  });
  assert.equal(sent!.status, "sent");
  const event = await got;
  assert.equal((event.data as { topic: string }).topic, "aral nitrate");
  const delivered = of(sink, "mesh.delivered", "d").filter((e) => e.data.msg_id === sent!.msgId);
  assert.equal(delivered.length, 1);
  assert.equal(delivered[0]!.data.hops, 3, "a, b, c");
  assert.equal(delivered[0]!.peer, mesh.fp("c"), "delivered by the last relay");
  assert.ok(of(sink, "mesh.forwarded", "b").some((e) => e.data.msg_id === sent!.msgId));
  assert.ok(of(sink, "mesh.forwarded", "c").some((e) => e.data.msg_id === sent!.msgId));
  const row = a.peers().find((p) => p.fingerprint === mesh.fp("d"))!;
  assert.equal(row.link, "relayed");
  assert.deepEqual(a.peers().find((p) => p.fingerprint === mesh.fp("b"))!.link, "up");
  assertEventContract(sink.events());
});

/** Rewrites the relay frames a node sends (a misbehaving node, for the test). */
function rewriteFrames(
  node: ReturnType<MeshCluster["get"]>,
  rewrite: (frame: RelayFrame) => RelayFrame | undefined,
) {
  const send = node.agent.sendFrame.bind(node.agent);
  node.agent.sendFrame = (fp, channel, bytes) => {
    const frame = decodeFrame(bytes);
    if (frame.kind !== "relay") return send(fp, channel, bytes);
    const out = rewrite(frame);
    return out === undefined ? Promise.resolve() : send(fp, channel, encodeFrame(out));
  };
  return { send };
}

/** The node's next event of a kind (10 s at most, so a failure is an error, never a hang). */
const next = (
  node: ReturnType<MeshCluster["get"]>,
  kind: string,
  match: (e: Web4Event) => boolean = () => true,
) => node.agent.nextEvent(kind, match, { signal: AbortSignal.timeout(10_000) });

/** A counter's total over all its labels. */
const counter = (node: ReturnType<MeshCluster["get"]>, name: string) =>
  Object.entries(node.agent.metrics.snapshot().counters)
    .filter(([k]) => k === name || k.startsWith(`${name}{`))
    .reduce((sum, [, v]) => sum + v, 0);

Deno.test("Mesh (memory): a replayed frame is a duplicate, a frame whose hop list names the relay is a loop, an exhausted hop limit is dropped and counted", async () => {
  const { mesh, sink } = await cluster(["a", "b", "c"], [["a", "b"], ["b", "c"]]);
  await using _ = mesh;
  await mesh.linkAll();
  const [a, b, c] = [mesh.get("a"), mesh.get("b"), mesh.get("c")];
  const frames: RelayFrame[] = [];
  let mode: "pass" | "loop" | "expire" = "pass";
  const { send } = rewriteFrames(a, (f) => {
    frames.push(f);
    if (mode === "loop") return { ...f, hops: [...f.hops, b.fingerprint] };
    if (mode === "expire") return { ...f, hop_limit: 0 };
    return f;
  });
  const delivered = next(c, "mesh.delivered");
  await a.agent.declareIntent({ goal: "ask", topic: "t1" }, { to: [c.fingerprint] });
  await delivered;
  // The same frame again, straight from a: b has seen its id.
  const dup = next(b, "mesh.dropped", (e) => e.data.reason === "duplicate");
  await send(b.fingerprint, "state", encodeFrame(frames[0]!));
  assert.equal((await dup).data.origin, a.fingerprint);
  mode = "loop";
  const loop = next(b, "mesh.dropped", (e) => e.data.reason === "loop");
  await a.agent.declareIntent({ goal: "ask", topic: "t2" }, { to: [c.fingerprint] });
  await loop;
  mode = "expire";
  const expired = next(b, "mesh.hop_expired");
  await a.agent.declareIntent({ goal: "ask", topic: "t3" }, { to: [c.fingerprint] });
  assert.equal((await expired).data.destination, c.fingerprint);
  assert.equal(of(sink, "mesh.delivered", "c").length, 1, "only the first reached c");
  assert.equal(counter(b, "web4_mesh_hop_expired_total"), 1);
});

Deno.test("Mesh (memory): a diamond a -- {b, c} -- d; a blocks its first hop and the route goes through the other; a relay never forwards through a peer it blocked", async () => {
  const { mesh, sink } = await cluster(["a", "b", "c", "d"], [
    ["a", "b"],
    ["b", "d"],
    ["a", "c"],
    ["c", "d"],
  ]);
  await using _ = mesh;
  await mesh.linkAll();
  const a = mesh.get("a");
  const first = a.route(mesh.fp("d"))![0]!;
  const other = first === mesh.fp("b") ? mesh.fp("c") : mesh.fp("b");
  await a.block(first);
  assert.deepEqual(a.route(mesh.fp("d")), [other, mesh.fp("d")]);
  const got = next(mesh.get("d"), "agent.intent");
  const [sent] = await a.agent.declareIntent({ goal: "ask", topic: "x" }, { to: [mesh.fp("d")] });
  await got;
  const via = of(sink, "mesh.forwarded").filter((e) => e.data.msg_id === sent!.msgId);
  assert.deepEqual(via.map((e) => e.peer), [other, mesh.fp("d")]);
  // Blocking both relays leaves no route: the message is held, never sent through a blocked peer.
  await a.block(other);
  assert.equal(a.route(mesh.fp("d")), undefined);
  const held = next(a, "mesh.held");
  await a.agent.declareIntent({ goal: "ask", topic: "y" }, { to: [mesh.fp("d")] });
  assert.equal((await held).peer, mesh.fp("d"));
  assert.equal(a.heldCount, 1);
  await a.unblock(other);
  await a.until(() => a.heldCount === 0);
});

Deno.test("Mesh (memory): a relay verifies before forwarding: a bad inner envelope sanctions the neighbour that delivered it, at the first relay and at the destination", async () => {
  const { mesh, sink } = await cluster(["a", "b", "c"], [["a", "b"], ["b", "c"]]);
  await using _ = mesh;
  await mesh.linkAll();
  const [a, b, c] = [mesh.get("a"), mesh.get("b"), mesh.get("c")];
  // 1. The origin's own frame is altered on its way out: b catches it and sanctions a.
  const tamper = (f: RelayFrame) => ({ ...f, envelope: f.envelope.replace('"t1"', '"t1!"') });
  let on = true;
  rewriteFrames(a, (f) => on ? tamper(f) : f);
  const caught = next(b, "mesh.tampered");
  await a.agent.declareIntent({ goal: "ask", topic: "t1" }, { to: [c.fingerprint] });
  assert.equal((await caught).peer, a.fingerprint);
  assert.equal(b.agent.router.trust.peer(a.fingerprint), "untrusted", "a delivered it");
  assert.equal(of(sink, "mesh.delivered", "c").length, 0, "never forwarded");
  on = false;
  // 2. The relay b alters what it forwards: c's router sanctions b, never the origin a.
  rewriteFrames(b, tamper);
  const dropped = next(c, "router.dropped");
  const atC = next(c, "mesh.delivered");
  // b verifies a's frame (it is intact now), then alters it on its way to c.
  await a.agent.declareIntent({ goal: "ask", topic: "t1" }, { to: [c.fingerprint] });
  await atC;
  const d = await dropped;
  assert.equal(d.data.code, "invalid_signature");
  assert.equal(d.peer, b.fingerprint);
  assert.equal(c.agent.router.trust.peer(b.fingerprint), "untrusted");
  assert.equal(c.agent.router.trust.peer(a.fingerprint), "trusted", "the origin is untouched");
});

const nitrate = (value: number) => ({
  statement: `Nitrate at station 7 is ${value} mg/l`,
  domain: "water",
  confidence: 0.9,
  sources: ["https://example.org/station7"],
  context: { subject: "station7.nitrate", value },
});
const trace = { steps: ["sampled and measured"], evidence: ["lab report 7"] };
/** Every honest owner's own reading at station 7: their judges confirm what matches it. */
const READINGS: Record<string, unknown> = { "station7.nitrate": 12 };
const judge = checkingJudge({ reference: (_domain, subject) => READINGS[subject] });

/** Waits until every named node holds its copy of a fact with that status. */
async function settled(
  mesh: MeshCluster,
  copies: Record<string, string>,
  names: string[],
  status: string,
) {
  await Promise.all(names.map((n) => {
    const node = mesh.get(n);
    return node.until(() => node.agent.store.claim(copies[node.fingerprint]!)?.status === status);
  }));
}

Deno.test("Mesh (memory): consensus in a ring of five with one liar: a fact is accepted everywhere on two trusted confirmations; the liar falls to untrusted, then blacklisted, its malice is reported and its later messages are not relayed", async () => {
  const names = ["a", "b", "c", "d", "e"]; // a ring; d lies
  const honest = names.filter((n) => n !== "d");
  const { mesh, sink } = await cluster(names, [["a", "b"], ["b", "c"], ["c", "d"], [
    "d",
    "e",
  ], ["e", "a"]], {
    anchors: (n) => n === "d" ? names.filter((m) => m !== n) : honest.filter((m) => m !== n),
    mesh: { judge },
  });
  await using _ = mesh;
  await mesh.linkAll();
  await mesh.meetAll();
  const d = mesh.get("d");
  for (const n of honest) {
    assert.equal(mesh.get(n).agent.router.trust.peer(d.fingerprint), "probing");
  }

  // 1. An honest fact: one signed copy per node; every node counts every other node's vote.
  const f1 = await mesh.get("a").proposeFact(nitrate(12), trace);
  assert.equal(Object.keys(f1).length, 4);
  await settled(mesh, f1, ["b", "c", "e"], "accepted");
  assert.equal(new Set(Object.values(f1)).size, 4, "four copies, four msg_ids");

  // 2. The liar contradicts accepted knowledge: disputed everywhere; where the fact was accepted
  //    (every node but its proposer, whose own fact is never its knowledge) d falls to untrusted.
  const f2 = await d.proposeFact(nitrate(50), trace);
  await settled(mesh, f2, honest, "disputed");
  for (const n of ["b", "c", "e"]) {
    const node = mesh.get(n);
    await node.until(() => node.agent.router.trust.peer(d.fingerprint) === "untrusted");
  }
  assert.equal(mesh.get("a").agent.router.trust.peer(d.fingerprint), "probing");
  // 3. It lies again: proven malice at its neighbours (c, e), which stop relaying for it and
  //    report the signed evidence; the others (a, b) blacklist it on that evidence.
  await d.proposeFact(nitrate(51), trace);
  for (const n of honest) {
    const node = mesh.get(n);
    await node.until(() => node.agent.router.trust.peer(d.fingerprint) === "blacklisted");
  }
  for (const n of ["b", "c", "e"]) {
    // untrusted first, blacklisted after (a report and the node's own evidence may both log the
    // last step).
    const log = mesh.get(n).agent.store.trustLog(d.fingerprint)
      .filter((t) => t.from !== t.to).map((t) => t.to);
    const untrusted = log.indexOf("untrusted");
    assert.ok(untrusted >= 0 && untrusted < log.indexOf("blacklisted"), `${n}: ${log.join(" ")}`);
  }
  await sink.seen((e) => e.kind === "mesh.malice_report" && e.data.applied === "sent");
  // b checks a neighbour's signed evidence: two contradicting claims signed by d.
  await mesh.get("b").until(() =>
    of(sink, "mesh.malice_report", "b").some((e) =>
      e.data.reporter !== mesh.fp("b") && e.data.applied === "proven_malice"
    )
  );
  // 4. Its later messages are dropped by the first relay (e: d -- e -- a is its shortest route).
  assert.equal(d.route(mesh.fp("a"))![0], mesh.fp("e"));
  const dropped = next(
    mesh.get("e"),
    "mesh.dropped",
    (e) => e.data.reason === "blocked_origin" && e.data.origin === d.fingerprint,
  );
  const [sent] = await d.agent.declareIntent({ goal: "ask", topic: "more lies" }, {
    to: [mesh.fp("a")],
  });
  await dropped;
  assert.equal(
    of(sink, "mesh.delivered", "a").filter((e) => e.data.msg_id === sent!.msgId).length,
    0,
  );
  // The honest fact stays accepted; the liar's never are.
  for (const n of ["b", "c", "e"]) {
    assert.equal(mesh.get(n).agent.store.claim(f1[mesh.fp(n)]!)?.status, "accepted");
  }
  assertEventContract(sink.events());
});

Deno.test("Mesh (memory): ten nodes (a ring with two chords) reach consensus on a fact proposed by one of them", async () => {
  const names = ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"];
  const edges: [string, string][] = names.map((n, i) => [n, names[(i + 1) % 10]!]);
  edges.push(["n0", "n5"], ["n2", "n7"]);
  const { mesh } = await cluster(names, edges, { mesh: { judge } });
  await using _ = mesh;
  await mesh.linkAll();
  await mesh.meetAll();
  const copies = await mesh.get("n3").proposeFact(nitrate(12), trace);
  assert.equal(Object.keys(copies).length, 9);
  await settled(mesh, copies, names.filter((n) => n !== "n3"), "accepted");
  for (const n of names.filter((m) => m !== "n3")) {
    const node = mesh.get(n);
    assert.equal(
      node.agent.store.causalFactsAbout("water", "station7.nitrate").length,
      1,
      `${n} remembers it`,
    );
  }
});

Deno.test("Mesh (memory): introductions under allow-lists: a stranger is not admitted, a trusted neighbour's signed introduction admits it (probing, never more); an untrusted introducer, or an allow-list of any, changes nothing", async () => {
  const { mesh, sink } = await cluster(["a", "b", "c"], [["a", "b"], ["b", "c"]], {
    anchors: "neighbours",
    allowPeers: "neighbours",
  });
  await using _ = mesh;
  await mesh.linkAll();
  const [a, b, c] = [mesh.get("a"), mesh.get("b"), mesh.get("c")];
  const refused = next(c, "mesh.dropped", (e) => e.data.reason === "not_admitted");
  await a.agent.declareIntent({ goal: "ask", topic: "let me in" }, { to: [c.fingerprint] });
  assert.equal((await refused).data.origin, a.fingerprint);
  const admitted = next(c, "mesh.introduction", (e) => e.data.subject === a.fingerprint);
  await b.introduce(a.fingerprint, "a");
  assert.equal((await admitted).data.admitted, true);
  await a.meet(c.fingerprint, "c");
  await c.until(() => c.agent.store.handshake(a.fingerprint)?.stage === "verified");
  assert.equal(c.agent.router.trust.peer(a.fingerprint), "probing", "introduced, never trusted");
  // c is not trusted at a (a's owner anchored only b): c's introduction is logged, nothing more.
  const ignored = next(a, "mesh.introduction", (e) => e.peer === c.fingerprint);
  await c.introduce("e".repeat(64), "stranger");
  const e = await ignored;
  assert.equal(e.data.admitted, false);
  assert.match(String(e.data.reason), /not trusted/);
  assertEventContract(sink.events());
});

Deno.test("Mesh (memory): with allow-list any, an introduction is logged and changes nothing", async () => {
  const { mesh } = await cluster(["a", "b"], [["a", "b"]]);
  await using _ = mesh;
  await mesh.linkAll();
  const logged = next(mesh.get("b"), "mesh.introduction");
  await mesh.get("a").introduce("e".repeat(64), "stranger");
  const e = await logged;
  assert.equal(e.data.admitted, false);
  assert.match(String(e.data.reason), /any/);
  assert.equal(mesh.get("b").agent.router.trust.peer("e".repeat(64)), "untrusted");
});

Deno.test("Mesh (memory): partition and heal in a square: routes avoid the cut node; with no route left the message is held and delivered on heal; held past the window it expires with a local ERROR (expired)", async () => {
  let skewMs = 0;
  const { mesh, network, sink } = await cluster(["a", "b", "c", "d"], [
    ["a", "b"],
    ["b", "c"],
    ["c", "d"],
    ["d", "a"],
  ], {
    mesh: (n) =>
      n === "a" ? { clock: { ...systemClock, now: () => Date.now() + skewMs }, sweepMs: 0 } : {},
  });
  await using _ = mesh;
  await mesh.linkAll();
  const [a, b, c, d] = ["a", "b", "c", "d"].map((n) => mesh.get(n));
  // 1. b goes down: a and c route around it through d.
  network.partition([b!.agent.transport]);
  await mesh.converged(10_000, ["b"]);
  assert.deepEqual(a!.route(c!.fingerprint), [d!.fingerprint, c!.fingerprint]);
  const got1 = next(c!, "agent.intent", (e) => e.data.topic === "around");
  await a!.agent.declareIntent({ goal: "ask", topic: "around" }, { to: [c!.fingerprint] });
  await got1;
  // 2. b and d both down: no route; the message is held, then delivered when the mesh heals.
  network.partition([b!.agent.transport, d!.agent.transport]);
  await a!.until(() => a!.route(c!.fingerprint) === undefined);
  const [held] = await a!.agent.declareIntent({ goal: "ask", topic: "held" }, {
    to: [c!.fingerprint],
  });
  assert.equal(a!.heldCount, 1);
  const got2 = next(c!, "agent.intent", (e) => e.data.topic === "held");
  network.heal();
  await mesh.converged();
  a!.sweep();
  await got2;
  assert.equal(a!.heldCount, 0);
  assert.ok(of(sink, "mesh.delivered", "c").some((e) => e.data.msg_id === held!.msgId));
  // 3. Down again; this time the message stays held past the +/-120 s window: expired.
  network.partition([b!.agent.transport, d!.agent.transport]);
  await a!.until(() => a!.route(c!.fingerprint) === undefined);
  const [late] = await a!.agent.declareIntent({ goal: "ask", topic: "late" }, {
    to: [c!.fingerprint],
  });
  skewMs = 121_000;
  const expired = next(a!, "mesh.error");
  a!.sweep();
  assert.equal((await expired).data.code, "expired");
  assert.deepEqual(a!.deliveryErrors.map((e) => [e.code, e.inReplyTo]), [["expired", late!.msgId]]);
  assert.equal(a!.heldCount, 0);
  skewMs = 0;
  network.heal();
  assertEventContract(sink.events());
});

Deno.test("Mesh (memory): a relay with no onward route holds the frame; when it leaves the window the relay answers the origin with a signed ERROR expired", async () => {
  let skewMs = 0;
  const { mesh, network } = await cluster(["a", "b", "c", "d"], [["a", "b"], ["b", "c"], [
    "c",
    "d",
  ]], {
    mesh: (n) =>
      n === "b"
        ? {
          clock: { ...systemClock, now: () => Date.now() + skewMs },
          windowMs: 60_000,
          sweepMs: 0,
        }
        : {},
  });
  await using _ = mesh;
  await mesh.linkAll();
  const [a, b, c, d] = [mesh.get("a"), mesh.get("b"), mesh.get("c"), mesh.get("d")];
  // Capture a's frame for d instead of sending it.
  let captured: RelayFrame | undefined;
  const { send } = rewriteFrames(a, (f) => {
    captured = f;
    return undefined;
  });
  await a.agent.declareIntent({ goal: "ask", topic: "far away" }, { to: [d.fingerprint] });
  assert.ok(captured !== undefined);
  // c and d go down; b knows d but has no route to it any more.
  network.partition([c.agent.transport, d.agent.transport]);
  await b.until(() => b.route(d.fingerprint) === undefined);
  const held = next(b, "mesh.held");
  await send(b.fingerprint, "state", encodeFrame(captured));
  assert.equal((await held).data.destination, d.fingerprint);
  assert.equal(b.heldCount, 1);
  // Past b's window: b expires it and tells the origin, signed, that it expired.
  skewMs = 61_000;
  const error = next(a, "cip.error_received");
  b.sweep();
  const e = await error;
  assert.equal(e.data.code, "expired");
  assert.equal(e.peer, b.fingerprint);
  assert.equal(b.heldCount, 0);
  skewMs = 0;
  network.heal();
});

Deno.test("Mesh (memory): consensus and the liar do not depend on telemetry: with every event kind renamed on its way out, a fact is accepted everywhere and the liar is blacklisted everywhere", async () => {
  const names = ["a", "b", "c", "d", "e"]; // a ring; d lies
  const honest = names.filter((n) => n !== "d");
  const sink = new MemorySink({ capacity: 100_000 });
  const mesh = await MeshCluster.create({
    names,
    edges: [["a", "b"], ["b", "c"], ["c", "d"], ["d", "e"], ["e", "a"]],
    transport: memory({ network: new MemoryNetwork() }),
    sinks: [sink],
    anchors: (n) => n === "d" ? names.filter((m) => m !== n) : honest.filter((m) => m !== n),
    mesh: { judge },
  });
  await using _ = mesh;
  // Every layer of every node reports through its agent's telemetry: rename every kind.
  for (const n of names) {
    const telemetry = mesh.get(n).agent.telemetry;
    const emit = telemetry.emit.bind(telemetry);
    telemetry.emit = (kind, data, options) => emit(`renamed.${kind}`, data, options);
  }
  const started = sink.events().length; // agent.started and agent.listening, before the rename
  const d = mesh.get("d");
  // The liar's fall, as typed events (malice reports included: the mesh commits through the agent).
  const falls = new Map<string, string[]>();
  for (const n of honest) {
    falls.set(n, []);
    mesh.get(n).agent.on("trustChanged", ({ entry }) => {
      if (entry.subject === d.fingerprint) falls.get(n)!.push(entry.to);
    });
  }
  await mesh.linkAll();
  await mesh.meetAll();
  const f1 = await mesh.get("a").proposeFact(nitrate(12), trace);
  await settled(mesh, f1, ["b", "c", "e"], "accepted");
  const f2 = await d.proposeFact(nitrate(50), trace);
  await settled(mesh, f2, honest, "disputed");
  await d.proposeFact(nitrate(51), trace);
  for (const n of honest) {
    const node = mesh.get(n);
    await node.until(() => node.agent.router.trust.peer(d.fingerprint) === "blacklisted");
    // The typed event follows the commit (the node re-checks on every trustChanged).
    await node.until(() => falls.get(n)!.at(-1) === "blacklisted");
  }
  // The rename was in force for everything that decided the outcome above.
  const after = sink.events().slice(started);
  assert.ok(after.length > 0);
  assert.deepEqual(after.filter((e) => !e.kind.startsWith("renamed.")).map((e) => e.kind), []);
  assert.ok(after.some((e) => e.kind === "renamed.mesh.malice_report"));
  assert.ok(after.some((e) => e.kind === "renamed.cip.claim"));
});
