// Backpressure over the real native library on 127.0.0.1. The receiving node
// has maxQueue 16, so it grants a window of 16 messages; the sending channel
// has maxQueue 4. With a receiver that does not read, 16 messages go out,
// 4 wait in the send queue, and the next send meets a full queue: what
// happens then is the channel's policy, and the statistics count it.
import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import {
  type BackpressurePolicy,
  RTTBackpressureError,
  type RttChannel,
  RttNode,
  type RttNodeEvent,
  type RttSession,
} from "../../lib/rtt/mod.ts";
import { HOST, within } from "../helpers/rtt.ts";

const WINDOW = 16;
const QUEUE = 4;
const [idA, idB] = await Promise.all([Identity.generate(), Identity.generate()]);
const msg = (i: number) => {
  const m = new Uint8Array(64);
  new DataView(m.buffer).setUint32(0, i);
  return m;
};
const num = (m: Uint8Array | null) =>
  m === null ? -1 : new DataView(m.buffer, m.byteOffset).getUint32(0);

interface Rig extends AsyncDisposable {
  tx: RttChannel;
  rx: RttChannel;
  client: RttNode;
  outbound: RttSession;
  events: RttNodeEvent[];
}

/** A channel whose window is used up and whose send queue is full. */
async function saturated(policy: BackpressurePolicy, blockTimeoutMs = 30000): Promise<Rig> {
  const server = await RttNode.create({ identity: idA, maxQueue: WINDOW });
  const client = await RttNode.create({ identity: idB });
  const events: RttNodeEvent[] = [];
  client.onEvent((e) => events.push(e));
  const { port } = await server.listen({ hostname: HOST, port: 0 });
  const [outbound, inbound] = await Promise.all([
    client.connect({ hostname: HOST, port, fingerprint: idA.fingerprint }),
    server.accept(),
  ]);
  const tx = await outbound.openChannel("knowledge", {
    backpressurePolicy: policy,
    maxQueue: QUEUE,
    blockTimeoutMs,
  });
  const rx = await inbound.openChannel("knowledge");
  // One at a time, so the small send queue never overflows while the window fills.
  for (let i = 0; i < WINDOW; i++) {
    await tx.send(msg(i));
    await within(5000, `flush of message ${i}`, tx.flush());
  }
  for (let i = WINDOW; i < WINDOW + QUEUE; i++) await tx.send(msg(i)); // no credit: queued
  return {
    tx,
    rx,
    client,
    outbound,
    events,
    async [Symbol.asyncDispose]() {
      await client.shutdown({ deadlineMs: 200 });
      await server.shutdown({ deadlineMs: 200 });
    },
  };
}

async function receiveAll(rx: RttChannel, count: number): Promise<number[]> {
  const got: number[] = [];
  for (let i = 0; i < count; i++) got.push(num(await within(5000, `message ${i}`, rx.receive())));
  return got;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

Deno.test("Policy error: a send on a full queue rejects with QUEUE_FULL and is counted", async () => {
  await using r = await saturated("error");
  await assert.rejects(() => r.tx.send(msg(99)), (err: unknown) => {
    assert.ok(err instanceof RTTBackpressureError, String(err));
    assert.equal(err.code, "QUEUE_FULL");
    assert.equal(err.channel, "knowledge");
    assert.match(err.message, /channel "knowledge"/);
    return true;
  });
  const s = r.tx.stats();
  assert.equal(s.attempted, WINDOW + QUEUE + 1);
  assert.equal(s.enqueued, WINDOW + QUEUE);
  assert.equal(s.errors, 1);
  assert.equal(s.overflowEvents, 1);
  assert.equal(s.dropped, 0);
  assert.ok(s.maxQueueLen >= QUEUE, `maxQueueLen ${s.maxQueueLen}`);
  assert.deepEqual(await receiveAll(r.rx, WINDOW + QUEUE), range(0, WINDOW + QUEUE));
});

Deno.test("Policy drop_newest: new messages are dropped, counted and reported; the queue is kept", async () => {
  await using r = await saturated("drop_newest");
  await r.tx.send(msg(100));
  await r.tx.send(msg(101));
  const s = r.tx.stats();
  assert.equal(s.droppedNewest, 2);
  assert.equal(s.droppedOldest, 0);
  assert.equal(s.dropped, 2);
  assert.equal(s.overflowEvents, 2);
  assert.deepEqual(await receiveAll(r.rx, WINDOW + QUEUE), range(0, WINDOW + QUEUE));
  await within(
    2000,
    "drop events",
    (async () => {
      while (r.events.filter((e) => e.type === "drop").length === 0) {
        await new Promise((res) => setTimeout(res, 20));
      }
    })(),
  );
  const drops = r.events.filter((e) => e.type === "drop");
  const total = drops.reduce((n, e) => n + (e.type === "drop" ? e.count : 0), 0);
  assert.equal(total, 2);
  assert.ok(
    drops.every((e) => e.type === "drop" && e.cause === "drop_newest" && e.channel === "knowledge"),
  );
});

Deno.test("Policy drop_oldest: the oldest queued messages are evicted for the new ones", async () => {
  await using r = await saturated("drop_oldest");
  await r.tx.send(msg(100));
  await r.tx.send(msg(101));
  const s = r.tx.stats();
  assert.equal(s.droppedOldest, 2);
  assert.equal(s.dropped, 2);
  assert.equal(s.enqueued, WINDOW + QUEUE + 2);
  const got = await receiveAll(r.rx, WINDOW + QUEUE);
  assert.deepEqual(got, [...range(0, WINDOW), WINDOW + 2, WINDOW + 3, 100, 101]);
});

Deno.test("Policy block: a send waits until the reader frees room, losing nothing and keeping order", async () => {
  await using r = await saturated("block");
  const late = [r.tx.send(msg(100)), r.tx.send(msg(101))];
  let settled = false;
  void Promise.all(late).then(() => settled = true);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(settled, false, "the sends wait while nobody reads");
  const got = await receiveAll(r.rx, WINDOW + QUEUE + 2);
  await within(5000, "blocked sends", Promise.all(late));
  assert.deepEqual(got, [...range(0, WINDOW + QUEUE), 100, 101]);
  const s = r.tx.stats();
  assert.ok(s.blocked >= 1, `blocked ${s.blocked}`);
  assert.equal(s.dropped, 0);
  assert.equal(s.errors, 0);
});

Deno.test("Policy block: a send still blocked after blockTimeoutMs rejects with BLOCK_TIMEOUT", async () => {
  await using r = await saturated("block", 200);
  const started = Date.now();
  await assert.rejects(() => r.tx.send(msg(100)), (err: unknown) => {
    assert.ok(err instanceof RTTBackpressureError, String(err));
    assert.equal(err.code, "BLOCK_TIMEOUT");
    assert.match(err.message, /channel "knowledge"/);
    return true;
  });
  assert.ok(Date.now() - started >= 150, "it waited about blockTimeoutMs");
  const s = r.tx.stats();
  assert.equal(s.blocked, 1);
  assert.equal(s.errors, 1);
});

Deno.test("flush rejects with the undelivered count when the session closes first", async () => {
  await using r = await saturated("block");
  const pending = r.tx.flush(); // 4 messages are queued with no credit
  await new Promise((res) => setTimeout(res, 50));
  await r.outbound.close({ flushDeadlineMs: 100 });
  await assert.rejects(within(5000, "flush", pending), (err: unknown) => {
    assert.equal((err as Error).name, "RTTDisconnectedError");
    const d = err as { undelivered: number; code: string };
    assert.equal(d.undelivered, QUEUE);
    return true;
  });
});
