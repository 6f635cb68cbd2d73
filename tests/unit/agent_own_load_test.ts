// Load from the agent's own pressure (issue 19, "Load"): by default the agent's lri
// comes from its inbound queue bytes and event-loop lag, never the host's load
// average, so a fresh agent on a busy machine still accepts work.
import assert from "node:assert/strict";
import { Agent, ownLoadSource, presenceOf, systemLoadSource } from "../../lib/agent/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";

const IDLE = { queueDepth: 0, queueCapacity: 256, openIntents: 0 };

Deno.test("auto load: an idle agent reports a low lri whatever the host's load average", async () => {
  const real = Deno.loadavg;
  // The host looks saturated: 64 runnable processes per CPU.
  (Deno as { loadavg: () => number[] }).loadavg = () => [64 * 64, 64 * 64, 64 * 64];
  try {
    assert.equal(systemLoadSource().read().cpu, 1, "the host's own reading is saturated");
    const agent = await Agent.create({
      identity: await Identity.generate({ agentId: "fresh" }),
      mission: "act for my person",
      store: ":memory:",
      transport: memory({ network: new MemoryNetwork() }),
      loadIntervalMs: 0,
    });
    try {
      await agent.refreshLoad();
      assert.ok(agent.load.lri < 10, `lri ${agent.load.lri}`);
      assert.equal(agent.load.presence, "diffuse");
    } finally {
      await agent.stop();
    }
  } finally {
    (Deno as { loadavg: () => number[] }).loadavg = real;
  }
});

Deno.test("auto load: inbound bytes and event-loop lag keep overload deferral meaningful", () => {
  const source = ownLoadSource({ lagBudgetMs: 200 });
  const at = (inboundBytes: number, lagMs: number) =>
    presenceOf(source.read({ inboundBytes, inboundCapacity: 1000, lagMs }), IDLE);
  assert.deepEqual(at(0, 0), { presence: "diffuse", lri: 0 });
  assert.equal(at(850, 0).presence, "overloaded");
  assert.equal(at(0, 180).presence, "overloaded");
  assert.deepEqual(at(0, 1e9), { presence: "overloaded", lri: 100 });
  assert.equal(at(500, 20).presence, "engaged");
  assert.throws(() => ownLoadSource({ lagBudgetMs: 0 }), RangeError);
});
