/**
 * The AgentLoop on the `memory` transport (the same native core over
 * in-process pipes): handshakes, state updates, intents, the person's HCP,
 * one session per pair, hooks, clean stop.
 *
 * Timing twins (tests/unit/virtual_time_agent_test.ts, the same agents on a
 * ManualClock): the presence test here calls refreshLoad() by hand, the
 * open-intent test moves a fake `now`, and the pacing test checks the
 * refusal; the twins show the load tick's exact instant, the open intent's
 * expiry at the first tick past OPEN_INTENT_MS, and intents spaced by exactly
 * pacingDelayMs.
 */
import { systemClock } from "../../lib/ports/mod.ts";
import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";
import { RTTHandshakeError } from "../../lib/transport/mod.ts";
import { assertEventContract, World } from "../helpers/agents.ts";
import { AgentError, HcpClient } from "../../lib/agent/mod.ts";
import { OPEN_INTENT_MS } from "../../lib/agent/intents.ts";
import { keepSession } from "../../lib/agent/sessions.ts";
import {
  connectPerson,
  intentScenario,
  pacingScenario,
  personScenario,
  personWorld,
} from "../helpers/scenarios.ts";
import { within } from "../helpers/wait.ts";

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

Deno.test("keepSession: both ends keep the session dialled by the lower fingerprint; the same dialer twice keeps the fresh one", () => {
  const cases: [self: string, peer: string, current: string, fresh: string, want: string][] = [
    ["a", "b", "a", "b", "current"], // a is lower and dialled the one held
    ["a", "b", "b", "a", "fresh"], // a's dial arrives second: it replaces b's
    ["b", "a", "a", "b", "current"], // the same pair seen from b: a's dial survives
    ["b", "a", "b", "a", "fresh"],
    ["a", "b", "a", "a", "fresh"], // a redialled: the fresh session replaces the old
    ["a", "b", "b", "b", "fresh"],
  ];
  for (const [self, peer, current, fresh, want] of cases) {
    assert.equal(
      keepSession(self, peer, { dialer: current }, { dialer: fresh }),
      want,
      `${self} with ${peer}: held dialled by ${current}, fresh by ${fresh}`,
    );
  }
});

Deno.test("One session per pair: when both dial at once, both ends keep the one session the lower fingerprint dialled and close the other as duplicate", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: memory({ network }),
  });
  const a = w.get("alpha").agent;
  const b = w.get("beta").agent;
  const lower = w.fp("alpha") < w.fp("beta") ? w.fp("alpha") : w.fp("beta");
  const dups: { at: string; kept: string; closed: string }[] = [];
  a.on("sessionDuplicate", (d) => dups.push({ at: "alpha", ...d }));
  b.on("sessionDuplicate", (d) => dups.push({ at: "beta", ...d }));
  await Promise.all([w.link("alpha", "beta"), w.link("beta", "alpha")]);
  // Each end settles on the session the lower fingerprint dialled (session changes wake until).
  await a.until(() => a.peer(w.fp("beta"))?.dialer === lower);
  await b.until(() => b.peer(w.fp("alpha"))?.dialer === lower);
  const kept = a.peer(w.fp("beta"))!.session;
  assert.equal(b.peer(w.fp("alpha"))!.session, kept, "both ends keep the same session");
  assert.ok(dups.length >= 1, "a duplicate was detected");
  for (const d of dups) {
    assert.equal(d.kept, kept, `${d.at} kept the lower fingerprint's session`);
    assert.notEqual(d.closed, kept);
  }
  const telemetry = [
    ...w.get("alpha").sink.events("agent.session_duplicate"),
    ...w.get("beta").sink.events("agent.session_duplicate"),
  ];
  assert.deepEqual(
    telemetry.map((e) => [e.data.kept, e.data.reason]),
    dups.map(() => [kept, "duplicate"]),
  );
  assert.equal(a.peers().length, 1);
  assert.equal(b.peers().length, 1);
  // The surviving session carries the conversation.
  const answered = a.next("intentAnswered");
  await a.declareIntent({ goal: "ask", topic: "water" });
  assert.equal((await answered).decision, "accept");
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
  const heard: string[] = [];
  b.on("intent", (i) => heard.push(i.topic)); // after the throwing one: still called
  const drift = b.next("missionDrift");
  const topics = ["celebrity gossip", "stock prices", "football scores"];
  for (const topic of topics) {
    const answered = a.next("intentAnswered");
    await a.declareIntent({ goal: "ask", topic });
    assert.equal((await answered).decision, "accept", "the loop still answers");
  }
  const d = await drift;
  assert.equal(d.score, 0);
  assert.equal(d.lastTopic, "football scores");
  assert.deepEqual(heard, topics);
  const errors = w.get("beta").sink.events("agent.hook_error");
  assert.deepEqual(
    errors.map((e) => [e.data.hook, e.data.error]),
    topics.map(() => ["intent", "hook bug"]),
  );
  assert.equal(w.get("beta").sink.events("agent.mission_drift").length, 1, "drift is an edge");
});

Deno.test("Aborting the agent's signal stops it by itself: sessions closed, timers cleared, store released; nothing else calls stop (sanitizers on)", async () => {
  const network = new MemoryNetwork();
  const controller = new AbortController();
  // Only alpha listens to the signal; its load timer runs every 50 ms.
  const w = await World.create({
    names: ["alpha", "beta"],
    transport: memory({ network }),
    extraOf: { alpha: { loadIntervalMs: 50, signal: controller.signal } },
  });
  const alpha = w.get("alpha").agent;
  const beta = w.get("beta").agent;
  await w.link("alpha", "beta");
  const gone = beta.next("peerDown", (e) => e.peer === w.fp("alpha") && e.final);
  controller.abort();
  assert.equal(alpha.stopped, true, "the abort stops the agent at once");
  // Settles when the agent released everything; nobody called stop().
  await within(5_000, "alpha to finish stopping", alpha.closed);
  assert.equal((await gone).reason.length > 0, true, "beta saw alpha's session end");
  assert.deepEqual(alpha.peers(), []);
  assert.deepEqual(beta.peers(), []);
  await assert.rejects(
    alpha.declareIntent({ goal: "ask", topic: "water" }),
    (err: Error) => err instanceof AgentError && err.code === "STOPPED",
  );
  assert.equal(w.get("alpha").sink.events("agent.stopping").length, 1);
  await beta.stop();
});

Deno.test("Transport events reach the agent: a dropped connection is peerDown (not final), its resumption peerUp (resumed), both rendered as rtt.* events; messages still flow", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: memory({ network }),
  });
  await w.link("alpha", "beta");
  const a = w.get("alpha").agent;
  const b = w.get("beta").agent;
  const session = a.peer(w.fp("beta"))!.session;
  const typed: string[] = [];
  a.on(
    "peerDown",
    (e) => typed.push(`down ${e.final ? "final" : "lost"} ${e.session === session}`),
  );
  a.on("peerUp", (e) => typed.push(`up ${e.via} ${e.session === session}`));
  const lost = a.nextEvent("rtt.connection_lost");
  const resumed = a.nextEvent("rtt.session_open", (e) => e.data.resumed === true);
  const up = a.next("peerUp", (e) => e.via === "resumed");
  network.dropConnection(a.transport, b.transport);
  await lost;
  const open = await resumed;
  assert.ok((open.data.reconnects as number) >= 1);
  await up;
  assert.deepEqual(typed, ["down lost true", "up resumed true"]);
  const answered = a.next("intentAnswered");
  await a.declareIntent({ goal: "ask", topic: "water after a reconnect" });
  assert.equal((await answered).decision, "accept");
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
  const answered = a.next("intentAnswered");
  await a.declareIntent({ goal: "ask", topic: "water" });
  assert.equal((await answered).decision, "accept");
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

Deno.test("Typed events follow the router's committed effects and the sessions: peerUp, handshakeVerified, trustChanged, intent and intentAnswered, claimChanged, peerDown", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta", "gamma"],
    transport: memory({ network }),
    anchorsOf: { alpha: ["gamma"], beta: ["alpha", "gamma"], gamma: ["alpha", "beta"] },
  });
  const [a, b] = [w.get("alpha").agent, w.get("beta").agent];
  const seen: string[] = [];
  for (const x of [a, b]) {
    const at = x === a ? "alpha" : "beta";
    x.on(
      "peerUp",
      (e) =>
        seen.push(`${at} peerUp ${e.via} ${e.dialer === w.fp("alpha") ? "by alpha" : "by beta"}`),
    );
    x.on(
      "handshakeVerified",
      (e) => seen.push(`${at} handshakeVerified ${e.peer === w.fp("alpha") ? "alpha" : "beta"}`),
    );
    x.on("trustChanged", (e) => {
      if (e.entry.subject === w.fp(at === "alpha" ? "beta" : "alpha")) {
        seen.push(`${at} trust ${e.entry.from}->${e.entry.to}`);
      }
    });
  }
  await w.link("alpha", "beta");
  assert.ok(
    seen.includes("alpha peerUp new by alpha") && seen.includes("beta peerUp new by alpha"),
  );
  assert.ok(
    seen.includes("alpha handshakeVerified beta") && seen.includes("beta handshakeVerified alpha"),
  );
  assert.ok(seen.includes("alpha trust untrusted->probing"), seen.join("; ")); // beta is no anchor of alpha
  assert.ok(
    !seen.some((x) => x.startsWith("beta trust")),
    "alpha is beta's anchor: trusted already",
  );

  // An intent: `intent` at beta (with its decision), `intentAnswered` at alpha.
  const atB = b.next("intent", (i) => i.topic === "aral nitrate");
  const answered = a.next("intentAnswered");
  const [sent] = await a.declareIntent({ goal: "ask", topic: "aral nitrate" }, {
    to: [w.fp("beta")],
  });
  const i = await atB;
  assert.deepEqual([i.source, i.from, i.msgId, i.goal, i.decision], [
    "peer",
    w.fp("alpha"),
    sent!.msgId,
    "ask",
    "accept",
  ]);
  const ans = await answered;
  assert.deepEqual([ans.peer, ans.inReplyTo, ans.decision], [w.fp("beta"), sent!.msgId, "accept"]);

  // A fact: claimChanged (pending) at beta for the claim, as committed.
  const pending = b.next("claimChanged", (c) => c.origin === "cip");
  const [fact] = await a.proposeFact(
    { statement: "Nitrate is 12 mg/l", domain: "water", confidence: 0.9, sources: ["lab-7"] },
    { steps: ["measured"], evidence: ["lab-7"] },
    { to: [w.fp("beta")] },
  );
  const c = await pending;
  assert.deepEqual([c.claim, c.status], [fact!.msgId, "pending"]);
  assert.equal(b.store.claim(c.claim)?.status, "pending", "the event follows the commit");

  // The session ends: peerDown, final.
  const down = b.next("peerDown", (e) => e.peer === w.fp("alpha"));
  await a.stop();
  const d = await down;
  assert.equal(d.final, true);
});

Deno.test("Open intents count in presence: focused while an intent of ours awaits its answer, diffuse once answered or after OPEN_INTENT_MS", async () => {
  let clock = Date.now();
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: memory({ network }),
    extra: { clock: { ...systemClock, now: () => clock } },
  });
  await w.link("alpha", "beta");
  const a = w.get("alpha").agent;
  const b = w.get("beta").agent;
  await a.refreshLoad();
  assert.equal(a.load.presence, "diffuse");
  // Beta's loop holds every INTENT until the gate opens: alpha's intents stay unanswered.
  let gate = Promise.withResolvers<void>();
  const dispatch = b.router.dispatch.bind(b.router);
  b.router.dispatch = async (bytes, from) => {
    if (new TextDecoder().decode(bytes as Uint8Array).includes('"type":"INTENT"')) {
      await gate.promise;
    }
    return await dispatch(bytes, from);
  };
  const presences: string[] = [];
  a.on("presence", (p) => presences.push(`${p.previous}->${p.presence}`));
  const answered = a.next("intentAnswered");
  try {
    const [sent] = await a.declareIntent({ goal: "ask", topic: "water" }, { to: [w.fp("beta")] });
    assert.equal(sent?.status, "sent");
    await a.refreshLoad();
    assert.equal(a.load.presence, "focused", "one intent awaits its answer");
    gate.resolve();
    assert.equal((await answered).inReplyTo, sent!.msgId);
    await a.refreshLoad();
    assert.equal(a.load.presence, "diffuse", "answered: nothing open");
    // An intent whose answer does not come stops counting after OPEN_INTENT_MS.
    gate = Promise.withResolvers<void>();
    await a.declareIntent({ goal: "ask", topic: "water again" }, { to: [w.fp("beta")] });
    await a.refreshLoad();
    assert.equal(a.load.presence, "focused");
    clock += OPEN_INTENT_MS + 1;
    await a.refreshLoad();
    assert.equal(a.load.presence, "diffuse", "expired");
    assert.deepEqual(presences, [
      "diffuse->focused",
      "focused->diffuse",
      "diffuse->focused",
      "focused->diffuse",
    ]);
  } finally {
    gate.resolve();
  }
});

Deno.test("HcpClient (memory): connecting sends nothing and learns the agent's record; a revocation lasts across a client restart and an agent restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4_person_" });
  const network = new MemoryNetwork();
  const options = personWorld(memory({ network }), { stores: { alpha: `${dir}/alpha.db` } });
  try {
    await using w = await World.create(options);
    const person = w.person!;
    const fp = w.fp("ada");
    const at = { hostname: "alpha", port: w.get("alpha").port, agentId: "alpha" };
    let a = w.get("alpha").agent;
    const dispatched: string[] = [];
    a.on("afterCycle", (c) => c.peer === fp && dispatched.push(c.result.type ?? "?"));

    // Connecting: the agent tells the person it holds no consent; nothing is sent.
    const first = await person.connect({ ...at, fingerprint: w.fp("alpha") });
    assert.deepEqual(first, { human: null, consentScope: [], safetyFlags: [] });
    assert.equal(person.human, null);
    await assert.rejects(
      person.intent({ goal: "request", topic: "topic:water" }),
      (err: Error) => err instanceof AgentError && err.code === "REFUSED",
    );
    await assert.rejects(person.updateState({ pressure: 10 }), TypeError);
    await assert.rejects(person.hello(), TypeError, "no consent without the person's choice");
    assert.deepEqual(dispatched, []);
    assert.equal(a.store.person(fp), undefined);

    // The person's explicit choice, then a revocation.
    await person.hello({ consent: "limited", consentScope: ["topic:water"] });
    await a.until(() => a.store.person(fp)?.consent === "limited");
    await person.revokeConsent();
    await a.until(() => a.store.person(fp)?.consent === "revoked");
    assert.equal(person.record?.human?.consent, "revoked");
    assert.equal(a.router.trust.person(fp), "restricted");

    // The client restarts: it learns "revoked", and its intent carries it (refused by consent,
    // not by a mismatch), so nothing grants consent again.
    await person.close();
    const again = await HcpClient.create({
      identity: w.ids.get("ada")!,
      name: "ada",
      transport: memory({ network }),
    });
    try {
      const told = await again.connect({ ...at, fingerprint: w.fp("alpha") });
      assert.equal(told.human?.consent, "revoked");
      assert.deepEqual(told.consentScope, ["topic:water"]);
      const refusal = again.next((e) => e.type === "HCP_ERROR");
      await again.intent({ goal: "request", topic: "topic:water" });
      const err = await refusal;
      assert.ok(err.type === "HCP_ERROR");
      assert.equal(err.payload.code, "consent_revoked");
      assert.equal(a.store.person(fp)?.consent, "revoked");
      assert.equal(a.router.trust.person(fp), "restricted");
    } finally {
      await again.close();
    }

    // The agent restarts on its store: a new client is told "revoked" still.
    await a.stop();
    w.agents.delete("alpha");
    await w.start("alpha", options, 1);
    a = w.get("alpha").agent;
    const third = await HcpClient.create({
      identity: w.ids.get("ada")!,
      name: "ada",
      transport: memory({ network }),
    });
    try {
      const told = await third.connect({ ...at, fingerprint: w.fp("alpha") });
      assert.equal(told.human?.consent, "revoked");
      assert.equal(a.router.trust.person(fp), "restricted");
    } finally {
      await third.close();
    }
    assertEventContract(w.events());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HcpClient (memory): a refused consent change is put back from the agent's answer", async () => {
  await using w = await World.create(personWorld(memory({ network: new MemoryNetwork() })));
  await connectPerson(w);
  const person = w.person!;
  const a = w.get("alpha").agent;
  await a.until(() => a.store.person(w.fp("ada"))?.consent === "limited");
  const refusal = person.next((e) => e.type === "HCP_ERROR");
  await person.hello({ consent: "granted", consentScope: ["not a scope entry"] });
  const err = await refusal;
  assert.ok(err.type === "HCP_ERROR" && err.payload.code === "invalid_topic");
  assert.equal(person.human?.consent, "limited", "the agent still holds limited");
  assert.deepEqual(person.record?.consentScope, ["topic:water"]);
  assert.equal(a.store.person(w.fp("ada"))?.consent, "limited");
});

Deno.test("HcpClient (memory): an agent that is not this person's tells nothing, and connect times out", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({ names: ["alpha"], transport: memory({ network }) });
  const stranger = await Identity.generate({ agentId: "mallory" });
  await using client = await HcpClient.create({
    identity: stranger,
    name: "mallory",
    transport: memory({ network }),
  });
  await assert.rejects(
    client.connect({
      hostname: "alpha",
      port: w.get("alpha").port,
      fingerprint: w.fp("alpha"),
      timeoutMs: 200,
    }),
    (err: Error) => err instanceof AgentError && err.code === "TIMEOUT",
  );
  assert.equal(client.record, undefined);
});
