/**
 * The transport contract kit: `describeTransportContract(backend)` registers
 * the same tests for any backend, so every backend is held to the same
 * rules (flush semantics, queue bounds and the four policies, statistics,
 * limits and their errors, close reasons, resumption through cuts,
 * exactly-once delivery, lifecycle hooks). Endpoints are made through the
 * backend's typed factory, as an agent makes them: `rtt(options)` runs it
 * over Deno TCP through a fault proxy, `memory({ ...options, network })`
 * over in-process pipes with the network's own faults.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import {
  type BackpressurePolicy,
  RTTBackpressureError,
  RTTDisconnectedError,
  RTTHandshakeError,
  RTTTransportError,
  type Transport,
  type TransportChannel,
  type TransportEvent,
  type TransportFactory,
  type TransportIdentity,
  type TransportSession,
} from "../../lib/transport/mod.ts";
import type { RttOptions, RttSession } from "../../lib/rtt/mod.ts";
import { waitFor, within } from "./rtt.ts";

/** A path from a client to a listening transport, with faults on it. */
export interface ContractLink {
  /** Where the client dials. */
  hostname: string;
  /** Where the client dials. */
  port: number;
  /** Drops the connection(s) on the path; new ones may be made at once. */
  cut(client: Transport): void;
  /** Silences the path (nothing delivered, nothing closed) until `heal`. */
  stall(client: Transport): void;
  /** Ends `stall`. */
  heal(): void;
  /** Releases the path. */
  close(): Promise<void>;
}

/** What the kit needs from a backend. */
export interface ContractBackend {
  /** The backend name, used in test names. */
  name: string;
  /** The backend's typed factory with these limits (`rtt(options)`, `memory({ ...options, network })`). */
  transport(options: RttOptions): TransportFactory;
  /** Makes `server` listen and returns the path a client dials. */
  expose(server: Transport): Promise<ContractLink>;
}

const [idA, idB, idC] = await Promise.all([
  Identity.generate(),
  Identity.generate(),
  Identity.generate(),
]);

const msg = (i: number, size = 64) => {
  const m = new Uint8Array(size);
  new DataView(m.buffer).setUint32(0, i);
  return m;
};
const num = (m: Uint8Array | null) =>
  m === null ? -1 : new DataView(m.buffer, m.byteOffset).getUint32(0);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** A connected pair of endpoints. */
interface Pair extends AsyncDisposable {
  server: Transport;
  client: Transport;
  link: ContractLink;
  outbound: TransportSession;
  inbound: TransportSession;
  clientEvents: TransportEvent[];
  serverEvents: TransportEvent[];
}

/** One endpoint of `backend` for `identity`, made through the backend's factory. */
function endpoint(
  backend: ContractBackend,
  identity: TransportIdentity,
  options: RttOptions = {},
): Promise<Transport> {
  return backend.transport(options)({ identity });
}

async function makePair(
  backend: ContractBackend,
  server: RttOptions = {},
  client: RttOptions = {},
): Promise<Pair> {
  const s = await endpoint(backend, idA, server);
  const c = await endpoint(backend, idB, client);
  const serverEvents: TransportEvent[] = [];
  const clientEvents: TransportEvent[] = [];
  s.onEvent((e) => serverEvents.push(e));
  c.onEvent((e) => clientEvents.push(e));
  const link = await backend.expose(s);
  const [outbound, inbound] = await Promise.all([
    c.connect({ hostname: link.hostname, port: link.port, fingerprint: idA.fingerprint }),
    s.accept(),
  ]);
  return {
    server: s,
    client: c,
    link,
    outbound,
    inbound,
    clientEvents,
    serverEvents,
    async [Symbol.asyncDispose]() {
      await c.shutdown({ deadlineMs: 200 });
      await s.shutdown({ deadlineMs: 200 });
      await link.close();
    },
  };
}

async function receiveAll(rx: TransportChannel, count: number): Promise<number[]> {
  const got: number[] = [];
  for (let i = 0; i < count; i++) got.push(num(await within(5000, `message ${i}`, rx.receive())));
  return got;
}

/** The receiving node grants a window of 16 messages; the sending channel queues 4. */
const WINDOW = 16;
const QUEUE = 4;

interface Saturated extends Pair {
  tx: TransportChannel;
  rx: TransportChannel;
}

/** A channel whose window is used up and whose send queue is full. */
async function saturated(
  backend: ContractBackend,
  policy: BackpressurePolicy,
  blockTimeoutMs = 30000,
): Promise<Saturated> {
  const p = await makePair(backend, { maxQueue: WINDOW });
  const tx = await p.outbound.openChannel("knowledge", {
    backpressurePolicy: policy,
    maxQueue: QUEUE,
    blockTimeoutMs,
  });
  const rx = await p.inbound.openChannel("knowledge");
  // One at a time, so the small send queue never overflows while the window fills.
  for (let i = 0; i < WINDOW; i++) {
    await tx.send(msg(i));
    await within(5000, `flush of message ${i}`, tx.flush());
  }
  for (let i = WINDOW; i < WINDOW + QUEUE; i++) await tx.send(msg(i)); // no credit: queued
  return Object.assign(p, { tx, rx });
}

/**
 * Registers the contract tests for `backend`.
 *
 * @param backend The backend under test.
 */
export function describeTransportContract(backend: ContractBackend): void {
  const t = (name: string, fn: () => Promise<void>) => Deno.test(`[${backend.name}] ${name}`, fn);

  t("sessions carry each side's authenticated peer and one id", async () => {
    await using p = await makePair(backend);
    assert.equal(p.client.backend, backend.name);
    assert.equal(p.outbound.peerFingerprint, idA.fingerprint);
    assert.equal(p.inbound.peerFingerprint, idB.fingerprint);
    assert.equal(p.outbound.id, p.inbound.id);
    assert.equal(p.outbound.state, "open");
    assert.equal(p.server.metrics().sessions, 1);
  });

  t("a wrong pin is FINGERPRINT_MISMATCH and an allow-list miss PEER_NOT_ALLOWED", async () => {
    const server = await endpoint(backend, idA, { allowPeers: [idC.fingerprint] });
    const client = await endpoint(backend, idB);
    const link = await backend.expose(server);
    try {
      await assert.rejects(
        () =>
          client.connect({
            hostname: link.hostname,
            port: link.port,
            fingerprint: idC.fingerprint,
          }),
        (e: unknown) => e instanceof RTTHandshakeError && e.code === "FINGERPRINT_MISMATCH",
      );
      await assert.rejects(
        () =>
          client.connect({
            hostname: link.hostname,
            port: link.port,
            fingerprint: idA.fingerprint,
          }),
        (e: unknown) => e instanceof RTTHandshakeError && e.code === "PEER_NOT_ALLOWED",
      );
      assert.ok(client.metrics().verificationFailures >= 1);
    } finally {
      await client.shutdown();
      await server.shutdown();
      await link.close();
    }
  });

  t(
    "channels keep their own order; a late opener gets what came before, exactly once",
    async () => {
      await using p = await makePair(backend);
      const kinds = ["control", "state", "knowledge"];
      const N = 200;
      const senders = await Promise.all(kinds.map(async (kind) => {
        const ch = await p.outbound.openChannel(kind);
        for (let i = 0; i < N; i++) await ch.send(msg(i, 16 + (i % 300)));
        await ch.close();
        return ch;
      }));
      // Until the application opens a channel, the peer only gets its small
      // unopened window (16 messages by default): the rest waits at the sender.
      await waitFor("the unopened windows filled", () => p.inbound.stats().messagesIn === 3 * 16);
      for (const kind of kinds) {
        const ch = await p.inbound.openChannel(kind);
        const got: number[] = [];
        for await (const m of ch) got.push(num(m));
        assert.deepEqual(got, range(0, N), kind);
      }
      for (const ch of senders) await within(5000, `flush of ${ch.kind}`, ch.flush());
      assert.equal(p.outbound.stats().messagesOut, 3 * N);
      assert.equal(p.inbound.stats().messagesIn, 3 * N);
    },
  );

  t(
    "a byte array whose length and byteLength own properties lie sends only its real bytes (no FFI over-read)",
    async () => {
      await using p = await makePair(backend);
      const tx = await p.outbound.openChannel("state");
      const rx = await p.inbound.openChannel("state");
      for (const claimed of [4096, 65_536, 1 << 20]) {
        const liar = new Uint8Array(16).fill(7);
        Object.defineProperty(liar, "length", { value: claimed });
        Object.defineProperty(liar, "byteLength", { value: claimed });
        assert.equal(liar.length, claimed, "the lie is in place");
        await tx.send(liar);
        const got = await within(3000, "receive", rx.receive());
        assert.ok(got !== null);
        assert.equal(got.byteLength, 16, `claimed ${claimed}`);
        assert.deepEqual([...got], new Array(16).fill(7));
      }
      // A view into a larger buffer sends its own window only.
      const big = new Uint8Array(1024).fill(9);
      const view = big.subarray(100, 110);
      Object.defineProperty(view, "byteLength", { value: 1024 });
      await tx.send(view);
      assert.equal((await within(3000, "receive", rx.receive()))?.byteLength, 10);
    },
  );

  t("flush resolves on the peer's acknowledgement, before its application reads", async () => {
    await using p = await makePair(backend);
    const tx = await p.outbound.openChannel("state");
    for (let i = 0; i < 10; i++) await tx.send(msg(i));
    await within(5000, "flush", tx.flush());
    const s = tx.stats();
    assert.equal(s.messagesOut, 10, "counted at transmission");
    assert.equal(s.attempted, 10);
    assert.equal(s.enqueued, 10);
    const rx = await p.inbound.openChannel("state");
    assert.deepEqual(await receiveAll(rx, 10), range(0, 10));
  });

  t("policy error: a full queue rejects with QUEUE_FULL and counts it", async () => {
    await using r = await saturated(backend, "error");
    await assert.rejects(() => r.tx.send(msg(99)), (err: unknown) => {
      assert.ok(err instanceof RTTBackpressureError, String(err));
      assert.equal(err.code, "QUEUE_FULL");
      assert.equal(err.channel, "knowledge");
      return true;
    });
    const s = r.tx.stats();
    assert.equal(s.attempted, WINDOW + QUEUE + 1);
    assert.equal(s.enqueued, WINDOW + QUEUE);
    assert.equal(s.errors, 1);
    assert.equal(s.overflowEvents, 1);
    assert.ok(s.maxQueueLen >= QUEUE, `maxQueueLen ${s.maxQueueLen}`);
    assert.deepEqual(await receiveAll(r.rx, WINDOW + QUEUE), range(0, WINDOW + QUEUE));
  });

  t("policy drop_newest: new messages are dropped, counted and reported", async () => {
    await using r = await saturated(backend, "drop_newest");
    await r.tx.send(msg(100));
    await r.tx.send(msg(101));
    const s = r.tx.stats();
    assert.equal(s.droppedNewest, 2);
    assert.equal(s.dropped, 2);
    assert.deepEqual(await receiveAll(r.rx, WINDOW + QUEUE), range(0, WINDOW + QUEUE));
    await waitFor("drop events", () => r.clientEvents.some((e) => e.type === "drop"));
    const total = r.clientEvents.reduce((n, e) => n + (e.type === "drop" ? e.count : 0), 0);
    assert.equal(total, 2);
    assert.ok(
      r.clientEvents.every((e) =>
        e.type !== "drop" || (e.cause === "drop_newest" && e.channel === "knowledge")
      ),
    );
  });

  t("policy drop_oldest: the oldest queued messages make room", async () => {
    await using r = await saturated(backend, "drop_oldest");
    await r.tx.send(msg(100));
    await r.tx.send(msg(101));
    const s = r.tx.stats();
    assert.equal(s.droppedOldest, 2);
    assert.equal(s.enqueued, WINDOW + QUEUE + 2);
    const got = await receiveAll(r.rx, WINDOW + QUEUE);
    assert.deepEqual(got, [...range(0, WINDOW), WINDOW + 2, WINDOW + 3, 100, 101]);
  });

  t("policy block: a send waits for the reader, losing nothing and keeping order", async () => {
    await using r = await saturated(backend, "block");
    let settled = false;
    const late = Promise.all([r.tx.send(msg(100)), r.tx.send(msg(101))]).then(() => settled = true);
    await r.tx.stats();
    assert.equal(settled, false, "the sends wait while nobody reads");
    const got = await receiveAll(r.rx, WINDOW + QUEUE + 2);
    await within(5000, "blocked sends", late);
    assert.deepEqual(got, [...range(0, WINDOW + QUEUE), 100, 101]);
    const s = r.tx.stats();
    assert.ok(s.blocked >= 1, `blocked ${s.blocked}`);
    assert.equal(s.dropped, 0);
    assert.equal(s.errors, 0);
  });

  t(
    "policy block: once a blocked send settled, the next send goes to the queue at once, not behind it",
    async () => {
      await using r = await saturated(backend, "block");
      const blocked = r.tx.send(msg(100));
      const got = receiveAll(r.rx, WINDOW + QUEUE + 2);
      await within(
        5000,
        "the blocked send, then the next",
        (async () => {
          // Directly after the blocked send settles (no tick in between), as
          // a sending loop does.
          await blocked;
          const before = r.tx.stats().attempted;
          const next = r.tx.send(msg(101));
          // Handed to the queue before send() returned: no copy, no wait
          // behind a send that already settled.
          assert.equal(r.tx.stats().attempted, before + 1);
          await next;
        })(),
      );
      assert.deepEqual(await got, [...range(0, WINDOW + QUEUE), 100, 101]);
    },
  );

  t("policy block: still blocked after blockTimeoutMs rejects with BLOCK_TIMEOUT", async () => {
    await using r = await saturated(backend, "block", 100);
    await assert.rejects(() => r.tx.send(msg(100)), (err: unknown) => {
      assert.ok(err instanceof RTTBackpressureError, String(err));
      assert.equal(err.code, "BLOCK_TIMEOUT");
      return true;
    });
    const s = r.tx.stats();
    assert.equal(s.blocked, 1);
    assert.equal(s.errors, 1);
  });

  t("a flush pending at close rejects with the undelivered count", async () => {
    await using r = await saturated(backend, "block");
    const pending = r.tx.flush(); // 4 messages are queued with no credit
    await r.outbound.close({ flushDeadlineMs: 50 });
    await assert.rejects(within(5000, "flush", pending), (err: unknown) => {
      assert.ok(err instanceof RTTDisconnectedError, String(err));
      assert.equal(err.undelivered, QUEUE);
      return true;
    });
  });

  t("limits: MESSAGE_TOO_LARGE, TOO_MANY_CHANNELS and a full session table", async () => {
    await using p = await makePair(backend, { maxSessions: 1 }, {
      maxMessageBytes: 1000,
      maxChannels: 2,
    });
    const tx = await p.outbound.openChannel("state");
    await assert.rejects(
      () => tx.send(new Uint8Array(1001)),
      (e: unknown) => e instanceof RTTTransportError && e.code === "MESSAGE_TOO_LARGE",
    );
    await p.outbound.openChannel("control");
    await assert.rejects(
      () => p.outbound.openChannel("knowledge"),
      (e: unknown) => e instanceof RTTTransportError && e.code === "TOO_MANY_CHANNELS",
    );
    const other = await endpoint(backend, idC);
    try {
      await assert.rejects(
        () =>
          other.connect({
            hostname: p.link.hostname,
            port: p.link.port,
            fingerprint: idA.fingerprint,
          }),
        (e: unknown) => e instanceof RTTHandshakeError && e.code === "TOO_MANY_HANDSHAKES",
      );
    } finally {
      await other.shutdown();
    }
  });

  t("maxSessions is never exceeded under concurrent opens from fresh keys", async () => {
    await using p = await makePair(backend, { maxSessions: 4 });
    let peak = 0;
    // Sessions only grow with a session_open: sample the count at each event.
    const unwatch = p.server.onEvent(() => peak = Math.max(peak, p.server.metrics().sessions));
    const clients = await Promise.all(
      range(0, 10).map(async () => endpoint(backend, await Identity.generate())),
    );
    try {
      const results = await Promise.allSettled(
        clients.map((c) =>
          c.connect({ hostname: p.link.hostname, port: p.link.port, fingerprint: idA.fingerprint })
        ),
      );
      peak = Math.max(peak, p.server.metrics().sessions);
      const ok = results.filter((r) => r.status === "fulfilled").length;
      assert.equal(ok, 3, "the pair's session plus 3");
      for (const r of results) {
        if (r.status === "rejected") {
          assert.ok(
            r.reason instanceof RTTHandshakeError && r.reason.code === "TOO_MANY_HANDSHAKES",
            String(r.reason),
          );
        }
      }
      assert.ok(peak <= 4, `peak ${peak}`);
    } finally {
      unwatch();
      await Promise.all(clients.map((c) => c.shutdown({ deadlineMs: 50 })));
    }
  });

  t(
    "shutting a node down during a blocked send and a pending receive gives typed errors",
    async () => {
      const s = await endpoint(backend, idA);
      const c = await endpoint(backend, idB, {
        backpressurePolicy: "block",
        maxQueue: 1,
        blockTimeoutMs: 60_000,
      });
      const link = await backend.expose(s);
      try {
        const [outbound, inbound] = await Promise.all([
          c.connect({ hostname: link.hostname, port: link.port, fingerprint: idA.fingerprint }),
          s.accept(),
        ]);
        const tx = await outbound.openChannel("knowledge");
        const rx = await outbound.openChannel("state");
        void inbound;
        // Nobody reads "knowledge" on the server: the unopened window fills,
        // then the one-slot queue, then a send blocks.
        const sends: Promise<void>[] = [];
        for (let i = 0; i < 40; i++) sends.push(tx.send(msg(i, 8192)));
        const receive = rx.receive();
        await c.shutdown({ deadlineMs: 0 });
        const outcomes = await Promise.allSettled([...sends, receive]);
        for (const o of outcomes) {
          if (o.status === "rejected") {
            assert.ok(
              o.reason instanceof RTTDisconnectedError || o.reason instanceof RTTTransportError,
              String(o.reason),
            );
          }
        }
        assert.ok(outcomes.some((o) => o.status === "rejected"), "the blocked send failed typed");
        await assert.rejects(() => tx.send(msg(99)), RTTDisconnectedError);
      } finally {
        await c.shutdown();
        await s.shutdown({ deadlineMs: 50 });
        await link.close();
      }
    },
  );

  t("close reasons: manual here, peer_closed there; what was queued arrives first", async () => {
    await using p = await makePair(backend);
    const tx = await p.outbound.openChannel("state");
    const rx = await p.inbound.openChannel("state");
    const reasons: string[] = [];
    p.outbound.onSessionClose((e) => reasons.push(`out:${e.reason}`));
    const peerClosed = new Promise<string | undefined>((r) =>
      p.inbound.onSessionClose((e) => r(e.reason))
    );
    await tx.send(msg(7));
    await p.outbound.close();
    assert.equal(p.outbound.state, "closed");
    assert.deepEqual(reasons, ["out:manual"]);
    await assert.rejects(() => tx.send(msg(8)), RTTDisconnectedError);
    assert.equal(await within(5000, "peer close", peerClosed), "peer_closed");
    assert.equal(num(await rx.receive()), 7);
    assert.equal(await rx.receive(), null);
  });

  t("shutdown closes sessions with reason shutdown and is safe twice", async () => {
    const p = await makePair(backend);
    const reason = new Promise<string | undefined>((r) =>
      p.outbound.onSessionClose((e) => r(e.reason))
    );
    await p.client.shutdown();
    await p.client.shutdown();
    assert.equal(await reason, "shutdown");
    await assert.rejects(() => p.client.accept(), RTTDisconnectedError);
    await p.server.shutdown();
    await p.link.close();
  });

  t("resumption through cuts delivers every message exactly once, in order", async () => {
    await using p = await makePair(backend, {}, {
      reconnectInitialDelayMs: 5,
      reconnectMaxDelayMs: 20,
    });
    const tx = await p.outbound.openChannel("state");
    const rx = await p.inbound.openChannel("state");
    const opens: boolean[] = [];
    p.outbound.onSessionOpen((e) => opens.push(e.resumed === true));
    const N = 600;
    const received = (async () => await receiveAll(rx, N))();
    for (let i = 0; i < N; i++) {
      await tx.send(msg(i, 200));
      if (i % 200 === 100) {
        p.link.cut(p.client);
        await waitFor("resumed", () => opens.filter((r) => r).length >= Math.ceil(i / 200));
      }
    }
    assert.deepEqual(await received, range(0, N));
    await within(5000, "flush", tx.flush());
    assert.ok(p.outbound.stats().reconnects >= 3, `reconnects ${p.outbound.stats().reconnects}`);
    assert.equal(p.inbound.stats().messagesIn, N);
    const lost = p.clientEvents.filter((e) => e.type === "connection_lost").length;
    assert.ok(lost >= 3, `connection_lost ${lost}`);
  });

  t(
    "a replayed frame is dropped, counted and reported as RTTReplayError; the session goes on",
    async () => {
      await using p = await makePair(backend, { testHooks: true }, { testHooks: true });
      const tx = await p.outbound.openChannel("state");
      const rx = await p.inbound.openChannel("state");
      await tx.send(msg(1));
      await within(3000, "flush", tx.flush());
      assert.equal(num(await within(3000, "receive", rx.receive())), 1);
      (p.outbound as RttSession).testInject({ replay_last: "state" });
      await waitFor("a replay event", () => p.serverEvents.some((e) => e.type === "replay"));
      const replay = p.serverEvents.find((e) => e.type === "replay");
      assert.ok(replay !== undefined && replay.type === "replay");
      assert.equal(replay.channel, "state");
      assert.equal(replay.error.code, "REPLAY");
      assert.equal(replay.error.name, "RTTReplayError");
      assert.match(replay.error.message, new RegExp(idB.fingerprint));
      assert.equal(p.inbound.stats().replays, 1);
      assert.equal(p.server.metrics().replays, 1);
      assert.equal(p.inbound.state, "open");
      await tx.send(msg(2));
      assert.equal(num(await within(3000, "next", rx.receive())), 2, "no duplicate was delivered");
      assert.throws(
        () => (p.inbound as RttSession).testInject({ replay_last: "nothing-here" }),
        RangeError,
      );
    },
  );

  t(
    "replays are coalesced (one event per channel per interval) and a flood closes the session with replay_flood",
    async () => {
      await using p = await makePair(
        backend,
        { testHooks: true, replayFloodLimit: 20, replayReportIntervalMs: 3_600_000 },
        { testHooks: true },
      );
      const tx = await p.outbound.openChannel("state");
      const rx = await p.inbound.openChannel("state");
      await tx.send(msg(1));
      await within(3000, "flush", tx.flush());
      assert.equal(num(await within(3000, "receive", rx.receive())), 1);
      for (let i = 0; i < 20; i++) (p.outbound as RttSession).testInject({ replay_last: "state" });
      await waitFor("20 replays counted", () => p.inbound.stats().replays === 20);
      const events = () => p.serverEvents.filter((e) => e.type === "replay");
      assert.ok(events().length <= 1, `${events().length} replay events for 20 replays`);
      assert.equal(p.inbound.state, "open", "20 is within the limit");
      (p.outbound as RttSession).testInject({ replay_last: "state" });
      await waitFor(
        "the replay_flood close",
        () => p.serverEvents.some((e) => e.type === "session_close" && e.reason === "replay_flood"),
      );
      const total = events().reduce((n, e) => n + (e.type === "replay" ? e.count : 0), 0);
      assert.equal(total, 21, "every replay is reported, coalesced, before the close");
      assert.ok(events().length <= 2);
    },
  );

  t("rekey by bytes and by time: counted, reported, and delivery goes on", async () => {
    await using p = await makePair(backend, {}, { rekeyAfterBytes: 4096, rekeyAfterMs: 50 });
    const tx = await p.outbound.openChannel("knowledge");
    const rx = await p.inbound.openChannel("knowledge");
    for (let i = 0; i < 20; i++) await tx.send(msg(i, 1000));
    assert.deepEqual(await receiveAll(rx, 20), range(0, 20));
    await waitFor("a rekey event", () => p.clientEvents.some((e) => e.type === "rekey"));
    const byBytes = p.outbound.stats().rekeys;
    assert.ok(byBytes >= 1, `rekeys ${byBytes}`);
    // With no traffic, the time-based rekey still happens.
    await waitFor("a time-based rekey", () => p.outbound.stats().rekeys > byBytes);
    await tx.send(msg(99));
    assert.equal(num(await within(5000, "after rekeys", rx.receive())), 99);
  });

  t(
    "a silent link times out: heartbeat_timeout, then session_close without resumption",
    async () => {
      await using p = await makePair(
        backend,
        { resumeWindowMs: 0 },
        { resumeWindowMs: 0, heartbeatIntervalMs: 20, heartbeatTimeoutMs: 150 },
      );
      const seen: string[] = [];
      p.outbound.onHeartbeatTimeout(() => seen.push("heartbeat_timeout"));
      const closed = new Promise<void>((r) =>
        p.outbound.onSessionClose((e) => {
          seen.push(`session_close:${e.reason}`);
          r();
        })
      );
      p.link.stall(p.client);
      await within(5000, "close", closed);
      p.link.heal();
      assert.deepEqual(seen, ["heartbeat_timeout", "session_close:heartbeat_timeout"]);
    },
  );

  t(
    "setBudget: a paused reader stops the sender through credit, within the budget; lowering it loses nothing",
    async () => {
      await using p = await makePair(backend);
      const BUDGET = 256 * 1024;
      const SIZE = 16 * 1024;
      const N = 64; // 1 MiB: four budgets
      // Set as the session is accepted, before the peer declares a channel.
      p.inbound.setBudget({ receiveBytes: BUDGET });
      const tx = await p.outbound.openChannel("knowledge", { maxQueue: 8 });
      const rx = await p.inbound.openChannel("knowledge");
      const sends = range(0, N).map((i) => tx.send(msg(i, SIZE)));
      await waitFor(
        "the sender stopped by credit: its queue full, the budget used",
        // A channel gets most of the budget; a part is kept so that other
        // channels (and those still to come) are never starved of credit.
        () => tx.stats().blocked > 0 && p.inbound.stats().receiveBytesHeld >= BUDGET / 2,
      );
      const held = p.inbound.stats().receiveBytesHeld;
      assert.ok(held <= BUDGET + SIZE, `held ${held} within the budget plus one message`);
      assert.ok(p.inbound.stats().messagesIn <= BUDGET / SIZE + 1, "the rest waits at the sender");
      assert.ok(p.server.metrics().receiveBytesHeld <= BUDGET + SIZE);
      // Lowering it below what is held loses nothing: every message arrives, in order.
      p.inbound.setBudget({ receiveBytes: 2 * SIZE });
      assert.deepEqual(await receiveAll(rx, N), range(0, N));
      await within(5000, "every send", Promise.all(sends));
      assert.equal(p.inbound.state, "open");
    },
  );

  t(
    "setBudget: channels opened one after another under a budget each get credit and deliver",
    async () => {
      await using p = await makePair(backend);
      p.inbound.setBudget({ receiveBytes: 1024 * 1024 });
      // "control" first on its own, then "state": control stays idle with its credit.
      const rxControl = await p.inbound.openChannel("control");
      const rx = await p.inbound.openChannel("state");
      const control = await p.outbound.openChannel("control");
      const tx = await p.outbound.openChannel("state");
      const N = 16; // 1.6 MB over a 1 MiB budget
      const sends = range(0, N).map((i) => tx.send(msg(i, 100_000)));
      assert.deepEqual(await receiveAll(rx, N), range(0, N));
      await within(5000, "every send", Promise.all(sends));
      await control.send(msg(1));
      assert.equal(num(await within(5000, "control", rxControl.receive())), 1);
      assert.ok(p.inbound.stats().receiveBytesHeld <= 1024 * 1024);
    },
  );

  t(
    "setBudget: a budget of 64 KiB delivers on all three channels, the first declared idle",
    async () => {
      await using p = await makePair(backend);
      const BUDGET = 64 * 1024;
      const SIZE = 20_000;
      p.inbound.setBudget({ receiveBytes: BUDGET });
      // One after another: the first the peer declares could take it all.
      const control = await p.outbound.openChannel("control");
      const state = await p.outbound.openChannel("state");
      const knowledge = await p.outbound.openChannel("knowledge");
      const rxControl = await p.inbound.openChannel("control");
      const rxState = await p.inbound.openChannel("state");
      const rxKnowledge = await p.inbound.openChannel("knowledge");
      const N = 8;
      const sends = [state, knowledge].flatMap((tx) =>
        range(0, N).map((i) => tx.send(msg(i, SIZE)))
      );
      for (const rx of [rxState, rxKnowledge]) {
        assert.deepEqual(await receiveAll(rx, N), range(0, N));
      }
      await within(5000, "every send", Promise.all(sends));
      const last = range(0, N).map((i) => control.send(msg(i, SIZE)));
      assert.deepEqual(await receiveAll(rxControl, N), range(0, N));
      await within(5000, "every send on control", Promise.all(last));
      assert.ok(p.inbound.stats().receiveBytesHeld <= BUDGET + SIZE);
      assert.equal(p.inbound.state, "open");
    },
  );

  t(
    "setBudget: a message larger than the budget is refused: the session closes with message_too_large",
    async () => {
      await using p = await makePair(backend);
      p.inbound.setBudget({ receiveBytes: 64 * 1024 });
      const tx = await p.outbound.openChannel("knowledge");
      const rx = await p.inbound.openChannel("knowledge");
      await tx.send(msg(1, 60 * 1024));
      assert.equal(num(await within(5000, "a message within the budget", rx.receive())), 1);
      await tx.send(msg(2, 200 * 1024));
      await assert.rejects(() => within(5000, "flush", tx.flush()), RTTDisconnectedError);
      await waitFor("the receiver's close", () => p.inbound.state === "closed");
      assert.equal(p.inbound.closeReason, "message_too_large");
      await assert.rejects(() => rx.receive(), RTTDisconnectedError);
      await waitFor("the sender's close", () => p.outbound.state === "closed");
      const close = p.clientEvents.find((e) => e.type === "session_close");
      assert.ok(close !== undefined && close.type === "session_close");
      assert.equal(close.reason, "peer_closed");
      assert.match(close.message ?? "", /^MESSAGE_TOO_LARGE\n/);
      assert.ok(p.server.metrics().receiveBytesHeld <= 64 * 1024);
    },
  );

  t(
    "setBudget: a protected resumable session survives a flood of new sessions from other keys",
    async () => {
      await using p = await makePair(backend, { maxSessions: 2 }, {
        reconnectInitialDelayMs: 3000,
        reconnectMaxDelayMs: 3000,
      });
      const flood = await Promise.all(
        range(0, 4).map(async () => endpoint(backend, await Identity.generate())),
      );
      try {
        p.inbound.setBudget({ protected: true });
        p.link.cut(p.client);
        await waitFor("the session disconnected", () => p.inbound.state === "reconnecting");
        const results = await Promise.allSettled(
          flood.map((c) =>
            c.connect({
              hostname: p.link.hostname,
              port: p.link.port,
              fingerprint: idA.fingerprint,
            })
          ),
        );
        assert.equal(results.filter((r) => r.status === "fulfilled").length, 1, "one free slot");
        for (const r of results) {
          if (r.status === "rejected") {
            assert.ok(
              r.reason instanceof RTTHandshakeError && r.reason.code === "TOO_MANY_HANDSHAKES",
              String(r.reason),
            );
          }
        }
        assert.equal(p.inbound.state, "reconnecting", "not evicted");
        // The client comes back within its reconnect delay and resumes.
        await waitFor("the protected session resumed", () => p.inbound.state === "open");
        assert.ok(!p.serverEvents.some((e) => e.type === "session_close"));
      } finally {
        await Promise.all(flood.map((c) => c.shutdown({ deadlineMs: 50 })));
      }
    },
  );

  t("a throwing hook is contained; the other hooks and the session go on", async () => {
    const errors: unknown[] = [];
    await using p = await makePair(backend, {}, { onHookError: (e) => errors.push(e) });
    const seen: string[] = [];
    p.outbound.onSessionClose(() => {
      throw new Error("boom");
    });
    p.outbound.onSessionClose((e) => seen.push(e.reason ?? ""));
    await p.outbound.close();
    assert.deepEqual(seen, ["manual"]);
    assert.equal(errors.length, 1);
    assert.equal(p.outbound.state, "closed");
  });
}
