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

/** Connects the world's person to alpha. */
export async function connectPerson(w: World): Promise<void> {
  const a = w.get("alpha");
  await w.person!.connect({
    hostname: a.hostname,
    port: a.port,
    fingerprint: w.fp("alpha"),
    agentId: "alpha",
  });
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
  const arrivals = others.map((n) =>
    w.get(n).agent.nextEvent("agent.intent", (e) => e.data.topic === "topic:water")
  );
  await person.intent({ goal: "request", topic: "topic:water", priority: "high" });
  for (const e of await Promise.all(arrivals)) {
    assert.equal(e.data.source, "peer");
    assert.equal(e.data.goal, "ask");
    assert.equal(e.data.decision, "accept");
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
  for (const n of others) {
    const seen = w.get(n).sink.events("agent.intent").filter((e) => e.data.topic === "topic:water");
    assert.equal(seen.length, 1, `nothing more reached ${n}`);
  }
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
  const propagated = a.agent.nextEvent("agent.intent_propagated");
  await person.intent({ goal: "request", topic: "topic:water" });
  assert.deepEqual((await propagated).data.sent, [w.fp("beta")]);
  await person.updateState({ pressure: 92 });
  const paced = person.next((e) => e.type === "HCP_ERROR");
  await person.intent({ goal: "request", topic: "topic:water" });
  const err = await paced;
  assert.ok(err.type === "HCP_ERROR");
  assert.equal(err.payload.code, "paced");
  assert.ok((err.payload.retry_after_ms ?? 0) > 0);
  assert.equal(a.sink.events("agent.intent_propagated").length, 1, "the paced intent went nowhere");
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
  const accepted = a.agent.nextEvent("cip.intent_answered");
  const [sent] = await a.agent.declareIntent({ goal: "ask", topic: "water nitrate" }, {
    to: [w.fp(to)],
  });
  assert.equal(sent?.status, "sent");
  assert.equal((await accepted).data.decision, "accept");

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
  const deferred = a.agent.nextEvent("cip.intent_answered");
  const [again] = await a.agent.declareIntent({ goal: "learn", topic: "water" }, {
    to: [w.fp(to)],
  });
  assert.equal(again?.status, "sent");
  assert.equal((await deferred).data.decision, "defer");
  a.load.set({ memory: 0.1 });
  await a.agent.refreshLoad();
}
