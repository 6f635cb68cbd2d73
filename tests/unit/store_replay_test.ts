import assert from "node:assert/strict";
import {
  createEnvelope,
  replayEntryOf,
  ReplayError,
  ReplayGuard,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { openStore } from "../../lib/store/mod.ts";

Deno.test("Store: a replay guard restored from the store after a restart still refuses a replayed envelope", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4-replay-" });
  const path = `${dir}/agent.db`;
  try {
    const now = Date.parse("2026-11-28T10:00:00.000Z");
    const clock = () => new Date(now);
    const alice = await Identity.generate({ agentId: "alice" });
    const bob = await Identity.generate({ agentId: "bob" });
    const env = await createEnvelope("cip", "STATE_UPDATE", {
      identity: alice,
      receiver: { agent_id: "bob", fingerprint: bob.fingerprint },
      payload: { presence: "focused", lri: 1, ltppeerstate: "probing" },
      clock,
    });
    {
      using store = openStore(path);
      const guard = new ReplayGuard();
      const checked = await verifyEnvelope(env, {
        now: clock,
        replayGuard: guard,
        recordReplay: false,
      });
      store.commit([{ kind: "replay.add", entry: replayEntryOf(checked) }], { nowMs: now });
    }
    // The process restarts: a fresh guard, filled from the store.
    using store = openStore(path);
    const guard = new ReplayGuard();
    assert.equal(guard.restore(store.replayEntries(now - guard.windowMs), now), 1);
    await assert.rejects(verifyEnvelope(env, { now: clock, replayGuard: guard }), ReplayError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
