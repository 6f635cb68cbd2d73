import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { createTelemetry, MemorySink } from "../../lib/observability/mod.ts";
import {
  createRuntimeContext,
  isOverloaded,
  msgIdBytes,
  newMsgId,
  outcome,
  selfFromIdentity,
} from "../../lib/runtime/mod.ts";
import { openStore } from "../../lib/store/mod.ts";
import { createTrustView } from "../../lib/trust/mod.ts";

Deno.test("outcome keeps only the optional fields it is given", () => {
  assert.deepEqual(outcome("handled"), {
    status: "handled",
    changes: [],
    replies: [],
    effects: [],
    events: [],
  });
  const o = outcome("deferred", { code: "overloaded", reason: "Busy", retryAfterMs: 5 });
  assert.deepEqual([o.code, o.reason, o.retryAfterMs], ["overloaded", "Busy", 5]);
  assert.equal("code" in outcome("ignored", { reason: "r" }), false);
});

Deno.test("newMsgId and msgIdBytes round-trip a UUID v4 and refuse anything else", () => {
  let n = 0;
  const random = (k: number) => Uint8Array.from({ length: k }, () => n++);
  const id = newMsgId(random);
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(newMsgId(() => msgIdBytes(id)), id);
  assert.throws(() => newMsgId(() => new Uint8Array(15)), TypeError);
  assert.throws(() => msgIdBytes("6F9619FF-8B86-4D11-B42D-00C04FC964FF"), /lowercase UUID v4/);
  assert.throws(() => msgIdBytes("6f9619ff-8b86-1d11-b42d-00c04fc964ff"), TypeError);
});

Deno.test("isOverloaded: presence overloaded, or lri at or above the threshold", () => {
  const config = { overloadLri: 80 };
  assert.ok(isOverloaded({ presence: "overloaded", lri: 0 }, config));
  assert.ok(isOverloaded({ presence: "engaged", lri: 80 }, config));
  assert.ok(!isOverloaded({ presence: "engaged", lri: 79 }, config));
});

Deno.test("createRuntimeContext fills defaults and keeps what it is given", async () => {
  using store = openStore(":memory:");
  const me = await Identity.generate({ agentId: "me" });
  const peer = "ab".repeat(32);
  const plain = createRuntimeContext({ self: selfFromIdentity(me), peer, store });
  assert.deepEqual(plain.load, { presence: "focused", lri: 0 });
  assert.equal(plain.config.overloadLri, 80);
  assert.equal(plain.random(8).length, 8);
  assert.equal(plain.session, undefined);
  assert.equal(plain.now, Date.now);
  const sink = new MemorySink();
  const trust = createTrustView(store, { anchors: [peer] });
  const full = createRuntimeContext({
    self: selfFromIdentity(me, ["dmp_trace"]),
    peer,
    store,
    trust,
    session: "s-1",
    now: () => 7,
    random: (k) => new Uint8Array(k).fill(1),
    load: { presence: "diffuse", lri: 50 },
    telemetry: createTelemetry({ node: "me", sinks: [sink] }),
    config: { overloadLri: 60, person: peer },
  });
  assert.equal(full.trust, trust);
  assert.deepEqual([full.session, full.now(), full.random(2)], ["s-1", 7, new Uint8Array([1, 1])]);
  assert.deepEqual(full.self.capabilities, ["dmp_trace"]);
  assert.deepEqual(full.config, { overloadLri: 60, person: peer });
  full.telemetry.emit("cip.test", {});
  assert.equal(sink.events().length, 1);
  assert.ok(Object.isFrozen(full.config));
});
