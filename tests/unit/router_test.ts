import assert from "node:assert/strict";
import {
  canonicalize,
  createEnvelope,
  encodeEnvelope,
  type Envelope,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { CipRuntime } from "../../lib/cip/mod.ts";
import { createTelemetry, MemorySink } from "../../lib/observability/mod.ts";
import { newMsgId, outcome, type ProtocolRuntime } from "../../lib/runtime/mod.ts";
import { openStore, type Store } from "../../lib/store/mod.ts";
import { MESSAGE_TYPES, PROTOCOLS } from "../../lib/envelope/protocols.ts";
import {
  CHANNEL_OF,
  channelOf,
  ProtocolRouter,
  type RouterOptions,
  RoutingError,
} from "../../lib/router/mod.ts";

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const [alice, bob, carol] = await Promise.all([
  Identity.generate({ agentId: "alice" }),
  Identity.generate({ agentId: "bob" }),
  Identity.generate({ agentId: "carol" }),
]);

const cip = new CipRuntime();

/** A CIP runtime for the router's own tests: records what it saw, answers HELLO with HELLO. */
function echoRuntime(seen: Envelope[] = []): ProtocolRuntime<"cip"> {
  return {
    protocol: "cip",
    types: ["HELLO", "STATE_UPDATE", "FACT_PROPOSE"],
    handle(envelope, ctx) {
      seen.push(envelope);
      if (envelope.type !== "HELLO") return outcome("handled");
      return outcome("handled", {
        changes: [{
          kind: "presence.set",
          record: {
            peer: ctx.peer,
            presence: "focused",
            lri: 1,
            kernelSignals: [],
            updatedMs: ctx.now(),
          },
        }],
        replies: [{
          protocol: "cip",
          type: "STATE_UPDATE",
          msg_id: newMsgId(ctx.random),
          receiver: { agent_id: envelope.sender.agent_id, fingerprint: ctx.peer },
          payload: { presence: "focused", lri: 1, ltppeerstate: "probing" },
        }],
        effects: [{
          type: "presenceReceived",
          peer: ctx.peer,
          presence: "focused",
          lri: 1,
          peerView: "probing",
        }],
      });
    },
  };
}

function setup(options: Partial<RouterOptions> & { store?: Store; seen?: Envelope[] } = {}) {
  const store = options.store ?? openStore(":memory:");
  const sink = new MemorySink();
  let now = T0;
  const router = new ProtocolRouter({
    identity: alice,
    store,
    runtimes: [echoRuntime(options.seen)],
    sanctions: (error, ctx, msgId) => cip.verificationFailed(error, ctx, msgId),
    now: () => now,
    telemetry: createTelemetry({ node: "alice", sinks: [sink], now: () => now }),
    ...options,
  });
  return {
    router,
    store,
    sink,
    advance(ms: number) {
      now += ms;
    },
  };
}

async function hello(from: Identity = bob, at = T0): Promise<Envelope> {
  return await createEnvelope("cip", "HELLO", {
    identity: from,
    receiver: { agent_id: "alice", fingerprint: alice.fingerprint },
    payload: {
      protocols: ["cip/1.0"],
      capabilities: ["state_exchange"],
      session_nonce: "AAAAAAAAAAAAAAAAAAAAAA==",
      challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
      features: { supports_mesh: false, supports_multiplex: true },
    },
    clock: () => new Date(at),
  });
}

async function stateUpdate(from: Identity = bob, at = T0): Promise<Envelope> {
  return await createEnvelope("cip", "STATE_UPDATE", {
    identity: from,
    receiver: { agent_id: "alice", fingerprint: alice.fingerprint },
    payload: { presence: "focused", lri: 10, ltppeerstate: "probing" },
    clock: () => new Date(at),
  });
}

function setTrust(store: Store, peer: string, state: "probing" | "trusted" | "blacklisted") {
  store.commit([{
    kind: "trust.state",
    record: {
      machine: "cip",
      subject: peer,
      state,
      sinceMs: T0,
      cooldownUntilMs: 0,
      maliceCount: 0,
      strikesMs: [],
    },
  }]);
}

/** Signs an arbitrary object the way createEnvelope would (for messages it refuses to build). */
async function signRaw(from: Identity, body: Record<string, unknown>): Promise<Uint8Array> {
  const text = canonicalize(body);
  const signature = (await from.sign(new TextEncoder().encode(text))).toBase64();
  return new TextEncoder().encode(canonicalize({ ...body, sign: { algo: "ed25519", signature } }));
}

Deno.test("ProtocolRouter routes a HELLO to its runtime, commits its changes with the replay entry, and signs its reply", async () => {
  const seen: Envelope[] = [];
  const { router, store, sink } = setup({ seen });
  const env = await hello();
  const result = await router.dispatch(encodeEnvelope(env), {
    peer: bob.fingerprint,
    session: "s1",
  });
  assert.equal(result.status, "handled");
  assert.equal(seen.length, 1);
  assert.equal(store.presence(bob.fingerprint)?.lri, 1);
  assert.deepEqual(store.replayEntries(0).map((e) => e.msgId), [env.msg_id]);
  assert.equal(result.replies.length, 1);
  const reply = result.replies[0]!;
  assert.equal(reply.envelope.type, "STATE_UPDATE");
  assert.equal(reply.channel, "state");
  assert.equal(reply.envelope.sender.fingerprint, alice.fingerprint);
  // The runtime's effect is returned and rendered once, naming the peer and the session.
  assert.deepEqual(result.effects.map((e) => e.type), ["presenceReceived"]);
  assert.deepEqual(
    sink.events("cip.state_update").map((e) => [e.peer, e.session, e.data.lri]),
    [[bob.fingerprint, "s1", 1]],
  );
  assert.equal(sink.events("router.dispatched")[0]?.session, "s1");
});

Deno.test("ProtocolRouter drops a replay, also after a restart on the same database file", async () => {
  const path = await Deno.makeTempFile({ suffix: ".db" });
  try {
    const env = await hello();
    {
      using store = openStore(path);
      const { router } = setup({ store });
      assert.equal(
        (await router.dispatch(encodeEnvelope(env), { peer: bob.fingerprint })).status,
        "handled",
      );
      const again = await router.dispatch(encodeEnvelope(env), { peer: bob.fingerprint });
      assert.equal(again.status, "dropped");
      assert.equal(again.code, "replay");
      assert.deepEqual(again.replies, []);
    }
    using store = openStore(path);
    const seen: Envelope[] = [];
    const { router } = setup({ store, seen });
    const afterRestart = await router.dispatch(encodeEnvelope(env), { peer: bob.fingerprint });
    assert.equal(afterRestart.code, "replay");
    assert.equal(seen.length, 0, "the runtime never saw the replay");
  } finally {
    await Deno.remove(path);
    await Deno.remove(`${path}-wal`).catch(() => {});
    await Deno.remove(`${path}-shm`).catch(() => {});
  }
});

Deno.test("ProtocolRouter applies a message exactly once when the same bytes arrive twice at once", async () => {
  const seen: Envelope[] = [];
  const { router } = setup({ seen });
  const bytes = encodeEnvelope(await hello());
  const results = await Promise.all([
    router.dispatch(bytes, { peer: bob.fingerprint }),
    router.dispatch(bytes, { peer: bob.fingerprint }),
  ]);
  assert.deepEqual(results.map((r) => r.status).sort(), ["dropped", "handled"]);
  assert.equal(seen.length, 1);
});

Deno.test("ProtocolRouter sanctions only the session's peer for an envelope claiming a third party", async () => {
  const { router, store } = setup();
  setTrust(store, bob.fingerprint, "probing");
  // Carol's validly signed envelope, delivered on Bob's session.
  const carols = await stateUpdate(carol);
  const relayed = await router.dispatch(encodeEnvelope(carols), { peer: bob.fingerprint });
  assert.equal(relayed.status, "dropped");
  assert.equal(relayed.code, "fingerprint_mismatch");
  assert.equal(router.trust.peer(bob.fingerprint), "blacklisted");
  assert.equal(router.trust.peer(carol.fingerprint), "untrusted");
  assert.equal(store.trust("cip", carol.fingerprint), undefined, "nothing recorded about Carol");
  assert.deepEqual(relayed.replies, []);
});

Deno.test("ProtocolRouter moves a probing peer to untrusted on a bad signature and drops the message", async () => {
  const seen: Envelope[] = [];
  const { router, store } = setup({ seen });
  setTrust(store, bob.fingerprint, "probing");
  const env = await stateUpdate();
  const forged = { ...env, payload: { ...env.payload, lri: 99 } } as Envelope;
  const result = await router.dispatch(JSON.stringify(forged), { peer: bob.fingerprint });
  assert.equal(result.status, "dropped");
  assert.equal(result.code, "invalid_signature");
  assert.equal(router.trust.peer(bob.fingerprint), "untrusted");
  assert.deepEqual(
    result.effects.map((e) => e.type === "trustChanged" && [e.entry.from, e.entry.to]),
    [["probing", "untrusted"]],
  );
  const log = store.trustLog(bob.fingerprint);
  assert.ok(log.some((e) => e.event === "invalid_signature" && e.evidence.includes(env.msg_id)));
  assert.equal(seen.length, 0);
});

Deno.test("ProtocolRouter refuses a stale envelope with a signed ERROR and leaves trust alone", async () => {
  const { router, store, advance } = setup();
  setTrust(store, bob.fingerprint, "probing");
  const env = await stateUpdate();
  advance(121_000);
  const result = await router.dispatch(encodeEnvelope(env), { peer: bob.fingerprint });
  assert.equal(result.status, "refused");
  assert.equal(result.code, "stale");
  assert.equal(router.trust.peer(bob.fingerprint), "probing");
  const [error] = result.replies;
  assert.equal(error?.envelope.type, "ERROR");
  assert.equal(error?.channel, "control");
  // Signed by us, for the peer (checked as the peer would, at the router's clock).
  await verifyEnvelope(error!.bytes, {
    expectedSender: alice.fingerprint,
    expectedReceiver: bob.fingerprint,
    now: () => new Date(T0 + 121_000),
  });
  assert.deepEqual(
    { in_reply_to: (error?.envelope.payload as { in_reply_to: string }).in_reply_to },
    { in_reply_to: env.msg_id },
  );
});

Deno.test("ProtocolRouter answers an unknown message type with a typed error and an ERROR, never silence", async () => {
  const { router } = setup();
  const env = await stateUpdate();
  const { sign: _sign, ...body } = { ...env, type: "FROBNICATE" };
  const bytes = await signRaw(bob, body);
  const result = await router.dispatch(bytes, { peer: bob.fingerprint });
  assert.equal(result.status, "refused");
  assert.equal(result.code, "unknown_type");
  assert.ok(result.error instanceof RoutingError);
  assert.equal((result.error as RoutingError).code, "UNKNOWN_TYPE");
  assert.equal(result.replies[0]?.envelope.type, "ERROR");
  const unknownProtocol = await router.dispatch(`{"xyz":"1.0","msg_id":"${env.msg_id}"}`, {
    peer: bob.fingerprint,
  });
  assert.equal(unknownProtocol.code, "unknown_protocol");
  assert.equal((unknownProtocol.error as RoutingError).code, "UNKNOWN_PROTOCOL");
});

Deno.test("ProtocolRouter refuses a known type without a route, and never answers an error with an error", async () => {
  const { router, store } = setup();
  setTrust(store, bob.fingerprint, "probing");
  const decision = await createEnvelope("cip", "DECISION_SHARE", {
    identity: bob,
    receiver: { agent_id: "alice", fingerprint: alice.fingerprint },
    payload: {
      decision: { choice: "a", outcome: "b" },
      dmp_trace: { decision_id: crypto.randomUUID(), steps: ["s"], evidence: [] },
    },
    clock: () => new Date(T0),
  });
  const result = await router.dispatch(encodeEnvelope(decision), { peer: bob.fingerprint });
  assert.equal(result.code, "unknown_type");
  assert.equal((result.error as RoutingError).code, "NO_ROUTE");
  assert.equal(result.replies.length, 1);
  const error = await createEnvelope("cip", "ERROR", {
    identity: bob,
    receiver: { agent_id: "alice", fingerprint: alice.fingerprint },
    payload: { in_reply_to: decision.msg_id, code: "x", reason: "y" },
    clock: () => new Date(T0),
  });
  const answer = await router.dispatch(encodeEnvelope(error), { peer: bob.fingerprint });
  assert.equal(answer.status, "refused");
  assert.deepEqual(answer.replies, [], "an error never answers an error");
});

Deno.test("ProtocolRouter lets an untrusted peer only handshake, and drops a blacklisted one unanswered", async () => {
  const seen: Envelope[] = [];
  const { router, store } = setup({ seen });
  const refused = await router.dispatch(encodeEnvelope(await stateUpdate()), {
    peer: bob.fingerprint,
  });
  assert.equal(refused.status, "refused");
  assert.equal(refused.code, "untrusted");
  assert.equal(refused.replies[0]?.envelope.type, "ERROR");
  assert.equal(
    (await router.dispatch(encodeEnvelope(await hello()), { peer: bob.fingerprint })).status,
    "handled",
  );
  setTrust(store, bob.fingerprint, "blacklisted");
  const dropped = await router.dispatch(encodeEnvelope(await hello()), { peer: bob.fingerprint });
  assert.equal(dropped.status, "dropped");
  assert.equal(dropped.code, "blacklisted");
  assert.deepEqual(dropped.replies, []);
  assert.equal(seen.length, 1);
});

Deno.test("ProtocolRouter rate-limits per peer: one signed refusal, then silent drops", async () => {
  const { router, store, sink } = setup({ rateLimit: { burst: 2, perSecond: 1 } });
  setTrust(store, bob.fingerprint, "probing");
  setTrust(store, carol.fingerprint, "probing");
  const statuses: string[] = [];
  let refusal;
  let dropped;
  for (let i = 0; i < 4; i++) {
    const r = await router.dispatch(encodeEnvelope(await stateUpdate()), { peer: bob.fingerprint });
    statuses.push(r.status);
    if (r.status === "refused") refusal = r;
    if (r.status === "dropped") dropped = r;
  }
  assert.deepEqual(statuses, ["handled", "handled", "refused", "dropped"]);
  assert.deepEqual(dropped?.replies, [], "a drop is silent: no answer");
  assert.equal(sink.events("router.rate_limited").length, 1, "one event, not one per message");
  assert.equal(refusal?.code, "quota");
  assert.equal(refusal?.retryAfterMs, 1000);
  // The one refusal is a signed ERROR from us to the peer.
  const answer = await verifyEnvelope(refusal!.replies[0]!.bytes, {
    expectedSender: alice.fingerprint,
    expectedReceiver: bob.fingerprint,
    now: () => new Date(T0),
  });
  assert.equal(answer.type, "ERROR");
  const payload = answer.payload as { code: string; retry_after_ms: number };
  assert.deepEqual([payload.code, payload.retry_after_ms], ["quota", 1000]);
  const other = await router.dispatch(encodeEnvelope(await stateUpdate(carol)), {
    peer: carol.fingerprint,
  });
  assert.equal(other.status, "handled", "another peer is not starved");
});

Deno.test("ProtocolRouter refuses with 'quota' and stores nothing when a store quota is full", async () => {
  const store = openStore(":memory:", { quotas: { replay: 1 } });
  const { router } = setup({ store });
  setTrust(store, bob.fingerprint, "probing");
  assert.equal(
    (await router.dispatch(encodeEnvelope(await hello()), { peer: bob.fingerprint })).status,
    "handled",
  );
  const second = await router.dispatch(encodeEnvelope(await hello()), { peer: bob.fingerprint });
  assert.equal(second.status, "refused");
  assert.equal(second.code, "quota");
  assert.equal(second.replies[0]?.envelope.type, "ERROR");
  assert.equal(store.replayEntries(0).length, 1);
});

Deno.test("ProtocolRouter turns a throwing runtime into an internal_error refusal and keeps going", async () => {
  let calls = 0;
  const store = openStore(":memory:");
  const router = new ProtocolRouter({
    identity: alice,
    store,
    now: () => T0,
    runtimes: [{
      protocol: "cip",
      types: ["HELLO"],
      handle: () => {
        calls += 1;
        return Promise.reject(new Error("boom"));
      },
    }],
  });
  const env = await hello();
  const result = await router.dispatch(encodeEnvelope(env), { peer: bob.fingerprint });
  assert.equal(result.status, "refused");
  assert.equal(result.code, "internal_error");
  assert.equal(result.error?.message, "boom");
  assert.equal(result.replies[0]?.envelope.type, "ERROR", "the peer is answered");
  // The message counts as seen (no second try of a poisoned message)...
  assert.equal(
    (await router.dispatch(encodeEnvelope(env), { peer: bob.fingerprint })).code,
    "replay",
  );
  // ...and the router keeps going: the next message reaches the runtime again.
  const next = await router.dispatch(encodeEnvelope(await hello()), { peer: bob.fingerprint });
  assert.equal(next.code, "internal_error");
  assert.equal(calls, 2);
});

Deno.test("ProtocolRouter refuses duplicate and foreign routes at registration and lists missing ones", () => {
  const { router } = setup();
  assert.throws(
    () => router.register({ protocol: "cip", types: ["HELLO"], handle: () => outcome("handled") }),
    (err) => err instanceof RoutingError && err.code === "DUPLICATE_ROUTE",
  );
  assert.throws(
    () =>
      router.register({
        protocol: "cip",
        types: ["HCP_HELLO" as never],
        handle: () => outcome("handled"),
      }),
    (err) => err instanceof RoutingError && err.code === "UNKNOWN_TYPE",
  );
  assert.deepEqual(router.routes(), ["cip/FACT_PROPOSE", "cip/HELLO", "cip/STATE_UPDATE"]);
  assert.equal(router.missingRoutes().length, 10 + 7 + 6 - 3);
});

Deno.test("ProtocolRouter takes its sanction rule from the options, else from the one runtime that declares it", async () => {
  const forged = async () => {
    const env = await stateUpdate();
    return JSON.stringify({ ...env, payload: { ...env.payload, lri: 99 } });
  };
  // Declared by the registered CIP runtime: a bad signature sanctions the session's peer.
  const declared = new ProtocolRouter({
    identity: alice,
    store: openStore(":memory:"),
    runtimes: [new CipRuntime()],
    now: () => T0,
  });
  setTrust(declared.store, bob.fingerprint, "probing");
  await declared.dispatch(await forged(), { peer: bob.fingerprint });
  assert.equal(declared.trust.peer(bob.fingerprint), "untrusted");
  // A second runtime declaring a rule is refused, and nothing of it is registered.
  assert.throws(
    () =>
      declared.register({
        protocol: "lip",
        types: ["LIP_FETCH"],
        handle: () => outcome("handled"),
        sanctions: () => outcome("ignored"),
      }),
    (err) => err instanceof RoutingError && err.code === "DUPLICATE_ROUTE",
  );
  assert.ok(!declared.routes().includes("lip/LIP_FETCH"));
  // Named in the options: it wins over the runtime's, which is not used.
  const seen: string[] = [];
  const named = new ProtocolRouter({
    identity: alice,
    store: openStore(":memory:"),
    runtimes: [new CipRuntime()],
    sanctions: (_error, ctx) => {
      seen.push(ctx.peer);
      return outcome("ignored");
    },
    now: () => T0,
  });
  setTrust(named.store, bob.fingerprint, "probing");
  const result = await named.dispatch(await forged(), { peer: bob.fingerprint });
  assert.deepEqual([result.status, result.code], ["dropped", "invalid_signature"]);
  assert.deepEqual(seen, [bob.fingerprint]);
  assert.equal(named.trust.peer(bob.fingerprint), "probing");
  // With no rule at all, nobody is sanctioned.
  const none = setup({ sanctions: undefined, runtimes: [echoRuntime()] });
  setTrust(none.store, bob.fingerprint, "probing");
  await none.router.dispatch(await forged(), { peer: bob.fingerprint });
  assert.equal(none.router.trust.peer(bob.fingerprint), "probing");
});

Deno.test("ProtocolRouter declares trust anchors once, logged with the owner as actor", () => {
  const store = openStore(":memory:");
  const make = () =>
    new ProtocolRouter({
      identity: alice,
      store,
      now: () => T0,
      trust: { anchors: [carol.fingerprint], owner: "Ada" },
    });
  make();
  make();
  assert.equal(make().trust.peer(carol.fingerprint), "trusted");
  const log = store.trustLog(carol.fingerprint);
  assert.equal(log.length, 1);
  assert.equal(log[0]?.actor, "Ada");
});

Deno.test("CHANNEL_OF gives every message type of the three protocols a channel, errors and handshakes on control", () => {
  for (const protocol of PROTOCOLS) {
    assert.deepEqual(
      Object.keys(CHANNEL_OF[protocol]).sort(),
      [...MESSAGE_TYPES[protocol]].sort(),
      `${protocol}: the table and the protocol's types are the same set`,
    );
  }
  for (
    const [protocol, type] of [
      ["cip", "HELLO"],
      ["cip", "VERIFY"],
      ["cip", "ERROR"],
      ["hcp", "HCP_HELLO"],
      ["hcp", "HCP_ERROR"],
      ["lip", "LIP_ERROR"],
    ] as const
  ) {
    assert.equal(channelOf(protocol, type), "control", `${protocol} ${type}`);
  }
  assert.throws(() => channelOf("cip", "HCP_HELLO"), TypeError);
});

Deno.test("ProtocolRouter groups queued work in one commit; a failed commit applies none of it, and a failed message is accepted again", async () => {
  const store = openStore(":memory:");
  let failNext = false;
  let groups = 0;
  const flaky = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "endGroup") {
        return () => {
          groups += 1;
          if (failNext) {
            failNext = false;
            target.abortGroup();
            throw new Error("disk full");
          }
          target.endGroup();
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const { router, sink } = setup({ store: flaky });
  setTrust(store, bob.fingerprint, "probing");
  const presence = (lri: number) =>
    outcome("handled", {
      changes: [{
        kind: "presence.set",
        record: {
          peer: bob.fingerprint,
          presence: "focused",
          lri,
          kernelSignals: [],
          updatedMs: T0,
        },
      }],
      effects: [{
        type: "presenceReceived",
        peer: bob.fingerprint,
        presence: "focused",
        lri,
        peerView: "probing",
      }],
    });
  // Three outcomes queued in one tick share one group, and that commit fails.
  failNext = true;
  const failed = await Promise.allSettled(
    [1, 2, 3].map((lri) => router.apply(presence(lri), { peer: bob.fingerprint })),
  );
  assert.deepEqual(failed.map((r) => r.status), ["rejected", "rejected", "rejected"]);
  assert.equal(groups, 1, "the three shared one group");
  assert.equal(store.presence(bob.fingerprint), undefined, "nothing of the failed group is stored");
  assert.equal(sink.events("cip.state_update").length, 0, "no event for what was not applied");
  assert.equal(sink.events("router.error").length, 1);
  // A dispatched message whose commit fails is not remembered as seen: it is accepted again.
  const env = await stateUpdate();
  failNext = true;
  await assert.rejects(
    router.dispatch(encodeEnvelope(env), { peer: bob.fingerprint }),
    /disk full/,
  );
  assert.deepEqual(store.replayEntries(0), []);
  const retried = await router.dispatch(encodeEnvelope(env), { peer: bob.fingerprint });
  assert.equal(retried.status, "handled");
  assert.equal(store.replayEntries(0).length, 1);
});
