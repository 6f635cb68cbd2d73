/**
 * `deno task bench`: every benchmark in one run, printed as tables of
 * figures with their same-run baselines and ratios (`bench/report.ts`).
 *
 * Sections: Deno TLS against Deno TCP (the baselines themselves), RTT
 * against them (goals from the RTT issue), RTT under attack (issue 9), the FFI call cost, the
 * envelope figures, the router, and the mesh (consensus time on 4 and 10 nodes, per-hop latency
 * next to a direct send). A failing section is reported and makes the run exit
 * non-zero; the others still print.
 *
 * Sections (`--only a,b` runs some): `net` (Deno TCP/TLS and RTT, client and
 * server in this process), `two-process` (the same, the server in a separate
 * Deno process, as peers run), `attack`, `ffi`, `envelope`, `router`, `mesh`.
 *
 * Flags: `--json` prints the sections as JSON instead of tables; `--quick`
 * runs the network sections on a tenth of the work (less stable figures);
 * `--only net,router` runs only the named sections.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type BenchRow, type BenchSection, formatSections } from "./report.ts";
import { type BaselineFigures, runBaselines } from "./baseline_net.ts";
import { runEnvelopeBench } from "./envelope.ts";
import { runRouterBench } from "./router.ts";
import { runMeshBench } from "./mesh.ts";
import { runFfiBench } from "./ffi.ts";
import { runRttBench } from "./rtt.ts";
import { runAttackBench } from "./attack.ts";
import { DEFAULT_WORKLOAD, type NetFigures, type NetWorkload } from "./net_common.ts";
import { runTwoProcessBench } from "./two_process.ts";

/**
 * One row. `better` says which way is better: for "more" (rates) the ratio is
 * value / baseline, for "less" (times) baseline / value, so a ratio above 1
 * always means better than the baseline.
 */
function _row(
  better: "more" | "less",
  name: string,
  value: number,
  unit: string,
  baseline: string,
  baselineValue: number,
  goal?: string,
): BenchRow {
  const ratio = better === "more" ? value / baselineValue : baselineValue / value;
  const row: BenchRow = { name, value, unit, baseline, baselineValue, ratio };
  if (goal !== undefined) row.goal = goal;
  return row;
}

/** A "more is better" row (rates). */
const _more = (...args: Parameters<typeof _row> extends [unknown, ...infer R] ? R : never) =>
  _row("more", ...args);
/** A "less is better" row (times). */
const _less = (...args: Parameters<typeof _row> extends [unknown, ...infer R] ? R : never) =>
  _row("less", ...args);

function _baselineSection(b: BaselineFigures, title: string): BenchSection {
  const { tcp, tls } = b;
  const w = DEFAULT_WORKLOAD;
  return {
    section: title,
    rows: [
      _more(`bulk ${w.bulkSize / 1024} KiB`, tls.bulkMBps, "MB/s", "Deno TCP", tcp.bulkMBps),
      _more(`small ${w.smallSize} B`, tls.smallMsgPerSec, "msg/s", "Deno TCP", tcp.smallMsgPerSec),
      _more(
        `small ${w.smallSize} B, each echoed`,
        tls.smallEchoMsgPerSec,
        "msg/s",
        "Deno TCP",
        tcp.smallEchoMsgPerSec,
      ),
      _less(`latency p50 ${w.rtSize} B`, tls.latencyP50Us, "us", "Deno TCP", tcp.latencyP50Us),
      _less(`latency p95 ${w.rtSize} B`, tls.latencyP95Us, "us", "Deno TCP", tcp.latencyP95Us),
      _less("connection set-up p50", tls.setupP50Us, "us", "Deno TCP", tcp.setupP50Us),
      _less(
        `CPU per small message (${w.smallSize} B)`,
        tls.cpuUsPerSmallMsg,
        "us",
        "Deno TCP",
        tcp.cpuUsPerSmallMsg,
      ),
      _less("CPU per round trip", tls.cpuUsPerRoundTrip, "us", "Deno TCP", tcp.cpuUsPerRoundTrip),
      _less("CPU per MB of bulk", tls.cpuUsPerMB, "us", "Deno TCP", tcp.cpuUsPerMB),
    ],
  };
}

/**
 * The RTT rows: each figure against the baseline its goal names (issue 21's
 * table), in-process or between processes.
 *
 * @param title The section title.
 * @param rtt RTT's figures.
 * @param b The baselines of the same run, measured the same way.
 * @returns The section.
 */
function _rttSection(title: string, rtt: NetFigures, b: BaselineFigures): BenchSection {
  const { tcp, tls } = b;
  const w = DEFAULT_WORKLOAD;
  return {
    section: title,
    rows: [
      _more(
        `bulk ${w.bulkSize / 1024} KiB`,
        rtt.bulkMBps,
        "MB/s",
        "Deno TLS",
        tls.bulkMBps,
        "ratio >= 1.2",
      ),
      _more(
        `small ${w.smallSize} B, one way`,
        rtt.smallMsgPerSec,
        "msg/s",
        "Deno TLS",
        tls.smallMsgPerSec,
        "ratio >= 1.0",
      ),
      _more(
        `small ${w.smallSize} B, each echoed`,
        rtt.smallEchoMsgPerSec,
        "msg/s",
        "Deno TLS",
        tls.smallEchoMsgPerSec,
        "ratio >= 1.0",
      ),
      _less(
        `latency p50 ${w.rtSize} B`,
        rtt.latencyP50Us,
        "us",
        "Deno TCP",
        tcp.latencyP50Us,
        "p50 <= 1.3x: ratio >= 0.77",
      ),
      _less(`latency p50 ${w.rtSize} B`, rtt.latencyP50Us, "us", "Deno TLS", tls.latencyP50Us),
      _less(`latency p95 ${w.rtSize} B`, rtt.latencyP95Us, "us", "Deno TCP", tcp.latencyP95Us),
      _less(
        "connection set-up p50",
        rtt.setupP50Us,
        "us",
        "Deno TLS",
        tls.setupP50Us,
        "keep: ratio >= 0.77",
      ),
      _less(
        `CPU per small message (${w.smallSize} B)`,
        rtt.cpuUsPerSmallMsg,
        "us",
        "Deno TLS",
        tls.cpuUsPerSmallMsg,
        "reported",
      ),
      _less(
        "CPU per round trip",
        rtt.cpuUsPerRoundTrip,
        "us",
        "Deno TCP",
        tcp.cpuUsPerRoundTrip,
        "<= 1.3x: ratio >= 0.77",
      ),
      _less(
        "CPU per MB of bulk",
        rtt.cpuUsPerMB,
        "us",
        "Deno TLS",
        tls.cpuUsPerMB,
        "<= 1.0x: ratio >= 1.0",
      ),
    ],
  };
}

/** The sections `--only` can name, in the order they run. */
const SECTIONS = [
  "net",
  "two-process",
  "attack",
  "ffi",
  "envelope",
  "router",
  "mesh",
] as const;

/** The `--quick` workload: the same figures on a tenth of the work (less stable). */
const QUICK_WORKLOAD: Readonly<NetWorkload> = Object.freeze({
  ...DEFAULT_WORKLOAD,
  bulkMessages: 1024,
  smallMessages: 20_000,
  rtWarmup: 100,
  rtRounds: 1000,
  setups: 20,
  runs: 2,
});

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { json: { type: "boolean" }, quick: { type: "boolean" }, only: { type: "string" } },
  });
  const only = new Set(values.only?.split(",").map((x) => x.trim()) ?? SECTIONS);
  for (const name of only) {
    if (!(SECTIONS as readonly string[]).includes(name)) {
      console.error(
        `Unknown section ${JSON.stringify(name)}: expected some of ${SECTIONS.join(",")}`,
      );
      return 2;
    }
  }
  const workload = values.quick ? QUICK_WORKLOAD : DEFAULT_WORKLOAD;
  const started = performance.now();
  const sections: BenchSection[] = [];
  const failures: string[] = [];
  const run = async (name: string, fn: () => Promise<BenchSection[]>) => {
    if (!only.has(name)) return;
    try {
      sections.push(...await fn());
    } catch (err) {
      failures.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  await run("net", async () => {
    const baselines = await runBaselines(workload);
    const rtt = await runRttBench(workload);
    return [
      _baselineSection(baselines, "Baselines: Deno TLS vs Deno TCP (loopback, one process)"),
      _rttSection(
        "RTT vs Deno TCP/TLS (loopback, client and server in one process)",
        rtt,
        baselines,
      ),
    ];
  });
  await run("two-process", async () => {
    const { tcp, tls, rtt } = await runTwoProcessBench(workload);
    return [
      _baselineSection({ tcp, tls }, "Baselines between processes: Deno TLS vs Deno TCP"),
      _rttSection("RTT vs Deno TCP/TLS, client and server in separate processes", rtt, {
        tcp,
        tls,
      }),
    ];
  });
  await run("attack", async () => [await runAttackBench()]);
  await run("ffi", async () => [await runFfiBench()]);
  await run("envelope", async () => [await runEnvelopeBench()]);
  await run("router", async () => [await runRouterBench()]);
  await run("mesh", async () => [await runMeshBench()]);

  const seconds = (performance.now() - started) / 1000;
  if (values.json) {
    console.log(JSON.stringify({ sections, failures, seconds }, null, 2));
  } else {
    console.log(
      `web4-runtime bench: deno ${Deno.version.deno}, ${Deno.build.os}/${Deno.build.arch}, ` +
        `${navigator.hardwareConcurrency} CPUs, ${new Date().toISOString()}`,
    );
    console.log(formatSections(sections));
    for (const f of failures) console.error(`\nSECTION FAILED: ${f}`);
    console.log(`\n(${seconds.toFixed(1)} s)`);
  }
  return failures.length === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
