/**
 * The upper layers' rows of the "under attack" section of `deno task bench`
 * (issue 17): each attacker runs in its own Deno process
 * (`bench/attack_layers_attacker.ts`) against a victim `MeshNode` in this
 * process that runs as `web4 serve` would (RTT on loopback, a SQLite store
 * in a file, a JSON Lines event log and the audit stream, the default
 * `HttpFetcher`, default budgets). The probe is a legitimate trusted peer's
 * CIP `INTENT` answered through the victim's router, 40 a second.
 *
 * For each attack (mesh floods: consensus copies, link adverts from
 * throw-away keys, relay frames to an unroutable node; the store fill:
 * three probing keys sending the largest FACT_PROPOSEs at 90 msg/s each;
 * the fetch abuse: a probing peer's LIP_FETCHes of loopback URLs, a trusted
 * peer's fetches of private addresses) the rows are: the probe's p50 under
 * attack against the same run's p50 without it (goal ratio >= 0.5); the
 * share of intents answered (goal >= 99%); this process's RSS growth, the
 * highest sample during the attack against the RSS before it (the legitimate
 * peer and the unroutable node share the process, so it bounds the
 * victim's growth from above; goal < 300 MiB); the growth of the victim's
 * files (database, WAL, event log, audit stream) against the bytes the
 * attacking keys may take by configuration (their store byte quotas, the
 * WAL bound, the strangers' share of the event log and the audit budget
 * of their level); the units the attacker sent. The section's notes give the answers the
 * attacker received (refusal codes), the victim's mesh drops by reason, its mesh state after
 * the attack and the requests the loopback admin page saw.
 *
 * @module
 */

import { FixedLoadSource } from "../lib/agent/mod.ts";
import { Identity } from "../lib/identity/mod.ts";
import { HttpFetcher } from "../lib/lip/mod.ts";
import { MeshNode } from "../lib/mesh/mod.ts";
import { AuditLog, DEFAULT_AUDIT_BUDGETS, JsonlFileSink } from "../lib/observability/mod.ts";
import { rtt } from "../lib/rtt/mod.ts";
import type { BenchRow } from "./report.ts";

const HOST = "127.0.0.1";
const MiB = 1024 * 1024;
/** How long each attack runs. */
const ATTACK_MS = 12_000;
/** The probe's pace: intents per second (the router's rate limit is 100 a second per peer). */
const PROBES_PER_SECOND = 40;
/** How long the unattacked probe runs. */
const BASELINE_MS = 4_000;
/** An intent unanswered this long after the window counts as unanswered. */
const LATE_MS = 5_000;
/** The event log's rotation size (the `web4 serve --events` default). */
const EVENT_LOG_BYTES = 10 * MiB;
/** The strangers' share of each event log file (`DEFAULT_LOG_LEVEL_SHARES`). */
const STRANGER_LOG_SHARE = 0.25;

interface AttackPlan {
  /** The attacker's `attack`. */
  attack: string;
  /** Its row name. */
  name: string;
  /** Attacking keys and the trust level each has at the victim (for the byte bound). */
  keys: number;
  level: "probing" | "trusted";
}

const PLANS: AttackPlan[] = [
  { attack: "copies", name: "mesh copies flood", keys: 1, level: "probing" },
  {
    attack: "adverts",
    name: "mesh link adverts, throw-away keys",
    keys: 1,
    level: "probing",
  },
  {
    attack: "relay",
    name: "mesh relay frames, unroutable node",
    keys: 1,
    level: "probing",
  },
  {
    attack: "store",
    name: "store fill, 3 probing keys",
    keys: 3,
    level: "probing",
  },
  {
    attack: "fetch-probing",
    name: "fetch abuse, probing, loopback",
    keys: 1,
    level: "probing",
  },
  {
    attack: "fetch-trusted",
    name: "fetch abuse, trusted, private",
    keys: 1,
    level: "trusted",
  },
];

const _sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The bytes of every file in `dir` (database, WAL, logs). */
function _dirBytes(dir: string): number {
  let n = 0;
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile) n += Deno.statSync(`${dir}/${e.name}`).size;
  }
  return n;
}

/** The victim's mesh drops so far, by reason. */
function _drops(node: MeshNode): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of Object.entries(node.agent.metrics.snapshot().counters)) {
    const m = /^mesh_dropped_total\{reason="([^"]+)"\}$/.exec(k);
    if (m !== null) out.set(m[1]!, v);
  }
  return out;
}

/** The probe's figures over one window. */
interface ProbeFigures {
  p50Ms: number;
  sent: number;
  answered: number;
}

/**
 * The legitimate peer's intents to the victim at a steady pace while
 * `during` runs, then until every intent was answered or `LATE_MS` passed.
 */
async function _probe(legit: MeshNode, victim: string, during: Promise<unknown>) {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const off = legit.agent.on("intentAnswered", (e) => {
    const t0 = sentAt.get(e.inReplyTo);
    if (e.peer !== victim || t0 === undefined) return;
    latencies.push(performance.now() - t0);
    sentAt.delete(e.inReplyTo);
  });
  let on = true;
  let sent = 0;
  let i = 0;
  const started = performance.now();
  void during.finally(() => on = false);
  try {
    while (on) {
      const t0 = performance.now();
      const [r] = await legit.agent.declareIntent(
        { goal: "ask", topic: `water quality probe ${i++}` },
        { to: [victim] },
      );
      sent++;
      if (r?.status === "sent" && r.msgId !== undefined) sentAt.set(r.msgId, t0);
      const due = started + (sent * 1000) / PROBES_PER_SECOND;
      if (due > performance.now()) await _sleep(due - performance.now());
    }
    const late = performance.now() + LATE_MS;
    while (sentAt.size > 0 && performance.now() < late) await _sleep(20);
  } finally {
    off();
  }
  latencies.sort((a, b) => a - b);
  const p50Ms = latencies[Math.floor(latencies.length / 2)] ?? Number.NaN;
  return { p50Ms, sent, answered: latencies.length } satisfies ProbeFigures;
}

/** One attacker process. */
class _Attacker {
  #child: Deno.ChildProcess;
  #reader: ReadableStreamDefaultReader<string>;
  #buffered = "";

  constructor() {
    const flags = [
      "--quiet",
      "--allow-ffi=./target",
      "--allow-read",
      "--allow-env=WEB4_RTT_LIB",
      "--allow-net=127.0.0.1",
    ];
    const self = Deno.permissions.querySync({ name: "run", command: Deno.execPath() });
    this.#child = new Deno.Command(self.state === "granted" ? Deno.execPath() : "deno", {
      args: [
        "run",
        ...flags,
        new URL("./attack_layers_attacker.ts", import.meta.url).pathname,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#reader = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  async start(config: Record<string, unknown>): Promise<void> {
    const w = this.#child.stdin.getWriter();
    await w.write(new TextEncoder().encode(`${JSON.stringify(config)}\n`));
    await w.close();
    const ready = await this.line();
    if (ready.ready !== true) {
      throw new Error(`The attacker did not start: ${JSON.stringify(ready)}`);
    }
  }

  async line(): Promise<Record<string, unknown>> {
    while (!this.#buffered.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("The attacker process ended early");
      this.#buffered += value;
    }
    const at = this.#buffered.indexOf("\n");
    const line = this.#buffered.slice(0, at);
    this.#buffered = this.#buffered.slice(at + 1);
    return JSON.parse(line);
  }

  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
    await this.#child.status;
  }
}

/** A loopback "admin" server the fetch abuse aims at; counts what it sees. */
function _adminServer() {
  let seen = 0;
  const s = Deno.serve({ hostname: HOST, port: 0, onListen() {} }, () => {
    seen++;
    return new Response("root password: hunter2");
  });
  return { s, seen: () => seen, origin: `http://${HOST}:${s.addr.port}` };
}

async function _node(
  identity: Identity,
  store: string,
  anchors: string[],
  extra: Partial<Parameters<typeof MeshNode.create>[0]> = {},
): Promise<MeshNode> {
  return await MeshNode.create({
    identity,
    mission: "verify water quality facts",
    store,
    trustAnchors: anchors,
    transport: rtt(),
    load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
    loadIntervalMs: 0,
    ...extra,
  });
}

/** The configured bytes `plan`'s keys may add to the victim's files. */
function _bound(victim: MeshNode, plan: AttackPlan): number {
  const quota = victim.agent.store.byteQuotas[plan.level];
  const audit = DEFAULT_AUDIT_BUDGETS[plan.level === "probing" ? "stranger" : "trusted"].bytes;
  // The audit file holds at most about twice its budgets plus 64 KiB (AuditLog).
  return plan.keys * quota + victim.agent.store.walBytes +
    STRANGER_LOG_SHARE * EVENT_LOG_BYTES + 2 * audit + 64 * 1024;
}

/**
 * Runs each attack in turn, its attacker in a child process, against one
 * victim node. Needs `--allow-run` for Deno.
 *
 * @returns The rows (the caller adds them to the "under attack" section).
 */
export async function runLayersAttackBench(): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const dir = await Deno.makeTempDir({ prefix: "web4-attack-" });
  const admin = _adminServer();
  const [victimId, legitId, farId, insiderId] = await Promise.all(
    ["victim", "legit", "far", "insider"].map((agentId) => Identity.generate({ agentId })),
  ) as [Identity, Identity, Identity, Identity];
  const events = await JsonlFileSink.open(`${dir}/events.jsonl`, { maxBytes: EVENT_LOG_BYTES });
  const audit = await AuditLog.open(`${dir}/victim.db.audit.jsonl`);
  const victim = await _node(victimId, `${dir}/victim.db`, [
    legitId.fingerprint,
    insiderId.fingerprint,
  ], {
    sinks: [events, audit],
    // What `web4 serve` builds: only the listed origins beside the public internet (none here).
    fetcher: new HttpFetcher({ allowOrigins: [] }),
  });
  const legit = await _node(legitId, ":memory:", [victimId.fingerprint, farId.fingerprint]);
  const far = await _node(farId, ":memory:", [legitId.fingerprint]);
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  try {
    const { port } = await victim.listen({ hostname: HOST, port: 0 });
    const { port: legitPort } = await legit.listen({ hostname: HOST, port: 0 });
    await legit.connect({ hostname: HOST, port, fingerprint: victim.fingerprint });
    await far.connect({ hostname: HOST, port: legitPort, fingerprint: legit.fingerprint });
    // The victim learns far through its trusted neighbour, then far goes away: known, unroutable.
    await victim.until(() => victim.route(far.fingerprint) !== undefined, 30_000);
    await far.stop();
    await victim.until(() => victim.route(far.fingerprint) === undefined, 30_000);
    const farKnown = victim.knownNodes().includes(far.fingerprint);
    const pem = await insiderId.toPkcs8Pem();

    await _probe(legit, victim.fingerprint, _sleep(1000)); // warm-up
    for (const plan of PLANS) {
      const base = await _probe(legit, victim.fingerprint, _sleep(BASELINE_MS));
      const { rss: rss0, heapUsed: heap0 } = Deno.memoryUsage();
      const files0 = _dirBytes(dir);
      const seen0 = admin.seen();
      const drops0 = _drops(victim);
      const attacker = new _Attacker();
      let result: Record<string, unknown> = {};
      let rssMax = rss0;
      const sampler = setInterval(() => {
        rssMax = Math.max(rssMax, Deno.memoryUsage().rss);
      }, 100);
      try {
        await attacker.start({
          attack: plan.attack,
          port,
          fingerprint: victim.fingerprint,
          ms: ATTACK_MS,
          far: far.fingerprint,
          admin: admin.origin,
          pem,
        });
        const done = attacker.line().then((r) => result = r);
        const under = await _probe(legit, victim.fingerprint, done);
        await done;
        await events.flush();
        rssMax = Math.max(rssMax, Deno.memoryUsage().rss);
        const grown = _dirBytes(dir) - files0;
        const bound = _bound(victim, plan);
        const codes = Object.entries((result.codes ?? {}) as Record<string, number>)
          .map(([k, v]) => `${k} ${v}`).join(", ") || "none";
        const drops0Of = (k: string) => drops0.get(k) ?? 0;
        const dropped = [..._drops(victim)].filter(([k, v]) => v > drops0Of(k))
          .map(([k, v]) => `${k} ${v - drops0Of(k)}`).join(", ") || "none";
        const sizes = victim.stateSizes();
        const name = plan.attack === "relay" && !farKnown
          ? `${plan.name} (far no longer known)`
          : plan.name;
        rows.push(
          {
            name: `p50 INTENT -> answer, ${name}`,
            value: under.p50Ms,
            unit: "ms",
            baseline: "no attack",
            baselineValue: base.p50Ms,
            ratio: base.p50Ms / under.p50Ms,
            goal: "ratio >= 0.5",
          },
          {
            name: `intents answered, ${name}`,
            value: (100 * under.answered) / under.sent,
            unit: "%",
            baseline: "intents sent",
            baselineValue: under.sent,
            ratio: under.answered / under.sent,
            goal: ">= 99%",
          },
          {
            name: `RSS growth (peak), ${name}`,
            value: (rssMax - rss0) / MiB,
            unit: "MiB",
            baseline: "RSS before",
            baselineValue: rss0 / MiB,
            ratio: rss0 / rssMax,
            goal: "< 300 MiB",
          },
          {
            name: `store growth (db, WAL, logs), ${name}`,
            value: grown / MiB,
            unit: "MiB",
            baseline: `byte bound, ${plan.keys} ${plan.level} key(s)`,
            baselineValue: bound / MiB,
            ratio: bound / Math.max(grown, 1),
            goal: "within the bound",
          },
          {
            name: `units sent by the attacker (answers: see the notes), ${name}`,
            value: Number(result.sent ?? 0),
            unit: "units",
            baseline: "seconds",
            baselineValue: ATTACK_MS / 1000,
            ratio: Number(result.sent ?? 0) / (ATTACK_MS / 1000),
            goal: "reported",
          },
        );
        const heap1 = Deno.memoryUsage().heapUsed;
        notes.push(
          `${name}: ${result.sent} units; answers the attacker got: ${codes}; ` +
            `JS heap used ${(heap0 / MiB).toFixed(0)} -> ${(heap1 / MiB).toFixed(0)} MiB; ` +
            `the victim's mesh drops: ${dropped}; its mesh state after: ${sizes.copies} copies maps, ` +
            `${sizes.linkNodes} link nodes, ${sizes.held} held frames (${sizes.heldBytes} B), ` +
            `${sizes.seenIds} seen ids; requests the loopback admin page saw: ${
              admin.seen() - seen0
            }`,
        );
      } finally {
        clearInterval(sampler);
        await attacker.close();
      }
    }
  } finally {
    await Promise.allSettled([legit.stop(), victim.stop(), far.stop()]);
    await events.close();
    await audit.close();
    await admin.s.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
  return { rows, notes };
}

if (import.meta.main) {
  const { formatSections } = await import("./report.ts");
  const { rows, notes } = await runLayersAttackBench();
  console.log(formatSections([{ section: "Under attack: the upper layers", rows, notes }]));
}
