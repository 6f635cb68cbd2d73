import assert from "node:assert/strict";
import type { FreeForm, LipPayloads, LipType } from "../../lib/envelope/mod.ts";
import type { Identity } from "../../lib/identity/mod.ts";
import { claimId } from "../../lib/lip/claims.ts";
import { LipRuntime, type LipRuntimeOptions } from "../../lib/lip/runtime.ts";
import { openStore, QuotaExceededError } from "../../lib/store/mod.ts";
import { createTrustView, TrustBatch } from "../../lib/trust/mod.ts";
import { eventsOf, fetchOf, parties, World } from "./hcp_lip_fixture.ts";

const WATER = "https://water.example/boiling";
const OTHER = "https://other.example/boiling";
const BP = { domain: "chem", subject: "water_bp_c", value: 100 };

/**
 * A world where peer A and peer B are trusted (declared anchors), peer C is
 * probing (valid handshake) and the stranger untrusted; `send` runs one LIP
 * envelope through the runtime and commits like the router.
 */
async function setup(options: LipRuntimeOptions & { path?: string; quota?: number } = {}) {
  const p = await parties();
  const world = new World(p, {
    ...(options.path === undefined ? {} : { path: options.path }),
    trust: { anchors: [p.peerA.fingerprint, p.peerB.fingerprint], owner: "Ada" },
  });
  world.declareAnchors();
  const view = createTrustView(world.store, world.options.trust, () => world.clock.now);
  const batch = new TrustBatch(view, world.clock.now);
  batch.apply("cip", p.peerC.fingerprint, { type: "valid_handshake" });
  world.store.commit(batch.changes);
  const lip = new LipRuntime({ claimTtlMs: 60_000, ...options });
  const send = async <T extends LipType>(
    type: T,
    from: Identity,
    payload: LipPayloads[T],
    source: { uri?: string; retrieved_at?: string } | null = {},
  ) => {
    const block = source === null ? {} : {
      source: {
        uri: source.uri ?? WATER,
        trust_tier: "unknown",
        retrieved_at: source.retrieved_at ?? new Date(world.clock.now - 1_000).toISOString(),
      },
    };
    const env = await world.envelope("lip", type, from, payload, block);
    return await world.commit(lip.handle(env, world.ctx(from)));
  };
  const evidence = (
    from: Identity,
    claims: FreeForm[] = [BP],
    source: { uri?: string; retrieved_at?: string } = {},
    items: FreeForm[] = [{ sha256: "ab".repeat(32) }],
  ) =>
    send("LIP_EVIDENCE", from, {
      claims,
      evidence: items,
      confidence: 0.8,
      extraction_notes: "test",
    }, source);
  return { world, lip, send, evidence, p };
}

const accept = (reason: string): LipPayloads["LIP_ACCEPT"] => ({
  decision: "accept",
  reason,
  corroborators: [],
});

Deno.test("LIP deferred acceptance: a claim from an unknown source waits pending", async () => {
  const { world, evidence, p } = await setup();
  using _ = world;
  const o = await evidence(p.peerC);
  assert.equal(o.status, "deferred");
  assert.equal(o.code, "pending");
  assert.match(o.reason ?? "", /0 of 2 trusted corroborators/);
  const item = world.store.lipItem(claimId(BP, WATER))!;
  assert.equal(item.status, "pending");
  assert.equal(item.peer, p.peerC.fingerprint);
  assert.equal(item.expiresMs, world.clock.now + 60_000);
  assert.equal(
    world.store.causalFact(item.id),
    undefined,
    "only accepted claims reach causal memory",
  );
  assert.equal(
    world.store.lipSource("https://water.example"),
    undefined,
    "a probing peer's provenance moves no source's record",
  );
  await evidence(p.peerA, [{ ...BP, value: 99, subject: "other" }]);
  assert.equal(
    world.store.lipSource("https://water.example")?.tier,
    "low",
    "a trusted peer's does",
  );
});

Deno.test("LIP corroboration: a trusted peer's own evidence for the same claim and source and a trusted peer's LIP_ACCEPT accept a claim into causal memory; probing and untrusted peers never count", async () => {
  const { world, send, evidence, p } = await setup();
  using _ = world;
  const id = claimId(BP, WATER);
  await evidence(p.peerC);
  assert.deepEqual(
    world.store.lipItem(id)?.corroborators,
    [],
    "a probing peer's evidence counts for nothing",
  );
  // A trusted peer's own evidence for the same claim and source corroborates (PROTOCOLS.md section 4).
  const a0 = await evidence(p.peerA);
  assert.equal(a0.status, "deferred");
  assert.deepEqual(world.store.lipItem(id)?.corroborators, [p.peerA.fingerprint]);
  // Probing and untrusted peers do not count.
  assert.equal((await send("LIP_ACCEPT", p.peerC, accept(`claim:${id}`))).code, "untrusted");
  assert.equal((await send("LIP_ACCEPT", p.stranger, accept(`claim:${id}`))).code, "untrusted");
  assert.equal(world.store.lipItem(id)?.status, "pending");
  const a = await send("LIP_ACCEPT", p.peerA, accept(`judged claim:${id}`));
  assert.equal(a.status, "handled");
  assert.deepEqual(
    world.store.lipItem(id)?.corroborators,
    [p.peerA.fingerprint],
    "one peer counts once",
  );
  const b = await send("LIP_ACCEPT", p.peerB, accept(`verified claim:${id}`));
  assert.equal(b.status, "handled");
  const item = world.store.lipItem(id)!;
  assert.equal(item.status, "accepted");
  assert.deepEqual(item.corroborators, [p.peerA.fingerprint, p.peerB.fingerprint]);
  const fact = world.store.causalFact(id)!;
  assert.equal(fact.origin, "lip");
  assert.equal(fact.subject, "water_bp_c");
  assert.equal(fact.valueCanon, "100");
  assert.deepEqual(fact.fact.sources, [WATER]);
  assert.deepEqual(world.store.causalLinks(id), [{
    from: id,
    relation: "derived_from",
    ref: WATER,
  }]);
  assert.equal(
    world.store.lipSource("https://water.example")?.accurate,
    0,
    "corroboration by re-fetching never counts as the source's accuracy",
  );
  assert.ok(eventsOf(b).some((e) => e.kind === "lip.claim" && e.data.to === "accepted"));
});

Deno.test("LIP a source of tier >= medium is accepted without corroboration", async () => {
  const { world, evidence, p } = await setup({
    sourceTiers: { "https://water.example": "medium" },
  });
  using _ = world;
  const o = await evidence(p.peerC);
  assert.equal(o.status, "handled");
  assert.equal(world.store.lipItem(claimId(BP, WATER))?.status, "accepted");
  assert.ok(world.store.causalFact(claimId(BP, WATER)));
});

Deno.test("LIP blocked sources are rejected at once, even from trusted peers", async () => {
  const { world, evidence, p } = await setup({
    sourceTiers: { "https://water.example": "blocked" },
  });
  using _ = world;
  const o = await evidence(p.peerA);
  assert.equal(o.status, "refused");
  assert.equal(o.code, "blocked_source");
  assert.equal(world.store.lipItem(claimId(BP, WATER))?.status, "rejected");
  assert.equal(world.store.causalFact(claimId(BP, WATER)), undefined);
});

Deno.test("LIP evidence without provenance or with a future retrieved_at is rejected", async () => {
  const { world, evidence, p } = await setup({ sourceTiers: { "https://water.example": "high" } });
  using _ = world;
  const bare = await evidence(p.peerA, [BP], {}, []);
  assert.equal(bare.code, "no_provenance");
  const future = await evidence(p.peerA, ["a claim"], {
    retrieved_at: new Date(world.clock.now + 3_600_000).toISOString(),
  });
  assert.equal(future.code, "no_provenance");
  assert.match(future.reason ?? "", /not a past time/);
});

Deno.test("LIP evidence fetched by an untrusted peer is rejected as low trust", async () => {
  const { world, evidence, p } = await setup();
  using _ = world;
  const o = await evidence(p.stranger);
  assert.equal(o.status, "refused");
  assert.equal(o.code, "low_trust");
});

Deno.test("LIP conflict resolution: a claim contradicting accepted knowledge is disputed, not accepted", async () => {
  const { world, lip, evidence, p } = await setup({
    sourceTiers: { "https://water.example": "high", "https://other.example": "high" },
  });
  using _ = world;
  await evidence(p.peerA);
  const wrong = { ...BP, value: 90 };
  const o = await evidence(p.peerC, [wrong], { uri: OTHER });
  assert.equal(o.status, "deferred");
  const id = claimId(wrong, OTHER);
  const item = world.store.lipItem(id)!;
  assert.equal(item.status, "disputed");
  assert.match(item.reason, new RegExp(claimId(BP, WATER)));
  assert.equal(world.store.causalFact(id), undefined);
  // Corroboration does not settle a contradiction with accepted knowledge...
  await world.commit(lip.sweep(world.ctx(p.agent)));
  assert.equal(world.store.lipItem(id)?.status, "disputed");
  // ...a named human does.
  assert.throws(() => lip.resolve(id, "accept", " ", world.ctx(p.agent)), TypeError);
  const r = await world.commit(lip.resolve(id, "reject", "Ada", world.ctx(p.agent)));
  assert.equal(world.store.lipItem(id)?.status, "rejected");
  assert.equal(world.store.lipItem(id)?.reason, "rejected by Ada");
  assert.equal(world.store.lipSource("https://other.example")?.inaccurate, 1);
  assert.ok(eventsOf(r).some((e) => e.data.event === "refuted"));
  assert.throws(() => lip.resolve(id, "accept", "Ada", world.ctx(p.agent)), {
    code: "invalid_transition",
  });
  assert.throws(() => lip.resolve("f".repeat(64), "accept", "Ada", world.ctx(p.agent)), {
    code: "unknown_claim",
  });
});

Deno.test("LIP trusted disputes: LIP_CONFLICT disputes, a trusted majority resolves or refutes", async () => {
  const { world, send, evidence, p } = await setup();
  using _ = world;
  const id = claimId(BP, WATER);
  await evidence(p.peerC);
  const conflict = await send("LIP_CONFLICT", p.peerA, {
    conflicts: ["our reading says 90"],
    local_refs: [id],
    severity: "medium",
  });
  assert.equal(conflict.status, "handled");
  assert.equal(world.store.lipItem(id)?.status, "disputed");
  assert.deepEqual(world.store.lipItem(id)?.disputers, [p.peerA.fingerprint]);
  // One trusted corroborator against one disputer: unresolved (needs 2 + 1).
  await send("LIP_ACCEPT", p.peerB, accept(`claim:${id}`));
  assert.equal(world.store.lipItem(id)?.status, "disputed");
  // The disputer changes its mind: its word moves to the corroborators, and 2 >= 2 + 0 resolves.
  await send("LIP_ACCEPT", p.peerA, accept(`claim:${id}`));
  assert.equal(world.store.lipItem(id)?.status, "accepted");
  assert.deepEqual(world.store.lipItem(id)?.disputers, []);

  // Refutation: a second claim disputed by both trusted peers is rejected.
  const other = { ...BP, subject: "ice_mp_c", value: 0 };
  const id2 = claimId(other, WATER);
  await evidence(p.peerC, [other]);
  await send("LIP_REJECT", p.peerA, {
    decision: "reject",
    reason: `wrong claim:${id2}`,
    corroborators: [],
  });
  await send("LIP_REJECT", p.peerB, {
    decision: "reject",
    reason: `wrong claim:${id2}`,
    corroborators: [],
  });
  assert.equal(world.store.lipItem(id2)?.status, "rejected");
  assert.match(world.store.lipItem(id2)?.reason ?? "", /2 trusted disputers/);
  // Naming nothing open is ignored, not an error.
  const none = await send("LIP_CONFLICT", p.peerA, {
    conflicts: [],
    local_refs: [],
    severity: "low",
  }, {
    uri: "https://nothing.example/",
  });
  assert.equal(none.status, "ignored");
  assert.equal(none.code, "unknown_claim");
});

Deno.test("LIP pending claims expire after the configured time as rejected with a reason", async () => {
  const { world, lip, evidence, p } = await setup({ claimTtlMs: 60_000 });
  using _ = world;
  const id = claimId(BP, WATER);
  await evidence(p.peerC);
  world.clock.advance(59_999);
  const early = await world.commit(lip.sweep(world.ctx(p.agent)));
  assert.deepEqual(early.changes, []);
  world.clock.advance(1);
  const o = await world.commit(lip.sweep(world.ctx(p.agent)));
  const item = world.store.lipItem(id)!;
  assert.equal(item.status, "rejected");
  assert.match(item.reason, /pending for 60000 ms \(limit 60000 ms\)/);
  assert.ok(eventsOf(o).some((e) => e.data.event === "expired" && e.severity === "warn"));
  // Fresh evidence queues it again.
  await evidence(p.peerC);
  assert.equal(world.store.lipItem(id)?.status, "pending");
});

Deno.test("LIP an overloaded local state defers acceptance; a sweep accepts once it clears", async () => {
  const { world, lip, evidence, p } = await setup({
    sourceTiers: { "https://water.example": "high" },
  });
  using _ = world;
  world.load = { presence: "overloaded", lri: 95 };
  const o = await evidence(p.peerA);
  assert.equal(o.status, "deferred");
  assert.match(o.reason ?? "", /overloaded/);
  assert.equal(world.store.lipItem(claimId(BP, WATER))?.status, "pending");
  world.load = { presence: "focused", lri: 10 };
  await world.commit(lip.sweep(world.ctx(p.agent)));
  assert.equal(world.store.lipItem(claimId(BP, WATER))?.status, "accepted");
});

Deno.test("LIP source tiers: corroborated claims never lift a source above low; medium only from the owner's pin", async () => {
  const { world, send, p } = await setup();
  using _ = world;
  const key = "https://water.example";
  for (let i = 0; i < 9; i++) {
    const claim = { domain: "chem", subject: `fact_${i}`, value: i };
    const id = claimId(claim, WATER);
    await send("LIP_EVIDENCE", p.peerA, {
      claims: [claim],
      evidence: [{ sha256: "ab".repeat(32) }],
      confidence: 0.8,
      extraction_notes: "test",
    }, {});
    await send("LIP_ACCEPT", p.peerA, accept(`claim:${id}`));
    await send("LIP_ACCEPT", p.peerB, accept(`claim:${id}`));
    assert.equal(world.store.lipItem(id)?.status, "accepted");
  }
  assert.equal(world.store.lipSource(key)?.tier, "low");
  const next = { domain: "chem", subject: "fact_next", value: 3 };
  const fresh = await send("LIP_EVIDENCE", p.peerC, {
    claims: [next],
    evidence: [{ sha256: "ab".repeat(32) }],
    confidence: 0.8,
    extraction_notes: "test",
  }, {});
  assert.equal(fresh.status, "deferred", "a source's tier alone accepts nothing it earned itself");
  assert.equal(world.store.lipItem(claimId(next, WATER))?.status, "pending");

  // A record a former rule raised to medium counts as low; the owner's pin is what grants medium.
  world.store.commit([{
    kind: "lip.source",
    source: { uri: key, tier: "medium", accurate: 3, inaccurate: 0, updatedMs: world.clock.now },
  }]);
  assert.equal(new LipRuntime().tierOf(WATER, world.ctx(p.agent)), "low");
  const pinned = new LipRuntime({ sourceTiers: { [key]: "medium" } });
  assert.equal(pinned.tierOf(WATER, world.ctx(p.agent)), "medium");
});

Deno.test("LIP source tiers: a named human's acceptance counts as accuracy, refutations push a source down to blocked", async () => {
  const { world, lip, send, evidence, p } = await setup();
  using _ = world;
  const key = "https://water.example";
  const dispute = async (i: number, decision: "accept" | "reject") => {
    const claim = { domain: "chem", subject: `d_${i}`, value: i };
    const id = claimId(claim, WATER);
    await evidence(p.peerC, [claim]);
    await send("LIP_REJECT", p.peerA, {
      decision: "reject",
      reason: `claim:${id}`,
      corroborators: [],
    });
    assert.equal(world.store.lipItem(id)?.status, "disputed");
    await world.commit(lip.resolve(id, decision, "Ada", world.ctx(p.agent)));
  };
  await dispute(0, "accept");
  assert.deepEqual(
    [world.store.lipSource(key)?.accurate, world.store.lipSource(key)?.tier],
    [1, "low"],
  );
  for (let i = 1; i <= 3; i++) await dispute(i, "reject");
  assert.equal(world.store.lipSource(key)?.tier, "blocked");
});

Deno.test("LIP_FETCH: only the person and trusted peers may cause a fetch, charged to them, with constraints the fetcher honours", async () => {
  const { world, lip, send, p } = await setup();
  using _ = world;
  const ok = await send("LIP_FETCH", p.peerA, {
    query: "https://water.example/boiling",
    constraints: ["domain:water.example", "no_personal_data"],
  }, null);
  assert.equal(ok.status, "deferred");
  assert.equal(ok.code, "fetch_requested");
  assert.deepEqual(fetchOf(ok), {
    query: "https://water.example/boiling",
    constraints: ["domain:water.example", "no_personal_data"],
    requestId: fetchOf(ok)?.requestId,
    requester: p.peerA.fingerprint,
    requesterAgentId: "peer-a",
    chargedTo: p.peerA.fingerprint,
  });
  const person = await send("LIP_FETCH", p.person, { query: WATER, constraints: [] }, null);
  assert.equal(fetchOf(person)?.chargedTo, p.person.fingerprint);
  for (const who of [p.peerC, p.stranger]) {
    const refused = await send("LIP_FETCH", who, { query: WATER, constraints: [] }, null);
    assert.equal(refused.status, "refused");
    assert.equal(refused.code, "not_allowed");
    assert.equal(fetchOf(refused), undefined, "no fetch effect");
  }
  assert.deepEqual(
    [p.agent, p.person, p.peerA, p.peerC, p.stranger].map((x) =>
      lip.fetchAccountOf(x.fingerprint, world.ctx(x))
    ),
    ["self", "self", "trusted", undefined, undefined],
  );
  const odd = await send("LIP_FETCH", p.peerA, { query: "x", constraints: ["lang:en"] }, null);
  assert.equal(odd.code, "unsupported_constraint");
  assert.match(odd.reason ?? "", /"lang:en"/);
});

Deno.test("LIP_ERROR is recorded and never answered; oversized evidence is refused", async () => {
  const { world, send, evidence, p } = await setup({ maxClaimsPerEvidence: 2 });
  using _ = world;
  const e = await send("LIP_ERROR", p.peerA, {
    in_reply_to: crypto.randomUUID(),
    code: "quota",
    reason: "too much",
  }, null);
  assert.equal(e.status, "handled");
  assert.deepEqual(e.replies, []);
  // Recorded: the error reaches the agent as an effect, and telemetry as lip.error_received.
  assert.deepEqual(
    e.effects.map((x) => x.type === "errorReceived" && [x.protocol, x.peer, x.code]),
    [["lip", p.peerA.fingerprint, "quota"]],
  );
  assert.deepEqual(eventsOf(e).map((x) => [x.kind, x.data.reason]), [[
    "lip.error_received",
    "too much",
  ]]);
  const big = await evidence(p.peerA, ["a", "b", "c"]);
  assert.equal(big.code, "too_many_claims");
  assert.deepEqual(big.changes, []);
});

Deno.test("LIP queue quota: over it the router's commit stores nothing", async () => {
  const { world, lip, p } = await setup();
  using _ = world;
  const env = await world.envelope("lip", "LIP_EVIDENCE", p.peerC, {
    claims: ["one", "two"],
    evidence: ["page"],
    confidence: 0.5,
    extraction_notes: "test",
  }, {
    source: {
      uri: WATER,
      trust_tier: "unknown",
      retrieved_at: new Date(world.clock.now).toISOString(),
    },
  });
  using store = openStore(":memory:", { quotas: { lip_queue: 1 } });
  const o = lip.handle(env, { ...world.ctx(p.peerC), store });
  assert.equal(o.changes.filter((c) => c.kind === "lip.upsert").length, 2);
  assert.throws(() => store.commit(o.changes), QuotaExceededError);
  assert.deepEqual(store.lipItems("pending"), []);
});

Deno.test("LIP queue and tiers survive a restart", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/agent.db`;
    {
      const { world, evidence, p } = await setup({ path });
      using _ = world;
      await evidence(p.peerA);
    }
    const { world, lip, p } = await setup({ path });
    using _ = world;
    assert.equal(world.store.lipItem(claimId(BP, WATER))?.status, "pending");
    assert.equal(lip.tierOf(WATER, world.ctx(p.agent)), "low");
    world.clock.advance(60_000);
    await world.commit(lip.sweep(world.ctx(p.agent)));
    assert.equal(world.store.lipItem(claimId(BP, WATER))?.status, "rejected");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LIP the agent's own fetch waits for trusted peers that fetched the same claim from the same source", async () => {
  const { world, lip, evidence, p } = await setup();
  using _ = world;
  const doc = {
    url: WATER,
    finalUrl: WATER,
    redirects: [],
    status: 200,
    contentType: "text/plain",
    text: "Water boils at 100 C.",
    bytes: 21,
    sha256: "cd".repeat(32),
    retrievedAt: new Date(world.clock.now).toISOString(),
    topics: ["chem"],
  };
  const request = {
    query: WATER,
    constraints: [],
    requestId: "",
    requester: p.agent.fingerprint,
    requesterAgentId: "agent",
    chargedTo: p.agent.fingerprint,
  };
  const own = await world.commit(lip.fetched(request, doc, world.ctx(p.agent), {
    extract: (d) => (d.text.includes("100 C") ? [BP] : []),
    confidence: 0.9,
  }));
  assert.deepEqual(own.replies, [], "nobody else asked: no LIP_EVIDENCE is sent");
  const id = claimId(BP, WATER);
  assert.equal(world.store.lipItem(id)?.status, "pending");
  assert.equal(world.store.lipItem(id)?.confidence, 0.9);
  // The same claim from the same source has the same id on every agent.
  await evidence(p.peerA);
  assert.equal(
    world.store.lipItem(id)?.status,
    "pending",
    "one trusted fetch is one corroboration",
  );
  await evidence(p.peerB);
  assert.equal(world.store.lipItem(id)?.status, "accepted");
  assert.deepEqual(world.store.lipItem(id)?.corroborators, [
    p.peerA.fingerprint,
    p.peerB.fingerprint,
  ]);
});
