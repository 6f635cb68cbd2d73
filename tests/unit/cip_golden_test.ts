import assert from "node:assert/strict";
import { Net } from "../fixtures/cip/harness.ts";

const GOLDEN = new URL("../fixtures/cip/handshake_transcript.json", import.meta.url);

/** One scripted conversation: handshake, intents (accepted, then deferred), a fact. */
async function script(): Promise<unknown> {
  const net = new Net();
  const alice = await net.add("alice");
  const bob = await net.add("bob");
  await net.handshake(alice, bob);
  net.now += 1_500;
  await net.send(alice, bob, {
    type: "INTENT",
    payload: { goal: "verify_knowledge", topic: "boiling points", priority: "high" },
  });
  net.now += 1_500;
  bob.load = { presence: "overloaded", lri: 92 };
  await net.send(alice, bob, {
    type: "INTENT",
    payload: { goal: "ask", topic: "melting points", priority: "low" },
  });
  net.now += 1_500;
  await net.send(alice, bob, {
    type: "FACT_PROPOSE",
    payload: {
      fact: {
        statement: "Water boils at 100 C",
        domain: "physics",
        confidence: 0.95,
        sources: ["CRC"],
        context: { subject: "water.boiling_point", value: 100 },
      },
      dmp_trace: {
        decision_id: "0b5a4f4e-2d7c-4b8e-9a41-6f0d8c1e2a3b",
        steps: ["looked it up"],
        evidence: ["CRC handbook"],
      },
    },
  });
  const log = (from: typeof alice, to: typeof bob) =>
    from.store.trustLog(to.fp).map((e) => [e.atMs, e.event, e.from, e.to, e.changed, e.evidence]);
  return { transcript: net.transcript, trust: { alice: log(alice, bob), bob: log(bob, alice) } };
}

Deno.test("CIP is deterministic: the same keys, nonces and clock give byte-identical envelopes and the same transitions", async () => {
  const first = await script();
  const second = await script();
  assert.deepEqual(second, first);
  if (Deno.env.get("WEB4_UPDATE_GOLDEN") === "1") {
    await Deno.writeTextFile(GOLDEN, JSON.stringify(first, null, 2) + "\n");
  }
  // The wire texts inside are compared byte for byte.
  const golden = JSON.parse(await Deno.readTextFile(GOLDEN));
  assert.deepEqual(first, golden, "the golden transcript (WEB4_UPDATE_GOLDEN=1 rewrites it)");
});
