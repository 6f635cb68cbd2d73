/**
 * `simulate`: one thread, one clock, one seed. Builds the world, links it,
 * then runs the workload and the faults drawn from the seed, one timer per
 * step, settling to quiescence after each, checking the invariants as it
 * goes; stops at the first violation with the seed, the step and the last
 * events.
 *
 * @module
 */

import type { AgentEvents } from "../agent/mod.ts";
import { DEFAULT_MESH_LIMITS } from "../mesh/mod.ts";
import { randomInt, type RandomSource, seededRandom } from "../ports/mod.ts";
import { loadNativeLibraryAsync } from "../rtt/prebuilt.ts";
import { SimClock } from "./clock.ts";
import { Identity } from "../identity/mod.ts";
import { PersonDriver } from "./person.ts";
import { LipWorkload } from "./lip.ts";
import { type FaultKind, FaultPlan } from "./faults.ts";
import { Invariants, type Violation } from "./invariants.ts";
import { EventLog, type SimEvent } from "./log.ts";
import { CryptoSerialiser, Quiescence } from "./quiescence.ts";
import { APP_CHANNELS, encodeAppFrame, type StreamCounts, Streams } from "./streams.ts";
import { World } from "./world.ts";
import { Workload } from "./workload.ts";

/** Options of {@linkcode simulate}. */
export interface SimOptions {
  /** The seed: the same seed gives the same run. */
  seed: number;
  /** Nodes (2 to 32). @default {5} */
  nodes?: number | undefined;
  /** Virtual duration, ms. @default {60000} */
  durationMs?: number | undefined;
  /** Application messages per node per virtual second. @default {6} */
  rate?: number | undefined;
  /** The fault kinds drawn (empty: none). @default {every kind} */
  faults?: readonly FaultKind[] | undefined;
  /** Mean virtual ms between faults. @default {5000} */
  faultMeanMs?: number | undefined;
  /** Store path per node (crash restarts need files); default `:memory:` (then no crashes). */
  store?: ((i: number) => string) | undefined;
  /** Stop after this step (replay). */
  untilStep?: number | undefined;
  /** Sees every event (full tracing). */
  trace?: ((e: SimEvent) => void) | undefined;
  /** Progress, about every `progressMs` of wall time. */
  progress?: ((p: SimProgress) => void) | undefined;
  /** Wall ms between progress reports. @default {5000} */
  progressMs?: number | undefined;
  /** Virtual ms between LIP fetches (a page fetched, shared, checked). @default {15000} */
  lipMs?: number | undefined;
  /**
   * The source tiers the honest operators set.
   * @default {SIM_SOURCE_TIERS} (agency.example `medium`, rumor.example `blocked`)
   */
  lipTiers?: Readonly<Record<string, "low" | "medium" | "high" | "blocked">> | undefined;
  /** Test-only: the first application frame after each resumption is dropped (an injected bug). */
  bugDropAfterResume?: boolean | undefined;
  /** Wall clock for progress and the summary (the run itself never reads it). */
  wallNow?: (() => number) | undefined;
}

/** A progress report. */
export interface SimProgress {
  /** Virtual ms so far. */
  virtualMs: number;
  /** Steps so far. */
  steps: number;
  /** Events logged so far. */
  events: number;
  /** Events per wall second since the last report. */
  eventsPerSecond: number;
  /** Application messages sent so far. */
  messages: number;
}

/** The outcome of a run. */
export interface SimResult extends StreamCounts {
  /** The seed. */
  seed: number;
  /** Nodes. */
  nodes: number;
  /** Virtual ms run. */
  virtualMs: number;
  /** Wall ms taken. */
  wallMs: number;
  /** Scheduler steps. */
  steps: number;
  /** Events logged. */
  events: number;
  /** Faults injected (heals not counted). */
  faults: number;
  /** The person's actions (intents, consent changes). */
  personActions: number;
  /** Faults by kind. */
  faultsByKind: Record<string, number>;
  /** Crash restarts (each frees the crashed node's native handle, store and timers). */
  crashes: number;
  /** Crashed generations still holding their native node at the end (0 unless a leak). */
  unreleased: number;
  /** Signed protocol envelopes the workload started (intents, facts). */
  signed: number;
  /** LIP fetches (each shared with the fetcher's neighbours). */
  lipFetches: number;
  /** LIP checks (`verifyEvidence`: fetched again, judged, vouched for). */
  lipChecks: number;
  /** LIP claims honest nodes accepted, each checked against the acceptance rule. */
  lipAccepted: number;
  /** WebCrypto operations run. */
  cryptoOps: number;
  /** Invariants broken (the run stops at the first). */
  violations: Violation[];
  /** The events that led to the first violation. */
  lastEvents: SimEvent[];
  /** SHA-256 over the event log. */
  digest: string;
}

/**
 * Runs one simulation.
 *
 * @param options Seed, size, duration, workload and faults.
 * @returns What happened.
 *
 * @example
 * ```ts ignore
 * const r = await simulate({ seed: 1, nodes: 3, durationMs: 30_000 });
 * console.log(summaryLine(r));
 * ```
 */
export async function simulate(options: SimOptions): Promise<SimResult> {
  const seed = options.seed;
  const n = options.nodes ?? 5;
  if (!Number.isInteger(n) || n < 2 || n > 32) {
    throw new RangeError(`nodes must be 2..32, got ${n}`);
  }
  const durationMs = options.durationMs ?? 60_000;
  const wallNow = options.wallNow ?? (() => 0);
  const wallStart = wallNow();
  const rnd: RandomSource = seededRandom(seed * 1000 + 999);
  const clock = new SimClock();
  const log = new EventLog(256, options.trace);
  let step = 0;
  const at = () => clock.monotonic();
  const note = (kind: string, detail: string) => log.add(step, at(), kind, detail);
  const streams = new Streams(n);
  const inv = new Invariants(n, note, () => log.last(), () => step, at);
  // Pairwise skew well inside the +/-120 s window minus the largest delay (2 s).
  const offsets = Array.from({ length: n }, () => randomInt(rnd, 40_001) - 20_000);
  const liar = n >= 4 ? n - 1 : -1;
  const edges: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      // Up to 6 nodes every pair; beyond, a ring with chords to the second neighbour.
      if (n <= 6 || j === i + 1 || j === i + 2 || (i < 2 && j >= n - 2 + i)) edges.push([i, j]);
    }
  }
  // The native library is loaded (real file I/O) before the clock exists: nothing
  // outside the serialised crypto may complete on its own once the run began.
  await loadNativeLibraryAsync();
  using serial = CryptoSerialiser.install();
  using q = new Quiescence(serial);

  let start = 0;
  let lastWall = wallNow(), lastEvents = 0;
  const progressMs = options.progressMs ?? 5_000;
  // deno-lint-ignore prefer-const
  let world!: World;
  // deno-lint-ignore prefer-const
  let person: PersonDriver | undefined;
  const ada = await Identity.generate({ agentId: "ada", random: seededRandom(seed * 1000 + 777) });
  const hooks = {
    app(to: number, from: number, ch: number, seq: number, session: string) {
      note("deliver", `${from}>${to} ${APP_CHANNELS[ch]} #${seq}`);
      const v = streams.received(from, to, ch, seq, session);
      if (v !== undefined) inv.fail(v.kind, v.detail);
    },
    event<K extends keyof AgentEvents>(i: number, name: K, e: AgentEvents[K]) {
      if (name === "intentPropagated") {
        const x = e as AgentEvents["intentPropagated"];
        person?.propagated(x.hcpMsgId, x.topic, x.sent);
        return;
      }
      inv.agentEvent(world, i, name, e, streams);
    },
  };
  world = await drive(
    World.create({
      seed,
      nodes: n,
      clock,
      offsets,
      edges,
      liar,
      readings: Workload.readings,
      store: options.store ?? (() => ":memory:"),
      hooks,
      person: ada.fingerprint,
      bugDropAfterResume: options.bugDropAfterResume,
      lipTiers: options.lipTiers,
    }),
    60_000,
  );
  inv.setWorld(world);

  /** Runs timers until `p` settles (setup work that waits on virtual time). */
  async function drive<T>(p: Promise<T>, maxMs: number): Promise<T> {
    let done = false;
    p.then(() => done = true, () => done = true);
    await q.settle();
    const end = clock.monotonic() + maxMs;
    while (!done && clock.runNext(end)) {
      step++;
      await q.settle();
    }
    return await p;
  }

  // Link every edge, let the link state converge, meet the non-neighbours through the mesh.
  for (const [i, j] of edges) await drive(world.dial(i, j), 30_000);
  await runFor(5_000);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (world.linked(i, j)) continue;
      const a = world.nodes[i]!.node!, b = world.nodes[j]!.node!;
      await drive(a.meet(b.fingerprint, world.nodes[j]!.name).catch(() => {}), 30_000);
    }
  }
  note("setup", `nodes=${n} edges=${edges.length} liar=${liar}`);

  start = clock.monotonic();
  const end = start + durationMs;
  const faultKinds = options.faults ??
    (options.store === undefined
      ? ["reset", "cut", "stall", "delay", "partition"] as FaultKind[]
      : ["reset", "cut", "stall", "delay", "partition", "crash"] as FaultKind[]);
  const faults = new FaultPlan(world, clock, rnd, note, {
    kinds: faultKinds,
    meanMs: options.faultMeanMs ?? 5_000,
    onCrash: (i) => streams.sessionEnded(i, undefined, undefined),
  });
  const workload = new Workload(world, clock, rnd, note, {
    rate: options.rate ?? 6,
    send(from, to, ch, size) {
      const node = world.nodes[from]!.node;
      if (node === undefined) return;
      const session = world.session(from, to);
      const seq = streams.sent(from, to, ch, session ?? "none");
      note("send", `${from}>${to} ${APP_CHANNELS[ch]} #${seq}`);
      if (session === undefined) {
        streams.refused(from, to, ch, seq);
        return;
      }
      node.agent.sendFrame(world.fp(to), APP_CHANNELS[ch]!, encodeAppFrame(from, ch, seq, size))
        .catch((err: Error) => {
          note("refused", `${from}>${to} ${APP_CHANNELS[ch]} #${seq} ${err.name}`);
          streams.refused(from, to, ch, seq);
        });
    },
  });
  const lip = new LipWorkload(world, clock, rnd, note);
  person = new PersonDriver(world, ada, clock, seed, rnd, note, (k, d) => inv.fail(k, d));
  faults.start(durationMs);
  workload.start();
  lip.start(options.lipMs ?? 15_000);
  person.start();
  const bounds = clock.setInterval(() => inv.bounds(world, DEFAULT_MESH_LIMITS), 10_000);

  async function runFor(ms: number): Promise<void> {
    const until = clock.monotonic() + ms;
    await q.settle();
    while (inv.violations.length === 0) {
      if (options.untilStep !== undefined && step >= options.untilStep) return;
      if (!clock.runNext(until)) break;
      step++;
      await q.settle();
      if (options.progress !== undefined && (step & 1023) === 0) {
        const w = wallNow();
        if (w - lastWall >= progressMs) {
          options.progress({
            virtualMs: clock.monotonic() - start,
            steps: step,
            events: log.count,
            eventsPerSecond: ((log.count - lastEvents) * 1000) / Math.max(1, w - lastWall),
            messages: streams.counts.messages,
          });
          lastWall = w;
          lastEvents = log.count;
        }
      }
    }
    clock.jumpTo(until);
  }

  await runFor(end - clock.monotonic());
  // The end: faults healed, crashed nodes back, workload quiet; what is in flight lands or is told.
  workload.stop();
  lip.stop();
  person.stop();
  faults.stop();
  faults.dispose();
  clock.clear(bounds);
  if (inv.violations.length === 0 && options.untilStep === undefined) {
    await drive(faults.healAll(), 60_000);
    await runFor(60_000);
    for (const v of streams.finish()) inv.fail(v.kind, v.detail);
  }
  const virtualMs = Math.min(durationMs, Math.max(0, clock.monotonic() - start));
  note("end", `messages=${streams.counts.messages} delivered=${streams.counts.delivered}`);
  const digest = log.digest();
  const leading = inv.violations.length > 0 ? inv.snapshot ?? log.last() : [];
  await drive(person.close(), 60_000);
  await drive(world.stop(), 60_000);
  await q.settle();
  return {
    seed,
    nodes: n,
    virtualMs,
    wallMs: wallNow() - wallStart,
    steps: step,
    events: log.count,
    faults: faults.count,
    faultsByKind: faults.byKind,
    crashes: world.crashes,
    unreleased: world.unreleased().length,
    signed: workload.signed,
    lipFetches: lip.fetches,
    lipChecks: lip.checks,
    lipAccepted: inv.lipAccepted,
    personActions: person.actions,
    cryptoOps: serial.operations,
    violations: inv.violations,
    lastEvents: leading,
    digest,
    ...streams.counts,
  };
}

/**
 * The one line a run ends with.
 *
 * @param r The result.
 * @returns `sim: seed=... digest=<hex>`.
 *
 * @example
 * ```ts ignore
 * console.log(summaryLine(await simulate({ seed: 1 })));
 * ```
 */
export function summaryLine(r: SimResult): string {
  const hours = r.virtualMs / 3_600_000;
  const virtual = Number.isInteger(hours) && hours > 0
    ? `${hours}h`
    : `${Math.round(r.virtualMs / 1000)}s`;
  const perNode = r.messages / Math.max(1, r.nodes) / Math.max(1, r.virtualMs / 1000);
  return `sim: seed=${r.seed} nodes=${r.nodes} virtual=${virtual} wall=${
    (r.wallMs / 1000).toFixed(1)
  }s messages=${r.messages} delivered=${r.delivered} lost=${r.lost} duplicated=${r.duplicated} reordered=${r.reordered} violations=${r.violations.length} faults=${r.faults} msgs_per_node_s=${
    perNode.toFixed(2)
  } digest=${r.digest}`;
}
