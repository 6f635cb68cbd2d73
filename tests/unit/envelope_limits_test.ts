// These tests set fields by JSON Pointer in envelopes built from samples,
// so they index into them untyped.
// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  createEnvelope,
  type Envelope,
  EnvelopeError,
  envelopeJsonSchema,
  messageTypes,
  type Protocol,
  SCHEMA_LIMITS,
  signEnvelope,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { LIMITS_FILE, renderLimitsDoc } from "../../lib/envelope/json_schema.ts";
import { fitsUtf8, truncateUtf8, utf8ByteLength } from "../../lib/observability/utf8.ts";
import { blocksFor, SAMPLES } from "../fixtures/envelope/samples.ts";
import { alice, bob, now, toBob } from "../fixtures/envelope/parties.ts";

// ---- strings of an exact UTF-8 size, with multi-byte characters -------------

const _BY_SIZE: Record<1 | 2 | 3 | 4, string[]> = {
  1: ["a", "Z", "0", "~"],
  2: ["é", "ß", "Ж", "ש"],
  3: ["€", "中", "あ", "\u2028"],
  4: ["😀", "𝄞", "𠀋", "🦀"],
};

/**
 * A string of exactly `bytes` UTF-8 bytes, mostly multi-byte characters
 * (so it is far shorter in UTF-16 units than in bytes and only the byte
 * count can refuse it), ending in a character of `lastSize` bytes.
 */
function exactBytes(bytes: number, seed: number[], lastSize: 1 | 2 | 3 | 4): string {
  let out = "";
  let used = 0;
  let i = 0;
  const target = bytes - lastSize;
  while (used < target) {
    const want = (2 + (seed[i % seed.length]! % 3)) as 2 | 3 | 4;
    const size = (Math.min(want, target - used)) as 1 | 2 | 3 | 4;
    const pool = _BY_SIZE[size];
    out += pool[(seed[(i + 1) % seed.length]! >>> 2) % pool.length]!;
    used += size;
    i += 1;
  }
  return out + _BY_SIZE[lastSize][i % 4]!;
}

const sizedText = (bytes: number) =>
  fc.tuple(
    fc.array(fc.nat(), { minLength: 1, maxLength: 16 }),
    fc.constantFrom<1 | 2 | 3 | 4>(1, 2, 3, 4),
  ).map(([seed, last]) => exactBytes(bytes, seed, last));

Deno.test("exactBytes makes strings of the exact UTF-8 size (the generator the boundary tests use)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 4, max: 3000 }),
      fc.array(fc.nat(), { minLength: 1, maxLength: 16 }),
      fc.constantFrom<1 | 2 | 3 | 4>(1, 2, 3, 4),
      (n, seed, last) => {
        const s = exactBytes(n, seed, last);
        assert.equal(new TextEncoder().encode(s).length, n);
        assert.ok(s.isWellFormed());
        assert.ok(s.length < n, "multi-byte characters");
      },
    ),
  );
});

// ---- every bounded field of every type, found in the JSON Schemas ----------

type _Field = { protocol: Protocol; type: string; path: string[]; max: number; kind: string };

function _walk(
  node: any,
  path: string[],
  into: _Field[],
  at: Omit<_Field, "path" | "max" | "kind">,
) {
  if (node["x-maxJsonBytes"] !== undefined) {
    into.push({ ...at, path, max: node["x-maxJsonBytes"], kind: "freeForm" });
    return;
  }
  if (node["x-maxUtf8Bytes"] !== undefined) {
    into.push({ ...at, path, max: node["x-maxUtf8Bytes"], kind: "bytes" });
  }
  if (node.type === "array" && node.maxItems !== undefined) {
    into.push({ ...at, path, max: node.maxItems, kind: "items" });
  }
  if (node.type === "array" && node.items !== undefined) {
    _walk(node.items, [...path, "0"], into, at);
  }
  for (const [k, v] of Object.entries(node.properties ?? {})) _walk(v, [...path, k], into, at);
}

const FIELDS: _Field[] = [];
for (const protocol of ["cip", "hcp", "lip"] as const) {
  const schema = envelopeJsonSchema(protocol) as { oneOf: any[] };
  for (const member of schema.oneOf) {
    const type = member.properties.type.const as string;
    for (const [k, v] of Object.entries(member.properties)) {
      _walk(v, [k], FIELDS, { protocol, type });
    }
  }
}

async function base(protocol: Protocol, type: string): Promise<Record<string, any>> {
  const blocks = blocksFor(protocol) as Record<string, any>;
  const env = await createEnvelope(protocol as "cip", type as "ERROR", {
    identity: alice,
    receiver: toBob,
    payload: structuredClone((SAMPLES as any)[protocol][type]),
    clock: now,
    ...blocks,
  } as any);
  const { sign: _sign, ...unsigned } = structuredClone(env) as any;
  // Every optional block present, so a header path can be set.
  if (protocol !== "lip") unsigned.state ??= structuredClone(blocks.state);
  if (protocol === "lip") unsigned.source ??= structuredClone(blocks.source);
  return unsigned;
}

/** Sets `value` at `path` (creating objects; `"0"` in an array sets its first item). */
function setAt(root: Record<string, any>, path: string[], value: unknown): void {
  let node: any = root;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    if (node[key] === undefined || node[key] === null) node[key] = path[i + 1] === "0" ? [] : {};
    node = node[key];
  }
  node[path.at(-1)!] = value;
}

async function outcome(env: Record<string, any>): Promise<"pass" | EnvelopeError> {
  try {
    const signed = await signEnvelope(env as Envelope, alice);
    await verifyEnvelope(signed, { now, expectedReceiver: bob.fingerprint });
    return "pass";
  } catch (err) {
    if (err instanceof EnvelopeError) return err;
    throw err;
  }
}

function pointer(path: string[]): string {
  return "/" + path.join("/");
}

Deno.test("Every string and array of every message type has a maximum in the JSON Schemas", () => {
  const unbounded: string[] = [];
  const check = (node: any, where: string) => {
    if (node["x-maxJsonBytes"] !== undefined) return;
    if (node.type === "string" && node.const === undefined && node.enum === undefined) {
      if (node.maxLength === undefined) unbounded.push(where);
    }
    if (node.type === "array") {
      if (node.maxItems === undefined && node.prefixItems === undefined) unbounded.push(where);
      if (node.items) check(node.items, `${where}/*`);
      for (const [i, item] of (node.prefixItems ?? []).entries()) check(item, `${where}/${i}`);
    }
    for (const [k, v] of Object.entries(node.properties ?? {})) check(v, `${where}/${k}`);
  };
  for (const protocol of ["cip", "hcp", "lip"] as const) {
    const schema = envelopeJsonSchema(protocol) as { oneOf: any[] };
    for (const member of schema.oneOf) check(member, `${protocol}:${member.properties.type.const}`);
  }
  assert.deepEqual(unbounded, []);
  // The table of docs/schemas/limits.md lists them all.
  assert.ok(FIELDS.length > 100);
});

Deno.test("docs/schemas/limits.md is current (run `deno task schemas` if this fails)", async () => {
  const committed = await Deno.readTextFile(
    new URL(`../../docs/schemas/${LIMITS_FILE}`, import.meta.url),
  );
  // `deno task schemas` formats the file (table padding, line wrapping): compare the words.
  const words = (t: string) => t.replace(/-{3,}/g, "---").replace(/\s+/g, " ").trim();
  assert.equal(words(committed), words(renderLimitsDoc()));
});

Deno.test("Property: every text field takes exactly its maximum in UTF-8 bytes and refuses one byte more, multi-byte characters included", async () => {
  const texts = FIELDS.filter((f) => f.kind === "bytes");
  assert.ok(texts.some((f) => f.path.join("/") === "payload/reason" && f.max === 1024));
  for (const field of texts) {
    await fc.assert(
      fc.asyncProperty(sizedText(field.max), sizedText(field.max + 1), async (fits, over) => {
        assert.ok(over.length <= field.max, "refused by bytes, not by length");
        if (field.path.at(-1) === "uri") {
          // A URL: the same sizes, after a scheme and host.
          const head = "https://example.org/";
          fits = head + exactBytes(field.max - head.length, [fits.length], 2);
          over = head + exactBytes(field.max + 1 - head.length, [over.length], 2);
        }
        const ok = await base(field.protocol, field.type);
        setAt(ok, field.path, fits);
        const good = await outcome(ok);
        assert.equal(good, "pass", `${field.type} ${pointer(field.path)}: ${good}`);
        const bad = await base(field.protocol, field.type);
        setAt(bad, field.path, over);
        const err = await outcome(bad);
        assert.ok(err instanceof EnvelopeError, `${field.type} ${pointer(field.path)} accepted`);
        const inPayload = field.path[0] === "payload";
        assert.equal(err.code, inPayload ? "PAYLOAD_SCHEMA" : "INVALID_ENVELOPE");
        assert.equal(err.path, pointer(field.path));
        assert.match(err.message, new RegExp(`at most ${field.max} UTF-8 bytes`));
      }),
      { numRuns: 4 },
    );
  }
});

Deno.test("A free text of 1,024 bytes passes and one of 1,025 is refused with PAYLOAD_SCHEMA at its pointer", async () => {
  for (
    const [fits, over] of [["é".repeat(512), "é".repeat(512) + "a"], [
      "😀".repeat(256),
      "😀".repeat(255) + "€ab",
    ]]
  ) {
    assert.equal(utf8ByteLength(fits!), 1024);
    assert.equal(utf8ByteLength(over!), 1025);
    for (const [protocol, type] of [["cip", "ERROR"], ["hcp", "HCP_ERROR"], ["lip", "LIP_ERROR"]]) {
      const ok = await base(protocol as Protocol, type!);
      ok.payload.reason = fits;
      assert.equal(await outcome(ok), "pass");
      const bad = await base(protocol as Protocol, type!);
      bad.payload.reason = over;
      const err = await outcome(bad);
      assert.ok(err instanceof EnvelopeError);
      assert.equal(err.code, "PAYLOAD_SCHEMA");
      assert.equal(err.path, "/payload/reason");
    }
  }
});

Deno.test("Every list takes its maximum of items and refuses one more", async () => {
  const lists = FIELDS.filter((f) => f.kind === "items");
  for (const field of lists) {
    const sample = await base(field.protocol, field.type);
    let node: any = sample;
    for (const k of field.path) node = node?.[k];
    const item = Array.isArray(node) && node.length > 0 ? node[0] : _itemFor(field);
    const ok = await base(field.protocol, field.type);
    setAt(ok, field.path, Array.from({ length: field.max }, () => structuredClone(item)));
    assert.equal(await outcome(ok), "pass", `${field.type} ${pointer(field.path)}`);
    const bad = await base(field.protocol, field.type);
    setAt(bad, field.path, Array.from({ length: field.max + 1 }, () => structuredClone(item)));
    const err = await outcome(bad);
    assert.ok(err instanceof EnvelopeError, `${field.type} ${pointer(field.path)} accepted`);
    assert.equal(err.path, pointer(field.path));
  }
});

function _itemFor(field: _Field): unknown {
  const last = field.path.at(-1);
  if (last === "corroborators") return "carol";
  if (last === "sources") return "https://example.org/a";
  return last === "steps" || last === "counterfactuals" || last === "evidence" ||
      last === "causal_links" || last === "shared_history" || last === "claims" ||
      last === "conflicts"
    ? { step: 1 }
    : "label";
}

Deno.test("A free-form object of 16 KiB of JSON passes and one byte more is refused", async () => {
  const max = SCHEMA_LIMITS.freeFormBytes;
  const shell = JSON.stringify({ k: "" }).length; // {"k":""}
  const fits = { k: "€".repeat(Math.floor((max - shell) / 3)) };
  fits.k += "a".repeat(max - utf8ByteLength(JSON.stringify(fits)));
  assert.equal(utf8ByteLength(JSON.stringify(fits)), max);
  const over = { k: fits.k + "a" };
  const ok = await base("cip", "INTENT");
  ok.payload.context = fits;
  assert.equal(await outcome(ok), "pass");
  const bad = await base("cip", "INTENT");
  bad.payload.context = over;
  const err = await outcome(bad);
  assert.ok(err instanceof EnvelopeError);
  assert.equal(err.code, "PAYLOAD_SCHEMA");
  assert.equal(err.path, "/payload/context");
  // A string counts its own UTF-8 bytes.
  const str = await base("cip", "INTENT");
  str.payload.context = "😀".repeat(max / 4) + "a";
  assert.equal(((await outcome(str)) as EnvelopeError).path, "/payload/context");
});

Deno.test("A 900 KB reason is refused at validation, cheaply, before any signature check", async () => {
  const env = await base("cip", "ERROR");
  env.payload.reason = "x".repeat(900_000);
  const started = performance.now();
  const err = await outcome(env);
  assert.ok(err instanceof EnvelopeError);
  assert.equal(err.code, "PAYLOAD_SCHEMA");
  assert.equal(err.path, "/payload/reason");
  assert.ok(err.message.length < 300, "the message does not echo the value");
  assert.ok(performance.now() - started < 2_000);
});

// ---- the UTF-8 helpers -------------------------------------------------------

const anyText = fc.string({ unit: "binary", maxLength: 300 });
const wellFormed = fc.string({ unit: "grapheme", maxLength: 300 });

Deno.test("Property: utf8ByteLength is TextEncoder's length and fitsUtf8 agrees with it", () => {
  fc.assert(
    fc.property(anyText, fc.nat({ max: 1200 }), (s, max) => {
      const n = new TextEncoder().encode(s).length;
      assert.equal(utf8ByteLength(s), n);
      assert.equal(fitsUtf8(s, max), n <= max);
    }),
    { numRuns: 2_000 },
  );
});

Deno.test("Property: truncateUtf8 keeps within the budget, never splits a code point, and cuts only what does not fit", () => {
  fc.assert(
    fc.property(
      wellFormed,
      fc.nat({ max: 400 }),
      fc.constantFrom("…", "", "[cut]"),
      (s, max, mark) => {
        const cut = truncateUtf8(s, max, mark);
        assert.ok(utf8ByteLength(cut) <= max);
        assert.ok(cut.isWellFormed(), "no lone surrogate");
        if (utf8ByteLength(s) <= max) {
          assert.equal(cut, s);
          return;
        }
        const markUsed = utf8ByteLength(mark) <= max ? mark : "";
        assert.ok(cut.endsWith(markUsed));
        const kept = cut.slice(0, cut.length - markUsed.length);
        assert.ok(s.startsWith(kept));
        // Maximal: the next code point would not have fitted.
        const next = String.fromCodePoint(s.codePointAt(kept.length)!);
        assert.ok(utf8ByteLength(kept + next + markUsed) > max);
        assert.equal(truncateUtf8(cut, max, mark), cut, "idempotent");
      },
    ),
    { numRuns: 3_000 },
  );
  assert.throws(() => truncateUtf8("x", -1), RangeError);
  assert.throws(() => truncateUtf8("x", 1.5), RangeError);
});

Deno.test("Property: an ERROR reason cut to SCHEMA_LIMITS.textBytes always validates", async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: "grapheme", minLength: 1, maxLength: 2_000 }), async (s) => {
      const env = await base("cip", "ERROR");
      env.payload.reason = truncateUtf8(s, SCHEMA_LIMITS.textBytes);
      assert.equal(await outcome(env), "pass");
    }),
    { numRuns: 50 },
  );
});

Deno.test("messageTypes still lists the 23 types (limits changed no type)", () => {
  assert.equal(
    messageTypes("cip").length + messageTypes("hcp").length + messageTypes("lip").length,
    23,
  );
});
