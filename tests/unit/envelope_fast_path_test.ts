// The verifier's fast paths (the signature check started on the wire bytes,
// the per-key caches) must give exactly the answers of the plain path.
import assert from "node:assert/strict";
import { Identity, verifyEd25519 } from "../../lib/identity/mod.ts";
import {
  PUBLIC_KEY_CACHE_SIZE,
  publicKeyCacheSize,
  verifyEd25519Base64,
} from "../../lib/identity/verify.ts";
import {
  createEnvelope,
  encodeEnvelope,
  type Envelope,
  envelopeSigningBytes,
  InvalidEnvelopeError,
  SignatureMismatchError,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { FINGERPRINT_CACHE_SIZE, fingerprintCacheSize } from "../../lib/envelope/fast_path.ts";
import { alice, bob, now, toBob } from "../fixtures/envelope/parties.ts";

const decode = (b: Uint8Array) => new TextDecoder().decode(b);
const encode = (s: string) => new TextEncoder().encode(s);

function build(identity: Identity, intent = "plan the trip"): Promise<Envelope> {
  return createEnvelope("cip", "STATE_UPDATE", {
    identity,
    receiver: toBob,
    payload: { presence: "focused", lri: 20, ltppeerstate: "probing", intent },
    clock: now,
  });
}

Deno.test("Canonical wire bytes and non-canonical spellings of the same envelope verify alike", async () => {
  const env = await build(alice, "caf\u00e9 \u{1F600}"); // non-ASCII: byte and char offsets differ
  const wire = encodeEnvelope(env);
  const text = decode(wire);
  const spellings = [
    wire,
    text,
    ` ${text}`, // leading white space
    text.replace('"sender":{', '"sender": {'), // white space before the sign member
    JSON.stringify(JSON.parse(text), null, 2),
    encode(`\ufeff${text}`), // byte order mark
  ];
  for (const input of spellings) {
    assert.deepEqual(await verifyEnvelope(input, { now }), env);
  }
});

Deno.test("A wire whose cut-out signing bytes are not the canonical ones never verifies on them", async () => {
  const env = await build(alice);
  const text = decode(encodeEnvelope(env));
  const signingText = decode(envelopeSigningBytes(env));
  // alice signs bytes that are not canonical (white space inside): cutting
  // the sign member out of the wire gives exactly those bytes, whose
  // signature is valid, but they are not the envelope's canonical form.
  const loose = signingText.replace('"receiver":{', '"receiver": {');
  const looseSig = (await alice.sign(encode(loose))).toBase64();
  const at = loose.indexOf(',"timestamp"');
  const wire = `${loose.slice(0, at)},"sign":{"algo":"ed25519","signature":"${looseSig}"}${
    loose.slice(at)
  }`;
  assert.ok(wire.includes(`"pubkey":"${alice.publicKeyBase64}"},"sign":`));
  await assert.rejects(verifyEnvelope(wire, { now }), SignatureMismatchError);
  await assert.rejects(verifyEnvelope(encode(wire), { now }), SignatureMismatchError);
  // Duplicate keys, even ones that leave the content JSON.parse sees
  // unchanged, are refused before any signature is looked at.
  const dup = text.replace('"payload":{', '"payload":{"lri":99,');
  await assert.rejects(verifyEnvelope(dup, { now }), InvalidEnvelopeError);
  // A member added after the sign member changes the content.
  const changed = text.replace(/}$/, ',"state":{"lri":1,"presence":"diffuse"}}');
  await assert.rejects(verifyEnvelope(changed, { now }), SignatureMismatchError);
  // A signature taken from another envelope, spliced in the canonical place.
  const other = decode(encodeEnvelope(await build(alice, "something else")));
  const sig = (s: string) => s.slice(s.indexOf('"signature":"'), s.indexOf('"signature":"') + 102);
  await assert.rejects(
    verifyEnvelope(text.replace(sig(text), sig(other)), { now }),
    SignatureMismatchError,
  );
  // A second sign member later in the text is a repeated key.
  const twice = text.replace(
    ',"timestamp"',
    `,"sign":{"algo":"ed25519","signature":"${"A".repeat(86)}=="},"timestamp"`,
  );
  assert.notEqual(twice, text);
  await assert.rejects(
    verifyEnvelope(twice, { now }),
    (e) => e instanceof InvalidEnvelopeError && e.path === "/sign",
  );
});

Deno.test("Wire bytes with commas in odd places are refused, never loop", async () => {
  for (
    const text of [",", ",,", ",{}", "{},", "[1,2]", ',"sign":{"algo":"ed25519","signature":"']
  ) {
    await assert.rejects(verifyEnvelope(encode(text), { now }), InvalidEnvelopeError);
  }
});

Deno.test("verifyEd25519Base64 agrees with verifyEd25519 and refuses bad base64", async () => {
  const data = encode("hello");
  const sig = await alice.sign(data);
  assert.equal(await verifyEd25519Base64(alice.publicKeyBase64, data, sig), true);
  assert.equal(await verifyEd25519(alice.publicKeyRaw, data, sig), true);
  assert.equal(await verifyEd25519Base64(bob.publicKeyBase64, data, sig), false);
  assert.equal(await verifyEd25519Base64("not base64!", data, sig), false);
  assert.equal(
    await verifyEd25519Base64(bob.publicKeyRaw.slice(0, 16).toBase64(), data, sig),
    false,
  );
  assert.equal(await verifyEd25519Base64(alice.publicKeyBase64, data, sig.slice(0, 63)), false);
});

Deno.test("The fingerprint and public key caches stay within their bounds and forget safely", async () => {
  const count = Math.max(FINGERPRINT_CACHE_SIZE, PUBLIC_KEY_CACHE_SIZE) + 40;
  const first = await build(alice);
  await verifyEnvelope(encodeEnvelope(first), { now });
  for (let i = 0; i < count; i++) {
    const id = await Identity.generate();
    await verifyEnvelope(encodeEnvelope(await build(id)), { now });
    assert.ok(fingerprintCacheSize() <= FINGERPRINT_CACHE_SIZE);
    assert.ok(publicKeyCacheSize() <= PUBLIC_KEY_CACHE_SIZE);
  }
  assert.equal(fingerprintCacheSize(), FINGERPRINT_CACHE_SIZE);
  assert.equal(publicKeyCacheSize(), PUBLIC_KEY_CACHE_SIZE);
  // alice's entries were evicted: she still verifies, and a forgery still fails.
  assert.deepEqual(await verifyEnvelope(encodeEnvelope(first), { now }), first);
  const forged = { ...first, payload: { ...first.payload, lri: 21 } } as Envelope;
  await assert.rejects(verifyEnvelope(encodeEnvelope(forged), { now }), SignatureMismatchError);
});
