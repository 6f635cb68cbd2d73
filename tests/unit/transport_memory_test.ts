import assert from "node:assert/strict";
import {
  MemoryNetwork,
  MemoryTransport,
  type MemoryTransportEvent,
  type MemoryTransportOptions,
} from "../../lib/rtt/memory.ts";
import {
  RTTBackpressureError,
  RTTDisconnectedError,
  RTTHandshakeError,
  RTTTransportError,
} from "../../lib/rtt/errors.ts";
import type { TransportSession } from "../../lib/rtt/transport.ts";

const FA = "a".repeat(64);
const FB = "b".repeat(64);
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);

async function pair(
  a: Partial<MemoryTransportOptions> = {},
  b: Partial<MemoryTransportOptions> = {},
) {
  const network = new MemoryNetwork();
  const server = await MemoryTransport.create({ identity: { fingerprint: FA }, network, ...a });
  const client = await MemoryTransport.create({ identity: { fingerprint: FB }, network, ...b });
  const { port } = await server.listen({ hostname: "srv", port: 0 });
  const [out, inn] = await Promise.all([
    client.connect({ hostname: "srv", port, fingerprint: FA }),
    server.accept(),
  ]);
  return { network, server, client, out, inn, port };
}

Deno.test("MemoryTransport pairs sessions with each side's peer fingerprint and one id", async () => {
  const { server, client, out, inn } = await pair();
  assert.equal(out.peerFingerprint, FA);
  assert.equal(inn.peerFingerprint, FB);
  assert.equal(out.id, inn.id);
  await client.shutdown();
  await server.shutdown();
});

Deno.test("MemoryTransport refuses a wrong pin, an unlisted peer and an empty address", async () => {
  const network = new MemoryNetwork();
  const server = await MemoryTransport.create({
    identity: { fingerprint: FA },
    network,
    allowPeers: ["c".repeat(64)],
  });
  const client = await MemoryTransport.create({ identity: { fingerprint: FB }, network });
  const { port } = await server.listen({ hostname: "srv", port: 0 });
  await assert.rejects(
    () => client.connect({ hostname: "srv", port, fingerprint: "d".repeat(64) }),
    (e: unknown) => e instanceof RTTHandshakeError && e.code === "FINGERPRINT_MISMATCH",
  );
  await assert.rejects(
    () => client.connect({ hostname: "srv", port, fingerprint: FA }),
    (e: unknown) => e instanceof RTTHandshakeError && e.code === "PEER_NOT_ALLOWED",
  );
  assert.equal(server.metrics().verificationFailures, 1);
  await assert.rejects(
    () => client.connect({ hostname: "srv", port: port + 1, fingerprint: FA }),
    (e: unknown) => e instanceof RTTTransportError && e.code === "IO",
  );
  await server.shutdown();
  await client.shutdown();
});

Deno.test("MemoryTransport channels keep per-channel order and wait for the late opener", async () => {
  const { server, client, out, inn } = await pair();
  const kinds = ["control", "state", "knowledge"];
  const sends = kinds.map(async (k) => {
    const ch = await out.openChannel(k);
    for (let i = 0; i < 50; i++) await ch.send(enc(`${k}-${i}`));
    await ch.close();
  });
  await Promise.all(sends);
  for (const k of kinds) {
    const ch = await inn.openChannel(k);
    const got: string[] = [];
    for await (const m of ch) got.push(dec(m)!);
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `${k}-${i}`));
  }
  await client.shutdown();
  await server.shutdown();
});

Deno.test("MemoryTransport error policy rejects a full queue and counts it", async () => {
  const { server, client, out } = await pair({}, { backpressurePolicy: "error", maxQueue: 2 });
  const ch = await out.openChannel("state");
  await ch.send(enc("1"));
  await ch.send(enc("2"));
  await assert.rejects(
    () => ch.send(enc("3")),
    (e: unknown) => e instanceof RTTBackpressureError && e.code === "QUEUE_FULL",
  );
  const s = ch.stats();
  assert.deepEqual([s.attempted, s.enqueued, s.errors, s.overflowEvents, s.maxQueueLen], [
    3,
    2,
    1,
    1,
    2,
  ]);
  await client.shutdown();
  await server.shutdown();
});

Deno.test("MemoryTransport drop_oldest and drop_newest keep the right messages and report drops", async () => {
  const { server, client, out, inn } = await pair({}, { maxQueue: 2 });
  const events: MemoryTransportEvent[] = [];
  client.onEvent((e) => events.push(e));
  const oldest = await out.openChannel("a", { backpressurePolicy: "drop_oldest" });
  const newest = await out.openChannel("b", { backpressurePolicy: "drop_newest" });
  for (const m of ["1", "2", "3", "4"]) {
    await oldest.send(enc(m));
    await newest.send(enc(m));
  }
  const ra = await inn.openChannel("a");
  const rb = await inn.openChannel("b");
  assert.deepEqual([dec(await ra.receive()), dec(await ra.receive())], ["3", "4"]);
  assert.deepEqual([dec(await rb.receive()), dec(await rb.receive())], ["1", "2"]);
  assert.equal(oldest.stats().droppedOldest, 2);
  assert.equal(newest.stats().droppedNewest, 2);
  assert.equal(newest.stats().dropped, 2);
  assert.deepEqual(
    events.filter((e) => e.type === "drop").map((e) => `${e.channel}:${e.cause}`),
    ["a:drop_oldest", "b:drop_newest", "a:drop_oldest", "b:drop_newest"],
  );
  await client.shutdown();
  await server.shutdown();
});

Deno.test("MemoryTransport block policy waits for the reader, keeps order, and times out", async () => {
  const { server, client, out, inn } = await pair({}, { maxQueue: 1, blockTimeoutMs: 50 });
  const delay = () => new Promise((r) => setTimeout(r, 5));
  const ch = await out.openChannel("state");
  const rx = await inn.openChannel("state");
  await ch.send(enc("1"));
  const p2 = ch.send(enc("2"));
  const p3 = ch.send(enc("3"));
  await delay();
  assert.equal(ch.stats().blocked, 1, "the second send waits for room");
  assert.equal(dec(await rx.receive()), "1");
  await p2;
  await delay();
  assert.equal(ch.stats().blocked, 2, "the third send waited behind the second, then blocked");
  assert.equal(dec(await rx.receive()), "2");
  await p3;
  assert.equal(dec(await rx.receive()), "3");
  await ch.send(enc("4"));
  await assert.rejects(
    () => ch.send(enc("5")),
    (e: unknown) => e instanceof RTTBackpressureError && e.code === "BLOCK_TIMEOUT",
  );
  const s = ch.stats();
  assert.deepEqual([s.blocked, s.errors, s.enqueued, s.attempted], [3, 1, 4, 5]);
  await client.shutdown();
  await server.shutdown();
});

Deno.test("MemoryTransport flush resolves once the peer read everything, rejects on close", async () => {
  const { server, client, out, inn } = await pair();
  const ch = await out.openChannel("state");
  await ch.send(enc("x"));
  await ch.send(enc("y"));
  let flushed = false;
  const f = ch.flush().then(() => flushed = true);
  const rx = await inn.openChannel("state");
  await rx.receive();
  await Promise.resolve();
  assert.equal(flushed, false);
  await rx.receive();
  await f;
  await ch.send(enc("z"));
  const cut = ch.flush();
  await inn.close();
  await assert.rejects(cut, (e: unknown) => {
    assert.ok(e instanceof RTTDisconnectedError);
    assert.equal(e.undelivered, 1);
    return true;
  });
  await assert.rejects(
    () => ch.send(enc("after")),
    (e: unknown) => e instanceof RTTDisconnectedError && e.code === "SESSION_CLOSED",
  );
  assert.equal(dec(await rx.receive()), "z", "what was already received stays readable");
  assert.equal(await rx.receive(), null, "a cleanly closed session ends receive with null");
  await client.shutdown();
  await server.shutdown();
});

Deno.test("MemoryTransport rejects oversized messages and sends on closed channels", async () => {
  const { server, client, out } = await pair({}, { maxMessageBytes: 4 });
  const ch = await out.openChannel("state");
  await assert.rejects(
    () => ch.send(new Uint8Array(5)),
    (e: unknown) => e instanceof RTTTransportError && e.code === "MESSAGE_TOO_LARGE",
  );
  await ch.close();
  await assert.rejects(
    () => ch.send(enc("a")),
    (e: unknown) =>
      e instanceof RTTDisconnectedError && e.code === "CHANNEL_CLOSED" && e.undelivered === 1,
  );
  await client.shutdown();
  await server.shutdown();
});

Deno.test("MemoryNetwork.dropConnection gives the spec's event order with and without resumption", async () => {
  for (const resume of [true, false]) {
    const { network, server, client, out, inn } = await pair(
      {},
      { resumeWindowMs: resume ? 30000 : 0 },
    );
    const log: string[] = [];
    const hook = (s: TransportSession, side: string) => {
      s.onHeartbeatTimeout(() => log.push(`${side}:heartbeat_timeout`));
      s.onSessionOpen((e) => log.push(`${side}:open:${e.resumed}:${e.reconnects}`));
      s.onSessionClose((e) => log.push(`${side}:close:${e.reason}`));
    };
    hook(out, "client");
    const nodeLog: string[] = [];
    client.onEvent((e) => nodeLog.push(e.type));
    network.dropConnection(out, { heartbeatTimeout: true, resume: true });
    if (resume) {
      assert.deepEqual(log, [
        "client:open:false:0",
        "client:heartbeat_timeout",
        "client:open:true:1",
      ]);
      assert.deepEqual(nodeLog, ["heartbeat_timeout", "connection_lost", "session_open"]);
      assert.equal(out.state, "open");
      assert.equal(inn.state, "open");
    } else {
      assert.deepEqual(log, [
        "client:open:false:0",
        "client:heartbeat_timeout",
        "client:close:heartbeat_timeout",
      ]);
      assert.deepEqual(nodeLog, ["heartbeat_timeout", "connection_lost", "session_close"]);
      assert.equal(out.state, "closed");
    }
    await client.shutdown();
    await server.shutdown();
  }
});

Deno.test("MemoryTransport hooks: a throwing hook is contained, clearSessionHooks removes all", async () => {
  const errors: unknown[] = [];
  const { server, client, out } = await pair({}, { onHookError: (e) => errors.push(e) });
  const seen: string[] = [];
  out.onSessionClose(() => {
    throw new Error("hook failed");
  });
  out.onSessionClose((e) => seen.push(String(e.reason)));
  const off = out.onHeartbeatTimeout(() => seen.push("never"));
  off();
  await out.close();
  assert.deepEqual(seen, ["manual"]);
  assert.equal((errors[0] as Error).message, "hook failed");
  assert.equal(out.state, "closed");
  out.clearSessionHooks();
  await client.shutdown();
  await server.shutdown();
});

Deno.test("MemoryTransport shutdown ends accept and is safe twice", async () => {
  const network = new MemoryNetwork();
  const t = await MemoryTransport.create({ identity: { fingerprint: FA }, network });
  const waiting = t.accept();
  await t.shutdown();
  await t.shutdown();
  await assert.rejects(waiting, RTTDisconnectedError);
  await assert.rejects(() => t.listen({ hostname: "x", port: 0 }), RTTDisconnectedError);
  await assert.rejects(
    () => MemoryTransport.create({ identity: { fingerprint: FA }, maxQueue: 0 }),
    RangeError,
  );
});
