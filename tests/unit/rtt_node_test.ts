// RttNode, RttSession and RttChannel over the memory backend: the real
// native core and driver over in-process pipes, with the network's faults.
// (These replace the tests that ran the TypeScript layer against a fake of
// the native library: the same guarantees, on the real core.)
//
// These run on the real clock. Their timing twins, on a ManualClock with
// exact instants, are in tests/unit/virtual_time_rtt_test.ts: the handshake
// timeout ("Handshake deadline (virtual)") and the heartbeat hook order
// ("Heartbeat timeout with resumption (virtual)").
import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { memory, MemoryNetwork, type RttOptions } from "../../lib/rtt/mod.ts";
import {
  RTTDisconnectedError,
  RTTHandshakeError,
  type TransportEvent,
} from "../../lib/transport/mod.ts";
import { waitFor, within } from "../helpers/rtt.ts";

const [idA, idB] = await Promise.all([Identity.generate(), Identity.generate()]);
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);

async function nodes(a: RttOptions = {}, b: RttOptions = {}) {
  const network = new MemoryNetwork();
  const server = await memory({ ...a, network })({ identity: idA });
  const client = await memory({ ...b, network })({ identity: idB });
  const { port } = await server.listen({ hostname: "srv", port: 0 });
  return {
    network,
    server,
    client,
    port,
    connect: () => client.connect({ hostname: "srv", port, fingerprint: idA.fingerprint }),
    async [Symbol.asyncDispose]() {
      await client.shutdown({ deadlineMs: 100 });
      await server.shutdown({ deadlineMs: 100 });
    },
  };
}

Deno.test("RttNode.connect validates its arguments before opening anything", async () => {
  await using n = await nodes();
  await assert.rejects(
    () => n.client.connect({ hostname: "srv", port: n.port, fingerprint: "xyz" }),
    RangeError,
  );
  await assert.rejects(
    () => n.client.connect({ hostname: "srv", port: 70000, fingerprint: idA.fingerprint }),
    RangeError,
  );
  await assert.rejects(
    () => n.client.connect({ hostname: "", port: 1, fingerprint: idA.fingerprint }),
    TypeError,
  );
  assert.equal(n.server.metrics().pendingHandshakes, 0);
});

Deno.test("RttNode.connect aborted by its signal during the handshake rejects with the reason", async () => {
  await using n = await nodes();
  n.network.stall(n.server, n.client); // the handshake cannot finish
  const ac = new AbortController();
  const pending = n.client.connect({
    hostname: "srv",
    port: n.port,
    fingerprint: idA.fingerprint,
    signal: ac.signal,
  });
  await waitFor("handshake started", () => n.server.metrics().pendingHandshakes === 1);
  ac.abort(new Error("stop"));
  await assert.rejects(pending, /stop/);
  n.network.heal();
});

Deno.test("A connect that gets no answer fails with HANDSHAKE_TIMEOUT", async () => {
  await using n = await nodes();
  n.network.stall(n.server, n.client);
  await assert.rejects(
    () =>
      n.client.connect({
        hostname: "srv",
        port: n.port,
        fingerprint: idA.fingerprint,
        timeoutMs: 100,
      }),
    (e: unknown) => e instanceof RTTHandshakeError && e.code === "HANDSHAKE_TIMEOUT",
  );
  n.network.heal();
});

Deno.test("RttNode.accept hands out sessions in order, queued or awaited; sessions() ends at shutdown", async () => {
  const n = await nodes();
  const waiting = n.server.accept();
  const first = await n.connect();
  assert.equal((await waiting).id, first.id);
  const second = await n.connect();
  const third = await n.connect();
  await waitFor("both accepted", () => n.server.metrics().sessions === 3);
  assert.equal((await n.server.accept()).id, second.id);
  const it = n.server.sessions();
  assert.equal((await it.next()).value?.id, third.id);
  const end = it.next();
  await n.client.shutdown();
  await n.server.shutdown();
  assert.deepEqual(await end, { value: undefined, done: true });
  await assert.rejects(() => n.server.accept(), RTTDisconnectedError);
});

Deno.test("openChannel validates the kind and its options", async () => {
  await using n = await nodes();
  const s = await n.connect();
  await assert.rejects(() => s.openChannel("Bad Kind"), RangeError);
  await assert.rejects(() => s.openChannel("state", { maxQueue: 0 }), RangeError);
  await assert.rejects(
    () => s.openChannel("state", { priority: 5 as unknown as 0 }),
    RangeError,
  );
  await assert.rejects(
    () => s.openChannel("state", { backpressurePolicy: "nope" as "block" }),
    RangeError,
  );
});

Deno.test("A length property defined by JavaScript never makes the library read past the buffer", async () => {
  await using n = await nodes();
  const out = await n.connect();
  const inn = await n.server.accept();
  const tx = await out.openChannel("state");
  const rx = await inn.openChannel("state");
  const data = new Uint8Array(16).fill(7);
  Object.defineProperty(data, "length", { value: 65536 });
  Object.defineProperty(data, "byteLength", { value: 65536 });
  await tx.send(data);
  const got = await within(5000, "receive", rx.receive());
  assert.equal(got?.byteLength, 16);
  assert.ok(got?.every((b) => b === 7));
});

Deno.test("Hooks see heartbeat_timeout -> connection_lost -> session_open{resumed}; nothing is lost", async () => {
  await using n = await nodes({}, {
    heartbeatIntervalMs: 20,
    heartbeatTimeoutMs: 120,
    reconnectInitialDelayMs: 5,
    reconnectMaxDelayMs: 20,
  });
  const out = await n.connect();
  const inn = await n.server.accept();
  const tx = await out.openChannel("state");
  const seen: string[] = [];
  out.onHeartbeatTimeout(() => seen.push("heartbeat_timeout"));
  out.onSessionOpen((e) => seen.push(`session_open:${e.resumed}:${e.reconnects}`));
  const events: TransportEvent[] = [];
  n.client.onEvent((e) => events.push(e));
  n.network.stall(n.server, n.client);
  await tx.send(enc("during the stall"));
  await waitFor("connection lost", () => out.state === "reconnecting");
  n.network.heal();
  await waitFor("resumed", () => seen.some((s) => s.startsWith("session_open:true")));
  assert.deepEqual(seen, ["session_open:false:0", "heartbeat_timeout", "session_open:true:1"]);
  assert.deepEqual(
    events.map((e) => e.type).filter((t) => t !== "rekey"),
    ["heartbeat_timeout", "connection_lost", "session_open"],
  );
  const rx = await inn.openChannel("state");
  assert.equal(dec(await within(5000, "receive", rx.receive())), "during the stall");
});

Deno.test("A fresh session from a peer that holds a disconnected one replaces it (reason replaced)", async () => {
  await using n = await nodes({}, { reconnectInitialDelayMs: 60_000, reconnectMaxDelayMs: 60_000 });
  await n.connect();
  const old = await n.server.accept();
  const reason = new Promise<string | undefined>((r) => old.onSessionClose((e) => r(e.reason)));
  n.network.dropConnection(n.server, n.client);
  await waitFor("disconnected", () => old.state === "reconnecting");
  const fresh = await n.connect();
  assert.notEqual(fresh.id, old.id);
  assert.equal(await within(5000, "replaced", reason), "replaced");
  assert.equal((await n.server.accept()).id, fresh.id);
});

Deno.test("MemoryNetwork.partition refuses new connections across it until heal", async () => {
  await using n = await nodes();
  const out = await n.connect();
  await n.server.accept();
  n.network.partition([n.client]);
  await waitFor("connection lost", () => out.state === "reconnecting");
  await assert.rejects(() => n.connect(), (e: unknown) => e instanceof Error);
  n.network.heal();
  await waitFor("resumed", () => out.state === "open");
});

Deno.test("MemoryNetwork.delay slows delivery but keeps order; cut refuses until heal", async () => {
  await using n = await nodes();
  const out = await n.connect();
  const inn = await n.server.accept();
  n.network.delay(n.server, n.client, 20);
  const tx = await out.openChannel("state");
  const rx = await inn.openChannel("state");
  for (let i = 0; i < 20; i++) await tx.send(enc(String(i)));
  const got: string[] = [];
  for (let i = 0; i < 20; i++) got.push(dec(await within(5000, "receive", rx.receive()))!);
  assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => String(i)));
  assert.throws(() => n.network.delay(n.server, n.client, -1), RangeError);
  n.network.cut(n.server, n.client);
  await waitFor("connection lost", () => out.state === "reconnecting");
  n.network.heal();
  await waitFor("resumed", () => out.state === "open");
});

Deno.test("Stats are camelCase and survive the session's end as a snapshot", async () => {
  await using n = await nodes();
  const out = await n.connect();
  await n.server.accept();
  const tx = await out.openChannel("state");
  await tx.send(enc("x"));
  await tx.flush();
  await out.close();
  const s = out.stats();
  assert.equal(s.messagesOut, 1);
  assert.equal(tx.stats().messagesOut, 1);
  assert.ok("droppedOldest" in s && "latencyP50Us" in s);
  assert.equal(n.client.metrics().messagesOut, 1);
});

Deno.test("byteLengthOf reads the intrinsic length, never an own property", async () => {
  const { byteLengthOf } = await import("../../lib/rtt/args.ts");
  const a = new Uint8Array(16);
  Object.defineProperty(a, "length", { value: 1 << 20 });
  Object.defineProperty(a, "byteLength", { value: 1 << 20 });
  assert.equal(byteLengthOf(a), 16);
  assert.equal(byteLengthOf(new Uint8Array(64).subarray(8, 12)), 4);
  assert.throws(() => byteLengthOf({ byteLength: 5 } as unknown as Uint8Array), TypeError);
});

Deno.test("remoteHost keys the per-address limits on the peer's host, or nothing", async () => {
  const { remoteHost } = await import("../../lib/rtt/network.ts");
  const stream = { read: () => Promise.resolve(null), write: () => Promise.resolve(0) };
  const base = { ...stream, close() {}, ref() {}, unref() {} };
  assert.equal(
    remoteHost({ ...base, remoteAddr: { hostname: "127.0.0.2", port: 1 } } as never),
    "127.0.0.2",
  );
  assert.equal(remoteHost(base), "");
  assert.equal(remoteHost({ ...base, remoteAddr: { path: "/x" } } as never), "");
  assert.equal(
    remoteHost({ ...base, remoteAddr: { hostname: "h".repeat(300) } } as never).length,
    256,
  );
});

Deno.test("messages of every size arrive whole and in order, large ones in buffers of their own", async () => {
  await using n = await nodes();
  const [session, peer] = await Promise.all([n.connect(), n.server.accept()]);
  const tx = await session.openChannel("bulk");
  const rx = await peer.openChannel("bulk");
  // Around the 16 KiB threshold of the exact-size path, empty messages
  // between large ones, and one above the 64 KiB receive buffer.
  const sizes = [0, 5, 16_383, 16_384, 70_000, 0, 3, 300_000, 16_385, 0, 65_536, 1];
  const sent = sizes.map((size, i) =>
    Uint8Array.from({ length: size }, (_, j) => (i * 31 + j) & 255)
  );
  for (const msg of sent) await tx.send(msg);
  await tx.close();
  const got: Uint8Array[] = [];
  for await (const msg of rx) got.push(msg);
  assert.deepEqual(got.map((m) => m.length), sizes);
  for (const [i, msg] of got.entries()) {
    assert.deepEqual(msg, sent[i]);
    assert.equal(msg.byteOffset, 0);
    assert.equal(msg.buffer.byteLength, msg.length); // its own ArrayBuffer
  }
});

Deno.test("a channel's iterator ends on break and after the end, and send resolves once queued", async () => {
  await using n = await nodes();
  const [session, peer] = await Promise.all([n.connect(), n.server.accept()]);
  const tx = await session.openChannel("it");
  const rx = await peer.openChannel("it");
  for (const s of ["a", "b", "c"]) assert.equal(await tx.send(enc(s)), undefined);
  const it = rx[Symbol.asyncIterator]();
  assert.equal(dec((await it.next()).value), "a");
  assert.deepEqual(await it.return!(), { done: true, value: undefined });
  assert.equal((await it.next()).done, true); // ended: no more reads through it
  // The channel itself still has the rest.
  assert.equal(dec(await rx.receive()), "b");
  await tx.close();
  const rest: string[] = [];
  for await (const m of rx) rest.push(dec(m)!);
  assert.deepEqual(rest, ["c"]);
});
