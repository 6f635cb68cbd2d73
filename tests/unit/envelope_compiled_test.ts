// These tests take envelopes apart and mutate them field by field, so they
// index into them untyped.
// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import fc from "fast-check";
import { z } from "zod";
import {
  canonicalize,
  createEnvelope,
  type Envelope,
  messageTypes,
  type Protocol,
} from "../../lib/envelope/mod.ts";
import { matchesCanonical } from "../../lib/envelope/canonical.ts";
import { ENVELOPE_STRUCTURE, PAYLOADS } from "../../lib/envelope/protocols.ts";
import { compileSchema } from "../../lib/envelope/schema_check.ts";
import { MAX_DEPTH } from "../../lib/envelope/validate.ts";
import { blocksFor, PAYLOAD_ARBITRARIES } from "../fixtures/envelope/samples.ts";
import { alice, bob, now } from "../fixtures/envelope/parties.ts";

const receiver = { agent_id: "bob", fingerprint: bob.fingerprint };
const buildAny = createEnvelope as unknown as (
  protocol: Protocol,
  type: string,
  options: Record<string, unknown>,
) => Promise<Envelope>;
const PAIRS: [Protocol, string][] = (["cip", "hcp", "lip"] as Protocol[]).flatMap((p) =>
  messageTypes(p).map((t) => [p, t] as [Protocol, string])
);
const validPayload = fc.constantFrom(...PAIRS).chain(([protocol, type]) =>
  PAYLOAD_ARBITRARIES[protocol][type]!.map((payload) => ({ protocol, type, payload }))
);

/** What zod says of a value parsed from JSON: accepted unchanged, or not. */
function zodAcceptsUnchanged(schema: z.ZodType, value: unknown): boolean {
  const r = schema.safeParse(value);
  if (!r.success) return false;
  assert.deepEqual(r.data, value, "zod accepted and changed the value");
  return true;
}

/** Random edits of a JSON value: replace, delete or add at a random path. */
const edit = fc.record({
  pick: fc.nat(),
  op: fc.constantFrom("replace", "delete", "add"),
  value: fc.jsonValue({ maxDepth: 2 }),
  key: fc.string({ maxLength: 6 }),
});

function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(at);
  if (v !== null && typeof v === "object") {
    for (const k of Object.keys(v)) {
      paths((v as any)[k], [...at, Array.isArray(v) ? Number(k) : k], out);
    }
  }
  return out;
}

function applyEdit(root: any, e: { pick: number; op: string; value: unknown; key: string }): any {
  const copy = JSON.parse(JSON.stringify(root));
  const all = paths(copy).filter((p) => p.length > 0);
  const path = all[e.pick % all.length]!;
  let parent = copy;
  for (const k of path.slice(0, -1)) parent = parent[k];
  const last = path[path.length - 1]!;
  if (e.op === "replace") parent[last] = e.value;
  else if (e.op === "delete") {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (parent[last] !== null && typeof parent[last] === "object") {
    if (Array.isArray(parent[last])) parent[last].push(e.value);
    else parent[last][e.key] = e.value;
  }
  return JSON.parse(JSON.stringify(copy));
}

Deno.test("Every envelope structure and payload schema compiles to a predicate", () => {
  for (const p of ["cip", "hcp", "lip"] as Protocol[]) {
    assert.notEqual(compileSchema(ENVELOPE_STRUCTURE[p]), null, `${p} structure`);
    for (const t of messageTypes(p)) {
      assert.notEqual(compileSchema((PAYLOADS[p] as any)[t]), null, `${p} ${t}`);
    }
  }
});

Deno.test("Property: the compiled schemas accept every valid envelope, and accept only what zod accepts unchanged", async () => {
  await fc.assert(
    fc.asyncProperty(validPayload, fc.array(edit, { maxLength: 3 }), async (v, edits) => {
      const env = await buildAny(v.protocol, v.type, {
        identity: alice,
        receiver,
        payload: v.payload,
        clock: now,
        ...blocksFor(v.protocol),
      });
      const parsed = JSON.parse(JSON.stringify(env));
      const structure = compileSchema(ENVELOPE_STRUCTURE[v.protocol])!;
      const payload = compileSchema((PAYLOADS[v.protocol] as any)[v.type])!;
      assert.equal(structure(parsed), true);
      assert.equal(payload(parsed.payload), true);
      let mutated = parsed;
      for (const e of edits) mutated = applyEdit(mutated, e);
      // Soundness: a `true` must be zod's answer too, with the value unchanged.
      if (structure(mutated)) {
        assert.ok(zodAcceptsUnchanged(ENVELOPE_STRUCTURE[v.protocol], mutated), "structure");
      }
      if (payload(mutated.payload)) {
        assert.ok(zodAcceptsUnchanged((PAYLOADS[v.protocol] as any)[v.type], mutated.payload));
      }
    }),
    { numRuns: 400 },
  );
});

Deno.test("The compiler gives up on constructs whose output differs from their input, and follows zod on the rest", () => {
  assert.equal(compileSchema(z.string().trim()), null);
  assert.equal(compileSchema(z.object({ a: z.string().default("x") })), null);
  assert.equal(compileSchema(z.string().transform((s) => s.length)), null);
  assert.equal(compileSchema(z.coerce.number()), null);
  // A stripping object answers false for unknown keys (zod would drop them).
  const loose = compileSchema(z.object({ a: z.string() }))!;
  assert.equal(loose({ a: "x" }), true);
  assert.equal(loose({ a: "x", b: 1 }), false);
  // Refinements run through zod's own check code.
  const bytes = compileSchema(
    z.string().refine((s) => new TextEncoder().encode(s).length <= 4),
  )!;
  assert.equal(bytes("abcd"), true);
  assert.equal(bytes("abcé"), false);
  const strict = compileSchema(
    z.strictObject({ n: z.int().min(0).max(3), t: z.tuple([z.string(), z.string()]) }),
  )!;
  assert.equal(strict({ n: 3, t: ["a", "b"] }), true);
  assert.equal(strict({ n: 1.5, t: ["a", "b"] }), false);
  assert.equal(strict({ n: 4, t: ["a", "b"] }), false);
  assert.equal(strict({ n: 1, t: ["a"] }), false);
  assert.equal(strict({ n: 1, t: ["a", "b"], x: 0 }), false);
});

/** JSON texts that may or may not be canonical: canonical ones, and respellings of them. */
const spelled = fc.jsonValue({ maxDepth: 4 }).chain((value) =>
  fc.constantFrom(
    canonicalize(value),
    JSON.stringify(value),
    JSON.stringify(value, null, 1),
    canonicalize(value).replace(/:1([,}\]])/, ":1.0$1"),
    canonicalize(value).replace(/"a"/, '"\\u0061"'),
    canonicalize(value).replace(/(\d)e\+/, "$1E+"),
  ).map((text) => ({ text, value: JSON.parse(text) }))
);

/** Whether an object anywhere in `v` has the key `__proto__` (refused by envelope checks). */
function hasProtoKey(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  if (!Array.isArray(v) && Object.hasOwn(v, "__proto__")) return true;
  return Object.values(v).some(hasProtoKey);
}

Deno.test("Property: matchesCanonical says exactly whether canonicalize(JSON.parse(text)) === text", () => {
  fc.assert(
    fc.property(spelled, ({ text, value }) => {
      const isObject = typeof value === "object" && value !== null && !Array.isArray(value);
      const expected = isObject && !hasProtoKey(value) && canonicalize(value) === text;
      assert.equal(matchesCanonical(value, text, MAX_DEPTH), expected, text);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("matchesCanonical skips the cut member, refuses __proto__ keys and depth, and proves nothing else", () => {
  const text = '{"a":1,"sign":{"x":"y"},"z":[true,null,"\\n"]}';
  const value = JSON.parse(text);
  const at = text.indexOf(',"sign"');
  const end = text.indexOf(',"z"');
  assert.equal(matchesCanonical(value, text, MAX_DEPTH), true);
  assert.equal(
    matchesCanonical(value, text.slice(0, at) + text.slice(end), MAX_DEPTH, {
      at: -1,
      end: -1,
      key: "sign",
    }),
    true,
  );
  assert.equal(matchesCanonical(value, text, MAX_DEPTH, { at, end, key: "sign" }), true);
  // The cut must be where the member is.
  assert.equal(matchesCanonical(value, text, MAX_DEPTH, { at: 1, end, key: "sign" }), false);
  assert.equal(
    matchesCanonical(JSON.parse('{"__proto__":1}'), '{"__proto__":1}', MAX_DEPTH),
    false,
  );
  const deep = "[".repeat(40) + "]".repeat(40);
  assert.equal(matchesCanonical({ d: JSON.parse(deep) }, `{"d":${deep}}`, MAX_DEPTH), false);
  assert.equal(matchesCanonical({ n: -0 }, '{"n":-0}', MAX_DEPTH), false);
  assert.equal(matchesCanonical({ n: -0 }, '{"n":0}', MAX_DEPTH), true);
  assert.equal(matchesCanonical({ b: 1, a: 2 }, '{"a":2,"b":1}', MAX_DEPTH), true);
  assert.equal(matchesCanonical({ "10": 1, "9": 2 }, '{"10":1,"9":2}', MAX_DEPTH), true);
  assert.equal(matchesCanonical({ "10": 1, "9": 2 }, '{"9":2,"10":1}', MAX_DEPTH), false);
});
