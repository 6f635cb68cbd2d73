import assert from "node:assert/strict";
import fc from "fast-check";
import {
  createEnvelope,
  encodeEnvelope,
  InvalidEnvelopeError,
  type JsonValue,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { toJsonPointer } from "../../lib/envelope/canonical.ts";
import { findDuplicateKey, parseJsonExact, parseJsonText } from "../../lib/envelope/json_text.ts";
import { SAMPLES } from "../fixtures/envelope/samples.ts";
import { alice, now, toBob } from "../fixtures/envelope/parties.ts";

// ---- random JSON text with possibly repeated keys ---------------------------

/** A JSON value whose objects are lists of members, so a key may repeat. */
type Tree =
  | { t: "lit"; v: JsonValue }
  | { t: "arr"; items: Tree[] }
  | { t: "obj"; members: [string, Tree][] };

// Few distinct keys, so repeats are common; some need escapes, some are
// astral, one is empty.
const key = fc.constantFrom("a", "b", "ab", "payload", "", '"', "\\", "é", "\u0000", "😀", "a\nb");
const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
    ).map((v) => ({ t: "lit" as const, v })),
    fc.array(tie("tree"), { maxLength: 4 }).map((items) => ({ t: "arr" as const, items })),
    fc.array(fc.tuple(key, tie("tree")), { maxLength: 5 }).map((members) => ({
      t: "obj" as const,
      members,
    })),
  ),
}));

/** Serializes with white space and key escapes chosen by `choices`. */
function render(node: Tree, choices: number[]): string {
  let at = 0;
  const next = () => choices[at++ % choices.length]!;
  const spaces = ["", "", " ", "\n", "\t", "\r\n  "];
  const ws = () => spaces[next() % spaces.length]!;
  const str = (s: string) => {
    let out = '"';
    for (let i = 0; i < s.length; i++) {
      const u = s.charCodeAt(i);
      out += next() % 3 === 0
        ? `\\u${u.toString(16).padStart(4, "0")}`
        : JSON.stringify(String.fromCharCode(u)).slice(1, -1);
    }
    return out + '"';
  };
  const go = (n: Tree): string => {
    if (n.t === "lit") return typeof n.v === "string" ? str(n.v) : JSON.stringify(n.v);
    if (n.t === "arr") return `[${ws()}${n.items.map((x) => go(x) + ws()).join(`,${ws()}`)}]`;
    return `{${ws()}${
      n.members.map(([k, v]) => `${str(k)}${ws()}:${ws()}${go(v)}${ws()}`).join(`,${ws()}`)
    }}`;
  };
  return ws() + go(node) + ws();
}

/** The first repeated key in document order, by walking the tree. */
function firstRepeat(node: Tree, path: (string | number)[] = []): string | null {
  if (node.t === "arr") {
    for (let i = 0; i < node.items.length; i++) {
      const found = firstRepeat(node.items[i]!, [...path, i]);
      if (found !== null) return found;
    }
  } else if (node.t === "obj") {
    const seen = new Set<string>();
    for (const [k, v] of node.members) {
      if (seen.has(k)) return toJsonPointer([...path, k]);
      seen.add(k);
      const found = firstRepeat(v, [...path, k]);
      if (found !== null) return found;
    }
  }
  return null;
}

/** Whether JSON.parse's result lost members (only repeated keys make it do so). */
function parseLostMembers(node: Tree, parsed: unknown): boolean {
  if (node.t === "arr") {
    return node.items.some((x, i) => parseLostMembers(x, (parsed as unknown[])[i]));
  }
  if (node.t === "obj") {
    const obj = parsed as Record<string, unknown>;
    if (Object.keys(obj).length < node.members.length) return true;
    return node.members.some(([k, v]) => parseLostMembers(v, obj[k]));
  }
  return false;
}

Deno.test("Property: findDuplicateKey finds the first repeated key of random JSON with escapes and white space", () => {
  fc.assert(
    fc.property(tree, fc.array(fc.nat(), { minLength: 1, maxLength: 97 }), (node, choices) => {
      const text = render(node, choices);
      JSON.parse(text); // the text is valid JSON
      const parsed = parseJsonExact(text);
      const found = findDuplicateKey(text);
      const expected = firstRepeat(node);
      assert.equal(found?.path ?? null, expected, text);
      // Parsing drops members exactly when a key repeats.
      assert.equal(parseLostMembers(node, parsed), expected !== null, text);
    }),
    { numRuns: 3000 },
  );
});

// Keys that need escapes, so that JSON.parse's escaped-key path is exercised.
const value = fc.letrec<{ v: JsonValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small" },
    fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<JsonValue>,
    fc.array(tie("v"), { maxLength: 4 }),
    fc.dictionary(fc.oneof(key, fc.string({ maxLength: 4 })), tie("v"), { maxKeys: 5 }),
  ),
})).v;

/** `v` with -0 as 0, as serializing and parsing give it. */
function noNegativeZero(v: JsonValue): JsonValue {
  if (typeof v === "number") return Object.is(v, -0) ? 0 : v;
  if (Array.isArray(v)) return v.map(noNegativeZero);
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, JsonValue> = {};
  for (const [k, x] of Object.entries(v)) {
    Object.defineProperty(out, k, {
      value: noNegativeZero(x),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

Deno.test("Property: on JSON.stringify output of random values, no repeated key, and parseJsonText and parseJsonExact return the value", () => {
  fc.assert(
    fc.property(value, fc.constantFrom(undefined, 0, 2, "\t"), (v, indent) => {
      const text = JSON.stringify(v, null, indent);
      assert.equal(findDuplicateKey(text), null);
      // Not JSON.parse(text): in a primed isolate it misreads escaped keys.
      const expected = noNegativeZero(v);
      assert.deepEqual(parseJsonExact(text), expected);
      assert.deepEqual(parseJsonText(text).value, expected);
    }),
    { numRuns: 3000 },
  );
});

Deno.test("parseJsonText reads escaped keys right even after JSON.parse was primed to misread them", () => {
  // Deno 2.9.6 / V8 15.0: after this parse, JSON.parse reads the escaped
  // second key of the same shape as "\\".
  JSON.parse('{"x\\"y":0,"\\\\":1}');
  const text = '{"x\\"y":0,"\\"":1}';
  const got = parseJsonText(text).value as Record<string, number>;
  assert.deepEqual(Object.keys(got), ['x"y', '"']);
  assert.deepEqual(parseJsonExact('{"__proto__":{"a":[1,-0,2e3,"\\u0041"]},"b":[[],{}]}'), {
    ["__proto__"]: { a: [1, -0, 2000, "A"] },
    b: [[], {}],
  });
});

Deno.test("findDuplicateKey handles large and deep texts in one pass", () => {
  const many = `{${Array.from({ length: 50_000 }, (_, i) => `"k${i}":${i}`).join(",")},"k49999":0}`;
  assert.deepEqual(findDuplicateKey(many), { key: "k49999", path: "/k49999" });
  const deep = "[".repeat(10_000) + '{"a":1,"a":2}' + "]".repeat(10_000);
  assert.equal(findDuplicateKey(deep)?.path, "/0".repeat(9_999) + "/0/a");
  const escapes = JSON.stringify({ s: '\\"'.repeat(50_000), t: 1 });
  assert.equal(findDuplicateKey(escapes), null);
  // State from an earlier scan does not leak into the next one.
  assert.equal(findDuplicateKey('[{"a":1},{"a":1},[{"b":[]},{"b":{}}]]'), null);
});

// ---- verifyEnvelope -------------------------------------------------------

const env = await createEnvelope("cip", "STATE_UPDATE", {
  identity: alice,
  receiver: toBob,
  payload: SAMPLES.cip.STATE_UPDATE,
  clock: now,
});
const wire = new TextDecoder().decode(encodeEnvelope(env));

async function refusal(text: string, path: string): Promise<void> {
  for (const input of [text, new TextEncoder().encode(text)]) {
    const err = await verifyEnvelope(input, { now }).catch((e: unknown) => e);
    assert.ok(err instanceof InvalidEnvelopeError, `expected InvalidEnvelopeError, got ${err}`);
    assert.equal(err.path, path);
    assert.match(err.message, /twice in one object/);
  }
}

Deno.test("verifyEnvelope refuses a validly signed wire carrying a second payload key", async () => {
  // The reproduced attack: the signed payload comes last, so JSON.parse keeps
  // it and the signature verifies; a first-wins reader would act on the other.
  const forged = wire.replace('"payload":', '"payload":{"presence":"overloaded"},"payload":');
  assert.deepEqual(JSON.parse(forged), env);
  await refusal(forged, "/payload");
  // The same key spelled with an escape is the same key.
  await refusal(wire.replace('"payload":', '"p\\u0061yload":{},"payload":'), "/payload");
});

Deno.test("verifyEnvelope refuses repeated keys at any depth", async () => {
  await refusal(
    wire.replace('"pubkey":', `"pubkey":"${alice.publicKeyBase64}","pubkey":`),
    "/sender/pubkey",
  );
  await refusal(wire.replace('"lri":35', '"lri":35,"lri":35'), "/payload/lri");
  await refusal(wire.replace('"sign":{', '"sign":{"algo":"ed25519",'), "/sign/algo");
  await refusal(
    wire.replace('"kernel_signals":[', '"kernel_signals":[{"x":1,"x":1},'),
    "/payload/kernel_signals/0/x",
  );
});

Deno.test("verifyEnvelope accepts insignificant white space (the signature covers the canonical form)", async () => {
  for (const indent of [1, 2, "\t"]) {
    const pretty = JSON.stringify(JSON.parse(wire), null, indent);
    const got = await verifyEnvelope(pretty, { now });
    assert.deepEqual(got, env);
  }
});

Deno.test("verifyEnvelope keeps an honest envelope with escaped keys valid after a peer primed JSON.parse to misread them", async () => {
  const intent = await createEnvelope("cip", "INTENT", {
    identity: alice,
    receiver: toBob,
    payload: { goal: "ask", topic: "keys", priority: "low", context: { "\u0001": 0, '"': 1 } },
    clock: now,
  });
  // Another envelope (or anything in this isolate) parsed this shape first.
  JSON.parse('{"\\u0001":0,"\\\\":1}');
  const got = await verifyEnvelope(encodeEnvelope(intent), { now });
  assert.deepEqual(got.payload, intent.payload);
});
