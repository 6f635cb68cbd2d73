/**
 * Agents end to end on the real RTT over loopback: TLS 1.3 sessions between
 * fingerprints, the CIP handshake through the router, presence, intents,
 * the person's HCP through consent, LIP evidence corroborated by trusted
 * peers, facts confirmed by trusted peers, a restart, and a world without
 * anchors. Load sources are injected, so the machine's load never matters.
 * Every event of every run is checked against the event contract v1.0.
 *
 * Timing twin: the pacing here is checked as a refusal with a positive
 * retry_after_ms; tests/unit/virtual_time_agent_test.ts ("HCP pacing
 * (virtual)") shows the intents spaced by exactly pacingDelayMs.
 */
import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { HttpFetcher, type LipJudge } from "../../lib/lip/mod.ts";
import { rtt } from "../../lib/rtt/mod.ts";
import { assertEventContract, World } from "../helpers/agents.ts";
import {
  intentScenario,
  pacingScenario,
  personScenario,
  personWorld,
} from "../helpers/scenarios.ts";

const PAGE = "Lake Aral water samples of 2026 show nitrate at 12 mg/l.";

function pageServer() {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(PAGE, { headers: { "content-type": "text/plain" } }),
  );
}

/** The agents may fetch the page's origin (loopback is otherwise refused) and judge by a lab reading. */
function lipOptions(server: { addr: Deno.NetAddr }) {
  const fetcher = new HttpFetcher({ allowOrigins: [`http://127.0.0.1:${server.addr.port}`] });
  const lipJudge: LipJudge = ({ document }) =>
    /nitrate at 12 mg\/l/.test(document.text)
      ? { verdict: "corroborate", reason: "matches our 12 mg/l" }
      : { verdict: "abstain", reason: "no matching reading" };
  return { fetcher, lipJudge };
}

Deno.test("e2e (rtt): three agents and a person: handshakes, STATE_UPDATE, INTENT accepted and deferred for overload, HCP_INTENT through consent, refusal after revocation, pacing under pressure", async () => {
  await using w = await World.create(personWorld(rtt(), { names: ["alpha", "beta", "gamma"] }));
  const [a, b, c] = [w.get("alpha"), w.get("beta"), w.get("gamma")];
  await w.link("alpha", "beta");
  await w.link("alpha", "gamma");
  await w.link("beta", "gamma");
  for (const x of [a, b, c]) {
    assert.equal(x.agent.peers().length, 2);
    for (const p of x.agent.peers()) assert.equal(p.verified, true);
  }
  // STATE_UPDATE: every agent knows every other's presence.
  await b.agent.until(() => b.agent.store.presence(w.fp("alpha")) !== undefined);
  assert.equal(b.agent.store.presence(w.fp("alpha"))?.presence, "diffuse");

  await intentScenario(w, "alpha", "gamma");
  // The person: HCP over the same transport, enrolled as alpha's person.
  await personScenario(w);
});

Deno.test("e2e (rtt): high pressure slows the agent: with pressure >= 80 the person's next intent is paced", async () => {
  await using w = await World.create(personWorld(rtt()));
  await w.link("alpha", "beta");
  await pacingScenario(w);
});

Deno.test("e2e (rtt): a LIP fetch from a local server stays pending, is accepted on two trusted corroborations, and a restart keeps trust and knowledge", async () => {
  await using server = pageServer();
  const url = `http://127.0.0.1:${server.addr.port}/aral`;
  const dir = await Deno.makeTempDir({ prefix: "web4-agent-e2e-" });
  try {
    const names = ["alpha", "beta", "gamma", "delta"];
    const identities: Record<string, Identity> = {};
    for (const n of names) identities[n] = await Identity.generate({ agentId: n });
    const stores = { alpha: `${dir}/alpha.db` };
    const w = await World.create({
      names,
      transport: rtt(),
      stores,
      identities,
      anchorsOf: { delta: [], alpha: ["beta", "gamma"] },
      extra: lipOptions(server),
    });
    try {
      const [a, b, c] = [w.get("alpha"), w.get("beta"), w.get("gamma")];
      for (const peer of ["beta", "gamma", "delta"]) await w.link("alpha", peer);
      await w.link("beta", "gamma");
      assert.equal(
        a.agent.router.trust.peer(w.fp("delta")),
        "probing",
        "not an anchor: probing only",
      );

      const fetched = await a.agent.fetch(url, { share: [w.fp("beta"), w.fp("gamma")] });
      assert.equal(fetched.claims.length, 1);
      const claim = fetched.claims[0]!;
      assert.equal(
        a.agent.store.lipItem(claim)?.status,
        "pending",
        "an agent's own fetch never corroborates",
      );
      await b.agent.until(() => b.agent.store.lipItem(claim) !== undefined);
      await c.agent.until(() => c.agent.store.lipItem(claim) !== undefined);

      const first = await b.agent.verifyEvidence(claim);
      assert.equal(first.verified, true);
      assert.equal(first.reason, "corroborated");
      await a.agent.until(() => (a.agent.store.lipItem(claim)?.corroborators.length ?? 0) === 1);
      assert.equal(
        a.agent.store.lipItem(claim)?.status,
        "pending",
        "one corroboration is not enough",
      );
      assert.equal(
        a.agent.store.causalFact(claim),
        undefined,
        "nothing pending reaches causal memory",
      );

      await c.agent.verifyEvidence(claim);
      await a.agent.until(() => a.agent.store.lipItem(claim)?.status === "accepted");
      assert.ok(
        a.agent.store.causalFact(claim) !== undefined,
        "accepted knowledge is in causal memory",
      );
      const events = w.events();

      // Restart alpha on the same store: trust and knowledge survive.
      await a.agent.stop();
      const again = await w.start("alpha", {
        names,
        transport: rtt(),
        stores,
        identities,
        anchorsOf: { alpha: ["beta", "gamma"] },
      });
      assert.equal(again.agent.router.trust.peer(w.fp("delta")), "probing");
      assert.equal(again.agent.router.trust.peer(w.fp("beta")), "trusted");
      assert.equal(again.agent.store.lipItem(claim)?.status, "accepted");
      assert.ok(again.agent.store.causalFact(claim) !== undefined);
      await w.link("alpha", "beta");
      assert.equal(again.agent.peer(w.fp("beta"))?.verified, true);
      assertEventContract([...events, ...w.events()]);
    } finally {
      await w[Symbol.asyncDispose]();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("e2e (rtt): a fact needs two trusted confirmations; one leaves it pending and out of causal memory", async () => {
  await using w = await World.create({
    names: ["alpha", "beta", "gamma", "delta"],
    transport: rtt(),
  });
  for (const [x, y] of [["alpha", "delta"], ["beta", "delta"], ["gamma", "delta"]] as const) {
    await w.link(x, y);
  }
  const d = w.get("delta").agent;
  // Peers confirm what they are asked to verify when they agree with it.
  for (const name of ["beta", "gamma"]) {
    const agent = w.get(name).agent;
    agent.on("intent", (i) => {
      const ctx = i.context as { fact_ref?: string; fact?: { statement?: string } } | undefined;
      if (
        i.goal === "verify_knowledge" && ctx?.fact_ref && ctx.fact?.statement?.includes("nitrate")
      ) {
        void agent.vote(i.from, ctx.fact_ref, { notes: "matches our own samples" });
      }
    });
  }
  const [proposed] = await w.get("alpha").agent.proposeFact(
    {
      statement: "Aral nitrate is 12 mg/l",
      domain: "water",
      confidence: 0.8,
      sources: ["lab-7"],
      context: { subject: "aral.nitrate", value: 12 },
    },
    { steps: ["sampled", "measured"], evidence: ["lab-7 report"] },
    { to: [w.fp("delta")] },
  );
  const claim = proposed!.msgId!;
  await d.until(() => d.store.claim(claim)?.status === "pending");

  await d.askToVerify(claim, { to: [w.fp("beta")] });
  await d.until(() => d.store.votes(claim).length === 1);
  assert.equal(d.store.claim(claim)?.status, "pending", "one trusted confirmation is not enough");
  assert.equal(d.store.causalFact(claim), undefined);

  await d.askToVerify(claim, { to: [w.fp("gamma")] });
  await d.until(() => d.store.claim(claim)?.status === "accepted");
  assert.ok(d.store.causalFact(claim) !== undefined);
  assertEventContract(w.events());
});

Deno.test("e2e (rtt): without anchors nobody becomes trusted: handshakes give probing, and no peer may cause a fetch or corroborate", async () => {
  await using server = pageServer();
  await using w = await World.create({
    names: ["alpha", "beta", "gamma"],
    transport: rtt(),
    anchors: false,
    extra: lipOptions(server),
  });
  await w.link("alpha", "beta");
  await w.link("alpha", "gamma");
  await w.link("beta", "gamma");
  const [a, b, c] = [w.get("alpha"), w.get("beta"), w.get("gamma")];
  const { claims: [claim] } = await a.agent.fetch(`http://127.0.0.1:${server.addr.port}/aral`);
  await b.agent.until(() => b.agent.store.lipItem(claim!) !== undefined);
  await c.agent.until(() => c.agent.store.lipItem(claim!) !== undefined);
  // Re-fetching alpha's URL would be on alpha's account, and alpha is only probing here.
  for (const x of [b, c]) {
    assert.deepEqual(await x.agent.verifyEvidence(claim!), {
      verified: false,
      reason: "not_allowed",
      sent: [],
    });
  }
  assert.equal(a.agent.store.lipItem(claim!)?.status, "pending");
  for (const x of [a, b, c]) {
    for (const p of x.agent.peers()) {
      assert.equal(p.trust, "probing", `${x.agent.identity.agentId} sees ${p.agentId}`);
    }
  }
  assertEventContract(w.events());
});
