import assert from "node:assert/strict";
import type { FactProposePayload, JsonValue } from "../../lib/envelope/mod.ts";
import type { Outcome } from "../../lib/runtime/mod.ts";
import { openStore, QuotaExceededError } from "../../lib/store/mod.ts";
import { Net, type Node } from "../fixtures/cip/harness.ts";

const DECISION = "0b5a4f4e-2d7c-4b8e-9a41-6f0d8c1e2a3b";

function proposal(
  subject: string | undefined,
  value: JsonValue,
  extra: Partial<FactProposePayload> = {},
): FactProposePayload {
  return {
    fact: {
      statement: `${subject} is ${JSON.stringify(value)}`,
      domain: "physics",
      confidence: 0.9,
      sources: ["lab notebook"],
      ...(subject === undefined ? {} : { context: { subject, value } }),
    },
    dmp_trace: { decision_id: DECISION, steps: ["measured it"], evidence: ["reading"] },
    ...extra,
  };
}

/** Sends a FACT_PROPOSE and returns its msg_id and the receiver's outcome. */
async function propose(
  net: Net,
  from: Node,
  to: Node,
  payload: FactProposePayload,
): Promise<{ id: string; out: Outcome }> {
  const [out] = await net.send(from, to, { type: "FACT_PROPOSE", payload });
  const sent = net.transcript.filter((s) =>
    s.from === from.name && JSON.parse(s.wire).type === "FACT_PROPOSE"
  ).at(-1)!;
  return { id: JSON.parse(sent.wire).msg_id, out: out! };
}

async function vote(
  net: Net,
  from: Node,
  to: Node,
  type: "FACT_CONFIRM" | "FACT_REJECT",
  factRef: string,
): Promise<Outcome> {
  const decision = type === "FACT_CONFIRM" ? "confirm" : "reject";
  const [out] = await net.send(
    from,
    to,
    { type, payload: { fact_ref: factRef, decision, confidence: 0.8 } } as never,
  );
  return out!;
}

/** Bob with Alice and Carol as anchors, Dave and Erin as ordinary peers; everyone has shaken hands with Bob. */
async function world(options: { anchors?: boolean } = {}) {
  const net = new Net();
  const alice = await net.add("alice");
  const carol = await net.add("carol");
  const dave = await net.add("dave");
  const erin = await net.add("erin", { trust: { cooldownMs: 60_000 } });
  const bob = await net.add("bob", {
    trust: { anchors: options.anchors === false ? [] : [alice.fp, carol.fp], cooldownMs: 60_000 },
  });
  for (const peer of [alice, carol, dave, erin]) await net.handshake(peer, bob);
  return { net, alice, bob, carol, dave, erin };
}

Deno.test("CIP knowledge: a claim is accepted on two trusted confirmations, enters causal memory, and its probing proposer becomes trusted", async () => {
  const { net, alice, bob, carol, dave } = await world();
  assert.deepEqual([bob.trustIn(alice), bob.trustIn(carol), bob.trustIn(dave)], [
    "trusted",
    "trusted",
    "probing",
  ]);
  const links = [{ relation: "supports", ref: "prior-1" }];
  const { id, out } = await propose(
    net,
    dave,
    bob,
    proposal("water.boiling_point", 100, { causal_links: links }),
  );
  assert.equal(out.status, "handled");
  assert.equal(bob.store.claim(id)?.status, "pending");
  await vote(net, alice, bob, "FACT_CONFIRM", id);
  assert.equal(bob.store.claim(id)?.status, "pending");
  await vote(net, carol, bob, "FACT_CONFIRM", id);
  assert.equal(bob.store.claim(id)?.status, "accepted");
  assert.equal(bob.store.causalFact(id)?.valueCanon, "100");
  assert.deepEqual(bob.store.causalLinks(id), [{ from: id, relation: "supports", ref: "prior-1" }]);
  assert.equal(bob.trustIn(dave), "trusted");
  const promoted = bob.store.trustLog(dave.fp).at(-1)!;
  assert.equal(promoted.event, "verified_knowledge");
  assert.ok(promoted.evidence.includes(id) && promoted.evidence.includes(alice.fp));
});

Deno.test("CIP knowledge: only confirmations from peers trusted at that moment count, and never the proposer's own", async () => {
  const { net, alice, bob, dave, erin } = await world();
  const { id } = await propose(net, dave, bob, proposal("salt.melting_point", 801));
  const own = await vote(net, dave, bob, "FACT_CONFIRM", id);
  assert.deepEqual([own.status, own.code], ["ignored", "own_claim"]);
  await vote(net, erin, bob, "FACT_CONFIRM", id); // probing: recorded, not counted
  await vote(net, alice, bob, "FACT_CONFIRM", id);
  assert.equal(bob.store.claim(id)?.status, "pending");
  assert.deepEqual(
    bob.store.votes(id).map((v) => [v.peer === erin.fp ? "erin" : "alice", v.counted]).sort(),
    [["alice", true], ["erin", false]],
  );
  const unknown = await vote(
    net,
    alice,
    bob,
    "FACT_CONFIRM",
    "6f9619ff-8b86-4d11-b42d-00c04fc96499",
  );
  assert.deepEqual([unknown.status, unknown.code], ["refused", "unknown_fact"]);
});

Deno.test("CIP knowledge: under local overload a confirmed claim stays pending, and settles once the load drops", async () => {
  const { net, alice, bob, carol, dave } = await world();
  const { id } = await propose(net, dave, bob, proposal("iron.density", 7.87));
  await vote(net, alice, bob, "FACT_CONFIRM", id);
  bob.load = { presence: "overloaded", lri: 95 };
  const out = await vote(net, carol, bob, "FACT_CONFIRM", id);
  assert.deepEqual([out.status, out.code], ["deferred", "overloaded"]);
  assert.equal(bob.store.claim(id)?.status, "pending");
  assert.equal(bob.store.causalFact(id), undefined);
  assert.equal(bob.runtime.settle(id, bob.ctx(dave.fp)).status, "deferred");
  bob.load = { presence: "focused", lri: 20 };
  const settled = bob.runtime.settle(id, bob.ctx(dave.fp));
  bob.store.commit(settled.changes);
  assert.equal(settled.status, "handled");
  assert.equal(bob.store.claim(id)?.status, "accepted");
  assert.equal(bob.runtime.settle(id, bob.ctx(dave.fp)).code, "not_pending");
});

Deno.test("CIP knowledge: a claim from an untrusted source is rejected", async () => {
  const net = new Net();
  const bob = await net.add("bob");
  const mallory = await net.add("erin");
  const { id, out } = await propose(net, mallory, bob, proposal("x", 1));
  assert.deepEqual([out.status, out.code], ["refused", "untrusted"]);
  assert.equal(bob.store.claim(id)?.status, "rejected");
  assert.equal(bob.store.claim(id)?.reason, "untrusted_source");
});

Deno.test("CIP knowledge: a conflict with a trusted peer's claim disputes both; a trusted rejection disputes a claim", async () => {
  const { net, alice, bob, carol, dave, erin } = await world();
  const first = await propose(net, alice, bob, proposal("copper.conductivity", "high"));
  const second = await propose(net, dave, bob, proposal("copper.conductivity", "low"));
  assert.equal(second.out.code, "disputed");
  assert.equal(bob.store.claim(second.id)?.status, "disputed");
  assert.equal(bob.store.claim(first.id)?.status, "disputed");
  assert.equal(bob.trustIn(dave), "untrusted", "a probing peer's conflict with trusted knowledge");
  assert.equal(
    bob.trustIn(alice),
    "trusted",
    "the trusted rival is not sanctioned by another peer's envelope",
  );
  const third = await propose(net, erin, bob, proposal("gold.color", "yellow"));
  await vote(net, carol, bob, "FACT_REJECT", third.id);
  assert.equal(bob.store.claim(third.id)?.status, "disputed");
  assert.match(bob.store.claim(third.id)!.reason, /rejected_by_trusted/);
  // A conflict challenge from a trusted peer disputes too; other reasons are recorded only.
  const fourth = await propose(net, erin, bob, proposal("lead.density", 11.3));
  await net.send(alice, bob, {
    type: "FACT_CHALLENGE",
    payload: { fact_ref: fourth.id, reason: "cannot_verify" },
  });
  assert.equal(bob.store.claim(fourth.id)?.status, "pending");
  await net.send(alice, bob, {
    type: "FACT_CHALLENGE",
    payload: { fact_ref: fourth.id, reason: "conflict", notes: "no" },
  });
  assert.equal(bob.store.claim(fourth.id)?.status, "disputed");
  const [challenge] = bob.store.votes(fourth.id); // a peer's second vote of a kind replaces its first
  assert.deepEqual([challenge?.kind, challenge?.reason, challenge?.counted], [
    "challenge",
    "conflict",
    true,
  ]);
});

Deno.test("CIP knowledge: a claim contradicting accepted knowledge is disputed and challenged, by subject or by a contradicts link", async () => {
  const { net, alice, bob, carol, dave, erin } = await world();
  const truth = await propose(net, dave, bob, proposal("water.boiling_point", 100));
  await vote(net, alice, bob, "FACT_CONFIRM", truth.id);
  await vote(net, carol, bob, "FACT_CONFIRM", truth.id);
  assert.equal(bob.store.claim(truth.id)?.status, "accepted");
  const lie = await propose(net, erin, bob, proposal("water.boiling_point", 90));
  assert.equal(bob.store.claim(lie.id)?.status, "disputed");
  const challenge = net.transcript.at(-1)!;
  assert.equal(challenge.from, "bob");
  assert.deepEqual(JSON.parse(challenge.wire).payload.fact_ref, lie.id);
  assert.equal(JSON.parse(challenge.wire).type, "FACT_CHALLENGE");
  // The same value does not conflict; a fact without a subject only by an explicit link.
  const agree = await propose(net, carol, bob, proposal("water.boiling_point", 100));
  assert.equal(bob.store.claim(agree.id)?.status, "pending");
  const linked = await propose(
    net,
    alice,
    bob,
    proposal(undefined, null, { causal_links: [{ relation: "contradicts", ref: truth.id }] }),
  );
  assert.equal(bob.store.claim(linked.id)?.status, "disputed");
  assert.equal(
    bob.trustIn(alice),
    "blacklisted",
    "a trusted peer contradicting accepted knowledge: severe conflict",
  );
});

Deno.test("CIP knowledge: a lying peer ends untrusted, then blacklisted, with the evidence logged", async () => {
  const { net, alice, bob, carol, dave, erin } = await world();
  const truth = await propose(net, dave, bob, proposal("earth.shape", "oblate spheroid"));
  await vote(net, alice, bob, "FACT_CONFIRM", truth.id);
  await vote(net, carol, bob, "FACT_CONFIRM", truth.id);
  const lie1 = await propose(net, erin, bob, proposal("earth.shape", "flat"));
  assert.equal(bob.trustIn(erin), "untrusted");
  // After the cooldown Erin shakes hands again and lies again: proven malice.
  net.now += 60_000;
  await net.handshake(erin, bob);
  assert.equal(bob.trustIn(erin), "probing");
  const lie2 = await propose(net, erin, bob, proposal("earth.shape", "a cube"));
  assert.equal(bob.trustIn(erin), "blacklisted");
  const log = bob.store.trustLog(erin.fp).filter((e) => e.changed);
  assert.deepEqual(log.map((e) => [e.event, e.to]), [
    ["valid_handshake", "probing"],
    ["conflict", "untrusted"],
    ["valid_handshake", "probing"],
    ["proven_malice", "blacklisted"],
  ]);
  assert.deepEqual(log[1]!.evidence, [lie1.id]);
  assert.deepEqual(log[3]!.evidence, [lie2.id, lie1.id]);
  // Blacklisted: further envelopes are dropped.
  const after = await propose(net, erin, bob, proposal("moon", "cheese"));
  assert.deepEqual([after.out.status, after.out.code], ["ignored", "blacklisted"]);
});

Deno.test("CIP knowledge: two signed, mutually contradicting claims of one peer are proven malice", async () => {
  const { net, bob, dave } = await world();
  const a = await propose(net, dave, bob, proposal("pi", 3.14159));
  const b = await propose(net, dave, bob, proposal("pi", 3));
  assert.equal(b.out.code, "disputed");
  assert.equal(bob.store.claim(a.id)?.status, "disputed");
  assert.equal(bob.trustIn(dave), "blacklisted");
});

Deno.test("CIP knowledge: inconsistent DMP traces are rejected and, repeated, send a probing peer to untrusted", async () => {
  const { net, bob, dave } = await world();
  const bare = proposal("x", 1);
  bare.fact.sources = [];
  bare.dmp_trace.evidence = [];
  for (let i = 0; i < 3; i++) {
    const { id, out } = await propose(net, dave, bob, bare);
    assert.deepEqual([out.status, out.code], ["refused", "inconsistent_trace"]);
    assert.equal(bob.store.claim(id)?.status, "rejected");
  }
  assert.equal(bob.trustIn(dave), "untrusted");
  assert.match(bob.store.trustLog(dave.fp).at(-1)!.reason, /repeated unverifiable claims/);
});

Deno.test("CIP knowledge: DECISION_SHARE goes to decision memory; a decision id of another peer's trace is refused", async () => {
  const { net, bob, carol, dave } = await world();
  const share = {
    decision: { choice: "use copper", outcome: "worked", context: "wiring" },
    dmp_trace: { decision_id: DECISION, steps: ["compared metals"], evidence: ["datasheet"] },
    retrospective: "good call",
  };
  const [ok] = await net.send(dave, bob, { type: "DECISION_SHARE", payload: share });
  assert.equal(ok?.status, "handled");
  const stored = bob.store.decision(DECISION);
  assert.deepEqual([stored?.peer, stored?.choice, stored?.retrospective, stored?.context], [
    dave.fp,
    "use copper",
    "good call",
    "wiring",
  ]);
  const [stolen] = await net.send(carol, bob, { type: "DECISION_SHARE", payload: share });
  assert.deepEqual([stolen?.status, stolen?.code], ["refused", "inconsistent_trace"]);
  const [empty] = await net.send(carol, bob, {
    type: "DECISION_SHARE",
    payload: {
      ...share,
      dmp_trace: {
        ...share.dmp_trace,
        decision_id: "1b5a4f4e-2d7c-4b8e-9a41-6f0d8c1e2a3b",
        evidence: [],
      },
    },
  });
  assert.equal(empty?.code, "inconsistent_trace");
});

Deno.test("CIP: without trust anchors no peer ever becomes trusted, however many confirm each other", async () => {
  const { net, alice, bob, carol, dave, erin } = await world({ anchors: false });
  const peers = [alice, carol, dave, erin];
  for (const proposer of peers) {
    const { id } = await propose(
      net,
      proposer,
      bob,
      proposal(`fact.${proposer.name}`, proposer.name),
    );
    for (const voter of peers) {
      if (voter !== proposer) await vote(net, voter, bob, "FACT_CONFIRM", id);
    }
    assert.equal(bob.store.claim(id)?.status, "pending");
  }
  assert.deepEqual(peers.map((p) => bob.trustIn(p)), ["probing", "probing", "probing", "probing"]);
  assert.ok(peers.every((p) => bob.store.trustLog(p.fp).every((e) => e.to !== "trusted")));
});

Deno.test("CIP state: STATE_UPDATE keeps presence and lri per peer; intents are deferred when either side is overloaded", async () => {
  const { net, bob, dave, erin } = await world();
  await net.send(dave, bob, {
    type: "STATE_UPDATE",
    payload: {
      presence: "overloaded",
      lri: 97,
      ltppeerstate: "probing",
      kernel_signals: ["gc"],
      intent: "catch up",
    },
  });
  const p = bob.store.presence(dave.fp)!;
  assert.deepEqual([p.presence, p.lri, p.kernelSignals, p.intent], [
    "overloaded",
    97,
    ["gc"],
    "catch up",
  ]);
  const [deferred] = await net.send(dave, bob, {
    type: "INTENT",
    payload: { goal: "ask", topic: "metals", priority: "normal" },
  });
  assert.deepEqual([deferred?.status, deferred?.code, deferred?.retryAfterMs], [
    "deferred",
    "peer_overloaded",
    30_000,
  ]);
  const answer = JSON.parse(net.transcript.at(-1)!.wire);
  assert.deepEqual([answer.type, answer.payload.decision], ["INTENT", "defer"]);
  // Bob does not flood an overloaded peer.
  const out = bob.runtime.intent({ agent_id: "dave", fingerprint: dave.fp }, {
    goal: "learn",
    topic: "t",
    priority: "low",
  }, bob.ctx(dave.fp));
  assert.deepEqual([out.status, out.replies.length], ["deferred", 0]);
  const [accepted] = await net.send(erin, bob, {
    type: "INTENT",
    payload: { goal: "learn", topic: "metals", priority: "high" },
  });
  assert.equal(accepted?.status, "handled");
  assert.equal(JSON.parse(net.transcript.at(-1)!.wire).payload.decision, "accept");
  assert.equal(net.transcript.at(-1)!.outcome, "handled", "Erin records Bob's answer");
  bob.load = { presence: "focused", lri: 85 };
  const [busy] = await net.send(erin, bob, {
    type: "INTENT",
    payload: { goal: "ask", topic: "x", priority: "low" },
  });
  assert.deepEqual([busy?.status, busy?.code], ["deferred", "overloaded"]);
  const sent = bob.runtime.intent({ agent_id: "erin", fingerprint: erin.fp }, {
    goal: "learn",
    topic: "t",
    priority: "low",
  }, bob.ctx(erin.fp));
  assert.equal(sent.replies[0]?.type, "INTENT");
});

Deno.test("CIP knowledge: over the claims quota the commit is refused and nothing of the message is stored", async () => {
  const { net, bob, dave } = await world();
  const { id } = await propose(net, dave, bob, proposal("a", 1));
  using small = openStore(":memory:", { quotas: { claims: 1 } });
  const ctx = { ...bob.ctx(dave.fp), store: small };
  const env = JSON.parse(net.transcript.find((s) => JSON.parse(s.wire).msg_id === id)!.wire);
  const first = await bob.runtime.handle(env, ctx);
  small.commit(first.changes);
  const second = await bob.runtime.handle({
    ...env,
    msg_id: "6f9619ff-8b86-4d11-b42d-00c04fc96410",
    payload: proposal("b", 2),
  }, ctx);
  assert.throws(
    () => small.commit(second.changes),
    (e) => e instanceof QuotaExceededError && e.wireCode === "quota",
  );
  assert.equal(small.claim("6f9619ff-8b86-4d11-b42d-00c04fc96410"), undefined);
});
