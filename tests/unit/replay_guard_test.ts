import assert from "node:assert/strict";
import {
  createEnvelope,
  encodeEnvelope,
  type ReplayEntry,
  replayEntryOf,
  ReplayError,
  ReplayGuard,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { alice, mallory, NOW, now, toBob } from "../fixtures/envelope/parties.ts";

const FP_A = "a".repeat(64);
const FP_B = "b".repeat(64);
const FP_C = "c".repeat(64);
const FP_D = "d".repeat(64);
const T0 = Date.parse("2026-11-26T12:00:00.000Z");

Deno.test("ReplayGuard records a msg_id once per sender and refuses its reuse", () => {
  const guard = new ReplayGuard();
  assert.equal(guard.record(FP_A, "m1", T0, T0), "accepted");
  assert.equal(guard.record(FP_A, "m1", T0, T0), "duplicate");
  assert.equal(guard.record(FP_A, "m1", T0 + 5, T0 + 10), "duplicate");
  assert.equal(guard.record(FP_B, "m1", T0, T0), "accepted");
  assert.equal(guard.has(FP_A, "m1"), true);
  assert.equal(guard.has(FP_A, "m2"), false);
  assert.equal(guard.size, 2);
  assert.equal(guard.senderCount, 2);
  guard.clear();
  assert.equal(guard.size, 0);
  assert.equal(guard.senderCount, 0);
  assert.equal(guard.record(FP_A, "m1", T0, T0), "accepted");
});

Deno.test("ReplayGuard.check changes nothing; record re-checks at commit time", () => {
  const guard = new ReplayGuard({ windowMs: 60_000, capacity: 2 });
  assert.equal(guard.check(FP_A, "m1", T0, T0), "accepted");
  assert.equal(guard.check(FP_A, "m1", T0, T0), "accepted");
  assert.equal(guard.size, 0);
  assert.equal(guard.senderCount, 0);
  assert.equal(guard.has(FP_A, "m1"), false);
  // Two envelopes with the same pair both pass the check; only the first
  // commit records, the second sees the duplicate.
  assert.equal(guard.record(FP_A, "m1", T0, T0), "accepted");
  assert.equal(guard.record(FP_A, "m1", T0, T0), "duplicate");
  // A full sender: check predicts the eviction and floor without causing them.
  assert.equal(guard.record(FP_A, "m2", T0 + 10, T0), "accepted");
  assert.equal(guard.check(FP_A, "m3", T0 + 20, T0), "accepted");
  assert.equal(guard.check(FP_A, "m0", T0 - 5, T0), "below_floor");
  assert.equal(guard.floorOf(FP_A), -Infinity);
  assert.deepEqual(guard.snapshot().map((e) => e.msgId).sort(), ["m1", "m2"]);
  assert.equal(guard.check(FP_A, "m1", T0, T0 + 61_000), "expired");
  assert.equal(guard.has(FP_A, "m1"), true);
});

Deno.test("ReplayGuard forgets pairs older than the window and refuses envelopes that old", () => {
  const guard = new ReplayGuard({ windowMs: 1000, capacity: 10 });
  assert.equal(guard.record(FP_A, "m1", T0, T0), "accepted");
  assert.equal(guard.record(FP_A, "m2", T0 + 500, T0 + 500), "accepted");
  // At T0 + 1200 the first pair is out of the window: forgotten, and its
  // replay is refused by time instead.
  assert.equal(guard.record(FP_A, "m3", T0 + 1200, T0 + 1200), "accepted");
  assert.equal(guard.has(FP_A, "m1"), false);
  assert.equal(guard.size, 2);
  assert.equal(guard.record(FP_A, "m1", T0, T0 + 1200), "expired");
  assert.equal(guard.record(FP_A, "m2", T0 + 500, T0 + 1200), "duplicate");
  // A future-dated envelope is remembered until it too leaves the window.
  assert.equal(guard.record(FP_A, "f", T0 + 5000, T0 + 1200), "accepted");
  assert.equal(guard.record(FP_A, "f", T0 + 5000, T0 + 5900), "duplicate");
  // A msg_id whose first use left the window may be used again.
  assert.equal(guard.record(FP_A, "m2", T0 + 7000, T0 + 7000), "accepted");
});

Deno.test("ReplayGuard evicts a sender's oldest pairs when it is full and raises only that sender's floor", () => {
  const guard = new ReplayGuard({ windowMs: 60_000, capacity: 3 });
  assert.equal(guard.record(FP_A, "m1", T0 + 10, T0), "accepted");
  assert.equal(guard.record(FP_A, "m2", T0 + 20, T0), "accepted");
  assert.equal(guard.record(FP_A, "m3", T0 + 30, T0), "accepted");
  assert.equal(guard.floorOf(FP_A), -Infinity);
  assert.equal(guard.record(FP_A, "m4", T0 + 40, T0), "accepted");
  assert.equal(guard.size, 3);
  assert.equal(guard.floorOf(FP_A), T0 + 10);
  // m1 was forgotten, but its replay is still refused by the floor.
  assert.equal(guard.record(FP_A, "m1", T0 + 10, T0), "below_floor");
  // A new message no newer than the oldest remembered one cannot be admitted.
  assert.equal(guard.record(FP_A, "m5", T0 + 20, T0), "below_floor");
  assert.equal(guard.record(FP_A, "m6", T0 + 50, T0), "accepted");
  assert.equal(guard.floorOf(FP_A), T0 + 20);
  assert.equal(guard.record(FP_A, "m2", T0 + 20, T0), "below_floor");
  assert.equal(guard.record(FP_A, "m3", T0 + 30, T0), "duplicate");
  // Another sender has its own capacity and no floor.
  assert.equal(guard.floorOf(FP_B), -Infinity);
  assert.equal(guard.record(FP_B, "m1", T0 + 1, T0), "accepted");
  assert.equal(guard.record(FP_B, "m2", T0 + 2, T0), "accepted");
  assert.equal(guard.size, 5);
});

Deno.test("ReplayGuard: one sender's 100,000 envelopes stamped now + 119 s never lock out another sender", () => {
  // The reproduced attack on a default guard: one key fills it with
  // future-dated envelopes; before the fix every other sender's fresh
  // envelope was refused until T + 125 s.
  const guard = new ReplayGuard();
  const future = T0 + 119_000;
  for (let i = 0; i < 100_000; i++) {
    guard.record(FP_D, `flood-${i}`, future, T0 + Math.floor(i / 20_000));
  }
  assert.ok(guard.size <= guard.capacity, `size ${guard.size} above ${guard.capacity}`);
  assert.equal(guard.floorOf(FP_A), -Infinity);
  for (let i = 0; i < 1000; i++) {
    assert.equal(guard.record(FP_A, `fresh-${i}`, T0 + 5 + i, T0 + 5 + i), "accepted");
  }
  assert.equal(guard.record(FP_B, "fresh", T0 + 10, T0 + 10), "accepted");
  // The attacker only hurt itself: its own memory is full of future pairs.
  assert.equal(guard.check(FP_D, "later", T0 + 10, T0 + 10), "below_floor");
});

Deno.test("ReplayGuard attack through verifyEnvelope: a flooding key cannot make another sender's fresh envelope look replayed", async () => {
  const guard = new ReplayGuard({ capacity: 16 });
  for (let i = 0; i < 40; i++) {
    const later = () => new Date(NOW.getTime() + 119_000 - 40 + i);
    const flood = await createEnvelope("cip", "STATE_UPDATE", {
      identity: mallory,
      receiver: toBob,
      payload: { presence: "focused", lri: i % 100, ltppeerstate: "probing" },
      clock: later,
    });
    await verifyEnvelope(encodeEnvelope(flood), { now, replayGuard: guard });
  }
  assert.equal(guard.size, 16);
  assert.ok(guard.floorOf(mallory.fingerprint) > NOW.getTime() + 118_000);
  const fresh = await createEnvelope("cip", "STATE_UPDATE", {
    identity: alice,
    receiver: toBob,
    payload: { presence: "focused", lri: 1, ltppeerstate: "probing" },
    clock: now,
  });
  const got = await verifyEnvelope(encodeEnvelope(fresh), { now, replayGuard: guard });
  assert.equal(got.msg_id, fresh.msg_id);
  await assert.rejects(
    verifyEnvelope(encodeEnvelope(fresh), { now, replayGuard: guard }),
    ReplayError,
  );
});

Deno.test("ReplayGuard keeps at most maxSenders senders, least recently recorded forgotten first", () => {
  const guard = new ReplayGuard({ windowMs: 60_000, capacity: 10, maxSenders: 2 });
  assert.equal(guard.record(FP_A, "a1", T0, T0), "accepted");
  assert.equal(guard.record(FP_B, "b1", T0 + 5, T0), "accepted");
  assert.equal(guard.record(FP_A, "a2", T0 + 6, T0), "accepted"); // A is now the most recent
  // C forgets B (least recently recorded), whose pair is still in the window.
  assert.equal(guard.record(FP_C, "c1", T0 + 7, T0), "accepted");
  assert.equal(guard.senderCount, 2);
  assert.equal(guard.has(FP_B, "b1"), false);
  assert.equal(guard.has(FP_A, "a1"), true);
  // B's pair still cannot be replayed: forgotten senders get B's newest as floor.
  assert.equal(guard.floorOf(FP_B), T0 + 5);
  assert.equal(guard.record(FP_B, "b1", T0 + 5, T0), "below_floor");
  // Remembered senders are unaffected by that floor.
  assert.equal(guard.floorOf(FP_A), -Infinity);
  assert.equal(guard.record(FP_A, "a0", T0 + 1, T0), "accepted");
  // A forgotten sender comes back with fresh traffic; it forgets C, and
  // starts with the forgotten senders' floor, now C's newest.
  assert.equal(guard.record(FP_B, "b2", T0 + 8, T0), "accepted");
  assert.equal(guard.has(FP_C, "c1"), false);
  assert.equal(guard.floorOf(FP_B), T0 + 7);
  assert.equal(guard.record(FP_B, "b1", T0 + 5, T0), "below_floor");
  assert.equal(guard.record(FP_C, "c1", T0 + 7, T0), "below_floor");
});

Deno.test("ReplayGuard forgets a sender whose pairs all left the window without raising any floor", () => {
  const guard = new ReplayGuard({ windowMs: 1000, capacity: 10, maxSenders: 2 });
  assert.equal(guard.record(FP_A, "a1", T0, T0), "accepted");
  assert.equal(guard.record(FP_B, "b1", T0 + 1500, T0 + 1500), "accepted");
  assert.equal(guard.record(FP_C, "c1", T0 + 1600, T0 + 1600), "accepted");
  assert.equal(guard.senderCount, 2);
  assert.equal(guard.has(FP_A, "a1"), false);
  assert.equal(guard.floorOf(FP_A), -Infinity);
  assert.equal(guard.record(FP_A, "a1", T0, T0 + 1600), "expired");
});

Deno.test("ReplayGuard keeps at most maxEntries pairs; the sender holding the most gives up its oldest", () => {
  const guard = new ReplayGuard({ windowMs: 60_000, capacity: 8, maxEntries: 10 });
  for (let i = 1; i <= 8; i++) assert.equal(guard.record(FP_A, `a${i}`, T0 + i, T0), "accepted");
  assert.equal(guard.record(FP_B, "b1", T0 + 1, T0), "accepted");
  assert.equal(guard.record(FP_B, "b2", T0 + 2, T0), "accepted");
  assert.equal(guard.size, 10);
  // One more pair: A, holding the most, forgets its oldest; B keeps all.
  assert.equal(guard.record(FP_B, "b3", T0 + 3, T0), "accepted");
  assert.equal(guard.size, 10);
  assert.equal(guard.floorOf(FP_A), T0 + 1);
  assert.equal(guard.floorOf(FP_B), -Infinity);
  assert.equal(guard.record(FP_A, "a1", T0 + 1, T0), "below_floor");
  for (const id of ["b1", "b2", "b3"]) assert.equal(guard.has(FP_B, id), true);
  // A's fresh traffic still passes.
  assert.equal(guard.record(FP_A, "a9", T0 + 9, T0), "accepted");
  // Pairs out of the window are given up before anything in it.
  const later = T0 + 60_005;
  assert.equal(guard.record(FP_C, "c1", later, later), "accepted");
  assert.ok(guard.size <= 10);
  assert.equal(guard.floorOf(FP_C), -Infinity);
});

Deno.test("ReplayGuard.snapshot and restore carry pairs and floors across a restart", () => {
  const guard = new ReplayGuard({ windowMs: 60_000, capacity: 3 });
  // What a store keeps: every recorded pair still inside the window.
  const persisted: ReplayEntry[] = [];
  const commit = (sender: string, msgId: string, ts: number) => {
    if (guard.record(sender, msgId, ts, T0) === "accepted") {
      persisted.push({ sender, msgId, timestampMs: ts });
    }
  };
  for (let i = 1; i <= 5; i++) commit(FP_A, `a${i}`, T0 + i * 10);
  commit(FP_B, "b1", T0 + 3);
  assert.equal(guard.floorOf(FP_A), T0 + 20);

  const reloaded = new ReplayGuard({ windowMs: 60_000, capacity: 3 });
  assert.equal(reloaded.restore([...persisted].reverse(), T0), 6);
  assert.deepEqual(
    reloaded.snapshot().sort((x, y) => x.timestampMs - y.timestampMs),
    guard.snapshot().sort((x, y) => x.timestampMs - y.timestampMs),
  );
  assert.equal(reloaded.floorOf(FP_A), T0 + 20);
  assert.equal(reloaded.check(FP_A, "a1", T0 + 10, T0), "below_floor");
  assert.equal(reloaded.check(FP_A, "a5", T0 + 50, T0), "duplicate");
  assert.equal(reloaded.check(FP_B, "b1", T0 + 3, T0), "duplicate");

  // A snapshot alone restores the pairs; expired ones are skipped.
  const fromSnapshot = new ReplayGuard({ windowMs: 60_000, capacity: 3 });
  assert.equal(fromSnapshot.restore(guard.snapshot(), T0 + 60_010), 3);
  assert.equal(fromSnapshot.has(FP_B, "b1"), false);
  assert.equal(fromSnapshot.check(FP_A, "a4", T0 + 40, T0 + 60_010), "duplicate");

  const bad = new ReplayGuard();
  assert.throws(
    () => bad.restore([{ sender: FP_A, msgId: "x", timestampMs: T0 }, { sender: FP_A } as never]),
    TypeError,
  );
  assert.equal(bad.size, 0);
});

Deno.test("verifyEnvelope with recordReplay: false checks the guard without recording", async () => {
  const env = await createEnvelope("cip", "STATE_UPDATE", {
    identity: alice,
    receiver: toBob,
    payload: { presence: "focused", lri: 3, ltppeerstate: "probing" },
    clock: now,
  });
  const guard = new ReplayGuard();
  const checked = await verifyEnvelope(env, { now, replayGuard: guard, recordReplay: false });
  await verifyEnvelope(env, { now, replayGuard: guard, recordReplay: false });
  assert.equal(guard.size, 0);
  const entry = replayEntryOf(checked);
  assert.deepEqual(entry, {
    sender: alice.fingerprint,
    msgId: env.msg_id,
    timestampMs: NOW.getTime(),
  });
  assert.equal(
    guard.record(entry.sender, entry.msgId, entry.timestampMs, NOW.getTime()),
    "accepted",
  );
  const err = await verifyEnvelope(env, { now, replayGuard: guard, recordReplay: false })
    .catch((e) => e);
  assert.ok(err instanceof ReplayError);
  assert.equal(err.path, "/msg_id");
});

Deno.test("ReplayGuard validates its options and arguments", () => {
  assert.throws(() => new ReplayGuard({ windowMs: 0 }), RangeError);
  assert.throws(() => new ReplayGuard({ windowMs: NaN }), RangeError);
  assert.throws(() => new ReplayGuard({ capacity: 0 }), RangeError);
  assert.throws(() => new ReplayGuard({ capacity: 1.5 }), RangeError);
  assert.throws(() => new ReplayGuard({ maxSenders: 0 }), RangeError);
  assert.throws(() => new ReplayGuard({ maxEntries: -1 }), RangeError);
  assert.throws(() => new ReplayGuard().check(FP_A, "m", NaN, T0), TypeError);
  assert.throws(() => new ReplayGuard().record(FP_A, "m", T0, Infinity), TypeError);
  assert.throws(() => new ReplayGuard().restore([], NaN), TypeError);
});

Deno.test("ReplayGuard under 1,000,000 msg_ids stays within its bounds and lets no replay through", () => {
  const capacity = 25_000;
  const guard = new ReplayGuard({ windowMs: 120_000, capacity });
  const total = 1_000_000;
  // Timestamps advance 0.1 ms per message with jitter (senders' clocks
  // differ), all within the window, so only the capacity bounds memory.
  let maxSize = 0;
  let accepted = 0;
  let refused = 0;
  const tsOf = (i: number) => T0 + Math.floor(i / 10) + ((i * 7919) % 23);
  for (let i = 0; i < total; i++) {
    const fp = i % 2 === 0 ? FP_A : FP_B;
    const verdict = guard.record(fp, `m${i}`, tsOf(i), T0 + Math.floor(i / 10));
    if (verdict === "accepted") accepted++;
    else refused++;
    if (guard.size > maxSize) maxSize = guard.size;
    // Replay an earlier message every 97 steps: it must never pass.
    if (i % 97 === 0 && i > 0) {
      const j = i - 1 - ((i * 31) % Math.min(i, 200_000));
      const again = guard.record(
        j % 2 === 0 ? FP_A : FP_B,
        `m${j}`,
        tsOf(j),
        T0 + Math.floor(i / 10),
      );
      assert.notEqual(again, "accepted", `replay of m${j} at step ${i}`);
    }
  }
  assert.ok(maxSize <= 2 * capacity, `size ${maxSize} exceeded ${2 * capacity}`);
  assert.equal(guard.size, 2 * capacity);
  // Fresh traffic kept flowing: only messages older than the floor (jitter
  // behind the newest evicted one) were refused.
  assert.ok(accepted > total * 0.9, `accepted ${accepted} of ${total}`);
  assert.equal(accepted + refused, total);
  for (const fp of [FP_A, FP_B]) {
    assert.ok(guard.floorOf(fp) > T0 && guard.floorOf(fp) < tsOf(total - 1));
  }
  assert.equal(guard.record(FP_A, "fresh", tsOf(total - 1) + 30, T0 + total / 10), "accepted");
});
