import assert from "node:assert/strict";
import {
  DEFAULT_BYTE_QUOTAS,
  MIGRATIONS,
  openStore,
  QuotaExceededError,
  ROW_OVERHEAD_BYTES,
  type StoreChange,
} from "../../lib/store/mod.ts";
import { claim, everyKind, lipItem, logEntry, P1, P2, trustRecord } from "./store_records.ts";
import { counters, recount } from "./store_counting.ts";

async function tempDb(): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "web4-bytes-" });
  return {
    path: `${dir}/agent.db`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

const big = (id: string, peer: string, bytes: number) => {
  const c = claim(id, peer);
  return { ...c, fact: { ...c.fact, statement: "x".repeat(bytes) } };
};

Deno.test("Store byte counters (triggers) equal a recount of every row by the migration, through inserts, upserts, replaces, cascades and pruning", async () => {
  await using tmp = await tempDb();
  {
    using store = openStore(tmp.path);
    store.commit(everyKind(), { nowMs: 1_000 });
    store.commit([
      // An upsert that changes a claim in place, a replaced presence, a re-set handshake.
      {
        kind: "claim.upsert",
        claim: { ...claim("c-1", P1), status: "accepted", reason: "two trusted confirmations" },
      },
      {
        kind: "presence.set",
        record: {
          peer: P1,
          presence: "diffuse",
          lri: 5,
          kernelSignals: [],
          intent: "rest",
          updatedMs: 11,
        },
      },
      { kind: "trust.state", record: { ...trustRecord(P1), strikesMs: [1, 2, 3, 4] } },
      { kind: "trust.log", entry: logEntry(P2, 20, false) },
      {
        kind: "lip.upsert",
        item: { ...lipItem("q-1", P1), status: "accepted", corroborators: [P2] },
      },
      { kind: "replay.add", entry: { sender: P2, msgId: "r-2", timestampMs: 1_000 } },
    ], { nowMs: 1_000 });
    store.commit([{ kind: "handshake.clear", peer: P1 }], { nowMs: 1_000 });
    // Pruning: the replay pairs and the ignored log entry (with its evidence rows) go.
    store.commit([{ kind: "trust.log", entry: logEntry(P1, 8 * 24 * 3600_000) }], {
      nowMs: 8 * 24 * 3600_000,
    });
    store.commit([{ kind: "replay.add", entry: { sender: P1, msgId: "r-3", timestampMs: 9e12 } }], {
      nowMs: 9e12,
    });
    assert.equal(store.replayEntries(0).length, 1);
    assert.equal(store.usage(P1, "bytes") > 0, true);
    assert.equal(store.totalBytes(), store.usage(P1, "node_bytes"));
  }
  const kept = counters(tmp.path);
  assert.ok(kept[P1]! > 0 && kept[P2]! > 0 && kept["*"]! >= kept[P1]! + kept[P2]!);
  assert.deepEqual(recount(tmp.path), kept);
});

Deno.test("A migration computes each peer's current bytes: a v1 store gets the counters a new one keeps", async () => {
  await using old = await tempDb();
  await using fresh = await tempDb();
  const changes: StoreChange[] = [
    ...everyKind(),
    { kind: "claim.upsert", claim: big("c-2", P2, 5_000) },
    { kind: "trust.log", entry: logEntry(P2, 30) },
  ];
  {
    using v1 = openStore(old.path, { migrations: MIGRATIONS.slice(0, 1) });
    assert.equal(v1.schemaVersion, 1);
    v1.commit(changes, { nowMs: 1_000 });
  }
  {
    using v2 = openStore(fresh.path);
    v2.commit(changes, { nowMs: 1_000 });
  }
  using migrated = openStore(old.path);
  assert.equal(migrated.schemaVersion, MIGRATIONS.at(-1)!.version);
  migrated.close();
  assert.deepEqual(counters(old.path), counters(fresh.path));
  const c = counters(old.path);
  // A claim costs its encoded size plus the fixed overhead: at least its statement.
  assert.ok(c[P2]! > 5_000 + ROW_OVERHEAD_BYTES, `P2 holds ${c[P2]} bytes`);
});

Deno.test("Migration 3 (replay pairs keyed by time, counters in memory) keeps every pair, its counts and its bytes, and the pairs still prune and refuse as before", async () => {
  await using old = await tempDb();
  await using fresh = await tempDb();
  const pairs: StoreChange[] = [P1, P2, P1, P1, P2].map((sender, i) => ({
    kind: "replay.add",
    entry: { sender, msgId: crypto.randomUUID(), timestampMs: 1_000 + (i % 3) },
  }));
  {
    using v2 = openStore(old.path, { migrations: MIGRATIONS.slice(0, 2) });
    v2.commit([...everyKind(), ...pairs], { nowMs: 1_000 });
  }
  {
    using v3 = openStore(fresh.path);
    v3.commit([...everyKind(), ...pairs], { nowMs: 1_000 });
  }
  using migrated = openStore(old.path, { quotas: { replay: 4 } });
  assert.equal(migrated.schemaVersion, MIGRATIONS.at(-1)!.version);
  assert.deepEqual(counters(old.path), counters(fresh.path));
  assert.deepEqual(
    counters(old.path),
    recount(old.path),
    "the triggers count what a recount finds",
  );
  const entries = migrated.replayEntries(0);
  {
    using v3 = openStore(fresh.path);
    assert.deepEqual(entries, v3.replayEntries(0));
  }
  assert.equal(entries.length, pairs.length + 1, "the sample pair and the five");
  assert.deepEqual(entries.map((e) => e.timestampMs), entries.map((e) => e.timestampMs).sort());
  // P1 holds 3 of these pairs (and the sample's sender is P1): at the quota of 4.
  assert.equal(migrated.usage(P1, "replay"), 4);
  const again = {
    kind: "replay.add" as const,
    entry: { sender: P1, msgId: "late", timestampMs: 1_003 },
  };
  assert.throws(() => migrated.commit([again], { nowMs: 1_003 }), QuotaExceededError);
  // Past the window every pair is pruned, counts and bytes given back.
  const later = 1_003 + migrated.retention.replayWindowMs;
  migrated.commit([{ ...again, entry: { ...again.entry, timestampMs: later } }], { nowMs: later });
  assert.equal(migrated.usage(P1, "replay"), 1);
  assert.deepEqual(migrated.replayEntries(0).map((e) => e.msgId), ["late"]);
});

Deno.test("Counters kept in memory follow the transaction: a refused list, a savepoint rolled back, an aborted group and a redo leave them equal to a recount", async () => {
  await using tmp = await tempDb();
  const pair = (sender: string, msgId: string): StoreChange => ({
    kind: "replay.add",
    entry: { sender, msgId, timestampMs: 1_000 },
  });
  {
    using store = openStore(tmp.path, { quotas: { replay: 3 } });
    store.commit(everyKind(), { nowMs: 1_000 }); // P1 holds one pair now
    const claimsOfP2 = store.usage(P2, "claims");
    store.beginGroup({ nowMs: 1_000 });
    store.commit([pair(P2, "a"), { kind: "claim.upsert", claim: claim("c-9", P2) }]);
    // Over P1's replay quota half way: the group is redone without this list.
    assert.throws(
      () => store.commit([pair(P1, "b"), pair(P1, "c"), pair(P1, "d")]),
      QuotaExceededError,
    );
    assert.equal(store.usage(P1, "replay"), 1, "the refused list counts nothing");
    assert.equal(
      store.usage(P2, "claims"),
      claimsOfP2 + 1,
      "the list before it counts again after the redo",
    );
    // From now on each list takes a savepoint: rolled back alone.
    assert.throws(() => store.commit([pair(P1, "e"), pair(P1, "f"), pair(P1, "g")]));
    store.commit([pair(P1, "h")]);
    assert.equal(store.usage(P1, "replay"), 2);
    store.endGroup();
    assert.equal(store.usage(P1, "replay"), 2, "committed as counted");
    store.beginGroup({ nowMs: 1_000 });
    store.commit([pair(P2, "x"), { kind: "claim.upsert", claim: big("c-10", P2, 3_000) }]);
    assert.ok(store.usage(P2, "bytes") > 3_000);
    store.abortGroup();
    assert.equal(store.usage(P2, "replay"), 1, "an aborted group counts nothing");
    assert.equal(store.usage(P2, "claims"), claimsOfP2 + 1);
  }
  const kept = counters(tmp.path);
  assert.deepEqual(kept, recount(tmp.path), "the counters on disk are the rows' own");
  using store = openStore(tmp.path);
  assert.equal(store.usage(P1, "replay"), 2);
  assert.equal(store.totalBytes(), kept["*"]);
});

Deno.test("A transaction touching many counters writes them all at its commit (in several statements)", async () => {
  await using tmp = await tempDb();
  const senders = Array.from({ length: 25 }, (_, i) => i.toString(16).padStart(64, "0"));
  {
    using store = openStore(tmp.path);
    store.beginGroup({ nowMs: 1_000 });
    for (const sender of senders) {
      store.commit([{ kind: "replay.add", entry: { sender, msgId: "m", timestampMs: 1_000 } }]);
    }
    store.endGroup();
  }
  using store = openStore(tmp.path);
  for (const sender of senders) assert.equal(store.usage(sender, "replay"), 1);
  store.close();
  assert.deepEqual(counters(tmp.path), recount(tmp.path));
});

Deno.test("A charged commit over the peer's byte quota is refused with quota and writes nothing; data kept over a lowered quota stays, and only growth is refused", async () => {
  await using tmp = await tempDb();
  {
    using store = openStore(tmp.path, { bytes: { probing: 8 * 1024, trusted: 64 * 1024 } });
    const probing = { peer: P1, level: "probing" as const };
    store.commit([{ kind: "claim.upsert", claim: big("c-1", P1, 4_000) }], { charge: probing });
    const before = store.usage(P1, "bytes");
    assert.ok(before > 4_000 && before < 8 * 1024);
    // The next one would cross the quota: refused, nothing of it stored.
    assert.throws(
      () =>
        store.commit([
          { kind: "claim.upsert", claim: big("c-2", P1, 4_000) },
          { kind: "replay.add", entry: { sender: P1, msgId: "r-1", timestampMs: 1 } },
        ], { charge: probing }),
      (e) =>
        e instanceof QuotaExceededError && e.quota === "bytes" && e.peer === P1 &&
        e.limit === 8 * 1024 && e.wireCode === "quota",
    );
    assert.equal(store.claim("c-2"), undefined);
    assert.equal(store.usage(P1, "bytes"), before);
    // The same as trusted (a promotion raises the quota).
    store.commit([{ kind: "claim.upsert", claim: big("c-2", P1, 4_000) }], {
      charge: { peer: P1, level: "trusted" },
    });
    // Demoted again: what it holds stays; anything that grows it is refused...
    assert.ok(store.usage(P1, "bytes") > 8 * 1024);
    assert.throws(
      () =>
        store.commit([{
          kind: "presence.set",
          record: { peer: P1, presence: "focused", lri: 1, kernelSignals: [], updatedMs: 1 },
        }], { charge: probing }),
      QuotaExceededError,
    );
    // ...while an uncharged commit (the agent's own, a sanction) and other peers go on.
    store.commit([{ kind: "trust.log", entry: logEntry(P1, 40) }]);
    store.commit([{ kind: "claim.upsert", claim: big("c-3", P2, 1_000) }], {
      charge: { peer: P2, level: "probing" },
    });
    assert.equal(store.claimsBy(P1).length, 2);
  }
  // The refused commits left nothing in the file either.
  assert.deepEqual(recount(tmp.path), counters(tmp.path));
});

Deno.test("The node total keeps its reserve: probing peers together stop at total - reserved, trusted ones use the rest", () => {
  const bytes = { probing: 16 * 1024, trusted: 256 * 1024, total: 64 * 1024, reserved: 32 * 1024 };
  using store = openStore(":memory:", { bytes });
  let refused = 0;
  for (let k = 0; k < 16; k++) {
    const peer = k.toString(16).padStart(2, "0").repeat(32);
    try {
      store.commit([{ kind: "claim.upsert", claim: big(`s-${k}`, peer, 6_000) }], {
        charge: { peer, level: "probing" },
      });
    } catch (e) {
      assert.ok(e instanceof QuotaExceededError && e.quota === "node_bytes", String(e));
      assert.ok(
        !e.message.includes(String(e.limit)) && !e.message.includes(String(e.wanted)),
        "the node's numbers are not told to a stranger",
      );
      refused++;
    }
  }
  assert.ok(store.totalBytes() <= bytes.total - bytes.reserved);
  assert.ok(refused >= 16 - Math.floor(32 * 1024 / 6_000));
  for (let i = 0; i < 4; i++) {
    store.commit([{ kind: "claim.upsert", claim: big(`t-${i}`, P2, 6_000) }], {
      charge: { peer: P2, level: "trusted" },
    });
  }
  assert.ok(
    store.totalBytes() > bytes.total - bytes.reserved,
    "the reserve is the trusted level's",
  );
  assert.throws(
    () =>
      store.commit([{ kind: "claim.upsert", claim: big("t-9", P2, 40_000) }], {
        charge: { peer: P2, level: "trusted" },
      }),
    (e) => e instanceof QuotaExceededError && e.quota === "node_bytes",
  );
});

Deno.test("Byte quotas and the WAL bound are options with documented defaults, checked", async () => {
  using store = openStore(":memory:");
  assert.deepEqual(store.byteQuotas, DEFAULT_BYTE_QUOTAS);
  assert.deepEqual(DEFAULT_BYTE_QUOTAS, {
    probing: 1024 * 1024,
    trusted: 64 * 1024 * 1024,
    total: 1024 * 1024 * 1024,
    reserved: 512 * 1024 * 1024,
  });
  assert.throws(() => openStore(":memory:", { bytes: { probing: 0 } }), RangeError);
  assert.throws(() => openStore(":memory:", { bytes: { total: 10, reserved: 10 } }), RangeError);
  assert.throws(() => openStore(":memory:", { walBytes: 0 }), RangeError);
  await using tmp = await tempDb();
  using file = openStore(tmp.path, { walBytes: 256 * 1024 });
  assert.equal(file.walBytes, 256 * 1024);
  assert.equal(file.pragma("journal_size_limit"), 256 * 1024);
  assert.equal(file.pragma("wal_autocheckpoint"), 64); // 4 KiB pages
  // A large transaction grows the WAL past the bound; the next checkpoint truncates it back.
  for (let i = 0; i < 8; i++) {
    file.commit([{ kind: "claim.upsert", claim: big(`w-${i}`, P1, 200_000) }]);
  }
  file.commit([{ kind: "replay.add", entry: { sender: P1, msgId: "r-1", timestampMs: 1 } }]);
  assert.ok(Deno.statSync(`${tmp.path}-wal`).size <= 256 * 1024 + 256 * 1024);
});
