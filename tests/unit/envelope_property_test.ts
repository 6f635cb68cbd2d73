// These tests take envelopes apart and mutate them field by field, so they
// index into them untyped.
// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  canonicalize,
  createEnvelope,
  encodeEnvelope,
  type Envelope,
  EnvelopeError,
  messageTypes,
  type Protocol,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { blocksFor, PAYLOAD_ARBITRARIES, SAMPLES } from "../fixtures/envelope/samples.ts";
import { alice, bob, NOW, now } from "../fixtures/envelope/parties.ts";

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

async function build(protocol: Protocol, type: string, payload: unknown): Promise<Envelope> {
  return await buildAny(protocol, type, {
    identity: alice,
    receiver,
    payload,
    clock: now,
    ...blocksFor(protocol),
  });
}

async function outcome(input: unknown): Promise<"pass" | EnvelopeError> {
  try {
    await verifyEnvelope(input, { now });
    return "pass";
  } catch (err) {
    if (err instanceof EnvelopeError) return err;
    throw new Error(`Untyped error ${err}`, { cause: err });
  }
}

Deno.test("Property: a random valid payload of every type builds, serializes, parses and verifies", async () => {
  assert.equal(Object.keys(PAYLOAD_ARBITRARIES.cip).length, 10);
  assert.equal(Object.keys(PAYLOAD_ARBITRARIES.hcp).length, 7);
  assert.equal(Object.keys(PAYLOAD_ARBITRARIES.lip).length, 6);
  await fc.assert(
    fc.asyncProperty(validPayload, async ({ protocol, type, payload }) => {
      const env = await build(protocol, type, payload);
      const wire = encodeEnvelope(env);
      const text = new TextDecoder().decode(wire);
      const back = await verifyEnvelope(wire, { now, expectedReceiver: bob.fingerprint });
      assert.equal(canonicalize(back), text);
      assert.equal(canonicalize(JSON.parse(text)), text);
    }),
    { numRuns: 200 },
  );
});

function allPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...allPaths(v, [...prefix, i])));
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) out.push(...allPaths(v, [...prefix, k]));
  }
  return out;
}

type Mutation =
  | { kind: "replace"; at: number; value: unknown }
  | { kind: "delete"; at: number }
  | { kind: "add"; at: number; key: string; value: unknown };

function mutate(env: Envelope, m: Mutation): unknown {
  const copy = structuredClone(env) as unknown;
  const paths = allPaths(copy);
  const path = paths[m.at % paths.length]!;
  if (m.kind === "replace" && path.length === 0) return m.value;
  let parent: any = copy;
  for (const key of path.slice(0, -1)) parent = parent[key];
  const last = path[path.length - 1];
  if (m.kind === "replace") {
    if (last === undefined) return m.value;
    parent[last] = m.value;
  } else if (m.kind === "delete") {
    if (last === undefined) return {};
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else {
    const target = last === undefined ? copy : parent[last];
    if (Array.isArray(target)) target.push(m.value);
    else if (target !== null && typeof target === "object") {
      (target as Record<string, unknown>)[m.key] = m.value;
    } else if (last !== undefined) parent[last] = { [m.key]: m.value };
  }
  return copy;
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("replace" as const),
    at: fc.nat(),
    value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string(), fc.integer(), fc.double()),
  }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("add" as const),
    at: fc.nat(),
    key: fc.string({ maxLength: 6 }),
    value: fc.jsonValue({ maxDepth: 1 }),
  }),
);

Deno.test("Property: random mutations of valid envelopes give a typed error, never a pass or an untyped exception", async () => {
  const base = await Promise.all(
    PAIRS.map(([p, t]) => build(p, t, (SAMPLES[p] as unknown as Record<string, unknown>)[t])),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...base), mutation, async (env, m) => {
      const mutated = mutate(env, m);
      const result = await outcome(mutated);
      let same = false;
      try {
        same = canonicalize(mutated) === canonicalize(env);
      } catch {
        same = false;
      }
      if (same) assert.equal(result, "pass");
      else {
        assert.notEqual(result, "pass", `mutation ${JSON.stringify(m)} passed`);
        assert.ok(result instanceof EnvelopeError);
        assert.ok(
          typeof result.path === "string" && (result.path === "" || result.path.startsWith("/")),
        );
      }
    }),
    { numRuns: 300 },
  );
});

Deno.test("Property: random JSON, random values and random bytes never verify and always give a typed error", async () => {
  const envelopeLike = fc.record({
    cip: fc.oneof(fc.constant("1.0"), fc.jsonValue({ maxDepth: 0 })),
    msg_id: fc.oneof(fc.uuid({ version: 4 }), fc.string()),
    type: fc.constantFrom("HELLO", "STATE_UPDATE", "X"),
    timestamp: fc.oneof(fc.constant(NOW.toISOString()), fc.string()),
    sender: fc.jsonValue({ maxDepth: 2 }),
    receiver: fc.jsonValue({ maxDepth: 2 }),
    payload: fc.jsonValue({ maxDepth: 2 }),
    sign: fc.jsonValue({ maxDepth: 1 }),
  }, { requiredKeys: [] });
  const input = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.anything({
      maxDepth: 3,
      withBigInt: true,
      withDate: true,
      withMap: true,
      withNullPrototype: true,
    }),
    fc.uint8Array({ maxLength: 200 }),
    fc.string(),
    envelopeLike,
  );
  await fc.assert(
    fc.asyncProperty(input, async (value) => {
      const result = await outcome(value);
      assert.notEqual(result, "pass");
    }),
    { numRuns: 500 },
  );
});
