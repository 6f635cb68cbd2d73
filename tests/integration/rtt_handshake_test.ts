// RTT sessions over the real native library on 127.0.0.1: authentication,
// refusal, hostile clients at the listening port, and the permission check.
//
// Timing twins: the idle plain-TCP client here is dropped "within a bound";
// tests/unit/virtual_time_rtt_test.ts shows the deadlines exactly on a
// virtual clock ("ClientHello deadline (virtual)": dropped at exactly
// clientHelloTimeoutMs; "Handshake deadline (virtual)": connect fails
// HANDSHAKE_TIMEOUT at exactly handshakeTimeoutMs).
import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import {
  RTTHandshakeError,
  RTTTransportError,
  type TransportEvent,
} from "../../lib/transport/mod.ts";
import { RttNode, type RttNodeOptions } from "../../lib/rtt/mod.ts";
import { resolveLibraryPath } from "../../lib/rtt/native.ts";
import { runDeno } from "../helpers/subprocess.ts";
import { HOST, waitFor, within } from "../helpers/rtt.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);
const [idA, idB, idC] = await Promise.all([
  Identity.generate(),
  Identity.generate(),
  Identity.generate(),
]);

async function node(identity: Identity, extra: Partial<RttNodeOptions> = {}): Promise<RttNode> {
  return await RttNode.create({ identity, heartbeatIntervalMs: 200, ...extra });
}

Deno.test("RTT handshake with pinned fingerprints exposes each peer's fingerprint on both sides", async () => {
  await using server = await node(idA);
  await using client = await node(idB);
  const { hostname, port } = await server.listen({ hostname: HOST, port: 0 });
  assert.equal(hostname, HOST);
  assert.ok(port > 0);
  const [outbound, inbound] = await Promise.all([
    client.connect({ hostname: HOST, port, fingerprint: idA.fingerprint }),
    server.accept(),
  ]);
  assert.equal(outbound.peerFingerprint, idA.fingerprint);
  assert.equal(inbound.peerFingerprint, idB.fingerprint);
  assert.equal(outbound.id, inbound.id);
  assert.equal(server.fingerprint, idA.fingerprint);
  const tx = await outbound.openChannel("control");
  const rx = await inbound.openChannel("control");
  await tx.send(enc("ping"));
  assert.equal(dec(await rx.receive()), "ping");
  assert.equal(server.metrics().sessions, 1);
});

Deno.test("A wrong pinned fingerprint fails connect with FINGERPRINT_MISMATCH and counts on the server", async () => {
  await using server = await node(idA);
  await using client = await node(idB);
  const { port } = await server.listen({ hostname: HOST, port: 0 });
  const refused: TransportEvent[] = [];
  let reported: () => void = () => {};
  const failureReported = new Promise<void>((r) => reported = r);
  server.onEvent((e) => {
    if (e.type === "verification_failure") {
      refused.push(e);
      reported();
    }
  });
  await assert.rejects(
    () => client.connect({ hostname: HOST, port, fingerprint: idC.fingerprint }),
    (err: unknown) => {
      assert.ok(err instanceof RTTHandshakeError, String(err));
      assert.equal(err.code, "FINGERPRINT_MISMATCH");
      assert.equal(err.peer, idC.fingerprint);
      assert.match(err.message, new RegExp(idC.fingerprint));
      return true;
    },
  );
  // The server learns of the failed handshake off the calling thread and
  // reports it as an event: wait for that event.
  await within(3000, "the server's verification_failure event", failureReported);
  assert.equal(refused.length, 1, "the server reports one verification_failure event");
  assert.equal(server.metrics().verificationFailures, 1);
  assert.equal(server.metrics().sessions, 0);
  // The server still accepts a correct client afterwards.
  const [ok] = await Promise.all([
    client.connect({ hostname: HOST, port, fingerprint: idA.fingerprint }),
    server.accept(),
  ]);
  assert.equal(ok.peerFingerprint, idA.fingerprint);
});

Deno.test("A peer not on the server's allow-list gets PEER_NOT_ALLOWED from connect()", async () => {
  await using server = await node(idA, { allowPeers: [idC.fingerprint] });
  await using client = await node(idB);
  const { port } = await server.listen({ hostname: HOST, port: 0 });
  await assert.rejects(
    () => client.connect({ hostname: HOST, port, fingerprint: idA.fingerprint }),
    (err: unknown) => {
      assert.ok(err instanceof RTTHandshakeError, String(err));
      assert.equal(err.code, "PEER_NOT_ALLOWED");
      assert.match(err.message, new RegExp(idA.fingerprint));
      return true;
    },
  );
  assert.equal(server.metrics().sessions, 0);
  // An allowed peer gets in.
  await using allowed = await node(idC);
  const [s] = await Promise.all([
    allowed.connect({ hostname: HOST, port, fingerprint: idA.fingerprint }),
    server.accept(),
  ]);
  assert.equal(s.peerFingerprint, idA.fingerprint);
});

Deno.test("connect to a port where nothing listens fails with RTTTransportError IO", async () => {
  await using client = await node(idB);
  const probe = Deno.listen({ hostname: HOST, port: 0 });
  const port = probe.addr.port;
  probe.close();
  await assert.rejects(
    () => client.connect({ hostname: HOST, port, fingerprint: idA.fingerprint, timeoutMs: 2000 }),
    (err: unknown) => err instanceof RTTTransportError && err.code === "IO",
  );
});

Deno.test("Garbage bytes and an idle plain-TCP client at the port do not harm the node", async () => {
  await using server = await node(idA, { handshakeTimeoutMs: 500 });
  await using client = await node(idB);
  const { port } = await server.listen({ hostname: HOST, port: 0 });
  // An idle TCP client that never speaks TLS, and several that send garbage.
  const idle = await Deno.connect({ hostname: HOST, port });
  for (let i = 0; i < 5; i++) {
    const conn = await Deno.connect({ hostname: HOST, port });
    const junk = new Uint8Array(1024 * (i + 1));
    crypto.getRandomValues(junk);
    await conn.write(junk).catch(() => {});
    conn.close();
  }
  const http = await Deno.connect({ hostname: HOST, port });
  await http.write(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n")).catch(() => {});
  // A real session works meanwhile.
  const [outbound, inbound] = await Promise.all([
    client.connect({ hostname: HOST, port, fingerprint: idA.fingerprint }),
    server.accept(),
  ]);
  const tx = await outbound.openChannel("state");
  const rx = await inbound.openChannel("state");
  await tx.send(enc("still fine"));
  assert.equal(dec(await rx.receive()), "still fine");
  // The idle client is dropped by the handshake timeout.
  const buf = new Uint8Array(16);
  // (The event is the end of its stream: EOF or a reset, never bytes.)
  const read = await within(
    3000,
    "the idle plain-TCP client to be disconnected",
    idle.read(buf).catch(() => null),
  );
  assert.equal(read, null, "the idle plain-TCP client was disconnected without a reply");
  idle.close();
  http.close();
  assert.equal(server.metrics().sessions, 1);
  // The other junk connections end by EOF or by the handshake timeout.
  await waitFor("junk handshakes to end", () => server.metrics().pendingHandshakes === 0, 5000);
});

Deno.test("listen/connect to a host not granted by --allow-net throws NotCapable before any socket exists", async () => {
  const libDir = resolveLibraryPath().replace(/\/[^/]+$/, "");
  // A port that is free now: if the child bound it, we could not.
  const probe = Deno.listen({ hostname: HOST, port: 0 });
  const freePort = probe.addr.port;
  probe.close();
  // A plain listener the child must not reach.
  const watcher = Deno.listen({ hostname: HOST, port: 0 });
  const reached: number[] = []; // the remote ports of accepted connections
  const watching = (async () => {
    for await (const c of watcher) {
      reached.push(c.remoteAddr.port);
      c.close();
    }
  })();
  const result = await runDeno(
    `import { Identity } from "./../../lib/identity/mod.ts";
     import { RttNode } from "./../../lib/rtt/mod.ts";
     const node = await RttNode.create({ identity: await Identity.generate() });
     const out = [];
     for (const f of [
       () => node.listen({ hostname: "127.0.0.1", port: ${freePort} }),
       () => node.listen({ hostname: "127.0.0.1", port: 0 }),
       () => node.connect({ hostname: "127.0.0.1", port: ${watcher.addr.port}, fingerprint: "${idA.fingerprint}" }),
       () => node.connect({ hostname: "localhost", port: ${watcher.addr.port}, fingerprint: "${idA.fingerprint}" }),
     ]) {
       try { await f(); out.push("allowed"); }
       catch (e) { out.push(e instanceof Deno.errors.NotCapable ? "NotCapable" : "other:" + e); }
     }
     await node.shutdown();
     console.log(out.join(","));`,
    [`--allow-ffi=${libDir}`, "--allow-read", "--allow-net=127.0.0.2"],
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), "NotCapable,NotCapable,NotCapable,NotCapable");
  const again = Deno.listen({ hostname: HOST, port: freePort }); // throws if the child bound it
  again.close();
  // A sentinel connection after the child exited: the watcher accepts in
  // order, so once it has the sentinel, any connection of the child's would
  // have come first.
  const sentinel = await Deno.connect({ hostname: HOST, port: watcher.addr.port });
  const mine = sentinel.localAddr.port;
  await waitFor("the watcher to accept the sentinel", () => reached.includes(mine), 3000);
  sentinel.close();
  assert.deepEqual(reached, [mine], "no connection of the child's reached the watcher");
  watcher.close();
  await watching.catch(() => {});
});
