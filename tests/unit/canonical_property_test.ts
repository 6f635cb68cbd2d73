import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalize } from "../../lib/envelope/mod.ts";
import { checkJsonValue, checkParsedJsonValue } from "../../lib/envelope/canonical.ts";

Deno.test("Property: canonicalize keeps the JSON value, is idempotent, and has no insignificant white space", () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
      const text = canonicalize(value);
      const parsed = JSON.parse(text);
      assert.deepEqual(parsed, JSON.parse(JSON.stringify(value)));
      assert.equal(canonicalize(parsed), text);
      assert.ok(!/\s/.test(text.replace(/"(?:[^"\\]|\\.)*"/g, '""')));
    }),
    { numRuns: 300 },
  );
});

Deno.test("Property: checkJsonValue's running size never exceeds the real canonical size", () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
      const bytes = new TextEncoder().encode(canonicalize(value)).length;
      assert.equal(checkJsonValue(value, { maxBytes: bytes }), null);
    }),
    { numRuns: 300 },
  );
});

Deno.test("Property: canonical text of an object lists its keys in UTF-16 code unit order", () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ unit: "binary-ascii" }), fc.integer(), { maxKeys: 8 }),
      (obj) => {
        const text = canonicalize(obj);
        const keys = Object.keys(obj).sort();
        const expected = `{${keys.map((k) => `${JSON.stringify(k)}:${obj[k]}`).join(",")}}`;
        assert.equal(text, expected);
      },
    ),
    { numRuns: 300 },
  );
});

// JSON text with the things a parsed value can still carry that JSON data
// cannot: lone surrogates (escaped), "__proto__" keys, overflowing numbers,
// and deep nesting. Objects are lists of [key, value] so that "__proto__"
// stays an ordinary key until JSON.parse makes it an own property.
type _Node = null | boolean | string | number | { raw: string } | _Node[] | {
  members: [string, _Node][];
};
const _jsonText = (node: _Node): string => {
  if (node === null || typeof node !== "object") return JSON.stringify(node);
  if (Array.isArray(node)) return `[${node.map(_jsonText).join(",")}]`;
  if ("raw" in node) return node.raw;
  return `{${node.members.map(([k, v]) => `${JSON.stringify(k)}:${_jsonText(v)}`).join(",")}}`;
};
const _key = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.constantFrom("__proto__", "\ud800", "a\udc00b", "sign", "payload"),
);
const _tree = fc.letrec<{ node: _Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom<_Node>(null, true, false, 0, -1.5, 1e21, "", "\ud83d"),
    fc.string({ maxLength: 6 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom<_Node>({ raw: "1e400" }, { raw: "-1e999" }, { raw: '"\\ud800"' }),
    fc.array(tie("node"), { maxLength: 4 }),
    fc.array(fc.tuple(_key, tie("node")), { maxLength: 4 }).map((members) => ({ members })),
  ),
})).node;

Deno.test("Property: checkParsedJsonValue gives exactly checkJsonValue's answer on parsed JSON", () => {
  fc.assert(
    fc.property(
      _tree,
      fc.integer({ min: 0, max: 8 }),
      fc.boolean(),
      (node, maxDepth, rejectProtoKeys) => {
        // JSON.stringify writes lone surrogates as escapes; parsing restores them.
        const value = JSON.parse(_jsonText(node));
        const unlimited = { maxDepth, rejectProtoKeys };
        assert.deepEqual(checkParsedJsonValue(value, unlimited), checkJsonValue(value, unlimited));
        // Every size limit up to past the value's size, so each boundary is hit.
        for (let maxBytes = 0; maxBytes <= 160; maxBytes++) {
          const limits = { maxDepth, maxBytes, rejectProtoKeys };
          assert.deepEqual(checkParsedJsonValue(value, limits), checkJsonValue(value, limits));
        }
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("checkParsedJsonValue finds lone surrogates, __proto__ keys, overflow and depth in parsed JSON", () => {
  const limits = { maxDepth: 3, rejectProtoKeys: true };
  const cases: [string, string | null][] = [
    ['{"a":["x","\\ud800"]}', "/a/1"],
    ['{"a":{"\\udc00":1}}', "/a/\udc00"],
    ['{"b":{"__proto__":{}}}', "/b/__proto__"],
    ['{"n":[1,1e400]}', "/n/1"],
    ['{"a":{"b":{"c":{}}}}', "/a/b/c"],
    ['{"a":{"b":{"c":1}}}', null],
  ];
  for (const [text, path] of cases) {
    const value = JSON.parse(text);
    const got = checkParsedJsonValue(value, limits);
    assert.deepEqual(got, checkJsonValue(value, limits), text);
    assert.equal(got?.path ?? null, path, text);
  }
});
