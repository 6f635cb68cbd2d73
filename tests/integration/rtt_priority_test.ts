// Channel independence and priority over the real native library on
// 127.0.0.1. Each channel has its own credit, so a knowledge channel that is
// stalled (its receiver does not read) or busy with bulk data never holds
// back control or state. These tests assert on order and progress, not on
// time: the timeouts only stop a hung test.
import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { RTTBackpressureError } from "../../lib/transport/mod.ts";
import { rttPair, type RttPairOptions, within } from "../helpers/rtt.ts";

const [idA, idB] = await Promise.all([Identity.generate(), Identity.generate()]);
const pair = (options?: RttPairOptions) => rttPair(idA, idB, options);

Deno.test("RTT control and state pass a knowledge channel whose window and queue are full", async () => {
  const WINDOW = 16;
  const QUEUE = 4;
  await using rig = await pair({ server: { maxQueue: WINDOW } });
  const kTx = await rig.outbound.openChannel("knowledge", {
    backpressurePolicy: "error",
    maxQueue: QUEUE,
  });
  const cTx = await rig.outbound.openChannel("control");
  const sTx = await rig.outbound.openChannel("state");
  const kRx = await rig.inbound.openChannel("knowledge");
  const cRx = await rig.inbound.openChannel("control");
  const sRx = await rig.inbound.openChannel("state");

  // Fill the knowledge window and send queue until the queue refuses.
  let accepted = 0;
  let refused: unknown;
  for (let i = 0; i < WINDOW + QUEUE + 50 && refused === undefined; i++) {
    try {
      await kTx.send(new Uint8Array(1024).fill(i & 0xff));
      accepted++;
    } catch (err) {
      refused = err;
    }
  }
  assert.ok(refused instanceof RTTBackpressureError, `expected QUEUE_FULL, got ${refused}`);
  assert.equal(refused.code, "QUEUE_FULL");
  assert.ok(accepted <= WINDOW + QUEUE, `accepted ${accepted} > window + queue`);
  assert.ok(kTx.stats().maxQueueLen <= QUEUE);

  // Knowledge is stuck behind an unread receiver; control and state are not.
  await cTx.send(new TextEncoder().encode("ping"));
  await sTx.send(new TextEncoder().encode("presence"));
  const c = await within(5000, "control behind a stalled knowledge channel", cRx.receive());
  const s = await within(5000, "state behind a stalled knowledge channel", sRx.receive());
  assert.equal(new TextDecoder().decode(c!), "ping");
  assert.equal(new TextDecoder().decode(s!), "presence");

  // Every accepted knowledge message then arrives, in order.
  for (let i = 0; i < accepted; i++) {
    const m = await within(5000, `knowledge message ${i}`, kRx.receive());
    assert.equal(m![0], i & 0xff);
    assert.equal(m!.length, 1024);
  }
});

Deno.test("RTT control round trips complete while knowledge carries bulk data to a slow reader", async () => {
  const BULK = 200;
  const PINGS = 20;
  await using rig = await pair();
  const kTx = await rig.outbound.openChannel("knowledge");
  const cTx = await rig.outbound.openChannel("control");
  const kRx = await rig.inbound.openChannel("knowledge");
  const cRx = await rig.inbound.openChannel("control");

  // The server echoes control messages and reads knowledge slowly: one bulk
  // message per control round trip (a gate, not a timer), all of them after.
  const echo = (async () => {
    for await (const m of cRx) await cRx.send(m);
  })();
  let bulkReceived = 0;
  let allowed = 0;
  let wakeReader = () => {};
  const allow = (n: number) => {
    allowed = n;
    wakeReader();
  };
  const reader = (async () => {
    for (let i = 0; i < BULK; i++) {
      while (i >= allowed) await new Promise<void>((r) => wakeReader = r);
      const m = await kRx.receive();
      assert.equal(m!.length, 64 * 1024);
      assert.equal(m![0], i & 0xff);
      bulkReceived++;
    }
  })();
  const writer = (async () => {
    for (let i = 0; i < BULK; i++) await kTx.send(new Uint8Array(64 * 1024).fill(i & 0xff));
  })();

  for (let i = 0; i < PINGS; i++) {
    await cTx.send(new Uint8Array([i]));
    const back = await within(5000, `control round trip ${i}`, cTx.receive());
    assert.equal(back![0], i);
    allow(i + 1);
  }
  // All control round trips finished while the bulk transfer was still going.
  assert.ok(bulkReceived < BULK, `bulk already done (${bulkReceived}) before pings finished`);
  allow(BULK);

  await within(20000, "bulk writer", writer);
  await within(20000, "bulk reader", reader);
  assert.equal(bulkReceived, BULK);
  await cTx.close();
  await within(5000, "echo loop end", echo);
});
