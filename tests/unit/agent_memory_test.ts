/**
 * The AgentLoop on the `memory` transport (the same native core over
 * in-process pipes): handshakes, state updates, intents, the person's HCP,
 * one session per pair, hooks, clean stop.
 */
import assert from "node:assert/strict";
import { MemoryNetwork } from "../../lib/rtt/mod.ts";
import { World } from "../helpers/agents.ts";

Deno.test("Agent on the memory transport: connect runs the CIP handshake, then STATE_UPDATE reaches the peer", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: "memory",
    transportOptions: { network },
  });
  await w.link("alpha", "beta");
  const a = w.get("alpha").agent;
  const b = w.get("beta").agent;
  assert.equal(a.peer(w.fp("beta"))?.verified, true);
  assert.equal(a.router.trust.peer(w.fp("beta")), "trusted", "anchored");
  await b.until(() => b.store.presence(w.fp("alpha")) !== undefined);
  await a.until(() => a.store.presence(w.fp("beta")) !== undefined);
  assert.equal(b.store.presence(w.fp("alpha"))?.presence, "diffuse");
  assert.equal(b.store.presence(w.fp("alpha"))?.lri, 10);
});

Deno.test("Agent intents: accepted by an idle peer; held (deferred) for a peer that announced overload", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: "memory",
    transportOptions: { network },
  });
  await w.link("alpha", "beta");
  const a = w.get("alpha").agent;
  const b = w.get("beta");
  const answered = a.nextEvent("cip.intent_answered");
  const [sent] = await a.declareIntent({ goal: "ask", topic: "water quality" });
  assert.equal(sent?.status, "sent");
  assert.equal((await answered).data.decision, "accept");

  b.load.set({ cpu: 0.95 });
  await b.agent.refreshLoad();
  assert.equal(b.agent.load.presence, "overloaded");
  await a.until(() => a.store.presence(w.fp("beta"))?.presence === "overloaded");
  const [held] = await a.declareIntent({ goal: "ask", topic: "water quality" });
  assert.equal(held?.status, "deferred");
  assert.equal(held?.code, "peer_overloaded");
});

Deno.test("Agent defers an intent itself while it is overloaded", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: "memory",
    transportOptions: { network },
  });
  await w.link("alpha", "beta");
  const a = w.get("alpha").agent;
  const b = w.get("beta");
  // Overloaded, but alpha has not heard of it yet: beta answers defer.
  b.load.set({ cpu: 0.9 });
  const gotIt = b.agent.nextEvent("agent.intent");
  const answered = a.nextEvent("cip.intent_answered");
  // refreshLoad would announce it; here only the local state changes.
  const announce = b.agent.refreshLoad();
  const [sent] = await a.declareIntent({ goal: "learn", topic: "water" });
  await announce;
  assert.equal(sent?.status, "sent");
  assert.equal((await gotIt).data.decision, "defer");
  assert.equal((await answered).data.decision, "defer");
});

Deno.test("Person's consented HCP_INTENT reaches another agent's loop as a CIP INTENT; refused with HCP_ERROR after revocation", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: "memory",
    transportOptions: { network },
    person: {
      of: "alpha",
      name: "ada",
      consentScope: ["topic:water"],
      human: { consent: "limited" },
    },
  });
  await w.link("alpha", "beta");
  const a = w.get("alpha");
  const person = w.person!;
  const intents: string[] = [];
  w.get("beta").agent.on("intent", (i) => intents.push(`${i.source}:${i.goal}:${i.topic}`));
  await person.connect({
    hostname: a.hostname,
    port: a.port,
    fingerprint: w.fp("alpha"),
    agentId: "alpha",
  });
  await a.agent.until(() => a.agent.store.person(person.fingerprint) !== undefined);

  const atBeta = w.get("beta").agent.nextEvent("agent.intent");
  await person.intent({ goal: "request", topic: "topic:water", priority: "high" });
  const seen = await atBeta;
  assert.equal(seen.data.source, "peer");
  assert.equal(seen.data.topic, "topic:water");
  assert.deepEqual(intents, ["peer:ask:topic:water"]);

  const outOfScope = person.next((e) => e.type === "HCP_ERROR");
  await person.intent({ goal: "request", topic: "topic:finance" });
  const err1 = await outOfScope;
  assert.ok(err1.type === "HCP_ERROR");
  assert.match(err1.payload.code, /consent|scope/);

  await person.revokeConsent();
  const refused = person.next((e) => e.type === "HCP_ERROR");
  await person.intent({ goal: "request", topic: "topic:water" });
  const err2 = await refused;
  assert.ok(err2.type === "HCP_ERROR");
  assert.equal(err2.payload.code, "consent_revoked");
  assert.equal(intents.length, 1, "nothing more reached beta");
});

Deno.test("High pressure slows the agent down: the next intent is paced (HCP_ERROR paced with retry_after_ms)", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: "memory",
    transportOptions: { network },
    person: { of: "alpha", name: "ada" },
  });
  await w.link("alpha", "beta");
  const a = w.get("alpha");
  const person = w.person!;
  await person.connect({
    hostname: a.hostname,
    port: a.port,
    fingerprint: w.fp("alpha"),
    agentId: "alpha",
  });
  const first = a.agent.nextEvent("agent.intent_propagated");
  await person.intent({ goal: "request", topic: "topic:water" });
  await first;
  await person.updateState({ pressure: 90 });
  const paced = person.next((e) => e.type === "HCP_ERROR");
  await person.intent({ goal: "request", topic: "topic:water" });
  const err = await paced;
  assert.ok(err.type === "HCP_ERROR");
  assert.equal(err.payload.code, "paced");
  assert.ok((err.payload.retry_after_ms ?? 0) > 0);
});

Deno.test("One session per pair: when both dial at once the lower fingerprint's dial survives and the other closes as duplicate", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: "memory",
    transportOptions: { network },
  });
  const a = w.get("alpha").agent;
  const b = w.get("beta").agent;
  await Promise.all([w.link("alpha", "beta"), w.link("beta", "alpha")]);
  await a.until(() => a.peers().length === 1 && a.peer(w.fp("beta"))!.verified);
  const dups = [
    ...w.get("alpha").sink.events("agent.session_duplicate"),
    ...w.get("beta").sink.events("agent.session_duplicate"),
  ];
  assert.ok(dups.length >= 1, "a duplicate was detected");
  for (const d of dups) assert.equal(d.data.reason, "duplicate");
  assert.equal(a.peers().length, 1);
  assert.equal(b.peers().length, 1);
  // Both kept the same session: the one the lower fingerprint dialled.
  const lower = w.fp("alpha") < w.fp("beta") ? "alpha" : "beta";
  const keptA = dups.filter((d) => d.node === "alpha").map((d) => d.data.kept);
  const keptB = dups.filter((d) => d.node === "beta").map((d) => d.data.kept);
  if (keptA.length > 0 && keptB.length > 0) assert.deepEqual(keptA, keptB);
  assert.ok(lower);
});

Deno.test("A throwing hook is reported and the loop goes on; mission drift is detected from off-mission intents", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: "memory",
    transportOptions: { network },
    mission: "verify water quality facts",
  });
  await w.link("alpha", "beta");
  const a = w.get("alpha").agent;
  const b = w.get("beta").agent;
  b.on("intent", () => {
    throw new Error("hook bug");
  });
  const drift = b.nextEvent("agent.mission_drift");
  for (const topic of ["celebrity gossip", "stock prices", "football scores"]) {
    const answered = a.nextEvent("cip.intent_answered");
    await a.declareIntent({ goal: "ask", topic });
    assert.equal((await answered).data.decision, "accept", "the loop still answers");
  }
  const d = await drift;
  assert.equal(d.data.score, 0);
  assert.ok(w.get("beta").sink.events("agent.hook_error").length >= 3);
});

Deno.test("Aborting the agent's signal stops it: no sessions, timers or handles left (sanitizers on)", async () => {
  const network = new MemoryNetwork();
  const controller = new AbortController();
  const w = await World.create({
    names: ["alpha", "beta"],
    transport: "memory",
    transportOptions: { network },
    extra: { signal: controller.signal, loadIntervalMs: 50 },
  });
  await w.link("alpha", "beta");
  controller.abort();
  const a = w.get("alpha").agent;
  await a.stop();
  assert.equal(a.stopped, true);
  await w[Symbol.asyncDispose]();
});
