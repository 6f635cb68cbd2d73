import assert from "node:assert/strict";
import fc from "fast-check";
import {
  applyTrustEvent,
  CIP_TRUST_EVENTS,
  CIP_TRUST_STATES,
  type CipTrustEventType,
  HCP_TRUST_EVENTS,
  HCP_TRUST_STATES,
  type HcpTrustEventType,
  initialTrustRecord,
  type Transition,
  trustConfig,
  type TrustEvent,
} from "../../lib/trust/mod.ts";
import type { TrustMachine, TrustRecord, TrustState } from "../../lib/store/mod.ts";

const PEER = "c3".repeat(32);
const ACTOR = "Ada Lovelace";

function recordIn(machine: TrustMachine, state: TrustState): TrustRecord {
  return { ...initialTrustRecord(machine, PEER, 0), state };
}

function event(type: string): TrustEvent {
  return { type, actor: ACTOR, evidence: ["m-1"] } as TrustEvent;
}

// The spec's table (PROTOCOLS.md §2 and its decision rows), written out in
// full: every (state, event) pair and the state it leads to. `=` marks a pair
// that leaves the state unchanged (ignored or only counted).
const CIP_TABLE: Record<string, Record<CipTrustEventType, TrustState | "=">> = {
  untrusted: {
    valid_handshake: "probing",
    verified_knowledge: "=",
    conflict: "=", // counted toward malice
    unverifiable_claim: "=", // counted toward malice
    severe_conflict: "=",
    malicious_evidence: "=",
    proven_malice: "blacklisted",
    anomaly: "=",
    invalid_signature: "=",
    fingerprint_mismatch: "blacklisted",
    manual_override: "=",
    anchor_declared: "trusted",
    pin_declared: "=", // without a pin in the configuration
  },
  probing: {
    valid_handshake: "=",
    verified_knowledge: "trusted",
    conflict: "untrusted",
    unverifiable_claim: "=", // counted; repeated -> untrusted
    severe_conflict: "=",
    malicious_evidence: "=",
    proven_malice: "blacklisted",
    anomaly: "=",
    invalid_signature: "untrusted",
    fingerprint_mismatch: "blacklisted",
    manual_override: "=",
    anchor_declared: "=",
    pin_declared: "=",
  },
  trusted: {
    valid_handshake: "=",
    verified_knowledge: "=",
    conflict: "=",
    unverifiable_claim: "=",
    severe_conflict: "blacklisted",
    malicious_evidence: "blacklisted",
    proven_malice: "blacklisted",
    anomaly: "probing",
    invalid_signature: "untrusted",
    fingerprint_mismatch: "blacklisted",
    manual_override: "=",
    anchor_declared: "=",
    pin_declared: "=",
  },
  blacklisted: {
    valid_handshake: "=",
    verified_knowledge: "=",
    conflict: "=",
    unverifiable_claim: "=",
    severe_conflict: "=",
    malicious_evidence: "=",
    proven_malice: "=",
    anomaly: "=",
    invalid_signature: "=",
    fingerprint_mismatch: "=",
    manual_override: "probing",
    anchor_declared: "=",
    pin_declared: "=",
  },
};

const HCP_TABLE: Record<string, Record<HcpTrustEventType, TrustState | "=">> = {
  untrusted: {
    valid_hello: "probing",
    mutual_validation: "=",
    misunderstanding: "=",
    consent_revoked: "restricted",
    consent_restored: "=",
  },
  probing: {
    valid_hello: "=",
    mutual_validation: "trusted",
    misunderstanding: "=", // counted
    consent_revoked: "restricted",
    consent_restored: "=",
  },
  trusted: {
    valid_hello: "=",
    mutual_validation: "=",
    misunderstanding: "=", // counted; repeated -> probing
    consent_revoked: "restricted",
    consent_restored: "=",
  },
  restricted: {
    valid_hello: "=",
    mutual_validation: "=",
    misunderstanding: "=",
    consent_revoked: "=",
    consent_restored: "probing",
  },
};

function checkPair(
  machine: TrustMachine,
  from: TrustState,
  type: string,
  expected: TrustState | "=",
): Transition {
  const t = applyTrustEvent(recordIn(machine, from), event(type), { nowMs: 1_000 });
  const to = expected === "=" ? from : expected;
  assert.equal(t.to, to, `${machine} ${from} + ${type}`);
  assert.equal(t.from, from);
  assert.equal(t.changed, expected !== "=");
  assert.equal(t.record.state, to);
  assert.equal(t.event, type);
  assert.equal(t.subject, PEER);
  assert.deepEqual(t.evidence, ["m-1"]);
  assert.equal(t.atMs, 1_000);
  assert.equal(t.record.sinceMs, t.changed ? 1_000 : 0);
  assert.ok(t.reason.length > 0);
  return t;
}

Deno.test("TrustFSM (CIP) follows the spec's full table for every (state, event) pair", () => {
  assert.deepEqual(Object.keys(CIP_TABLE), [...CIP_TRUST_STATES]);
  let pairs = 0;
  for (const from of CIP_TRUST_STATES) {
    assert.deepEqual(Object.keys(CIP_TABLE[from]!).sort(), [...CIP_TRUST_EVENTS].sort());
    for (const type of CIP_TRUST_EVENTS) {
      checkPair("cip", from, type, CIP_TABLE[from]![type]);
      pairs++;
    }
  }
  assert.equal(pairs, 52);
});

Deno.test("TrustFSM (HCP) follows its table for every (state, event) pair", () => {
  let pairs = 0;
  for (const from of HCP_TRUST_STATES) {
    for (const type of HCP_TRUST_EVENTS) {
      checkPair("hcp", from, type, HCP_TABLE[from]![type]);
      pairs++;
    }
  }
  assert.equal(pairs, 20);
});

Deno.test("TrustFSM: only verified knowledge (from probing) and a declared anchor lead to trusted", () => {
  const into: string[] = [];
  for (const from of CIP_TRUST_STATES) {
    for (const type of CIP_TRUST_EVENTS) {
      if (CIP_TABLE[from]![type] === "trusted") into.push(`${from} + ${type}`);
    }
  }
  assert.deepEqual(into, ["untrusted + anchor_declared", "probing + verified_knowledge"]);
});

Deno.test("TrustFSM starts a cooldown on probing -> untrusted; a valid handshake during it is ignored and logged", () => {
  const config = { cooldownMs: 60_000 };
  const down = applyTrustEvent(
    recordIn("cip", "probing"),
    { type: "conflict", evidence: ["m-c"] },
    {
      nowMs: 10_000,
      config,
    },
  );
  assert.equal(down.to, "untrusted");
  assert.equal(down.record.cooldownUntilMs, 70_000);
  assert.match(down.reason, /cooldown until 1970-01-01T00:01:10\.000Z/);
  const early = applyTrustEvent(down.record, { type: "valid_handshake" }, {
    nowMs: 69_999,
    config,
  });
  assert.equal(early.changed, false);
  assert.match(early.reason, /during cooldown/);
  const later = applyTrustEvent(down.record, { type: "valid_handshake" }, {
    nowMs: 70_000,
    config,
  });
  assert.equal(later.to, "probing");
  // A bad signature also starts the cooldown.
  const bad = applyTrustEvent(recordIn("cip", "trusted"), { type: "invalid_signature" }, {
    nowMs: 5,
    config,
  });
  assert.equal(bad.record.cooldownUntilMs, 60_005);
});

Deno.test("TrustFSM sends a probing peer to untrusted after repeated unverifiable claims within the window", () => {
  const config = { unverifiableThreshold: 3, unverifiableWindowMs: 1_000 };
  let r = recordIn("cip", "probing");
  const step = (nowMs: number) => {
    const t = applyTrustEvent(r, { type: "unverifiable_claim" }, { nowMs, config });
    r = t.record;
    return t;
  };
  assert.match(step(0).reason, /counted \(1\/3\)/);
  assert.match(step(500).reason, /counted \(2\/3\)/);
  // The strike at 0 has left the window: still two.
  const third = step(1_200);
  assert.equal(third.changed, false);
  assert.deepEqual(r.strikesMs, [500, 1_200]);
  const fourth = step(1_300);
  assert.equal(fourth.to, "untrusted");
  assert.match(fourth.reason, /repeated unverifiable claims \(3 within 1000 ms\)/);
  assert.deepEqual(r.strikesMs, []);
});

Deno.test("TrustFSM counts conflicts and unverifiable claims of an untrusted peer toward malice, up to blacklisting", () => {
  const config = { maliceThreshold: 3 };
  let r = recordIn("cip", "untrusted");
  const types = ["conflict", "unverifiable_claim", "conflict"] as const;
  const results = types.map((type, i) => {
    const t = applyTrustEvent(r, { type }, { nowMs: i, config });
    r = t.record;
    return [t.to, r.maliceCount];
  });
  assert.deepEqual(results, [["untrusted", 1], ["untrusted", 2], ["blacklisted", 3]]);
});

Deno.test("TrustFSM: a manual override needs a named human actor and resets the peer's counters", () => {
  const black: TrustRecord = {
    ...recordIn("cip", "blacklisted"),
    maliceCount: 4,
    cooldownUntilMs: 99,
  };
  for (const actor of [undefined, "", "   "]) {
    assert.throws(
      () => applyTrustEvent(black, { type: "manual_override", actor }, { nowMs: 1 }),
      (e) => e instanceof TypeError && /named human actor/.test(e.message),
    );
  }
  assert.throws(
    () => applyTrustEvent(recordIn("cip", "untrusted"), { type: "anchor_declared" }, { nowMs: 1 }),
    TypeError,
  );
  const t = applyTrustEvent(black, { type: "manual_override", actor: ACTOR, note: "ticket 12" }, {
    nowMs: 1,
  });
  assert.equal(t.to, "probing");
  assert.equal(t.actor, ACTOR);
  assert.equal(t.reason, `manual override by ${ACTOR}: ticket 12`);
  assert.deepEqual([t.record.maliceCount, t.record.cooldownUntilMs], [0, 0]);
});

Deno.test("TrustFSM (HCP): repeated misunderstanding sends a trusted relation back to probing", () => {
  const config = { misunderstandingThreshold: 2, misunderstandingWindowMs: 100 };
  let r = recordIn("hcp", "trusted");
  const first = applyTrustEvent(r, { type: "misunderstanding" }, { nowMs: 0, config });
  assert.equal(first.changed, false);
  r = first.record;
  const second = applyTrustEvent(r, { type: "misunderstanding" }, { nowMs: 50, config });
  assert.equal(second.to, "probing");
  assert.deepEqual(second.record.strikesMs, []);
  // Probing only counts.
  const counted = applyTrustEvent(second.record, { type: "misunderstanding" }, {
    nowMs: 60,
    config,
  });
  assert.deepEqual([counted.to, counted.record.strikesMs], ["probing", [60]]);
});

Deno.test("TrustFSM refuses an event of the other machine, an unknown event and a foreign state", () => {
  assert.throws(
    () =>
      applyTrustEvent(recordIn("cip", "probing"), { type: "consent_revoked" } as TrustEvent, {
        nowMs: 0,
      }),
    /Unknown CIP trust event "consent_revoked"/,
  );
  assert.throws(
    () =>
      applyTrustEvent(recordIn("hcp", "probing"), { type: "valid_handshake" } as TrustEvent, {
        nowMs: 0,
      }),
    /Unknown HCP trust event/,
  );
  assert.throws(
    () => applyTrustEvent(recordIn("cip", "restricted"), { type: "anomaly" }, { nowMs: 0 }),
    /state "restricted", not a CIP state/,
  );
  assert.throws(
    () =>
      applyTrustEvent({ ...recordIn("cip", "probing"), machine: "xyz" as TrustMachine }, {
        type: "anomaly",
      }, { nowMs: 0 }),
    TypeError,
  );
});

Deno.test("trustConfig fills defaults and refuses bad thresholds and durations", () => {
  const c = trustConfig({ anchors: ["a"] });
  assert.deepEqual([c.unverifiableThreshold, c.cooldownMs, c.maliceThreshold, c.owner], [
    3,
    600_000,
    5,
    "owner",
  ]);
  assert.ok(Object.isFrozen(c.anchors));
  assert.throws(() => trustConfig({ unverifiableThreshold: 1.5 }), /unverifiableThreshold/);
  assert.throws(() => trustConfig({ misunderstandingWindowMs: -1 }), /misunderstandingWindowMs/);
  assert.throws(() => trustConfig({ cooldownMs: Infinity }), /cooldownMs/);
});

Deno.test("TrustFSM invariants hold over random event sequences (property)", () => {
  const cipEvents = fc.constantFrom(...CIP_TRUST_EVENTS);
  fc.assert(
    fc.property(fc.array(fc.tuple(cipEvents, fc.nat(120_000)), { maxLength: 60 }), (steps) => {
      let r = initialTrustRecord("cip", PEER, 0);
      let now = 0;
      for (const [type, dt] of steps) {
        now += dt;
        const t = applyTrustEvent(r, { type, actor: ACTOR }, { nowMs: now });
        // Trust is only ever entered by verified knowledge or a declared anchor.
        if (t.to === "trusted" && t.changed) {
          assert.ok(type === "verified_knowledge" || type === "anchor_declared");
        }
        // Only a named human's override leaves blacklisted.
        if (t.from === "blacklisted" && t.changed) assert.equal(type, "manual_override");
        // A valid handshake never promotes during a cooldown.
        if (type === "valid_handshake" && now < r.cooldownUntilMs) assert.equal(t.changed, false);
        assert.ok(t.record.maliceCount >= 0 && t.record.strikesMs.every((s) => s <= now));
        assert.equal(t.changed, t.from !== t.to);
        r = t.record;
      }
    }),
    { numRuns: 300, seed: 42 },
  );
});

Deno.test("TrustFSM: a pinned peer stays at its pin whatever happens (property)", () => {
  const cipEvents = fc.constantFrom(...CIP_TRUST_EVENTS);
  for (const level of ["probing", "trusted"] as const) {
    const config = { pins: { [PEER]: level } };
    const pinned = applyTrustEvent(
      initialTrustRecord("cip", PEER, 0),
      { type: "pin_declared", actor: ACTOR },
      { nowMs: 0, config },
    );
    assert.equal(pinned.to, level);
    assert.equal(pinned.actor, ACTOR);
    fc.assert(
      fc.property(fc.array(fc.tuple(cipEvents, fc.nat(120_000)), { maxLength: 60 }), (steps) => {
        let r = pinned.record;
        let now = 0;
        for (const [type, dt] of steps) {
          now += dt;
          const t = applyTrustEvent(r, { type, actor: ACTOR }, { nowMs: now, config });
          assert.equal(t.to, level, `${type} moved a peer pinned at ${level}`);
          assert.equal(t.changed, false);
          r = t.record;
        }
      }),
      { numRuns: 100, seed: 7 },
    );
  }
  // A pin needs a named human, and only probing or trusted.
  assert.throws(
    () =>
      applyTrustEvent(initialTrustRecord("cip", PEER, 0), { type: "pin_declared" }, {
        nowMs: 0,
        config: { pins: { [PEER]: "probing" } },
      }),
    TypeError,
  );
  assert.throws(
    () => trustConfig({ pins: { [PEER]: "blacklisted" as "probing" } }),
    /probing or trusted/,
  );
});
