/**
 * The AgentLoop on the `memory` transport (the same native core over
 * in-process pipes): handshakes, state updates, intents, the person's HCP,
 * one session per pair, hooks, clean stop.
 */
import assert from "node:assert/strict";
import { MemoryNetwork } from "../../lib/rtt/mod.ts";
import { World } from "../helpers/agents.ts";

Deno.test("Agent on the memory transport: connect runs the CIP handshake, then STATE_UPDATE reaches the peer", async () => {
  const network = new MemoryNetwork();
  await using w = await World.create({
    names: ["alpha", "beta"],
    transport: "memory",
    transportOptions: { network },
  });
  await w.link("alpha", "beta");
  const a = w.get("alpha").agent;
  const b = w.get("beta").agent;
  assert.equal(a.peer(w.fp("beta"))?.verified, true);
  assert.equal(a.router.trust.peer(w.fp("beta")), "trusted", "anchored");
  await b.until(() => b.store.presence(w.fp("alpha")) !== undefined);
  await a.until(() => a.store.presence(w.fp("beta")) !== undefined);
  assert.equal(b.store.presence(w.fp("alpha"))?.presence, "diffuse");
  assert.equal(b.store.presence(w.fp("alpha"))?.lri, 10);
});
