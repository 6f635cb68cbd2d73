import assert from "node:assert/strict";
import { judgeClaim } from "../../lib/lip/acceptance.ts";
import { claimId, claimRefsInReason, claimsConflict } from "../../lib/lip/claims.ts";
import {
  CLAIM_TRANSITIONS,
  type ClaimEvent,
  type ClaimState,
  moveClaim,
  nextClaimState,
} from "../../lib/lip/queue.ts";
import {
  applySourceEvent,
  earnedTier,
  newSource,
  sourceKey,
  tierInForce,
} from "../../lib/lip/tiers.ts";
import type { LipQueueItem } from "../../lib/store/mod.ts";

const T0 = Date.parse("2026-11-28T10:00:00.000Z");
const URI = "https://example.org/water";
const P1 = "1".repeat(64);
const P2 = "2".repeat(64);
const P3 = "3".repeat(64);

function queued(over: Partial<LipQueueItem> = {}): LipQueueItem {
  const claim = { subject: "boiling_point_c", value: 100 };
  return {
    id: claimId(claim, URI),
    peer: P1,
    msgId: "m1",
    sourceUri: URI,
    tier: "low",
    retrievedAt: new Date(T0).toISOString(),
    claim,
    evidence: [{ sha256: "00" }],
    confidence: 0.5,
    status: "pending",
    reason: "queued",
    corroborators: [],
    disputers: [],
    createdMs: T0,
    expiresMs: T0 + 60_000,
    updatedMs: T0,
    ...over,
  };
}

const SITUATION = {
  tier: "low",
  fetcherTrust: "self",
  overloaded: false,
  nowMs: T0,
  conflictsWith: [],
} as const;

Deno.test("LIP queue: every (state, event) pair follows the table and nothing else", () => {
  const states: ClaimState[] = ["pending", "accepted", "disputed", "rejected"];
  const events: ClaimEvent[] = [
    "verified",
    "conflict",
    "resolved",
    "refuted",
    "low_trust",
    "blocked_source",
    "no_provenance",
    "expired",
  ];
  const allowed = new Set([
    "pending verified accepted",
    "pending conflict disputed",
    "pending low_trust rejected",
    "pending blocked_source rejected",
    "pending no_provenance rejected",
    "pending expired rejected",
    "disputed resolved accepted",
    "disputed refuted rejected",
    "disputed blocked_source rejected",
    "disputed expired rejected",
  ]);
  let rows = 0;
  for (const from of states) {
    for (const event of events) {
      const to = CLAIM_TRANSITIONS[from][event];
      if (to === undefined) {
        assert.throws(
          () => nextClaimState(from, event),
          (e: Error) => e.message.includes(`"${from}"`) && e.message.includes(`"${event}"`),
        );
      } else {
        assert.ok(allowed.has(`${from} ${event} ${to}`), `${from} ${event} ${to}`);
        assert.equal(nextClaimState(from, event), to);
        rows++;
      }
    }
  }
  assert.equal(rows, allowed.size);
  const moved = moveClaim(queued(), "conflict", "why", T0 + 1);
  assert.deepEqual([moved.status, moved.reason, moved.updatedMs], ["disputed", "why", T0 + 1]);
});

Deno.test("LIP acceptance: tier >= medium or two trusted corroborators accept a pending claim", () => {
  assert.equal(judgeClaim(queued(), { ...SITUATION, tier: "medium" }).event, "verified");
  assert.equal(judgeClaim(queued(), { ...SITUATION, tier: "high" }).event, "verified");
  for (const tier of ["unknown", "low"] as const) {
    const one = judgeClaim(queued({ corroborators: [P1] }), { ...SITUATION, tier });
    assert.equal(one.event, null);
    assert.match(one.reason, /1 of 2 trusted corroborators/);
    assert.equal(
      judgeClaim(queued({ corroborators: [P1, P2] }), { ...SITUATION, tier }).event,
      "verified",
    );
  }
  assert.equal(
    judgeClaim(queued({ corroborators: [P1] }), SITUATION, { minCorroborators: 1 }).event,
    "verified",
  );
});

Deno.test("LIP acceptance: blocked sources are rejected at once, whatever the corroboration", () => {
  const v = judgeClaim(queued({ corroborators: [P1, P2, P3] }), { ...SITUATION, tier: "blocked" });
  assert.equal(v.event, "blocked_source");
  assert.equal(
    judgeClaim(queued({ status: "disputed" }), { ...SITUATION, tier: "blocked" }).event,
    "blocked_source",
  );
});

Deno.test("LIP acceptance: provenance must be present and not from the future", () => {
  assert.equal(
    judgeClaim(queued({ evidence: [] }), { ...SITUATION, tier: "high" }).event,
    "no_provenance",
  );
  const future = queued({ retrievedAt: new Date(T0 + 3_600_000).toISOString() });
  const v = judgeClaim(future, { ...SITUATION, tier: "high" });
  assert.equal(v.event, "no_provenance");
  assert.match(v.reason, /2026-11-28T11:00:00.000Z/);
});

Deno.test("LIP acceptance: pending claims expire after the configured time, as rejected with a reason", () => {
  assert.equal(judgeClaim(queued(), { ...SITUATION, nowMs: T0 + 59_999 }).event, null);
  const v = judgeClaim(queued(), { ...SITUATION, nowMs: T0 + 60_000 });
  assert.equal(v.event, "expired");
  assert.match(v.reason, /limit 60000 ms/);
  assert.equal(moveClaim(queued(), v.event!, v.reason, T0 + 60_000).status, "rejected");
  const disputed = queued({ status: "disputed" });
  assert.equal(judgeClaim(disputed, { ...SITUATION, nowMs: T0 + 60_000 }).event, "expired");
});

Deno.test("LIP acceptance: untrusted fetchers are rejected, overload defers, conflicts dispute", () => {
  assert.equal(
    judgeClaim(queued(), { ...SITUATION, tier: "high", fetcherTrust: "untrusted" }).event,
    "low_trust",
  );
  assert.equal(
    judgeClaim(queued(), { ...SITUATION, tier: "high", fetcherTrust: "probing" }).event,
    "verified",
  );
  const busy = judgeClaim(queued(), { ...SITUATION, tier: "high", overloaded: true });
  assert.equal(busy.event, null);
  assert.match(busy.reason, /overloaded/);
  assert.equal(
    judgeClaim(queued(), { ...SITUATION, tier: "high", conflictsWith: ["f1"] }).event,
    "conflict",
  );
  assert.equal(
    judgeClaim(queued({ disputers: [P3] }), { ...SITUATION, tier: "high" }).event,
    "conflict",
  );
});

Deno.test("LIP acceptance: a dispute resolves by trusted majority, and local conflicts hold it", () => {
  const d = (c: string[], x: string[], conflictsWith: string[] = []) =>
    judgeClaim(queued({ status: "disputed", corroborators: c, disputers: x }), {
      ...SITUATION,
      conflictsWith,
    }).event;
  assert.equal(d([P1, P2], [P3]), null);
  assert.equal(d([P1, P2, "4".repeat(64)], [P3]), "resolved");
  assert.equal(d([P1, P2, "4".repeat(64)], [P3], ["fact-1"]), null);
  assert.equal(d([], [P1, P2]), "refuted");
  assert.equal(d([P3], [P1, P2]), null);
  assert.equal(judgeClaim(queued({ status: "accepted" }), SITUATION).event, null);
});

Deno.test("LIP claims: ids are content addresses, conflicts follow subject and value", () => {
  const a = { domain: "chem", subject: "bp", value: 100 };
  assert.equal(claimId(a, URI), claimId({ value: 100, subject: "bp", domain: "chem" }, URI));
  assert.notEqual(claimId(a, URI), claimId(a, "https://example.org/other"));
  assert.ok(claimsConflict(a, { ...a, value: 99 }));
  assert.ok(!claimsConflict(a, { ...a, value: 100 }));
  assert.ok(!claimsConflict(a, { ...a, domain: "food", value: 99 }));
  assert.ok(!claimsConflict("water boils at 100 C", "water boils at 99 C"));
  const id = claimId(a, URI);
  assert.deepEqual(claimRefsInReason(`ok claim:${id}, claim:${id} and claim:nothex`), [id]);
});

Deno.test("LIP source tiers move automatically only between unknown, low and blocked; pins hold", () => {
  const key = sourceKey("https://News.example/a?b");
  assert.equal(key, "https://news.example");
  let s = newSource(key, T0);
  assert.equal(s.tier, "unknown");
  for (let i = 0; i < 20; i++) s = applySourceEvent(s, "good_provenance", T0);
  assert.equal(s.tier, "low", "provenance alone never lifts a source above low");
  for (let i = 0; i < 50; i++) s = applySourceEvent(s, "accurate", T0);
  assert.equal(
    s.tier,
    "low",
    "no track record lifts a source above low: medium and high are the owner's",
  );
  s = applySourceEvent(s, "inaccurate", T0 + 1);
  assert.deepEqual([s.tier, s.inaccurate, s.updatedMs], ["low", 1, T0 + 1]);
  for (let i = 0; i < 26; i++) s = applySourceEvent(s, "inaccurate", T0);
  assert.equal(s.tier, "blocked", "a history of refutations blocks a source");
  assert.equal(tierInForce(key, s, { [key]: "high" }), "high", "the owner's pin wins");
  assert.equal(tierInForce(key, s), "blocked");
  assert.equal(tierInForce("https://other.example", undefined), "unknown");
  assert.equal(earnedTier({ accurate: 1, inaccurate: 1 }, false), "low");
  // A source with one human-accepted claim leaves unknown even without provenance.
  assert.equal(applySourceEvent(newSource(key, T0), "accurate", T0).tier, "low");
  // Every (counts, provenance) pair earns one of the three automatic tiers.
  for (let a = 0; a < 12; a++) {
    for (let i = 0; i < 8; i++) {
      for (const seen of [false, true]) {
        assert.ok(
          ["unknown", "low", "blocked"].includes(earnedTier({ accurate: a, inaccurate: i }, seen)),
        );
      }
    }
  }
  // Records a former rule raised above low count as low.
  for (const tier of ["medium", "high"] as const) {
    assert.equal(tierInForce(key, { ...s, tier }), "low");
  }
});
