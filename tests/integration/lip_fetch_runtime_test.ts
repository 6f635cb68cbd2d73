import assert from "node:assert/strict";
import { verifyEnvelope } from "../../lib/envelope/mod.ts";
import { LipFetchError } from "../../lib/lip/errors.ts";
import { HttpFetcher } from "../../lib/lip/fetcher.ts";
import { LipRuntime } from "../../lib/lip/runtime.ts";
import { fetchOf, parties, World } from "../unit/hcp_lip_fixture.ts";

const PAGE = "Water boils at 100 C at sea level.";

Deno.test("LIP_FETCH end to end: request, fetch from a loopback page, LIP_EVIDENCE back, claim queued", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/water"
        ? new Response(PAGE, { headers: { "content-type": "text/plain" } })
        : new Response("gone", { status: 404 }),
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const p = await parties();
  using world = new World(p, { trust: { anchors: [p.peerA.fingerprint] } });
  world.declareAnchors();
  const lip = new LipRuntime();
  // The operator lists the page's origin: loopback is otherwise never fetched.
  const fetcher = new HttpFetcher({ allowOrigins: [base], clock: () => new Date(world.clock.now) });

  // 1. A trusted peer asks the agent to fetch.
  const request = await world.envelope("lip", "LIP_FETCH", p.peerA, {
    query: `${base}/water`,
    constraints: ["domain:127.0.0.1", "no_personal_data"],
  });
  const asked = await world.commit(lip.handle(request, world.ctx(p.peerA)));
  assert.equal(asked.status, "deferred");
  const wanted = fetchOf(asked);
  assert.ok(wanted);

  // 2. The agent (outside the pure runtime) runs the fetch through the port.
  const doc = await fetcher.fetch(wanted);
  const done = await world.commit(lip.fetched(wanted, doc, world.ctx(p.peerA)));

  // 3. The requester gets a signed LIP_EVIDENCE with provenance.
  assert.equal(done.signed.length, 1);
  const evidence = await verifyEnvelope(done.signed[0]!, {
    now: () => new Date(world.clock.now),
    expectedSender: p.agent.fingerprint,
    expectedReceiver: p.peerA.fingerprint,
  });
  assert.equal(evidence.type, "LIP_EVIDENCE");
  assert.ok(evidence.type === "LIP_EVIDENCE");
  assert.deepEqual(evidence.source, {
    uri: `${base}/water`,
    trust_tier: "unknown",
    retrieved_at: new Date(world.clock.now).toISOString(),
  });
  assert.deepEqual(evidence.payload.claims, [{ query: `${base}/water`, excerpt: PAGE }]);
  assert.equal((evidence.payload.evidence[0] as Record<string, unknown>).sha256, doc.sha256);

  // 4. The agent's own copy waits pending: its own fetch never corroborates.
  const [item] = world.store.lipItems("pending");
  assert.equal(item?.peer, p.agent.fingerprint);
  assert.deepEqual(item?.corroborators, []);
  assert.equal(item?.msgId, evidence.msg_id);
});

Deno.test("LIP_FETCH that breaks its constraints ends in a LIP_ERROR to the requester", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(null, { status: 302, headers: { location: "http://localhost:1/elsewhere" } }),
  );
  const p = await parties();
  using world = new World(p, { trust: { anchors: [p.peerA.fingerprint] } });
  world.declareAnchors();
  const lip = new LipRuntime();
  const request = await world.envelope("lip", "LIP_FETCH", p.peerA, {
    query: `http://127.0.0.1:${server.addr.port}/page`,
    constraints: ["domain:127.0.0.1"],
  });
  const asked = lip.handle(request, world.ctx(p.peerA));
  assert.equal(fetchOf(asked)?.chargedTo, p.peerA.fingerprint);
  let failure: LipFetchError | undefined;
  try {
    await new HttpFetcher({ allowOrigins: [`http://127.0.0.1:${server.addr.port}`] })
      .fetch(fetchOf(asked)!);
  } catch (err) {
    if (err instanceof LipFetchError) failure = err;
    else throw err;
  }
  assert.equal(failure?.code, "constraint_violation");
  const o = await world.commit(lip.fetchFailed(fetchOf(asked)!, failure!, world.ctx(p.peerA)));
  const [reply] = o.signed;
  assert.equal(reply?.type, "LIP_ERROR");
  assert.ok(reply?.type === "LIP_ERROR");
  assert.equal(reply.payload.in_reply_to, request.msg_id);
  assert.equal(reply.payload.code, "constraint_violation");
  assert.equal(reply.receiver.fingerprint, p.peerA.fingerprint);
});
