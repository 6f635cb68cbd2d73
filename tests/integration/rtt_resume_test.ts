/**
 * RTT session resumption through a fault-injecting proxy (the real native
 * transport over loopback): connections cut, reset and stalled mid-stream
 * while messages flow must not lose, duplicate or reorder anything; and a
 * stall longer than the heartbeat timeout gives the lifecycle events in the
 * order PROTOCOLS.md §1 fixes, with resumption enabled and disabled.
 *
 * Timing twins (tests/unit/virtual_time_rtt_test.ts, the same native core on
 * the `memory` backend with a ManualClock): the heartbeat tests here wait for
 * the events within wall-clock bounds; the twins assert that a silent link
 * dies at exactly heartbeatTimeoutMs + 1 ms after the last beat heard (not a
 * ms before), the resumed session_open at the heal's instant, reconnect
 * attempts at the seeded backoff's instants, the resume window's end, and,
 * for this file's absence window (no resumption after a final close), an
 * hour of virtual time with no event and no timer left.
 */

import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import {
  type RttChannel,
  RttNode,
  type RttNodeOptions,
  type RttSession,
} from "../../lib/rtt/mod.ts";
import { RTTDisconnectedError } from "../../lib/transport/mod.ts";
import { FaultProxy } from "../helpers/fault_proxy.ts";
import { waitFor, within } from "../helpers/rtt.ts";
import { quietWindow } from "../helpers/wait.ts";

const HOST = "127.0.0.1";
/** Small heartbeat settings so a timeout happens within a second. */
const FAST: Omit<RttNodeOptions, "identity"> = {
  heartbeatIntervalMs: 100,
  heartbeatTimeoutMs: 400,
  reconnectInitialDelayMs: 10,
  reconnectMaxDelayMs: 100,
};

interface Rig extends AsyncDisposable {
  server: RttNode;
  client: RttNode;
  proxy: FaultProxy;
  /** The server's own port (the proxy forwards to it). */
  port: number;
  clientSession: RttSession;
  serverSession: RttSession;
  /** Lifecycle events seen by each node's observer, in order. */
  clientEvents: { type: string; reason?: string; resumed?: boolean }[];
  serverEvents: { type: string; reason?: string; resumed?: boolean }[];
}

/** Two nodes, the client connected to the server through a fault proxy. */
async function rig(options: Omit<RttNodeOptions, "identity">): Promise<Rig> {
  const [idServer, idClient] = await Promise.all([Identity.generate(), Identity.generate()]);
  const server = await RttNode.create({ identity: idServer, ...options });
  const client = await RttNode.create({ identity: idClient, ...options });
  const clientEvents: Rig["clientEvents"] = [];
  const serverEvents: Rig["serverEvents"] = [];
  client.onEvent((e) => clientEvents.push({ ...e }));
  server.onEvent((e) => serverEvents.push({ ...e }));
  const { port } = await server.listen({ hostname: HOST, port: 0 });
  const proxy = await FaultProxy.start({ target: { hostname: HOST, port } });
  const [clientSession, serverSession] = await Promise.all([
    client.connect({ ...proxy.addr, fingerprint: idServer.fingerprint }),
    server.accept(),
  ]);
  return {
    server,
    client,
    proxy,
    port,
    clientSession,
    serverSession,
    clientEvents,
    serverEvents,
    async [Symbol.asyncDispose]() {
      await proxy.close();
      await Promise.allSettled([client.shutdown(), server.shutdown()]);
    },
  };
}

function seqMessage(seq: number, size: number): Uint8Array {
  const msg = new Uint8Array(size);
  const view = new DataView(msg.buffer);
  view.setUint32(0, seq);
  for (let i = 4; i < size; i++) msg[i] = (seq + i) & 0xff;
  return msg;
}

/** Receives `count` messages and checks each is the next sequence number, intact. */
async function expectInOrder(rx: RttChannel, count: number, size: number): Promise<void> {
  for (let want = 0; want < count; want++) {
    const msg = await rx.receive();
    assert.notEqual(msg, null, `channel ended after ${want} of ${count} messages`);
    const got = new DataView(msg!.buffer, msg!.byteOffset, msg!.byteLength).getUint32(0);
    assert.equal(got, want, `expected message ${want}, got ${got} (lost, duplicated or reordered)`);
    assert.deepEqual(msg, seqMessage(want, size), `message ${want} arrived damaged`);
  }
}

function types(events: { type: string }[]): string[] {
  return events.map((e) => e.type);
}

Deno.test({
  name: "RTT delivers 12,000 messages exactly once and in order through cuts, resets and stalls",
  async fn() {
    await using r = await rig({ ...FAST, resumeWindowMs: 20_000 });
    const SMALL = 12_000;
    const SMALL_SIZE = 200;
    const BIG = 300;
    const BIG_SIZE = 48 * 1024; // several frames each: cuts land mid-message
    const [smallTx, smallRx] = await Promise.all([
      r.clientSession.openChannel("state"),
      r.serverSession.openChannel("state"),
    ]);
    const [bigTx, bigRx] = await Promise.all([
      r.serverSession.openChannel("knowledge"),
      r.clientSession.openChannel("knowledge"),
    ]);

    // Faults are driven by the sender's progress and stop well before its end,
    // so every kill leaves thousands of messages that can only travel over a
    // new connection.
    let submitted = 0;
    let hits = 0;
    const faults = [
      () => r.proxy.cut(),
      () => r.proxy.reset(),
      () => r.proxy.stall(150), // shorter than the heartbeat timeout: no reconnect needed
      () => r.proxy.reset({ refuseMs: 100 }),
      () => r.proxy.cut({ refuseMs: 50 }),
      () => r.proxy.reset(),
    ];
    const faulting = (async () => {
      for (let i = 0; i < faults.length; i++) {
        const at = Math.floor(((i + 1) * SMALL) / (faults.length + 2));
        await waitFor(`message ${at} to be sent`, () => submitted >= at, 30_000);
        // Hit an established connection: the session has resumed after every
        // earlier kill (a kill during a resume handshake would merge two kills).
        await waitFor(
          `resumption after ${hits} kills`,
          () => r.clientSession.stats().reconnects >= hits && r.proxy.stats.active > 0,
          10_000,
        );
        const killed = faults[i]!();
        if (typeof killed === "number" && killed > 0) hits++;
      }
    })();

    const sendAll = async (tx: RttChannel, count: number, size: number, track: boolean) => {
      for (let i = 0; i < count; i++) {
        await tx.send(seqMessage(i, size));
        if (track) submitted++;
      }
      await within(30_000, `flush of ${count} messages`, tx.flush());
    };
    const receiveSmall = (async () => {
      for (let want = 0; want < SMALL; want++) {
        const msg = await smallRx.receive();
        assert.notEqual(msg, null, `state channel ended after ${want} messages`);
        const got = new DataView(msg!.buffer, msg!.byteOffset, msg!.byteLength).getUint32(0);
        assert.equal(got, want, `state: expected message ${want}, got ${got}`);
        assert.deepEqual(msg, seqMessage(want, SMALL_SIZE), `state message ${want} damaged`);
      }
    })();
    await Promise.all([
      sendAll(smallTx, SMALL, SMALL_SIZE, true),
      sendAll(bigTx, BIG, BIG_SIZE, false),
      receiveSmall,
      expectInOrder(bigRx, BIG, BIG_SIZE),
      faulting,
    ]);

    assert.ok(hits >= 4, `only ${hits} faults hit a live connection`);
    assert.ok(
      r.proxy.stats.accepted >= hits + 1,
      `proxy saw ${r.proxy.stats.accepted} connections for ${hits} kills`,
    );
    const reconnects = r.clientSession.stats().reconnects;
    assert.ok(reconnects >= hits, `${reconnects} reconnects counted for ${hits} kills`);
    const resumedOpens = r.clientEvents.filter((e) => e.type === "session_open" && e.resumed);
    assert.ok(resumedOpens.length >= hits, `${resumedOpens.length} resumed opens`);
    assert.ok(!types(r.clientEvents).includes("session_close"), "the session must not close");
    assert.ok(!types(r.serverEvents).includes("session_close"), "the session must not close");
    assert.equal(r.clientSession.id, r.serverSession.id);

    // A resumed connection continues the session: accept() yields nothing new.
    // accept() hands out sessions in order, so a fresh probe session, dialed
    // now, must be the next one it yields.
    const next = r.server.accept();
    const probeId = await Identity.generate();
    await using probe = await RttNode.create({ identity: probeId });
    await probe.connect({ hostname: HOST, port: r.port, fingerprint: r.server.fingerprint });
    const extra: RttSession = await within(3_000, "accept() to yield the probe's session", next);
    assert.equal(extra.peerFingerprint, probeId.fingerprint, "a resumed connection surfaced");
  },
});

Deno.test({
  name: "a bit flipped on the wire costs a reconnect, not the session: nothing lost or reordered",
  async fn() {
    await using r = await rig({ ...FAST, resumeWindowMs: 10_000 });
    const [tx, rx] = await Promise.all([
      r.clientSession.openChannel("state"),
      r.serverSession.openChannel("state"),
    ]);
    for (let i = 0; i < 50; i++) await tx.send(seqMessage(i, 64));
    await within(5_000, "flush before the attack", tx.flush());
    // An on-path attacker alters a record: the server's TLS refuses it. The
    // peer did nothing wrong, and a new connection is not affected, so the
    // session resumes instead of closing with a protocol error.
    r.proxy.corrupt("toTarget");
    for (let i = 50; i < 100; i++) await tx.send(seqMessage(i, 64));
    await waitFor(
      "the resumed session_open",
      () => r.clientEvents.some((e) => e.type === "session_open" && e.resumed === true),
      10_000,
    );
    await within(10_000, "100 messages", expectInOrder(rx, 100, 64));
    await within(5_000, "flush after the resumption", tx.flush());
    assert.equal(r.proxy.stats.corrupted, 1);
    assert.ok(r.clientSession.stats().reconnects >= 1);
    assert.ok(!types(r.clientEvents).includes("session_close"), types(r.clientEvents).join(", "));
    assert.ok(!types(r.serverEvents).includes("session_close"), types(r.serverEvents).join(", "));
  },
});

Deno.test({
  name: "RTT heartbeat timeout with resumption: heartbeat_timeout -> connection_lost -> " +
    "session_open {resumed: true}",
  async fn() {
    await using r = await rig({ ...FAST, resumeWindowMs: 10_000 });
    const [tx, rx] = await Promise.all([
      r.clientSession.openChannel("state"),
      r.serverSession.openChannel("state"),
    ]);
    for (let i = 0; i < 100; i++) await tx.send(seqMessage(i, 64));
    await within(5_000, "flush before the stall", tx.flush());

    r.proxy.stall(); // sockets stay open, nothing passes: only the heartbeat can notice
    for (let i = 100; i < 200; i++) {
      await within(5_000, `send ${i} during the stall`, tx.send(seqMessage(i, 64)));
    }
    await waitFor(
      "heartbeat_timeout and connection_lost",
      () => types(r.clientEvents).includes("connection_lost"),
      5_000,
    );
    r.proxy.resume();
    await waitFor(
      "the resumed session_open",
      () => r.clientEvents.some((e) => e.type === "session_open" && e.resumed === true),
      10_000,
    );
    // The 100 messages queued during the stall were re-sent on the new connection,
    // and flush() resolves once the peer acknowledged them.
    await within(10_000, "200 messages", expectInOrder(rx, 200, 64));
    await within(5_000, "flush after the resumption", tx.flush());

    const seq = types(r.clientEvents);
    const iTimeout = seq.indexOf("heartbeat_timeout");
    const iLost = seq.indexOf("connection_lost");
    const iOpen = r.clientEvents.findIndex((e) => e.type === "session_open" && e.resumed);
    assert.ok(iTimeout >= 0, `no heartbeat_timeout in ${seq.join(", ")}`);
    assert.ok(iTimeout < iLost && iLost < iOpen, `event order was ${seq.join(", ")}`);
    assert.ok(!seq.includes("session_close"), `the session closed: ${seq.join(", ")}`);
    assert.ok(r.clientSession.stats().reconnects >= 1);
    // The accepting side lost the connection too and continued the same session.
    await waitFor(
      "the server's resumed session_open",
      () => r.serverEvents.some((e) => e.type === "session_open" && e.resumed === true),
      5_000,
    );
    assert.ok(!types(r.serverEvents).includes("session_close"), types(r.serverEvents).join(", "));
  },
});

Deno.test({
  name: "RTT heartbeat timeout without resumption: heartbeat_timeout -> session_close " +
    "{reason: heartbeat_timeout}",
  async fn() {
    await using r = await rig({ ...FAST, resumeWindowMs: 0 });
    const tx = await r.clientSession.openChannel("state");
    await tx.send(seqMessage(0, 64));
    await within(5_000, "flush before the stall", tx.flush());
    const hookOrder: string[] = [];
    r.clientSession.onHeartbeatTimeout(() => hookOrder.push("heartbeat_timeout"));
    r.clientSession.onSessionClose((e) => hookOrder.push(`session_close:${e.reason}`));

    r.proxy.stall();
    await waitFor(
      "session_close",
      () => types(r.clientEvents).includes("session_close"),
      5_000,
    );
    r.proxy.resume();
    // Give a (wrong) resumption every chance to happen before checking: three
    // times FAST's longest reconnect delay (100 ms).
    await quietWindow(300, "a resumption after the final close");

    const seq = types(r.clientEvents).filter((t) => t !== "session_open");
    assert.deepEqual(seq.slice(seq.indexOf("heartbeat_timeout")), [
      "heartbeat_timeout",
      "session_close",
    ]);
    const close = r.clientEvents.find((e) => e.type === "session_close")!;
    assert.equal(close.reason, "heartbeat_timeout");
    assert.deepEqual(hookOrder, ["heartbeat_timeout", "session_close:heartbeat_timeout"]);
    const opensAfterClose = r.clientEvents.slice(
      r.clientEvents.findIndex((e) => e.type === "session_close"),
    ).filter((e) => e.type === "session_open");
    assert.deepEqual(opensAfterClose, [], "session_close must be final");
    await assert.rejects(() => tx.send(seqMessage(1, 64)), RTTDisconnectedError);
    // Without resumption the accepting side's session ends as well.
    await waitFor(
      "the server's session_close",
      () => types(r.serverEvents).includes("session_close"),
      5_000,
    );
    assert.equal(r.serverSession.state, "closed");
  },
});
