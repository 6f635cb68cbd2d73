/**
 * The mesh section of `deno task bench`: agents on 127.0.0.1 over the real
 * RTT, all in this process (`MeshCluster`).
 *
 * - Consensus: a ring of 4 and a ring of 10 with two chords, every pair
 *   met; the time from `proposeFact` until every other node accepted its
 *   copy (two trusted confirmations each), median of several facts, against
 *   the 1 s goal for 10 nodes.
 * - Per-hop latency: a line a -- b -- c -- d; an intent from a reaches d
 *   over three hops (two relays); its delivery time divided by three, p50
 *   and p95, next to a direct one-hop intent (a to b) of the same run.
 *
 * @module
 */
import { checkingJudge, MeshCluster } from "../lib/mesh/mod.ts";
import { rtt } from "../lib/rtt/mod.ts";
import type { BenchRow, BenchSection } from "./report.ts";

const FACTS = 5;
const SENDS = 60;

function _pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function _ring(n: number): [string, string][] {
  const names = Array.from({ length: n }, (_, i) => `n${i}`);
  const edges: [string, string][] = names.map((x, i) => [x, names[(i + 1) % n]!]);
  if (n >= 10) edges.push(["n0", "n5"], ["n2", "n7"]);
  return edges;
}

/** Median time (ms) for a fact to be accepted by every other node. */
async function _consensusMs(n: number): Promise<number> {
  const names = Array.from({ length: n }, (_, i) => `n${i}`);
  // Every owner's own readings: reading k is k (the judge confirms what it can check).
  const judge = checkingJudge({
    reference: (_domain, subject) =>
      subject.startsWith("station7.reading") ? Number(subject.slice(16)) : undefined,
  });
  await using mesh = await MeshCluster.create({
    names,
    edges: _ring(n),
    transport: rtt(),
    mesh: { judge },
  });
  await mesh.linkAll();
  await mesh.meetAll();
  const times: number[] = [];
  for (let k = 0; k < FACTS; k++) {
    const proposer = mesh.get(names[k % n]!);
    const started = performance.now();
    const copies = await proposer.proposeFact({
      statement: `Reading ${k} at station 7`,
      domain: "water",
      confidence: 0.9,
      sources: ["https://example.org/station7"],
      context: { subject: `station7.reading${k}`, value: k },
    }, { steps: ["measured"], evidence: ["lab report"] });
    await Promise.all(
      names.filter((x) => mesh.fp(x) !== proposer.fingerprint).map((x) => {
        const node = mesh.get(x);
        return node.until(() =>
          node.agent.store.claim(copies[node.fingerprint]!)?.status === "accepted"
        );
      }),
    );
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return _pct(times, 0.5);
}

/** Delivery times (ms) of intents from a to `to`, sorted. */
async function _deliveries(mesh: MeshCluster, to: string, tag: string): Promise<number[]> {
  const a = mesh.get("a");
  const dest = mesh.get(to);
  const times: number[] = [];
  for (let i = 0; i < SENDS; i++) {
    const topic = `${tag} ${i}`;
    const arrived = new Promise<number>((resolve) => {
      const off = dest.agent.on("intent", (intent) => {
        if (intent.topic === topic) {
          off();
          resolve(performance.now());
        }
      });
    });
    const started = performance.now();
    await a.agent.declareIntent({ goal: "ask", topic }, { to: [dest.fingerprint] });
    times.push(await arrived - started);
  }
  return times.sort((x, y) => x - y);
}

/**
 * Runs the mesh benchmark.
 *
 * @returns The mesh section.
 */
export async function runMeshBench(): Promise<BenchSection> {
  const c4 = await _consensusMs(4);
  const c10 = await _consensusMs(10);
  await using line = await MeshCluster.create({
    names: ["a", "b", "c", "d"],
    edges: [["a", "b"], ["b", "c"], ["c", "d"]],
    transport: rtt(),
  });
  await line.linkAll();
  await line.meetAll();
  const direct = await _deliveries(line, "b", "direct");
  const three = (await _deliveries(line, "d", "relayed")).map((t) => t / 3);
  const goal = 1000;
  const rows: BenchRow[] = [
    {
      name: "fact to consensus, 4 nodes (median)",
      value: c4,
      unit: "ms",
      baseline: "goal for 10 nodes",
      baselineValue: goal,
      ratio: goal / c4,
    },
    {
      name: "fact to consensus, 10 nodes (median)",
      value: c10,
      unit: "ms",
      baseline: "goal for 10 nodes",
      baselineValue: goal,
      ratio: goal / c10,
      goal: "< 1000 ms (ratio > 1)",
    },
  ];
  for (const p of [0.5, 0.95] as const) {
    const label = p === 0.5 ? "p50" : "p95";
    const hop = _pct(three, p);
    const one = _pct(direct, p);
    rows.push({
      name: `per-hop latency ${label} (a->d over 3 hops, / 3)`,
      value: hop,
      unit: "ms",
      baseline: "direct one-hop intent",
      baselineValue: one,
      ratio: one / hop,
    });
  }
  return { section: "Mesh: consensus and per-hop latency (RTT on loopback, one process)", rows };
}

if (import.meta.main) {
  const s = await runMeshBench();
  console.log(JSON.stringify(s, null, 2));
}
