import { systemClock, systemRandom } from "../../lib/ports/mod.ts";
import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { checkEvent, createTelemetry, MemorySink } from "../../lib/observability/mod.ts";
import {
  createRuntimeContext,
  type EffectOf,
  type EffectType,
  isOverloaded,
  msgIdBytes,
  newMsgId,
  outcome,
  renderEffect,
  selfFromIdentity,
} from "../../lib/runtime/mod.ts";
import { openStore } from "../../lib/store/mod.ts";
import { createTrustView } from "../../lib/trust/mod.ts";

Deno.test("outcome keeps only the optional fields it is given", () => {
  assert.deepEqual(outcome("handled"), {
    status: "handled",
    changes: [],
    replies: [],
    effects: [],
  });
  const o = outcome("deferred", { code: "overloaded", reason: "Busy", retryAfterMs: 5 });
  assert.deepEqual([o.code, o.reason, o.retryAfterMs], ["overloaded", "Busy", 5]);
  assert.equal("code" in outcome("ignored", { reason: "r" }), false);
});

Deno.test("newMsgId and msgIdBytes round-trip a UUID v4 and refuse anything else", () => {
  let n = 0;
  const random = (k: number) => Uint8Array.from({ length: k }, () => n++);
  const id = newMsgId(random);
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(newMsgId(() => msgIdBytes(id)), id);
  assert.throws(() => newMsgId(() => new Uint8Array(15)), TypeError);
  assert.throws(() => msgIdBytes("6F9619FF-8B86-4D11-B42D-00C04FC964FF"), /lowercase UUID v4/);
  assert.throws(() => msgIdBytes("6f9619ff-8b86-1d11-b42d-00c04fc964ff"), TypeError);
});

Deno.test("isOverloaded: presence overloaded, or lri at or above the threshold", () => {
  const config = { overloadLri: 80 };
  assert.ok(isOverloaded({ presence: "overloaded", lri: 0 }, config));
  assert.ok(isOverloaded({ presence: "engaged", lri: 80 }, config));
  assert.ok(!isOverloaded({ presence: "engaged", lri: 79 }, config));
});

Deno.test("createRuntimeContext fills defaults and keeps what it is given", async () => {
  using store = openStore(":memory:");
  const me = await Identity.generate({ agentId: "me" });
  const peer = "ab".repeat(32);
  const plain = createRuntimeContext({ self: selfFromIdentity(me), peer, store });
  assert.deepEqual(plain.load, { presence: "focused", lri: 0 });
  assert.equal(plain.config.overloadLri, 80);
  assert.equal(plain.random(8).length, 8);
  assert.equal(plain.session, undefined);
  assert.equal(plain.now, systemClock.now);
  assert.equal(plain.random, systemRandom);
  const sink = new MemorySink();
  const trust = createTrustView(store, { anchors: [peer] });
  const full = createRuntimeContext({
    self: selfFromIdentity(me, ["dmp_trace"]),
    peer,
    store,
    trust,
    session: "s-1",
    now: () => 7,
    random: (k) => new Uint8Array(k).fill(1),
    load: { presence: "diffuse", lri: 50 },
    telemetry: createTelemetry({ node: "me", sinks: [sink] }),
    config: { overloadLri: 60, person: peer },
  });
  assert.equal(full.trust, trust);
  assert.deepEqual([full.session, full.now(), full.random(2)], ["s-1", 7, new Uint8Array([1, 1])]);
  assert.deepEqual(full.self.capabilities, ["dmp_trace"]);
  assert.deepEqual(full.config, { overloadLri: 60, person: peer });
  full.telemetry.emit("cip.test", {});
  assert.equal(sink.events().length, 1);
  assert.ok(Object.isFrozen(full.config));
});

Deno.test("renderEffect renders every effect variant as a valid v1.0 event, or nothing", () => {
  const fp = "ab".repeat(32);
  const id = "6f9619ff-8b86-4d11-b42d-00c04fc96407";
  const human = {
    presence: "focused",
    affect: "calm",
    clarity: 80,
    pressure: 20,
    intent: "plan",
    consent: "granted",
  } as const;
  // One example of each variant; the record's type makes a new variant fail `deno check` here.
  const examples: { [T in EffectType]: EffectOf<T>[] } = {
    deliver: [
      {
        type: "deliver",
        delivery: {
          kind: "intent",
          msgId: id,
          person: fp,
          goal: "request",
          topic: "topic:work",
          priority: "normal",
        },
      },
      {
        type: "deliver",
        delivery: {
          kind: "context",
          msgId: id,
          person: fp,
          context: { context: "x", constraints: [], shared_history: [] },
        },
      },
    ],
    fetch: [{
      type: "fetch",
      request: {
        query: "https://example.org",
        constraints: [],
        requestId: id,
        requester: fp,
        requesterAgentId: "b",
        chargedTo: fp,
      },
    }],
    claimChanged: [
      { type: "claimChanged", origin: "cip", claim: id, status: "pending", reason: "r", peer: fp },
      {
        type: "claimChanged",
        origin: "lip",
        claim: fp,
        status: "rejected",
        reason: "r",
        peer: fp,
        from: null,
        event: "expired",
        source: "https://example.org",
      },
    ],
    trustChanged: [{
      type: "trustChanged",
      entry: {
        machine: "cip",
        subject: fp,
        atMs: 1,
        event: "invalid_signature",
        from: "probing",
        to: "untrusted",
        changed: true,
        reason: "bad signature",
        evidence: [id],
      },
    }],
    handshakeVerified: [{ type: "handshakeVerified", peer: fp, trust: "probing" }],
    errorReceived: [
      {
        type: "errorReceived",
        protocol: "cip",
        peer: fp,
        msgId: id,
        inReplyTo: id,
        code: "c",
        reason: "r",
      },
      {
        type: "errorReceived",
        protocol: "hcp",
        peer: fp,
        msgId: id,
        inReplyTo: id,
        code: "c",
        reason: "r",
        retryAfterMs: 5,
      },
      {
        type: "errorReceived",
        protocol: "lip",
        peer: fp,
        msgId: id,
        inReplyTo: id,
        code: "c",
        reason: "r",
      },
    ],
    intentReceived: [{
      type: "intentReceived",
      peer: fp,
      msgId: id,
      goal: "ask",
      topic: "t",
      priority: "low",
      decision: "defer",
    }],
    humanState: [{ type: "humanState", person: fp, human }],
    handshakeProgress: [
      { type: "handshakeProgress", peer: fp, step: "hello_sent" },
      { type: "handshakeProgress", peer: fp, step: "simultaneous_open" },
    ],
    handshakeFailed: [{ type: "handshakeFailed", peer: fp, code: "nonce_mismatch", msgId: id }],
    verificationIgnored: [{ type: "verificationIgnored", peer: fp, reason: "stale" }],
    blacklistedDropped: [{
      type: "blacklistedDropped",
      peer: fp,
      msgId: id,
      messageType: "INTENT",
    }],
    presenceReceived: [{
      type: "presenceReceived",
      peer: fp,
      presence: "focused",
      lri: 3,
      peerView: "probing",
    }],
    intentAnswered: [{ type: "intentAnswered", peer: fp, inReplyTo: id, topic: "t" }],
    voteReceived: [
      {
        type: "voteReceived",
        peer: fp,
        claim: id,
        vote: "FACT_CONFIRM",
        counted: false,
        why: "own_claim",
      },
    ],
    decisionShared: [{ type: "decisionShared", peer: fp, decisionId: id, choice: "c" }],
    consentChanged: [{ type: "consentChanged", person: fp, msgId: id, from: null, to: "revoked" }],
    checkInOpened: [{ type: "checkInOpened", person: fp, msgId: id, affect: "tense" }],
    checkInAnswered: [{ type: "checkInAnswered", person: fp, msgId: id, goOn: true }],
    pacingChanged: [
      { type: "pacingChanged", person: fp, msgId: id, paced: true },
      { type: "pacingChanged", person: fp, msgId: id, paced: false },
    ],
    intentPaced: [{ type: "intentPaced", person: fp, msgId: id, topic: "t", retryAfterMs: 9 }],
    checkInRequired: [{ type: "checkInRequired", person: fp, msgId: id, topic: "t" }],
    refused: [
      {
        type: "refused",
        protocol: "hcp",
        peer: fp,
        msgId: id,
        code: "not_person",
        reason: "r",
        messageType: "HCP_HELLO",
      },
      {
        type: "refused",
        protocol: "hcp",
        peer: fp,
        msgId: id,
        code: "out_of_scope",
        reason: "r",
        topic: "topic:x",
      },
      { type: "refused", protocol: "lip", peer: fp, msgId: id, code: "untrusted", reason: "r" },
    ],
    fetched: [{ type: "fetched", requester: fp, requestId: "", uri: "u", sha256: "0".repeat(64) }],
    fetchFailed: [{
      type: "fetchFailed",
      requester: fp,
      requestId: id,
      code: "timeout",
      reason: "r",
    }],
  };
  const sink = new MemorySink();
  const telemetry = createTelemetry({ node: "me", sinks: [sink] });
  const silent: string[] = [];
  for (const effect of Object.values(examples).flat()) {
    const e = renderEffect(effect);
    if (e === null) {
      silent.push(effect.type === "deliver" ? `deliver:${effect.delivery.kind}` : effect.type);
      continue;
    }
    telemetry.emit(e.kind, e.data, { severity: e.severity, peer: e.peer ?? fp });
  }
  assert.deepEqual(silent, ["deliver:context", "humanState"]);
  for (const event of sink.events()) assert.equal(checkEvent(event), null, event.kind);
  assert.equal(sink.events().length, 31);
  // Severity follows the rules that were spelled in each runtime.
  const severity = (kind: string) => sink.events(kind).map((e) => e.severity);
  assert.deepEqual(severity("trust.transition"), ["warn"]);
  assert.deepEqual(severity("hcp.consent_changed"), ["warn"]);
  assert.deepEqual(severity("lip.claim"), ["warn"]);
  assert.deepEqual(severity("cip.handshake"), ["info", "info", "info", "warn"]);
});
