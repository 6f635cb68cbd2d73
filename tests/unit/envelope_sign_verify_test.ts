// These tests take envelopes apart and mutate them field by field, so they
// index into them untyped.
// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import {
  type CipEnvelope,
  createEnvelope,
  encodeEnvelope,
  type Envelope,
  EnvelopeError,
  FingerprintMismatchError,
  InvalidEnvelopeError,
  messageTypes,
  PayloadSchemaError,
  type Protocol,
  ReplayError,
  ReplayGuard,
  SignatureMismatchError,
  signEnvelope,
  TimestampError,
  TrustViolationError,
  validatePayload,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { Web4Error } from "../../lib/errors/mod.ts";
import { blocksFor, SAMPLES } from "../fixtures/envelope/samples.ts";
import { alice, bob, mallory, NOW, now, toBob } from "../fixtures/envelope/parties.ts";

// createEnvelope with protocol and type known only at run time.
const buildAny = createEnvelope as unknown as (
  protocol: Protocol,
  type: string,
  options: Record<string, unknown>,
) => Promise<Envelope>;

async function stateUpdate(
  extra: Partial<Parameters<typeof createEnvelope<"cip", "STATE_UPDATE">>[2]> = {},
): Promise<CipEnvelope<"STATE_UPDATE">> {
  return await createEnvelope("cip", "STATE_UPDATE", {
    identity: alice,
    receiver: toBob,
    payload: { presence: "focused", lri: 20, ltppeerstate: "probing" },
    state: { presence: "focused", lri: 20 },
    trust: { sender_view: "probing", receiver_view: "unknown" },
    capabilities: ["state_exchange"],
    clock: now,
    ...extra,
  });
}

async function failure(input: unknown, options = {}): Promise<EnvelopeError> {
  const err = await verifyEnvelope(input, { now, ...options }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof EnvelopeError, `expected an EnvelopeError, got ${err}`);
  assert.ok(err instanceof Web4Error);
  return err;
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

Deno.test("createEnvelope builds, signs and verifies every message type of every protocol", async () => {
  for (const protocol of ["cip", "hcp", "lip"] as Protocol[]) {
    for (const type of messageTypes(protocol)) {
      const payload = (SAMPLES[protocol] as unknown as Record<string, unknown>)[type];
      const env = await buildAny(protocol, type, {
        identity: alice,
        receiver: toBob,
        payload,
        clock: now,
        ...blocksFor(protocol),
      });
      assert.equal((env as unknown as Record<string, unknown>)[protocol], "1.0");
      assert.ok(env.type === type, `${env.type} is ${type}`);
      assert.match(
        env.msg_id,
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      assert.equal(env.timestamp, "2026-11-26T12:00:00.000Z");
      assert.deepEqual(env.sender, {
        agent_id: "alice",
        fingerprint: alice.fingerprint,
        capabilities: [],
        pubkey: alice.publicKeyBase64,
      });
      assert.equal(env.sign.algo, "ed25519");
      const wire = encodeEnvelope(env);
      const back = await verifyEnvelope(wire, {
        now,
        expectedSender: alice.fingerprint,
        expectedReceiver: { fingerprint: bob.fingerprint, agent_id: "bob" },
        replayGuard: new ReplayGuard(),
      });
      assert.deepEqual(back, env, `${protocol} ${type}`);
    }
  }
});

Deno.test("createEnvelope is byte-for-byte deterministic under an injected clock and randomness", async () => {
  const random = (n: number) => new Uint8Array(n).map((_, i) => i * 17);
  const a = encodeEnvelope(await stateUpdate({ random }));
  const b = encodeEnvelope(await stateUpdate({ random }));
  assert.deepEqual(a, b);
  const env = JSON.parse(new TextDecoder().decode(a));
  assert.equal(env.msg_id, "00112233-4455-4677-8899-aabbccddeeff");
  const c = encodeEnvelope(await stateUpdate({ random, clock: () => new Date(NOW.getTime() + 1) }));
  assert.notDeepEqual(a, c);
});

Deno.test("createEnvelope rejects bad payloads with PayloadSchemaError and bad blocks with InvalidEnvelopeError", async () => {
  const err = await stateUpdate({
    payload: { presence: "focused", lri: 101, ltppeerstate: "probing" },
  }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof PayloadSchemaError);
  assert.equal(err.code, "PAYLOAD_SCHEMA");
  assert.equal(err.path, "/payload/lri");
  assert.match(err.message, /101/);
  const err2 = await stateUpdate({
    state: { presence: "asleep" as never, lri: 1 },
  }).then(() => null, (e: unknown) => e);
  assert.ok(err2 instanceof InvalidEnvelopeError);
  assert.equal(err2.path, "/state/presence");
  await assert.rejects(
    stateUpdate({ receiver: { agent_id: "bob", fingerprint: "ABC" } }),
    (e: unknown) => e instanceof InvalidEnvelopeError && e.path === "/receiver/fingerprint",
  );
  await assert.rejects(
    createEnvelope("hcp", "HCP_FEEDBACK", {
      identity: alice,
      receiver: toBob,
      payload: SAMPLES.hcp.HCP_FEEDBACK,
    }),
    (e: unknown) => e instanceof InvalidEnvelopeError && e.path === "/state",
  );
  await assert.rejects(
    createEnvelope("lip", "LIP_EVIDENCE", {
      identity: alice,
      receiver: toBob,
      payload: SAMPLES.lip.LIP_EVIDENCE,
    }),
    (e: unknown) => e instanceof InvalidEnvelopeError && e.path === "/source",
  );
  await assert.rejects(
    createEnvelope("cip", "NOPE" as never, {
      identity: alice,
      receiver: toBob,
      payload: {} as never,
    }),
    TypeError,
  );
  await assert.rejects(
    createEnvelope("lip", "LIP_FETCH", {
      identity: alice,
      receiver: toBob,
      payload: SAMPLES.lip.LIP_FETCH,
      trust: { sender_view: "trusted", receiver_view: "trusted" },
    }),
    TypeError,
  );
  await assert.rejects(stateUpdate({ random: () => new Uint8Array(4) }), TypeError);
  await assert.rejects(stateUpdate({ clock: () => new Date(NaN) }), RangeError);
});

Deno.test("signEnvelope refuses to sign for another identity's sender block", async () => {
  const env = await stateUpdate();
  await assert.rejects(signEnvelope(env, mallory), TypeError);
  const resigned = await signEnvelope(env, alice);
  assert.deepEqual(resigned, env);
});

Deno.test("verifyEnvelope accepts JSON text and bytes, and refuses oversize and non-JSON input", async () => {
  const env = await stateUpdate();
  const wire = encodeEnvelope(env);
  assert.deepEqual(await verifyEnvelope(new TextDecoder().decode(wire), { now }), env);
  const tooSmall = await failure(wire, { maxEnvelopeBytes: wire.length - 1 });
  assert.ok(tooSmall instanceof InvalidEnvelopeError);
  assert.match(tooSmall.message, /bytes/);
  await verifyEnvelope(wire, { now, maxEnvelopeBytes: wire.length });
  const objTooBig = await failure(env, { maxEnvelopeBytes: wire.length - 1 });
  assert.equal(objTooBig.code, "INVALID_ENVELOPE");
  for (const bad of ["{", "[]", "null", "42", '"x"', new Uint8Array([0xff, 0x7b])]) {
    const err = await failure(bad);
    assert.equal(err.code, "INVALID_ENVELOPE", String(bad));
    assert.equal(err.path, "");
  }
  const noVersion = await failure({ msg_id: env.msg_id });
  assert.match(noVersion.message, /version key/);
  const huge = clone(env) as unknown as Record<string, Record<string, unknown>>;
  huge.payload!.intent = "x".repeat(2 * 1024 * 1024);
  assert.equal((await failure(huge)).code, "INVALID_ENVELOPE");
  let deep: unknown = "leaf";
  for (let i = 0; i < 100; i++) deep = { d: deep };
  const deepEnv = clone(env) as unknown as Record<string, unknown>;
  deepEnv.payload = { ...env.payload, context: deep };
  assert.equal((await failure(deepEnv)).code, "INVALID_ENVELOPE");
});

Deno.test("verifyEnvelope names the offending field for structure and payload problems", async () => {
  const env = await stateUpdate();
  const cases: [(e: Record<string, any>) => void, string, string][] = [
    [(e) => (e.cip = "1.1"), "INVALID_ENVELOPE", "/cip"],
    [(e) => (e.extra = 1), "INVALID_ENVELOPE", "/extra"],
    [(e) => delete e.msg_id, "INVALID_ENVELOPE", "/msg_id"],
    [(e) => (e.msg_id = e.msg_id.toUpperCase()), "INVALID_ENVELOPE", "/msg_id"],
    [(e) => (e.msg_id = "0b6f2c1e-8f4a-1c3d-9e2b-7a1d5c6e8f90"), "INVALID_ENVELOPE", "/msg_id"],
    [(e) => (e.timestamp = "2026-11-26T12:00:00+01:00"), "INVALID_ENVELOPE", "/timestamp"],
    [(e) => (e.timestamp = "2026-02-30T12:00:00Z"), "INVALID_ENVELOPE", "/timestamp"],
    [(e) => (e.type = "FACTPROPOSE"), "INVALID_ENVELOPE", "/type"],
    [(e) => (e.sender.pubkey = "AAAA"), "INVALID_ENVELOPE", "/sender/pubkey"],
    [(e) => (e.sender.capabilities = [""]), "INVALID_ENVELOPE", "/sender/capabilities/0"],
    [(e) => (e.sender.agent_id = "x".repeat(129)), "INVALID_ENVELOPE", "/sender/agent_id"],
    [(e) => (e.trust.receiver_view = "friendly"), "INVALID_ENVELOPE", "/trust/receiver_view"],
    [(e) => (e.state.lri = 20.5), "INVALID_ENVELOPE", "/state/lri"],
    [(e) => (e.state.mood = "ok"), "INVALID_ENVELOPE", "/state/mood"],
    [(e) => (e.sign.algo = "rsa"), "INVALID_ENVELOPE", "/sign/algo"],
    [(e) => delete e.sign, "INVALID_ENVELOPE", "/sign"],
    [(e) => (e.payload = []), "INVALID_ENVELOPE", "/payload"],
    [(e) => (e.payload.lri = -1), "PAYLOAD_SCHEMA", "/payload/lri"],
    [(e) => (e.payload.lri = "20"), "PAYLOAD_SCHEMA", "/payload/lri"],
    [(e) => (e.payload.surprise = true), "PAYLOAD_SCHEMA", "/payload/surprise"],
    [(e) => delete e.payload.ltppeerstate, "PAYLOAD_SCHEMA", "/payload/ltppeerstate"],
    [(e) => (e.type = "HELLO"), "PAYLOAD_SCHEMA", "/payload/protocols"],
  ];
  for (const [mutate, code, path] of cases) {
    const copy = clone(env) as Record<string, any>;
    mutate(copy);
    const err = await failure(copy);
    assert.equal(err.code, code, `${mutate}`);
    assert.equal(err.path, path, `${mutate}`);
    assert.ok(/^[A-Z]/.test(err.message));
  }
});

Deno.test("verifyEnvelope: changing any single signed field of a valid envelope fails the signature or fingerprint check", async () => {
  const env = await stateUpdate();
  const other = await stateUpdate({ clock: () => new Date(NOW.getTime() + 1000) });
  const cases: [string, (e: Record<string, any>) => void, string][] = [
    ["msg_id", (e) => (e.msg_id = other.msg_id), "SIGNATURE_MISMATCH"],
    ["timestamp", (e) => (e.timestamp = other.timestamp), "SIGNATURE_MISMATCH"],
    ["sender.agent_id", (e) => (e.sender.agent_id = "alicia"), "SIGNATURE_MISMATCH"],
    ["sender.capabilities", (e) => e.sender.capabilities.push("x"), "SIGNATURE_MISMATCH"],
    [
      "sender.fingerprint",
      (e) => (e.sender.fingerprint = mallory.fingerprint),
      "FINGERPRINT_MISMATCH",
    ],
    ["sender.pubkey", (e) => (e.sender.pubkey = mallory.publicKeyBase64), "FINGERPRINT_MISMATCH"],
    ["sender (consistent other key)", (e) => {
      e.sender.pubkey = mallory.publicKeyBase64;
      e.sender.fingerprint = mallory.fingerprint;
    }, "SIGNATURE_MISMATCH"],
    ["receiver.agent_id", (e) => (e.receiver.agent_id = "eve"), "SIGNATURE_MISMATCH"],
    [
      "receiver.fingerprint",
      (e) => (e.receiver.fingerprint = mallory.fingerprint),
      "SIGNATURE_MISMATCH",
    ],
    ["trust.sender_view", (e) => (e.trust.sender_view = "trusted"), "SIGNATURE_MISMATCH"],
    ["trust removed", (e) => delete e.trust, "SIGNATURE_MISMATCH"],
    ["state.lri", (e) => (e.state.lri = 21), "SIGNATURE_MISMATCH"],
    ["state.intent added", (e) => (e.state.intent = "rest"), "SIGNATURE_MISMATCH"],
    ["payload.presence", (e) => (e.payload.presence = "diffuse"), "SIGNATURE_MISMATCH"],
    ["payload.lri", (e) => (e.payload.lri = 0), "SIGNATURE_MISMATCH"],
    ["payload.ltppeerstate", (e) => (e.payload.ltppeerstate = "trusted"), "SIGNATURE_MISMATCH"],
    ["sign.signature", (e) => (e.sign.signature = other.sign.signature), "SIGNATURE_MISMATCH"],
    ["sign.signature bit", (e) => {
      const sig = Uint8Array.fromBase64(e.sign.signature);
      sig[63] = sig[63]! ^ 0x40;
      e.sign.signature = sig.toBase64();
    }, "SIGNATURE_MISMATCH"],
  ];
  for (const [name, mutate, code] of cases) {
    const copy = clone(env) as Record<string, any>;
    mutate(copy);
    const err = await failure(copy);
    assert.equal(err.code, code, name);
    if (code === "SIGNATURE_MISMATCH") {
      assert.ok(err instanceof SignatureMismatchError);
      assert.equal(err.path, "/sign/signature");
    } else {
      assert.ok(err instanceof FingerprintMismatchError);
      assert.equal(err.path, "/sender/fingerprint");
    }
  }
});

Deno.test("verifyEnvelope runs its checks in the fixed order", async () => {
  const env = await stateUpdate();
  const late = { now: () => new Date(NOW.getTime() + 10 * 60_000) };
  // Bad payload + bad fingerprint: the payload is reported first.
  const a = clone(env) as Record<string, any>;
  a.payload.lri = 500;
  a.sender.fingerprint = mallory.fingerprint;
  assert.equal((await failure(a)).code, "PAYLOAD_SCHEMA");
  // Bad fingerprint + bad signature: fingerprint first.
  const b = clone(env) as Record<string, any>;
  b.sender.fingerprint = mallory.fingerprint;
  b.payload.lri = 1;
  assert.equal((await failure(b)).code, "FINGERPRINT_MISMATCH");
  // Bad signature + stale timestamp: signature first.
  const c = clone(env) as Record<string, any>;
  c.payload.lri = 1;
  assert.equal((await failure(c, late)).code, "SIGNATURE_MISMATCH");
  // Stale timestamp + wrong session peer: timestamp first.
  const t = await failure(env, { ...late, expectedSender: mallory.fingerprint });
  assert.ok(t instanceof TimestampError);
  assert.equal(t.path, "/timestamp");
  // Wrong peer + replay: trust first, and the failed envelope is not recorded.
  const guard = new ReplayGuard();
  const v = await failure(env, { expectedSender: mallory.fingerprint, replayGuard: guard });
  assert.ok(v instanceof TrustViolationError);
  assert.equal(v.path, "/sender/fingerprint");
  assert.equal(guard.size, 0);
  await verifyEnvelope(env, { now, replayGuard: guard });
  const r = await failure(env, { replayGuard: guard });
  assert.ok(r instanceof ReplayError);
  assert.equal(r.path, "/msg_id");
  assert.match(r.message, new RegExp(env.msg_id));
});

Deno.test("verifyEnvelope enforces the clock skew in both directions", async () => {
  const env = await stateUpdate();
  const at = (ms: number) => ({ now: () => new Date(NOW.getTime() + ms) });
  await verifyEnvelope(env, at(120_000));
  await verifyEnvelope(env, at(-120_000));
  assert.equal((await failure(env, at(120_001))).code, "TIMESTAMP");
  assert.equal((await failure(env, at(-120_001))).code, "TIMESTAMP");
  await verifyEnvelope(env, { ...at(5_000), maxSkewMs: 5_000 });
  assert.equal((await failure(env, { ...at(5_001), maxSkewMs: 5_000 })).code, "TIMESTAMP");
});

Deno.test("verifyEnvelope checks expectedSender and expectedReceiver including agent ids", async () => {
  const env = await stateUpdate();
  await verifyEnvelope(env, {
    now,
    expectedSender: { fingerprint: alice.fingerprint, agent_id: "alice" },
    expectedReceiver: bob.fingerprint,
  });
  const cases: [Record<string, unknown>, string][] = [
    [{ expectedReceiver: alice.fingerprint }, "/receiver/fingerprint"],
    [
      { expectedReceiver: { fingerprint: bob.fingerprint, agent_id: "robert" } },
      "/receiver/agent_id",
    ],
    [{ expectedSender: { fingerprint: alice.fingerprint, agent_id: "al" } }, "/sender/agent_id"],
  ];
  for (const [options, path] of cases) {
    const err = await failure(env, options);
    assert.ok(err instanceof TrustViolationError);
    assert.equal(err.path, path);
  }
});

Deno.test("validatePayload returns typed payloads and points at the bad field", () => {
  assert.deepEqual(
    validatePayload("lip", "LIP_FETCH", SAMPLES.lip.LIP_FETCH),
    SAMPLES.lip.LIP_FETCH,
  );
  assert.throws(
    () =>
      validatePayload("cip", "FACT_CONFIRM", { ...SAMPLES.cip.FACT_CONFIRM, decision: "reject" }),
    (e: unknown) => e instanceof PayloadSchemaError && e.path === "/payload/decision",
  );
  assert.throws(
    () => validatePayload("cip", "INTENT", { ...SAMPLES.cip.INTENT, context: { n: NaN } }),
    (e: unknown) => e instanceof PayloadSchemaError && e.path === "/payload/context/n",
  );
  assert.throws(() => validatePayload("xyz" as never, "A" as never, {}), TypeError);
});

Deno.test("verifyEnvelope never returns an envelope different from what was signed", async () => {
  const env: Envelope = await stateUpdate();
  const copy = clone(env) as Record<string, any>;
  copy.state.intent = undefined; // an undefined property is omitted, as in JSON
  const back = await verifyEnvelope(copy, { now });
  assert.deepEqual(encodeEnvelope(back), encodeEnvelope(env));
});

Deno.test("verifyEnvelope turns unreadable in-process objects into InvalidEnvelopeError", async () => {
  const env = await stateUpdate();
  const trap = { ...env };
  Object.defineProperty(trap, "payload", {
    enumerable: true,
    get() {
      throw new Error("boom");
    },
  });
  const err = await failure(trap);
  assert.ok(err instanceof InvalidEnvelopeError);
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  assert.equal((await failure(proxy)).code, "INVALID_ENVELOPE");
});

Deno.test("A signed envelope shares no object with the caller's, and encodes to the bytes it verifies from", async () => {
  const [a, b] = [alice, bob];
  const payload = { goal: "ask" as const, topic: "t", priority: "normal" as const };
  const state = { presence: "focused" as const, lri: 3 };
  const env = await createEnvelope("cip", "INTENT", {
    identity: a,
    receiver: { agent_id: b.agentId, fingerprint: b.fingerprint },
    payload,
    state,
    clock: now,
  });
  assert.notEqual(env.payload, payload);
  assert.notEqual(env.state, state);
  payload.topic = "changed after signing";
  state.lri = 99;
  assert.equal(env.payload.topic, "t");
  assert.equal(env.state?.lri, 3);
  const bytes = encodeEnvelope(env);
  const back = await verifyEnvelope(bytes, { expectedReceiver: b.fingerprint, now });
  assert.deepEqual(back, env);
  assert.deepEqual(encodeEnvelope(back), bytes);
});
