/**
 * `deno task sim`: one deterministic simulation of the whole stack
 * (`docs/simulation.md`). Prints progress, then exactly one summary line;
 * exits 0 only when no invariant broke.
 *
 *   deno task sim --seed 7 --nodes 5 --duration 24h [--faults reset,cut,stall,delay,partition,crash]
 *   deno task sim --replay 7 --until 123456   # full tracing up to that step
 *   deno task sim:seeds --count 200            # many seeds, one line each
 *
 * @module
 */
import { parseArgs } from "node:util";
import { FAULT_KINDS, type FaultKind, formatEvent, simulate, summaryLine } from "../lib/sim/mod.ts";

/** Runs the command; resolves whether every run kept every invariant. */
async function main(): Promise<boolean> {
  const { values: args } = parseArgs({
    args: Deno.args,
    options: Object.fromEntries([
      ...["seed", "nodes", "duration", "faults", "replay", "until", "count", "rate", "from"].map((
        k,
      ) => [k, { type: "string" as const }]),
      ...["seeds", "quiet"].map((k) => [k, { type: "boolean" as const }]),
    ]),
  }) as { values: Record<string, string | undefined> & { seeds?: boolean; quiet?: boolean } };

  /** `24h`, `90m`, `30s`, `1500ms` or a number of ms. */
  function duration(text: string): number {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
    if (m === null) throw new RangeError(`Bad duration ${text} (e.g. 24h, 90m, 30s)`);
    const n = Number(m[1]);
    return Math.round(n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "ms"] ?? 1));
  }

  const replay = args.replay === undefined ? undefined : Number(args.replay);
  const nodes = Number(args.nodes ?? 5);
  const durationMs = duration(args.duration ?? (args.seeds ? "5m" : "10m"));
  const rate = args.rate === undefined ? undefined : Number(args.rate);
  const kinds = args.faults === undefined
    ? undefined
    : args.faults === "none"
    ? []
    : args.faults.split(",").map((k) => {
      if (!FAULT_KINDS.includes(k as FaultKind)) throw new RangeError(`Unknown fault ${k}`);
      return k as FaultKind;
    });
  const dir = Deno.makeTempDirSync({ prefix: "web4-sim-" });
  const store = kinds !== undefined && !kinds.includes("crash")
    ? undefined
    : (i: number) => `${dir}/n${i}.db`;

  async function one(seed: number, trace: boolean, untilStep?: number): Promise<boolean> {
    for (const f of Deno.readDirSync(dir)) Deno.removeSync(`${dir}/${f.name}`);
    const r = await simulate({
      seed,
      nodes,
      durationMs,
      rate,
      faults: kinds,
      store,
      untilStep,
      trace: trace ? (e) => console.log(formatEvent(e)) : undefined,
      wallNow: () => performance.now(),
      progress: args.quiet || args.seeds ? undefined : (p) =>
        console.error(
          `sim: virtual=${
            (p.virtualMs / 3_600_000).toFixed(2)
          }h steps=${p.steps} events=${p.events} ` +
            `events/s=${Math.round(p.eventsPerSecond)} messages=${p.messages} rss=${
              Math.round(Deno.memoryUsage().rss / 2 ** 20)
            }MiB heap=${Math.round(Deno.memoryUsage().heapUsed / 2 ** 20)}MiB`,
        ),
    });
    for (const v of r.violations) {
      console.error(
        `VIOLATION seed=${seed} step=${v.step} t=${
          (v.t / 1000).toFixed(3)
        }s ${v.kind}: ${v.detail}`,
      );
    }
    if (r.violations.length > 0) {
      console.error(
        `the events that led there (replay: deno task sim --replay ${seed} --until ${
          r.violations[0]!.step
        }):`,
      );
      for (const e of r.lastEvents) console.error(`  ${formatEvent(e)}`);
    }
    if (!args.seeds) {
      console.error(
        `sim: steps=${r.steps} events=${r.events} told=${r.told} signed=${r.signed} lip_fetches=${r.lipFetches} lip_checks=${r.lipChecks} lip_accepted=${r.lipAccepted} person_actions=${r.personActions} crypto_ops=${r.cryptoOps} ` +
          `faults_by_kind=${JSON.stringify(r.faultsByKind)} rss=${
            Math.round(Deno.memoryUsage().rss / 2 ** 20)
          }MiB`,
      );
    }
    console.log(summaryLine(r));
    return r.violations.length === 0;
  }

  let ok = true;
  try {
    if (replay !== undefined) {
      ok = await one(replay, true, args.until === undefined ? undefined : Number(args.until));
    } else if (args.seeds) {
      const from = Number(args.from ?? 1);
      for (let s = from; s < from + Number(args.count ?? 200); s++) {
        ok = (await one(s, false)) && ok;
      }
    } else {
      ok = await one(Number(args.seed ?? Math.floor(performance.timeOrigin % 1e6)), false);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  return ok;
}

if (import.meta.main) Deno.exit((await main()) ? 0 : 1);
