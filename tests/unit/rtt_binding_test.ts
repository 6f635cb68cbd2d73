// The TypeScript side of the RTT binding over a scripted fake of the native
// symbols (tests/unit/rtt_fake_native.ts): event dispatch, hook order,
// receive credit, blocking sends, flush and shutdown. The same paths run
// against the real library in tests/integration/rtt_*_test.ts.
import assert from "node:assert/strict";
import { createNodeWith, type RttNode, type RttNodeEvent } from "../../lib/rtt/node.ts";
import { resolveNodeOptions, type RttNodeOptions } from "../../lib/rtt/options.ts";
import { EventKind, Status } from "../../lib/rtt/ffi.ts";
import {
  RTTBackpressureError,
  RTTDisconnectedError,
  RTTHandshakeError,
  RTTReplayError,
  RTTTransportError,
} from "../../lib/rtt/errors.ts";
import { Web4Error } from "../../lib/errors/mod.ts";
import { FakeNative } from "./rtt_fake_native.ts";

const FP_A = "a".repeat(64);
const FP_B = "b".repeat(64);
const identity = { fingerprint: FP_A, toPkcs8Pem: () => Promise.resolve("PEM-TEXT") };
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);
const tick = () => new Promise((r) => setTimeout(r, 0));

async function makeNode(
  extra: Partial<RttNodeOptions> = {},
): Promise<{ node: RttNode; fake: FakeNative; errors: unknown[] }> {
  const fake = new FakeNative();
  const errors: unknown[] = [];
  const options: RttNodeOptions = { identity, onHookError: (e) => errors.push(e), ...extra };
  const node = await createNodeWith(options, resolveNodeOptions(options), {
    symbols: fake.symbols(),
    wakeMode: "wait",
  });
  return { node, fake, errors };
}

async function connected(extra: Partial<RttNodeOptions> = {}) {
  const made = await makeNode(extra);
  const { node, fake } = made;
  fake.addSession(5n);
  const pending = node.connect({ hostname: "127.0.0.1", port: 4433, fingerprint: FP_B });
  await tick();
  await tick();
  fake.push(EventKind.CONNECTED, {
    session: 5n,
    op: 100n,
    payload: { id: "s-1", peer_fingerprint: FP_B },
  });
  const session = await pending;
  return { ...made, session };
}

Deno.test("RttNode.create passes every option as snake_case config JSON with the key PEM", async () => {
  const { node, fake } = await makeNode({ maxQueue: 8, allowPeers: [FP_B.toUpperCase()] });
  assert.equal(fake.config?.["key_pem"], "PEM-TEXT");
  assert.equal(fake.config?.["max_queue"], 8);
  assert.equal(fake.config?.["heartbeat_interval_ms"], 1000);
  assert.equal(fake.config?.["backpressure_policy"], "block");
  assert.deepEqual(fake.config?.["allow_peers"], [FP_B]);
  assert.equal(node.fingerprint, FP_A);
  await node.shutdown();
});

Deno.test("RttNode.connect resolves to a session with the peer's fingerprint and id on CONNECTED", async () => {
  const { node, fake, session } = await connected();
  assert.equal(session.id, "s-1");
  assert.equal(session.peerFingerprint, FP_B);
  assert.equal(session.state, "open");
  assert.deepEqual(fake.calls, [`connect 127.0.0.1:4433 ${FP_B} 5000`]);
  await node.shutdown();
});

Deno.test("RttNode.connect rejects with RTTHandshakeError naming the peer on CONNECT_FAILED", async () => {
  const { node, fake } = await makeNode();
  const pending = node.connect({ hostname: "127.0.0.1", port: 4433, fingerprint: FP_B });
  await tick();
  fake.push(EventKind.CONNECT_FAILED, {
    op: 100n,
    payload: { code: "FINGERPRINT_MISMATCH", message: "presented cc" },
  });
  await assert.rejects(pending, (err: unknown) => {
    assert.ok(err instanceof RTTHandshakeError);
    assert.ok(err instanceof Web4Error);
    assert.equal(err.code, "FINGERPRINT_MISMATCH");
    assert.equal(err.peer, FP_B);
    assert.match(err.message, new RegExp(FP_B));
    return true;
  });
  await node.shutdown();
});

Deno.test("RttNode.connect validates its arguments before any native call", async () => {
  const { node, fake } = await makeNode();
  await assert.rejects(
    () => node.connect({ hostname: "127.0.0.1", port: 4433, fingerprint: "xyz" }),
    RangeError,
  );
  await assert.rejects(
    () => node.connect({ hostname: "127.0.0.1", port: 70000, fingerprint: FP_B }),
    RangeError,
  );
  await assert.rejects(() => node.connect({ hostname: "", port: 1, fingerprint: FP_B }), TypeError);
  assert.deepEqual(fake.calls, []);
  await node.shutdown();
});

Deno.test("RttNode.connect aborted by its signal cancels the native operation", async () => {
  const { node, fake } = await makeNode();
  const ac = new AbortController();
  const pending = node.connect({
    hostname: "127.0.0.1",
    port: 4433,
    fingerprint: FP_B,
    signal: ac.signal,
  });
  await tick();
  ac.abort(new Error("stop"));
  await assert.rejects(pending, /stop/);
  assert.ok(fake.calls.includes("cancel 100"));
  await node.shutdown();
});

Deno.test("RttNode.accept hands out ACCEPTED sessions in order, queued or awaited", async () => {
  const { node, fake } = await makeNode();
  fake.addSession(7n);
  fake.addSession(8n);
  fake.addSession(9n);
  const waiting = node.accept();
  fake.push(EventKind.ACCEPTED, { session: 7n, payload: { id: "s7", peer_fingerprint: FP_B } });
  assert.equal((await waiting).id, "s7");
  fake.push(EventKind.ACCEPTED, { session: 8n, payload: { id: "s8", peer_fingerprint: FP_B } });
  fake.push(EventKind.ACCEPTED, { session: 9n, payload: { id: "s9", peer_fingerprint: FP_B } });
  await new Promise((r) => setTimeout(r, 60)); // the idle poll picks them up
  assert.equal((await node.accept()).id, "s8");
  const it = node.sessions();
  assert.equal((await it.next()).value?.id, "s9");
  const end = it.next();
  await node.shutdown();
  assert.deepEqual(await end, { value: undefined, done: true });
  await assert.rejects(() => node.accept(), RTTDisconnectedError);
});

Deno.test("Session hooks see heartbeat_timeout -> connection_lost -> session_open{resumed} in order", async () => {
  const { node, fake, session } = await connected();
  const seen: string[] = [];
  const nodeSeen: string[] = [];
  node.onEvent((e) => nodeSeen.push(e.type));
  session.onHeartbeatTimeout((e) => seen.push(`hb:${e.reason}`));
  session.onSessionOpen((e) => seen.push(`open:${e.resumed}:${e.reconnects}`));
  assert.deepEqual(seen, ["open:false:0"], "an open-hook on an open session runs at once");
  fake.push(EventKind.HEARTBEAT_TIMEOUT, { session: 5n, payload: {} });
  fake.push(EventKind.CONNECTION_LOST, { session: 5n, payload: { reason: "heartbeat_timeout" } });
  fake.push(EventKind.SESSION_OPEN, {
    session: 5n,
    value: 1n,
    payload: { resumed: true, reconnects: 1 },
  });
  const ch = await session.openChannel("state");
  await ch.receive({ signal: AbortSignal.timeout(200) }).catch(() => {}); // let the node drain
  assert.deepEqual(seen, ["open:false:0", "hb:heartbeat_timeout", "open:true:1"]);
  assert.deepEqual(nodeSeen, ["heartbeat_timeout", "connection_lost", "session_open"]);
  assert.equal(session.state, "open");
  await node.shutdown();
});

Deno.test("Without resumption a heartbeat timeout ends with session_close and sends fail typed", async () => {
  const { node, fake, session } = await connected({ resumeWindowMs: 0 });
  const ch = await session.openChannel("state");
  const order: string[] = [];
  session.onHeartbeatTimeout(() => order.push("heartbeat_timeout"));
  session.onSessionClose((e) => order.push(`close:${e.reason}`));
  fake.push(EventKind.HEARTBEAT_TIMEOUT, { session: 5n, payload: {} });
  fake.push(EventKind.CONNECTION_LOST, { session: 5n, payload: { reason: "heartbeat_timeout" } });
  fake.push(EventKind.SESSION_CLOSE, {
    session: 5n,
    value: 2n,
    payload: { reason: "heartbeat_timeout" },
  });
  await session.closed;
  assert.deepEqual(order, ["heartbeat_timeout", "close:heartbeat_timeout"]);
  assert.ok(fake.calls.includes("release 5"));
  await assert.rejects(() => ch.send(enc("x")), (err: unknown) => {
    assert.ok(err instanceof RTTDisconnectedError);
    assert.equal(err.code, "SESSION_CLOSED");
    assert.equal(err.undelivered, 1);
    assert.match(err.message, /channel "state"/);
    assert.match(err.message, new RegExp(FP_B));
    return true;
  });
  await assert.rejects(() => ch.receive(), RTTDisconnectedError, "abnormal end is an error");
  await node.shutdown();
});

Deno.test("A hook that throws does not stop the other hooks or corrupt the session", async () => {
  const { node, fake, session, errors } = await connected();
  const seen: string[] = [];
  session.onSessionClose(() => {
    throw new Error("boom");
  });
  session.onSessionClose((e) => seen.push(String(e.reason)));
  fake.push(EventKind.SESSION_CLOSE, { session: 5n, payload: { reason: "peer_closed" } });
  await session.closed;
  await tick();
  assert.deepEqual(seen, ["peer_closed"]);
  assert.equal(session.state, "closed");
  assert.equal((errors[0] as Error).message, "boom");
  await session.close(); // closing a closed session is a no-op
  await node.shutdown();
});

Deno.test("A hook that registers an open-hook from inside a hook gets it queued, not recursed", async () => {
  const { node, session } = await connected();
  const seen: string[] = [];
  let depth = 0;
  session.onSessionOpen(() => {
    depth++;
    seen.push(`outer depth ${depth}`);
    session.onSessionOpen(() => seen.push(`inner depth ${depth}`));
    depth--;
  });
  assert.deepEqual(seen, ["outer depth 1", "inner depth 0"]);
  await node.shutdown();
});

Deno.test("Channel receive pulls only as consumed, in order, and ends with null at CHANNEL_CLOSED", async () => {
  const { node, fake, session } = await connected();
  const ch = await session.openChannel("knowledge");
  const fc = fake.channel(5n, "knowledge");
  // 40 messages of 4 KiB: more than one 64 KiB read-ahead holds.
  for (let i = 0; i < 40; i++) fc.inbound.push(new Uint8Array(4096).fill(i));
  const first = await ch.receive();
  assert.equal(first?.[0], 0);
  assert.ok(fc.inbound.length > 20, `read-ahead is bounded (${fc.inbound.length} left natively)`);
  const got = [0];
  const waiting = (async () => {
    for await (const m of ch) got.push(m[0]!);
  })();
  await new Promise((r) => setTimeout(r, 20));
  fc.peerClosed = true;
  fake.push(EventKind.READABLE, { session: 5n, op: 1n });
  await waiting;
  assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => i));
  assert.equal(await ch.receive(), null);
  await node.shutdown();
});

Deno.test("Channel receive wakes on READABLE and honours its abort signal", async () => {
  const { node, fake, session } = await connected();
  const ch = await session.openChannel("state");
  const ac = new AbortController();
  const aborted = ch.receive({ signal: ac.signal });
  ac.abort(new Error("gave up"));
  await assert.rejects(aborted, /gave up/);
  const pending = ch.receive();
  await tick();
  fake.channel(5n, "state").inbound.push(enc("late"));
  fake.push(EventKind.READABLE, { session: 5n, op: 1n });
  assert.equal(dec(await pending), "late");
  assert.ok(fake.waits > 0, "a pending receive keeps node_wait running");
  await node.shutdown();
});

Deno.test("A message larger than the read-ahead buffer is fetched with a buffer of the needed size", async () => {
  const { node, fake, session } = await connected();
  const ch = await session.openChannel("knowledge");
  const big = new Uint8Array(200_000).fill(9);
  fake.channel(5n, "knowledge").inbound.push(big);
  const got = await ch.receive();
  assert.equal(got?.length, 200_000);
  assert.equal(got?.[199_999], 9);
  await node.shutdown();
});

Deno.test("Block policy: a WOULD_BLOCK send waits natively and later sends keep their order", async () => {
  const { node, fake, session } = await connected({ maxQueue: 1 });
  const ch = await session.openChannel("state");
  await ch.send(enc("m0"));
  const p1 = ch.send(enc("m1"));
  const p2 = ch.send(enc("m2"));
  await tick();
  const fc = fake.channel(5n, "state");
  assert.equal(fc.blocked.length, 1, "only the first blocked send is in the native wait");
  fc.sent.shift();
  fake.unblock(5n, "state");
  await p1;
  await tick();
  // m2 is tried only after m1 is in: the queue is full again, so it blocks in turn.
  assert.equal(fc.blocked.length, 1);
  fc.sent.shift();
  fake.unblock(5n, "state");
  await p2;
  assert.deepEqual(fc.accepted.map((m) => dec(m)), ["m0", "m1", "m2"]);
  const p3 = ch.send(enc("m3"));
  await tick();
  fake.unblock(5n, "state", Status.BLOCK_TIMEOUT);
  await assert.rejects(p3, (err: unknown) => {
    assert.ok(err instanceof RTTBackpressureError);
    assert.equal(err.code, "BLOCK_TIMEOUT");
    assert.match(err.message, /channel "state"/);
    return true;
  });
  await node.shutdown();
});

Deno.test("Error policy maps QUEUE_FULL to RTTBackpressureError; size is checked before FFI", async () => {
  const { node, session } = await connected({ maxMessageBytes: 16 });
  const ch = await session.openChannel("control", { backpressurePolicy: "error", maxQueue: 1 });
  await ch.send(enc("a"));
  await assert.rejects(() => ch.send(enc("b")), (err: unknown) => {
    assert.ok(err instanceof RTTBackpressureError);
    assert.equal(err.code, "QUEUE_FULL");
    return true;
  });
  await assert.rejects(() => ch.send(new Uint8Array(17)), (err: unknown) => {
    assert.ok(err instanceof RTTTransportError);
    assert.equal(err.code, "MESSAGE_TOO_LARGE");
    assert.match(err.message, /channel "control"/);
    return true;
  });
  await assert.rejects(() => ch.send("text" as unknown as Uint8Array), TypeError);
  await ch.close();
  await ch.close();
  await assert.rejects(() => ch.send(enc("c")), (err: unknown) => {
    assert.ok(err instanceof RTTDisconnectedError);
    assert.equal(err.code, "CHANNEL_CLOSED");
    return true;
  });
  await node.shutdown();
});

Deno.test("openChannel validates the kind and maps TOO_MANY_CHANNELS", async () => {
  const { node, session } = await connected({ maxChannels: 1 });
  await assert.rejects(() => session.openChannel("Bad Name"), RangeError);
  await assert.rejects(() => session.openChannel("x".repeat(65)), RangeError);
  const a = await session.openChannel("a.b-c_1");
  assert.equal(await session.openChannel("a.b-c_1"), a, "the same kind is the same channel");
  await assert.rejects(() => session.openChannel("other"), (err: unknown) => {
    assert.ok(err instanceof RTTTransportError);
    assert.equal(err.code, "TOO_MANY_CHANNELS");
    assert.match(err.message, /channel "other"/);
    return true;
  });
  await node.shutdown();
});

Deno.test("flush resolves on FLUSHED and rejects with the undelivered count on FLUSH_FAILED", async () => {
  const { node, fake, session } = await connected();
  const ch = await session.openChannel("state");
  const ok = ch.flush();
  await tick();
  fake.push(EventKind.FLUSHED, { session: 5n, op: 101n });
  await ok;
  const bad = ch.flush();
  await tick();
  fake.push(EventKind.FLUSH_FAILED, {
    session: 5n,
    op: 102n,
    value: 3n,
    payload: { reason: "resume_timeout" },
  });
  await assert.rejects(bad, (err: unknown) => {
    assert.ok(err instanceof RTTDisconnectedError);
    assert.equal(err.code, "RESUME_TIMEOUT");
    assert.equal(err.undelivered, 3);
    assert.match(err.message, /channel "state"/);
    return true;
  });
  const cut = ch.flush();
  await tick();
  fake.push(EventKind.SESSION_CLOSE, {
    session: 5n,
    value: 4n,
    payload: { reason: "resume_timeout" },
  });
  await assert.rejects(cut, (err: unknown) => {
    assert.ok(err instanceof RTTDisconnectedError);
    assert.equal(err.undelivered, 4);
    return true;
  });
  await node.shutdown();
});

Deno.test("stats are camelCase and survive the session's release as a snapshot", async () => {
  const { node, session } = await connected();
  const ch = await session.openChannel("state", { backpressurePolicy: "drop_oldest" });
  await ch.send(enc("1"));
  await ch.send(enc("2"));
  assert.equal(session.stats().messagesOut, 2);
  assert.equal(ch.stats().enqueued, 2);
  await session.close();
  assert.equal(session.state, "closed");
  assert.equal(session.stats().messagesOut, 2);
  assert.equal(ch.stats().maxQueueLen, 2);
  assert.equal(node.metrics().bytesIn, 7);
  await node.shutdown();
});

Deno.test("node.onEvent reports drops, replays (RTTReplayError) and refused handshakes", async () => {
  const { node, fake } = await connected();
  const events: RttNodeEvent[] = [];
  const off = node.onEvent((e) => events.push(e));
  fake.push(EventKind.DROP, {
    session: 5n,
    op: 1n,
    value: 2n,
    payload: { cause: "drop_oldest", channel: "state" },
  });
  fake.push(EventKind.REPLAY, { session: 5n, op: 1n, value: 17n, payload: { channel: "state" } });
  fake.push(EventKind.VERIFICATION_FAILURE, {
    payload: { code: "FINGERPRINT_MISMATCH", peer_fingerprint: FP_B, message: "no" },
  });
  await new Promise((r) => setTimeout(r, 80));
  off();
  const [drop, replay, refused] = events;
  assert.deepEqual(drop, {
    type: "drop",
    sessionId: "s-1",
    peerFingerprint: FP_B,
    channel: "state",
    cause: "drop_oldest",
    count: 2,
  });
  assert.equal(replay?.type, "replay");
  if (replay?.type === "replay") {
    assert.equal(replay.sequence, 17n);
    assert.ok(replay.error instanceof RTTReplayError);
    assert.equal(replay.error.code, "REPLAY");
    assert.match(replay.error.message, new RegExp(FP_B));
  }
  assert.equal(refused?.type, "verification_failure");
  await node.shutdown();
});

Deno.test("shutdown closes sessions, frees the node once, and is safe to call twice", async () => {
  const { node, fake, session } = await connected();
  const closes: string[] = [];
  session.onSessionClose((e) => closes.push(String(e.reason)));
  await Promise.all([node.shutdown(), node.shutdown()]);
  await node[Symbol.asyncDispose]();
  assert.equal(fake.freed, 1);
  assert.equal(session.state, "closed");
  assert.deepEqual(closes, ["manual"]);
  await assert.rejects(
    () => node.listen({ hostname: "127.0.0.1", port: 0 }),
    RTTDisconnectedError,
  );
});

Deno.test("An idle node does not run node_wait; the wait loop runs only while something is awaited", async () => {
  const { node, fake } = await makeNode();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(fake.waits, 0);
  const ac = new AbortController();
  const pending = node.accept({ signal: ac.signal });
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(fake.waits > 0);
  ac.abort();
  await assert.rejects(pending);
  await node.shutdown();
});

Deno.test("An event queued inside the native call (flush with nothing outstanding) still completes the flush", async () => {
  const { node, fake, session } = await connected();
  const ch = await session.openChannel("state");
  fake.flushImmediately = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    ch.flush(),
    new Promise((_, reject) => timer = setTimeout(() => reject(new Error("flush hung")), 1000)),
  ]);
  clearTimeout(timer);
  await node.shutdown();
});

Deno.test("A session accepted natively just before accept() is called is handed to that call", async () => {
  const { node, fake } = await makeNode();
  fake.addSession(11n);
  fake.push(EventKind.ACCEPTED, { session: 11n, payload: { id: "s11", peer_fingerprint: FP_B } });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const session = await Promise.race([
    node.accept(),
    new Promise<never>((_, reject) =>
      timer = setTimeout(() => reject(new Error("accept hung")), 1000)
    ),
  ]);
  clearTimeout(timer);
  assert.equal(session.id, "s11");
  await node.shutdown();
});

Deno.test("A malformed event batch is reported to onHookError and the node keeps working", async () => {
  const { node, fake, errors } = await makeNode();
  const bad = new Uint8Array(40);
  new DataView(bad.buffer).setUint32(0, EventKind.ACCEPTED, true);
  new DataView(bad.buffer).setUint32(4, 100, true); // claims more payload than there is
  fake.rawPoll = bad;
  fake.addSession(12n);
  const accepted = node.accept();
  fake.push(EventKind.ACCEPTED, { session: 12n, payload: { id: "s12", peer_fingerprint: FP_B } });
  assert.equal((await accepted).id, "s12");
  assert.ok(errors.some((e) => e instanceof RTTTransportError && e.code === "PROTOCOL"));
  await node.shutdown();
});
