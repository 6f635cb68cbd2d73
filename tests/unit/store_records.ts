/**
 * Sample records of every store change kind, for the store tests.
 *
 * @module
 */

import type {
  ClaimRecord,
  LipQueueItem,
  StoreChange,
  StoreChangeKind,
  TrustLogEntry,
  TrustRecord,
} from "../../lib/store/mod.ts";

/** Fingerprints of two peers. */
export const P1: string = "a1".repeat(32);
/** The second peer. */
export const P2: string = "b2".repeat(32);

/** A trust record. */
export function trustRecord(subject: string, state: TrustRecord["state"] = "probing"): TrustRecord {
  return {
    machine: "cip",
    subject,
    state,
    sinceMs: 10,
    cooldownUntilMs: 0,
    maliceCount: 0,
    strikesMs: [1, 2],
  };
}

/** A trust-log entry. */
export function logEntry(subject: string, atMs: number, changed = true): TrustLogEntry {
  return {
    machine: "cip",
    subject,
    atMs,
    event: changed ? "valid_handshake" : "anomaly",
    from: "untrusted",
    to: changed ? "probing" : "untrusted",
    changed,
    reason: changed ? "valid handshake" : "anomaly while untrusted: no change",
    evidence: [`m-${atMs}-a`, `m-${atMs}-b`],
  };
}

/** A claim. */
export function claim(id: string, peer: string, value: unknown = 100): ClaimRecord {
  return {
    id,
    peer,
    fact: {
      statement: "Water boils at 100 C at sea level",
      domain: "physics",
      confidence: 0.9,
      sources: ["textbook"],
      context: { subject: "water.boiling_point", value: value as number },
    },
    trace: {
      decision_id: "0b5a4f4e-2d7c-4b8e-9a41-6f0d8c1e2a3b",
      steps: ["measured"],
      evidence: ["thermometer"],
    },
    links: [],
    subject: "water.boiling_point",
    valueCanon: JSON.stringify(value),
    status: "pending",
    reason: "awaiting confirmations",
    createdMs: 5,
    updatedMs: 5,
  };
}

/** A LIP queue item. */
export function lipItem(id: string, peer: string): LipQueueItem {
  return {
    id,
    peer,
    msgId: `m-${id}`,
    sourceUri: "https://example.org/a",
    tier: "medium",
    retrievedAt: "2026-11-26T12:00:00.000Z",
    claim: "The sky is blue",
    evidence: ["photo"],
    confidence: 0.8,
    status: "pending",
    reason: "queued",
    corroborators: [],
    createdMs: 1,
    expiresMs: 1000,
    updatedMs: 1,
  };
}

/** The {@linkcode StoreChange} of kind `K`. */
export type ChangeOf<K extends StoreChangeKind> = Extract<StoreChange, { kind: K }>;

/**
 * One sample change of every kind, keyed by kind, in an order in which
 * they apply one by one (the vote after its claim, the clear after the
 * set). Typed so that a kind added to the union without a sample here
 * does not compile.
 */
export function sampleOfEveryKind(): { [K in StoreChangeKind]: ChangeOf<K> } {
  return {
    "trust.state": { kind: "trust.state", record: trustRecord(P1) },
    "trust.log": { kind: "trust.log", entry: logEntry(P1, 10) },
    "claim.upsert": { kind: "claim.upsert", claim: claim("c-1", P1) },
    "claim.vote": {
      kind: "claim.vote",
      vote: {
        claimId: "c-1",
        peer: P2,
        msgId: "v-1",
        kind: "confirm",
        reason: "",
        confidence: 0.7,
        counted: true,
        atMs: 6,
      },
    },
    "causal.add": {
      kind: "causal.add",
      fact: {
        id: "c-1",
        origin: "cip",
        fact: claim("c-1", P1).fact,
        subject: "water.boiling_point",
        valueCanon: "100",
        acceptedMs: 7,
      },
      links: [{ from: "c-1", relation: "supports", ref: "c-0" }],
    },
    "decision.add": {
      kind: "decision.add",
      decision: {
        decisionId: "0b5a4f4e-2d7c-4b8e-9a41-6f0d8c1e2a3b",
        peer: P1,
        msgId: "d-1",
        choice: "boil",
        outcome: "tea",
        trace: claim("c-1", P1).trace,
        atMs: 8,
      },
    },
    "presence.set": {
      kind: "presence.set",
      record: { peer: P1, presence: "engaged", lri: 40, kernelSignals: ["k"], updatedMs: 9 },
    },
    "handshake.set": {
      kind: "handshake.set",
      record: {
        peer: P1,
        role: "initiator",
        stage: "hello_sent",
        ourNonce: "bm9uY2U=",
        ourChallenge: "Y2hhbGxlbmdl",
        ourHelloId: "h-1",
        startedMs: 1,
        deadlineMs: 30_001,
      },
    },
    "handshake.clear": { kind: "handshake.clear", peer: P1 },
    "person.upsert": {
      kind: "person.upsert",
      person: {
        person: P2,
        consent: "limited",
        consentScope: ["topic:work"],
        safetyFlags: [],
        checkInRequired: false,
        data: { note: "x" },
        updatedMs: 3,
      },
    },
    "lip.upsert": { kind: "lip.upsert", item: lipItem("q-1", P1) },
    "lip.source": {
      kind: "lip.source",
      source: {
        uri: "https://example.org",
        tier: "medium",
        accurate: 1,
        inaccurate: 0,
        updatedMs: 2,
      },
    },
    "replay.add": {
      kind: "replay.add",
      entry: { sender: P1, msgId: "r-1", timestampMs: 1_000 },
    },
  };
}

/**
 * One change of every kind that leaves a row behind (all but
 * `handshake.clear`), for peer `P1`, in the order of
 * {@linkcode sampleOfEveryKind}.
 */
export function everyKind(): StoreChange[] {
  return Object.values(sampleOfEveryKind()).filter((c) => c.kind !== "handshake.clear");
}
