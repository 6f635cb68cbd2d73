/**
 * Scenarios run on both backends: the `memory` unit tests and the `rtt`
 * end-to-end tests call the same steps, so each rule is exercised by one
 * piece of test code.
 */
import assert from "node:assert/strict";
import { assertEventContract, type World, type WorldOptions } from "./agents.ts";

/** The world options of {@linkcode personScenario}: alpha serves ada (limited consent to `topic:water`). */
export function personWorld(
  transport: WorldOptions["transport"],
  extra: Partial<WorldOptions> = {},
): WorldOptions {
  return {
    names: ["alpha", "beta"],
    transport,
    person: {
      of: "alpha",
      name: "ada",
      consentScope: ["topic:water"],
      human: { consent: "limited" },
    },
    ...extra,
  };
}

/**
 * Connects the world's person to alpha (which tells the person it holds no
 * consent yet) and says their first `HCP_HELLO`.
 */
export async function connectPerson(w: World): Promise<void> {
  const a = w.get("alpha");
  const record = await w.person!.connect({
    hostname: a.hostname,
    port: a.port,
    fingerprint: w.fp("alpha"),
    agentId: "alpha",
  });
  assert.equal(record.human, null, "connecting changes nothing: no consent yet");
  await w.person!.hello(w.personHello);
}

/**
 * The person's intent inside the consent scope reaches every other agent's
 * loop as a CIP INTENT; outside the scope it is refused; after revocation
 * it is refused with `consent_revoked` and nothing more reaches the peers.
 * Alpha must already be connected to the other agents.
 */
export async function personScenario(w: World): Promise<void> {
  const person = w.person!;
  const others = [...w.agents.keys()].filter((n) => n !== "alpha");
  await connectPerson(w);
  const reached = new Map(others.map((n) => [n, 0]));
  for (const n of others) {
    w.get(n).agent.on("intent", (i) => {
      if (i.topic === "topic:water") reached.set(n, reached.get(n)! + 1);
    });
  }
  const arrivals = others.map((n) =>
    w.get(n).agent.next("intent", (i) => i.topic === "topic:water")
  );
  await person.intent({ goal: "request", topic: "topic:water", priority: "high" });
  for (const i of await Promise.all(arrivals)) {
    assert.equal(i.source, "peer");
    assert.equal(i.from, w.fp("alpha"));
    assert.equal(i.goal, "ask");
    assert.equal(i.priority, "high");
    assert.equal(i.decision, "accept");
  }

  const outOfScope = person.next((e) => e.type === "HCP_ERROR");
  await person.intent({ goal: "request", topic: "topic:finance" });
  const scopeErr = await outOfScope;
  assert.ok(scopeErr.type === "HCP_ERROR");
  assert.match(scopeErr.payload.code, /scope/);

  await person.revokeConsent();
  const refusal = person.next((e) => e.type === "HCP_ERROR");
  await person.intent({ goal: "request", topic: "topic:water" });
  const err = await refusal;
  assert.ok(err.type === "HCP_ERROR");
  assert.equal(err.payload.code, "consent_revoked");
  for (const n of others) assert.equal(reached.get(n), 1, `nothing more reached ${n}`);
  assertEventContract(w.events());
}

/**
 * High pressure slows the agent down: after a first intent went through,
 * pressure >= 80 makes the next one `paced` (HCP_ERROR with retry_after_ms)
 * and nothing is propagated.
 */
export async function pacingScenario(w: World): Promise<void> {
  const a = w.get("alpha");
  const person = w.person!;
  await connectPerson(w);
  let propagations = 0;
  a.agent.on("intentPropagated", () => propagations++);
  const propagated = a.agent.next("intentPropagated");
  await person.intent({ goal: "request", topic: "topic:water" });
  assert.deepEqual((await propagated).sent, [w.fp("beta")]);
  await person.updateState({ pressure: 92 });
  const paced = person.next((e) => e.type === "HCP_ERROR");
  await person.intent({ goal: "request", topic: "topic:water" });
  const err = await paced;
  assert.ok(err.type === "HCP_ERROR");
  assert.equal(err.payload.code, "paced");
  assert.ok((err.payload.retry_after_ms ?? 0) > 0);
  assert.equal(propagations, 1, "the paced intent went nowhere");
  assertEventContract(w.events());
}

/**
 * Intents: accepted by an idle peer; held by the sender (`deferred`,
 * `peer_overloaded`) once the peer announced overload; and deferred by a
 * peer when the sender announced its own overload.
 */
export async function intentScenario(w: World, from: string, to: string): Promise<void> {
  const a = w.get(from);
  const b = w.get(to);
  const accepted = a.agent.next("intentAnswered");
  const [sent] = await a.agent.declareIntent({ goal: "ask", topic: "water nitrate" }, {
    to: [w.fp(to)],
  });
  assert.equal(sent?.status, "sent");
  const answer = await accepted;
  assert.deepEqual([answer.inReplyTo, answer.decision], [sent!.msgId, "accept"]);

  b.load.set({ cpu: 0.97 });
  await b.agent.refreshLoad();
  assert.equal(b.agent.load.presence, "overloaded");
  await a.agent.until(() => a.agent.store.presence(w.fp(to))?.presence === "overloaded");
  const [held] = await a.agent.declareIntent({ goal: "ask", topic: "water" }, { to: [w.fp(to)] });
  assert.equal(held?.status, "deferred");
  assert.equal(held?.code, "peer_overloaded");
  b.load.set({ cpu: 0.1 });
  await b.agent.refreshLoad();
  await a.agent.until(() => a.agent.store.presence(w.fp(to))?.presence !== "overloaded");

  // The sender is overloaded (and said so): the peer answers defer.
  a.load.set({ memory: 0.9 });
  await a.agent.refreshLoad();
  await b.agent.until(() => b.agent.store.presence(w.fp(from))?.presence === "overloaded");
  const deferred = a.agent.next("intentAnswered");
  const [again] = await a.agent.declareIntent({ goal: "learn", topic: "water" }, {
    to: [w.fp(to)],
  });
  assert.equal(again?.status, "sent");
  const late = await deferred;
  assert.deepEqual([late.inReplyTo, late.decision], [again!.msgId, "defer"]);
  a.load.set({ memory: 0.1 });
  await a.agent.refreshLoad();
}
