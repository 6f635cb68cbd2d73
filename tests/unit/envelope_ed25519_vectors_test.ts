import assert from "node:assert/strict";
import { Identity, verifyEd25519 } from "../../lib/identity/mod.ts";
import {
  createEnvelope,
  envelopeSigningBytes,
  SignatureMismatchError,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";

// RFC 8032 §7.1, TEST 1-3: secret key, public key, message, signature (hex).
const VECTORS = [
  {
    name: "TEST 1 (empty message)",
    secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155" +
      "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    name: "TEST 2 (one byte)",
    secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da" +
      "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    name: "TEST 3 (two bytes)",
    secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac" +
      "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
];

function pemFromSeed(seedHex: string): string {
  const der = Uint8Array.fromHex(`302e020100300506032b657004220420${seedHex}`);
  return `-----BEGIN PRIVATE KEY-----\n${der.toBase64()}\n-----END PRIVATE KEY-----\n`;
}

for (const v of VECTORS) {
  Deno.test(`RFC 8032 ${v.name}: Identity derives the public key and signs exactly the vector`, async () => {
    const id = await Identity.fromPkcs8Pem(pemFromSeed(v.secret));
    assert.equal(id.publicKeyRaw.toHex(), v.public);
    const message = Uint8Array.fromHex(v.message);
    const signature = await id.sign(message);
    assert.equal(signature.toHex(), v.signature);
    assert.equal(await verifyEd25519(Uint8Array.fromHex(v.public), message, signature), true);
    const bad = Uint8Array.fromHex(v.signature);
    bad[0] = bad[0]! ^ 0x01;
    assert.equal(await verifyEd25519(Uint8Array.fromHex(v.public), message, bad), false);
    const longer = new Uint8Array([...message, 0]);
    assert.equal(await verifyEd25519(Uint8Array.fromHex(v.public), longer, signature), false);
  });
}

Deno.test("RFC 8032 TEST 1 key signs envelopes through the same path: deterministic, verifiable, Ed25519 of the signing bytes", async () => {
  const id = await Identity.fromPkcs8Pem(pemFromSeed(VECTORS[0]!.secret), { agentId: "rfc8032" });
  const options = {
    identity: id,
    receiver: { agent_id: "peer", fingerprint: id.fingerprint },
    payload: { presence: "focused", lri: 1, ltppeerstate: "probing" } as const,
    clock: () => new Date("2026-11-26T12:00:00.000Z"),
    random: (n: number) => new Uint8Array(n).fill(7),
  };
  const env = await createEnvelope("cip", "STATE_UPDATE", options);
  const again = await createEnvelope("cip", "STATE_UPDATE", options);
  assert.deepEqual(again, env);
  const bytes = envelopeSigningBytes(env);
  const expected = await id.sign(bytes);
  assert.equal(env.sign.signature, expected.toBase64());
  assert.ok(await verifyEd25519(Uint8Array.fromHex(VECTORS[0]!.public), bytes, expected));
  await verifyEnvelope(env, { now: options.clock });
  // A valid signature by the same key, but over other bytes (the empty message).
  const forged = {
    ...env,
    sign: {
      algo: "ed25519" as const,
      signature: Uint8Array.fromHex(VECTORS[0]!.signature).toBase64(),
    },
  };
  await assert.rejects(verifyEnvelope(forged, { now: options.clock }), SignatureMismatchError);
});
