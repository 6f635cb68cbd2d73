/**
 * Virtual-clock twins of the RTT tests whose subject is timing (issue 18
 * item 6). The originals run the real native library over 127.0.0.1 with
 * wall-clock deadlines and can only say "within a bound"; these run the same
 * native core and driver on the `memory` backend with a `ManualClock`, moved
 * timer by timer (tests/helpers/virtual_time.ts), and assert the exact
 * virtual instant of each outcome, and that it has not happened one
 * millisecond earlier:
 *
 * - heartbeat timeout: a silent link is declared dead `heartbeatTimeoutMs` +
 *   1 ms after the last byte it carried, on both sides, and not before
 *   (twin of rtt_resume_test.ts's heartbeat tests and rtt_node_test.ts's hook order);
 * - resumption after a heartbeat timeout, at the instant the link heals;
 * - no reconnect at all after a final close when resumption is off (twin of
 *   rtt_resume_test.ts's absence window: on a virtual clock, no timer is left);
 * - reconnect backoff: attempts at the instants the seeded jitter gives,
 *   each gap within [delay / 2, delay] of the doubling delay, the session
 *   closed (`reconnect_failed`) at the last attempt; the same seed gives the
 *   same instants, and a heal just before an attempt resumes at that attempt;
 * - the resume window's end (`resume_timeout`), on both sides;
 * - time-based rekey at every `rekeyAfterMs`;
 * - the client's handshake deadline and the server's ClientHello deadline
 *   (twin of rtt_handshake_test.ts's idle plain-TCP client);
 * - heartbeat round trips over a link delayed by exactly 5 ms each way
 *   (twin of rtt_lifecycle_test.ts's latency statistics);
 * - a blocked send's `blockTimeoutMs` and a graceful close's flush deadline
 *   over a silent link (twins of the contract kit's backpressure and close
 *   tests, tests/helpers/transport_contract.ts).
 */

import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { type Clock, type ManualClock, seededRandom } from "../../lib/ports/mod.ts";
import { memory, MemoryNetwork, type RttNode, type RttOptions } from "../../lib/rtt/mod.ts";
import {
  RTTBackpressureError,
  RTTHandshakeError,
  RTTTransportError,
  type TransportEvent,
} from "../../lib/transport/mod.ts";
import { VirtualTime } from "../helpers/virtual_time.ts";

const [idA, idB] = await Promise.all([Identity.generate(), Identity.generate()]);
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);

/** A transport event with the virtual instant and the side that saw it. */
interface Seen {
  at: number;
  side: "server" | "client";
  type: TransportEvent["type"];
  reason?: string | undefined;
  resumed?: boolean | undefined;
}

/** A clock that delegates to `clock` and records the instant each of its timeouts fires. */
function firingsOf(clock: ManualClock, fired: number[]): Clock {
  return {
    now: () => clock.now(),
    monotonic: () => clock.monotonic(),
    setTimeout: (fn, ms) =>
      clock.setTimeout(() => {
        fired.push(clock.monotonic());
        fn();
      }, ms),
    setInterval: (fn, ms) => clock.setInterval(fn, ms),
    clear: (handle) => clock.clear(handle),
    ref: () => {},
  };
}

interface RigOptions {
  /** Seeds the two nodes' random sources (session ids, reconnect jitter). @default {1} */
  seed?: number;
  /** Records the instants the client's driver timer fires. */
  clientTimer?: number[];
  /** Connect at once (at virtual 0). @default {true} */
  connect?: boolean;
}

/**
 * A server and a client memory node on one virtual clock, connected at
 * virtual time 0, with every lifecycle event recorded at its instant.
 */
async function rig(options: RttOptions, o: RigOptions = {}) {
  const seed = o.seed ?? 1;
  const vt = new VirtualTime();
  const network = new MemoryNetwork({ clock: vt.clock });
  const server = await memory({ ...options, network })({
    identity: idA,
    random: seededRandom(seed * 2),
  });
  const client = await memory({ ...options, network })({
    identity: idB,
    random: seededRandom(seed * 2 + 1),
    ...(o.clientTimer === undefined ? {} : { clock: firingsOf(vt.clock, o.clientTimer) }),
  });
  const events: Seen[] = [];
  const record = (side: Seen["side"]) => (e: TransportEvent) =>
    events.push({
      at: vt.now,
      side,
      type: e.type,
      reason: "reason" in e ? e.reason : undefined,
      resumed: "resumed" in e ? e.resumed : undefined,
    });
  server.onEvent(record("server"));
  client.onEvent(record("client"));
  const { port } = await server.listen({ hostname: "srv", port: 0 });
  const dial = () => client.connect({ hostname: "srv", port, fingerprint: idA.fingerprint });
  const [outbound, inbound] = o.connect === false
    ? [undefined, undefined]
    : await Promise.all([dial(), server.accept()]);
  return {
    vt,
    network,
    server,
    client,
    outbound: outbound!,
    inbound: inbound!,
    events,
    dial,
    /** The events of one type, as `side@instant`. */
    when: (type: Seen["type"]) =>
      events.filter((e) => e.type === type).map((e) => `${e.side}@${e.at}`),
    async [Symbol.asyncDispose]() {
      network.heal();
      const stop = Promise.all([
        client.shutdown({ deadlineMs: 100 }),
        server.shutdown({ deadlineMs: 100 }),
      ]);
      await vt.runFor(1000);
      await stop;
      vt[Symbol.dispose]();
    },
  };
}

const HEARTBEAT = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 400 } as const;

Deno.test("Heartbeat timeout (virtual): a link silent from 200 ms is declared dead at exactly 601 ms on both sides, not at 600", async () => {
  await using r = await rig({ ...HEARTBEAT, resumeWindowMs: 0 });
  // Pings at 100 and 200 cross (each side last heard the other at 200); the
  // link goes silent at 250: the pings at 300, 400, 500 and 600 are lost.
  await r.vt.runUntil(250);
  r.network.stall(r.server, r.client);
  await r.vt.runUntil(600);
  assert.deepEqual(r.when("heartbeat_timeout"), [], "declared dead one tick early");
  assert.equal(r.outbound.state, "open");
  await r.vt.runUntil(601);
  // More than heartbeatTimeoutMs (400) since the last byte (200): the core's deadline is
  // 200 + 400 ms + 1 us, which the driver's millisecond timer meets at 601.
  assert.deepEqual(r.when("heartbeat_timeout").sort(), ["client@601", "server@601"]);
  assert.deepEqual(
    r.events.filter((e) => e.side === "client").map((e) => `${e.type}@${e.at}:${e.reason ?? ""}`),
    [
      "session_open@0:",
      "heartbeat_timeout@601:heartbeat_timeout",
      "session_close@601:heartbeat_timeout",
    ],
  );
  assert.equal(r.outbound.state, "closed");
  assert.equal(r.inbound.state, "closed");
});

Deno.test("Heartbeat timeout (virtual): the deadline counts from the last beat heard, so a link silenced after the beat at 300 dies at 701", async () => {
  for (const [silentAt, deadAt] of [[299, 601], [300, 701], [399, 701], [400, 801]] as const) {
    await using r = await rig({ ...HEARTBEAT, resumeWindowMs: 0 });
    await r.vt.runUntil(silentAt);
    r.network.stall(r.server, r.client);
    await r.vt.runUntil(deadAt - 1);
    assert.deepEqual(r.when("heartbeat_timeout"), [], `silent at ${silentAt}: early`);
    await r.vt.runUntil(deadAt);
    assert.deepEqual(
      r.when("heartbeat_timeout").sort(),
      [`client@${deadAt}`, `server@${deadAt}`],
      `silent at ${silentAt}`,
    );
  }
});

Deno.test("Heartbeat timeout with resumption (virtual): lost at 601, resumed at the heal's instant, the message sent in the stall arrives once", async () => {
  await using r = await rig({
    ...HEARTBEAT,
    resumeWindowMs: 10_000,
    reconnectInitialDelayMs: 10,
    reconnectMaxDelayMs: 100,
  });
  const tx = await r.outbound.openChannel("state");
  const rx = await r.inbound.openChannel("state");
  await r.vt.runUntil(250);
  r.network.stall(r.server, r.client);
  await tx.send(enc("during the stall"));
  await r.vt.runUntil(1000);
  assert.deepEqual(
    r.events.filter((e) => e.side === "client").map((e) => `${e.type}@${e.at}`),
    ["session_open@0", "heartbeat_timeout@601", "connection_lost@601"],
  );
  assert.equal(r.outbound.state, "reconnecting");
  // The first reconnect attempt (at 601 + 5..10 ms) is a handshake held by
  // the stall: it completes the moment the link carries bytes again.
  r.network.heal();
  await r.vt.runUntil(1000);
  assert.deepEqual(r.when("session_open").filter((s) => s.endsWith("@1000")).sort(), [
    "client@1000",
    "server@1000",
  ]);
  assert.ok(r.events.every((e) => e.type !== "session_open" || e.at === 0 || e.resumed));
  assert.equal(r.outbound.stats().reconnects, 1);
  assert.equal(dec(await rx.receive()), "during the stall");
  assert.deepEqual(r.when("session_close"), []);
});

Deno.test("No resumption after a final close (virtual): with resumption off, nothing is scheduled after the heartbeat close, so no reconnect can ever come", async () => {
  await using r = await rig({
    ...HEARTBEAT,
    resumeWindowMs: 0,
    reconnectInitialDelayMs: 10,
    reconnectMaxDelayMs: 100,
  });
  await r.vt.runUntil(250);
  r.network.stall(r.server, r.client);
  await r.vt.runUntil(601);
  assert.deepEqual(r.when("session_close").sort(), ["client@601", "server@601"]);
  r.network.heal();
  // The real-time original waits 300 ms of wall time and hopes; here an hour
  // of virtual time passes, and the clock shows no timer left at all.
  await r.vt.runFor(3_600_000);
  assert.deepEqual(r.events.filter((e) => e.at > 601), [], "nothing after the final close");
  assert.equal(r.vt.clock.pending(), 0, "no timer left: no reconnect is scheduled");
  assert.equal(r.server.metrics().pendingHandshakes, 0);
});

/** The reconnect delays of the core: doubling from `initial` up to `max`. */
function delays(initial: number, max: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.min(initial * 2 ** i, max));
}

const BACKOFF = {
  reconnectInitialDelayMs: 20,
  reconnectMaxDelayMs: 160,
  reconnectMaxAttempts: 6,
  resumeWindowMs: 60_000,
} as const;

/** Cuts the pair at 100 ms and returns the instants of the client's reconnect attempts. */
async function attempts(seed: number): Promise<{ at: number[]; closedAt: number | undefined }> {
  const fired: number[] = [];
  await using r = await rig(BACKOFF, { seed, clientTimer: fired });
  await r.vt.runUntil(100);
  fired.length = 0;
  r.network.cut(r.server, r.client);
  await r.vt.runUntil(5_000);
  assert.deepEqual(r.when("connection_lost").sort(), ["client@100", "server@100"]);
  const close = r.events.find((e) => e.side === "client" && e.type === "session_close");
  assert.equal(close?.reason, "reconnect_failed");
  return { at: fired, closedAt: close?.at };
}

Deno.test("Reconnect backoff (virtual): attempts at the seeded jitter's instants, each gap in [d/2, d] of the doubling delay, closed at the last attempt", async () => {
  const first = await attempts(1);
  const d = delays(BACKOFF.reconnectInitialDelayMs, BACKOFF.reconnectMaxDelayMs, 6);
  assert.deepEqual(d, [20, 40, 80, 160, 160, 160]);
  // The client's one timer fires once per attempt (nothing else is due on a
  // dialer with no connection, until the resume window's end).
  assert.equal(first.at.length, BACKOFF.reconnectMaxAttempts, `attempts at ${first.at}`);
  let previous = 100;
  first.at.forEach((at, i) => {
    const gap = at - previous;
    // The core scales each delay by a factor in [0.5, 1.0] (whole microseconds;
    // the driver's timer rounds up to the millisecond).
    assert.ok(gap >= d[i]! / 2 && gap <= d[i]! + 1, `attempt ${i + 1}: gap ${gap} for ${d[i]}`);
    previous = at;
  });
  assert.equal(first.closedAt, first.at.at(-1), "reconnect_failed at the last attempt");
  // The jitter comes from the node's random source: the same seed, the same instants.
  assert.deepEqual((await attempts(1)).at, first.at);
  assert.notDeepEqual((await attempts(2)).at, first.at, "another seed, other instants");
});

Deno.test("Reconnect backoff (virtual): a heal one ms before the third attempt resumes the session exactly at that attempt", async () => {
  const { at } = await attempts(1);
  const third = at[2]!;
  await using r = await rig(BACKOFF, { seed: 1 });
  await r.vt.runUntil(100);
  r.network.cut(r.server, r.client);
  await r.vt.runUntil(third - 1);
  r.network.heal();
  await r.vt.runUntil(third - 1);
  assert.deepEqual(r.when("session_open"), ["server@0", "client@0"], "no attempt before the third");
  await r.vt.runUntil(third);
  assert.deepEqual(r.when("session_open").filter((s) => !s.endsWith("@0")).sort(), [
    `client@${third}`,
    `server@${third}`,
  ]);
  assert.equal(r.outbound.state, "open");
  assert.equal(r.outbound.stats().reconnects, 1);
});

Deno.test("Resume window (virtual): a session cut at 100 with resumeWindowMs 1000 ends resume_timeout at exactly 1100 on both sides", async () => {
  await using r = await rig({
    resumeWindowMs: 1000,
    reconnectInitialDelayMs: 5000,
    reconnectMaxDelayMs: 5000,
  });
  await r.vt.runUntil(100);
  r.network.cut(r.server, r.client);
  await r.vt.runUntil(1099);
  assert.deepEqual(r.when("session_close"), [], "closed before the window ended");
  assert.equal(r.inbound.state, "reconnecting");
  await r.vt.runUntil(1100);
  assert.deepEqual(r.when("session_close").sort(), ["client@1100", "server@1100"]);
  assert.ok(
    r.events.filter((e) => e.type === "session_close").every((e) => e.reason === "resume_timeout"),
  );
});

Deno.test("Rekey (virtual): each side updates its keys at every rekeyAfterMs (1000, 2000), not a ms before, and traffic goes on", async () => {
  await using r = await rig({ rekeyAfterMs: 1000 });
  const tx = await r.outbound.openChannel("state");
  const rx = await r.inbound.openChannel("state");
  await r.vt.runUntil(999);
  assert.equal(r.outbound.stats().rekeys, 0);
  await r.vt.runUntil(1000);
  assert.deepEqual(r.when("rekey").sort(), ["client@1000", "server@1000"]);
  await r.vt.runUntil(1999);
  assert.equal(r.outbound.stats().rekeys, 1);
  await r.vt.runUntil(2000);
  assert.equal(r.outbound.stats().rekeys, 2);
  assert.equal(r.inbound.stats().rekeys, 2);
  await tx.send(enc("under the new keys"));
  await r.vt.settle();
  assert.equal(dec(await rx.receive()), "under the new keys");
});

Deno.test("Handshake deadline (virtual): a connect over a silent link fails HANDSHAKE_TIMEOUT at exactly handshakeTimeoutMs", async () => {
  await using r = await rig({ handshakeTimeoutMs: 500 }, { connect: false });
  r.network.stall(r.server, r.client);
  let failedAt: number | undefined;
  const failed = r.dial().then(
    () => assert.fail("connected over a silent link"),
    (e: unknown) => {
      failedAt = r.vt.now;
      return e;
    },
  );
  await r.vt.runUntil(499);
  assert.equal(failedAt, undefined, "failed before the deadline");
  assert.equal(r.server.metrics().pendingHandshakes, 1);
  await r.vt.runUntil(500);
  assert.equal(failedAt, 500);
  const e = await failed;
  assert.ok(e instanceof RTTHandshakeError, String(e));
  assert.equal(e.code, "HANDSHAKE_TIMEOUT");
});

Deno.test("ClientHello deadline (virtual): an inbound connection that sends no byte is dropped at exactly clientHelloTimeoutMs", async () => {
  // The server's short deadline for a connection that has sent nothing (the
  // idle plain-TCP client of rtt_handshake_test.ts), before the client's own.
  await using r = await rig({ handshakeTimeoutMs: 5000, clientHelloTimeoutMs: 300 }, {
    connect: false,
  });
  r.network.stall(r.server, r.client);
  let endedAt: number | undefined;
  const ended = r.dial().then(
    () => assert.fail("connected over a silent link"),
    (e: unknown) => {
      endedAt = r.vt.now;
      return e;
    },
  );
  await r.vt.runUntil(299);
  assert.equal(r.server.metrics().pendingHandshakes, 1);
  assert.equal(endedAt, undefined);
  await r.vt.runUntil(300);
  assert.equal(r.server.metrics().pendingHandshakes, 0, "dropped at the ClientHello deadline");
  assert.equal(endedAt, 300, "the dialer sees its connection end at that instant");
  const e = await ended;
  assert.ok(e instanceof RTTTransportError && e.code === "IO", String(e));
});

Deno.test("Heartbeat latency (virtual): a link delayed 5 ms each way gives round trips of exactly 10,000 us", async () => {
  await using r = await rig({ heartbeatIntervalMs: 100 });
  r.network.delay(r.server, r.client, 5);
  await r.vt.runUntil(1000);
  for (const node of [r.client, r.server] as RttNode[]) {
    const m = node.metrics();
    assert.equal(m.latencyP50Us, 10_000);
    assert.equal(m.latencyP95Us, 10_000);
  }
  assert.equal(r.outbound.stats().latencyP50Us, 10_000);
});

Deno.test("Blocked send (virtual): a send that finds the queue full over a silent link fails BLOCK_TIMEOUT at exactly blockTimeoutMs", async () => {
  await using r = await rig({ backpressurePolicy: "block", blockTimeoutMs: 300, maxQueue: 2 });
  const tx = await r.outbound.openChannel("state");
  r.network.stall(r.server, r.client);
  let queued = 0;
  let failedAt: number | undefined;
  const sending = (async () => {
    for (;;) {
      await tx.send(new Uint8Array(60_000));
      queued++;
    }
  })().catch((e: unknown) => {
    failedAt = r.vt.now;
    return e;
  });
  await r.vt.runUntil(299);
  assert.equal(queued, 2, "two queued, the third waits");
  assert.equal(tx.stats().blocked, 1);
  assert.equal(failedAt, undefined, "gave up before blockTimeoutMs");
  await r.vt.runUntil(300);
  assert.equal(failedAt, 300);
  const e = await sending;
  assert.ok(e instanceof RTTBackpressureError && e.code === "BLOCK_TIMEOUT", String(e));
  assert.equal(tx.stats().errors, 1);
});

Deno.test("Graceful close (virtual): close() over a silent link with data outstanding ends at exactly its flush deadline", async () => {
  await using r = await rig({});
  const tx = await r.outbound.openChannel("state");
  await r.vt.runUntil(100);
  r.network.stall(r.server, r.client);
  await tx.send(enc("never acknowledged"));
  let closedAt: number | undefined;
  r.outbound.onSessionClose(() => closedAt = r.vt.now);
  const closing = r.outbound.close({ flushDeadlineMs: 500 });
  await r.vt.runUntil(599);
  assert.equal(closedAt, undefined, "closed before the flush deadline");
  assert.equal(r.outbound.state, "open");
  await r.vt.runUntil(600);
  assert.equal(closedAt, 600);
  await closing;
  assert.equal(r.outbound.state, "closed");
});
