import assert from "node:assert/strict";
import type { HcpPayloads, HcpType, HumanState } from "../../lib/envelope/mod.ts";
import type { Identity } from "../../lib/identity/mod.ts";
import { HcpRuntime } from "../../lib/hcp/runtime.ts";
import {
  CALM,
  deliveryOf,
  eventsOf,
  parties,
  World,
  type WorldOptions,
} from "./hcp_lip_fixture.ts";

const HELLO: HcpPayloads["HCP_HELLO"] = {
  identity: { name: "Ada", role: "owner" },
  consent_scope: ["topic:work", "calendar:*"],
  safety_flags: [],
};
const UPDATE: HcpPayloads["HCP_STATE_UPDATE"] = {
  presence: "focused",
  affect: "calm",
  clarity: 80,
  pressure: 20,
  consent: "granted",
};
const WORK: HcpPayloads["HCP_INTENT"] = { goal: "request", topic: "work", priority: "normal" };
const FEEDBACK: HcpPayloads["HCP_FEEDBACK"] = {
  feedback: "fine",
  corrections: [],
  satisfaction: 60,
};
/** One message of every HCP type that may not change consent. */
const NON_CONSENT: [Exclude<HcpType, "HCP_HELLO" | "HCP_STATE_UPDATE">, never][] = [
  ["HCP_INTENT", WORK],
  ["HCP_CONTEXT", { context: "deadline today", constraints: [], shared_history: [] }],
  ["HCP_DECISION", {
    decision: "Ship on Friday",
    rationale: "Tests are green",
    alternatives: ["Monday"],
    follow_up: "Tell the team",
  }],
  ["HCP_FEEDBACK", FEEDBACK],
  ["HCP_ERROR", { in_reply_to: "7f0c1e7e-2f7a-4b55-8a55-0e8b3c1e9d11", code: "busy", reason: "x" }],
] as never;

/** A world with an HCP runtime and a `say` that runs one envelope through it like the router. */
async function setup(options: WorldOptions & { pacingDelayMs?: number } = {}) {
  const world = new World(await parties(), options);
  const hcp = new HcpRuntime({ pacingDelayMs: options.pacingDelayMs ?? 10_000 });
  const say = async <T extends HcpType>(
    type: T,
    payload: HcpPayloads[T],
    human: Partial<HumanState> = {},
    from: Identity = world.p.person,
  ) => {
    const env = await world.envelope("hcp", type, from, payload, {
      state: { human: { ...CALM, ...human } },
    });
    return { ...await world.commit(hcp.handle(env, world.ctx(from))), msgId: env.msg_id };
  };
  return { world, hcp, say };
}

Deno.test("HCP refuses envelopes from anyone but the enrolled person, naming the sender", async () => {
  const { world, say } = await setup();
  using _ = world;
  const o = await say("HCP_HELLO", HELLO, {}, world.p.stranger);
  assert.equal(o.status, "refused");
  assert.equal(o.code, "not_person");
  assert.ok(o.reason?.includes(world.p.stranger.fingerprint));
  assert.ok(o.reason?.includes(world.p.person.fingerprint));
  assert.deepEqual(o.changes, []);
  assert.equal(world.store.person(world.p.stranger.fingerprint), undefined);
  assert.equal(world.store.person(world.p.person.fingerprint), undefined);
});

Deno.test("HCP refuses every envelope when no person is enrolled", async () => {
  const { world, hcp } = await setup();
  using _ = world;
  const env = await world.envelope("hcp", "HCP_HELLO", world.p.person, HELLO, {
    state: { human: CALM },
  });
  const ctx = { ...world.ctx(world.p.person), config: { overloadLri: 80 } };
  const o = hcp.handle(env, ctx);
  assert.equal(o.code, "not_person");
  assert.match(o.reason ?? "", /no enrolled person/);
});

Deno.test("HCP_HELLO records scope and flags and moves social trust untrusted -> probing", async () => {
  const { world, say } = await setup();
  using _ = world;
  const fp = world.p.person.fingerprint;
  assert.equal(world.ctx(fp).trust.person(fp), "untrusted");
  const o = await say("HCP_HELLO", HELLO);
  assert.equal(o.status, "handled");
  const rec = world.store.person(fp)!;
  assert.deepEqual(rec.consentScope, ["topic:work", "calendar:*"]);
  assert.deepEqual(rec.identity, { name: "Ada", role: "owner" });
  assert.deepEqual(rec.humanState, CALM);
  assert.equal(world.ctx(fp).trust.person(fp), "probing");
  assert.deepEqual(world.store.trustLog(fp).map((e) => [e.event, e.from, e.to]), [
    ["valid_hello", "untrusted", "probing"],
  ]);
});

Deno.test("HCP_HELLO with a malformed consent_scope entry is refused and nothing is stored", async () => {
  const { world, say } = await setup();
  using _ = world;
  const o = await say("HCP_HELLO", { ...HELLO, consent_scope: ["topic:work", "everything"] });
  assert.equal(o.status, "refused");
  assert.equal(o.code, "invalid_topic");
  assert.match(o.reason ?? "", /"everything"/);
  assert.equal(world.store.person(world.p.person.fingerprint), undefined);
});

Deno.test("HCP messages before the agent holds any consent are refused consent_mismatch and store nothing", async () => {
  const { world, say } = await setup();
  using _ = world;
  const fp = world.p.person.fingerprint;
  for (const consent of ["granted", "limited", "revoked"] as const) {
    for (const [type, payload] of NON_CONSENT) {
      const o = await say(type, payload, { consent });
      assert.equal(o.status, "refused", `${type} carrying ${consent}`);
      assert.equal(o.code, "consent_mismatch", `${type} carrying ${consent}`);
      assert.match(o.reason ?? "", /holds no consent of yours yet/);
      assert.deepEqual(o.changes, [], `${type} carrying ${consent} changes nothing`);
      assert.equal(deliveryOf(o), undefined);
    }
  }
  assert.equal(world.store.person(fp), undefined);
  assert.equal(world.ctx(fp).trust.person(fp), "untrusted");
});

Deno.test("HCP consent gating: granted delivers, limited delivers only inside consent_scope", async () => {
  const { world, say } = await setup();
  using _ = world;
  await say("HCP_HELLO", HELLO);
  const granted = await say("HCP_INTENT", { ...WORK, topic: "health" });
  assert.equal(granted.status, "handled");
  assert.deepEqual(deliveryOf(granted), {
    kind: "intent",
    msgId: deliveryOf(granted)?.msgId,
    person: world.p.person.fingerprint,
    goal: "request",
    topic: "topic:health",
    priority: "normal",
  });
  await say("HCP_STATE_UPDATE", { ...UPDATE, consent: "limited" });
  const inScope = await say("HCP_INTENT", { ...WORK, topic: "calendar:friday" }, {
    consent: "limited",
  });
  assert.equal(inScope.status, "handled");
  assert.equal(deliveryOf(inScope)?.kind, "intent");
  const outside = await say("HCP_INTENT", { ...WORK, topic: "health" }, { consent: "limited" });
  assert.equal(outside.status, "refused");
  assert.equal(outside.code, "out_of_scope");
  assert.match(outside.reason ?? "", /topic:health/);
  assert.equal(deliveryOf(outside), undefined);
  assert.equal(world.store.person(world.p.person.fingerprint)?.consent, "limited");
});

Deno.test("HCP consent revoked mid-conversation stops the next automated action", async () => {
  const { world, hcp, say } = await setup();
  using _ = world;
  const fp = world.p.person.fingerprint;
  await say("HCP_HELLO", HELLO);
  assert.equal((await say("HCP_INTENT", WORK)).status, "handled");
  assert.equal(hcp.mayAct(world.ctx(fp), "topic:work").verdict, "allowed");

  const revoke = await say("HCP_STATE_UPDATE", { ...UPDATE, consent: "revoked" });
  assert.equal(revoke.status, "handled");
  assert.ok(
    eventsOf(revoke).some((e) => e.kind === "hcp.consent_changed" && e.severity === "warn"),
  );
  assert.equal(world.ctx(fp).trust.person(fp), "restricted");

  // The agent's own next action, and the person's next request, are both refused.
  const gate = hcp.mayAct(world.ctx(fp), "topic:work");
  assert.equal(gate.verdict, "refused");
  assert.ok(gate.verdict === "refused" && gate.code === "consent_revoked");
  assert.ok(gate.verdict === "refused" && gate.error.message.includes('"topic:work"'));
  assert.deepEqual(gate.changes, []);
  const next = await say("HCP_INTENT", WORK, { consent: "revoked" });
  assert.equal(next.status, "refused");
  assert.equal(next.code, "consent_revoked");
  assert.equal(deliveryOf(next), undefined);

  // Restored consent goes back through probing, not straight to trusted.
  await say("HCP_STATE_UPDATE", { ...UPDATE, consent: "granted" });
  assert.equal(world.ctx(fp).trust.person(fp), "probing");
  assert.equal(hcp.mayAct(world.ctx(fp), "topic:work").verdict, "allowed");
});

Deno.test("HCP consent_mismatch: after a revocation, no non-consent HCP type carrying another consent grants it again or changes anything", async () => {
  const { world, hcp, say } = await setup();
  using _ = world;
  const fp = world.p.person.fingerprint;
  await say("HCP_HELLO", HELLO);
  await say("HCP_STATE_UPDATE", { ...UPDATE, consent: "revoked" });
  const before = world.store.person(fp)!;
  const trustLog = world.store.trustLog(fp).length;
  assert.equal(world.ctx(fp).trust.person(fp), "restricted");
  for (const consent of ["granted", "limited"] as const) {
    for (const [type, payload] of NON_CONSENT) {
      world.clock.advance(1_000);
      // What a page reloaded with its form's defaults would send.
      const o = await say(type, payload, { consent, affect: "energized", pressure: 90 });
      assert.equal(o.status, "refused", `${type} carrying ${consent}`);
      assert.equal(o.code, "consent_mismatch", `${type} carrying ${consent}`);
      assert.match(o.reason ?? "", new RegExp(`${type} carries consent "${consent}".*"revoked"`));
      assert.deepEqual(o.changes, []);
      assert.deepEqual(o.replies, [], "the runtime sends nothing; the router answers");
      assert.equal(deliveryOf(o), undefined);
      assert.deepEqual(
        o.effects.map((e) => e.type === "refused" && [e.code, e.messageType]),
        [["consent_mismatch", type]],
        "one refusal, no humanState and no consentChanged",
      );
    }
  }
  assert.deepEqual(world.store.person(fp), before, "the record did not move, not even pressure");
  assert.equal(world.store.trustLog(fp).length, trustLog);
  assert.equal(world.ctx(fp).trust.person(fp), "restricted");
  const gate = hcp.mayAct(world.ctx(fp), "topic:work");
  assert.ok(gate.verdict === "refused" && gate.code === "consent_revoked");
  // Carrying the recorded consent, a message goes through (and is gated as usual).
  const same = await say("HCP_INTENT", WORK, { consent: "revoked" });
  assert.equal(same.code, "consent_revoked");
  assert.equal((await say("HCP_FEEDBACK", FEEDBACK, { consent: "revoked" })).status, "handled");
});

Deno.test("HCP consent_mismatch: a non-consent HCP type carrying revoked does not revoke either", async () => {
  const { world, hcp, say } = await setup();
  using _ = world;
  const fp = world.p.person.fingerprint;
  await say("HCP_HELLO", HELLO);
  for (const [type, payload] of NON_CONSENT) {
    const o = await say(type, payload, { consent: "revoked" });
    assert.equal(o.code, "consent_mismatch", type);
  }
  assert.equal(world.store.person(fp)?.consent, "granted");
  assert.equal(world.ctx(fp).trust.person(fp), "probing");
  assert.equal(hcp.mayAct(world.ctx(fp), "topic:work").verdict, "allowed");
});

Deno.test("HCP consent changes through HCP_HELLO and HCP_STATE_UPDATE whatever consent the record holds", async () => {
  const { world, say } = await setup();
  using _ = world;
  const fp = world.p.person.fingerprint;
  await say("HCP_HELLO", HELLO, { consent: "limited" });
  assert.equal(world.store.person(fp)?.consent, "limited");
  await say("HCP_STATE_UPDATE", { ...UPDATE, consent: "revoked" }, { consent: "limited" });
  assert.equal(world.store.person(fp)?.consent, "revoked");
  await say("HCP_HELLO", HELLO, { consent: "granted" });
  assert.equal(world.store.person(fp)?.consent, "granted");
  assert.deepEqual(world.store.trustLog(fp).map((e) => e.event), [
    "valid_hello",
    "consent_revoked",
    "consent_restored",
    "valid_hello",
  ]);
});

Deno.test("HCP pacing defers intents under pressure with retry_after_ms and never drops them", async () => {
  const { world, say } = await setup({ pacingDelayMs: 10_000 });
  using _ = world;
  await say("HCP_HELLO", HELLO);
  const pressed = { pressure: 85 };
  const first = await say("HCP_INTENT", WORK, pressed);
  assert.equal(first.status, "deferred");
  assert.equal(first.code, "paced");
  assert.equal(first.retryAfterMs, 10_000);
  const [err] = first.signed;
  assert.equal(err?.type, "HCP_ERROR");
  assert.deepEqual(err?.payload, {
    in_reply_to: first.msgId,
    code: "paced",
    reason: first.reason,
    retry_after_ms: 10_000,
  });
  assert.equal(err?.receiver.fingerprint, world.p.person.fingerprint);
  // Held, not dropped: the runtime reports it as paced, and nothing reaches the agent yet.
  assert.deepEqual(
    first.effects.flatMap((e) => e.type === "intentPaced" ? [[e.msgId, e.retryAfterMs]] : []),
    [[first.msgId, 10_000]],
  );
  assert.equal(deliveryOf(first), undefined);

  world.clock.advance(4_000);
  const again = await say("HCP_INTENT", WORK, pressed);
  assert.equal(again.retryAfterMs, 6_000);
  world.clock.advance(6_000);
  const later = await say("HCP_INTENT", WORK, pressed);
  assert.equal(later.status, "handled");
  assert.equal(deliveryOf(later)?.kind, "intent");
  // The next one waits a full delay after that action.
  world.clock.advance(1);
  assert.equal((await say("HCP_INTENT", WORK, pressed)).retryAfterMs, 9_999);
  // Low clarity paces too; calm numbers end pacing.
  world.clock.advance(60_000);
  assert.equal((await say("HCP_INTENT", WORK, { clarity: 30 })).status, "handled");
  assert.equal((await say("HCP_INTENT", WORK)).status, "handled");
});

Deno.test("HCP anxious affect requires a check-in; feedback >= 50 answers it", async () => {
  const { world, hcp, say } = await setup();
  using _ = world;
  const fp = world.p.person.fingerprint;
  await say("HCP_HELLO", HELLO);
  const anxious = await say("HCP_STATE_UPDATE", { ...UPDATE, affect: "anxious" });
  assert.ok(eventsOf(anxious).some((e) => e.kind === "hcp.check_in_opened"));
  assert.equal(world.store.person(fp)?.checkInRequired, true);

  const held = await say("HCP_INTENT", WORK, { affect: "anxious" });
  assert.equal(held.status, "deferred");
  assert.equal(held.code, "check_in_required");
  assert.equal(deliveryOf(held), undefined);
  assert.equal(held.signed.length, 1, "the check-in question is asked");
  const [question] = held.signed;
  assert.equal(question?.type, "HCP_INTENT");
  assert.deepEqual(question?.payload, { goal: "clarify", topic: "check_in", priority: "high" });
  // Asked once: the next refusal and the agent's own gate ask no more.
  const held2 = await say("HCP_INTENT", WORK, { affect: "anxious" });
  assert.equal(held2.code, "check_in_required");
  assert.equal(held2.signed.length, 0);
  const gate = hcp.mayAct(world.ctx(fp), "work");
  assert.equal(gate.verdict, "check_in");
  assert.deepEqual(gate.replies, []);

  const notYet = await say("HCP_FEEDBACK", {
    feedback: "not now",
    corrections: [],
    satisfaction: 30,
  }, { affect: "anxious" });
  assert.equal(deliveryOf(notYet)?.kind, "feedback");
  assert.equal((await say("HCP_INTENT", WORK, { affect: "anxious" })).code, "check_in_required");
  await say("HCP_FEEDBACK", { feedback: "go on", corrections: [], satisfaction: 80 }, {
    affect: "anxious",
  });
  assert.equal(world.store.person(fp)?.checkInRequired, false);
  const go = await say("HCP_INTENT", WORK, { affect: "anxious" });
  assert.equal(go.status, "handled");
  assert.equal(deliveryOf(go)?.kind, "intent");
});

Deno.test("HCP mayAct asks the check-in question once when the agent wants to act", async () => {
  const { world, hcp, say } = await setup();
  using _ = world;
  const fp = world.p.person.fingerprint;
  await say("HCP_HELLO", HELLO);
  await say("HCP_CONTEXT", { context: "deadline today", constraints: [], shared_history: [] }, {
    affect: "tense",
  });
  const first = hcp.mayAct(world.ctx(fp), "topic:work");
  assert.equal(first.verdict, "check_in");
  assert.equal(first.replies.length, 1);
  await world.commit({
    status: "handled",
    changes: first.changes,
    replies: first.replies,
    effects: [],
  });
  assert.deepEqual(hcp.mayAct(world.ctx(fp), "topic:work").replies, []);
});

Deno.test("HCP_DECISION without rationale or alternatives is refused; a complete one is delivered", async () => {
  const { world, say } = await setup();
  using _ = world;
  await say("HCP_HELLO", HELLO);
  const d = {
    decision: "Ship on Friday",
    rationale: "Tests are green",
    alternatives: ["Monday"],
    follow_up: "Tell the team",
  };
  const noAlt = await say("HCP_DECISION", { ...d, alternatives: [] });
  assert.equal(noAlt.status, "refused");
  assert.equal(noAlt.code, "decision_incomplete");
  assert.match(noAlt.reason ?? "", /"Ship on Friday".*alternatives/);
  const blankAlt = await say("HCP_DECISION", { ...d, alternatives: ["  "] });
  assert.equal(blankAlt.code, "decision_incomplete");
  const noWhy = await say("HCP_DECISION", { ...d, rationale: "   " });
  assert.equal(noWhy.code, "decision_incomplete");
  assert.match(noWhy.reason ?? "", /rationale/);
  const ok = await say("HCP_DECISION", d);
  assert.equal(ok.status, "handled");
  const delivered = deliveryOf(ok);
  assert.deepEqual(delivered?.kind === "decision" && delivered.decision, d);
});

Deno.test("HCP human-state updates are kept per person through store changes", async () => {
  const { world, say } = await setup();
  using _ = world;
  const fp = world.p.person.fingerprint;
  await say("HCP_HELLO", HELLO);
  const o = await say("HCP_STATE_UPDATE", {
    presence: "diffuse",
    affect: "energized",
    clarity: 55,
    pressure: 40,
    consent: "limited",
  }, { intent: "write the report" });
  assert.deepEqual(o.changes.map((c) => c.kind), ["person.upsert"]);
  assert.deepEqual(world.store.person(fp)?.humanState, {
    presence: "diffuse",
    affect: "energized",
    clarity: 55,
    pressure: 40,
    intent: "write the report",
    consent: "limited",
  });
  assert.equal(world.store.person(fp)?.consent, "limited");
  assert.deepEqual(world.store.person(fp)?.consentScope, ["topic:work", "calendar:*"]);
});

Deno.test("HCP feedback moves social trust: validation -> trusted, repeated misunderstanding -> probing", async () => {
  const { world, say } = await setup();
  using _ = world;
  const fp = world.p.person.fingerprint;
  await say("HCP_HELLO", HELLO);
  await say("HCP_FEEDBACK", { feedback: "exactly", corrections: [], satisfaction: 90 });
  assert.equal(world.ctx(fp).trust.person(fp), "trusted");
  for (let i = 0; i < 3; i++) {
    world.clock.advance(1_000);
    await say("HCP_FEEDBACK", {
      feedback: "no",
      corrections: ["I meant Tuesday"],
      satisfaction: 60,
    });
  }
  assert.equal(world.ctx(fp).trust.person(fp), "probing");
  const events = world.store.trustLog(fp).map((e) => e.event);
  assert.deepEqual(events, [
    "valid_hello",
    "mutual_validation",
    "misunderstanding",
    "misunderstanding",
    "misunderstanding",
  ]);
});

Deno.test("HCP_ERROR from the person is recorded, never answered", async () => {
  const { world, say } = await setup();
  using _ = world;
  await say("HCP_HELLO", HELLO);
  const o = await say("HCP_ERROR", {
    in_reply_to: crypto.randomUUID(),
    code: "busy",
    reason: "in a meeting",
  });
  assert.equal(o.status, "handled");
  assert.deepEqual(o.replies, []);
  assert.ok(eventsOf(o).some((e) => e.kind === "hcp.error_received" && e.data.code === "busy"));
});

Deno.test("HCP state survives a restart: a revoked consent still refuses after reopening", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/agent.db`;
    {
      const { world, say } = await setup({ path });
      using _ = world;
      await say("HCP_HELLO", HELLO);
      await say("HCP_STATE_UPDATE", { ...UPDATE, consent: "revoked" });
    }
    const { world, hcp } = await setup({ path });
    using _ = world;
    const gate = hcp.mayAct(world.ctx(world.p.person), "topic:work");
    assert.ok(gate.verdict === "refused" && gate.code === "consent_revoked");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HCP runtime is deterministic: the same inputs, clock and random give the same outcome", async () => {
  const runs = [];
  for (let i = 0; i < 2; i++) {
    const { world, hcp } = await setup();
    using _ = world;
    const hello = await world.envelope("hcp", "HCP_HELLO", world.p.person, HELLO, {
      state: { human: { ...CALM, pressure: 90 } },
    });
    runs.push(hcp.handle(hello, world.ctx(world.p.person)));
    await world.commit(runs.at(-1)!);
    const intent = await world.envelope("hcp", "HCP_INTENT", world.p.person, WORK, {
      state: { human: { ...CALM, pressure: 90 } },
    });
    runs.push(hcp.handle(intent, world.ctx(world.p.person)));
  }
  // Envelopes differ (fresh msg_ids); compare what does not depend on them.
  const strip = (o: unknown) =>
    JSON.parse(
      JSON.stringify(
        o,
        (k, v) => (k === "msg_id" || k === "msgId" || k === "in_reply_to" || k === "openedBy" ||
            k === "evidence"
          ? undefined
          : v),
      ),
    );
  assert.deepEqual(strip(runs[0]), strip(runs[2]));
  assert.deepEqual(strip(runs[1]), strip(runs[3]));
  assert.equal(runs[1]?.code, "paced");
});
