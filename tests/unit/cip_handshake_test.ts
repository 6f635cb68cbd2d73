import assert from "node:assert/strict";
import {
  type CipEnvelope,
  encodeEnvelope,
  type HelloPayload,
  SignatureMismatchError,
} from "../../lib/envelope/mod.ts";
import { verifyEd25519 } from "../../lib/identity/mod.ts";
import { challengeResponseBytes, CipRuntime } from "../../lib/cip/mod.ts";
import { effectsOf, type ReplySpec } from "../../lib/runtime/mod.ts";
import { Net, type Node } from "../fixtures/cip/harness.ts";

async function pair(): Promise<{ net: Net; alice: Node; bob: Node }> {
  const net = new Net();
  return { net, alice: await net.add("alice"), bob: await net.add("bob") };
}

const ZERO_SIGNATURE = "A".repeat(86) + "==";
const NONCES: [string, string] = ["AAAAAAAAAAAAAAAAAAAAAA==", "AQAAAAAAAAAAAAAAAAAAAA=="];

/** A VERIFY to `to` answering `inReplyTo`. */
function verifySpec(
  to: Node,
  msgId: string,
  inReplyTo: string,
  options: { nonces?: [string, string]; response?: string } = {},
): ReplySpec {
  return {
    protocol: "cip",
    type: "VERIFY",
    msg_id: msgId,
    receiver: { agent_id: to.name, fingerprint: to.fp },
    payload: {
      challenge_response: options.response ?? ZERO_SIGNATURE,
      in_reply_to: inReplyTo,
      session_nonces: options.nonces ?? NONCES,
    },
  };
}

/** A STATE_UPDATE to `to`. */
function stateSpec(to: Node, msgId: string): ReplySpec {
  return {
    protocol: "cip",
    type: "STATE_UPDATE",
    msg_id: msgId,
    receiver: { agent_id: to.name, fingerprint: to.fp },
    payload: { presence: "focused", lri: 5, ltppeerstate: "probing" },
  };
}

const types = (net: Net) =>
  net.transcript.map((s) => `${s.from}>${s.to} ${JSON.parse(s.wire).type} ${s.outcome}`);

Deno.test("CIP handshake: HELLO, HELLO, VERIFY, then STATE_UPDATE both ways; both peers end probing", async () => {
  const { net, alice, bob } = await pair();
  await net.handshake(alice, bob);
  assert.deepEqual(types(net), [
    "alice>bob HELLO handled",
    "bob>alice HELLO handled",
    "alice>bob VERIFY handled",
    "alice>bob STATE_UPDATE handled",
    "bob>alice STATE_UPDATE handled",
  ]);
  assert.equal(alice.trustIn(bob), "probing");
  assert.equal(bob.trustIn(alice), "probing");
  assert.equal(alice.store.handshake(bob.fp)?.stage, "verified");
  assert.equal(bob.store.handshake(alice.fp)?.stage, "verified");
  assert.deepEqual(bob.store.presence(alice.fp)?.lri, 10);
  assert.equal(bob.store.presence(alice.fp)?.peerView, "probing");
  const [gate] = bob.store.trustLog(alice.fp);
  const verifyId = JSON.parse(net.transcript[2]!.wire).msg_id;
  assert.deepEqual([gate?.event, gate?.from, gate?.to, gate?.evidence], [
    "valid_handshake",
    "untrusted",
    "probing",
    [verifyId],
  ]);
});

Deno.test("CIP handshake: challenge responses sign the domain-separated text, never the raw challenge", async () => {
  const { net, alice, bob } = await pair();
  await net.handshake(alice, bob);
  const opening = JSON.parse(net.transcript[0]!.wire) as CipEnvelope<"HELLO">;
  const answer = JSON.parse(net.transcript[1]!.wire) as CipEnvelope<"HELLO">;
  const signature = Uint8Array.fromBase64(answer.payload.challenge_response!);
  assert.equal(answer.payload.in_reply_to, opening.msg_id);
  assert.ok(
    await verifyEd25519(
      bob.identity.publicKeyRaw,
      challengeResponseBytes(alice.fp, bob.fp, opening.payload.challenge),
      signature,
    ),
  );
  assert.ok(
    !(await verifyEd25519(
      bob.identity.publicKeyRaw,
      Uint8Array.fromBase64(opening.payload.challenge),
      signature,
    )),
  );
  const verify = JSON.parse(net.transcript[2]!.wire) as CipEnvelope<"VERIFY">;
  assert.deepEqual(verify.payload.session_nonces, [
    opening.payload.session_nonce,
    answer.payload.session_nonce,
  ]);
  assert.equal(verify.payload.in_reply_to, answer.msg_id);
});

Deno.test("CIP handshake: a bad challenge response drops the handshake and sends a probing peer to untrusted", async () => {
  const { net, alice, bob } = await pair();
  await net.handshake(alice, bob);
  net.now += 1_000;
  // Alice opens again; Bob answers, but his response signs the raw challenge.
  const open = alice.runtime.open({ agent_id: "bob", fingerprint: bob.fp }, alice.ctx(bob.fp));
  alice.store.commit(open.changes);
  const hello = await alice.sign(open.replies[0]!);
  const answered = await bob.receive(encodeEnvelope(hello), alice);
  const spec = answered.replies[0]! as Extract<ReplySpec, { type: "HELLO" }>;
  const raw = await bob.identity.sign(
    Uint8Array.fromBase64((hello.payload as HelloPayload).challenge),
  );
  const forged = {
    ...spec,
    payload: { ...spec.payload, challenge_response: raw.toBase64() },
  } as ReplySpec;
  const out = await alice.receive(encodeEnvelope(await bob.sign(forged)), bob);
  assert.equal(out.status, "refused");
  assert.equal(out.code, "bad_challenge_response");
  assert.equal(out.replies.length, 0);
  assert.equal(alice.trustIn(bob), "untrusted");
  assert.equal(alice.store.handshake(bob.fp), undefined);
  const last = alice.store.trustLog(bob.fp).at(-1)!;
  assert.deepEqual([last.event, last.from, last.to], ["invalid_signature", "probing", "untrusted"]);
  assert.ok(alice.store.trust("cip", bob.fp)!.cooldownUntilMs > net.now);
});

Deno.test("CIP: a cooled-down peer's valid handshake is ignored and logged; after the cooldown it probes again", async () => {
  const net = new Net();
  const alice = await net.add("alice", { trust: { cooldownMs: 60_000 } });
  const bob = await net.add("bob");
  await net.handshake(bob, alice);
  // A bad signature on the session: Alice's view of Bob drops to untrusted with a cooldown.
  const bad = alice.runtime.verificationFailed(
    new SignatureMismatchError("Bad signature", "/sign"),
    alice.ctx(bob.fp),
    "m-x",
  );
  alice.store.commit(bad.changes);
  assert.equal(alice.trustIn(bob), "untrusted");
  net.now += 1_000;
  await net.handshake(bob, alice);
  assert.equal(alice.trustIn(bob), "untrusted");
  const ignored = alice.store.trustLog(bob.fp).at(-1)!;
  assert.deepEqual([ignored.event, ignored.changed], ["valid_handshake", false]);
  assert.match(ignored.reason, /cooldown/);
  net.now += 60_000;
  await net.handshake(bob, alice);
  assert.equal(alice.trustIn(bob), "probing");
});

Deno.test("CIP: a fingerprint mismatch blacklists only the session's authenticated peer, never the fingerprint an envelope names", async () => {
  const net = new Net();
  const alice = await net.add("alice");
  const bob = await net.add("bob");
  const carol = await net.add("carol");
  await net.handshake(alice, bob);
  await net.handshake(carol, bob);
  // Carol's session delivers an envelope signed by Alice (a third party).
  const spec = stateSpec(bob, "6f9619ff-8b86-4d11-b42d-00c04fc964ff");
  const out = await bob.receive(encodeEnvelope(await alice.sign(spec)), carol);
  assert.equal(out.code, "fingerprint_mismatch");
  assert.equal(bob.trustIn(carol), "blacklisted");
  assert.equal(bob.trustIn(alice), "probing");
  assert.equal(bob.store.trustLog(alice.fp).length, 1);
  // The runtime checks it too if a router forgot to bind the sender.
  const direct = await bob.runtime.handle(
    await alice.sign({ ...spec, msg_id: "6f9619ff-8b86-4d11-b42d-00c04fc96500" }),
    bob.ctx(net.nodes.get(carol.fp)!.fp),
  );
  assert.equal(direct.code, "fingerprint_mismatch");
  assert.ok(direct.changes.every((c) => c.kind !== "trust.state" || c.record.subject === carol.fp));
  // Blacklisted: everything from Carol is dropped, and we do not open to her.
  bob.store.commit(direct.changes);
  const dropped = await net.handshake(carol, bob);
  assert.deepEqual(dropped.map((o) => o.code), ["blacklisted"]);
  assert.equal(
    bob.runtime.open({ agent_id: "carol", fingerprint: carol.fp }, bob.ctx(carol.fp)).code,
    "blacklisted",
  );
});

Deno.test("CIP: replayed and stale envelopes never change trust", async () => {
  const { net, alice, bob } = await pair();
  await net.handshake(alice, bob);
  const before = bob.store.trustLog(alice.fp).length;
  const verify = new TextEncoder().encode(net.transcript[2]!.wire);
  const replayed = await bob.receive(verify, alice);
  assert.deepEqual([replayed.status, replayed.code], ["ignored", "invalid_envelope"]);
  net.now += 10 * 60_000;
  const spec = stateSpec(bob, "6f9619ff-8b86-4d11-b42d-00c04fc964ff");
  const stale = await alice.sign(spec);
  net.now += 200_000;
  const late = await bob.receive(encodeEnvelope(stale), alice);
  assert.equal(late.code, "invalid_envelope");
  assert.equal(bob.store.trustLog(alice.fp).length, before);
  assert.equal(bob.trustIn(alice), "probing");
});

Deno.test("CIP handshake times out: a late answering HELLO is refused and changes no trust", async () => {
  const { net, alice, bob } = await pair();
  const open = alice.runtime.open({ agent_id: "bob", fingerprint: bob.fp }, alice.ctx(bob.fp));
  alice.store.commit(open.changes);
  // A second open while it runs is ignored.
  assert.equal(
    alice.runtime.open({ agent_id: "bob", fingerprint: bob.fp }, alice.ctx(bob.fp)).code,
    "handshake_in_progress",
  );
  const hello = await alice.sign(open.replies[0]!);
  const answered = await bob.receive(encodeEnvelope(hello), alice);
  net.now += 30_001;
  const late = await alice.receive(encodeEnvelope(await bob.sign(answered.replies[0]!)), bob);
  assert.deepEqual([late.status, late.code], ["refused", "handshake_timeout"]);
  assert.equal(alice.trustIn(bob), "untrusted");
  assert.equal(alice.store.trustLog(bob.fp).length, 0);
  assert.equal(alice.store.handshake(bob.fp), undefined);
});

Deno.test("CIP handshake refuses an unexpected HELLO answer, an unexpected VERIFY and foreign nonces", async () => {
  const { alice, bob } = await pair();
  const hello: ReplySpec = {
    protocol: "cip",
    type: "HELLO",
    msg_id: "6f9619ff-8b86-4d11-b42d-00c04fc96401",
    receiver: { agent_id: "alice", fingerprint: alice.fp },
    payload: {
      protocols: ["cip/1.0"],
      capabilities: [],
      session_nonce: "AAAAAAAAAAAAAAAAAAAAAA==",
      challenge: "A".repeat(43) + "=",
      features: { supports_mesh: false, supports_multiplex: true },
      challenge_response: ZERO_SIGNATURE,
      in_reply_to: "6f9619ff-8b86-4d11-b42d-00c04fc96402",
    },
  };
  const out1 = await alice.receive(encodeEnvelope(await bob.sign(hello)), bob);
  assert.deepEqual([out1.status, out1.code], ["refused", "unexpected_hello"]);
  const verify = verifySpec(
    alice,
    "6f9619ff-8b86-4d11-b42d-00c04fc96403",
    "6f9619ff-8b86-4d11-b42d-00c04fc96404",
  );
  const out2 = await alice.receive(encodeEnvelope(await bob.sign(verify)), bob);
  assert.deepEqual([out2.status, out2.code], ["refused", "unexpected_verify"]);
  // A VERIFY with the right reference but another session's nonces.
  const open = bob.runtime.open({ agent_id: "alice", fingerprint: alice.fp }, bob.ctx(alice.fp));
  bob.store.commit(open.changes);
  const answered = await alice.receive(encodeEnvelope(await bob.sign(open.replies[0]!)), bob);
  const ourHello = answered.replies[0]!;
  const wrong = verifySpec(alice, "6f9619ff-8b86-4d11-b42d-00c04fc96405", ourHello.msg_id);
  const out3 = await alice.receive(encodeEnvelope(await bob.sign(wrong)), bob);
  assert.deepEqual([out3.status, out3.code], ["refused", "nonce_mismatch"]);
  assert.equal(alice.trustIn(bob), "untrusted");
  assert.equal(alice.store.trustLog(bob.fp).length, 0, "no sanction without a bad signature");
});

Deno.test("CIP handshake: a VERIFY whose challenge response does not verify is a bad signature", async () => {
  const { alice, bob } = await pair();
  const open = bob.runtime.open({ agent_id: "alice", fingerprint: alice.fp }, bob.ctx(alice.fp));
  bob.store.commit(open.changes);
  const openingHello = await bob.sign(open.replies[0]!);
  const answered = await alice.receive(encodeEnvelope(openingHello), bob);
  const answer = answered.replies[0]! as Extract<ReplySpec, { type: "HELLO" }>;
  const verify = verifySpec(alice, "6f9619ff-8b86-4d11-b42d-00c04fc96406", answer.msg_id, {
    nonces: [(openingHello.payload as HelloPayload).session_nonce, answer.payload.session_nonce],
  });
  const out = await alice.receive(encodeEnvelope(await bob.sign(verify)), bob);
  assert.deepEqual([out.status, out.code], ["refused", "bad_challenge_response"]);
  const [logged] = alice.store.trustLog(bob.fp);
  assert.deepEqual([logged?.event, logged?.changed], ["invalid_signature", false]);
});

Deno.test("CIP handshake: when both open at once, the lower fingerprint's HELLO is answered and both end probing", async () => {
  const { net, alice, bob } = await pair();
  const [low, high] = alice.fp < bob.fp ? [alice, bob] : [bob, alice];
  const openLow = low.runtime.open({ agent_id: high.name, fingerprint: high.fp }, low.ctx(high.fp));
  low.store.commit(openLow.changes);
  const openHigh = high.runtime.open({ agent_id: low.name, fingerprint: low.fp }, high.ctx(low.fp));
  high.store.commit(openHigh.changes);
  const fromHigh = await net.run(high, openHigh);
  assert.equal(fromHigh[0]?.code, "simultaneous_open");
  await net.run(low, openLow);
  assert.equal(low.trustIn(high), "probing");
  assert.equal(high.trustIn(low), "probing");
});

Deno.test("CIP: a HELLO without cip/1.0 is refused; an ERROR answering our HELLO ends the handshake", async () => {
  const { alice, bob } = await pair();
  const open = alice.runtime.open({ agent_id: "bob", fingerprint: bob.fp }, alice.ctx(bob.fp));
  alice.store.commit(open.changes);
  const hello = open.replies[0]! as Extract<ReplySpec, { type: "HELLO" }>;
  const other = { ...hello, payload: { ...hello.payload, protocols: ["cip/2.0"] } } as ReplySpec;
  const refused = await bob.receive(encodeEnvelope(await alice.sign(other)), alice);
  assert.deepEqual([refused.status, refused.code], ["refused", "unsupported_protocol"]);
  const error: ReplySpec = {
    protocol: "cip",
    type: "ERROR",
    msg_id: "6f9619ff-8b86-4d11-b42d-00c04fc96407",
    receiver: { agent_id: "alice", fingerprint: alice.fp },
    payload: { in_reply_to: hello.msg_id, code: "unsupported_protocol", reason: "no" },
  } as ReplySpec;
  const out = await alice.receive(encodeEnvelope(await bob.sign(error)), bob);
  assert.equal(out.status, "handled");
  assert.deepEqual(
    effectsOf(out.effects, "errorReceived").map((e) => [e.peer, e.inReplyTo, e.code]),
    [
      [bob.fp, hello.msg_id, "unsupported_protocol"],
    ],
  );
  assert.equal(alice.store.handshake(bob.fp), undefined);
});

Deno.test("CipRuntime checks its options and the receiver it is given", async () => {
  assert.throws(() => new CipRuntime({ handshakeTimeoutMs: 0 }), /handshakeTimeoutMs/);
  assert.throws(() => new CipRuntime({ confirmationsNeeded: 1.5 }), RangeError);
  const { alice, bob } = await pair();
  assert.throws(
    () => alice.runtime.open({ agent_id: "x", fingerprint: alice.fp }, alice.ctx(bob.fp)),
    TypeError,
  );
  assert.throws(
    () =>
      alice.runtime.intent({ agent_id: "x", fingerprint: alice.fp }, {
        goal: "ask",
        topic: "t",
        priority: "low",
      }, alice.ctx(bob.fp)),
    TypeError,
  );
  const other = alice.runtime.verificationFailed(new Error("boom"), alice.ctx(bob.fp));
  assert.deepEqual([other.status, other.code, other.changes], ["ignored", "invalid_envelope", []]);
  const unknown = await alice.runtime.handle(
    { type: "NOPE", sender: { fingerprint: bob.fp } } as unknown as CipEnvelope,
    alice.ctx(bob.fp),
  );
  assert.equal(unknown.code, "unknown_type");
});

Deno.test("CIP handshake: a stray VERIFY after the handshake is refused and leaves the verified handshake alone", async () => {
  const { net, alice, bob } = await pair();
  await net.handshake(alice, bob);
  const stray = verifySpec(
    bob,
    "6f9619ff-8b86-4d11-b42d-00c04fc96408",
    "6f9619ff-8b86-4d11-b42d-00c04fc96409",
  );
  const out = await bob.receive(encodeEnvelope(await alice.sign(stray)), alice);
  assert.deepEqual([out.status, out.code], ["refused", "unexpected_verify"]);
  assert.equal(bob.store.handshake(alice.fp)?.stage, "verified");
  assert.equal(bob.trustIn(alice), "probing");
});
