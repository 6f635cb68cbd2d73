/** The console's bounds and words, without a server: clipped texts, page parameters, outcomes. */
import assert from "node:assert/strict";
import { clipJson, clipText } from "../../cli/console/clip.ts";
import { outcomeOf } from "../../cli/console/outcome.ts";
import { CONSOLE_MAX_LIMIT, pageParams } from "../../cli/console/state.ts";
import type { DispatchResult } from "../../lib/router/mod.ts";

const bytes = (s: string) => new TextEncoder().encode(s).length;

Deno.test("clipText keeps at most maxBytes UTF-8 bytes and never splits a character", () => {
  assert.equal(clipText("short", 1024), "short");
  for (const unit of ["a", "é", "€", "🌊"]) {
    const text = unit.repeat(2000);
    for (const max of [16, 17, 18, 19, 1024]) {
      const clipped = clipText(text, max);
      assert.ok(bytes(clipped) <= max, `${unit} ${max}: ${bytes(clipped)}`);
      assert.ok(clipped.endsWith("…"));
      assert.ok(!clipped.includes("\uFFFD"), "no broken character");
      assert.ok(bytes(clipped) > max - 3 - bytes(unit), "nothing more cut than needed");
    }
  }
  assert.equal(clipText("é".repeat(512), 1024), "é".repeat(512), "exactly 1 KiB is kept");
  assert.equal(clipJson({ a: 1 }, 100), '{"a":1}');
  assert.ok(bytes(clipJson({ big: "x".repeat(5000) }, 64)) <= 64);
});

Deno.test("pageParams: a default, a maximum, and no empty or over-long cursor", () => {
  assert.deepEqual(pageParams(new URLSearchParams("")), { after: undefined, limit: 20 });
  assert.deepEqual(pageParams(new URLSearchParams("limit=100&after=12")), {
    after: "12",
    limit: 100,
  });
  for (const q of ["limit=0", `limit=${CONSOLE_MAX_LIMIT + 1}`, "limit=2.5", "limit=x", "after="]) {
    const p = pageParams(new URLSearchParams(q));
    assert.ok("error" in p, q);
  }
  assert.ok("error" in pageParams(new URLSearchParams(`after=${"1".repeat(65)}`)));
});

Deno.test("outcomeOf says what the agent did: delivered, held with its reason, refused, dropped, handled", () => {
  const r = (over: Partial<DispatchResult>): DispatchResult => ({
    status: "handled",
    effects: [],
    replies: [],
    ...over,
  });
  const deliver = {
    type: "deliver" as const,
    delivery: {
      kind: "intent" as const,
      msgId: "m",
      person: "p",
      goal: "request" as const,
      topic: "topic:water",
      priority: "normal" as const,
    },
  };
  assert.deepEqual(outcomeOf(r({ effects: [deliver] })), { status: "delivered" });
  assert.deepEqual(outcomeOf(r({})), { status: "handled" });
  assert.deepEqual(
    outcomeOf(r({ status: "deferred", code: "paced", reason: "slow down", retryAfterMs: 900 })),
    { status: "held", code: "paced", reason: "slow down", retryAfterMs: 900 },
  );
  assert.deepEqual(
    outcomeOf(r({ status: "refused", code: "consent_mismatch", reason: "x".repeat(5000) })).code,
    "consent_mismatch",
  );
  assert.ok(bytes(outcomeOf(r({ status: "refused", reason: "x".repeat(5000) })).reason!) <= 1024);
  assert.deepEqual(outcomeOf(r({ status: "dropped", code: "rate_limited" })), {
    status: "dropped",
    code: "rate_limited",
  });
});
