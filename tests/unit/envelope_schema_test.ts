// These tests take envelopes apart and mutate them field by field, so they
// index into them untyped.
// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import {
  envelopeJsonSchema,
  messageTypes,
  PayloadSchemaError,
  validatePayload,
} from "../../lib/envelope/mod.ts";
import { renderJsonSchemas, SCHEMA_FILES } from "../../lib/envelope/json_schema.ts";
import { SAMPLES } from "../fixtures/envelope/samples.ts";

Deno.test("docs/schemas/*.schema.json are current (run `deno task schemas` if this fails)", async () => {
  const texts = renderJsonSchemas();
  for (const protocol of ["cip", "hcp", "lip"] as const) {
    const url = new URL(`../../docs/schemas/${SCHEMA_FILES[protocol]}`, import.meta.url);
    const committed = await Deno.readTextFile(url);
    assert.equal(
      committed,
      texts[protocol],
      `docs/schemas/${SCHEMA_FILES[protocol]} is stale: run \`deno task schemas\``,
    );
  }
});

Deno.test("Exported JSON Schemas list every message type with closed objects", () => {
  for (const protocol of ["cip", "hcp", "lip"] as const) {
    const schema = envelopeJsonSchema(protocol) as { oneOf: Record<string, any>[] };
    const types = schema.oneOf.map((m) => m.properties.type.const);
    assert.deepEqual(types, messageTypes(protocol));
    for (const member of schema.oneOf) {
      assert.equal(member.additionalProperties, false);
      assert.equal(member.properties[protocol].const, "1.0");
      assert.ok(member.required.includes("sign"));
      assert.equal(member.properties.payload.additionalProperties, false);
    }
  }
});

Deno.test("Message type lists match the spec's wire names", () => {
  assert.deepEqual(messageTypes("cip"), [
    "HELLO",
    "VERIFY",
    "INTENT",
    "FACT_PROPOSE",
    "FACT_CHALLENGE",
    "FACT_CONFIRM",
    "FACT_REJECT",
    "DECISION_SHARE",
    "STATE_UPDATE",
    "ERROR",
  ]);
  assert.deepEqual(messageTypes("hcp"), [
    "HCP_HELLO",
    "HCP_INTENT",
    "HCP_CONTEXT",
    "HCP_DECISION",
    "HCP_FEEDBACK",
    "HCP_STATE_UPDATE",
    "HCP_ERROR",
  ]);
  assert.deepEqual(messageTypes("lip"), [
    "LIP_FETCH",
    "LIP_EVIDENCE",
    "LIP_CONFLICT",
    "LIP_ACCEPT",
    "LIP_REJECT",
    "LIP_ERROR",
  ]);
  assert.deepEqual(
    (["cip", "hcp", "lip"] as const).map((p) => messageTypes(p).length),
    [10, 7, 6],
  );
  assert.throws(() => messageTypes("xip" as never), TypeError);
});

Deno.test("Every payload schema accepts its sample and rejects an unknown key and a missing required key", () => {
  for (const protocol of ["cip", "hcp", "lip"] as const) {
    for (const type of messageTypes(protocol)) {
      const sample =
        (SAMPLES[protocol] as unknown as Record<string, Record<string, unknown>>)[type]!;
      validatePayload(protocol, type, sample);
      assert.throws(
        () => validatePayload(protocol, type, { ...sample, unknown_key: 1 }),
        (e: unknown) => e instanceof PayloadSchemaError && e.path === "/payload/unknown_key",
        `${type} accepted an unknown key`,
      );
      const required = Object.keys(sample)[0]!;
      const { [required]: _, ...missing } = sample;
      assert.throws(
        () => validatePayload(protocol, type, missing),
        (e: unknown) => e instanceof PayloadSchemaError && e.path === `/payload/${required}`,
        `${type} accepted a payload without ${required}`,
      );
    }
  }
});

Deno.test("Payload ranges, enums and formats follow the spec", () => {
  const bad: [string, string, Record<string, unknown>, string][] = [
    ["cip", "STATE_UPDATE", { lri: 100.5 }, "/payload/lri"],
    ["cip", "STATE_UPDATE", { ltppeerstate: "unknown" }, "/payload/ltppeerstate"],
    ["cip", "FACT_CONFIRM", { confidence: 1.01 }, "/payload/confidence"],
    ["cip", "FACT_CONFIRM", { fact_ref: "not-a-uuid" }, "/payload/fact_ref"],
    ["cip", "HELLO", { session_nonce: "AAAA" }, "/payload/session_nonce"],
    [
      "cip",
      "HELLO",
      { challenge: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=" },
      "/payload/challenge",
    ],
    [
      "cip",
      "HELLO",
      { in_reply_to: "0b6f2c1e-8f4a-4c3d-9e2b-7a1d5c6e8f90" },
      "/payload/in_reply_to",
    ],
    ["cip", "HELLO", { features: { supports_mesh: true } }, "/payload/features/supports_multiplex"],
    ["cip", "INTENT", { decision: "accept" }, "/payload/decision"],
    ["cip", "INTENT", { goal: "chat" }, "/payload/goal"],
    ["cip", "FACT_PROPOSE", {
      dmp_trace: { decision_id: "5d7a1c9e-3b2f-4e6a-8c1d-0f9e8d7c6b5a", steps: [], evidence: [] },
    }, "/payload/dmp_trace/steps"],
    ["cip", "FACT_CHALLENGE", { reason: "dislike" }, "/payload/reason"],
    ["cip", "VERIFY", { session_nonces: ["AAECAwQFBgcICQoLDA0ODw=="] }, "/payload/session_nonces"],
    ["hcp", "HCP_FEEDBACK", { satisfaction: 50.5 }, "/payload/satisfaction"],
    ["hcp", "HCP_STATE_UPDATE", { pressure: 101 }, "/payload/pressure"],
    ["hcp", "HCP_STATE_UPDATE", { affect: "angry" }, "/payload/affect"],
    ["hcp", "HCP_STATE_UPDATE", { consent: "maybe" }, "/payload/consent"],
    ["hcp", "HCP_INTENT", { goal: "ask" }, "/payload/goal"],
    ["hcp", "HCP_DECISION", { rationale: "" }, "/payload/rationale"],
    ["lip", "LIP_CONFLICT", { severity: "critical" }, "/payload/severity"],
    ["lip", "LIP_ACCEPT", { decision: "reject" }, "/payload/decision"],
    ["lip", "LIP_EVIDENCE", { confidence: -0.1 }, "/payload/confidence"],
  ];
  for (const [protocol, type, patch, path] of bad) {
    const sample = (SAMPLES as unknown as Record<string, Record<string, object>>)[protocol]![type]!;
    assert.throws(
      () => validatePayload(protocol as "cip", type as "HELLO", { ...sample, ...patch }),
      (e: unknown) => e instanceof PayloadSchemaError && e.path === path,
      `${type} ${JSON.stringify(patch)} should fail at ${path}`,
    );
  }
  // Free-form fields take a string or a JSON object, nothing else.
  const intent = SAMPLES.cip.INTENT;
  validatePayload("cip", "INTENT", { ...intent, context: "plain text" });
  validatePayload("cip", "INTENT", { ...intent, context: { nested: { list: [1, null, "x"] } } });
  assert.throws(
    () => validatePayload("cip", "INTENT", { ...intent, context: 5 }),
    PayloadSchemaError,
  );
  assert.throws(
    () => validatePayload("cip", "INTENT", { ...intent, context: "" }),
    PayloadSchemaError,
  );
});
