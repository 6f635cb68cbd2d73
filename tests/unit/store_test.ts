import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  MIGRATIONS,
  openStore,
  QuotaExceededError,
  SCHEMA_VERSION,
  type StoreChange,
  StoreError,
} from "../../lib/store/mod.ts";
import { claim, everyKind, lipItem, logEntry, P1, P2, trustRecord } from "./store_records.ts";

async function tempDb(): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "web4-store-" });
  return {
    path: `${dir}/agent.db`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("Store opens a file in WAL mode with synchronous=NORMAL, foreign keys and the latest schema", async () => {
  await using tmp = await tempDb();
  using store = openStore(tmp.path);
  assert.equal(store.pragma("journal_mode"), "wal");
  assert.equal(store.pragma("synchronous"), 1);
  assert.equal(store.pragma("foreign_keys"), 1);
  assert.equal(store.pragma("user_version"), SCHEMA_VERSION);
  assert.equal(store.schemaVersion, SCHEMA_VERSION);
  assert.equal(store.integrityCheck(), "ok");
  assert.throws(() => store.pragma("cache_size" as "synchronous"), TypeError);
});

Deno.test("A fresh in-memory store starts from the migrated schema (a copy per store): same settings, counters and quotas, nothing shared", () => {
  using a = openStore(":memory:", { quotas: { replay: 1 } });
  using b = openStore(":memory:");
  for (const store of [a, b]) {
    assert.equal(store.pragma("journal_mode"), "memory");
    assert.equal(store.pragma("synchronous"), 1);
    assert.equal(store.pragma("foreign_keys"), 1);
    assert.equal(store.pragma("user_version"), SCHEMA_VERSION);
    assert.equal(store.schemaVersion, SCHEMA_VERSION);
    assert.equal(store.integrityCheck(), "ok");
  }
  const pair = (msgId: string) => ({
    kind: "replay.add" as const,
    entry: { sender: P1, msgId, timestampMs: 1_000 },
  });
  a.commit([pair("m-1")], { nowMs: 1_000 });
  assert.throws(() => a.commit([pair("m-2")], { nowMs: 1_000 }), QuotaExceededError);
  assert.equal(a.usage(P1, "replay"), 1);
  assert.ok(a.totalBytes() > 0);
  assert.deepEqual(b.replayEntries(0), [], "the other store shares nothing");
  assert.equal(b.usage(P1, "replay"), 0);
  assert.equal(b.totalBytes(), 0);
  // Records cascade and triggers count as in a migrated file.
  b.commit(everyKind(), { nowMs: 1_000 });
  assert.equal(b.usage(P1, "replay"), 1);
});

Deno.test("Store round-trips one change of every kind and reads it back after reopening", async () => {
  await using tmp = await tempDb();
  const changes = everyKind();
  {
    using store = openStore(tmp.path);
    assert.deepEqual(store.commit(changes, { nowMs: 1_000 }), {
      applied: changes.length,
      pruned: 0,
    });
  }
  using store = openStore(tmp.path);
  assert.deepEqual(store.trust("cip", P1), trustRecord(P1));
  const [entry] = store.trustLog(P1);
  assert.deepEqual({ ...entry, id: 0 }, { ...logEntry(P1, 10), id: 0 });
  assert.deepEqual(store.claim("c-1"), claim("c-1", P1));
  assert.deepEqual(store.claimsBy(P1), [claim("c-1", P1)]);
  assert.deepEqual(store.claimsBy(P1, "accepted"), []);
  assert.deepEqual(store.claimsAbout("physics", "water.boiling_point"), [claim("c-1", P1)]);
  assert.equal(store.votes("c-1")[0]?.peer, P2);
  assert.equal(store.votes("c-1")[0]?.counted, true);
  assert.equal(store.causalFact("c-1")?.valueCanon, "100");
  assert.equal(store.causalFactsAbout("physics", "water.boiling_point").length, 1);
  assert.deepEqual(store.causalFactsIn("physics", 5).map((f) => f.id), ["c-1"]);
  assert.deepEqual(store.causalFactsIn("chemistry"), []);
  assert.throws(() => store.causalFactsIn("physics", 0), RangeError);
  assert.deepEqual(store.causalLinks("c-1"), [{ from: "c-1", relation: "supports", ref: "c-0" }]);
  assert.deepEqual(store.causalLinks("c-0", "to"), [{
    from: "c-1",
    relation: "supports",
    ref: "c-0",
  }]);
  assert.equal(store.decision("0b5a4f4e-2d7c-4b8e-9a41-6f0d8c1e2a3b")?.choice, "boil");
  assert.deepEqual(
    store.presence(P1),
    changes[6]!.kind === "presence.set" ? changes[6].record : null,
  );
  assert.equal(store.handshake(P1)?.stage, "hello_sent");
  assert.equal(store.person(P2)?.consent, "limited");
  assert.deepEqual(store.lipItem("q-1"), lipItem("q-1", P1));
  assert.deepEqual(store.lipItems("pending").map((i) => i.id), ["q-1"]);
  assert.equal(store.lipSource("https://example.org")?.tier, "medium");
  assert.deepEqual(store.replayEntries(0), [{ sender: P1, msgId: "r-1", timestampMs: 1_000 }]);
  assert.equal(store.usage(P1, "claims"), 2); // the claim and the decision
  assert.equal(store.usage(P2, "claims"), 1); // the vote
  store.commit([{ kind: "handshake.clear", peer: P1 }]);
  assert.equal(store.handshake(P1), undefined);
  assert.equal(store.trust("hcp", P1), undefined);
});

Deno.test("Store commit is all or nothing: a bad change rolls back the changes before it", () => {
  using store = openStore(":memory:");
  const bad: StoreChange = {
    kind: "presence.set",
    record: { peer: P1, presence: "focused", lri: 101, kernelSignals: [], updatedMs: 1 },
  };
  assert.throws(
    () => store.commit([{ kind: "trust.state", record: trustRecord(P1) }, bad]),
    (e) =>
      e instanceof StoreError && e.code === "STORE_INVALID_CHANGE" &&
      /Change 1 \(presence\.set\)/.test(e.message),
  );
  assert.equal(store.trust("cip", P1), undefined);
  assert.throws(
    () => store.commit([{ kind: "nope" } as never]),
    (e) => e instanceof StoreError && e.code === "STORE_INVALID_CHANGE" && /"nope"/.test(e.message),
  );
  // A vote on a claim the ledger does not hold breaks a foreign key.
  assert.throws(
    () =>
      store.commit([{
        kind: "claim.vote",
        vote: {
          claimId: "missing",
          peer: P2,
          msgId: "v",
          kind: "confirm",
          reason: "",
          confidence: 1,
          counted: true,
          atMs: 1,
        },
      }]),
    (e) => e instanceof StoreError && e.code === "STORE_INVALID_CHANGE",
  );
  assert.deepEqual(store.commit([]), { applied: 0, pruned: 0 });
});

Deno.test("Store refuses a commit over a peer's claims quota with QuotaExceededError and stores nothing of it", () => {
  using store = openStore(":memory:", { quotas: { claims: 2 } });
  store.commit([{ kind: "claim.upsert", claim: claim("c-1", P1) }]);
  // Updating an existing claim does not use more quota.
  store.commit([{ kind: "claim.upsert", claim: { ...claim("c-1", P1), status: "accepted" } }]);
  store.commit([{ kind: "claim.upsert", claim: claim("c-2", P1) }]);
  assert.equal(store.usage(P1, "claims"), 2);
  assert.throws(
    () =>
      store.commit([
        { kind: "trust.state", record: trustRecord(P2) },
        { kind: "claim.upsert", claim: claim("c-3", P1) },
      ]),
    QuotaExceededError,
  );
  try {
    store.commit([{ kind: "claim.upsert", claim: claim("c-3", P1) }]);
    assert.fail("expected a quota error");
  } catch (e) {
    assert.ok(e instanceof QuotaExceededError);
    assert.equal(e.peer, P1);
    assert.equal(e.quota, "claims");
    assert.equal(e.limit, 2);
    assert.equal(e.wanted, 3);
    assert.equal(e.wireCode, "quota");
    assert.equal(e.code, "QUOTA");
  }
  assert.equal(store.claim("c-3"), undefined);
  assert.equal(
    store.trust("cip", P2),
    undefined,
    "the other peer's change in that commit was rolled back",
  );
  assert.equal(store.usage(P1, "claims"), 2);
  // Another peer has its own quota.
  store.commit([{ kind: "claim.upsert", claim: claim("c-4", P2) }]);
});

Deno.test("Store bounds the LIP queue and the replay entries per peer", () => {
  using store = openStore(":memory:", { quotas: { lip_queue: 1, replay: 2 } });
  store.commit([{ kind: "lip.upsert", item: lipItem("q-1", P1) }]);
  store.commit([{ kind: "lip.upsert", item: { ...lipItem("q-1", P1), status: "accepted" } }]);
  assert.throws(
    () => store.commit([{ kind: "lip.upsert", item: lipItem("q-2", P1) }]),
    QuotaExceededError,
  );
  assert.equal(store.lipItem("q-1")?.status, "accepted");
  const replay = (msgId: string, timestampMs: number) => ({
    kind: "replay.add" as const,
    entry: { sender: P1, msgId, timestampMs },
  });
  store.commit([replay("r-1", 1_000), replay("r-2", 1_001)], { nowMs: 1_001 });
  assert.throws(() => store.commit([replay("r-3", 1_002)], { nowMs: 1_002 }), QuotaExceededError);
  // Entries older than the replay window are pruned, which frees the quota.
  const later = 1_001 + store.retention.replayWindowMs + 1;
  const result = store.commit([replay("r-3", later)], { nowMs: later });
  assert.equal(result.pruned, 2);
  assert.deepEqual(store.replayEntries(0).map((e) => e.msgId), ["r-3"]);
});

Deno.test("Store keeps replay entries across a restart so the replay window does not reopen", async () => {
  await using tmp = await tempDb();
  {
    using store = openStore(tmp.path);
    store.commit(
      [{ kind: "replay.add", entry: { sender: P1, msgId: "r-1", timestampMs: 5_000 } }],
      { nowMs: 5_000 },
    );
  }
  using store = openStore(tmp.path);
  assert.deepEqual(store.replayEntries(4_000), [{ sender: P1, msgId: "r-1", timestampMs: 5_000 }]);
  assert.deepEqual(store.replayEntries(5_001), []);
});

Deno.test("Store retention drops old ignored trust-log entries, then the oldest ignored ones over quota, never transitions", () => {
  using store = openStore(":memory:", {
    quotas: { evidence: 3 },
    retention: { ignoredMaxAgeMs: 1_000 },
  });
  store.commit([
    { kind: "trust.log", entry: logEntry(P1, 100, false) },
    { kind: "trust.log", entry: logEntry(P1, 200, true) },
  ], { nowMs: 300 });
  assert.equal(store.trustLog(P1).length, 2);
  // Age: the ignored entry at 100 is older than 1 s at t = 1 300 (and the
  // time-based pass, which runs at most once a second, last ran at 300).
  const r1 = store.commit([{ kind: "trust.log", entry: logEntry(P1, 1_200, false) }], {
    nowMs: 1_300,
  });
  assert.equal(r1.pruned, 1);
  assert.deepEqual(store.trustLog(P1).map((e) => e.atMs), [200, 1_200]);
  // Count: a fourth entry pushes out the oldest ignored one, not the transition.
  store.commit([{ kind: "trust.log", entry: logEntry(P1, 1_300, true) }], { nowMs: 1_300 });
  const r2 = store.commit([{ kind: "trust.log", entry: logEntry(P1, 1_400, false) }], {
    nowMs: 1_400,
  });
  assert.equal(r2.pruned, 1);
  assert.deepEqual(store.trustLog(P1).map((e) => [e.atMs, e.changed]), [
    [200, true],
    [1_300, true],
    [1_400, false],
  ]);
  // Only transitions left and still over: refused.
  store.commit([{ kind: "trust.log", entry: logEntry(P1, 1_500, true) }], { nowMs: 1_500 });
  assert.throws(
    () => store.commit([{ kind: "trust.log", entry: logEntry(P1, 1_600, true) }], { nowMs: 1_600 }),
    (e) => e instanceof QuotaExceededError && e.quota === "evidence",
  );
  assert.equal(store.trustLog(P1).length, 3);
  assert.deepEqual(store.trustLog(P1, { limit: 1 }).map((e) => e.atMs), [1_500]);
  assert.deepEqual(store.trustLog(P1, { sinceMs: 1_400 }).map((e) => e.atMs), [1_500]);
  assert.deepEqual(store.trustLog(P1, { machine: "hcp" }), []);
});

Deno.test("Store applies a later migration once, and refuses a database newer than the code", async () => {
  await using tmp = await tempDb();
  openStore(tmp.path).close();
  const next = [...MIGRATIONS, {
    version: SCHEMA_VERSION + 1,
    name: "extra",
    sql: "CREATE TABLE extra (x INTEGER);",
  }];
  {
    using store = openStore(tmp.path, { migrations: next });
    assert.equal(store.schemaVersion, SCHEMA_VERSION + 1);
  }
  {
    using store = openStore(tmp.path, { migrations: next }); // already applied: no error
    assert.equal(store.pragma("user_version"), SCHEMA_VERSION + 1);
  }
  const raw = new DatabaseSync(tmp.path);
  assert.deepEqual(
    (raw.prepare("SELECT version, name FROM schema_migrations ORDER BY version").all() as {
      name: string;
    }[])
      .map((r) => r.name),
    [...MIGRATIONS.map((m) => m.name), "extra"],
  );
  raw.close();
  assert.throws(
    () => openStore(tmp.path),
    (e) => e instanceof StoreError && e.code === "STORE_SCHEMA" && /newer/.test(e.message),
  );
});

Deno.test("Store reports a failing migration as STORE_SCHEMA and leaves the version unchanged", async () => {
  await using tmp = await tempDb();
  openStore(tmp.path).close();
  const broken = [...MIGRATIONS, {
    version: SCHEMA_VERSION + 1,
    name: "broken",
    sql: "CREATE TABLE trust (x);",
  }];
  assert.throws(
    () => openStore(tmp.path, { migrations: broken }),
    (e) => e instanceof StoreError && e.code === "STORE_SCHEMA" && /broken/.test(e.message),
  );
  using store = openStore(tmp.path);
  assert.equal(store.schemaVersion, SCHEMA_VERSION);
});

Deno.test("Store refuses use after close, and close is idempotent", () => {
  const store = openStore(":memory:");
  store.close();
  store.close();
  assert.throws(
    () => store.commit(everyKind()),
    (e) => e instanceof StoreError && e.code === "STORE_CLOSED",
  );
  assert.throws(
    () => store.trust("cip", P1),
    (e) => e instanceof StoreError && e.code === "STORE_CLOSED",
  );
});

Deno.test("openStore checks its arguments", () => {
  assert.throws(() => openStore(""), TypeError);
  assert.throws(() => openStore(":memory:", { quotas: { claims: 0 } }), /quotas\.claims/);
  assert.throws(
    () => openStore(":memory:", { retention: { replayWindowMs: -1 } }),
    /replayWindowMs/,
  );
});

Deno.test("Store commitBatch commits several change lists at once, each all or nothing on its own", () => {
  using store = openStore(":memory:", { quotas: { claims: 1 } });
  const bad: StoreChange = {
    kind: "presence.set",
    record: { peer: P2, presence: "focused", lri: 500, kernelSignals: [], updatedMs: 1 },
  };
  const results = store.commitBatch([
    [{ kind: "claim.upsert", claim: claim("c-1", P1) }],
    [{ kind: "trust.state", record: trustRecord(P2) }, bad], // invalid: rolled back alone
    [],
    [{ kind: "trust.state", record: trustRecord(P1) }, {
      kind: "claim.upsert",
      claim: claim("c-2", P1),
    }], // over quota
    [{ kind: "replay.add", entry: { sender: P2, msgId: "r-1", timestampMs: 9 } }],
  ], { nowMs: 10 });
  assert.deepEqual(results[0], { applied: 1, pruned: 0 });
  assert.ok(results[1] instanceof StoreError && results[1].code === "STORE_INVALID_CHANGE");
  assert.deepEqual(results[2], { applied: 0, pruned: 0 });
  assert.ok(results[3] instanceof QuotaExceededError && results[3].peer === P1);
  assert.deepEqual(results[4], { applied: 1, pruned: 0 });
  assert.ok(store.claim("c-1") !== undefined);
  assert.equal(store.trust("cip", P2), undefined);
  assert.equal(store.trust("cip", P1), undefined);
  assert.equal(store.claim("c-2"), undefined);
  assert.equal(store.usage(P1, "claims"), 1);
  assert.equal(store.replayEntries(0).length, 1);
  assert.deepEqual(store.commitBatch([[], []]), [{ applied: 0, pruned: 0 }, {
    applied: 0,
    pruned: 0,
  }]);
});

Deno.test("Store runs time-based pruning at most once per second, and again after a rollback", () => {
  using store = openStore(":memory:", { retention: { ignoredMaxAgeMs: 100 } });
  store.commit([{ kind: "trust.log", entry: logEntry(P1, 0, false) }], { nowMs: 0 });
  store.commit([{ kind: "trust.log", entry: logEntry(P1, 50, false) }], { nowMs: 500 });
  assert.equal(store.trustLog(P1).length, 2, "no second pass within the same second");
  const r = store.commit([{ kind: "trust.log", entry: logEntry(P1, 1_000, false) }], {
    nowMs: 1_000,
  });
  assert.equal(r.pruned, 2);
  assert.deepEqual(store.trustLog(P1).map((e) => e.atMs), [1_000]);
});

Deno.test("Store's trust cache never keeps a state whose transaction was rolled back", () => {
  using store = openStore(":memory:", { quotas: { replay: 1 } });
  const record = (state: "probing" | "trusted") => ({
    kind: "trust.state" as const,
    record: {
      machine: "cip" as const,
      subject: P1,
      state,
      sinceMs: 1,
      cooldownUntilMs: 0,
      maliceCount: 0,
      strikesMs: [],
    },
  });
  const replay = (msgId: string) => ({
    kind: "replay.add" as const,
    entry: { sender: P1, msgId, timestampMs: 1 },
  });
  store.commit([record("probing"), replay("m-1")], { nowMs: 1 });
  assert.equal(store.trust("cip", P1)?.state, "probing");
  assert.throws(
    () => store.commit([record("trusted"), replay("m-2")], { nowMs: 1 }),
    QuotaExceededError,
  );
  assert.equal(store.trust("cip", P1)?.state, "probing", "the refused list's trust change is gone");
  const copy = store.trust("cip", P1)!;
  copy.strikesMs.push(5);
  assert.deepEqual(store.trust("cip", P1)?.strikesMs, [], "callers get copies");
});

Deno.test("Store's handshake cache never keeps a state whose transaction was rolled back, and hands out copies", () => {
  using store = openStore(":memory:", { quotas: { replay: 1 } });
  const hs = (stage: "hello_sent" | "verified") => ({
    kind: "handshake.set" as const,
    record: {
      peer: P1,
      role: "initiator" as const,
      stage,
      ourNonce: "n",
      ourChallenge: "c",
      ourHelloId: "h",
      startedMs: 1,
      deadlineMs: 2,
    },
  });
  const replay = (msgId: string) => ({
    kind: "replay.add" as const,
    entry: { sender: P1, msgId, timestampMs: 1 },
  });
  assert.equal(store.handshake(P1), undefined, "no row, remembered as none");
  store.commit([hs("hello_sent"), replay("m-1")], { nowMs: 1 });
  assert.equal(store.handshake(P1)?.stage, "hello_sent", "a write replaces the remembered none");
  assert.throws(
    () => store.commit([hs("verified"), replay("m-2")], { nowMs: 1 }),
    QuotaExceededError,
  );
  assert.equal(store.handshake(P1)?.stage, "hello_sent", "the refused list's handshake is gone");
  const copy = store.handshake(P1)!;
  copy.stage = "verified";
  assert.equal(store.handshake(P1)?.stage, "hello_sent", "callers get copies");
  store.commit([{ kind: "handshake.clear", peer: P1 }], { nowMs: 1 });
  assert.equal(store.handshake(P1), undefined, "a clear is remembered");
});

Deno.test("Store write groups: lists share one transaction, a refused list leaves nothing, endGroup makes the rest durable", async () => {
  await using tmp = await tempDb();
  const replay = (msgId: string) => [{
    kind: "replay.add" as const,
    entry: { sender: P1, msgId, timestampMs: 10 },
  }];
  {
    using store = openStore(tmp.path, { quotas: { replay: 2 } });
    store.beginGroup({ nowMs: 10 });
    assert.equal(store.inGroup, true);
    store.commit(replay("m-1"));
    assert.equal(store.replayEntries(0).length, 1, "visible inside the group");
    store.commit(replay("m-2"));
    assert.throws(() => store.commit(replay("m-3")), QuotaExceededError);
    assert.throws(
      () => store.beginGroup(),
      (e) => e instanceof StoreError && /already/.test(e.message),
    );
    store.endGroup();
    assert.equal(store.inGroup, false);
    assert.throws(
      () => store.endGroup(),
      (e) => e instanceof StoreError && /no group/.test(e.message),
    );
  }
  using reopened = openStore(tmp.path);
  assert.deepEqual(reopened.replayEntries(0).map((e) => e.msgId).sort(), ["m-1", "m-2"]);
});

Deno.test("Store abortGroup rolls every list of the group back", () => {
  using store = openStore(":memory:");
  store.beginGroup({ nowMs: 10 });
  store.commit([{ kind: "trust.state", record: trustRecord(P1, "probing") }]);
  assert.equal(store.trust("cip", P1)?.state, "probing");
  store.abortGroup();
  assert.equal(store.trust("cip", P1), undefined);
  store.commit([{ kind: "trust.state", record: trustRecord(P2, "probing") }], { nowMs: 11 });
  assert.equal(store.trust("cip", P2)?.state, "probing", "plain commits work after an abort");
});
