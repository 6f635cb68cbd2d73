/**
 * The malice judgement (`lib/cip/malice.ts`), table-tested: what a report's
 * verified evidence shows, against what the judging node accepted.
 */
import assert from "node:assert/strict";
import {
  type AcceptedFact,
  judgeMalice,
  knowableOf,
  type MaliceVerdict,
} from "../../lib/cip/malice.ts";
import type { FactProposePayload } from "../../lib/envelope/mod.ts";

const TRACE = {
  decision_id: "0b5a4f4e-2d7c-4b8e-9a41-6f0d8c1e2a3b",
  steps: ["sampled"],
  evidence: ["lab report"],
};

/** A proposal about `subject` (none when undefined) with `value`, in `domain`. */
function proposal(
  value: unknown,
  options: { subject?: string | undefined; domain?: string; contradicts?: string[] } = {},
): FactProposePayload {
  const subject = "subject" in options ? options.subject : "station7.nitrate";
  return {
    fact: {
      statement: `Nitrate is ${value}`,
      domain: options.domain ?? "water",
      confidence: 0.9,
      sources: [],
      ...(subject === undefined ? {} : { context: { subject, value: value as number } }),
    },
    dmp_trace: TRACE,
    ...(options.contradicts === undefined
      ? {}
      : { causal_links: options.contradicts.map((ref) => ({ relation: "contradicts", ref })) }),
  };
}

/** Accepted knowledge: a list of (id, proposal) the lookup serves by domain and subject. */
function knowledge(...facts: [string, FactProposePayload][]) {
  const calls: string[] = [];
  const lookup = (domain: string, subject: string): AcceptedFact[] => {
    calls.push(`${domain}/${subject}`);
    return facts.map(([id, p]) => knowableOf(id, p))
      .filter((k) => k.fact.domain === domain && k.subject === subject)
      .map(({ contradicts: _c, ...k }) => k);
  };
  return { lookup, calls };
}

const CASES: {
  name: string;
  claims: [string, FactProposePayload][];
  accepted?: [string, FactProposePayload][];
  want: MaliceVerdict;
}[] = [
  {
    name: "two claims on one subject with different values",
    claims: [["m1", proposal(12)], ["m2", proposal(50)]],
    want: "proven_malice",
  },
  {
    name: "a claim that says it contradicts another of the same signer (no subject)",
    claims: [["m1", proposal(1, { subject: undefined })], [
      "m2",
      proposal(2, { subject: undefined, contradicts: ["m1"] }),
    ]],
    want: "proven_malice",
  },
  {
    name: "two claims that agree",
    claims: [["m1", proposal(12)], ["m2", proposal(12)]],
    want: "none",
  },
  {
    name: "the same claim twice (one id) is no contradiction",
    claims: [["m1", proposal(12)], ["m1", proposal(50)]],
    want: "none",
  },
  {
    name: "one claim against accepted knowledge with another value",
    claims: [["m1", proposal(50)]],
    accepted: [["k1", proposal(12)]],
    want: "conflict",
  },
  {
    name: "one claim that agrees with accepted knowledge",
    claims: [["m1", proposal(12)]],
    accepted: [["k1", proposal(12)]],
    want: "none",
  },
  {
    name: "accepted knowledge of another domain does not count",
    claims: [["m1", proposal(50)]],
    accepted: [["k1", proposal(12, { domain: "air" })]],
    want: "none",
  },
  {
    name: "a claim without a subject never conflicts with knowledge implicitly",
    claims: [["m1", proposal(50, { subject: undefined })]],
    accepted: [["k1", proposal(12)]],
    want: "none",
  },
  {
    name: "self-contradiction wins over a conflict with knowledge",
    claims: [["m1", proposal(50)], ["m2", proposal(51)]],
    accepted: [["k1", proposal(12)]],
    want: "proven_malice",
  },
  { name: "no evidence at all", claims: [], want: "none" },
];

for (const c of CASES) {
  Deno.test(`judgeMalice: ${c.name} -> ${c.want}`, () => {
    const claims = c.claims.map(([id, p]) => knowableOf(id, p));
    assert.equal(judgeMalice(claims, knowledge(...(c.accepted ?? [])).lookup), c.want);
  });
}

Deno.test("judgeMalice asks for knowledge only about the claims' own domain and subject", () => {
  const k = knowledge(["k1", proposal(12)]);
  judgeMalice([
    knowableOf("m1", proposal(50)),
    knowableOf("m2", proposal(1, { subject: undefined })),
  ], k.lookup);
  assert.deepEqual(k.calls, ["water/station7.nitrate"]);
});

Deno.test("knowableOf reads subject and canonical value from the context, and only contradicts links", () => {
  const p = proposal({ mg: 12, at: "noon" });
  p.causal_links = [
    { relation: "supports", ref: "x" },
    { relation: "contradicts", ref: "m0" },
    { relation: "contradicts", ref: "m0" },
    "free text",
  ];
  const k = knowableOf("m1", p);
  assert.equal(k.id, "m1");
  assert.equal(k.subject, "station7.nitrate");
  assert.equal(k.valueCanon, '{"at":"noon","mg":12}', "canonical JSON (RFC 8785 key order)");
  assert.deepEqual(k.contradicts, ["m0"]);
  const bare = knowableOf("m2", proposal(1, { subject: undefined }));
  assert.equal(bare.subject, undefined);
  assert.equal(bare.valueCanon, undefined);
  assert.deepEqual(bare.contradicts, []);
});

Deno.test("judgeMalice with counts: a contradiction counts only when one of its claims counts (e.g. signed after the owner's override)", () => {
  const a = knowableOf("a", proposal(12));
  const b = knowableOf("b", proposal(50));
  const c = knowableOf("c", proposal(51));
  const accepted = (): AcceptedFact[] => [knowableOf("k", proposal(12))];
  const none = (): AcceptedFact[] => [];
  const after = (ids: string[]) => ({ counts: (k: { id: string }) => ids.includes(k.id) });
  const cases: [MaliceVerdict, MaliceVerdict][] = [
    [judgeMalice([b, c], none, after([])), "none"],
    [judgeMalice([b, c], none, after(["c"])), "proven_malice"],
    [judgeMalice([b], accepted, after([])), "none"],
    [judgeMalice([b], accepted, after(["b"])), "conflict"],
    [judgeMalice([a, b], none, after(["a"])), "proven_malice"],
  ];
  for (const [got, want] of cases) assert.equal(got, want);
});
