/** The console's live view reads events as sentences, never as `kind key=value` lines. */
import assert from "node:assert/strict";
import { type ConsoleEvent, eventSentence } from "../../cli/console/sentence.ts";

const beta = "be".repeat(32);
const person = "aa".repeat(32);
const nameOf = (fp: string) =>
  fp === beta ? "beta" : fp === person ? "you" : `peer ${fp.slice(0, 8)}`;
const at = (kind: string, data: Record<string, unknown>, peer?: string): ConsoleEvent => ({
  ts: "2026-12-07T19:00:00.000Z",
  kind,
  data,
  ...(peer === undefined ? {} : { peer }),
});

Deno.test("console sentences: trust, consent, refusals and outcomes read as sentences", () => {
  const cases: [ConsoleEvent, string, string][] = [
    [
      at("trust.transition", {
        from: "probing",
        to: "trusted",
        reason: "verified knowledge (>= 2 trusted confirmations)",
      }, beta),
      "beta became trusted after two confirmations",
      "ok",
    ],
    [
      at("trust.transition", { from: "probing", to: "restricted" }, person),
      "Your standing with your agent became restricted",
      "bad",
    ],
    [
      at("hcp.consent_changed", { from: null, to: "granted" }, person),
      "You gave your consent: granted",
      "ok",
    ],
    [
      at("hcp.consent_changed", { from: "granted", to: "revoked" }, person),
      "You changed your consent from granted to revoked",
      "bad",
    ],
    [
      at(
        "hcp.refused",
        { topic: "topic:water", verdict: "refused", code: "consent_revoked" },
        person,
      ),
      "Your agent refused your request on topic:water (consent revoked)",
      "bad",
    ],
    [
      at("agent.intent", { source: "person", goal: "request", topic: "topic:water" }, person),
      "Your agent took your request on topic:water",
      "ok",
    ],
    [
      at("mesh.error", { code: "failed", reason: "database is locked" }),
      "Your agent's mesh hit an error: database is locked",
      "bad",
    ],
    [
      at("mesh.error", {
        in_reply_to: "0b5a4f4e-2d7c-4b8e-9a41-6f0d8c1e2a3b",
        code: "expired",
        reason: "Held without a route until it left the 120 s window",
      }, beta),
      "A message of your agent to beta could not be delivered through the mesh (expired): Held without a route until it left the 120 s window",
      "warn",
    ],
    [
      at("agent.send_held", { code: "overloaded", reason: `Peer ${beta} is overloaded` }, beta),
      "A message to beta was held: Peer beta is overloaded",
      "warn",
    ],
    [at("agent.peer_connected", { dialer: "peer", person: false }, beta), "beta connected", "ok"],
    [
      at("cip.handshake", { step: "verified", trust: "probing" }, beta),
      "beta proved who it is: now probing",
      "warn",
    ],
    [at("hcp.check_in_answered", { goOn: true }, person), "You told your agent to go on", "ok"],
  ];
  for (const [e, text, tone] of cases) {
    assert.deepEqual(eventSentence(e, nameOf), { text, tone }, e.kind);
  }
});

Deno.test("console sentences: an unknown kind reads as words, without its fields", () => {
  const s = eventSentence(
    at("mesh.hop_expired", { hops: 9, secret: "x=y" }, "cd".repeat(32)),
    nameOf,
  );
  assert.equal(s.text, "Hop expired (peer cdcdcdcd)");
  assert.doesNotMatch(s.text, /=|mesh\./);
});
