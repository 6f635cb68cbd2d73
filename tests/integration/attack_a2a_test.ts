// Issue 20, item 3: other A2A agents as LIP sources, through agents on the real RTT over
// loopback, written as an outsider would from docs/a2a.md. The A2A agent is the @a2a-js/sdk
// reference server (tests/helpers/a2a_agent.ts), its origin listed by every operator. What an
// A2A agent says is internet evidence: it waits pending (tier low by default) until trusted
// peers corroborate it or the owner pins a high tier; only the person, the agent and trusted
// peers can make the agent ask; a broken or hostile agent ends in a LIP_ERROR with its code.
import assert from "node:assert/strict";
import type { Agent } from "../../lib/agent/mod.ts";
import { HttpFetcher, type LipJudge } from "../../lib/lip/mod.ts";
import { rtt } from "../../lib/rtt/mod.ts";
import type { AgentOptions } from "../../lib/agent/mod.ts";
import { type A2aAgent, FACT, startA2aAgent } from "../helpers/a2a_agent.ts";
import { World } from "../helpers/agents.ts";

const QUESTION = "At what temperature does water boil at sea level?";

/** The `a2a+` URI asking the loopback agent the question. */
function ask(agent: A2aAgent, question = QUESTION): string {
  return `a2a+${agent.origin}/?q=${encodeURIComponent(question)}`;
}

/** A judge that knows water boils at 100 degrees. */
const boilJudge: LipJudge = ({ document }) =>
  /100 degrees/.test(document.text)
    ? { verdict: "corroborate", reason: "water boils at 100 C" }
    : { verdict: "abstain", reason: "not about boiling" };

/** The victim anchors two allies; mallory is a fresh key (probing at the victim once linked). */
async function world(origins: string[], victim: Partial<AgentOptions> = {}) {
  const fetcher = () => new HttpFetcher({ allowOrigins: origins });
  const w = await World.create({
    names: ["victim", "ally1", "ally2", "mallory"],
    transport: rtt(),
    anchorsOf: {
      victim: ["ally1", "ally2"],
      ally1: ["victim", "ally2"],
      ally2: ["victim", "ally1"],
      mallory: [],
    },
    extraOf: {
      victim: { fetcher: fetcher(), ...victim },
      ally1: { fetcher: fetcher(), lipJudge: boilJudge },
      ally2: { fetcher: fetcher(), lipJudge: boilJudge },
      mallory: { fetcher: fetcher() },
    },
  });
  for (const [a, b] of [["ally1", "victim"], ["ally2", "victim"], ["ally1", "ally2"]]) {
    await w.link(a!, b!);
  }
  return w;
}

/** Asks `victim` to fetch `query` from `from` and returns the LIP_ERROR answer. */
async function refusal(from: Agent, victim: string, query: string) {
  const answered = from.next("errorReceived", (e) => e.peer === victim && e.protocol === "lip");
  const sent = await from.askToFetch(victim, query, []);
  assert.equal(sent.status, "sent");
  const err = await answered;
  assert.equal(err.inReplyTo, sent.msgId);
  return err;
}

Deno.test("attack (A2A): a probing peer cannot make the agent ask an A2A agent: not_allowed, and the agent hears nothing", async () => {
  await using a2a = startA2aAgent();
  await using w = await world([a2a.origin]);
  await w.link("mallory", "victim");
  const victim = w.get("victim").agent;
  assert.equal(victim.router.trust.peer(w.fp("mallory")), "probing");

  const err = await refusal(w.get("mallory").agent, w.fp("victim"), ask(a2a));
  assert.equal(err.code, "not_allowed");
  assert.deepEqual(a2a.seen, [], "the A2A agent saw no request, not even for its card");
  assert.equal(victim.store.lipItems("pending").length, 0, "nothing was queued");

  // A trusted ally is served: the victim asks, and its signed evidence waits pending at the ally.
  const ally1 = w.get("ally1").agent;
  assert.equal((await ally1.askToFetch(w.fp("victim"), ask(a2a), [])).status, "sent");
  await ally1.until(() => ally1.store.lipItems("pending").some((i) => i.peer === w.fp("victim")));
  assert.deepEqual(a2a.asked, [QUESTION]);
});

Deno.test("A2A: the agent's own question to an A2A agent waits pending at tier low, with a source block from the clock", async () => {
  await using a2a = startA2aAgent();
  const at = new Date(Date.now() - 1000);
  await using w = await world([a2a.origin], {
    fetcher: new HttpFetcher({ allowOrigins: [a2a.origin], clock: () => at }),
  });
  const victim = w.get("victim").agent;
  const { claims: [claim] } = await victim.fetch(ask(a2a), { share: [] });
  const item = victim.store.lipItem(claim!)!;
  assert.equal(item.status, "pending", "an A2A agent's answer is internet evidence");
  assert.equal(item.tier, "low", "an A2A agent is low until the owner says otherwise");
  assert.equal(item.sourceUri, ask(a2a));
  assert.equal(item.retrievedAt, at.toISOString());
  assert.deepEqual(item.claim, { query: ask(a2a), excerpt: FACT });
  const evidence = item.evidence[0] as Record<string, unknown>;
  assert.deepEqual(evidence.a2a, {
    agent: "Boiling points",
    card: `${a2a.origin}/.well-known/agent-card.json`,
    endpoint: `${a2a.origin}/a2a/jsonrpc`,
    state: "message",
  });
  assert.equal(victim.store.causalFact(claim!), undefined, "nothing reached causal memory");
});

Deno.test("A2A: an A2A agent the owner pins high is accepted on its tier, by the existing rule", async () => {
  await using a2a = startA2aAgent();
  await using w = await world([a2a.origin], {
    lip: { sourceTiers: { [`a2a+${a2a.origin}`]: "high" } },
  });
  const victim = w.get("victim").agent;
  const { claims: [claim] } = await victim.fetch(ask(a2a), { share: [] });
  assert.equal(victim.store.lipItem(claim!)?.status, "accepted");
  assert.equal(victim.store.lipItem(claim!)?.tier, "high");
  assert.ok(victim.store.causalFact(claim!) !== undefined);
});

Deno.test("A2A: two trusted peers that ask the agent again and judge the answer corroborate it, and it is accepted", async () => {
  await using a2a = startA2aAgent();
  await using w = await world([a2a.origin]);
  const victim = w.get("victim").agent;
  const { claims: [claim] } = await victim.fetch(ask(a2a), {
    share: [w.fp("ally1"), w.fp("ally2")],
  });
  assert.equal(victim.store.lipItem(claim!)?.status, "pending");
  for (const name of ["ally1", "ally2"]) {
    const ally = w.get(name).agent;
    await ally.until(() => ally.store.lipItem(claim!) !== undefined);
    const r = await ally.verifyEvidence(claim!);
    assert.equal(r.verified, true, name);
  }
  await victim.until(() => victim.store.lipItem(claim!)?.status === "accepted");
  assert.ok(victim.store.causalFact(claim!) !== undefined);
  assert.deepEqual(a2a.asked, [QUESTION, QUESTION, QUESTION], "asked once by each");
});

Deno.test("attack (A2A): a trusted peer's question to an agent whose card points to a private address, or that answers badly, ends in LIP_ERROR with its code; nothing is queued", async () => {
  await using pointsInside = startA2aAgent({
    card: (card) => ({
      ...card,
      supportedInterfaces: [{
        url: "https://10.0.0.1/a2a",
        protocolBinding: "JSONRPC",
        protocolVersion: "1.0",
      }],
    }),
  });
  await using garbled = startA2aAgent({
    rpc: () => new Response("{not json", { headers: { "content-type": "application/json" } }),
  });
  await using working = startA2aAgent({
    answer: () => ({ kind: "task", text: "thinking", state: 6 /* INPUT_REQUIRED */ }),
  });
  await using good = startA2aAgent();
  await using w = await world([pointsInside.origin, garbled.origin, working.origin, good.origin]);
  const ally1 = w.get("ally1").agent;
  const victim = w.get("victim").agent;
  for (
    const [agent, code] of [
      [pointsInside, "forbidden_address"],
      [garbled, "bad_response"],
      [working, "no_answer"],
    ] as const
  ) {
    const err = await refusal(ally1, w.fp("victim"), ask(agent));
    assert.equal(err.code, code);
  }
  assert.deepEqual(pointsInside.asked, [], "the question never left for the private endpoint");
  assert.equal(working.asked.length, 1, "a task that did not complete is not polled");
  assert.equal(victim.store.lipItems("pending").length, 0, "nothing was queued");
  assert.equal(victim.store.lipItems("rejected").length, 0);

  // The same trusted ally is still served by a good agent.
  assert.equal((await ally1.askToFetch(w.fp("victim"), ask(good), [])).status, "sent");
  await ally1.until(() => ally1.store.lipItems("pending").some((i) => i.peer === w.fp("victim")));
});
