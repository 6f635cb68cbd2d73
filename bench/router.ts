/**
 * Router benchmark: full dispatch (verify bound to the session peer, route,
 * the real CIP runtime, trust, and the SQLite write groups on a database
 * file in WAL mode with `synchronous=NORMAL`) for a realistic mix of CIP
 * types from four trusted peers (trust anchors, whose quotas never bind),
 * against `verifyEnvelope` alone on the same kind of envelopes in the same
 * run (issue goal: ratio >= 0.8). Only committed dispatches count: a
 * dispatch that is refused or dropped stops the benchmark. The baseline
 * verifies each prepared envelope afresh (no cache keyed by bytes exists,
 * on this path or the router's).
 *
 * Run alone: `deno run -A bench/router.ts`.
 *
 * @module
 */

import { CipRuntime } from "../lib/cip/mod.ts";
import { createEnvelope, encodeEnvelope, verifyEnvelope } from "../lib/envelope/mod.ts";
import { Identity } from "../lib/identity/mod.ts";
import { ProtocolRouter } from "../lib/router/mod.ts";
import { openStore } from "../lib/store/mod.ts";
import { pairedRates } from "./envelope.ts";
import { type BenchSection, formatSections } from "./report.ts";

/** Envelopes prepared for dispatch (each can be dispatched once). */
const _PREPARED = 30_000;
/** Messages in flight at once in the pipelined figure (several sessions at once). */
const _IN_FLIGHT = 8;

/**
 * Measures the router figures.
 *
 * @returns The "ProtocolRouter dispatch vs verifyEnvelope" section.
 */
export async function runRouterBench(): Promise<BenchSection> {
  const me = await Identity.generate({ agentId: "bench" });
  const peers = await Promise.all(
    ["p1", "p2", "p3", "p4"].map((agentId) => Identity.generate({ agentId })),
  );
  const dir = await Deno.makeTempDir({ prefix: "web4-router-bench-" });
  const store = openStore(`${dir}/agent.db`);
  const router = new ProtocolRouter({
    identity: me,
    store,
    runtimes: [new CipRuntime()],
    rateLimit: false,
    // Trusted peers: anchors, so no trust gate, quota or sanction is in the way.
    trust: { anchors: peers.map((p) => p.fingerprint) },
  });

  const receiver = { agent_id: me.agentId, fingerprint: me.fingerprint };
  // FACT_CONFIRMs name a proposal dispatched well before them (not in the same
  // batch of messages in flight, which may be handled in another order).
  // A peer's vote on its own claim never counts: confirmations come from another peer.
  const proposals: { at: number; msgId: string; by: string }[] = [];
  const confirmable = (i: number, by: string) =>
    proposals.findLast((p) => p.at <= i - 4 * _IN_FLIGHT && p.by !== by);
  const wires: { bytes: Uint8Array; peer: string }[] = [];
  for (let i = 0; i < _PREPARED; i++) {
    const from = peers[i % peers.length]!;
    const pick = i % 20;
    let env;
    if (pick < 10) {
      env = await createEnvelope("cip", "STATE_UPDATE", {
        identity: from,
        receiver,
        payload: { presence: "focused", lri: i % 90, ltppeerstate: "trusted" },
      });
    } else if (pick < 13) {
      env = await createEnvelope("cip", "INTENT", {
        identity: from,
        receiver,
        payload: { goal: "ask", topic: `topic-${i % 50}`, priority: "normal" },
      });
    } else if (pick < 17 || confirmable(i, from.fingerprint) === undefined) {
      env = await createEnvelope("cip", "FACT_PROPOSE", {
        identity: from,
        receiver,
        payload: {
          fact: {
            statement: `measurement ${i}`,
            domain: "bench",
            confidence: 0.9,
            sources: ["sensor"],
            context: { subject: `s-${i}`, value: i },
          },
          dmp_trace: { decision_id: crypto.randomUUID(), steps: ["measured"], evidence: ["log"] },
        },
      });
      proposals.push({ at: i, msgId: env.msg_id, by: from.fingerprint });
    } else {
      env = await createEnvelope("cip", "FACT_CONFIRM", {
        identity: from,
        receiver,
        payload: {
          fact_ref: confirmable(i, from.fingerprint)!.msgId,
          decision: "confirm",
          confidence: 0.8,
        },
      });
    }
    wires.push({ bytes: encodeEnvelope(env), peer: from.fingerprint });
  }

  let next = 0;
  const dispatchOne = async () => {
    const w = wires[next++];
    if (w === undefined) throw new Error(`Router bench ran out of its ${_PREPARED} envelopes`);
    const result = await router.dispatch(w.bytes, { peer: w.peer });
    // Settled means committed; a refusal or drop would measure less work.
    if (result.status !== "handled" && result.status !== "deferred") {
      throw new Error(
        `Router bench dispatch was ${result.status} (${result.code}): ${result.reason}`,
      );
    }
  };
  const verifyOne = (i: number) => {
    const w = wires[i % wires.length]!;
    return verifyEnvelope(w.bytes, { expectedSender: w.peer, expectedReceiver: me.fingerprint });
  };
  const [pipedDispatch, pipedVerify] = await pairedRates(dispatchOne, verifyOne, _IN_FLIGHT);
  const [dispatchRate, verifyRate] = await pairedRates(dispatchOne, verifyOne);
  store.close();
  await Deno.remove(dir, { recursive: true });
  return {
    section:
      "ProtocolRouter dispatch vs verifyEnvelope (CIP mix, SQLite file, WAL, synchronous=NORMAL)",
    rows: [{
      name: `dispatch, ${_IN_FLIGHT} in flight (several sessions)`,
      value: pipedDispatch,
      unit: "msg/s",
      baseline: "verifyEnvelope, same",
      baselineValue: pipedVerify,
      ratio: pipedDispatch / pipedVerify,
      goal: ">= 0.8",
    }, {
      name: "dispatch (verify+route+runtime+trust+commit)",
      value: dispatchRate,
      unit: "msg/s",
      baseline: "verifyEnvelope",
      baselineValue: verifyRate,
      ratio: dispatchRate / verifyRate,
      goal: ">= 0.8",
    }],
  };
}

if (import.meta.main) console.log(formatSections([await runRouterBench()]));
