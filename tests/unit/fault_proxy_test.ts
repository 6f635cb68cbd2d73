/**
 * Tests of the fault-injecting TCP proxy (tests/helpers/fault_proxy.ts)
 * against plain Deno TCP echo servers on loopback.
 */

import assert from "node:assert/strict";
import { FaultProxy } from "../helpers/fault_proxy.ts";
import { quietWindow, waitFor } from "../helpers/wait.ts";

const HOST = "127.0.0.1";

/** A Deno TCP echo server; `closed` counts server-side connections that ended. */
interface EchoServer extends AsyncDisposable {
  port: number;
  accepted: number;
  ended: number;
  /** How each server-side connection ended: "eof", or an error name. */
  endings: string[];
}

function startEcho(): EchoServer {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const server: EchoServer = {
    port: listener.addr.port,
    accepted: 0,
    ended: 0,
    endings: [],
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      await Promise.allSettled([...tasks]);
    },
  };
  const serve = async (conn: Deno.Conn) => {
    const buf = new Uint8Array(64 * 1024);
    let ending = "eof";
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        let off = 0;
        while (off < n) off += await conn.write(buf.subarray(off, n));
      }
    } catch (err) {
      ending = err instanceof Error ? err.name : String(err);
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* already closed */ }
      server.ended++;
      server.endings.push(ending);
    }
  };
  (async () => {
    try {
      for await (const conn of listener) {
        server.accepted++;
        conns.add(conn);
        const task = serve(conn);
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch { /* listener closed */ }
  })();
  return server;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/** Reads exactly `n` bytes, or fewer if the stream ends. */
async function readN(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(out.subarray(off));
    if (got === null) return out.subarray(0, off);
    off += got;
  }
  return out;
}

/** Reads until EOF or error; returns "eof" or the error's name. */
async function readToEnd(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(64 * 1024);
  try {
    while ((await conn.read(buf)) !== null) { /* drain */ }
    return "eof";
  } catch (err) {
    return err instanceof Error ? err.name : String(err);
  }
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

Deno.test("FaultProxy forwards bytes both ways and counts connections and bytes", async () => {
  await using echo = startEcho();
  await using proxy = await FaultProxy.start({ target: { hostname: HOST, port: echo.port } });
  const conns = await Promise.all([0, 1].map(() => Deno.connect(proxy.addr)));
  const size = 1024 * 1024 + 17;
  await Promise.all(conns.map(async (conn, i) => {
    const data = pattern(size, i);
    const [, echoed] = await Promise.all([writeAll(conn, data), readN(conn, size)]);
    assert.deepEqual(echoed, data);
  }));
  const stats = proxy.stats;
  assert.equal(stats.accepted, 2);
  assert.equal(stats.active, 2);
  assert.equal(stats.bytesToTarget, 2 * size);
  assert.equal(stats.bytesFromTarget, 2 * size);
  assert.equal(echo.accepted, 2);
  conns.forEach(closeQuietly);
  await waitFor("both pairs to close", () => proxy.stats.active === 0 && echo.ended === 2);
  assert.deepEqual(echo.endings, ["eof", "eof"]);
});

Deno.test("FaultProxy passes a half-close on and keeps the other direction open", async () => {
  await using echo = startEcho();
  await using proxy = await FaultProxy.start({ target: { hostname: HOST, port: echo.port } });
  const conn = await Deno.connect(proxy.addr);
  const data = pattern(100_000, 3);
  await writeAll(conn, data);
  await conn.closeWrite();
  // The echo server still answers everything, then sees EOF and closes.
  const echoed = await readN(conn, data.length + 1);
  assert.deepEqual(echoed, data);
  closeQuietly(conn);
  await waitFor("the pair to close", () => proxy.stats.active === 0);
});

Deno.test("FaultProxy.cut closes every connection and new ones still work", async () => {
  await using echo = startEcho();
  await using proxy = await FaultProxy.start({ target: { hostname: HOST, port: echo.port } });
  const a = await Deno.connect(proxy.addr);
  const b = await Deno.connect(proxy.addr);
  await writeAll(a, pattern(10, 0));
  assert.equal((await readN(a, 10)).length, 10);
  await proxy.waitForAccepted(2);
  await waitFor("both target connections", () => echo.accepted === 2);
  assert.equal(proxy.cut(), 2);
  assert.equal(await readToEnd(a), "eof");
  assert.equal(await readToEnd(b), "eof");
  await waitFor("the server side to end", () => echo.ended === 2);
  closeQuietly(a);
  closeQuietly(b);
  const stats = proxy.stats;
  assert.equal(stats.cuts, 1);
  assert.equal(stats.connectionsKilled, 2);
  assert.equal(stats.active, 0);

  const c = await Deno.connect(proxy.addr);
  await writeAll(c, pattern(1000, 9));
  assert.deepEqual(await readN(c, 1000), pattern(1000, 9));
  closeQuietly(c);
});

Deno.test("FaultProxy.reset sends a TCP reset to both sides mid-stream", async () => {
  await using echo = startEcho();
  await using proxy = await FaultProxy.start({ target: { hostname: HOST, port: echo.port } });
  const conn = await Deno.connect(proxy.addr);
  await writeAll(conn, pattern(100, 1));
  assert.equal((await readN(conn, 100)).length, 100);
  // Keep bytes flowing while the reset hits.
  const writer = (async () => {
    try {
      for (let i = 0; i < 2000; i++) await writeAll(conn, pattern(4096, i));
    } catch { /* the reset ends the writer */ }
  })();
  await waitFor("bytes flowing through the proxy", () => proxy.stats.bytesToTarget > 100, 5000);
  assert.equal(proxy.reset(), 1);
  assert.equal(await readToEnd(conn), "ConnectionReset");
  await writer;
  await waitFor("the server side to end", () => echo.ended === 1);
  assert.deepEqual(echo.endings, ["ConnectionReset"]);
  assert.equal(proxy.stats.resets, 1);
  closeQuietly(conn);
});

Deno.test("FaultProxy.stall holds bytes with sockets open; resume delivers them all", async () => {
  await using echo = startEcho();
  await using proxy = await FaultProxy.start({ target: { hostname: HOST, port: echo.port } });
  const conn = await Deno.connect(proxy.addr);
  await writeAll(conn, pattern(10, 0));
  await readN(conn, 10);

  proxy.stall();
  assert.equal(proxy.stalled, true);
  const before = proxy.stats;
  const data = pattern(200_000, 5);
  // A write of this size fits in the socket buffers and does not block.
  const written = writeAll(conn, data);
  const reply = readN(conn, data.length);
  let settled = false;
  reply.then(() => settled = true, () => settled = true);
  await quietWindow(200, "bytes through a stalled proxy");
  assert.equal(settled, false, "nothing may come back during a stall");
  assert.equal(proxy.stats.bytesToTarget, before.bytesToTarget);
  assert.equal(proxy.stats.active, 1, "the stall keeps the connection open");
  assert.equal(echo.ended, 0);

  proxy.resume();
  assert.equal(proxy.stalled, false);
  await written;
  assert.deepEqual(await reply, data);
  assert.equal(proxy.stats.stalls, 1);
  closeQuietly(conn);
});

Deno.test("FaultProxy.stall(ms) resumes by itself and holds new connections meanwhile", async () => {
  await using echo = startEcho();
  await using proxy = await FaultProxy.start({ target: { hostname: HOST, port: echo.port } });
  proxy.stall(150);
  const started = performance.now();
  const conn = await Deno.connect(proxy.addr);
  await writeAll(conn, pattern(64, 2));
  assert.deepEqual(await readN(conn, 64), pattern(64, 2));
  assert.ok(performance.now() - started >= 140, "the echo came back before the stall ended");
  assert.equal(proxy.stalled, false);
  closeQuietly(conn);
});

Deno.test("FaultProxy refuses new connections during a refuse window", async () => {
  await using echo = startEcho();
  await using proxy = await FaultProxy.start({ target: { hostname: HOST, port: echo.port } });
  const a = await Deno.connect(proxy.addr);
  await proxy.waitForAccepted(1);
  assert.equal(proxy.cut({ refuseMs: 300 }), 1);
  assert.equal(await readToEnd(a), "eof");
  closeQuietly(a);

  // The reset may already hit the connect call, or the first read.
  let outcome: string;
  try {
    const refused = await Deno.connect(proxy.addr);
    outcome = await readToEnd(refused);
    closeQuietly(refused);
  } catch (err) {
    outcome = err instanceof Error ? err.name : String(err);
  }
  assert.ok(outcome === "ConnectionReset" || outcome === "eof", outcome);
  assert.equal(proxy.stats.refused, 1);
  assert.equal(proxy.stats.accepted, 1);

  assert.equal(proxy.refusing, true);
  await waitFor("the refuse window to end", () => !proxy.refusing, 5000);
  const b = await Deno.connect(proxy.addr);
  await writeAll(b, pattern(32, 4));
  assert.deepEqual(await readN(b, 32), pattern(32, 4));
  closeQuietly(b);
});

Deno.test("FaultProxy ends the client connection when the target is down", async () => {
  const gone = Deno.listen({ hostname: HOST, port: 0 });
  const port = gone.addr.port;
  gone.close();
  await using proxy = await FaultProxy.start({ target: { hostname: HOST, port } });
  const conn = await Deno.connect(proxy.addr);
  const outcome = await readToEnd(conn);
  assert.ok(outcome === "ConnectionReset" || outcome === "eof", outcome);
  closeQuietly(conn);
  await waitFor("the failure to be counted", () => proxy.stats.targetFailures === 1);
  assert.equal(proxy.stats.active, 0);
});

Deno.test("FaultProxy.close ends every connection, is idempotent, and disposes", async () => {
  await using echo = startEcho();
  const proxy = await FaultProxy.start({ target: { hostname: HOST, port: echo.port } });
  const conn = await Deno.connect(proxy.addr);
  await writeAll(conn, pattern(8, 0));
  await readN(conn, 8);
  proxy.stall();
  const closing = proxy.close();
  assert.equal(proxy.close(), closing);
  await closing;
  assert.equal(await readToEnd(conn), "eof");
  closeQuietly(conn);
  await assert.rejects(() => Deno.connect(proxy.addr), Deno.errors.ConnectionRefused);
  assert.throws(() => proxy.cut(), /is closed/);
  await proxy[Symbol.asyncDispose]();
  await waitFor("the server side to end", () => echo.ended === 1);
});

Deno.test("FaultProxy rejects out-of-range arguments with RangeError", async () => {
  await assert.rejects(
    () => FaultProxy.start({ target: { hostname: HOST, port: 70000 } }),
    RangeError,
  );
  await assert.rejects(
    () => FaultProxy.start({ target: { hostname: HOST, port: 1 }, port: -1 }),
    RangeError,
  );
  await using proxy = await FaultProxy.start({ target: { hostname: HOST, port: 1 } });
  assert.throws(() => proxy.stall(-5), RangeError);
  assert.throws(() => proxy.stall(Number.NaN), RangeError);
  assert.throws(() => proxy.refuse(-1), RangeError);
  assert.throws(() => proxy.cut({ refuseMs: -1 }), RangeError);
  assert.equal(proxy.stats.cuts, 0);
});

Deno.test("FaultProxy.corrupt flips one bit of the next chunk, once, and the stream stays up", async () => {
  await using echo = startEcho();
  await using proxy = await FaultProxy.start({ target: { hostname: HOST, port: echo.port } });
  const conn = await Deno.connect(proxy.addr);
  const first = pattern(1000, 5);
  await writeAll(conn, first);
  assert.deepEqual(await readN(conn, first.length), first);
  proxy.corrupt("toTarget");
  const second = pattern(1000, 6);
  await writeAll(conn, second);
  const echoed = await readN(conn, second.length);
  let flipped = 0;
  for (let i = 0; i < second.length; i++) {
    const diff = echoed[i]! ^ second[i]!;
    if (diff !== 0) {
      flipped++;
      assert.equal(diff & (diff - 1), 0, `byte ${i} differs by more than one bit`);
    }
  }
  assert.equal(flipped, 1);
  // Only the next chunk: what follows passes unaltered.
  const third = pattern(1000, 7);
  await writeAll(conn, third);
  assert.deepEqual(await readN(conn, third.length), third);
  assert.equal(proxy.stats.corrupted, 1);
  closeQuietly(conn);
  await waitFor("the pair to close", () => proxy.stats.active === 0 && echo.ended === 1);
});
