import assert from "node:assert/strict";
import { createTelemetry, MemorySink } from "../../lib/observability/mod.ts";
import { openStore } from "../../lib/store/mod.ts";
import {
  applyTrustEvent,
  createTrustView,
  declareAnchors,
  initialTrustRecord,
  transitionChanges,
  transitionEvent,
  TrustBatch,
} from "../../lib/trust/mod.ts";

const PEER = "d4".repeat(32);
const OTHER = "e5".repeat(32);

Deno.test("Every transition and every ignored event becomes a trust-log row and a telemetry event", () => {
  using store = openStore(":memory:");
  const sink = new MemorySink();
  const telemetry = createTelemetry({ node: "me", sinks: [sink] });
  const batch = new TrustBatch(createTrustView(store), 5_000);
  batch.apply("cip", PEER, { type: "valid_handshake", evidence: ["h-1", "v-1"] });
  batch.apply("cip", PEER, { type: "valid_handshake", evidence: ["h-2"] }); // ignored
  batch.apply("cip", PEER, { type: "fingerprint_mismatch", evidence: ["x-1"] });
  store.commit(batch.changes, { nowMs: 5_000 });
  for (const e of batch.events) {
    telemetry.emit(e.kind, e.data, { severity: e.severity, peer: e.peer });
  }

  const log = store.trustLog(PEER);
  assert.deepEqual(
    log.map((e) => [e.atMs, e.event, e.from, e.to, e.changed, e.evidence]),
    [
      [5_000, "valid_handshake", "untrusted", "probing", true, ["h-1", "v-1"]],
      [5_000, "valid_handshake", "probing", "probing", false, ["h-2"]],
      [5_000, "fingerprint_mismatch", "probing", "blacklisted", true, ["x-1"]],
    ],
  );
  assert.ok(log.every((e) => e.reason.length > 0 && e.subject === PEER && e.machine === "cip"));
  assert.equal(store.trust("cip", PEER)?.state, "blacklisted");
  assert.deepEqual(
    sink.events().map((e) => [e.kind, e.severity, e.peer, e.data.to]),
    [
      ["trust.transition", "info", PEER, "probing"],
      ["trust.ignored", "debug", PEER, "probing"],
      ["trust.transition", "warn", PEER, "blacklisted"],
    ],
  );
  assert.equal(batch.transitions.length, 3);
  assert.equal(batch.state("cip", PEER), "blacklisted");
});

Deno.test("transitionChanges and transitionEvent carry the human actor when there is one", () => {
  const t = applyTrustEvent(
    { ...initialTrustRecord("cip", PEER, 0), state: "blacklisted" },
    { type: "manual_override", actor: "Grace" },
    { nowMs: 9 },
  );
  const [state, log] = transitionChanges(t);
  assert.equal(state?.kind === "trust.state" && state.record.state, "probing");
  assert.equal(log?.kind === "trust.log" && log.entry.actor, "Grace");
  assert.equal(transitionEvent(t).data.actor, "Grace");
  const plain = applyTrustEvent(initialTrustRecord("hcp", PEER, 0), { type: "consent_revoked" }, {
    nowMs: 1,
  });
  assert.equal(transitionEvent(plain).severity, "warn");
  assert.equal("actor" in transitionEvent(plain).data, false);
});

Deno.test("TrustView reads unknown subjects as untrusted and stored ones as stored", () => {
  using store = openStore(":memory:");
  const view = createTrustView(store, {}, () => 77);
  assert.deepEqual(view.record("hcp", PEER), initialTrustRecord("hcp", PEER, 77));
  assert.equal(view.person(PEER), "untrusted");
  store.commit(
    transitionChanges(
      applyTrustEvent(view.record("hcp", PEER), { type: "consent_revoked" }, { nowMs: 80 }),
    ),
  );
  assert.equal(view.person(PEER), "restricted");
  assert.equal(view.peer(PEER), "untrusted");
  assert.equal(view.isAnchor(PEER), false);
});

Deno.test("declareAnchors starts each new anchor trusted, logged with the owner as actor, once", () => {
  using store = openStore(":memory:");
  const view = createTrustView(store, { anchors: [PEER, OTHER], owner: "Ada" });
  // OTHER already has a record (it was blacklisted): the anchor does not reset it.
  store.commit(
    transitionChanges(
      applyTrustEvent(view.record("cip", OTHER), { type: "proven_malice" }, { nowMs: 1 }),
    ),
  );
  const batch = declareAnchors(view, store, 2);
  assert.deepEqual(batch.transitions.map((t) => [t.subject, t.to, t.actor]), [[
    PEER,
    "trusted",
    "Ada",
  ]]);
  store.commit(batch.changes);
  assert.equal(view.peer(PEER), "trusted");
  assert.equal(view.peer(OTHER), "blacklisted");
  const [entry] = store.trustLog(PEER);
  assert.equal(entry?.event, "anchor_declared");
  assert.equal(entry?.actor, "Ada");
  assert.match(entry!.reason, /declared in the agent's configuration/);
  assert.equal(declareAnchors(view, store, 3).changes.length, 0);
});
