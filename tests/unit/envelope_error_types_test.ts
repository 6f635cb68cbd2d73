// These tests read the generated JSON Schema untyped.
// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import {
  createEnvelope,
  encodeEnvelope,
  envelopeJsonSchema,
  type ErrorPayload,
  errorTypeOf,
  InvalidEnvelopeError,
  isErrorType,
  messageTypes,
  PayloadSchemaError,
  type Protocol,
  validatePayload,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { HCP_STATE } from "../fixtures/envelope/samples.ts";
import { alice, bob, now, toBob } from "../fixtures/envelope/parties.ts";

const REFUSED = "0b6f2c1e-8f4a-4c3d-9e2b-7a1d5c6e8f90";
const PROTOCOLS = ["cip", "hcp", "lip"] as const;

Deno.test("isErrorType is true for ERROR, HCP_ERROR and LIP_ERROR only", () => {
  const errors = PROTOCOLS.flatMap((p) => messageTypes(p).filter((t) => isErrorType(t)));
  assert.deepEqual(errors, ["ERROR", "HCP_ERROR", "LIP_ERROR"]);
  for (const type of ["error", "Error", "HCP_ERRORS", "", "LIP_REJECT", "FACT_REJECT"]) {
    assert.equal(isErrorType(type), false, type);
  }
  assert.deepEqual(PROTOCOLS.map((p) => errorTypeOf(p)), ["ERROR", "HCP_ERROR", "LIP_ERROR"]);
  assert.throws(() => errorTypeOf("xip" as never), /Unknown protocol "xip"/);
});

Deno.test("Each protocol's refusal type builds, travels and verifies with its payload", async () => {
  const payload: ErrorPayload = {
    in_reply_to: REFUSED,
    code: "consent_revoked",
    reason: "The person revoked consent",
    retry_after_ms: 60_000,
  };
  for (const protocol of PROTOCOLS) {
    const type = errorTypeOf(protocol);
    const env = await (createEnvelope as (p: Protocol, t: string, o: object) => Promise<any>)(
      protocol,
      type,
      {
        identity: alice,
        receiver: toBob,
        payload,
        clock: now,
        ...(protocol === "hcp" ? { state: HCP_STATE } : {}),
      },
    );
    const got = await verifyEnvelope(encodeEnvelope(env), {
      now,
      expectedSender: alice.fingerprint,
      expectedReceiver: bob.fingerprint,
    });
    assert.equal(got.type, type);
    assert.deepEqual(got.payload, payload);
  }
});

Deno.test("Refusal payloads: in_reply_to a msg_id, non-empty code and reason, integer retry_after_ms >= 0", () => {
  const ok = { in_reply_to: REFUSED, code: "quota", reason: "Over quota" };
  for (const protocol of PROTOCOLS) {
    const type = errorTypeOf(protocol) as never;
    validatePayload(protocol, type, ok);
    validatePayload(protocol, type, { ...ok, retry_after_ms: 0 });
    const bad: [Record<string, unknown>, string][] = [
      [{ ...ok, retry_after_ms: -1 }, "/payload/retry_after_ms"],
      [{ ...ok, retry_after_ms: 1.5 }, "/payload/retry_after_ms"],
      [{ ...ok, retry_after_ms: "10" }, "/payload/retry_after_ms"],
      [{ ...ok, in_reply_to: "not-a-uuid" }, "/payload/in_reply_to"],
      [{ ...ok, code: "" }, "/payload/code"],
      [{ in_reply_to: REFUSED, code: "quota" }, "/payload/reason"],
      [{ ...ok, detail: "x" }, "/payload/detail"],
    ];
    for (const [payload, path] of bad) {
      assert.throws(
        () => validatePayload(protocol, type, payload),
        (e) => e instanceof PayloadSchemaError && e.path === path,
        `${protocol} ${JSON.stringify(payload)}`,
      );
    }
  }
});

Deno.test("LIP_ERROR, like LIP_FETCH, may omit the source block; other LIP types may not", async () => {
  const env = await createEnvelope("lip", "LIP_ERROR", {
    identity: alice,
    receiver: toBob,
    payload: { in_reply_to: REFUSED, code: "undeliverable", reason: "No fetcher" },
    clock: now,
  });
  assert.equal("source" in env, false);
  await verifyEnvelope(env, { now });
  await assert.rejects(
    createEnvelope("lip", "LIP_EVIDENCE", {
      identity: alice,
      receiver: toBob,
      payload: { claims: [], evidence: [], confidence: 0.5, extraction_notes: "none" },
      clock: now,
    }),
    (e) => e instanceof InvalidEnvelopeError && e.path === "/source",
  );
});

Deno.test("The JSON Schema export describes each refusal type", () => {
  for (const protocol of PROTOCOLS) {
    const schema = envelopeJsonSchema(protocol) as { oneOf: any[] };
    const member = schema.oneOf.find((m) => m.properties.type.const === errorTypeOf(protocol));
    assert.ok(member, `${protocol} has no ${errorTypeOf(protocol)} member`);
    const payload = member.properties.payload;
    assert.deepEqual(payload.required.sort(), ["code", "in_reply_to", "reason"]);
    assert.equal(payload.properties.retry_after_ms.type, "integer");
    assert.equal(payload.properties.retry_after_ms.minimum, 0);
    assert.equal(payload.additionalProperties, false);
    if (protocol === "lip") assert.equal(member.required.includes("source"), false);
  }
});
