/**
 * The mesh with real processes: the demo's scenario, each agent in its own
 * OS process over the real RTT on loopback, including a middle node whose
 * process is killed and restarted (partition and heal).
 */
import assert from "node:assert/strict";
import { runMeshDemo } from "../../cli/web4meshdemo.ts";
import { checkEvent } from "../../lib/observability/mod.ts";

Deno.test({
  name:
    "Mesh with four processes: relayed handshakes, multi-hop, consensus, the liar blacklisted everywhere; a middle node killed, what had no route held, then delivered after its restart",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lines: string[] = [];
    await runMeshDemo({ nodes: 4, inProcess: false, json: true }, (line) => lines.push(line));
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const events = parsed.filter((p) => typeof p.kind === "string");
    for (const e of events) assert.equal(checkEvent(e), null, String(e.kind));
    const nodesSeen = new Set(events.map((e) => e.node));
    assert.deepEqual([...nodesSeen].sort(), ["alpha", "beta", "delta", "gamma"]);
    const held = parsed.find((p) => p.demo === "held") as { held: number };
    assert.ok(held.held >= 1, "something was held while beta was down");
    const summary = parsed.find((p) => p.demo === "summary") as {
      trust: Record<string, Record<string, string>>;
    };
    for (const n of ["alpha", "beta", "gamma"]) {
      assert.equal(summary.trust[n]!.delta, "blacklisted");
    }
    assert.equal(summary.trust.alpha!.beta, "trusted");
    // beta's process really restarted: two agent.started events from it.
    assert.equal(events.filter((e) => e.node === "beta" && e.kind === "agent.started").length, 2);
    assert.ok(events.some((e) => e.kind === "mesh.held" && e.node === "alpha"));
  },
});
