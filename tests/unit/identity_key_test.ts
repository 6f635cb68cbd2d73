import assert from "node:assert/strict";
import { fingerprintOf, Identity, IdentityError, verifyEd25519 } from "../../lib/identity/mod.ts";
import { Web4Error } from "../../lib/errors/mod.ts";

const enc = new TextEncoder();

Deno.test("Identity.generate derives fingerprint, base64 key and default agentId from the key", async () => {
  const id = await Identity.generate();
  const raw = id.publicKeyRaw;
  assert.equal(raw.length, 32);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
  assert.equal(id.fingerprint, digest.toHex());
  assert.match(id.fingerprint, /^[0-9a-f]{64}$/);
  assert.equal(id.publicKeyBase64, raw.toBase64());
  assert.equal(id.agentId, `agent-${id.fingerprint.slice(0, 12)}`);
  assert.equal(await fingerprintOf(raw), id.fingerprint);
});

Deno.test("Identity.generate keeps a given agentId and rejects bad ones", async () => {
  assert.equal((await Identity.generate({ agentId: "alice" })).agentId, "alice");
  assert.equal((await Identity.generate({ agentId: "x".repeat(128) })).agentId.length, 128);
  await assert.rejects(Identity.generate({ agentId: "" }), RangeError);
  await assert.rejects(Identity.generate({ agentId: "x".repeat(129) }), RangeError);
  await assert.rejects(
    Identity.generate({ agentId: 5 as unknown as string }),
    TypeError,
  );
});

Deno.test("Identity.generate gives a different key each time", async () => {
  const a = await Identity.generate();
  const b = await Identity.generate();
  assert.notEqual(a.fingerprint, b.fingerprint);
});

Deno.test("Identity.publicKeyRaw returns a copy the caller cannot use to alter the identity", async () => {
  const id = await Identity.generate();
  const raw = id.publicKeyRaw;
  raw[0] = raw[0]! ^ 0xff;
  assert.notDeepEqual(id.publicKeyRaw, raw);
});

Deno.test("Identity.sign produces signatures verifyEd25519 accepts, and only for the signed data and key", async () => {
  const id = await Identity.generate();
  const other = await Identity.generate();
  const data = enc.encode("the signed bytes");
  const sig = await id.sign(data);
  assert.equal(sig.length, 64);
  assert.equal(await verifyEd25519(id.publicKeyRaw, data, sig), true);
  assert.equal(await verifyEd25519(other.publicKeyRaw, data, sig), false);
  assert.equal(await verifyEd25519(id.publicKeyRaw, enc.encode("the signed byteS"), sig), false);
  const flipped = sig.slice();
  flipped[10] = flipped[10]! ^ 1;
  assert.equal(await verifyEd25519(id.publicKeyRaw, data, flipped), false);
  assert.equal(await verifyEd25519(id.publicKeyRaw, data, sig.subarray(0, 63)), false);
});

Deno.test("verifyEd25519 and fingerprintOf reject keys that are not 32 bytes", async () => {
  await assert.rejects(fingerprintOf(new Uint8Array(31)), RangeError);
  await assert.rejects(
    verifyEd25519(new Uint8Array(33), new Uint8Array(1), new Uint8Array(64)),
    RangeError,
  );
  await assert.rejects(
    verifyEd25519("abc" as unknown as Uint8Array, new Uint8Array(1), new Uint8Array(64)),
    TypeError,
  );
});

Deno.test("Identity PEM export is PKCS#8 v1 and round-trips to the same key", async () => {
  const id = await Identity.generate({ agentId: "bob" });
  const pem = await id.toPkcs8Pem();
  assert.match(
    pem,
    /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END PRIVATE KEY-----\n$/,
  );
  const der = Uint8Array.fromBase64(pem.split("\n")[1]!);
  // PKCS#8 v1 (version 0) Ed25519: 48 bytes, OID 1.3.101.112, no public key.
  assert.equal(der.length, 48);
  assert.equal(der.subarray(0, 16).toHex(), "302e020100300506032b657004220420");
  const back = await Identity.fromPkcs8Pem(pem);
  assert.equal(back.fingerprint, id.fingerprint);
  assert.equal(back.agentId, `agent-${id.fingerprint.slice(0, 12)}`);
  const named = await Identity.fromPkcs8Pem(pem.replaceAll("\n", "\r\n"), { agentId: "bob" });
  assert.equal(named.agentId, "bob");
  assert.equal(named.fingerprint, id.fingerprint);
  const data = enc.encode("x");
  assert.ok(await verifyEd25519(id.publicKeyRaw, data, await back.sign(data)));
});

Deno.test("Identity.fromPkcs8Pem refuses text that is not an Ed25519 PKCS#8 key with INVALID_KEY_FILE", async () => {
  const id = await Identity.generate();
  const pem = await id.toPkcs8Pem();
  const p256 = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
  ]) as CryptoKeyPair;
  const p256Der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", p256.privateKey));
  const cases = [
    "",
    "not a pem",
    pem.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"),
    pem.replaceAll("PRIVATE KEY", "PUBLIC KEY"),
    pem + pem,
    pem.replace(/\n[A-Za-z]/, "\n*"),
    `-----BEGIN PRIVATE KEY-----\n${p256Der.toBase64()}\n-----END PRIVATE KEY-----\n`,
    `-----BEGIN PRIVATE KEY-----\n${new Uint8Array(48).toBase64()}\n-----END PRIVATE KEY-----\n`,
  ];
  for (const text of cases) {
    const err = await Identity.fromPkcs8Pem(text).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof IdentityError, `expected IdentityError for ${JSON.stringify(text)}`);
    assert.ok(err instanceof Web4Error);
    assert.equal(err.code, "INVALID_KEY_FILE");
  }
});

Deno.test("Identity inspection shows names, never key material", async () => {
  const id = await Identity.generate({ agentId: "carol" });
  const shown = Deno.inspect(id);
  assert.match(shown, /carol/);
  assert.match(shown, new RegExp(id.fingerprint));
  const pem = await id.toPkcs8Pem();
  assert.ok(!shown.includes(pem.split("\n")[1]!.slice(-20)));
});

Deno.test("Identity.fromKeyPair signs with a non-extractable WebCrypto key and names it by its fingerprint", async () => {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const person = await Identity.fromKeyPair(pair);
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  assert.equal(person.publicKeyBase64, raw.toBase64());
  assert.equal(person.agentId, `agent-${person.fingerprint.slice(0, 12)}`);
  const data = new TextEncoder().encode("consent");
  assert.equal(await verifyEd25519(person.publicKeyRaw, data, await person.sign(data)), true);
  await assert.rejects(() => person.toPkcs8Pem());
  await assert.rejects(() => Identity.fromKeyPair({} as CryptoKeyPair), TypeError);
});

Deno.test("Identity.fromPkcs8Pem checks the public-key field of PKCS#8 v2 keys, which WebCrypto ignores", async () => {
  const id = await Identity.generate();
  const other = await Identity.generate();
  const v1 = Uint8Array.fromBase64((await id.toPkcs8Pem()).split("\n").slice(1, -2).join(""));
  const seed = v1.subarray(16);
  const pem = (der: number[]) =>
    `-----BEGIN PRIVATE KEY-----\n${new Uint8Array(der).toBase64()}\n-----END PRIVATE KEY-----\n`;
  // RFC 5958 OneAsymmetricKey: version 1, algorithm, private key, then
  // optional [0] attributes and [1] publicKey (a BIT STRING, 0 unused bits).
  const head = (length: number) => [0x30, length, 0x02, 0x01, 0x01, ...v1.subarray(5, 16)];
  const field = (pub: Uint8Array) => [0x81, 0x21, 0x00, ...pub];
  const v2 = (pub: Uint8Array) => pem([...head(0x51), ...seed, ...field(pub)]);
  // WebCrypto alone would accept the mismatching key (the field is ignored).
  const der = Uint8Array.fromBase64(v2(other.publicKeyRaw).split("\n")[1]!);
  await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);

  assert.equal((await Identity.fromPkcs8Pem(v2(id.publicKeyRaw))).fingerprint, id.fingerprint);
  const withAttributes = pem([...head(0x53), ...seed, 0xa0, 0x00, ...field(id.publicKeyRaw)]);
  assert.equal((await Identity.fromPkcs8Pem(withAttributes)).fingerprint, id.fingerprint);

  const err = await Identity.fromPkcs8Pem(v2(other.publicKeyRaw)).then(() => null, (e) => e);
  assert.ok(err instanceof IdentityError);
  assert.equal(err.code, "PUBLIC_KEY_MISMATCH");
  assert.match(err.message, new RegExp(`fingerprint ${other.fingerprint}\\).*${id.fingerprint}`));

  // A field of the wrong size is malformed, whatever WebCrypto thinks of it.
  const short = pem([...head(0x50), ...seed, 0x81, 0x20, 0x00, ...id.publicKeyRaw.subarray(1)]);
  const err2 = await Identity.fromPkcs8Pem(short).then(() => null, (e) => e);
  assert.ok(err2 instanceof IdentityError);
  assert.equal(err2.code, "INVALID_KEY_FILE");
});
