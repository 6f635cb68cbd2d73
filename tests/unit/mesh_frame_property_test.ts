/**
 * `decodeFrame` over arbitrary input: any bytes give a frame or a typed
 * `MeshError` (`INVALID_FRAME`, `TOO_LARGE`), never another exception; and
 * a frame it accepts encodes and decodes to itself.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeFrame, encodeFrame, MeshError, type MeshFrame } from "../../lib/mesh/mod.ts";

const KINDS = ["relay", "links", "introduce", "copies", "malice"];
const FIELDS = [
  "origin",
  "destination",
  "hop_limit",
  "hops",
  "channel",
  "envelope",
  "id",
  "signer",
  "pubkey",
  "at",
  "sig",
  "seq",
  "neighbours",
  "subject",
  "agent_id",
  "decision_id",
  "copies",
  "evidence",
  // Keys that break a careless `String(value)` or object handling.
  "toString",
  "valueOf",
  "__proto__",
  "constructor",
];
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const fingerprint = fc.stringMatching(/^[0-9a-f]{64}$/);

/** Values near what each field wants, and far from it. */
const fieldValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fingerprint,
  fc.array(fingerprint, { maxLength: 4 }),
  fc.dictionary(fingerprint, fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  fc.constantFrom("control", "state", "knowledge", "1.0", -1, 0, 1.5, 2 ** 53, null),
  fc.record({ toString: fc.jsonValue(), valueOf: fc.jsonValue() }),
);

/** Objects shaped like frames: a version, a kind (or something else), some fields. */
const frameLike = fc.record({
  mesh: fc.oneof(fc.constant("1.0"), fc.jsonValue({ maxDepth: 1 })),
  kind: fc.oneof(fc.constantFrom(...KINDS), fieldValue),
}).chain((head) =>
  fc.dictionary(fc.constantFrom(...FIELDS), fieldValue, { maxKeys: 12 }).map((rest) => ({
    ...head,
    ...rest,
  }))
);

function decodesOrRefuses(bytes: Uint8Array): void {
  let frame: MeshFrame;
  try {
    frame = decodeFrame(bytes, { controlFrameBytes: 4096, relayFrameBytes: 8192 });
  } catch (err) {
    assert.ok(err instanceof MeshError, `not a MeshError: ${String(err)}`);
    assert.ok(err.code === "INVALID_FRAME" || err.code === "TOO_LARGE", err.code);
    return;
  }
  assert.ok(KINDS.includes(frame.kind));
  assert.equal(frame.mesh, "1.0");
}

Deno.test("decodeFrame gives a frame or a typed MeshError for any bytes, never another exception", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), decodesOrRefuses), { numRuns: 500 });
  fc.assert(
    fc.property(frameLike, (v) => decodesOrRefuses(enc(v))),
    { numRuns: 2000 },
  );
  // Valid frames, truncated or with a byte changed.
  const relay = enc({
    mesh: "1.0",
    kind: "relay",
    origin: "a".repeat(64),
    destination: "b".repeat(64),
    hop_limit: 3,
    hops: ["a".repeat(64)],
    channel: "state",
    envelope: "{}",
  });
  fc.assert(
    fc.property(
      fc.nat({ max: relay.length }),
      fc.nat({ max: 255 }),
      fc.boolean(),
      (at, byte, cut) => {
        const bytes = cut ? relay.slice(0, at) : relay.slice();
        if (!cut && at < bytes.length) bytes[at] = byte;
        decodesOrRefuses(bytes);
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("decodeFrame names a kind that is not text without converting it (an object kind was a TypeError)", () => {
  for (const kind of [{ toString: 1 }, { toString: 1, valueOf: 1 }, [], null, 7]) {
    assert.throws(
      () => decodeFrame(enc({ mesh: "1.0", kind })),
      (e) => e instanceof MeshError && e.code === "INVALID_FRAME",
    );
  }
});

Deno.test("decodeFrame gives back every frame encodeFrame wrote, field for field", () => {
  const short = fc.string({ maxLength: 16 });
  const base = {
    mesh: fc.constant("1.0" as const),
    id: fc.uuid(),
    signer: fingerprint,
    pubkey: short,
    at: fc.integer(),
    sig: short,
  };
  const frame: fc.Arbitrary<MeshFrame> = fc.oneof(
    fc.record({
      mesh: fc.constant("1.0" as const),
      kind: fc.constant("relay" as const),
      origin: fingerprint,
      destination: fingerprint,
      hop_limit: fc.nat(),
      hops: fc.array(fingerprint, { maxLength: 64 }),
      channel: fc.constantFrom("control" as const, "state" as const, "knowledge" as const),
      envelope: fc.string(),
    }),
    fc.record({
      ...base,
      kind: fc.constant("links" as const),
      seq: fc.double({ noNaN: true, noDefaultInfinity: true }),
      neighbours: fc.array(fingerprint, { maxLength: 32 }),
    }),
    fc.record({
      ...base,
      kind: fc.constant("introduce" as const),
      subject: fingerprint,
      agent_id: fc.string({ maxLength: 256 }),
    }),
    fc.record({
      ...base,
      kind: fc.constant("copies" as const),
      decision_id: fc.uuid(),
      copies: fc.dictionary(fingerprint, fc.uuid(), { maxKeys: 64 }),
    }),
    fc.record({
      ...base,
      kind: fc.constant("malice" as const),
      subject: fingerprint,
      evidence: fc.array(fc.string(), { maxLength: 8 }),
    }),
  );
  fc.assert(
    fc.property(frame, (f) => {
      // JSON turns -0 into 0; compare with what the wire carries.
      assert.deepEqual(decodeFrame(encodeFrame(f)), JSON.parse(JSON.stringify(f)));
    }),
    { numRuns: 500 },
  );
});
