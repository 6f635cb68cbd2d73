// The agent's inbound byte shares (issue 17, item 3), on the in-memory transport:
// the shares' own rules, trust moving them, a message larger than a share refused
// by the agent or by the transport, and a trusted peer's session protected.
import assert from "node:assert/strict";
import {
  Agent,
  DEFAULT_INBOUND_BUDGET,
  FixedLoadSource,
  inboundBudget,
} from "../../lib/agent/mod.ts";
import { InboundShares } from "../../lib/agent/inbound.ts";
import type { PeerTrust } from "../../lib/envelope/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { MetricsRegistry } from "../../lib/observability/mod.ts";
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";
import { RTTHandshakeError } from "../../lib/transport/mod.ts";
import { outcome } from "../../lib/runtime/mod.ts";
import type { ByteLevel } from "../../lib/store/mod.ts";
import { wrapTransport } from "../helpers/transport_wrap.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

function shares(budget: Parameters<typeof inboundBudget>[0], levels: Record<string, ByteLevel>) {
  const events: string[] = [];
  const metrics = new MetricsRegistry();
  const s = new InboundShares(budget ?? {}, {
    levelOf: (peer) => levels[peer] ?? "probing",
    emit: (name, e) => events.push(`${name} ${(e as { peer: string }).peer}`),
    metrics,
  });
  return { s, events, metrics };
}

const admitted = (a: unknown): { release: () => void } => {
  assert.ok(typeof a === "object" && a !== null && "release" in a, `admitted, got ${String(a)}`);
  return a as { release: () => void };
};

Deno.test("InboundShares: a peer's messages wait, in order, until they fit its share; a larger one is refused; a full share stops reading", async () => {
  const { s, events, metrics } = shares({ probing: 100, trusted: 1000 }, {});
  const a = admitted(s.admit("p", 60));
  assert.equal(s.room("p"), undefined);
  const b = s.admit("p", 50);
  const c = s.admit("p", 10); // behind b, although it would fit
  assert.ok(b instanceof Promise && c instanceof Promise);
  const room = s.room("p");
  assert.ok(room instanceof Promise, "a peer with messages waiting is not read");
  assert.deepEqual(s.usage("p"), {
    peer: "p",
    level: "probing",
    share: 100,
    held: 60,
    waiting: 60,
    paused: true,
  });
  assert.deepEqual(events, ["inboundPaused p"]);
  assert.equal(s.admit("p", 101), "too_large");
  assert.equal(
    metrics.snapshot().counters['web4_agent_inbound_refused_total{reason="too_large"}'],
    1,
  );
  // Another peer is read and served meanwhile.
  admitted(s.admit("q", 90)).release();
  a.release();
  const order: string[] = [];
  await Promise.all([b.then(() => order.push("b")), c.then(() => order.push("c"))]);
  assert.deepEqual(order, ["b", "c"]);
  assert.equal(s.usage("p")?.held, 60);
  await room;
  assert.equal(s.usage("p")?.paused, false);
});

Deno.test("InboundShares: probing peers together stop at total - reserved; trusted peers have the reserve", async () => {
  const { s } = shares({ probing: 40, trusted: 100, total: 100, reserved: 50 }, { t: "trusted" });
  const p1 = admitted(s.admit("p1", 40));
  const p2 = admitted(s.admit("p2", 10)); // 50: the probing part of the total is full
  const room = s.room("p3");
  assert.ok(room instanceof Promise, "no room for a third stranger");
  const p3 = s.admit("p3", 10);
  assert.ok(p3 instanceof Promise, "it waits for the probing part of the total");
  const t = admitted(s.admit("t", 50)); // 50 + 50 = 100: the reserve is the trusted level's
  assert.equal(s.held, 100);
  p1.release();
  admitted(await p3);
  await room;
  p2.release();
  t.release();
  assert.equal(s.held, 10);
});

Deno.test("InboundShares: a promotion raises the share at once; a demotion lowers it and keeps what is held; a peer that left is forgotten once it holds nothing; stop lets everything go", async () => {
  const levels: Record<string, ByteLevel> = { p: "trusted" };
  const { s } = shares({ probing: 100, trusted: 400 }, levels);
  const a = admitted(s.admit("p", 300));
  levels.p = "probing";
  assert.deepEqual(s.retune("p"), { level: "probing", share: 100 });
  assert.equal(s.usage("p")?.held, 300, "nothing dropped");
  const waiting = s.admit("p", 50);
  assert.ok(waiting instanceof Promise);
  levels.p = "trusted";
  s.retune("p");
  admitted(await waiting);
  s.forget("p");
  assert.notEqual(s.usage("p"), undefined, "kept while it holds bytes");
  a.release();
  const room = s.room("x");
  assert.equal(room, undefined);
  const late = s.admit("p", 10);
  s.stop();
  assert.equal(await Promise.resolve(late).then((x) => typeof x), "object");
  assert.equal(s.admit("p", 1), "stopped");
  assert.throws(() => inboundBudget({ reserved: 64 * MiB }), RangeError);
  assert.deepEqual(DEFAULT_INBOUND_BUDGET, {
    probing: MiB,
    trusted: 8 * MiB,
    total: 64 * MiB,
    reserved: 32 * MiB,
  });
});

async function pair(
  network: MemoryNetwork,
  victimOptions: Partial<Parameters<typeof Agent.create>[0]> = {},
  peerOptions: Partial<Parameters<typeof Agent.create>[0]> = {},
) {
  const common = {
    mission: "verify water quality facts",
    store: ":memory:",
    load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
    loadIntervalMs: 0,
  };
  const [iv, ip] = await Promise.all([
    Identity.generate({ agentId: "victim" }),
    Identity.generate({ agentId: "peer" }),
  ]);
  const victim = await Agent.create({
    ...common,
    identity: iv,
    transport: memory({ network }),
    ...victimOptions,
  });
  const peer = await Agent.create({
    ...common,
    identity: ip,
    transport: memory({ network }),
    ...peerOptions,
  });
  const at = await victim.listen({ hostname: "victim", port: 1 });
  await peer.connect({ ...at, fingerprint: victim.fingerprint });
  await victim.until(() => victim.peer(peer.fingerprint)?.verified === true);
  return { victim, peer, at };
}

function trustMove(subject: string, from: PeerTrust, to: PeerTrust) {
  return outcome("handled", {
    changes: [
      {
        kind: "trust.state",
        record: {
          machine: "cip",
          subject,
          state: to,
          sinceMs: Date.now(),
          cooldownUntilMs: 0,
          maliceCount: 0,
          strikesMs: [],
        },
      },
      {
        kind: "trust.log",
        entry: {
          machine: "cip",
          subject,
          atMs: Date.now(),
          event: "manual_override",
          from,
          to,
          changed: true,
          reason: "the owner decided",
          actor: "owner",
          evidence: [],
        },
      },
    ],
  });
}

Deno.test("Agent: trust moves a peer's inbound share and its session's transport budget", async () => {
  const network = new MemoryNetwork();
  const { victim, peer } = await pair(network);
  try {
    const fp = peer.fingerprint;
    assert.deepEqual(
      [victim.inbound(fp)?.level, victim.inbound(fp)?.share],
      ["probing", DEFAULT_INBOUND_BUDGET.probing],
    );
    await victim.apply(trustMove(fp, "probing", "trusted"), { peer: fp });
    assert.deepEqual(
      [victim.inbound(fp)?.level, victim.inbound(fp)?.share],
      ["trusted", DEFAULT_INBOUND_BUDGET.trusted],
    );
    await victim.apply(trustMove(fp, "trusted", "probing"), { peer: fp });
    assert.equal(victim.inbound(fp)?.share, DEFAULT_INBOUND_BUDGET.probing);
    // Still served after both moves.
    const answered = peer.next("intentAnswered");
    await peer.declareIntent({ goal: "ask", topic: "aral nitrate" }, { to: [victim.fingerprint] });
    assert.equal((await answered).peer, victim.fingerprint);
  } finally {
    await peer.stop();
    await victim.stop();
  }
});

const bigFact = (n: number) => ({
  fact: {
    statement: "y".repeat(1000),
    domain: "water",
    confidence: 0.5,
    sources: ["https://example.org/"],
  },
  trace: { steps: Array.from({ length: n }, () => "x".repeat(1000)), evidence: ["lab"] },
});

Deno.test("Agent: a message larger than the peer's share is refused by the agent (never queued, answered with quota) when the transport has no budgets", async () => {
  const network = new MemoryNetwork();
  const iv = await Identity.generate({ agentId: "victim" });
  const inner = await memory({ network })({ identity: iv });
  const { victim, peer } = await pair(network, {
    identity: iv,
    transport: wrapTransport(inner, { ignoreBudgets: true }),
    inbound: { probing: 16 * KiB },
  });
  try {
    const refused = victim.next("inboundRefused");
    const answer = peer.next("errorReceived", (e) => e.code === "quota");
    const dispatched: string[] = [];
    victim.on("afterCycle", (e) => void dispatched.push(e.result.type ?? "?"));
    const { fact, trace } = bigFact(24); // ~26 KB
    await peer.proposeFact(fact, trace, { to: [victim.fingerprint] });
    const r = await refused;
    assert.deepEqual([r.peer, r.by, r.share], [peer.fingerprint, "agent", 16 * KiB]);
    assert.ok(r.bytes! > 16 * KiB);
    assert.equal((await answer).code, "quota");
    assert.ok(!dispatched.includes("FACT_PROPOSE"), "never dispatched");
    assert.equal(victim.store.claimsBy(peer.fingerprint).length, 0);
    assert.equal(
      victim.metrics.snapshot().counters['web4_agent_inbound_refused_total{reason="too_large"}'],
      1,
    );
    // A message within the share is served.
    const small = bigFact(4);
    const pending = victim.next("claimChanged");
    await peer.proposeFact(small.fact, small.trace, { to: [victim.fingerprint] });
    assert.equal((await pending).status, "pending");
  } finally {
    await peer.stop();
    await victim.stop();
    await inner.shutdown({ deadlineMs: 50 });
  }
});

Deno.test("Agent: a message larger than the peer's share is refused by the transport (its session's receive budget): the session closes with message_too_large, counted", async () => {
  const network = new MemoryNetwork();
  const victim = await Agent.create({
    identity: await Identity.generate({ agentId: "victim" }),
    mission: "verify water quality facts",
    store: ":memory:",
    load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
    loadIntervalMs: 0,
    transport: memory({ network }),
    inbound: { probing: 256 * KiB },
  });
  // A stranger speaking the transport only: its message is never even an envelope.
  const stranger = await memory({ network })({ identity: await Identity.generate() });
  try {
    const at = await victim.listen({ hostname: "victim", port: 1 });
    const refused = victim.next("inboundRefused");
    const session = await stranger.connect({ ...at, fingerprint: victim.fingerprint });
    const ch = await session.openChannel("knowledge");
    void ch.send(new Uint8Array(300 * KiB)).catch(() => {});
    const r = await refused;
    assert.deepEqual(
      [r.peer, r.by, r.bytes, r.share],
      [stranger.fingerprint, "transport", undefined, 256 * KiB],
    );
    assert.equal(
      victim.metrics.snapshot()
        .counters['web4_agent_inbound_refused_total{reason="message_too_large"}'],
      1,
    );
    assert.ok(victim.transport.metrics().receiveBytesHeld <= 256 * KiB);
  } finally {
    await stranger.shutdown({ deadlineMs: 50 });
    await victim.stop();
  }
});

Deno.test("Agent: a trusted peer's resumable session is protected: a flood of new sessions from other keys does not evict it", async () => {
  const network = new MemoryNetwork();
  const ip = await Identity.generate({ agentId: "friend" });
  const { victim, peer } = await pair(
    network,
    { trustAnchors: [ip.fingerprint], transport: memory({ network, maxSessions: 2 }) },
    {
      identity: ip,
      transport: memory({ network, reconnectInitialDelayMs: 1500, reconnectMaxDelayMs: 1500 }),
    },
  );
  const flood = await Promise.all(
    Array.from(
      { length: 4 },
      async () => await memory({ network })({ identity: await Identity.generate() }),
    ),
  );
  try {
    assert.equal(victim.inbound(ip.fingerprint)?.level, "trusted");
    const down = victim.next("peerDown", (e) => e.peer === ip.fingerprint);
    network.dropConnection(victim.transport, peer.transport);
    assert.equal((await down).final, false);
    const results = await Promise.allSettled(
      flood.map((t) => t.connect({ hostname: "victim", port: 1, fingerprint: victim.fingerprint })),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1, "one free slot");
    for (const r of results) {
      if (r.status === "rejected") {
        assert.ok(r.reason instanceof RTTHandshakeError && r.reason.code === "TOO_MANY_HANDSHAKES");
      }
    }
    // The friend comes back within its reconnect delay and resumes its session.
    const up = await victim.next("peerUp", (e) => e.peer === ip.fingerprint);
    assert.equal(up.via, "resumed");
  } finally {
    await Promise.all(flood.map((t) => t.shutdown({ deadlineMs: 50 })));
    await peer.stop();
    await victim.stop();
  }
});
