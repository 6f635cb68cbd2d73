/**
 * Child process of the store crash test: streams commits into the store at
 * `Deno.args[0]` until killed. Each change list i sets the peer's trust
 * record (maliceCount = i), appends one trust-log entry with three evidence
 * rows, and inserts claim `c-i`. With `Deno.args[1] === "batch"`, four lists
 * go in each `commitBatch`; otherwise one per `commit`. After each commit
 * the child prints the last i.
 *
 * @module
 */

import { openStore, type StoreChange } from "../../lib/store/mod.ts";
import { claim, logEntry, P1, trustRecord } from "./store_records.ts";

const store = openStore(Deno.args[0]!, { quotas: { evidence: 1e9, claims: 1e9 } });
const group = Deno.args[1] === "batch" ? 4 : 1;
const encoder = new TextEncoder();
const list = (i: number): StoreChange[] => [
  { kind: "trust.state", record: { ...trustRecord(P1), maliceCount: i } },
  {
    kind: "trust.log",
    entry: { ...logEntry(P1, i), evidence: [`e-${i}-1`, `e-${i}-2`, `e-${i}-3`] },
  },
  { kind: "claim.upsert", claim: claim(`c-${i}`, P1) },
];
for (let i = 1;; i += group) {
  const lists = Array.from({ length: group }, (_, k) => list(i + k));
  if (group === 1) store.commit(lists[0]!, { nowMs: i });
  else store.commitBatch(lists, { nowMs: i });
  Deno.stdout.writeSync(encoder.encode(`${i + group - 1}\n`));
}
