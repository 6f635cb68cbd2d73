/**
 * The router with the real HCP and LIP runtimes: the person binding, HCP
 * refusals on the wire, and LIP gating by peer trust.
 */
import assert from "node:assert/strict";
import { CipRuntime } from "../../lib/cip/mod.ts";
import { createEnvelope, encodeEnvelope, type HumanState } from "../../lib/envelope/mod.ts";
import { CALM } from "./hcp_lip_fixture.ts";
import { HcpRuntime } from "../../lib/hcp/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { LipRuntime } from "../../lib/lip/mod.ts";
import { ProtocolRouter } from "../../lib/router/mod.ts";
import { effectsOf } from "../../lib/runtime/mod.ts";
import { openStore } from "../../lib/store/mod.ts";

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const [agent, person, stranger] = await Promise.all([
  Identity.generate({ agentId: "agent" }),
  Identity.generate({ agentId: "ada" }),
  Identity.generate({ agentId: "stranger" }),
]);

function router() {
  return new ProtocolRouter({
    identity: agent,
    store: openStore(":memory:"),
    runtimes: [new CipRuntime(), new HcpRuntime(), new LipRuntime()],
    now: () => T0,
    config: { person: person.fingerprint },
  });
}

async function hcp<T extends "HCP_HELLO" | "HCP_INTENT" | "HCP_STATE_UPDATE">(
  from: Identity,
  type: T,
  payload: unknown,
  human: Partial<HumanState> = {},
) {
  const env = await createEnvelope("hcp", type, {
    identity: from,
    receiver: { agent_id: "agent", fingerprint: agent.fingerprint },
    payload: payload as never,
    state: { human: { ...CALM, ...human } },
    clock: () => new Date(T0),
  });
  return encodeEnvelope(env);
}

const HELLO = {
  identity: { name: "Ada", role: "owner" },
  consent_scope: ["topic:work"],
  safety_flags: [],
};
const WORK = { goal: "request", topic: "work", priority: "normal" };

Deno.test("Router delivers the enrolled person's consented HCP_INTENT and refuses it after consent is revoked", async () => {
  const r = router();
  const from = { peer: person.fingerprint };
  assert.equal((await r.dispatch(await hcp(person, "HCP_HELLO", HELLO), from)).status, "handled");
  const intent = await r.dispatch(await hcp(person, "HCP_INTENT", WORK), from);
  assert.equal(intent.status, "handled");
  const [delivered] = effectsOf(intent.effects, "deliver");
  assert.equal(delivered?.delivery.kind, "intent");
  assert.equal(delivered.delivery.kind === "intent" && delivered.delivery.topic, "topic:work");
  const revoke = {
    presence: "focused",
    affect: "calm",
    clarity: 80,
    pressure: 20,
    consent: "revoked",
  };
  await r.dispatch(await hcp(person, "HCP_STATE_UPDATE", revoke, { consent: "revoked" }), from);
  const refused = await r.dispatch(
    await hcp(person, "HCP_INTENT", WORK, { consent: "revoked" }),
    from,
  );
  assert.equal(refused.status, "refused");
  assert.equal(refused.code, "consent_revoked");
  const [error] = refused.replies;
  assert.equal(error?.envelope.type, "HCP_ERROR");
  assert.equal(error?.channel, "control");
  assert.equal((error?.envelope.payload as { code: string }).code, "consent_revoked");
});

Deno.test("Router answers an HCP_INTENT carrying another consent than the record with HCP_ERROR consent_mismatch, echoing the record", async () => {
  const r = router();
  const from = { peer: person.fingerprint };
  await r.dispatch(await hcp(person, "HCP_HELLO", HELLO), from);
  const revoke = { ...CALM, consent: "revoked" } as Record<string, unknown>;
  delete revoke.intent;
  await r.dispatch(await hcp(person, "HCP_STATE_UPDATE", revoke, { consent: "revoked" }), from);
  const trust = r.trust.person(person.fingerprint);
  // A reloaded page's defaults: granted.
  const refused = await r.dispatch(await hcp(person, "HCP_INTENT", WORK), from);
  assert.equal(refused.status, "refused");
  assert.equal(refused.code, "consent_mismatch");
  assert.deepEqual(effectsOf(refused.effects, "deliver"), []);
  const [error] = refused.replies;
  assert.equal(error?.envelope.type, "HCP_ERROR");
  assert.equal((error?.envelope.payload as { code: string }).code, "consent_mismatch");
  const echoed = (error?.envelope.state as { human: HumanState }).human;
  assert.equal(echoed.consent, "revoked", "the reply tells the person what the agent holds");
  assert.equal(r.store.person(person.fingerprint)?.consent, "revoked");
  assert.equal(r.trust.person(person.fingerprint), trust);
  assert.equal(trust, "restricted");
});

Deno.test("Router answers HCP from anyone but the enrolled person with HCP_ERROR not_person", async () => {
  const r = router();
  const result = await r.dispatch(await hcp(stranger, "HCP_HELLO", HELLO), {
    peer: stranger.fingerprint,
  });
  assert.equal(result.status, "refused");
  assert.equal(result.code, "not_person");
  assert.equal(result.replies[0]?.envelope.type, "HCP_ERROR");
  assert.equal(r.store.person(stranger.fingerprint), undefined);
});

Deno.test("Router refuses LIP evidence from an untrusted peer but takes a fetch request from the person", async () => {
  const r = router();
  const evidence = await createEnvelope("lip", "LIP_EVIDENCE", {
    identity: stranger,
    receiver: { agent_id: "agent", fingerprint: agent.fingerprint },
    payload: {
      claims: ["water boils at 100 C"],
      evidence: ["page"],
      confidence: 0.9,
      extraction_notes: "n",
    },
    source: {
      uri: "http://127.0.0.1/water",
      trust_tier: "medium",
      retrieved_at: new Date(T0).toISOString(),
    },
    clock: () => new Date(T0),
  });
  const refused = await r.dispatch(encodeEnvelope(evidence), { peer: stranger.fingerprint });
  assert.equal(refused.code, "untrusted");
  assert.equal(refused.replies[0]?.envelope.type, "LIP_ERROR");
  const fetch = await createEnvelope("lip", "LIP_FETCH", {
    identity: person,
    receiver: { agent_id: "agent", fingerprint: agent.fingerprint },
    payload: { query: "boiling point of water", constraints: [] },
    clock: () => new Date(T0),
  });
  const asked = await r.dispatch(encodeEnvelope(fetch), { peer: person.fingerprint });
  assert.notEqual(asked.code, "untrusted");
  const [fetched] = effectsOf(asked.effects, "fetch");
  assert.equal(fetched?.request.query, "boiling point of water", "the runtime asks for a fetch");
  assert.equal(fetched.request.requester, person.fingerprint);
});
