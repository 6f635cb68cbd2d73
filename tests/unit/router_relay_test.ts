/**
 * The router's sender binding for relayed envelopes (the mesh): the envelope
 * is verified against its origin, while sanctions and the blacklist check
 * fall on the relay, the session's authenticated peer.
 */
import assert from "node:assert/strict";
import { CipRuntime } from "../../lib/cip/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { ProtocolRouter } from "../../lib/router/mod.ts";
import { effectsOf } from "../../lib/runtime/mod.ts";
import { openStore } from "../../lib/store/mod.ts";

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

async function setup() {
  const [origin, relay, dest] = await Promise.all([
    Identity.generate({ agentId: "origin" }),
    Identity.generate({ agentId: "relay" }),
    Identity.generate({ agentId: "dest" }),
  ]);
  const make = (identity: Identity, anchors: string[]) =>
    new ProtocolRouter({
      identity,
      store: openStore(":memory:"),
      runtimes: [new CipRuntime()],
      now: () => T0,
      trust: { anchors },
    });
  const ro = make(origin, []);
  const rd = make(dest, [relay.fingerprint]);
  const open = new CipRuntime().open(
    { agent_id: "dest", fingerprint: dest.fingerprint },
    ro.context(dest.fingerprint),
  );
  const { replies: [hello] } = await ro.apply(open, { peer: dest.fingerprint });
  return { origin, relay, dest, rd, hello: hello! };
}

Deno.test("A relayed envelope is verified against its origin, not the relay that delivered it", async () => {
  const { origin, relay, rd, hello } = await setup();
  const asDirectFromRelay = await rd.dispatch(hello.bytes, { peer: relay.fingerprint });
  assert.equal(
    asDirectFromRelay.status,
    "dropped",
    "signed by the origin, not by the session peer",
  );
  const { rd: fresh, hello: again, origin: o2, relay: r2 } = await setup();
  const relayed = await fresh.dispatch(again.bytes, {
    peer: o2.fingerprint,
    relay: r2.fingerprint,
  });
  assert.equal(relayed.status, "handled");
  assert.equal(relayed.envelope?.sender.fingerprint, o2.fingerprint);
  assert.deepEqual(relayed.replies.map((r) => r.envelope.receiver.fingerprint), [o2.fingerprint]);
  assert.ok(origin && relay);
});

Deno.test("A relayed envelope altered in transit sanctions the relay (untrusted), never the origin", async () => {
  const { origin, relay, rd, hello } = await setup();
  const text = new TextDecoder().decode(hello.bytes).replace('"HELLO"', '"HELLO" ').replace(
    /"session_nonce":"[^"]+"/,
    '"session_nonce":"AAAAAAAAAAAAAAAAAAAAAA=="',
  );
  const result = await rd.dispatch(new TextEncoder().encode(text), {
    peer: origin.fingerprint,
    relay: relay.fingerprint,
  });
  assert.equal(result.status, "dropped");
  assert.equal(result.code, "invalid_signature");
  assert.equal(rd.trust.peer(relay.fingerprint), "untrusted");
  assert.deepEqual(
    effectsOf(result.effects, "trustChanged").map((e) => e.entry.subject),
    [relay.fingerprint],
  );
  assert.equal(rd.store.trust("cip", origin.fingerprint), undefined, "the origin is untouched");
});

Deno.test("An envelope relayed by a blacklisted relay is dropped unanswered", async () => {
  const { origin, relay, rd, hello } = await setup();
  // A fingerprint mismatch blacklists the session's peer: an envelope naming a third party.
  await rd.dispatch(hello.bytes, { peer: relay.fingerprint });
  assert.equal(rd.trust.peer(relay.fingerprint), "blacklisted");
  const result = await rd.dispatch(hello.bytes, {
    peer: origin.fingerprint,
    relay: relay.fingerprint,
  });
  assert.equal(result.status, "dropped");
  assert.equal(result.code, "blacklisted");
  assert.equal(result.replies.length, 0);
});
