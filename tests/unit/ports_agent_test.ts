/**
 * DESIGN.md decision 18 in practice: a whole agent pair on the `memory`
 * backend, given a virtual clock and a seeded random source, runs with no
 * real randomness drawn in JavaScript and no timer pending after stop, and
 * two runs with the same seed give the same msg_ids, event ids, session ids
 * and timestamps (the native core draws its session ids from the seed the
 * agent's random source gives it; TLS keeps its own randomness).
 */
import assert from "node:assert/strict";
import { Agent, type AgentOptions, FixedLoadSource } from "../../lib/agent/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { MemorySink } from "../../lib/observability/mod.ts";
import { ManualClock, seededRandom } from "../../lib/ports/mod.ts";
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";

/**
 * Lets `ms` of virtual time pass in steps of `stepMs`, with one real turn of
 * the event loop after each step (the I/O the due timers started runs).
 */
async function idle(clock: ManualClock, ms: number, stepMs = 100): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advance(stepMs);
    await new Promise((r) => setTimeout(r, 0));
  }
}

/** What one run shows: every msg_id sent or answered, the session ids, the agents' fingerprints. */
interface Run {
  msgIds: string[];
  sessions: string[];
  fingerprints: string[];
  pendingAfterStop: number;
  realDraws: number;
}

async function run(seed: number): Promise<Run> {
  const clock = new ManualClock({ start: Date.UTC(2026, 0, 1) });
  // One stream per node, as a simulator seeds them: WebCrypto completes on
  // other threads, so two agents' draws from one shared stream could
  // interleave differently from run to run.
  const randoms = [seededRandom(seed * 2), seededRandom(seed * 2 + 1)] as const;
  // Count every draw of real randomness in JavaScript during the run.
  let realDraws = 0;
  const { getRandomValues, randomUUID } = crypto;
  crypto.getRandomValues = ((a: Parameters<typeof getRandomValues>[0]) => {
    realDraws++;
    return getRandomValues.call(crypto, a);
  }) as typeof crypto.getRandomValues;
  crypto.randomUUID = (() => {
    realDraws++;
    return randomUUID.call(crypto);
  }) as typeof crypto.randomUUID;
  try {
    const network = new MemoryNetwork({ clock });
    const ia = await Identity.generate({ agentId: "alpha", random: randoms[0] });
    const ib = await Identity.generate({ agentId: "beta", random: randoms[1] });
    const sinks = [new MemorySink(), new MemorySink()] as const;
    const common = (i: 0 | 1): Omit<AgentOptions, "identity"> => ({
      mission: "verify water quality facts",
      store: ":memory:",
      transport: memory({ network }),
      load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
      loadIntervalMs: 0,
      sinks: [sinks[i]],
      clock,
      random: randoms[i],
    });
    const a = await Agent.create({ ...common(0), identity: ia, trustAnchors: [ib.fingerprint] });
    const b = await Agent.create({ ...common(1), identity: ib, trustAnchors: [ia.fingerprint] });
    await b.listen({ hostname: "beta", port: 4002 });
    // Time stands still while the pair talks: nothing below needs a timer to fire.
    await a.connect({ hostname: "beta", port: 4002, fingerprint: ib.fingerprint });
    await b.until(() => b.peer(ia.fingerprint)?.verified === true);

    const answers: string[] = [];
    a.on("intentAnswered", (e) => answers.push(e.inReplyTo));
    const sent = await a.declareIntent({ goal: "ask", topic: "water nitrate" }, {
      to: [ib.fingerprint],
    });
    await a.until(() => answers.length === 1);
    // A minute of virtual time with the pair idle: heartbeats run on the virtual clock.
    await idle(clock, 60_000);
    assert.equal(a.peer(ib.fingerprint)?.verified, true, "the session lived through the minute");
    await Promise.all([a.stop(), b.stop()]);
    return {
      msgIds: [...sent.map((s) => s.msgId ?? ""), ...answers],
      sessions: [...new Set([...sinks[0].events(), ...sinks[1].events()].map((e) => e.session))]
        .filter((id) => id !== undefined).sort(),
      fingerprints: [ia.fingerprint, ib.fingerprint],
      pendingAfterStop: clock.pending(),
      realDraws,
    };
  } finally {
    crypto.getRandomValues = getRandomValues;
    crypto.randomUUID = randomUUID;
  }
}

Deno.test("An agent pair on a virtual clock and a seeded random source: no real randomness, no timer left after stop, the same seed gives the same run", async () => {
  const first = await run(7);
  assert.equal(first.realDraws, 0, "no crypto.getRandomValues / randomUUID in JavaScript");
  assert.equal(first.pendingAfterStop, 0, "no virtual timer pending after stop");
  assert.equal(first.msgIds.length, 2);
  assert.match(first.msgIds[0]!, /^[0-9a-f-]{36}$/);
  assert.equal(first.msgIds[0], first.msgIds[1], "the answer refers to the intent sent");

  const again = await run(7);
  assert.deepEqual(again.msgIds, first.msgIds, "same seed, same msg_ids");
  assert.deepEqual(again.fingerprints, first.fingerprints, "same seed, same keys");
  assert.ok(first.sessions.length > 0);
  assert.deepEqual(again.sessions, first.sessions, "same seed, same native session ids");

  const other = await run(8);
  assert.notDeepEqual(other.msgIds, first.msgIds, "another seed, other msg_ids");
  assert.notDeepEqual(other.sessions, first.sessions, "another seed, other session ids");
});
