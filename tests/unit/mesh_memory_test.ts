/**
 * The mesh on the memory backend (the real native core over in-process
 * pipes, real signatures, real SQLite stores in memory): multi-hop delivery,
 * loops, duplicates, hop limits, blocked peers, tampering relays,
 * introductions, a liar, partition and heal, consensus on ten nodes.
 */
import assert from "node:assert/strict";
import { MeshCluster } from "../../lib/mesh/mod.ts";
import { MemoryNetwork } from "../../lib/rtt/mod.ts";
import { MemorySink, type Web4Event } from "../../lib/observability/mod.ts";
import { assertEventContract } from "../helpers/agents.ts";

async function cluster(
  names: string[],
  edges: [string, string][],
  options: Partial<Parameters<typeof MeshCluster.create>[0]> = {},
) {
  const sink = new MemorySink();
  const network = new MemoryNetwork();
  const mesh = await MeshCluster.create({
    names,
    edges,
    transportOptions: { network },
    sinks: [sink],
    ...options,
  });
  return { mesh, sink, network };
}

const of = (sink: MemorySink, kind: string, node?: string): Web4Event[] =>
  sink.events().filter((e) => e.kind === kind && (node === undefined || e.node === node));

Deno.test("Mesh (memory): a -- b -- c -- d, a reaches d over two relays; the handshake and the intent are signed end to end", async () => {
  const { mesh, sink } = await cluster(["a", "b", "c", "d"], [["a", "b"], ["b", "c"], ["c", "d"]]);
  await using _ = mesh;
  await mesh.linkAll();
  const a = mesh.get("a");
  assert.deepEqual(a.route(mesh.fp("d")), [mesh.fp("b"), mesh.fp("c"), mesh.fp("d")]);
  await a.meet(mesh.fp("d"), "d");
  const d = mesh.get("d");
  await d.until(() => d.agent.store.handshake(mesh.fp("a"))?.stage === "verified");
  assert.equal(d.agent.router.trust.peer(mesh.fp("a")), "trusted", "anchor declared by d's owner");
  const got = d.agent.nextEvent("agent.intent", (e) => e.peer === mesh.fp("a"));
  const [sent] = await a.agent.declareIntent({ goal: "ask", topic: "aral nitrate" }, {
    to: [mesh.fp("d")],
  });
  assert.equal(sent!.status, "sent");
  const event = await got;
  assert.equal((event.data as { topic: string }).topic, "aral nitrate");
  const delivered = of(sink, "mesh.delivered", "d").filter((e) => e.data.msg_id === sent!.msgId);
  assert.equal(delivered.length, 1);
  assert.equal(delivered[0]!.data.hops, 3, "a, b, c");
  assert.equal(delivered[0]!.peer, mesh.fp("c"), "delivered by the last relay");
  assert.ok(of(sink, "mesh.forwarded", "b").some((e) => e.data.msg_id === sent!.msgId));
  assert.ok(of(sink, "mesh.forwarded", "c").some((e) => e.data.msg_id === sent!.msgId));
  const row = a.peers().find((p) => p.fingerprint === mesh.fp("d"))!;
  assert.equal(row.link, "relayed");
  assert.deepEqual(a.peers().find((p) => p.fingerprint === mesh.fp("b"))!.link, "up");
  assertEventContract(sink.events());
});
