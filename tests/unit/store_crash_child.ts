/**
 * Child process of the store crash test: streams commits into the store at
 * `Deno.args[0]` until killed. Each commit i sets the peer's trust record
 * (maliceCount = i), appends one trust-log entry with three evidence rows,
 * and inserts claim `c-i`; after it commits, the child prints `i`.
 *
 * @module
 */

import { openStore } from "../../lib/store/mod.ts";
import { claim, logEntry, P1, trustRecord } from "./store_records.ts";

const store = openStore(Deno.args[0]!, { quotas: { evidence: 1e9, claims: 1e9 } });
const out = Deno.stdout;
const encoder = new TextEncoder();
for (let i = 1;; i++) {
  const entry = logEntry(P1, i);
  store.commit([
    { kind: "trust.state", record: { ...trustRecord(P1), maliceCount: i } },
    { kind: "trust.log", entry: { ...entry, evidence: [`e-${i}-1`, `e-${i}-2`, `e-${i}-3`] } },
    { kind: "claim.upsert", claim: claim(`c-${i}`, P1) },
  ], { nowMs: i });
  out.writeSync(encoder.encode(`${i}\n`));
}
