/**
 * Two agents' routers, each with the real CIP runtime and its own SQLite
 * store, exchanging signed bytes directly (no transport): the router and the
 * CIP runtime together, end to end.
 */
import assert from "node:assert/strict";
import { CipRuntime } from "../../lib/cip/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { type OutboundEnvelope, ProtocolRouter } from "../../lib/router/mod.ts";
import { type Effect, effectsOf } from "../../lib/runtime/mod.ts";
import { openStore } from "../../lib/store/mod.ts";

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

async function pair(options: { anchorsA?: string[]; anchorsB?: string[] } = {}) {
  const [a, b] = await Promise.all([
    Identity.generate({ agentId: "alpha" }),
    Identity.generate({ agentId: "beta" }),
  ]);
  const now = () => T0;
  const make = (identity: Identity, anchors: string[]) =>
    new ProtocolRouter({
      identity,
      store: openStore(":memory:"),
      runtimes: [new CipRuntime()],
      now,
      trust: { anchors },
    });
  const ra = make(a, options.anchorsA ?? []);
  const rb = make(b, options.anchorsB ?? []);
  /** Delivers envelopes to the other side until nobody has anything left to say; returns each side's effects. */
  async function pump(from: "a" | "b", out: OutboundEnvelope[]) {
    const effects: { a: Effect[]; b: Effect[] } = { a: [], b: [] };
    let queue = out.map((o) => ({ to: from === "a" ? "b" : "a", o }));
    while (queue.length > 0) {
      const next: typeof queue = [];
      for (const { to, o } of queue) {
        const router = to === "a" ? ra : rb;
        const peer = to === "a" ? b.fingerprint : a.fingerprint;
        const result = await router.dispatch(o.bytes, { peer });
        assert.notEqual(result.status, "dropped", `${o.envelope.type} to ${to}: ${result.reason}`);
        effects[to as "a" | "b"].push(...result.effects);
        for (const r of result.replies) next.push({ to: to === "a" ? "b" : "a", o: r });
      }
      queue = next;
    }
    return effects;
  }
  return { a, b, ra, rb, pump };
}

Deno.test("Two routers with the CIP runtime complete HELLO -> HELLO -> VERIFY and both peers move to probing", async () => {
  const { a, b, ra, rb, pump } = await pair();
  const cip = new CipRuntime();
  const open = cip.open(
    { agent_id: "beta", fingerprint: b.fingerprint },
    ra.context(b.fingerprint),
  );
  const { replies: hello } = await ra.apply(open, { peer: b.fingerprint });
  assert.deepEqual(hello.map((o) => [o.envelope.type, o.channel]), [["HELLO", "control"]]);
  const effects = await pump("a", hello);
  // Each side's dispatch result says the handshake verified, once, and which trust moved.
  assert.deepEqual(effectsOf(effects.a, "handshakeVerified"), [
    { type: "handshakeVerified", peer: b.fingerprint },
  ]);
  assert.deepEqual(effectsOf(effects.b, "handshakeVerified"), [
    { type: "handshakeVerified", peer: a.fingerprint },
  ]);
  assert.deepEqual(
    effectsOf(effects.a, "trustChanged").map((e) => [e.entry.subject, e.entry.to]),
    [[b.fingerprint, "probing"]],
  );
  assert.equal(ra.trust.peer(b.fingerprint), "probing");
  assert.equal(rb.trust.peer(a.fingerprint), "probing");
  assert.equal(ra.store.handshake(b.fingerprint)?.stage, "verified");
});

Deno.test("A declared anchor starts trusted and stays trusted through the handshake; the other side only probes", async () => {
  const { a, b, ra, rb } = await pair();
  assert.equal(ra.trust.peer(b.fingerprint), "untrusted");
  const anchoredA = new ProtocolRouter({
    identity: a,
    store: openStore(":memory:"),
    runtimes: [new CipRuntime()],
    now: () => T0,
    trust: { anchors: [b.fingerprint] },
  });
  assert.equal(anchoredA.trust.peer(b.fingerprint), "trusted");
  const open = new CipRuntime().open(
    { agent_id: "beta", fingerprint: b.fingerprint },
    anchoredA.context(b.fingerprint),
  );
  const { replies: hello } = await anchoredA.apply(open, { peer: b.fingerprint });
  // Deliver A's HELLO to B and B's answers back to A's anchored router.
  const atB = await rb.dispatch(hello[0]!.bytes, { peer: a.fingerprint });
  for (const reply of atB.replies) {
    const atA = await anchoredA.dispatch(reply.bytes, { peer: b.fingerprint });
    for (const back of atA.replies) await rb.dispatch(back.bytes, { peer: a.fingerprint });
  }
  assert.equal(anchoredA.trust.peer(b.fingerprint), "trusted");
  assert.equal(rb.trust.peer(a.fingerprint), "probing", "no anchor on B's side: probing only");
});

Deno.test("Every CIP message type has a route once the CIP runtime is registered", async () => {
  const { ra } = await pair();
  assert.deepEqual(ra.missingRoutes().filter((r) => r.startsWith("cip/")), []);
});

Deno.test("With the CIP, HCP and LIP runtimes registered, every message type of the three protocols has a route", async () => {
  const { HcpRuntime } = await import("../../lib/hcp/mod.ts");
  const { LipRuntime } = await import("../../lib/lip/mod.ts");
  const router = new ProtocolRouter({
    identity: await Identity.generate({ agentId: "all" }),
    store: openStore(":memory:"),
    runtimes: [new CipRuntime(), new HcpRuntime(), new LipRuntime()],
    now: () => T0,
  });
  assert.deepEqual(router.missingRoutes(), []);
  assert.equal(router.routes().length, 23);
});
