/**
 * The AgentLoop on the `memory` transport (the same native core over
 * in-process pipes): handshakes, state updates, intents, the person's HCP,
 * one session per pair, hooks, clean stop.
 */
import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { memory, MemoryNetwork, RTTHandshakeError } from "../../lib/rtt/mod.ts";
import { assertEventContract, World } from "../helpers/agents.ts";
import { AgentError } from "../../lib/agent/mod.ts";
import {
  connectPerson,
  intentScenario,
  pacingScenario,
  personScenario,
  personWorld,
} from "../helpers/scenarios.ts";

Deno.test("Agent on the memory transport: connect runs the CIP handshake, then STATE_UPDATE reaches the peer", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: memory({ network }),
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

Deno.test("Agent intents (memory): accepted by an idle peer, held for a peer that announced overload, deferred by a peer when the sender is overloaded", async () => {
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: memory({ network: new MemoryNetwork() }),
  });
  await w.link("alpha", "beta");
  await intentScenario(w, "alpha", "beta");
  assertEventContract(w.events());
});

Deno.test("Person (memory): consented HCP_INTENT reaches another agent's loop as a CIP INTENT; out of scope and after revocation refused with HCP_ERROR", async () => {
  await using w = await World.create(
    personWorld(memory({ network: new MemoryNetwork() })),
  );
  await w.link("alpha", "beta");
  await personScenario(w);
});

Deno.test("Person (memory): high pressure slows the agent down, the next intent is paced", async () => {
  await using w = await World.create(
    personWorld(memory({ network: new MemoryNetwork() })),
  );
  await w.link("alpha", "beta");
  await pacingScenario(w);
});

Deno.test("One session per pair: when both dial at once the lower fingerprint's dial survives and the other closes as duplicate", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: memory({ network }),
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
    transport: memory({ network }),
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
    transport: memory({ network }),
    extra: { signal: controller.signal, loadIntervalMs: 50 },
  });
  await w.link("alpha", "beta");
  controller.abort();
  const a = w.get("alpha").agent;
  await a.stop();
  assert.equal(a.stopped, true);
  await w[Symbol.asyncDispose]();
});

Deno.test("Transport events reach the agent's telemetry: a dropped connection is lost, then resumed, and messages still flow", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: memory({ network }),
  });
  await w.link("alpha", "beta");
  const a = w.get("alpha").agent;
  const b = w.get("beta").agent;
  const lost = a.nextEvent("rtt.connection_lost");
  const resumed = a.nextEvent("rtt.session_open", (e) => e.data.resumed === true);
  network.dropConnection(a.transport, b.transport);
  await lost;
  const open = await resumed;
  assert.ok((open.data.reconnects as number) >= 1);
  const answered = a.nextEvent("cip.intent_answered");
  await a.declareIntent({ goal: "ask", topic: "water after a reconnect" });
  assert.equal((await answered).data.decision, "accept");
  assert.equal(a.peers().length, 1, "still one session with beta");
  assertEventContract(w.events());
});

Deno.test("Garbage from a connected stranger is refused by the router; the loop goes on", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: memory({ network }),
  });
  await w.link("alpha", "beta");
  const a = w.get("alpha").agent;
  const b = w.get("beta").agent;
  const refused = b.nextEvent("router.refused");
  await using stranger = await memory({ network })({
    identity: await Identity.generate({ agentId: "stranger" }),
  });
  const session = await stranger.connect({
    hostname: "beta",
    port: w.get("beta").port,
    fingerprint: w.fp("beta"),
  });
  const ch = await session.openChannel("control");
  await ch.send(new TextEncoder().encode("{not json"));
  const e = await refused;
  assert.equal(e.data.code, "invalid_envelope");
  assert.equal(b.router.trust.peer(stranger.fingerprint), "untrusted", "garbage sanctions nobody");
  const answered = a.nextEvent("cip.intent_answered");
  await a.declareIntent({ goal: "ask", topic: "water" });
  assert.equal((await answered).data.decision, "accept");
  assertEventContract(w.events());
});

Deno.test("connect with a wrong pinned fingerprint fails with the transport's typed handshake error; nothing is adopted", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: memory({ network }),
  });
  const a = w.get("alpha").agent;
  const impostor = await Identity.generate({ agentId: "impostor" });
  await assert.rejects(
    a.connect({ hostname: "beta", port: w.get("beta").port, fingerprint: impostor.fingerprint }),
    (err: Error) => err instanceof RTTHandshakeError && err.code === "FINGERPRINT_MISMATCH",
  );
  assert.deepEqual(a.peers(), []);
  assertEventContract(w.events());
});

Deno.test("The agent tells its person a decision (HCP_DECISION with rationale and alternatives), signed and verified on the person's side", async () => {
  await using w = await World.create(
    personWorld(memory({ network: new MemoryNetwork() })),
  );
  const a = w.get("alpha").agent;
  await assert.rejects(
    a.toPerson("HCP_CONTEXT", { context: "x", constraints: [], shared_history: [] }),
    (err: Error) => err instanceof AgentError && err.code === "NO_PERSON",
  );
  await connectPerson(w);
  await a.until(() => a.peer(w.fp("ada")) !== undefined);
  const got = w.person!.next((e) => e.type === "HCP_DECISION");
  const msgId = await a.toPerson("HCP_DECISION", {
    decision: "sample the lake weekly",
    rationale: "nitrate rose twice this month",
    alternatives: ["monthly sampling", "no change"],
    follow_up: "report in two weeks",
  });
  const env = await got;
  assert.equal(env.msg_id, msgId);
  assert.equal(env.sender.fingerprint, w.fp("alpha"));
  assertEventContract(w.events());
});

Deno.test("Presence: peers hear of a presence change or an lri move of at least lriStep, not of every wiggle", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: memory({ network }),
  });
  await w.link("alpha", "beta");
  const a = w.get("alpha");
  const b = w.get("beta").agent;
  await b.until(() => b.store.presence(w.fp("alpha"))?.lri === 10);
  a.load.set({ cpu: 0.13 }); // lri 13: a wiggle
  await a.agent.refreshLoad();
  assert.equal(a.agent.load.lri, 13, "local decisions see the latest reading");
  assert.equal(w.get("alpha").sink.events("agent.presence").length, 0);
  a.load.set({ cpu: 0.16 }); // lri 16: 6 from what beta knows
  await a.agent.refreshLoad();
  await b.until(() => b.store.presence(w.fp("alpha"))?.lri === 16);
  a.load.set({ cpu: 0.55 }); // engaged: a presence change
  await a.agent.refreshLoad();
  await b.until(() => b.store.presence(w.fp("alpha"))?.presence === "engaged");
  assert.deepEqual(
    w.get("alpha").sink.events("agent.presence").map((e) => [e.data.presence, e.data.lri]),
    [["diffuse", 16], ["engaged", 55]],
  );
  assertEventContract(w.events());
});
