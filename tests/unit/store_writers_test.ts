import assert from "node:assert/strict";
import {
  openStore,
  QuotaExceededError,
  type QuotaName,
  type SqliteStore,
  type StoreChange,
  type StoreChangeKind,
  StoreError,
} from "../../lib/store/mod.ts";
import { type ChangeOf, P1, P2, sampleOfEveryKind } from "./store_records.ts";

/** The kinds of the `StoreChange` union, read from its declaration (independent of the types). */
async function declaredKinds(): Promise<string[]> {
  const source = await Deno.readTextFile(new URL("../../lib/store/types.ts", import.meta.url));
  const union = source.slice(
    source.indexOf("export type StoreChange ="),
    source.indexOf("export type StoreChangeKind"),
  );
  return [...union.matchAll(/kind: "([a-z_]+\.[a-z_]+)"/g)].map((m) => m[1]!).sort();
}

/** How to read each kind's sample back after it was committed. */
const readBack: { [K in StoreChangeKind]: (store: SqliteStore, change: ChangeOf<K>) => void } = {
  "trust.state": (store, c) => assert.deepEqual(store.trust("cip", c.record.subject), c.record),
  "trust.log": (store, c) => {
    const [entry, ...rest] = store.trustLog(c.entry.subject);
    assert.equal(rest.length, 0);
    assert.deepEqual({ ...entry, id: 0 }, { ...c.entry, id: 0 });
  },
  "claim.upsert": (store, c) => assert.deepEqual(store.claim(c.claim.id), c.claim),
  "claim.vote": (store, c) => assert.deepEqual(store.votes(c.vote.claimId), [c.vote]),
  "causal.add": (store, c) => {
    assert.deepEqual(store.causalFact(c.fact.id), c.fact);
    assert.deepEqual(store.causalLinks(c.fact.id), c.links);
  },
  "decision.add": (store, c) => assert.deepEqual(store.decision(c.decision.decisionId), c.decision),
  "presence.set": (store, c) => assert.deepEqual(store.presence(c.record.peer), c.record),
  "handshake.set": (store, c) => assert.deepEqual(store.handshake(c.record.peer), c.record),
  "handshake.clear": (store, c) => assert.equal(store.handshake(c.peer), undefined),
  "person.upsert": (store, c) => assert.deepEqual(store.person(c.person.person), c.person),
  "lip.upsert": (store, c) => assert.deepEqual(store.lipItem(c.item.id), c.item),
  "lip.source": (store, c) => assert.deepEqual(store.lipSource(c.source.uri), c.source),
  "replay.add": (store, c) => assert.deepEqual(store.replayEntries(0), [c.entry]),
};

function commitAndReadBack<K extends StoreChangeKind>(
  store: SqliteStore,
  kind: K,
  change: ChangeOf<K>,
): void {
  assert.deepEqual(store.commit([change], { nowMs: 1_000 }), { applied: 1, pruned: 0 }, kind);
  readBack[kind](store, change);
}

Deno.test("Store has a writer for every StoreChange kind: each kind's sample commits alone and reads back", async () => {
  const samples = sampleOfEveryKind();
  assert.deepEqual(Object.keys(samples).sort(), await declaredKinds());
  using store = openStore(":memory:");
  for (const kind of Object.keys(samples) as StoreChangeKind[]) {
    commitAndReadBack(store, kind, samples[kind]);
  }
});

Deno.test("Store refuses change kinds it has no writer for, including names every object inherits", () => {
  using store = openStore(":memory:");
  for (const kind of ["nope", "constructor", "toString", "hasOwnProperty", "__proto__", ""]) {
    assert.throws(
      () => store.commit([sampleOfEveryKind()["trust.state"], { kind } as never]),
      (e) =>
        e instanceof StoreError && e.code === "STORE_INVALID_CHANGE" &&
        e.message.includes(`Unknown store change kind ${JSON.stringify(kind)}`),
      kind,
    );
  }
  assert.throws(
    () => store.commit([null as never]),
    (e) => e instanceof StoreError && e.code === "STORE_INVALID_CHANGE",
  );
  assert.equal(store.trust("cip", P1), undefined, "the valid change before them was rolled back");
});

Deno.test("Store writers mark the quota of every quota-bearing kind: a second row over a quota of 1 is refused", () => {
  const samples = sampleOfEveryKind();
  const claimOf = (id: string, peer: string) => ({ ...samples["claim.upsert"].claim, id, peer });
  // Each case: the setup, then two changes that each add a row counted against `peer`'s quota.
  const cases: { quota: QuotaName; peer: string; setup: StoreChange[]; rows: StoreChange[] }[] = [
    {
      quota: "evidence",
      peer: P1,
      setup: [],
      rows: [1, 2].map((atMs) => ({
        kind: "trust.log",
        entry: { ...samples["trust.log"].entry, atMs },
      })),
    },
    {
      quota: "claims",
      peer: P1,
      setup: [],
      rows: ["c-1", "c-2"].map((id) => ({ kind: "claim.upsert", claim: claimOf(id, P1) })),
    },
    {
      quota: "claims",
      peer: P2,
      setup: [{ kind: "claim.upsert", claim: claimOf("c-1", P1) }],
      rows: (["confirm", "challenge"] as const).map((kind) => ({
        kind: "claim.vote",
        vote: { ...samples["claim.vote"].vote, kind },
      })),
    },
    {
      quota: "claims",
      peer: P1,
      setup: [],
      rows: ["d-1", "d-2"].map((decisionId) => ({
        kind: "decision.add",
        decision: { ...samples["decision.add"].decision, decisionId },
      })),
    },
    {
      quota: "lip_queue",
      peer: P1,
      setup: [],
      rows: ["q-1", "q-2"].map((id) => ({
        kind: "lip.upsert",
        item: { ...samples["lip.upsert"].item, id },
      })),
    },
    {
      quota: "replay",
      peer: P1,
      setup: [],
      rows: ["r-1", "r-2"].map((msgId) => ({
        kind: "replay.add",
        entry: { ...samples["replay.add"].entry, msgId },
      })),
    },
  ];
  for (const { quota, peer, setup, rows: [first, second] } of cases) {
    const label = `${second!.kind} (${quota})`;
    using store = openStore(":memory:", {
      quotas: { evidence: 1, claims: 1, lip_queue: 1, replay: 1 },
    });
    if (setup.length > 0) store.commit(setup, { nowMs: 1_000 });
    store.commit([first!], { nowMs: 1_000 });
    assert.throws(
      () => store.commit([second!], { nowMs: 1_000 }),
      (e) => e instanceof QuotaExceededError && e.quota === quota && e.peer === peer,
      label,
    );
    assert.equal(store.usage(peer, quota), 1, `${label}: the refused row was rolled back`);
  }
});
