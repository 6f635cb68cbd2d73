/**
 * The RTT side of the network benchmark: two RTT nodes in this process, on
 * loopback, running the same workload as the Deno TCP/TLS baselines
 * (`bench/baseline_net.ts`): bulk throughput, small-message rate,
 * request/response latency and connection set-up.
 *
 * @module
 */

import { Identity } from "../lib/identity/mod.ts";
import { type RttChannel, RttNode, type RttSession } from "../lib/rtt/mod.ts";
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

/** Sends `count` copies of `msg` on `tx` while `rx` receives them; returns ms. */
async function _stream(
  tx: RttChannel,
  rx: RttChannel,
  msg: Uint8Array,
  count: number,
): Promise<number> {
  const t0 = performance.now();
  const sending = (async () => {
    for (let i = 0; i < count; i++) await tx.send(msg);
  })();
  const receiving = (async () => {
    for (let i = 0; i < count; i++) {
      const got = await rx.receive();
      if (got === null) throw new Error(`RTT channel ended after ${i} of ${count} messages`);
      if (got.length !== msg.length) {
        throw new Error(`RTT delivered ${got.length} bytes instead of ${msg.length}`);
      }
    }
  })();
  await Promise.all([sending, receiving]);
  return performance.now() - t0;
}

async function _pair(
  client: RttSession,
  server: RttSession,
  kind: string,
): Promise<[RttChannel, RttChannel]> {
  return await Promise.all([client.openChannel(kind), server.openChannel(kind)]);
}

/**
 * Measures RTT with the given workload.
 *
 * @param workload Sizes and counts (the same as the baselines').
 * @returns The four figures.
 * @throws {Error} When the native library is missing, a step fails, or a
 * step takes too long.
 */
export async function runRttBench(workload: NetWorkload): Promise<NetFigures> {
  const w = workload;
  const [idServer, idClient] = await Promise.all([Identity.generate(), Identity.generate()]);
  const server = await RttNode.create({ identity: idServer });
  const client = await RttNode.create({ identity: idClient });
  try {
    return await withTimeout("RTT figures", 4 * STEP_TIMEOUT_MS, async () => {
      const { port } = await server.listen({ hostname: HOST, port: 0 });
      const connectOnce = async (): Promise<[RttSession, RttSession, number]> => {
        const t0 = performance.now();
        let took = 0;
        const [c, s] = await Promise.all([
          client.connect({ hostname: HOST, port, fingerprint: idServer.fingerprint }).then(
            (session) => {
              took = performance.now() - t0;
              return session;
            },
          ),
          server.accept(),
        ]);
        return [c, s, took];
      };
      const [cs, ss] = await connectOnce();

      // Bulk throughput.
      const [bulkTx, bulkRx] = await _pair(cs, ss, "knowledge");
      const bulkMsg = payload(w.bulkSize, 1);
      await _stream(bulkTx, bulkRx, bulkMsg, Math.ceil(w.bulkMessages / 8));
      let bulkMs = Infinity;
      for (let r = 0; r < w.runs; r++) {
        bulkMs = Math.min(bulkMs, await _stream(bulkTx, bulkRx, bulkMsg, w.bulkMessages));
      }

      // Small-message rate.
      const [smallTx, smallRx] = await _pair(cs, ss, "state");
      const smallMsg = payload(w.smallSize, 2);
      await _stream(smallTx, smallRx, smallMsg, Math.ceil(w.smallMessages / 8));
      let smallMs = Infinity;
      const smallCpu0 = cpuMicros();
      for (let r = 0; r < w.runs; r++) {
        smallMs = Math.min(smallMs, await _stream(smallTx, smallRx, smallMsg, w.smallMessages));
      }
      const smallCpu = (cpuMicros() - smallCpu0) / (w.runs * w.smallMessages);

      // Request/response latency: the server side echoes every request.
      const [req, echo] = await _pair(cs, ss, "bench.rt");
      const rounds = w.rtWarmup + w.rtRounds;
      const echoing = (async () => {
        for (let i = 0; i < rounds; i++) {
          const msg = await echo.receive();
          if (msg === null) throw new Error(`RTT echo channel ended after ${i} requests`);
          await echo.send(msg);
        }
      })();
      const request = payload(w.rtSize, 3);
      const samples: number[] = [];
      const rtCpu0 = cpuMicros();
      for (let i = 0; i < rounds; i++) {
        const t0 = performance.now();
        await req.send(request);
        const reply = await req.receive();
        const rt = performance.now() - t0;
        if (reply === null || reply.length !== w.rtSize) {
          throw new Error("RTT echo returned a wrong reply");
        }
        if (i >= w.rtWarmup) samples.push(rt * 1000);
      }
      await echoing;
      const rtCpu = (cpuMicros() - rtCpu0) / rounds;
      await Promise.all([cs.close(), ss.close()]);

      // Connection set-up: until connect() resolved (server accepted us).
      const setups: number[] = [];
      for (let i = 0; i < w.setupWarmup + w.setups; i++) {
        const [c, s, took] = await connectOnce();
        if (i >= w.setupWarmup) setups.push(took * 1000);
        await Promise.all([c.close(), s.close()]);
      }

      return {
        bulkMBps: mbPerSec(w.bulkSize * w.bulkMessages, bulkMs),
        smallMsgPerSec: w.smallMessages / (smallMs / 1000),
        latencyP50Us: quantile(samples, 0.5),
        latencyP95Us: quantile(samples, 0.95),
        setupP50Us: quantile(setups, 0.5),
        cpuUsPerSmallMsg: smallCpu,
        cpuUsPerRoundTrip: rtCpu,
      };
    });
  } finally {
    await Promise.allSettled([client.shutdown(), server.shutdown()]);
  }
}
