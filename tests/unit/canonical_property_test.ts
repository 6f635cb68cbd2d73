import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalize } from "../../lib/envelope/mod.ts";
import { checkJsonValue } from "../../lib/envelope/canonical.ts";

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
