// The agent cuts its own free text to the schema's maximum (PROTOCOLS.md §8,
// "an agent truncates its own"), so it never sends what it would refuse.
import assert from "node:assert/strict";
import {
  createEnvelope,
  encodeEnvelope,
  SCHEMA_LIMITS,
  truncateText,
  validatePayload,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { Agent } from "../../lib/agent/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";
import { utf8ByteLength } from "../../lib/observability/mod.ts";
import { LipFetchError, LipRuntime } from "../../lib/lip/mod.ts";
import {
  createRuntimeContext,
  outcome,
  type ProtocolRuntime,
  selfFromIdentity,
} from "../../lib/runtime/mod.ts";
import { openStore } from "../../lib/store/mod.ts";
import { ProtocolRouter } from "../../lib/router/mod.ts";
import { createTrustView } from "../../lib/trust/mod.ts";

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const [alice, bob] = await Promise.all([
  Identity.generate({ agentId: "alice" }),
  Identity.generate({ agentId: "bob" }),
]);
// 3,000 characters of 3-byte text and astral characters: far over 1 KiB, and a
// cut by UTF-16 units (the old `slice(0, 1000)`) could split a surrogate pair.
const LONG = "日本語😀".repeat(600);

function within(text: string): void {
  assert.ok(utf8ByteLength(text) <= SCHEMA_LIMITS.textBytes, `${utf8ByteLength(text)} bytes`);
  assert.ok(text.isWellFormed(), "no code point split");
}

Deno.test("truncateText cuts the agent's own text to SCHEMA_LIMITS.textBytes at a code point boundary", () => {
  const cut = truncateText(LONG);
  within(cut);
  assert.ok(cut.endsWith("…"));
  assert.ok(LONG.startsWith(cut.slice(0, -1)));
  assert.equal(truncateText("Handshake first"), "Handshake first");
  assert.equal(utf8ByteLength(truncateText(LONG, 10)), 9); // "日本" + "…"
});

Deno.test("A runtime's refusal with a long reason is answered with an ERROR whose reason fits the schema", async () => {
  const refusing: ProtocolRuntime<"cip"> = {
    protocol: "cip",
    types: ["FACT_PROPOSE"], // a type an untrusted peer may send

    handle: () => outcome("refused", { code: "nope", reason: LONG }),
  };
  const router = new ProtocolRouter({
    identity: alice,
    store: openStore(":memory:"),
    runtimes: [refusing],
    now: () => T0,
  });
  const env = await createEnvelope("cip", "FACT_PROPOSE", {
    identity: bob,
    receiver: { agent_id: alice.agentId, fingerprint: alice.fingerprint },
    payload: {
      fact: { statement: "s", domain: "d", confidence: 0.5, sources: [] },
      dmp_trace: { decision_id: crypto.randomUUID(), steps: ["look"], evidence: [] },
    },
    clock: () => new Date(T0),
  });
  const result = await router.dispatch(encodeEnvelope(env), { peer: bob.fingerprint });
  assert.equal(result.status, "refused");
  assert.equal(result.code, "nope");
  const [reply] = result.replies;
  assert.ok(reply !== undefined);
  const error = await verifyEnvelope(reply.bytes, {
    now: () => new Date(T0),
    expectedSender: alice.fingerprint,
  });
  assert.equal(error.type, "ERROR");
  const reason = (error.payload as { reason: string }).reason;
  within(reason);
  assert.ok(reason.startsWith("日本語😀"));
  assert.ok(reason.endsWith("…"));
});

Deno.test("A failed fetch's LIP_ERROR carries the fetcher's message cut to the schema's maximum", () => {
  const lip = new LipRuntime();
  const store = openStore(":memory:");
  const ctx = createRuntimeContext({
    self: selfFromIdentity(alice, []),
    peer: bob.fingerprint,
    store,
    trust: createTrustView(store),
    now: () => T0,
  });
  const o = lip.fetchFailed(
    {
      requestId: "0b6f2c1e-8f4a-4c3d-9e2b-7a1d5c6e8f90",
      requester: bob.fingerprint,
      requesterAgentId: bob.agentId,
      query: "https://example.org/",
      constraints: [],
      chargedTo: bob.fingerprint,
    },
    new LipFetchError("http_status", `HTTP 500 from ${LONG}`),
    ctx,
  );
  const [reply] = o.replies;
  assert.ok(reply !== undefined && reply.type === "LIP_ERROR");
  const payload = validatePayload("lip", "LIP_ERROR", reply.payload);
  within(payload.reason);
});

Deno.test("Agent.create refuses a mission over 1 KiB (free text) with a RangeError naming its size", async () => {
  await assert.rejects(
    Agent.create({
      identity: alice,
      mission: "é".repeat(512) + "!",
      store: ":memory:",
      transport: memory({ network: new MemoryNetwork() }),
    }),
    (e) => e instanceof RangeError && /1025/.test(e.message),
  );
});
