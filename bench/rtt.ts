/**
 * The RTT side of the network benchmark, on loopback, running the same
 * workload as the Deno TCP/TLS baselines (`bench/baseline_net.ts`): bulk
 * throughput, small messages one way and echoed, request/response latency,
 * connection set-up, and CPU per message, per round trip and per MB.
 *
 * The server side (`serveRtt`) answers on two channel kinds, as the
 * baselines' server answers by mode: `bench.sink` takes messages and
 * answers a 1-byte message with a 1-byte acknowledgement, `bench.echo`
 * sends every message back. The client (`measureRttClient`) runs in the
 * same process (`runRttBench`, both nodes here) or in another one (the
 * two-process mode, `bench/two_process.ts`).
 *
 * @module
 */

import { Identity } from "../lib/identity/mod.ts";
import { type RttChannel, RttNode } from "../lib/rtt/mod.ts";
import {
  cpuMicros,
  mbPerSec,
  type NetFigures,
  type NetWorkload,
  payload,
  quantile,
  withTimeout,
} from "./net_common.ts";

const HOST = "127.0.0.1";
const STEP_TIMEOUT_MS = 60_000;
/** The sink's end-of-run marker and acknowledgement. */
const MARK = new Uint8Array([1]);

/** A running RTT benchmark server. */
export interface RttServer {
  /** Its port on 127.0.0.1. */
  port: number;
  /** Its fingerprint, for the client to pin. */
  fingerprint: string;
  /** Shuts the node down. */
  close(): Promise<void>;
}

/**
 * Starts an RTT node that serves the benchmark's sink and echo channels on
 * every session it accepts.
 *
 * @returns The server.
 */
export async function serveRtt(): Promise<RttServer> {
  const identity = await Identity.generate();
  const node = await RttNode.create({ identity });
  const { port } = await node.listen({ hostname: HOST, port: 0 });
  const serving = (async () => {
    for await (const session of node.sessions()) {
      void (async () => {
        try {
          const [sink, echo] = await Promise.all([
            session.openChannel("bench.sink"),
            session.openChannel("bench.echo"),
          ]);
          void (async () => {
            for await (const m of echo) await echo.send(m);
          })().catch(() => {});
          for await (const m of sink) if (m.length === 1) await sink.send(MARK);
        } catch {
          // Set-up-only sessions end without using their channels.
        }
      })();
    }
  })();
  return {
    port,
    fingerprint: identity.fingerprint,
    async close() {
      await node.shutdown();
      await serving.catch(() => {});
    },
  };
}

/** Sends `count` copies of `msg` then the marker; returns ms until acknowledged. */
async function _sinkRun(ch: RttChannel, msg: Uint8Array, count: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await ch.send(msg);
  await ch.send(MARK);
  const ack = await ch.receive();
  if (ack === null || ack.length !== 1) throw new Error("RTT sink did not acknowledge");
  return performance.now() - t0;
}

/** Sends `count` copies of `msg` on the echo channel while reading the echoes; returns ms. */
async function _echoRun(ch: RttChannel, msg: Uint8Array, count: number): Promise<number> {
  const t0 = performance.now();
  const reading = (async () => {
    for (let i = 0; i < count; i++) {
      const got = await ch.receive();
      if (got === null || got.length !== msg.length) throw new Error("RTT echo went wrong");
    }
  })();
  for (let i = 0; i < count; i++) await ch.send(msg);
  await reading;
  return performance.now() - t0;
}

/**
 * Runs the workload from a client node against an RTT benchmark server (in
 * this process or another one).
 *
 * @param server The server's port and fingerprint.
 * @param w The workload.
 * @param remoteCpu The server process's CPU time in microseconds, when it
 *   runs in another process; omitted when both ends run here.
 * @returns The figures.
 */
export async function measureRttClient(
  server: { port: number; fingerprint: string },
  w: NetWorkload,
  remoteCpu?: () => Promise<number>,
): Promise<NetFigures> {
  const cpu = async () => cpuMicros() + (remoteCpu === undefined ? 0 : await remoteCpu());
  const client = await RttNode.create({ identity: await Identity.generate() });
  const target = { hostname: HOST, port: server.port, fingerprint: server.fingerprint };
  try {
    return await withTimeout("RTT figures", 4 * STEP_TIMEOUT_MS, async () => {
      const session = await client.connect(target);
      const [sink, echo] = await Promise.all([
        session.openChannel("bench.sink"),
        session.openChannel("bench.echo"),
      ]);

      // Bulk throughput.
      const bulkMsg = payload(w.bulkSize, 1);
      await _sinkRun(sink, bulkMsg, Math.ceil(w.bulkMessages / 8));
      let bulkMs = Infinity;
      const bulkCpu0 = await cpu();
      for (let r = 0; r < w.runs; r++) {
        bulkMs = Math.min(bulkMs, await _sinkRun(sink, bulkMsg, w.bulkMessages));
      }
      const bulkCpu = (await cpu() - bulkCpu0) / (w.runs * w.bulkMessages * w.bulkSize / 1e6);

      // Small messages, one way, then each echoed.
      const smallMsg = payload(w.smallSize, 2);
      await _sinkRun(sink, smallMsg, Math.ceil(w.smallMessages / 8));
      let smallMs = Infinity;
      const smallCpu0 = await cpu();
      for (let r = 0; r < w.runs; r++) {
        smallMs = Math.min(smallMs, await _sinkRun(sink, smallMsg, w.smallMessages));
      }
      const smallCpu = (await cpu() - smallCpu0) / (w.runs * w.smallMessages);
      await _echoRun(echo, smallMsg, Math.ceil(w.smallMessages / 8));
      let echoMs = Infinity;
      for (let r = 0; r < w.runs; r++) {
        echoMs = Math.min(echoMs, await _echoRun(echo, smallMsg, w.smallMessages));
      }

      // Request/response latency.
      const request = payload(w.rtSize, 3);
      const rounds = w.rtWarmup + w.rtRounds;
      const samples: number[] = [];
      const rtCpu0 = await cpu();
      for (let i = 0; i < rounds; i++) {
        const t0 = performance.now();
        await echo.send(request);
        const reply = await echo.receive();
        const rt = performance.now() - t0;
        if (reply === null || reply.length !== w.rtSize) {
          throw new Error("RTT echo returned a wrong reply");
        }
        if (i >= w.rtWarmup) samples.push(rt * 1000);
      }
      const rtCpu = (await cpu() - rtCpu0) / rounds;
      await session.close();

      // Connection set-up: until connect() resolved (the server accepted us).
      const setups: number[] = [];
      for (let i = 0; i < w.setupWarmup + w.setups; i++) {
        const t0 = performance.now();
        const s = await client.connect(target);
        const took = performance.now() - t0;
        if (i >= w.setupWarmup) setups.push(took * 1000);
        await s.close();
      }

      return {
        bulkMBps: mbPerSec(w.bulkSize * w.bulkMessages, bulkMs),
        smallMsgPerSec: w.smallMessages / (smallMs / 1000),
        smallEchoMsgPerSec: w.smallMessages / (echoMs / 1000),
        latencyP50Us: quantile(samples, 0.5),
        latencyP95Us: quantile(samples, 0.95),
        setupP50Us: quantile(setups, 0.5),
        cpuUsPerSmallMsg: smallCpu,
        cpuUsPerRoundTrip: rtCpu,
        cpuUsPerMB: bulkCpu,
      };
    });
  } finally {
    await client.shutdown().catch(() => {});
  }
}

/**
 * Measures RTT with both nodes in this process.
 *
 * @param workload Sizes and counts (the same as the baselines').
 * @returns The figures.
 * @throws {Error} When the native library is missing, a step fails, or a
 * step takes too long.
 */
export async function runRttBench(workload: NetWorkload): Promise<NetFigures> {
  const server = await serveRtt();
  try {
    return await measureRttClient(server, workload);
  } finally {
    await server.close();
  }
}
