// RTT channels over the real native library on 127.0.0.1: ordering across
// concurrent channels, flush, typed errors, and half-close.
//
// No test here has a duration as its subject (each waits for the event it
// asserts; the deadlines are liveness bounds). The transport's own timers
// (heartbeat, reconnect backoff, resume window, rekey, handshake deadlines)
// have exact virtual-clock twins in tests/unit/virtual_time_rtt_test.ts.
import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { RTTDisconnectedError, RTTTransportError } from "../../lib/transport/mod.ts";
import { HOST, rttPair, type RttPairOptions, waitFor, within } from "../helpers/rtt.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);
const [idA, idB] = await Promise.all([Identity.generate(), Identity.generate()]);
const pair = (options?: RttPairOptions) => rttPair(idA, idB, options);

Deno.test("Three channels at once each keep their own order", async () => {
  await using p = await pair();
  const kinds = ["control", "state", "knowledge"];
  const N = 400;
  const senders = kinds.map(async (kind) => {
    const ch = await p.outbound.openChannel(kind);
    for (let i = 0; i < N; i++) await ch.send(enc(`${kind}:${i}:${"x".repeat(i % 97)}`));
    await within(5000, `flush of ${kind}`, ch.flush());
    await ch.close();
  });
  const receivers = kinds.map(async (kind) => {
    const ch = await p.inbound.openChannel(kind);
    const got: number[] = [];
    for await (const msg of ch) {
      const [k, i] = dec(msg)!.split(":");
      assert.equal(k, kind, "no message crosses channels");
      got.push(Number(i));
    }
    return got;
  });
  await within(10000, "senders", Promise.all(senders));
  const results = await within(10000, "receivers", Promise.all(receivers));
  for (const got of results) assert.deepEqual(got, Array.from({ length: N }, (_, i) => i));
  const stats = p.outbound.stats();
  assert.equal(stats.messagesOut, 3 * N);
  assert.equal(p.inbound.stats().messagesIn, 3 * N);
});

Deno.test("Messages sent before the peer opens the channel wait and are not lost", async () => {
  await using p = await pair();
  const tx = await p.outbound.openChannel("late-opener");
  for (let i = 0; i < 10; i++) await tx.send(enc(`m${i}`));
  // The messages reached the peer before it opened the channel.
  await waitFor(
    "10 messages held for the unopened channel",
    () => p.inbound.stats().messagesIn === 10,
    {
      timeoutMs: 5000,
      detail: () => `messagesIn ${p.inbound.stats().messagesIn}`,
    },
  );
  const rx = await p.inbound.openChannel("late-opener");
  const got: string[] = [];
  for (let i = 0; i < 10; i++) got.push(dec(await rx.receive())!);
  assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `m${i}`));
});

Deno.test("Large messages are delivered whole and intact", async () => {
  await using p = await pair();
  const tx = await p.outbound.openChannel("knowledge");
  const rx = await p.inbound.openChannel("knowledge");
  const big = new Uint8Array(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i += 65536) {
    crypto.getRandomValues(big.subarray(i, Math.min(big.length, i + 65536)));
  }
  const sent = tx.send(big);
  const got = await within(10000, "large receive", rx.receive());
  await sent;
  assert.equal(got?.length, big.length);
  assert.deepEqual(got, big);
});

Deno.test("Empty messages and messages in a SharedArrayBuffer or a subarray arrive as sent", async () => {
  await using p = await pair();
  const tx = await p.outbound.openChannel("state");
  const rx = await p.inbound.openChannel("state");
  const shared = new Uint8Array(new SharedArrayBuffer(8));
  shared.set([1, 2, 3, 4, 5, 6, 7, 8]);
  const backing = new Uint8Array([9, 9, 10, 11, 12, 9]);
  await tx.send(new Uint8Array(0));
  await tx.send(shared);
  await tx.send(backing.subarray(2, 5));
  assert.deepEqual(await within(3000, "empty", rx.receive()), new Uint8Array(0));
  assert.deepEqual(
    await within(3000, "shared", rx.receive()),
    new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
  );
  assert.deepEqual(await within(3000, "subarray", rx.receive()), new Uint8Array([10, 11, 12]));
});

Deno.test("flush resolves once the peer acknowledged everything sent so far", async () => {
  await using p = await pair();
  const tx = await p.outbound.openChannel("state");
  const rx = await p.inbound.openChannel("state");
  for (let i = 0; i < 50; i++) await tx.send(enc(`m${i}`));
  await within(5000, "flush", tx.flush());
  const s = tx.stats();
  assert.equal(s.enqueued, 50);
  let n = 0;
  while (n < 50) {
    assert.equal(dec(await rx.receive()), `m${n}`);
    n++;
  }
  await within(5000, "second flush", tx.flush()); // nothing outstanding
});

Deno.test("A message above maxMessageBytes is refused with MESSAGE_TOO_LARGE naming the channel", async () => {
  await using p = await pair({ client: { maxMessageBytes: 1024 } });
  const tx = await p.outbound.openChannel("state");
  await assert.rejects(() => tx.send(new Uint8Array(1025)), (err: unknown) => {
    assert.ok(err instanceof RTTTransportError);
    assert.equal(err.code, "MESSAGE_TOO_LARGE");
    assert.match(err.message, /channel "state"/);
    assert.match(err.message, new RegExp(idA.fingerprint));
    return true;
  });
  await tx.send(new Uint8Array(1024)); // the limit itself is fine
});

Deno.test("Too many channels gives TOO_MANY_CHANNELS", async () => {
  await using p = await pair({ client: { maxChannels: 2 } });
  await p.outbound.openChannel("a");
  await p.outbound.openChannel("b");
  await assert.rejects(
    () => p.outbound.openChannel("c"),
    (err: unknown) => err instanceof RTTTransportError && err.code === "TOO_MANY_CHANNELS",
  );
});

Deno.test("Half-close: the peer drains what was sent, then receive() returns null", async () => {
  await using p = await pair();
  const tx = await p.outbound.openChannel("state");
  const rx = await p.inbound.openChannel("state");
  await tx.send(enc("last words"));
  await tx.close();
  assert.equal(dec(await rx.receive()), "last words");
  assert.equal(await rx.receive(), null);
  assert.equal(await rx.receive(), null);
  await assert.rejects(() => tx.send(enc("after close")), (err: unknown) => {
    assert.ok(err instanceof RTTDisconnectedError);
    assert.equal(err.code, "CHANNEL_CLOSED");
    assert.equal(err.undelivered, 1);
    assert.match(err.message, /channel "state"/);
    return true;
  });
  // The other direction still works.
  const back = await p.inbound.openChannel("state");
  await back.send(enc("reply"));
  assert.equal(dec(await tx.receive()), "reply");
});

Deno.test("Sends on a closed session get RTTDisconnectedError; the peer sees peer_closed", async () => {
  await using p = await pair();
  const tx = await p.outbound.openChannel("state");
  const rx = await p.inbound.openChannel("state");
  await tx.send(enc("before"));
  const peerClosed = new Promise<string | undefined>((resolve) =>
    p.inbound.onSessionClose((e) => resolve(e.reason))
  );
  await p.outbound.close();
  assert.equal(p.outbound.state, "closed");
  await assert.rejects(() => tx.send(enc("after")), (err: unknown) => {
    assert.ok(err instanceof RTTDisconnectedError);
    assert.equal(err.code, "SESSION_CLOSED");
    assert.match(err.message, new RegExp(idA.fingerprint));
    return true;
  });
  await assert.rejects(() => p.outbound.openChannel("other"), RTTDisconnectedError);
  // A liveness bound (its timer also keeps the process alive while only
  // unref'd sockets are pending: nothing else awaits the server here).
  assert.equal(await within(5000, "the peer's close", peerClosed), "peer_closed");
  assert.equal(dec(await rx.receive()), "before", "what was flushed at close arrived");
  assert.equal(await rx.receive(), null);
  assert.equal(p.outbound.stats().messagesOut, 1, "stats survive the close");
});

Deno.test("shutdown() twice and dispose after it are safe; calls after it fail typed", async () => {
  const p = await pair();
  await Promise.all([p.client.shutdown(), p.client.shutdown()]);
  await p.client[Symbol.asyncDispose]();
  assert.equal(p.outbound.state, "closed");
  await assert.rejects(
    () => p.client.connect({ hostname: HOST, port: 1, fingerprint: idA.fingerprint }),
    RTTDisconnectedError,
  );
  await p.server.shutdown();
  await assert.rejects(() => p.server.accept(), RTTDisconnectedError);
});
