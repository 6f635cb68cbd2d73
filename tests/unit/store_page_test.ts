/** Paged reads of the claim ledger and the LIP queue (what the console lists). */
import assert from "node:assert/strict";
import { type ClaimStatus, MAX_PAGE_LIMIT, openStore, type Page } from "../../lib/store/mod.ts";
import { claim, lipItem } from "./store_records.ts";

const P = "ab".repeat(32);

function all<T>(read: (after: string | undefined) => Page<T>): { items: T[]; pages: number } {
  const items: T[] = [];
  let after: string | undefined;
  let pages = 0;
  for (;;) {
    const page = read(after);
    pages++;
    items.push(...page.items);
    if (page.next === null) return { items, pages };
    after = page.next;
  }
}

Deno.test("Store claimsPage: one status, first-stored order, every claim once across pages; a status change keeps its place", () => {
  using store = openStore(":memory:");
  const statuses: ClaimStatus[] = ["pending", "accepted"];
  store.commit(
    Array.from({ length: 25 }, (_, i) => ({
      kind: "claim.upsert" as const,
      claim: { ...claim(`c-${String(i).padStart(2, "0")}`, P), status: statuses[i % 2]! },
    })),
    { nowMs: 10 },
  );
  const pending = all((after) => store.claimsPage("pending", { after, limit: 5 }));
  assert.equal(pending.pages, 3);
  assert.deepEqual(
    pending.items.map((c) => c.id),
    Array.from({ length: 13 }, (_, i) => `c-${String(i * 2).padStart(2, "0")}`),
  );
  assert.deepEqual(store.claimsPage("disputed", { limit: 5 }), { items: [], next: null });
  const exact = store.claimsPage("accepted", { limit: 12 });
  assert.equal(exact.items.length, 12);
  assert.equal(exact.next, null, "no empty page after an exact fit");
  // Updating a claim's status does not move it in its new list's order.
  store.commit([{ kind: "claim.upsert", claim: { ...claim("c-00", P), status: "accepted" } }]);
  assert.equal(store.claimsPage("accepted", { limit: 1 }).items[0]?.id, "c-00");
});

Deno.test("Store lipItemsPage pages the LIP queue; bad limits and cursors are RangeErrors", () => {
  using store = openStore(":memory:");
  store.commit(
    Array.from(
      { length: 7 },
      (_, i) => ({ kind: "lip.upsert" as const, item: lipItem(`l-${i}`, P) }),
    ),
    { nowMs: 10 },
  );
  const got = all((after) => store.lipItemsPage("pending", { after, limit: 3 }));
  assert.deepEqual(got.items.map((i) => i.id), ["l-0", "l-1", "l-2", "l-3", "l-4", "l-5", "l-6"]);
  assert.equal(got.pages, 3);
  for (const limit of [0, -1, 1.5, MAX_PAGE_LIMIT + 1, NaN]) {
    assert.throws(() => store.lipItemsPage("pending", { limit }), RangeError, String(limit));
  }
  for (const after of ["", "x", "-1", "1e3", "9".repeat(16)]) {
    assert.throws(() => store.claimsPage("pending", { after, limit: 1 }), RangeError, after);
  }
});
