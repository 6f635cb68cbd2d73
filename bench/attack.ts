/**
 * The "under attack" section of `deno task bench` (issue 9): a legitimate
 * peer's request/response p50 against a victim node while each attack runs,
 * as a ratio to the same run without it (goal >= 0.5), and the process RSS
 * before and after each attack. Victim, attacker and legitimate peer share
 * this process, so the RSS figure bounds the victim's growth from above.
 *
 * Attacks: a replay flood at full speed (an attacker with test hooks
 * replays an acknowledged frame 100,000 times per session, reconnecting
 * after each `replay_flood` close), 1,000 bare TCP connects/s from
 * 127.0.0.2, 20 handshakes/s with fresh keys that keep their sessions, and
 * one peer withholding ACKs while it makes the victim echo 4 KiB messages.
 *
 * The same section then gets the upper layers' rows (issue 17,
 * `bench/attack_layers.ts`): mesh floods, the store fill and the fetch
 * abuse, each attacker in its own Deno process, probed by a trusted peer's
 * INTENT -> answer through the victim's router.
 *
 * @module
 */

import * as net from "node:net";
import { Identity } from "../lib/identity/mod.ts";
import { RttNode } from "../lib/rtt/mod.ts";
import type { BenchRow, BenchSection } from "./report.ts";
import { runLayersAttackBench } from "./attack_layers.ts";

const HOST = "127.0.0.1";
const ROUND_TRIPS = 400;
const MiB = 1024 * 1024;

interface Attack {
  name: string;
  /** Starts the attack; returns its stop function. */
  start(port: number, fingerprint: string): () => Promise<void>;
}

async function _echoVictim(): Promise<{ node: RttNode; port: number }> {
  const node = await RttNode.create({ identity: await Identity.generate() });
  const { port } = await node.listen({ hostname: HOST, port: 0 });
  void (async () => {
    for await (const s of node.sessions()) {
      void (async () => {
        try {
          const ch = await s.openChannel("control");
          for await (const m of ch) await ch.send(m);
        } catch {
          // Attackers' sessions end.
        }
      })();
    }
  })();
  return { node, port };
}

async function _p50(send: (m: Uint8Array) => Promise<void>, recv: () => Promise<unknown>) {
  const samples: number[] = [];
  const m = new Uint8Array(64);
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const t0 = performance.now();
    await send(m);
    await recv();
    samples.push((performance.now() - t0) * 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

const FROM_OTHER_ADDRESS =
  Deno.permissions.querySync({ name: "net", host: "127.0.0.2" }).state === "granted";

const _sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ATTACKS: Attack[] = [
  {
    name: "replay flood at full speed",
    start(port, fingerprint) {
      let on = true;
      const run = (async () => {
        const identity = await Identity.generate();
        while (on) {
          await using a = await RttNode.create({ identity, testHooks: true });
          try {
            const s = await a.connect({ hostname: HOST, port, fingerprint });
            const ch = await s.openChannel("state");
            await ch.send(new Uint8Array(8));
            await ch.flush();
            s.testInject({
              raw: { type: 5, flags: 1, channel: "state", seq: 1, payload: "x", repeat: 100_000 },
            });
            await s.closed;
          } catch {
            await _sleep(5);
          }
        }
      })();
      return async () => {
        on = false;
        await run;
      };
    },
  },
  {
    name: `1,000 bare connects/s from ${FROM_OTHER_ADDRESS ? "127.0.0.2" : "127.0.0.1"}`,
    start(port) {
      const sockets: net.Socket[] = [];
      const timer = setInterval(() => {
        for (let i = 0; i < 10; i++) {
          // Binding 127.0.0.2 needs --allow-net for it; otherwise the flood
          // comes from the legitimate peer's own address (a harder case).
          const s = net.connect({
            host: HOST,
            port,
            ...(FROM_OTHER_ADDRESS ? { localAddress: "127.0.0.2" } : {}),
          });
          s.on("error", () => {});
          sockets.push(s);
        }
      }, 10);
      return () => {
        clearInterval(timer);
        for (const s of sockets) s.destroy();
        return Promise.resolve();
      };
    },
  },
  {
    name: "20 handshakes/s with fresh keys",
    start(port, fingerprint) {
      const nodes: RttNode[] = [];
      const timer = setInterval(() => {
        void (async () => {
          const n = await RttNode.create({ identity: await Identity.generate() });
          nodes.push(n);
          await n.connect({ hostname: HOST, port, fingerprint }).catch(() => {});
        })();
      }, 50);
      return async () => {
        clearInterval(timer);
        await Promise.all(nodes.map((n) => n.shutdown({ deadlineMs: 0 })));
      };
    },
  },
  {
    name: "one peer withholding ACKs",
    start(port, fingerprint) {
      let on = true;
      const run = (async () => {
        await using a = await RttNode.create({
          identity: await Identity.generate(),
          testHooks: true,
        });
        const s = await a.connect({ hostname: HOST, port, fingerprint });
        const ch = await s.openChannel("control");
        s.testInject({ no_acks: true });
        while (on) {
          await ch.send(new Uint8Array(4096)).catch(() => {});
          await _sleep(0);
        }
      })();
      return async () => {
        on = false;
        await run.catch(() => {});
      };
    },
  },
];

/**
 * Runs every attack in turn: the transport's against an echoing RTT node,
 * then the upper layers' against a mesh node (`bench/attack_layers.ts`).
 *
 * @returns The section.
 */
export async function runAttackBench(): Promise<BenchSection> {
  const transport = await _runTransportAttacks();
  const layers = await runLayersAttackBench();
  return {
    section: "Under attack (loopback): the transport's rows probe a 64 B channel echo, " +
      "the upper layers' a trusted peer's INTENT -> answer",
    rows: [...transport, ...layers.rows],
    notes: layers.notes,
  };
}

/**
 * Runs the transport's attacks in turn against one echoing victim.
 *
 * @returns The rows.
 */
async function _runTransportAttacks(): Promise<BenchRow[]> {
  const { node, port } = await _echoVictim();
  const peer = await RttNode.create({ identity: await Identity.generate() });
  const rows: BenchRow[] = [];
  try {
    const s = await peer.connect({ hostname: HOST, port, fingerprint: node.fingerprint });
    const ch = await s.openChannel("control");
    const rt = () => _p50((m) => ch.send(m), () => ch.receive());
    await rt(); // warm-up
    for (const attack of ATTACKS) {
      const base = await rt();
      const rss0 = Deno.memoryUsage().rss;
      const stop = attack.start(port, node.fingerprint);
      await _sleep(300);
      const under = await rt();
      await stop();
      const rss1 = Deno.memoryUsage().rss;
      rows.push({
        name: `p50 ${attack.name}`,
        value: under,
        unit: "us",
        baseline: "no attack",
        baselineValue: base,
        ratio: base / under,
        goal: "ratio >= 0.5",
      });
      rows.push({
        name: `RSS after: ${attack.name}`,
        value: rss1 / MiB,
        unit: "MiB",
        baseline: "RSS before",
        baselineValue: rss0 / MiB,
        ratio: rss0 / rss1,
        goal: "reported",
      });
    }
  } finally {
    await peer.shutdown({ deadlineMs: 100 });
    await node.shutdown({ deadlineMs: 100 });
  }
  return rows;
}

if (import.meta.main) {
  const { formatSections } = await import("./report.ts");
  console.log(formatSections([await runAttackBench()]));
}
