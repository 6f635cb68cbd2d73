/**
 * Child process of the router's crash test: a `ProtocolRouter` on the store
 * at `Deno.args[0]` dispatches a trusted peer's envelopes (STATE_UPDATE,
 * FACT_PROPOSE, INTENT, which is answered) eight at a time, so write groups
 * and their batching delay are in play, until killed. What leaves the
 * router is printed the moment it leaves: `E <msg_id>` for each
 * `router.dispatched` event (from a telemetry sink), `R <msg_id>` when a
 * dispatch settled with its result and replies. The parent checks that
 * each printed msg_id had committed.
 *
 * @module
 */

import { CipRuntime } from "../../lib/cip/mod.ts";
import { createEnvelope, encodeEnvelope, type Envelope } from "../../lib/envelope/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { createTelemetry } from "../../lib/observability/mod.ts";
import { ProtocolRouter } from "../../lib/router/mod.ts";
import { openStore } from "../../lib/store/mod.ts";

const encoder = new TextEncoder();
const out = (line: string) => Deno.stdout.writeSync(encoder.encode(`${line}\n`));

const [me, peer] = await Promise.all([Identity.generate(), Identity.generate()]);
const store = openStore(Deno.args[0]!);
const telemetry = createTelemetry({
  node: me.fingerprint,
  sinks: [{
    write(event) {
      if (event.kind === "router.dispatched") out(`E ${event.data.msg_id}`);
    },
  }],
});
const router = new ProtocolRouter({
  identity: me,
  store,
  runtimes: [new CipRuntime()],
  rateLimit: false,
  trust: { anchors: [peer.fingerprint] },
  telemetry,
});
const receiver = { agent_id: me.agentId, fingerprint: me.fingerprint };

function envelope(i: number): Promise<Envelope> {
  if (i % 3 === 0) {
    return createEnvelope("cip", "STATE_UPDATE", {
      identity: peer,
      receiver,
      payload: { presence: "focused", lri: i % 50, ltppeerstate: "trusted" },
    });
  }
  if (i % 3 === 1) {
    return createEnvelope("cip", "INTENT", {
      identity: peer,
      receiver,
      payload: { goal: "ask", topic: `t-${i}`, priority: "normal" },
    });
  }
  return createEnvelope("cip", "FACT_PROPOSE", {
    identity: peer,
    receiver,
    payload: {
      fact: {
        statement: `measurement ${i}`,
        domain: "crash",
        confidence: 0.9,
        sources: ["sensor"],
        context: { subject: `s-${i}`, value: i },
      },
      dmp_trace: { decision_id: crypto.randomUUID(), steps: ["measured"], evidence: ["log"] },
    },
  });
}

for (let i = 0;; i += 8) {
  const batch = await Promise.all(Array.from({ length: 8 }, (_, k) => envelope(i + k)));
  await Promise.all(batch.map(async (env) => {
    const result = await router.dispatch(encodeEnvelope(env), { peer: peer.fingerprint });
    if (result.status !== "handled" && result.status !== "deferred") {
      throw new Error(`Dispatch was ${result.status}: ${result.reason}`);
    }
    out(`R ${env.msg_id} ${env.type}`);
  }));
}
