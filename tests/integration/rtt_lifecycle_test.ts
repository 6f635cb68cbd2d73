// Session lifecycle over the real native library on 127.0.0.1: hooks and
// node.onEvent, dispose, the sessions() iterator, abort signals, heartbeat
// statistics, and the wake-up path's effect on process lifetime.
//
// Timing twin: "Heartbeats feed the latency statistics" only shows samples
// arrive; tests/unit/virtual_time_rtt_test.ts ("Heartbeat latency (virtual)")
// runs the same core on a virtual clock over a link delayed 5 ms each way and
// asserts round trips of exactly 10,000 us. The process-lifetime tests stay
// real: their subject is Deno's own event loop.
import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { RttNode, type RttSession } from "../../lib/rtt/mod.ts";
import type { SessionHookEvent, TransportEvent } from "../../lib/transport/mod.ts";
import { HOST, rttPair, type RttPairOptions, waitFor, within } from "../helpers/rtt.ts";
import { libraryFileName, openNativeLibrary, resolveLibraryPath } from "../../lib/rtt/native.ts";
import { runDeno } from "../helpers/subprocess.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);
const [idA, idB] = await Promise.all([Identity.generate(), Identity.generate()]);
const pair = (options?: RttPairOptions) => rttPair(idA, idB, options);
const libDir = resolveLibraryPath().replace(/\/[^/]+$/, "");

Deno.test("Hooks and node.onEvent see open (at once) and close with manual / peer_closed reasons", async () => {
  const hookErrors: unknown[] = [];
  const server = await RttNode.create({ identity: idA, onHookError: (e) => hookErrors.push(e) });
  const client = await RttNode.create({ identity: idB, onHookError: (e) => hookErrors.push(e) });
  try {
    const serverEvents: TransportEvent[] = [];
    server.onEvent((e) => serverEvents.push(e));
    const { port } = await server.listen({ hostname: HOST, port: 0 });
    const [outbound, inbound] = await Promise.all([
      client.connect({ hostname: HOST, port, fingerprint: idA.fingerprint }),
      server.accept(),
    ]);
    const opens: SessionHookEvent[] = [];
    outbound.onSessionOpen((e) => opens.push(e));
    assert.deepEqual(opens, [{ sessionId: outbound.id, resumed: false, reconnects: 0 }]);

    const clientClose = new Promise<SessionHookEvent>((r) => outbound.onSessionClose(r));
    const serverClose = new Promise<SessionHookEvent>((r) => inbound.onSessionClose(r));
    inbound.onSessionClose(() => {
      throw new Error("a broken hook");
    });
    const never = () => assert.fail("unregistered hook called");
    inbound.onSessionClose(never)();
    inbound.onHeartbeatTimeout(never);
    inbound.offHeartbeatTimeout(never);

    await outbound.close();
    assert.equal((await within(3000, "client close hook", clientClose)).reason, "manual");
    const closed = await within(3000, "server close hook", serverClose);
    assert.equal(closed.reason, "peer_closed");
    assert.equal(closed.sessionId, inbound.id);
    await inbound.closed;
    assert.equal(inbound.state, "closed");
    assert.equal((hookErrors[0] as Error | undefined)?.message, "a broken hook");
    // The node's observer gets the close after the hooks: wait for that event.
    await waitFor(
      "the server's session_close event",
      () => serverEvents.some((e) => e.type === "session_close"),
      {
        timeoutMs: 3000,
        detail: () => serverEvents.map((e) => e.type).join(", "),
      },
    );
    const types = serverEvents.map((e) => e.type);
    assert.deepEqual(types, ["session_open", "session_close"]);
    const last = serverEvents[1];
    assert.ok(last !== undefined && last.type === "session_close");
    assert.equal(last.reason, "peer_closed");
    assert.equal(last.peerFingerprint, idB.fingerprint);
  } finally {
    await client.shutdown();
    await server.shutdown();
  }
});

Deno.test("await using closes a session; the peer's receive() then ends with null", async () => {
  await using p = await pair();
  const rx = await p.inbound.openChannel("state");
  {
    await using s: RttSession = p.outbound;
    const tx = await s.openChannel("state");
    await tx.send(enc("bye"));
  }
  assert.equal(p.outbound.state, "closed");
  assert.equal(dec(await within(3000, "receive", rx.receive())), "bye");
  assert.equal(await within(3000, "end", rx.receive()), null);
});

Deno.test("node.sessions() yields inbound sessions and ends at shutdown", async () => {
  const server = await RttNode.create({ identity: idA });
  const client = await RttNode.create({ identity: idB });
  const { port } = await server.listen({ hostname: HOST, port: 0 });
  const seen: string[] = [];
  const loop = (async () => {
    for await (const s of server.sessions()) seen.push(s.peerFingerprint);
  })();
  for (let i = 0; i < 3; i++) {
    await client.connect({ hostname: HOST, port, fingerprint: idA.fingerprint });
  }
  await waitFor("three sessions from the iterator", () => seen.length === 3, 3000);
  await server.shutdown();
  await within(3000, "iterator end", loop);
  assert.deepEqual(seen, [idB.fingerprint, idB.fingerprint, idB.fingerprint]);
  await client.shutdown();
});

Deno.test("receive() and accept() honour an abort signal", async () => {
  await using p = await pair();
  const rx = await p.inbound.openChannel("state");
  await assert.rejects(
    () => rx.receive({ signal: AbortSignal.timeout(50) }),
    (e: unknown) => e instanceof DOMException && e.name === "TimeoutError",
  );
  await assert.rejects(
    () => p.server.accept({ signal: AbortSignal.timeout(50) }),
    (e: unknown) => e instanceof DOMException && e.name === "TimeoutError",
  );
  // The channel still works after an aborted receive.
  const tx = await p.outbound.openChannel("state");
  await tx.send(enc("after abort"));
  assert.equal(dec(await within(3000, "receive", rx.receive())), "after abort");
});

Deno.test("testInject is refused unless the node was created with testHooks", async () => {
  await using p = await pair();
  assert.throws(() => p.outbound.testInject({ replay_last: "state" }), RangeError);
});

Deno.test("the release library exports no test hook; a hooks build (target/hooks) does", () => {
  const release = new URL(`../../target/release/${libraryFileName()}`, import.meta.url).pathname;
  const lib = openNativeLibrary(release);
  try {
    assert.equal(lib.symbols.web4_rtt_test_inject, null, "release builds omit the hooks");
    assert.equal(typeof lib.symbols.web4_rtt_config_limits, "function");
  } finally {
    lib.close();
  }
});

Deno.test("Heartbeats feed the latency statistics", async () => {
  await using p = await pair({
    server: { heartbeatIntervalMs: 20 },
    client: { heartbeatIntervalMs: 20 },
  });
  // Each answered heartbeat adds a sample: wait for the first ones to land.
  await waitFor(
    "heartbeat latency samples",
    () => p.outbound.stats().latencyP50Us > 0 && p.client.metrics().latencyP50Us > 0,
    { timeoutMs: 5000, detail: () => JSON.stringify(p.outbound.stats()) },
  );
  const s = p.outbound.stats();
  assert.ok(s.latencyP50Us > 0, `p50 ${s.latencyP50Us}`);
  assert.ok(s.latencyP95Us >= s.latencyP50Us);
  assert.ok(p.client.metrics().latencyP50Us > 0);
});

Deno.test("A process whose node is idle exits; one awaiting accept() stays alive", async () => {
  const flags = [`--allow-ffi=${libDir}`, "--allow-read", "--allow-net=127.0.0.1"];
  const idle = await runDeno(
    `import { Identity } from "./../../lib/identity/mod.ts";
     import { RttNode } from "./../../lib/rtt/mod.ts";
     const node = await RttNode.create({ identity: await Identity.generate() });
     await node.listen({ hostname: "127.0.0.1", port: 0 });
     console.log("idle");`,
    flags,
  );
  assert.equal(idle.code, 0, idle.stderr);
  assert.equal(idle.stdout.trim(), "idle");
  const waiting = await runDeno(
    `import { Identity } from "./../../lib/identity/mod.ts";
     import { RttNode } from "./../../lib/rtt/mod.ts";
     const node = await RttNode.create({ identity: await Identity.generate() });
     await node.listen({ hostname: "127.0.0.1", port: 0 });
     const started = Date.now();
     // No timer keeps the process alive: only the pending accept does.
     const ac = new AbortController();
     const t = setTimeout(() => ac.abort(), 400);
     Deno.unrefTimer(t);
     try { await node.accept({ signal: ac.signal }); } catch { /* aborted */ }
     console.log(Date.now() - started >= 390 ? "waited" : "exited early");
     await node.shutdown();`,
    flags,
  );
  assert.equal(waiting.code, 0, waiting.stderr);
  assert.equal(waiting.stdout.trim(), "waited");
});

Deno.test("A node that served a session over TCP lets the process exit once its connection is gone", async () => {
  // Receiving holds the node's keep-alive per message; while a TCP connection is open the
  // listener and the timer stay ref'd between messages (the socket keeps the process alive
  // anyway), and are let go when the last connection ends: a node left listening must not
  // keep the process alive after it served someone.
  const flags = [`--allow-ffi=${libDir}`, "--allow-read", "--allow-net=127.0.0.1"];
  const result = await runDeno(
    `import { Identity } from "./../../lib/identity/mod.ts";
     import { RttNode } from "./../../lib/rtt/mod.ts";
     const [ia, ib] = await Promise.all([Identity.generate(), Identity.generate()]);
     const server = await RttNode.create({ identity: ia });
     const { port } = await server.listen({ hostname: "127.0.0.1", port: 0 });
     const client = await RttNode.create({ identity: ib });
     const [outbound, inbound] = await Promise.all([
       client.connect({ hostname: "127.0.0.1", port, fingerprint: ia.fingerprint }),
       server.accept(),
     ]);
     const tx = await outbound.openChannel("state");
     const rx = await inbound.openChannel("state");
     for (let i = 0; i < 3; i++) {
       await tx.send(new Uint8Array([i]));
       if ((await rx.receive())?.[0] !== i) throw new Error("lost a message");
     }
     // The server's connection ends after this, with nothing awaited on the server node.
     await client.shutdown();
     console.log("served"); // the server node is left listening`,
    flags,
    {},
    // A child that does not exit by itself is killed (the test then fails on its exit code).
    AbortSignal.timeout(20_000),
  );
  assert.equal(result.stdout.trim(), "served", result.stderr);
  assert.equal(result.code, 0, `the process exited by itself (${result.stderr})`);
});

Deno.test("Creating 20 nodes with sessions and traffic starts no OS thread; shutdown leaves none", async () => {
  // Deno and V8 sometimes start a thread lazily under load that carries the main thread's name; a
  // thread the library started would show in every run. So up to three runs, and one clean run passes.
  const runs: { before: number; during: number; after: number; nodes: number }[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const run = await _threadsRun();
    runs.push(run);
    if (run.during === run.before && run.after === run.before) break;
  }
  const last = runs.at(-1)!;
  assert.equal(last.nodes, 20);
  assert.equal(
    last.during,
    last.before,
    `no thread started by 20 nodes (runs: ${JSON.stringify(runs)})`,
  );
  assert.equal(last.after, last.before, `none left after shutdown (runs: ${JSON.stringify(runs)})`);
});

async function _threadsRun(): Promise<
  { before: number; during: number; after: number; nodes: number }
> {
  const result = await runDeno(
    `import { Identity } from "./../../lib/identity/mod.ts";
     import { RttNode } from "./../../lib/rtt/mod.ts";
     // Reading /proc needs --allow-all in Deno; sh and cat do it for us. Deno and V8 name their
     // own threads ("tokio-runtime-w", "V8 DefaultWorke") and start some lazily under load; a
     // thread the library started from the main thread would carry the main thread's name.
     const tasks = async () => {
       const out = await new Deno.Command("sh", {
         args: ["-c", \`cat /proc/\${Deno.pid}/task/*/comm\`],
       }).output();
       const names = new TextDecoder().decode(out.stdout).trim().split("\\n");
       return names.filter((n) => n === names[0]).length;
     };
     // Keys first: WebCrypto may use Deno's blocking threads.
     const ids = await Promise.all(Array.from({ length: 40 }, () => Identity.generate()));
     async function pairUp(a, b) {
       const server = await RttNode.create({ identity: a });
       const client = await RttNode.create({ identity: b });
       const { port } = await server.listen({ hostname: "127.0.0.1", port: 0 });
       const [o, i] = await Promise.all([
         client.connect({ hostname: "127.0.0.1", port, fingerprint: a.fingerprint }),
         server.accept(),
       ]);
       const tx = await o.openChannel("state");
       const rx = await i.openChannel("state");
       for (let k = 0; k < 200; k++) await tx.send(new Uint8Array(1000));
       for (let k = 0; k < 200; k++) await rx.receive();
       await tx.flush();
       return [server, client];
     }
     async function round(from) {
       const nodes = [];
       for (let k = 0; k < 10; k++) nodes.push(...await pairUp(ids[from + 2 * k], ids[from + 2 * k + 1]));
       return nodes;
     }
     // Warm-up: the same work once, so the library is loaded and anything
     // Deno or V8 starts lazily (compiler and GC helpers) is running.
     for (const n of await round(0)) await n.shutdown();
     await tasks();
     const before = await tasks();
     const nodes = await round(20);
     const during = await tasks();
     for (const n of nodes) await n.shutdown();
     console.log(JSON.stringify({ before, during, after: await tasks(), nodes: nodes.length }));`,
    [`--allow-ffi=${libDir}`, "--allow-read", "--allow-net=127.0.0.1", "--allow-run=sh"],
  );
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout.trim());
}
