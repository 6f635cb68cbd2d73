/**
 * Virtual-clock twins of the agent and mesh tests whose subject is an
 * interval (issue 18 item 6). Agents, the person and mesh nodes run on the
 * `memory` backend with one `ManualClock`; the scene is set with
 * `VirtualTime.flow` (virtual time no faster than real time while WebCrypto
 * works on other threads), and the asserted instant is reached timer by
 * timer, so each test shows the outcome at its exact virtual instant and its
 * absence one step before:
 *
 * - presence: a load change is read and told to peers at the next load tick,
 *   not before (twin of agent_memory_test.ts's
 *   presence test, which calls `refreshLoad()` by hand);
 * - open intents: an unanswered intent stops counting in presence at the
 *   first load tick more than `OPEN_INTENT_MS` after it was sent (twin of
 *   agent_memory_test.ts's open-intent test, which moves a fake `now`);
 * - HCP pacing: under pressure the person's intents are spaced by exactly
 *   `pacingDelayMs`: paced with `retry_after_ms` 1 one ms before, propagated at
 *   the instant, paced again for the whole delay after it (twin of the pacing
 *   scenario of agent_memory_test.ts and agents_e2e_test.ts);
 * - mesh sweep: a message held for lack of a route is expired by the sweep
 *   timer at the first sweep outside the window, not at the sweep on its edge
 *   (twin of mesh_memory_test.ts's partition test, which skews a clock and
 *   calls `sweep()` by hand).
 */

import assert from "node:assert/strict";
import { OPEN_INTENT_MS } from "../../lib/agent/intents.ts";
import { MeshCluster } from "../../lib/mesh/mod.ts";
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";
import { World } from "../helpers/agents.ts";
import { connectPerson, personWorld } from "../helpers/scenarios.ts";
import { VirtualTime } from "../helpers/virtual_time.ts";
import { within } from "../helpers/wait.ts";

/** A world of agents on one virtual clock; disposing it stops them as virtual time flows. */
async function virtualWorld(
  vt: VirtualTime,
  options: Omit<Parameters<typeof World.create>[0], "transport">,
) {
  const network = new MemoryNetwork({ clock: vt.clock });
  const w = await World.create({
    ...options,
    transport: memory({ network }),
    extra: { ...options.extra, clock: vt.clock },
  });
  return Object.assign(w, {
    network,
    async [Symbol.asyncDispose]() {
      await vt.flow("the world's stop", World.prototype[Symbol.asyncDispose].call(w));
    },
  });
}

Deno.test("Presence (virtual): a load change at 2500 is read and told to the peer at the 3000 tick, not at 2999", async () => {
  using vt = new VirtualTime();
  await using w = await virtualWorld(vt, {
    names: ["alpha", "beta"],
    extra: { loadIntervalMs: 1000 },
  });
  await vt.flow("link", w.link("alpha", "beta"));
  const a = w.get("alpha");
  const b = w.get("beta").agent;
  const told: string[] = [];
  a.agent.on("presence", (p) => told.push(`${p.presence}@${vt.now}`));
  await vt.runUntil(2500);
  a.load.set({ cpu: 0.55 }); // engaged
  await vt.runUntil(2999);
  assert.deepEqual(told, [], "the load is read on the tick, not before");
  assert.equal(a.agent.load.presence, "diffuse");
  await vt.runUntil(3000);
  assert.deepEqual(told, ["engaged@3000"]);
  await within(
    5000,
    "beta hears",
    b.until(() => b.store.presence(w.fp("alpha"))?.presence === "engaged"),
  );
  assert.equal(a.agent.metrics.snapshot().gauges["web4_agent_lri"], 55, "read at the tick");
});

Deno.test("Open intents (virtual): an unanswered intent sent before the first tick keeps presence focused through the 30000 tick and stops counting at 31000", async () => {
  using vt = new VirtualTime();
  await using w = await virtualWorld(vt, {
    names: ["alpha", "beta"],
    extra: { loadIntervalMs: 1000 },
  });
  const a = w.get("alpha").agent;
  const b = w.get("beta").agent;
  // Beta's loop holds every INTENT: alpha's intent stays unanswered.
  const gate = Promise.withResolvers<void>();
  const dispatch = b.router.dispatch.bind(b.router);
  b.router.dispatch = async (bytes, from) => {
    if (new TextDecoder().decode(bytes as Uint8Array).includes('"type":"INTENT"')) {
      await gate.promise;
    }
    return await dispatch(bytes, from);
  };
  try {
    await vt.flow("link", w.link("alpha", "beta"));
    // The load ticks at every 1000 ms since the agent started (at 0).
    const start = vt.now;
    assert.ok(start < 1000, `the scene took ${start} virtual ms, more than a tick`);
    const presences: string[] = [];
    a.on("presence", (p) => presences.push(`${p.presence}@${vt.now}`));
    const [sent] = await a.declareIntent({ goal: "ask", topic: "water" }, {
      to: [w.fp("beta")],
    });
    assert.equal(sent?.status, "sent");
    assert.equal(vt.now, start, "sent without virtual time passing");
    // The tick at 1000 sees it open; it stops counting at the first tick more than
    // OPEN_INTENT_MS after it was sent: 31000 (at 30000 it is at most OPEN_INTENT_MS old).
    const expiresAt = (Math.floor((start + OPEN_INTENT_MS) / 1000) + 1) * 1000;
    assert.equal(expiresAt, 31_000);
    await vt.runUntil(expiresAt - 1);
    assert.deepEqual(presences, ["focused@1000"]);
    assert.equal(a.load.presence, "focused");
    await vt.runUntil(expiresAt);
    assert.deepEqual(presences, ["focused@1000", "diffuse@31000"]);
  } finally {
    gate.resolve();
  }
});

Deno.test("HCP pacing (virtual): under pressure the person's intents are spaced by exactly pacingDelayMs (5000)", async () => {
  using vt = new VirtualTime();
  await using w = await virtualWorld(vt, {
    ...personWorld(memory({ network: new MemoryNetwork() })),
    extra: { hcp: { pacingDelayMs: 5000 } },
  });
  await vt.flow("link", w.link("alpha", "beta"));
  await vt.flow("the person's hello", connectPerson(w));
  const a = w.get("alpha").agent;
  const person = w.person!;
  const propagated: number[] = [];
  a.on("intentPropagated", () => propagated.push(vt.now));
  await vt.runUntil(1000);
  // Pressure 92 at 1000: pacing starts, and the first action may come at 6000.
  // Time stands still until the agent has taken the new state in (pacing starts then).
  const tookIn = a.next("humanState", (h) => h.human.pressure === 92);
  const update = person.updateState({ pressure: 92 });
  await within(5000, "the agent takes the pressure in", tookIn);
  assert.equal(vt.now, 1000);
  await vt.flow("the pressure update", update);

  /** The person's intent now; `paced` gives the answer's retry_after_ms, with time standing still. */
  const paced = async (): Promise<number | undefined> => {
    const error = person.next((e) => e.type === "HCP_ERROR");
    const sending = person.intent({ goal: "request", topic: "topic:water" });
    const e = await within(5000, "the paced refusal", error);
    await vt.flow("the send", sending);
    return e.type === "HCP_ERROR" && e.payload.code === "paced"
      ? e.payload.retry_after_ms
      : undefined;
  };

  await vt.runUntil(5999);
  assert.equal(await paced(), 1, "one ms before the delay is over");
  await vt.runUntil(6000);
  const at = vt.now;
  const went = a.next("intentPropagated");
  const sending = person.intent({ goal: "request", topic: "topic:water" });
  await within(5000, "the propagation at 6000", went);
  await vt.flow("the send", sending);
  assert.deepEqual(propagated, [at], "propagated at the instant the delay ended");
  // The action at 6000 starts the next delay: an intent at once is paced for all of it.
  const left = await paced();
  assert.equal(left! + (vt.now - at), 5000, `retry_after_ms ${left} at ${vt.now}`);
  assert.deepEqual(propagated, [at]);
});

Deno.test("Mesh sweep (virtual): a message held from 3000 is expired by the sweep timer at 64000, not at the 63000 sweep on the window's edge", async () => {
  using vt = new VirtualTime();
  const network = new MemoryNetwork({ clock: vt.clock });
  const mesh = await MeshCluster.create({
    names: ["a", "b", "c"],
    edges: [["a", "b"], ["b", "c"]],
    transport: memory({ network }),
    mesh: { clock: vt.clock, windowMs: 60_000, sweepMs: 1000 },
  });
  try {
    await vt.flow("the mesh links up", mesh.linkAll());
    const [a, c] = [mesh.get("a"), mesh.get("c")];
    network.partition([c.agent.transport]);
    await vt.flow("a loses its route to c", a.until(() => a.route(c.fingerprint) === undefined));
    assert.ok(vt.now < 3000, `the scene took ${vt.now} virtual ms`);
    await vt.runUntil(3000);
    const [held] = await a.agent.declareIntent({ goal: "ask", topic: "late" }, {
      to: [c.fingerprint],
    });
    assert.equal(vt.now, 3000);
    assert.equal(a.heldCount, 1);
    // |63000 - 3000| = 60000 is not outside the 60 s window: the sweep at 63000 keeps it.
    await vt.runUntil(63_999);
    assert.equal(a.heldCount, 1, "expired on the window's edge");
    assert.equal(a.deliveryErrors.length, 0);
    await vt.runUntil(64_000);
    assert.equal(a.heldCount, 0);
    assert.deepEqual(a.deliveryErrors.map((e) => [e.code, e.inReplyTo]), [[
      "expired",
      held!.msgId,
    ]]);
  } finally {
    network.heal();
    await vt.flow("the mesh stops", mesh[Symbol.asyncDispose]());
  }
});
