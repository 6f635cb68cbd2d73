import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import {
  createEnvelope,
  envelopeSigningBytes,
  SignatureMismatchError,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { SAMPLES } from "../fixtures/envelope/samples.ts";
import { NOW } from "../fixtures/envelope/parties.ts";

async function openssl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

let opensslAvailable = false;
try {
  opensslAvailable = (await openssl(["version"])).code === 0;
} catch {
  opensslAvailable = false;
}

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "web4_envelope_openssl_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "An envelope signed here verifies with openssl pkeyutl -verify -rawin over the same canonical bytes",
  ignore: !opensslAvailable,
  fn: async () => {
    await inTempDir(async (dir) => {
      const id = await Identity.generate({ agentId: "alice" });
      await id.save(`${dir}/key.pem`);
      const pub = await openssl([
        "pkey",
        "-in",
        `${dir}/key.pem`,
        "-pubout",
        "-out",
        `${dir}/pub.pem`,
      ]);
      assert.equal(pub.code, 0, pub.stderr);
      const env = await createEnvelope("cip", "FACT_PROPOSE", {
        identity: id,
        receiver: { agent_id: "bob", fingerprint: "b".repeat(64) },
        payload: SAMPLES.cip.FACT_PROPOSE,
        clock: () => NOW,
      });
      await Deno.writeFile(`${dir}/msg.bin`, envelopeSigningBytes(env));
      await Deno.writeFile(`${dir}/sig.bin`, Uint8Array.fromBase64(env.sign.signature));
      const args = ["pkeyutl", "-verify", "-pubin", "-inkey", `${dir}/pub.pem`, "-rawin"];
      const ok = await openssl([...args, "-in", `${dir}/msg.bin`, "-sigfile", `${dir}/sig.bin`]);
      assert.equal(ok.code, 0, ok.stderr + ok.stdout);
      assert.match(ok.stdout, /Signature Verified Successfully/);
      // The same signature over bytes differing in one character is refused.
      const bytes = envelopeSigningBytes(env);
      bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 1;
      await Deno.writeFile(`${dir}/msg2.bin`, bytes);
      const bad = await openssl([...args, "-in", `${dir}/msg2.bin`, "-sigfile", `${dir}/sig.bin`]);
      assert.notEqual(bad.code, 0);
    });
  },
});

Deno.test({
  name: "A signature made by openssl pkeyutl -sign -rawin over the canonical bytes verifies here",
  ignore: !opensslAvailable,
  fn: async () => {
    await inTempDir(async (dir) => {
      const key = `${dir}/ossl.pem`;
      const gen = await openssl(["genpkey", "-algorithm", "ed25519", "-out", key]);
      assert.equal(gen.code, 0, gen.stderr);
      await Deno.chmod(key, 0o600);
      const id = await Identity.load(key, { agentId: "openssl" });
      // Build the envelope here, then replace its signature with openssl's.
      const env = await createEnvelope("lip", "LIP_EVIDENCE", {
        identity: id,
        receiver: { agent_id: "bob", fingerprint: "b".repeat(64) },
        payload: SAMPLES.lip.LIP_EVIDENCE,
        source: {
          uri: "https://example.org/a",
          trust_tier: "high",
          retrieved_at: "2026-11-26T11:59:00Z",
        },
        clock: () => NOW,
      });
      await Deno.writeFile(`${dir}/msg.bin`, envelopeSigningBytes(env));
      const sign = await openssl([
        "pkeyutl",
        "-sign",
        "-inkey",
        key,
        "-rawin",
        "-in",
        `${dir}/msg.bin`,
        "-out",
        `${dir}/sig.bin`,
      ]);
      assert.equal(sign.code, 0, sign.stderr);
      const sig = await Deno.readFile(`${dir}/sig.bin`);
      assert.equal(sig.length, 64);
      // Ed25519 is deterministic: openssl's signature is the one we made.
      assert.equal(sig.toBase64(), env.sign.signature);
      const fromOpenssl = { ...env, sign: { algo: "ed25519" as const, signature: sig.toBase64() } };
      const verified = await verifyEnvelope(fromOpenssl, { now: () => NOW });
      assert.equal(verified.sender.fingerprint, id.fingerprint);
      // An openssl signature over other bytes does not verify.
      await Deno.writeFile(`${dir}/other.bin`, new TextEncoder().encode("other bytes"));
      await openssl([
        "pkeyutl",
        "-sign",
        "-inkey",
        key,
        "-rawin",
        "-in",
        `${dir}/other.bin`,
        "-out",
        `${dir}/sig2.bin`,
      ]);
      const sig2 = await Deno.readFile(`${dir}/sig2.bin`);
      await assert.rejects(
        verifyEnvelope({ ...env, sign: { algo: "ed25519", signature: sig2.toBase64() } }, {
          now: () => NOW,
        }),
        SignatureMismatchError,
      );
    });
  },
});
