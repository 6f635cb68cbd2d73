// Issue 17, item 3: filling the store and the queue under the rate limit.
// Written as an outsider with fresh keys and the public API: strangers that
// complete a handshake (`probing`) and send large FACT_PROPOSEs, a stranger
// that stops reading its answers, and 1,024 throw-away keys. Each case
// asserts the victim's bound (inbound bytes, transport bytes, store bytes),
// the refusal the sender gets (`quota`), and a legitimate trusted peer's
// service. Each case is short; the full-rate version (900 KiB messages at
// 90 msg/s, the attacker in its own process) belongs in `deno task bench`.
import assert from "node:assert/strict";
import { Agent, FixedLoadSource, HcpClient } from "../../lib/agent/mod.ts";
import { createEnvelope, encodeEnvelope } from "../../lib/envelope/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { ProtocolRouter } from "../../lib/router/mod.ts";
import { CipRuntime } from "../../lib/cip/mod.ts";
import { memory, MemoryNetwork, rtt } from "../../lib/rtt/mod.ts";
import { openStore } from "../../lib/store/mod.ts";
import { within } from "../helpers/rtt.ts";
import { wrapTransport } from "../helpers/transport_wrap.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const HOST = "127.0.0.1";

/**
 * A large fact, within the free-text limits a schema may set (every string
 * at most 1,000 bytes): 16 trace steps and a statement, ~17 KB on the wire.
 */
function bulkyFact(i: number, salt: string) {
  const text = (n: number) => `${salt} ${i}.${n} `.padEnd(1000, "x");
  return {
    fact: {
      statement: text(0),
      domain: "water",
      confidence: 0.5,
      sources: [`https://example.org/${salt}/${i}`],
    },
    trace: { steps: Array.from({ length: 16 }, (_, n) => text(n + 1)), evidence: ["lab"] },
  };
}

async function agent(name: string, extra: Partial<Parameters<typeof Agent.create>[0]> = {}) {
  return await Agent.create({
    identity: await Identity.generate({ agentId: name }),
    mission: "verify water quality facts",
    store: ":memory:",
    load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
    loadIntervalMs: 0,
    ...extra,
  });
}

/** Connects `from` to `to` over loopback and waits until `to` verified it too. */
async function link(from: Agent, to: Agent, port: number): Promise<void> {
  await from.connect({ hostname: HOST, port, fingerprint: to.fingerprint });
  await to.until(() => to.peer(from.fingerprint)?.verified === true);
}

/** The store's files: database and WAL. */
function storeBytes(path: string): number {
  let n = 0;
  for (const f of [path, `${path}-wal`]) {
    try {
      n += Deno.statSync(f).size;
    } catch { /* not there yet */ }
  }
  return n;
}

/** A legitimate trusted peer declares intents; resolves once every one was answered. */
async function intentsAnswered(legit: Agent, victim: string, n: number): Promise<number> {
  const answered = new Set<string>();
  const off = legit.on("intentAnswered", (e) => void answered.add(e.inReplyTo));
  try {
    const sent: string[] = [];
    for (let i = 0; i < n; i++) {
      const [r] = await legit.declareIntent({ goal: "ask", topic: `aral nitrate ${i}` }, {
        to: [victim],
      });
      assert.equal(r?.status, "sent");
      sent.push(r!.msgId!);
    }
    await legit.until(() => sent.every((id) => answered.has(id)), { timeoutMs: 20_000 });
    return sent.length;
  } finally {
    off();
  }
}

Deno.test("Three probing keys sending large FACT_PROPOSEs under the rate limit: the victim's queue stays within their shares, its store within their byte quotas, they get quota, and a trusted peer's intents are all answered", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/victim.db`;
  const legitId = await Identity.generate({ agentId: "legit" });
  // Defaults: 1 MiB inbound share and 1 MiB store quota per probing peer.
  await using victim = await agent("victim", {
    store: path,
    storeOptions: { walBytes: MiB },
    trustAnchors: [legitId.fingerprint],
    transport: rtt(),
  });
  await using legit = await Agent.create({
    identity: legitId,
    mission: "verify water quality facts",
    store: ":memory:",
    load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
    loadIntervalMs: 0,
    trustAnchors: [victim.fingerprint],
    transport: rtt(),
  });
  const attackers = await Promise.all(
    ["mallory", "trudy", "eve"].map((n) => agent(n, { transport: rtt() })),
  );
  try {
    const { port } = await victim.listen({ hostname: HOST, port: 0 });
    await link(legit, victim, port);
    for (const a of attackers) await link(a, victim, port);
    for (const a of attackers) assert.equal(victim.peer(a.fingerprint)?.trust, "probing");
    const share = victim.inbound(attackers[0]!.fingerprint)!.share;
    assert.equal(share, MiB);
    const quota = victim.store.byteQuotas.probing;
    const baseline = storeBytes(path);
    const baselineBytes = new Map(
      attackers.map((a) => [a.fingerprint, victim.store.usage(a.fingerprint, "bytes")]),
    );

    // The victim's bound, checked at every cycle: what each stranger holds in the queue.
    const N = 150; // a burst under the rate limit (burst 200, 100 messages/s)
    const handled = new Map<string, number>();
    let maxHeld = 0;
    let paused = 0;
    victim.on("inboundPaused", (e) => {
      if (e.level === "probing") paused++;
    });
    victim.on("afterCycle", (e) => {
      handled.set(e.peer, (handled.get(e.peer) ?? 0) + 1);
      for (const a of attackers) {
        maxHeld = Math.max(maxHeld, victim.inbound(a.fingerprint)?.held ?? 0);
      }
    });
    const quotaErrors = attackers.map((a) =>
      a.next("errorReceived", (e) => e.code === "quota", { timeoutMs: 30_000 })
    );

    const attack = Promise.all(attackers.map(async (a) => {
      for (let i = 0; i < N; i++) {
        const { fact, trace } = bulkyFact(i, a.identity.agentId);
        await a.proposeFact(fact, trace, { to: [victim.fingerprint] });
      }
    }));
    const served = intentsAnswered(legit, victim.fingerprint, 10);
    await within(30_000, "the attack sent", attack);
    assert.equal(await within(30_000, "the trusted peer's intents answered", served), 10);
    await victim.until(() => attackers.every((a) => (handled.get(a.fingerprint) ?? 0) >= N), {
      timeoutMs: 30_000,
    });

    // Each stranger got `quota`, and its stored bytes stayed within its byte quota.
    for (const e of await Promise.all(quotaErrors)) assert.equal(e.code, "quota");
    let attackersBytes = 0;
    for (const a of attackers) {
      const used = victim.store.usage(a.fingerprint, "bytes");
      assert.ok(used <= quota, `${a.identity.agentId}: ${used} stored bytes within ${quota}`);
      attackersBytes += used - baselineBytes.get(a.fingerprint)!;
      const stored = victim.store.claimsBy(a.fingerprint).length;
      assert.ok(stored < N / 2, `${a.identity.agentId}: ${stored} of ${N} claims stored`);
    }
    // The file grew by at most what the three quotas allow (with page slack), plus the WAL
    // bound and a little for the trusted peer's intents: not by what was sent.
    const grown = storeBytes(path) - baseline;
    const sent = attackers.length * N * 17_000;
    assert.ok(attackersBytes <= 3 * quota);
    assert.ok(
      grown <= 1.25 * 3 * quota + victim.store.walBytes + 256 * KiB,
      `store grew ${grown} bytes, ${attackersBytes} counted for the strangers, ${sent} sent`,
    );
    assert.ok(paused >= 1, "a stranger's share was full at least once: reading paused");
    assert.ok(maxHeld > 0 && maxHeld <= share, `queue bytes ${maxHeld} within the share ${share}`);
  } finally {
    await Promise.all(attackers.map((a) => a.stop()));
    await victim.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// A stranger that stops reading its answers.

Deno.test("A probing stranger that stops reading its answers is paused, not served: the victim holds at most its share in the queue and in the transport, and a trusted peer's intents are all answered", async () => {
  const legitId = await Identity.generate({ agentId: "legit" });
  await using victim = await agent("victim", {
    // A small store quota: the stranger's proposals soon get `quota` answers (on `control`,
    // which wait for its acknowledgement, which never comes once its window is full).
    storeOptions: { bytes: { probing: 32 * KiB } },
    trustAnchors: [legitId.fingerprint],
    transport: rtt(),
  });
  await using legit = await Agent.create({
    identity: legitId,
    mission: "verify water quality facts",
    store: ":memory:",
    load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
    loadIntervalMs: 0,
    trustAnchors: [victim.fingerprint],
    transport: rtt(),
  });
  const malloryId = await Identity.generate({ agentId: "mallory" });
  const inner = await rtt()({ identity: malloryId });
  const deaf = { on: false };
  const transport = wrapTransport(inner, { deaf });
  // Its own sessions grant the victim little: its answers stop at once when unread.
  const mallory = await Agent.create({
    identity: malloryId,
    mission: "fill the victim",
    store: ":memory:",
    load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
    loadIntervalMs: 0,
    inbound: { probing: 16 * KiB, trusted: 16 * KiB, total: 64 * KiB, reserved: 0 },
    transport,
  });
  const sends: Promise<unknown>[] = [];
  try {
    const { port } = await victim.listen({ hostname: HOST, port: 0 });
    await link(legit, victim, port);
    await link(mallory, victim, port);
    const fp = mallory.fingerprint;
    const share = victim.inbound(fp)!.share;
    assert.equal(share, MiB);
    const pausedAt = victim.next("inboundPaused", (e) => e.peer === fp, { timeoutMs: 20_000 });
    let maxHeld = 0;
    let maxTransport = 0;
    const sample = () => {
      const u = victim.inbound(fp);
      maxHeld = Math.max(maxHeld, u?.held ?? 0);
      maxTransport = Math.max(maxTransport, u?.transportHeld ?? 0);
    };
    victim.on("afterCycle", sample);

    deaf.on = true;
    const MESSAGE = 17_500;
    for (let i = 0; i < 190; i++) {
      const { fact, trace } = bulkyFact(i, "mallory");
      // Not awaited: its sends stop when the victim stops granting credit.
      sends.push(mallory.proposeFact(fact, trace, { to: [victim.fingerprint] }));
    }
    const paused = await pausedAt;
    assert.equal(paused.share, share);
    // Reading stopped: the stranger's further messages fill the victim's transport up to its
    // session's receive budget (each channel its even share of it), then its sender is stopped
    // by credit: the rest waits in its own send queue.
    const waitingAtSender = () => {
      const m = mallory.transport.metrics();
      return m.enqueued - m.messagesOut;
    };
    await victim.until(() => waitingAtSender() >= 10, { timeoutMs: 20_000 });
    await within(
      20_000,
      "the trusted peer's intents answered",
      intentsAnswered(legit, victim.fingerprint, 5),
    );
    sample();
    const u = victim.inbound(fp)!;
    assert.equal(u.paused, true);
    assert.ok(maxHeld <= share, `queue ${maxHeld} within the share ${share}`);
    assert.ok(u.held <= share, `queue ${u.held} within the share ${share}`);
    // Within its budget plus the one message being reassembled (docs/rtt.md, "Session budgets").
    assert.ok(
      maxTransport <= share + MESSAGE && u.transportHeld <= share + MESSAGE,
      `transport ${maxTransport} within the share ${share} (+ one message)`,
    );
    assert.ok(
      victim.transport.metrics().receiveBytesHeld <= share + MESSAGE + 64 * KiB,
      "the victim's whole transport holds about one share",
    );
  } finally {
    await mallory.stop();
    await inner.shutdown({ deadlineMs: 50 });
    await Promise.allSettled(sends);
  }
});

// ---------------------------------------------------------------------------
// 1,024 throw-away keys against the node's total.

Deno.test("1,024 fresh probing keys cannot take the node's reserve: the person's and a trusted peer's data are still stored", async () => {
  const network = new MemoryNetwork();
  const [adaId, anchorId] = await Promise.all([
    Identity.generate({ agentId: "ada" }),
    Identity.generate({ agentId: "anchor" }),
  ]);
  // Scaled down so the case is short: 1,024 strangers at 8 KiB each could hold 8 MiB, the
  // whole total; the reserve keeps 4 MiB of it for the trusted level.
  const bytes = { probing: 8 * KiB, trusted: 2 * MiB, total: 8 * MiB, reserved: 4 * MiB };
  await using victim = await agent("victim", {
    storeOptions: { bytes },
    person: adaId.fingerprint,
    trustAnchors: [anchorId.fingerprint],
    transport: memory({ network }),
  });
  const cip = new CipRuntime();
  const codes = new Map<string, number>();
  const K = 1024;
  let store = openStore(":memory:"); // the strangers' side: a fresh one every 128 keys
  for (let k = 0; k < K; k++) {
    // A fresh key completes the CIP handshake (`probing`), then proposes facts.
    const id = await Identity.generate({ agentId: `k${k}` });
    if (k % 128 === 0) {
      store.close();
      store = openStore(":memory:");
    }
    const me = new ProtocolRouter({ identity: id, store, runtimes: [cip], rateLimit: false });
    const from = { peer: id.fingerprint, session: `s${k}` };
    const back = { peer: victim.fingerprint, session: `s${k}` };
    const opened = cip.open(
      { agent_id: "victim", fingerprint: victim.fingerprint },
      me.context(victim.fingerprint),
    );
    let out = (await me.apply(opened, back)).replies.map((r) => r.bytes);
    while (out.length > 0) {
      const next: Uint8Array[] = [];
      for (const bytes of out) {
        const r = await victim.router.dispatch(bytes, from);
        for (const reply of r.replies) {
          next.push(...(await me.dispatch(reply.bytes, back)).replies.map((x) => x.bytes));
        }
      }
      out = next;
    }
    if (k === 0) assert.equal(victim.router.trust.peer(id.fingerprint), "probing");
    for (let i = 0; i < 2; i++) {
      const env = await createEnvelope("cip", "FACT_PROPOSE", {
        identity: id,
        receiver: { agent_id: "victim", fingerprint: victim.fingerprint },
        payload: {
          fact: {
            statement: `k${k} says ${i} `.padEnd(1000, "x"),
            domain: "water",
            confidence: 0.5,
            sources: ["https://example.org/"],
          },
          dmp_trace: {
            decision_id: crypto.randomUUID(),
            steps: ["looked", "again", "and again"].map((w) => w.padEnd(1000, "y")),
            evidence: ["lab"],
          },
        },
      });
      const r = await victim.router.dispatch(encodeEnvelope(env), from);
      const code = r.status === "handled" ? "handled" : r.code ?? r.status;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
  }
  store.close();
  const total = victim.store.totalBytes();
  assert.ok(
    total <= bytes.total - bytes.reserved,
    `strangers took ${total} bytes, at most ${bytes.total - bytes.reserved}`,
  );
  assert.ok((codes.get("quota") ?? 0) > K / 2, `refused with quota: ${JSON.stringify([...codes])}`);

  // The trusted level still has its reserve: a trusted peer's facts and the person's HCP are stored.
  await using anchor = await agent("anchor", {
    identity: anchorId,
    transport: memory({ network }),
  });
  await victim.listen({ hostname: "victim", port: 7001 });
  await anchor.connect({ hostname: "victim", port: 7001, fingerprint: victim.fingerprint });
  const stored: string[] = [];
  for (let i = 0; i < 64; i++) {
    const { fact, trace } = bulkyFact(i, "anchor");
    const [r] = await anchor.proposeFact(fact, trace, { to: [victim.fingerprint] });
    stored.push(r!.msgId!);
  }
  await victim.until(() => stored.every((id) => victim.store.claim(id) !== undefined));
  assert.ok(victim.store.totalBytes() > bytes.total - bytes.reserved, "the reserve is in use");
  await using ada = await HcpClient.create({
    identity: adaId,
    name: "Ada",
    transport: memory({ network }),
  });
  await ada.connect({ hostname: "victim", port: 7001, fingerprint: victim.fingerprint });
  await ada.hello({ consent: "granted" }); // her explicit choice: the person's HCP is stored
  await victim.until(() => victim.store.person(adaId.fingerprint) !== undefined);
});
