// The A2A gateway's clients get peer keys derived from the served agent's key
// and their names: stable across restarts and token changes, distinct per
// client and per agent, and not derivable from what a client holds.
import assert from "node:assert/strict";
import { clientIdentities } from "../../cli/a2a/gateway.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { verifyEd25519 } from "../../lib/identity/mod.ts";

const spec = (name: string, token: string) => ({ name, token, level: "probing" as const });

Deno.test("A2A client keys: the same agent key and name give the same key at every start, whatever the token", async () => {
  const agent = await Identity.generate({ agentId: "alice" });
  const reloaded = await Identity.fromPkcs8Pem(await agent.toPkcs8Pem(), { agentId: "alice" });
  const [first] = await clientIdentities([spec("planner", "a".repeat(16))], agent);
  const [again] = await clientIdentities([spec("planner", "b".repeat(24))], reloaded);
  assert.equal(again!.identity.fingerprint, first!.identity.fingerprint);
  assert.equal(first!.identity.agentId, "a2a-planner");
  // A real key: it signs, and the signature verifies under its public key.
  const data = new TextEncoder().encode("intent");
  assert.ok(
    await verifyEd25519(first!.identity.publicKeyRaw, data, await again!.identity.sign(data)),
  );
});

Deno.test("A2A client keys: distinct per client, per agent, and never the agent's own", async () => {
  const alice = await Identity.generate();
  const bob = await Identity.generate();
  const clients = [spec("planner", "t".repeat(16)), spec("auditor", "u".repeat(16))];
  const ofAlice = await clientIdentities(clients, alice);
  const ofBob = await clientIdentities(clients, bob);
  const all = [...ofAlice, ...ofBob].map((c) => c.identity.fingerprint);
  assert.equal(new Set([...all, alice.fingerprint, bob.fingerprint]).size, 6);
});

Deno.test("A2A client keys need the agent's key material: a non-extractable agent key is refused, not replaced by a random one", async () => {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const agent = await Identity.fromKeyPair(pair);
  await assert.rejects(clientIdentities([spec("planner", "t".repeat(16))], agent));
});
