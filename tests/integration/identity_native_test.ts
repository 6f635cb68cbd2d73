// The same key file, read by TypeScript (WebCrypto), by the native library
// (ring/rcgen through FFI) and by the openssl command line, gives one
// fingerprint: lowercase hex SHA-256 of the raw 32-byte Ed25519 public key.
import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { loadNativeLibrary } from "../../lib/rtt/native.ts";

function nativeFingerprint(pem: string): string {
  const lib = loadNativeLibrary();
  const bytes = new TextEncoder().encode(pem);
  const out = new Uint8Array(64);
  const status = lib.symbols.web4_rtt_key_fingerprint(bytes, bytes.length, out);
  assert.equal(status, 0, `web4_rtt_key_fingerprint failed with status ${status}`);
  return new TextDecoder().decode(out);
}

async function opensslRawPublicKeyFingerprint(keyFile: string): Promise<string> {
  const der = await new Deno.Command("openssl", {
    args: ["pkey", "-in", keyFile, "-pubout", "-outform", "DER"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(der.code, 0, new TextDecoder().decode(der.stderr));
  // An Ed25519 SubjectPublicKeyInfo is 12 bytes of header, then the raw key.
  const raw = der.stdout.subarray(der.stdout.length - 32);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("A key file saved by TypeScript has the same fingerprint in TypeScript, Rust and openssl", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/agent.pem`;
    const id = await Identity.generate({ agentId: "fp-check" });
    await id.save(file);
    const pem = await Deno.readTextFile(file);
    assert.equal(nativeFingerprint(pem), id.fingerprint);
    assert.equal(await opensslRawPublicKeyFingerprint(file), id.fingerprint);
    assert.equal((await Identity.load(file)).fingerprint, id.fingerprint);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("A key file written by openssl genpkey has the same fingerprint in TypeScript and Rust", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/openssl.pem`;
    const gen = await new Deno.Command("openssl", {
      args: ["genpkey", "-algorithm", "ed25519", "-out", file],
      stderr: "piped",
    }).output();
    assert.equal(gen.code, 0, new TextDecoder().decode(gen.stderr));
    await Deno.chmod(file, 0o600);
    const id = await Identity.load(file);
    assert.equal(nativeFingerprint(await Deno.readTextFile(file)), id.fingerprint);
    assert.equal(await opensslRawPublicKeyFingerprint(file), id.fingerprint);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("The native library refuses a PEM that is not an Ed25519 PKCS#8 key", () => {
  const lib = loadNativeLibrary();
  const bytes = new TextEncoder().encode(
    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
  );
  const status = lib.symbols.web4_rtt_key_fingerprint(
    bytes,
    bytes.length,
    new Uint8Array(64),
  );
  assert.notEqual(status, 0);
});
