import assert from "node:assert/strict";
import { ReplayGuard } from "../../lib/envelope/mod.ts";

const FP_A = "a".repeat(64);
const FP_B = "b".repeat(64);
const T0 = Date.parse("2026-11-26T12:00:00.000Z");

Deno.test("ReplayGuard accepts a msg_id once per sender and refuses its reuse", () => {
  const guard = new ReplayGuard();
  assert.equal(guard.check(FP_A, "m1", T0, T0), "accepted");
  assert.equal(guard.check(FP_A, "m1", T0, T0), "duplicate");
  assert.equal(guard.check(FP_A, "m1", T0 + 5, T0 + 10), "duplicate");
  assert.equal(guard.check(FP_B, "m1", T0, T0), "accepted");
  assert.equal(guard.has(FP_A, "m1"), true);
  assert.equal(guard.has(FP_A, "m2"), false);
  assert.equal(guard.size, 2);
  guard.clear();
  assert.equal(guard.size, 0);
  assert.equal(guard.check(FP_A, "m1", T0, T0), "accepted");
});

Deno.test("ReplayGuard forgets pairs older than the window and refuses envelopes that old", () => {
  const guard = new ReplayGuard({ windowMs: 1000, capacity: 10 });
  assert.equal(guard.check(FP_A, "m1", T0, T0), "accepted");
  assert.equal(guard.check(FP_A, "m2", T0 + 500, T0 + 500), "accepted");
  // At T0 + 1200 the first pair is out of the window: forgotten, and its
  // replay is refused by time instead.
  assert.equal(guard.check(FP_A, "m3", T0 + 1200, T0 + 1200), "accepted");
  assert.equal(guard.has(FP_A, "m1"), false);
  assert.equal(guard.size, 2);
  assert.equal(guard.check(FP_A, "m1", T0, T0 + 1200), "expired");
  assert.equal(guard.check(FP_A, "m2", T0 + 500, T0 + 1200), "duplicate");
  // A future-dated envelope is remembered until it too leaves the window.
  assert.equal(guard.check(FP_A, "f", T0 + 5000, T0 + 1200), "accepted");
  assert.equal(guard.check(FP_A, "f", T0 + 5000, T0 + 5900), "duplicate");
});

Deno.test("ReplayGuard evicts the oldest pairs when full and refuses anything at or below the floor", () => {
  const guard = new ReplayGuard({ windowMs: 60_000, capacity: 3 });
  assert.equal(guard.check(FP_A, "m1", T0 + 10, T0), "accepted");
  assert.equal(guard.check(FP_A, "m2", T0 + 20, T0), "accepted");
  assert.equal(guard.check(FP_A, "m3", T0 + 30, T0), "accepted");
  assert.equal(guard.floorMs, -Infinity);
  assert.equal(guard.check(FP_A, "m4", T0 + 40, T0), "accepted");
  assert.equal(guard.size, 3);
  assert.equal(guard.floorMs, T0 + 10);
  // m1 was forgotten, but its replay is still refused by the floor.
  assert.equal(guard.check(FP_A, "m1", T0 + 10, T0), "below_floor");
  // A new message no newer than the oldest remembered one cannot be admitted.
  assert.equal(guard.check(FP_A, "m5", T0 + 20, T0), "below_floor");
  assert.equal(guard.check(FP_A, "m6", T0 + 50, T0), "accepted");
  assert.equal(guard.floorMs, T0 + 20);
  assert.equal(guard.check(FP_A, "m2", T0 + 20, T0), "below_floor");
  assert.equal(guard.check(FP_A, "m3", T0 + 30, T0), "duplicate");
});

Deno.test("ReplayGuard validates its options and arguments", () => {
  assert.throws(() => new ReplayGuard({ windowMs: 0 }), RangeError);
  assert.throws(() => new ReplayGuard({ windowMs: NaN }), RangeError);
  assert.throws(() => new ReplayGuard({ capacity: 0 }), RangeError);
  assert.throws(() => new ReplayGuard({ capacity: 1.5 }), RangeError);
  assert.throws(() => new ReplayGuard().check(FP_A, "m", NaN, T0), TypeError);
});

Deno.test("ReplayGuard under 1,000,000 msg_ids stays within its bound and lets no replay through", () => {
  const capacity = 50_000;
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
    const verdict = guard.check(fp, `m${i}`, tsOf(i), T0 + Math.floor(i / 10));
    if (verdict === "accepted") accepted++;
    else refused++;
    if (guard.size > maxSize) maxSize = guard.size;
    // Replay an earlier message every 97 steps: it must never pass.
    if (i % 97 === 0 && i > 0) {
      const j = i - 1 - ((i * 31) % Math.min(i, 200_000));
      const again = guard.check(
        j % 2 === 0 ? FP_A : FP_B,
        `m${j}`,
        tsOf(j),
        T0 + Math.floor(i / 10),
      );
      assert.notEqual(again, "accepted", `replay of m${j} at step ${i}`);
    }
  }
  assert.ok(maxSize <= capacity, `size ${maxSize} exceeded ${capacity}`);
  assert.equal(guard.size, capacity);
  // Fresh traffic kept flowing: only messages older than the floor (jitter
  // behind the newest evicted one) were refused.
  assert.ok(accepted > total * 0.9, `accepted ${accepted} of ${total}`);
  assert.equal(accepted + refused, total);
  assert.ok(guard.floorMs > T0 && guard.floorMs < tsOf(total - 1));
  assert.equal(guard.check(FP_A, "fresh", tsOf(total - 1) + 30, T0 + total / 10), "accepted");
});
