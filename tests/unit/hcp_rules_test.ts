import assert from "node:assert/strict";
import type { HumanState } from "../../lib/envelope/mod.ts";
import {
  actionTopic,
  checkConsentScope,
  inConsentScope,
  parseScopeEntry,
} from "../../lib/hcp/consent.ts";
import { type ActionVerdict, gateAction } from "../../lib/hcp/gate.ts";
import {
  answerCheckIn,
  applyHello,
  applyHumanVector,
  initialPersonState,
  type PersonState,
  recordAction,
} from "../../lib/hcp/human_state.ts";
import { CALM } from "./hcp_lip_fixture.ts";

const PERSON = "ab".repeat(32);

function person(human: Partial<HumanState> = {}, scope: string[] = [], at = 0): PersonState {
  const hello = applyHello(initialPersonState(PERSON, at), {
    identity: { name: "Ada", role: "owner" },
    consent_scope: scope,
    safety_flags: [],
  }, at).state;
  return applyHumanVector(hello, { ...CALM, ...human }, "m0", at).state;
}

function code(v: ActionVerdict): string {
  return v.verdict === "allowed" ? "allowed" : v.code;
}

Deno.test("consent scope entries match exactly or by kind with *", () => {
  assert.ok(inConsentScope(["topic:work"], "topic:work"));
  assert.ok(!inConsentScope(["topic:work"], "topic:workshop"));
  assert.ok(inConsentScope(["calendar:today", "topic:*"], "topic:anything"));
  assert.ok(!inConsentScope(["topic:*"], "mail:inbox"));
  assert.ok(!inConsentScope(["*:*"], "topic:work"), "only the value may be a wildcard");
  assert.ok(!inConsentScope(["topic"], "topic:topic"), "malformed entries never match");
  assert.ok(!inConsentScope([], "topic:work"));
  assert.deepEqual(parseScopeEntry("a:b:c"), { kind: "a", value: "b:c" });
  assert.equal(parseScopeEntry(":x"), null);
  assert.equal(parseScopeEntry("topic: x"), null);
  assert.throws(
    () => checkConsentScope(["topic:work", "bad entry"]),
    (e: Error) => e.message.includes('"bad entry"'),
  );
});

Deno.test("action topics are kind:value; a bare word is a topic", () => {
  assert.equal(actionTopic("work"), "topic:work");
  assert.equal(actionTopic("mail:inbox"), "mail:inbox");
  assert.throws(() => actionTopic(""), { code: "invalid_topic" });
  assert.throws(() => actionTopic("topic:*"), { code: "invalid_topic" });
  assert.throws(
    () => gateAction(null, "trusted", "x:", 0),
    (e: Error) => e.message.includes('"x:"'),
  );
});

Deno.test("gate refuses every action when consent is revoked, whatever the scope", () => {
  const s = person({ consent: "revoked" }, ["topic:*"]);
  const v = gateAction(s, "trusted", "topic:work", 1);
  assert.equal(code(v), "consent_revoked");
  assert.ok(v.verdict === "refused" && v.error.message.includes('"topic:work"'));
  assert.equal(code(gateAction(s, "probing", "mail:inbox", 1)), "consent_revoked");
});

Deno.test("gate allows limited consent only inside consent_scope", () => {
  const s = person({ consent: "limited" }, ["topic:work", "calendar:*"]);
  assert.equal(code(gateAction(s, "trusted", "work", 1)), "allowed");
  assert.equal(code(gateAction(s, "trusted", "calendar:friday", 1)), "allowed");
  const out = gateAction(s, "trusted", "topic:health", 1);
  assert.equal(code(out), "out_of_scope");
  assert.ok(out.verdict === "refused" && out.reason.includes("topic:health"));
  // Granted consent does not consult the scope.
  assert.equal(code(gateAction(person({}, []), "trusted", "topic:health", 1)), "allowed");
});

Deno.test("gate refuses before any human-state vector and for restricted or untrusted relations", () => {
  assert.equal(code(gateAction(null, "trusted", "topic:work", 0)), "no_consent");
  assert.equal(
    code(gateAction(initialPersonState(PERSON, 0), "trusted", "topic:work", 0)),
    "no_consent",
  );
  const s = person();
  assert.equal(code(gateAction(s, "restricted", "topic:work", 0)), "restricted");
  assert.equal(code(gateAction(s, "untrusted", "topic:work", 0)), "untrusted");
  assert.equal(code(gateAction(s, "probing", "topic:work", 0)), "allowed");
});

Deno.test("pacing: pressure >= 80 or clarity <= 30 spaces actions by the configured delay", () => {
  const opts = { pacingDelayMs: 10_000 };
  for (const human of [{ pressure: 80 }, { clarity: 30 }]) {
    const s = person(human, [], 1_000);
    assert.equal(s.pacedSinceMs, 1_000);
    const v = gateAction(s, "trusted", "topic:work", 4_000, opts);
    assert.ok(v.verdict === "paced");
    assert.equal(v.retryAfterMs, 7_000);
    assert.equal(code(gateAction(s, "trusted", "topic:work", 11_000, opts)), "allowed");
    const acted = recordAction(s, 11_000);
    const again = gateAction(acted, "trusted", "topic:work", 12_000, opts);
    assert.ok(again.verdict === "paced" && again.retryAfterMs === 9_000);
  }
  // Just below the thresholds nothing is paced.
  const calm = person({ pressure: 79, clarity: 31 });
  assert.equal(calm.pacedSinceMs, null);
  assert.equal(
    code(gateAction(recordAction(calm, 0), "trusted", "topic:work", 1, opts)),
    "allowed",
  );
});

Deno.test("pacing ends when pressure and clarity recover, and slow_pacing keeps it on", () => {
  const pressed = person({ pressure: 95 }, [], 0);
  const { state, notes } = applyHumanVector(pressed, CALM, "m2", 500);
  assert.equal(state.pacedSinceMs, null);
  assert.deepEqual(notes.map((n) => n.kind), ["pacing_ended"]);
  const slow = applyHello(state, {
    identity: { name: "Ada", role: "owner" },
    consent_scope: [],
    safety_flags: ["slow_pacing"],
  }, 600).state;
  assert.equal(slow.pacedSinceMs, 600);
  assert.equal(
    code(gateAction(slow, "trusted", "topic:work", 700, { pacingDelayMs: 1_000 })),
    "paced",
  );
});

Deno.test("anxious or tense affect opens a check-in that only feedback >= 50 closes", () => {
  const s = person();
  const { state: anxious, notes } = applyHumanVector(s, { ...CALM, affect: "anxious" }, "m5", 10);
  assert.deepEqual(notes.map((n) => n.kind), ["check_in_opened"]);
  assert.deepEqual(anxious.checkIn, {
    openedAtMs: 10,
    affect: "anxious",
    openedBy: "m5",
    askedAtMs: null,
  });
  assert.equal(code(gateAction(anxious, "trusted", "topic:work", 11)), "check_in_required");
  // A calm state update is not an answer.
  const calmer = applyHumanVector(anxious, CALM, "m6", 12).state;
  assert.equal(code(gateAction(calmer, "trusted", "topic:work", 13)), "check_in_required");
  // "Not yet" keeps it open; "go on" closes it.
  const notYet = answerCheckIn(anxious, 49, 14);
  assert.deepEqual(notYet.notes, [{ kind: "check_in_answered", goOn: false }]);
  assert.equal(code(gateAction(notYet.state, "trusted", "topic:work", 15)), "check_in_required");
  const goOn = answerCheckIn(anxious, 50, 16).state;
  assert.equal(code(gateAction(goOn, "trusted", "topic:work", 17)), "allowed");
  // Staying anxious does not reopen it; becoming tense does.
  const still = applyHumanVector(goOn, { ...CALM, affect: "anxious" }, "m7", 18).state;
  assert.equal(still.checkIn, null);
  const tense = applyHumanVector(still, { ...CALM, affect: "tense" }, "m8", 19).state;
  assert.equal(tense.checkIn?.affect, "tense");
  assert.deepEqual(answerCheckIn(goOn, 90, 20), { state: goOn, notes: [] });
});

Deno.test("consent changes are reported, and revocation outranks a pending check-in and pacing", () => {
  const s = person({ affect: "tense", pressure: 90 });
  const { state, notes } = applyHumanVector(
    s,
    { ...CALM, affect: "tense", pressure: 90, consent: "revoked" },
    "m9",
    5,
  );
  assert.deepEqual(notes, [{ kind: "consent_changed", from: "granted", to: "revoked" }]);
  assert.equal(code(gateAction(state, "trusted", "topic:work", 6)), "consent_revoked");
});

Deno.test("gate validates the pacing delay", () => {
  assert.throws(
    () => gateAction(person(), "trusted", "work", 0, { pacingDelayMs: -1 }),
    RangeError,
  );
});
