/**
 * Issue 17, the mesh's part: an outsider with fresh keys and the public API
 * (an `Agent` or a `MeshNode` of its own, `signControl`, `encodeFrame`,
 * `createEnvelope`) against honest mesh nodes on the memory backend (the
 * real native core over in-process pipes, real signatures and SQLite). Each
 * case asserts the refusal (what was dropped and why, counted), the victim's
 * state against its configured bounds, and that the honest neighbour is
 * still served. Full-rate floods belong in `deno task bench`.
 */
import { systemClock } from "../../lib/ports/mod.ts";
import assert from "node:assert/strict";
import { Agent, FixedLoadSource } from "../../lib/agent/mod.ts";
import { createEnvelope, encodeEnvelope } from "../../lib/envelope/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import {
  checkingJudge,
  encodeFrame,
  MeshCluster,
  type MeshLimits,
  MeshNode,
  type RelayFrame,
} from "../../lib/mesh/mod.ts";
import { signControl } from "../../lib/mesh/frame.ts";
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";
import { outcome } from "../../lib/runtime/mod.ts";
import { TrustBatch } from "../../lib/trust/mod.ts";

const _dec = new TextDecoder();

/** Honest nodes on one memory network (every owner anchors the others). */
async function honest(
  names: string[],
  edges: [string, string][],
  options: {
    limits?: Partial<MeshLimits>;
    now?: () => number;
    judge?: Parameters<typeof MeshNode.create>[0]["judge"];
    identities?: Map<string, Identity>;
  } = {},
) {
  const network = new MemoryNetwork();
  const mesh = await MeshCluster.create({
    names,
    edges,
    transport: memory({ network }),
    identities: options.identities,
    mesh: {
      sweepMs: 0,
      ...(options.limits === undefined ? {} : { limits: options.limits }),
      ...(options.now === undefined ? {} : { clock: { ...systemClock, now: options.now } }),
      ...(options.judge === undefined ? {} : { judge: options.judge }),
    },
  });
  await mesh.linkAll();
  return { mesh, network };
}

/** A stranger: a fresh key, an agent of its own, one session (and handshake) to `victim`. */
async function stranger(network: MemoryNetwork, mesh: MeshCluster, victim: string) {
  const agent = await Agent.create({
    identity: await Identity.generate({ agentId: "stranger" }),
    mission: "anything",
    store: ":memory:",
    transport: memory({ network }),
    load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
    loadIntervalMs: 0,
  });
  const v = mesh.get(victim);
  await agent.connect({ ...mesh.address(victim), fingerprint: v.fingerprint, agentId: victim });
  await v.until(() => v.agent.router.trust.peer(agent.fingerprint) === "probing");
  return agent;
}

/** A counter's total over its labels, or one label's (`reason`). */
function counter(node: MeshNode, name: string, reason?: string): number {
  return Object.entries(node.agent.metrics.snapshot().counters)
    .filter(([k]) =>
      reason === undefined
        ? k === name || k.startsWith(`${name}{`)
        : k === `${name}{reason="${reason}"}`
    )
    .reduce((sum, [, v]) => sum + v, 0);
}

/** The honest neighbour asks the victim; the victim answers. */
async function stillAnswered(from: MeshNode, to: MeshNode, topic: string): Promise<void> {
  const answered = from.agent.next("intentAnswered", (e) => e.peer === to.fingerprint, {
    timeoutMs: 10_000,
  });
  const [sent] = await from.agent.declareIntent({ goal: "ask", topic }, { to: [to.fingerprint] });
  assert.equal(sent!.status, "sent");
  assert.equal((await answered).decision, "accept");
}

/** A valid relay frame: `from`'s signed STATE_UPDATE for `to`, wrapped with `hops`. */
async function relayFrame(
  from: Identity,
  to: string,
  options: { hopLimit?: number; clock?: () => Date } = {},
): Promise<Uint8Array> {
  const env = await createEnvelope("cip", "STATE_UPDATE", {
    identity: from,
    receiver: { agent_id: "victim", fingerprint: to },
    payload: { presence: "focused", lri: 1, ltppeerstate: "probing" },
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const frame: RelayFrame = {
    mesh: "1.0",
    kind: "relay",
    origin: from.fingerprint,
    destination: to,
    hop_limit: options.hopLimit ?? 9,
    hops: [from.fingerprint],
    channel: "state",
    envelope: _dec.decode(encodeEnvelope(env)),
  };
  return encodeFrame(frame);
}

Deno.test("attack (mesh): a neighbour floods signed copies maps, from throw-away keys and from its own key: throw-away signers are not admitted, its own maps stay within their bound, the rest is refused over the rate limit, all counted; the honest neighbour is still answered", async () => {
  const limits = { copies: 16, copiesPerOrigin: 4 };
  const { mesh, network } = await honest(["victim", "friend"], [["victim", "friend"]], { limits });
  await using _ = mesh;
  const victim = mesh.get("victim");
  await using s = await stranger(network, mesh, "victim");
  const fp = (i: number) => i.toString(16).padStart(64, "0");
  const map = Object.fromEntries(
    Array.from({ length: 64 }, (_, i) => [fp(i), crypto.randomUUID()]),
  );
  const copies = (signer: Identity) =>
    signControl(
      signer,
      { kind: "copies", decision_id: crypto.randomUUID(), copies: map },
      Date.now(),
    )
      .then(encodeFrame);
  const THROWAWAY = 20;
  const N = 300;
  const frames: Uint8Array[] = [];
  for (let i = 0; i < N; i++) {
    frames.push(await copies(i < THROWAWAY ? await Identity.generate() : s.identity));
  }
  const started = Date.now();
  for (const f of frames) await s.sendFrame(victim.fingerprint, "control", f);
  const refill = Math.ceil((Date.now() - started) / 10); // 100 tokens a second
  const dropped = (reason: string) => counter(victim, "web4_mesh_dropped_total", reason);
  // Every frame is accounted for: not admitted, over the rate limit, or kept within the bound
  // (a newer map of the same proposer replaces its oldest, counted).
  await victim.until(() =>
    dropped("not_admitted") + dropped("rate_limited") + dropped("pending_full") +
        dropped("copies_full") + victim.stateSizes().copies === N
  ).catch((err) => {
    throw new Error(JSON.stringify(victim.agent.metrics.snapshot().counters), { cause: err });
  });
  assert.equal(dropped("not_admitted"), THROWAWAY);
  assert.ok(dropped("rate_limited") >= N - THROWAWAY - 200 - refill, "a burst of 200");
  assert.ok(dropped("copies_full") > 0);
  assert.equal(victim.stateSizes().copies, limits.copiesPerOrigin);
  await stillAnswered(mesh.get("friend"), victim, "water");
});

Deno.test("attack (mesh): a neighbour advertises links of throw-away keys (each signing its own advertisement): none is admitted, the link table keeps the admitted nodes only, held advertisements stay within their bound, routes still work and the honest neighbour is still answered", async () => {
  const limits = { pendingAdverts: 16, linkNodes: 32 };
  const { mesh, network } = await honest(["victim", "friend"], [["victim", "friend"]], { limits });
  await using _ = mesh;
  const victim = mesh.get("victim");
  await using s = await stranger(network, mesh, "victim");
  const K = 150;
  const keys = await Promise.all(Array.from({ length: K }, () => Identity.generate()));
  const frames: Uint8Array[] = [];
  for (const k of keys) {
    const ad = await signControl(
      k,
      { kind: "links", seq: 1, neighbours: [s.fingerprint] },
      Date.now(),
    );
    frames.push(encodeFrame(ad));
  }
  // The stranger lists 31 of them and the victim in its own advertisement (32: the most one
  // may list)...
  const mine = keys.slice(0, 31).map((k) => k.fingerprint);
  frames.push(encodeFrame(
    await signControl(s.identity, {
      kind: "links",
      seq: 1,
      neighbours: [victim.fingerprint, ...mine],
    }, Date.now()),
  ));
  // ...and one listing 40 is refused as a malformed frame.
  frames.push(encodeFrame(
    await signControl(s.identity, {
      kind: "links",
      seq: 2,
      neighbours: keys.slice(0, 40).map((k) => k.fingerprint),
    }, Date.now()),
  ));
  for (const f of frames) await s.sendFrame(victim.fingerprint, "control", f);
  const dropped = (reason: string) => counter(victim, "web4_mesh_dropped_total", reason);
  await victim.until(() =>
    dropped("adverts_full") + victim.stateSizes().pendingAdverts + dropped("invalid_frame") ===
      K + 1 && victim.knownNodes().includes(s.fingerprint)
  );
  assert.equal(dropped("invalid_frame"), 1, "more neighbours than an advertisement may list");
  // The stranger is probing, not trusted to relay: what it lists vouches for nobody.
  assert.deepEqual(victim.knownNodes().sort(), [mesh.fp("friend"), s.fingerprint].sort());
  assert.equal(victim.stateSizes().pendingAdverts, limits.pendingAdverts);
  assert.equal(dropped("adverts_full"), K - limits.pendingAdverts);
  assert.deepEqual(victim.route(mesh.fp("friend")), [mesh.fp("friend")]);
  await stillAnswered(mesh.get("friend"), victim, "water");
});

Deno.test("attack (mesh): a neighbour sends valid relay frames for a known but unroutable node: what the victim holds stays within its bytes per destination, the stranger's frames are dropped before the victim's own held message, throw-away origins are not forwarded at all; the honest neighbour is still answered", async () => {
  const limits = { heldBytesPerDestination: 16 * 1024, heldBytes: 64 * 1024 };
  const { mesh, network } = await honest(["victim", "friend", "far"], [["victim", "friend"], [
    "friend",
    "far",
  ]], { limits });
  await using _ = mesh;
  const [victim, friend, far] = ["victim", "friend", "far"].map((n) => mesh.get(n)) as [
    MeshNode,
    MeshNode,
    MeshNode,
  ];
  await using s = await stranger(network, mesh, "victim");
  // far drops off: the victim still knows it, but has no route to it.
  network.partition([far.agent.transport]);
  await victim.until(() => victim.route(far.fingerprint) === undefined);
  // The victim's own message for far is held.
  const [own] = await victim.agent.declareIntent({ goal: "ask", topic: "own" }, {
    to: [far.fingerprint],
  });
  assert.equal(victim.heldCount, 1);
  const N = 150;
  const frames: Uint8Array[] = [];
  for (let i = 0; i < N; i++) frames.push(await relayFrame(s.identity, far.fingerprint));
  const throwAway = await Identity.generate();
  for (let i = 0; i < 10; i++) frames.push(await relayFrame(throwAway, far.fingerprint));
  for (const f of frames) await s.sendFrame(victim.fingerprint, "state", f);
  const dropped = (reason: string) => counter(victim, "web4_mesh_dropped_total", reason);
  await victim.until(() => dropped("not_admitted") === 10);
  assert.ok(dropped("held_full") > 0);
  assert.ok(victim.stateSizes().heldBytes <= limits.heldBytesPerDestination);
  // The victim's own message is still held (a probing origin's frames go first).
  assert.equal(victim.deliveryErrors.some((e) => e.inReplyTo === own!.msgId), false);
  await stillAnswered(friend, victim, "water");
});

Deno.test("attack (mesh): a stranger two hops away floods an honest relay with frames for the victim: the relay forwards only the stranger's share of its rate at the victim, so the relay's own intents are still answered", async () => {
  const { mesh, network } = await honest(["victim", "relay"], [["victim", "relay"]]);
  await using _ = mesh;
  const [victim, relay] = [mesh.get("victim"), mesh.get("relay")];
  await using s = await stranger(network, mesh, "relay");
  const N = 240;
  const frames: Uint8Array[] = [];
  for (let i = 0; i < N; i++) frames.push(await relayFrame(s.identity, victim.fingerprint));
  for (const f of frames) await s.sendFrame(relay.fingerprint, "state", f);
  const dropped = (node: MeshNode, reason: string) =>
    counter(node, "web4_mesh_dropped_total", reason);
  await relay.until(() =>
    dropped(relay, "rate_limited") + dropped(relay, "forward_share") +
        counter(relay, "web4_mesh_forwarded_total") >= N
  );
  assert.ok(dropped(relay, "forward_share") > 0, "over the stranger's share");
  assert.ok(counter(relay, "web4_mesh_forwarded_total") <= 200 * 0.25 + 10);
  await stillAnswered(relay, victim, "water");
  assert.equal(dropped(victim, "rate_limited"), 0, "the relay's own share at the victim holds");
});

const fact = (subject: string, value: number) => ({
  statement: `${subject} is ${value}`,
  domain: "water",
  confidence: 0.9,
  sources: ["https://example.org/station7"],
  context: { subject, value },
});
const trace = { steps: ["sampled and measured"], evidence: ["lab report 7"] };

Deno.test("attack (mesh): a stranger's first, harmless fact does not make it trusted: nodes without a judge abstain, a checking judge abstains on what its operator cannot check, and confirms only what it can", async () => {
  const names = ["a", "b", "c"];
  const readings: Record<string, unknown> = { "station7.ph": 7.2 };
  for (const judge of [undefined, checkingJudge({ reference: (_d, s) => readings[s] })]) {
    const { mesh, network } = await honest(names, [["a", "b"], ["b", "c"], ["a", "c"]], {
      ...(judge === undefined ? {} : { judge }),
    });
    await using _ = mesh;
    await using s = await MeshNode.create({
      identity: await Identity.generate({ agentId: "stranger" }),
      mission: "anything",
      store: ":memory:",
      transport: memory({ network }),
      load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
      loadIntervalMs: 0,
      sweepMs: 0,
    });
    for (const n of names) {
      await s.connect({ ...mesh.address(n), fingerprint: mesh.fp(n), agentId: n });
    }
    const to = names.map((n) => mesh.fp(n));
    const copies = await s.proposeFact(fact("station7.turbidity", 3), trace, { to });
    assert.equal(Object.keys(copies).length, 3);
    for (const n of names) {
      const node = mesh.get(n);
      await node.until(() =>
        node.agent.store.claim(copies[node.fingerprint]!)?.status === "pending" &&
        node.stateSizes().copies === 1
      );
    }
    // A barrier: frames are handled one at a time, so once a later frame of the stranger was,
    // whatever the copies map set off (votes) is done.
    const later = names.map((n) =>
      mesh.get(n).agent.nextEvent("mesh.introduction", (e) => e.data.introducer === s.fingerprint, {
        signal: AbortSignal.timeout(10_000),
      })
    );
    await s.introduce("e".repeat(64), "later");
    await Promise.all(later);
    for (const n of names) {
      const node = mesh.get(n);
      assert.equal(node.agent.router.trust.peer(s.fingerprint), "probing", `${n}: not trusted`);
      assert.deepEqual(node.agent.store.votes(copies[node.fingerprint]!), [], `${n}: no votes`);
      assert.equal(node.agent.store.claim(copies[node.fingerprint]!)?.status, "pending");
    }
    if (judge === undefined) continue;
    // What the operators can check, they confirm: the stranger earns trust by a verified fact.
    const checked = await s.proposeFact(fact("station7.ph", 7.2), trace, { to });
    for (const n of names) {
      const node = mesh.get(n);
      await node.until(() =>
        node.agent.store.claim(checked[node.fingerprint]!)?.status === "accepted"
      );
      await node.until(() => node.agent.router.trust.peer(s.fingerprint) === "trusted");
    }
  }
});

Deno.test("attack (mesh): 4,200 relay frames with hop_limit 0 cannot flush the seen-id cache: none of them enters it, and a control frame replayed afterwards is still a duplicate", async () => {
  const { mesh, network } = await honest(["victim", "friend"], [["victim", "friend"]]);
  await using _ = mesh;
  const [victim, friend] = [mesh.get("victim"), mesh.get("friend")];
  // The attacker has a copy of a frame the friend flooded (it travels past the attacker).
  let captured: Uint8Array | undefined;
  const send = friend.agent.sendFrame.bind(friend.agent);
  friend.agent.sendFrame = (fp, channel, bytes) => {
    if (_dec.decode(bytes).includes('"kind":"introduce"')) captured = bytes;
    return send(fp, channel, bytes);
  };
  const logged = victim.agent.nextEvent("mesh.introduction", () => true, {
    signal: AbortSignal.timeout(10_000),
  });
  await friend.introduce("e".repeat(64), "someone");
  await logged;
  assert.ok(captured !== undefined);
  // The victim advertises its new neighbour once (its own frame enters its cache): then measure.
  const advertised = victim.agent.nextEvent(
    "mesh.links",
    (e) => e.peer === undefined && e.data.neighbours === 2,
    { signal: AbortSignal.timeout(10_000) },
  );
  await using s = await stranger(network, mesh, "victim");
  await advertised;
  const seenBefore = victim.stateSizes().seenIds;
  const frame = await relayFrame(s.identity, friend.fingerprint, { hopLimit: 0 });
  const N = 4200;
  for (let i = 0; i < N; i++) await s.sendFrame(victim.fingerprint, "state", frame);
  await victim.until(() =>
    counter(victim, "web4_mesh_dropped_total", "rate_limited") +
        counter(victim, "web4_mesh_hop_expired_total") === N
  ).catch((err) => {
    throw new Error(JSON.stringify(victim.agent.metrics.snapshot().counters), { cause: err });
  });
  assert.equal(victim.stateSizes().seenIds, seenBefore, "no hop_limit 0 frame entered the cache");
  // A second attacker (its own rate limit) replays the captured frame: still a duplicate.
  await using s2 = await stranger(network, mesh, "victim");
  const duplicates = counter(victim, "web4_mesh_dropped_total", "duplicate");
  await s2.sendFrame(victim.fingerprint, "control", captured);
  await victim.until(() => counter(victim, "web4_mesh_dropped_total", "duplicate") > duplicates);
  assert.equal(
    victim.agent.metrics.snapshot().counters['web4_mesh_dropped_total{reason="duplicate"}'],
    duplicates + 1,
  );
  await stillAnswered(friend, victim, "water");
});

Deno.test("attack (mesh): framing by replay: after the owner's manual override, an old signed malice report replayed in its window is a duplicate, outside it is stale, neither changes anything nor is flooded again; a fresh report with the old evidence leaves the override standing; a new contradiction signed after the override sanctions again", async () => {
  let offsetMs = 0;
  const now = () => Date.now() + offsetMs;
  const ids = new Map<string, Identity>();
  for (const n of ["a", "b", "c"]) ids.set(n, await Identity.generate({ agentId: n }));
  const { mesh, network } = await honest(["a", "b", "c"], [["a", "b"], ["a", "c"]], {
    now,
    identities: ids,
  });
  await using _ = mesh;
  const a = mesh.get("a");
  const b = ids.get("b")!;
  const liar = await Identity.generate({ agentId: "x" });
  const X = liar.fingerprint;
  const claim = async (value: number, atMs: number) =>
    _dec.decode(encodeEnvelope(
      await createEnvelope("cip", "FACT_PROPOSE", {
        identity: liar,
        receiver: { agent_id: "b", fingerprint: b.fingerprint },
        payload: {
          fact: fact("station7.nitrate", value),
          dmp_trace: { decision_id: crypto.randomUUID(), ...trace },
        },
        clock: () => new Date(atMs),
      }),
    ));
  const t0 = now();
  const evidence = [await claim(50, t0 - 5000), await claim(51, t0 - 4000)];
  const report = await signControl(b, { kind: "malice", subject: X, evidence }, t0);
  const reportBytes = encodeFrame(report);
  // a's frames carrying the report (a floods what it accepts).
  let flooded = 0;
  const send = a.agent.sendFrame.bind(a.agent);
  a.agent.sendFrame = (fp, channel, bytes) => {
    if (_dec.decode(bytes).includes(report.id)) flooded++;
    return send(fp, channel, bytes);
  };
  await using s = await stranger(network, mesh, "a");
  // 1. The genuine report, fresh: a trusted reporter and the liar's own contradicting claims.
  await s.sendFrame(a.fingerprint, "control", reportBytes);
  await a.until(() => a.agent.router.trust.peer(X) === "blacklisted");
  assert.equal(flooded, 1, "flooded on to c");
  // 2. The owner sets X back.
  offsetMs = 10_000;
  const batch = new TrustBatch(a.agent.router.trust, now());
  batch.apply("cip", X, { type: "manual_override", actor: "owner", note: "reviewed" });
  await a.agent.apply(outcome("handled", { changes: batch.changes }), { peer: X });
  assert.equal(a.agent.router.trust.peer(X), "probing");
  // 3. Replayed within its window: a duplicate. 4. Replayed later: stale.
  const dropped = (reason: string) => counter(a, "web4_mesh_dropped_total", reason);
  offsetMs = 20_000;
  const dup = dropped("duplicate");
  await s.sendFrame(a.fingerprint, "control", reportBytes);
  await a.until(() => dropped("duplicate") > dup);
  offsetMs = 300_000;
  await s.sendFrame(a.fingerprint, "control", reportBytes);
  await a.until(() => dropped("stale") === 1);
  assert.equal(a.agent.router.trust.peer(X), "probing");
  assert.equal(flooded, 1, "never flooded again");
  // 5. The reporter signs the old evidence again, fresh: the override stands.
  const again = a.agent.nextEvent("mesh.malice_report", (e) => e.data.reporter === b.fingerprint, {
    signal: AbortSignal.timeout(10_000),
  });
  await s.sendFrame(
    a.fingerprint,
    "control",
    encodeFrame(await signControl(b, { kind: "malice", subject: X, evidence }, now())),
  );
  const e = await again;
  assert.equal(e.data.applied, "none");
  assert.match(String(e.data.reason), /override .* stands/);
  assert.equal(a.agent.router.trust.peer(X), "probing");
  // 6. A contradiction with a claim signed after the override is new malice.
  const fresh = [evidence[0]!, await claim(52, now() - 1000)];
  await s.sendFrame(
    a.fingerprint,
    "control",
    encodeFrame(await signControl(b, { kind: "malice", subject: X, evidence: fresh }, now())),
  );
  await a.until(() => a.agent.router.trust.peer(X) === "blacklisted");
});
