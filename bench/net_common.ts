import { quantile as sortedQuantile } from "../lib/observability/metrics.ts";
import process from "node:process";

/**
 * Shared pieces of the network benchmarks: the workload sizes (one table, so
 * RTT and the Deno TCP/TLS baselines always run the same work), the figures
 * each transport reports, and small statistics helpers.
 *
 * @module
 */

/** The workload every transport runs, identical across transports. */
export interface NetWorkload {
  /** Size of one bulk message in bytes. */
  bulkSize: number;
  /** Bulk messages per measured run. */
  bulkMessages: number;
  /** Size of one small message in bytes. */
  smallSize: number;
  /** Small messages per measured run. */
  smallMessages: number;
  /** Size of a request (and of its echoed response) in bytes. */
  rtSize: number;
  /** Unmeasured round trips before the latency sample. */
  rtWarmup: number;
  /** Measured round trips. */
  rtRounds: number;
  /** Unmeasured connection set-ups before the sample. */
  setupWarmup: number;
  /** Measured connection set-ups. */
  setups: number;
  /** Measured runs of each throughput figure; the best one is kept. */
  runs: number;
}

/**
 * The default workload: bounded so the whole `deno task bench` (three
 * transports plus the other sections) ends in well under 90 s on two cores.
 */
export const DEFAULT_WORKLOAD: Readonly<NetWorkload> = Object.freeze({
  bulkSize: 64 * 1024,
  bulkMessages: 4096, // 256 MiB per run
  smallSize: 256,
  smallMessages: 100_000,
  rtSize: 64,
  rtWarmup: 200,
  rtRounds: 5000,
  setupWarmup: 3,
  setups: 50,
  runs: 5,
});

/** The four figures measured for each transport. */
export interface NetFigures {
  /** Bulk throughput, MB/s (10^6 bytes per second). */
  bulkMBps: number;
  /** Small-message rate, messages per second. */
  smallMsgPerSec: number;
  /** Small messages each echoed back: messages per second (until the last echo arrived). */
  smallEchoMsgPerSec: number;
  /** Request/response latency, median, microseconds. */
  latencyP50Us: number;
  /** Request/response latency, 95th percentile, microseconds. */
  latencyP95Us: number;
  /** Connection set-up time (until usable), median, microseconds. */
  setupP50Us: number;
  /** Process CPU time (user + system, both ends) per small message, microseconds. */
  cpuUsPerSmallMsg: number;
  /** Process CPU time (user + system, both ends) per request/response round trip, microseconds. */
  cpuUsPerRoundTrip: number;
  /** Process CPU time (user + system, both ends) per MB (10^6 bytes) of bulk, microseconds. */
  cpuUsPerMB: number;
}

/**
 * This process's CPU time so far (user + system), in microseconds. Both ends
 * of every benchmark run in this process, so a difference covers both.
 *
 * @returns Microseconds of CPU time.
 */
export function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/**
 * The `q` quantile of `values` (nearest rank, the observability layer's
 * rule), for unsorted samples.
 *
 * @param values Samples; not modified.
 * @param q Quantile in [0, 1].
 * @returns The sample at that rank, or NaN for no samples.
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  return sortedQuantile([...values].sort((a, b) => a - b), q);
}

/**
 * Throughput in MB/s (10^6 bytes per second).
 *
 * @param bytes Bytes moved.
 * @param ms Elapsed milliseconds.
 * @returns MB/s.
 */
export function mbPerSec(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

/**
 * Fills a message with a recognisable pattern (never all zeros, so no layer
 * can profit from compressible data).
 *
 * @param size Length in bytes.
 * @param seed Varies the pattern.
 * @returns The bytes.
 */
export function payload(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Runs `fn` and rejects if it has not settled within `ms`, naming `what`.
 *
 * @param what What is being waited for, for the message.
 * @param ms Time limit.
 * @param fn The work.
 * @returns The work's result.
 * @throws {Error} On timeout.
 */
export async function withTimeout<T>(what: string, ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Benchmark step "${what}" took over ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
