/**
 * `deno task soak`: a stability run. Two RTT nodes talk through the
 * fault-injecting proxy (`tests/helpers/fault_proxy.ts`), which cuts,
 * resets and stalls the connection and flips a bit of a record on a fixed
 * cycle, while one side sends sequence-numbered messages at a steady rate.
 * A progress line reports messages delivered, lost and duplicated,
 * reconnects, RSS, open file descriptors and the end-to-end latency p50/p95
 * of the last interval.
 *
 * Exits 1 when any message was lost, duplicated or reordered, the session
 * closed, or the final `flush()` did not resolve; 2 on bad flags; 0 otherwise.
 *
 * Flags:
 * - `--duration` run time: `30s`, `10m`, `24h`, `500ms` (default `20s`)
 * - `--rate` messages per second (default `500`)
 * - `--size` message size in bytes, at least 16 (default `256`)
 * - `--fault-every` time between faults (default `2s`)
 * - `--report-every` time between progress lines (default `5s`)
 *
 * @example
 * ```sh
 * deno task soak --duration 10m --rate 2000
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Identity } from "../lib/identity/mod.ts";
import { RttNode } from "../lib/rtt/mod.ts";
import { FaultProxy } from "../tests/helpers/fault_proxy.ts";
import { quantile } from "./net_common.ts";

const HOST = "127.0.0.1";
const HEARTBEAT_INTERVAL_MS = 200;
const HEARTBEAT_TIMEOUT_MS = 1000;
const DRAIN_TIMEOUT_MS = 60_000;
const FLUSH_TIMEOUT_MS = 5_000;

/**
 * Parses a duration such as `500ms`, `30s`, `10m` or `24h`.
 *
 * @param text The duration.
 * @returns Milliseconds.
 * @throws {RangeError} When the text is not a positive duration.
 */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  const ms = m === null ? Number.NaN : Number(m[1]) * unit[m[2] as keyof typeof unit];
  if (!(ms > 0) || !Number.isFinite(ms)) {
    throw new RangeError(`Invalid duration "${text}" (expected e.g. 500ms, 30s, 10m, 24h)`);
  }
  return ms;
}

function _positiveInt(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    throw new RangeError(`Invalid --${name} "${text}" (expected an integer >= ${min})`);
  }
  return n;
}

/**
 * Open file descriptors of this process, counted by `ls /proc/<pid>/fd`
 * (Deno lets a program read `/proc/self` only with `--allow-all`; the task
 * grants `--allow-run=ls` instead). NaN where that is not available.
 */
async function _openFds(): Promise<number> {
  try {
    const out = await new Deno.Command("ls", {
      args: ["-1", `/proc/${Deno.pid}/fd`],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return Number.NaN;
    return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").length;
  } catch {
    return Number.NaN; // not Linux, or no --allow-run=ls
  }
}

function _sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What the receiver has seen. */
interface _Tally {
  delivered: number;
  duplicated: number;
  lost: number;
  reordered: number;
  next: number;
  latencies: number[];
}

interface _Settings {
  durationMs: number;
  rate: number;
  size: number;
  faultEveryMs: number;
  reportEveryMs: number;
}

function _settings(args: string[]): _Settings {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: "string", default: "20s" },
      rate: { type: "string", default: "500" },
      size: { type: "string", default: "256" },
      "fault-every": { type: "string", default: "2s" },
      "report-every": { type: "string", default: "5s" },
    },
  });
  return {
    durationMs: parseDuration(values.duration),
    rate: _positiveInt("rate", values.rate, 1),
    size: _positiveInt("size", values.size, 16),
    faultEveryMs: parseDuration(values["fault-every"]),
    reportEveryMs: parseDuration(values["report-every"]),
  };
}

async function main(): Promise<number> {
  let settings: _Settings;
  try {
    settings = _settings(Deno.args);
  } catch (err) {
    console.error(`soak: ${err instanceof Error ? err.message : String(err)}`);
    console.error(
      "usage: deno task soak [--duration 20s] [--rate 500] [--size 256] " +
        "[--fault-every 2s] [--report-every 5s]",
    );
    return 2;
  }
  const { durationMs, rate, size, faultEveryMs, reportEveryMs } = settings;
  console.log(
    `soak: ${durationMs / 1000} s at ${rate} msg/s of ${size} B, a fault every ` +
      `${faultEveryMs} ms, heartbeat ${HEARTBEAT_INTERVAL_MS}/${HEARTBEAT_TIMEOUT_MS} ms`,
  );

  const [idServer, idClient] = await Promise.all([Identity.generate(), Identity.generate()]);
  const nodeOptions = {
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    resumeWindowMs: 60_000,
    reconnectInitialDelayMs: 20,
    reconnectMaxDelayMs: 500,
  };
  const server = await RttNode.create({ identity: idServer, ...nodeOptions });
  const client = await RttNode.create({ identity: idClient, ...nodeOptions });
  const { port } = await server.listen({ hostname: HOST, port: 0 });
  const proxy = await FaultProxy.start({ target: { hostname: HOST, port } });
  const failures: string[] = [];
  let stop = false;

  try {
    const [cs, ss] = await Promise.all([
      client.connect({ ...proxy.addr, fingerprint: idServer.fingerprint }),
      server.accept(),
    ]);
    for (const s of [cs, ss]) {
      s.onSessionClose((e) => {
        if (!stop) failures.push(`session ${e.sessionId} closed: ${e.reason ?? "?"}`);
      });
    }
    const [tx, rx] = await Promise.all([cs.openChannel("soak"), ss.openChannel("soak")]);
    const tally: _Tally = {
      delivered: 0,
      duplicated: 0,
      lost: 0,
      reordered: 0,
      next: 0,
      latencies: [],
    };
    let sent = 0;

    const receiving = (async () => {
      while (true) {
        const msg = await rx.receive();
        if (msg === null) return;
        const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
        const seq = view.getFloat64(0);
        tally.latencies.push(performance.now() - view.getFloat64(8));
        if (seq === tally.next) {
          tally.delivered++;
          tally.next++;
        } else if (seq < tally.next) {
          tally.duplicated++;
        } else {
          tally.reordered++;
          tally.lost += seq - tally.next;
          tally.delivered++;
          tally.next = seq + 1;
        }
      }
    })().catch((err) => {
      if (!stop) failures.push(`receive failed: ${err instanceof Error ? err.message : err}`);
    });

    const started = performance.now();
    const sending = (async () => {
      const msg = new Uint8Array(size);
      const view = new DataView(msg.buffer);
      while (!stop && failures.length === 0) {
        const due = Math.min(
          Math.floor(((performance.now() - started) / 1000) * rate),
          sent + Math.max(1, rate), // never more than one second's worth at once
        );
        while (sent < due) {
          view.setFloat64(0, sent);
          view.setFloat64(8, performance.now());
          await tx.send(msg);
          sent++;
        }
        await _sleep(10);
      }
    })().catch((err) => {
      failures.push(`send failed: ${err instanceof Error ? err.message : err}`);
    });

    let corruptions = 0;
    const faults = [
      { name: "cut", run: () => proxy.cut() },
      { name: "stall 300ms", run: () => proxy.stall(300) },
      { name: "reset", run: () => proxy.reset() },
      {
        name: `stall ${HEARTBEAT_TIMEOUT_MS * 1.5}ms`,
        run: () => proxy.stall(HEARTBEAT_TIMEOUT_MS * 1.5),
      },
      { name: "cut + refuse 500ms", run: () => proxy.cut({ refuseMs: 500 }) },
      // A bit flipped on the path: the receiver's TLS refuses the record and
      // the session resumes on a new connection.
      {
        name: "corrupt",
        run: () => proxy.corrupt(corruptions++ % 2 === 0 ? "toTarget" : "fromTarget"),
      },
    ];
    let nextFault = started + faultEveryMs;
    let nextReport = started + reportEveryMs;
    let faultIndex = 0;
    const baselineFds = await _openFds();
    const line = async (label: string) => {
      const lat = tally.latencies;
      tally.latencies = [];
      const stats = cs.stats();
      // With `--v8-flags=--expose-gc`, collect first, so RSS shows what is really held.
      (globalThis as { gc?: () => void }).gc?.();
      const mem = Deno.memoryUsage();
      const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)}MiB`;
      const t = ((performance.now() - started) / 1000).toFixed(0).padStart(6);
      const fds = await _openFds();
      console.log(
        `${label} t=${t}s sent=${sent} delivered=${tally.delivered} lost=${tally.lost} ` +
          `duplicated=${tally.duplicated} reordered=${tally.reordered} ` +
          `reconnects=${stats.reconnects} faults=${faultIndex} rss=${mib(mem.rss)} ` +
          `(js heap ${mib(mem.heapUsed)}, external ${mib(mem.external)}) ` +
          `fds=${fds} (start ${baselineFds}) ` +
          `p50=${quantile(lat, 0.5).toFixed(2)}ms p95=${quantile(lat, 0.95).toFixed(2)}ms`,
      );
    };
    while (performance.now() - started < durationMs && failures.length === 0) {
      const now = performance.now();
      if (now >= nextFault) {
        faults[faultIndex % faults.length]!.run();
        faultIndex++;
        nextFault += faultEveryMs;
      }
      if (now >= nextReport) {
        await line("progress");
        nextReport += reportEveryMs;
      }
      await _sleep(Math.max(1, Math.min(nextFault, nextReport, started + durationMs) - now));
    }

    // Stop, let everything in flight arrive, and count.
    stop = true;
    proxy.resume();
    await sending;
    const drainDeadline = performance.now() + DRAIN_TIMEOUT_MS;
    while (tally.next < sent && performance.now() < drainDeadline) await _sleep(20);
    if (tally.next < sent) tally.lost += sent - tally.next;
    // Every message arrived, so they are all acknowledged or about to be.
    const flushed = await Promise.race([
      tx.flush().then(() => true),
      _sleep(FLUSH_TIMEOUT_MS).then(() => false),
    ]);
    if (!flushed) {
      failures.push(`channel.flush() did not resolve within ${FLUSH_TIMEOUT_MS} ms`);
    }
    await line("final   ");
    await Promise.all([cs.close(), ss.close()]);
    await receiving;
    if (tally.lost > 0) failures.push(`${tally.lost} messages lost`);
    if (tally.duplicated > 0) failures.push(`${tally.duplicated} messages duplicated`);
    if (tally.reordered > 0) failures.push(`${tally.reordered} messages out of order`);
  } catch (err) {
    failures.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  } finally {
    stop = true;
    await proxy.close();
    await Promise.allSettled([client.shutdown(), server.shutdown()]);
  }
  for (const f of failures) console.error(`SOAK FAILED: ${f}`);
  if (failures.length === 0) console.log("soak ok: every message arrived exactly once, in order");
  return failures.length === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
