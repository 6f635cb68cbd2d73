import assert from "node:assert/strict";
import { Identity, IdentityError } from "../../lib/identity/mod.ts";

const isWindows = Deno.build.os === "windows";

async function openssl(
  args: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

async function hasOpenssl(): Promise<boolean> {
  try {
    return (await openssl(["version"])).code === 0;
  } catch {
    return false;
  }
}

const opensslAvailable = await hasOpenssl();

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "web4_identity_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("Identity.save writes a mode 0600 PEM file that Identity.load reads back", async () => {
  await withTempDir(async (dir) => {
    const id = await Identity.generate({ agentId: "alice" });
    const path = `${dir}/alice.pem`;
    await id.save(path);
    const info = await Deno.stat(path);
    if (!isWindows) assert.equal(info.mode! & 0o777, 0o600);
    const text = await Deno.readTextFile(path);
    assert.ok(text.startsWith("-----BEGIN PRIVATE KEY-----\n"));
    assert.equal(text, await id.toPkcs8Pem());
    const back = await Identity.load(path);
    assert.equal(back.fingerprint, id.fingerprint);
    assert.equal(back.publicKeyBase64, id.publicKeyBase64);
    assert.equal(back.agentId, `agent-${id.fingerprint.slice(0, 12)}`);
    assert.equal((await Identity.load(path, { agentId: "alice" })).agentId, "alice");
    const url = new URL(`file://${path}`);
    assert.equal((await Identity.load(url)).fingerprint, id.fingerprint);
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["alice.pem"]);
  });
});

Deno.test({
  name: "Identity.save replaces an existing world-readable file with a 0600 one",
  ignore: isWindows,
  fn: async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/key.pem`;
      await Deno.writeTextFile(path, "old", { mode: 0o644 });
      await Deno.chmod(path, 0o644);
      const id = await Identity.generate();
      await id.save(path);
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.equal((await Identity.load(path)).fingerprint, id.fingerprint);
    });
  },
});

Deno.test({
  name: "Identity.load refuses a key file readable by group or others with KEY_FILE_PERMISSIONS",
  ignore: isWindows,
  fn: async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/key.pem`;
      await (await Identity.generate()).save(path);
      for (const mode of [0o644, 0o640, 0o604, 0o660, 0o601]) {
        await Deno.chmod(path, mode);
        const err = await Identity.load(path).then(() => null, (e: unknown) => e);
        assert.ok(err instanceof IdentityError, `mode ${mode.toString(8)}`);
        assert.equal(err.code, "KEY_FILE_PERMISSIONS");
        assert.equal(err.path, path);
        assert.equal(err.mode, mode);
        assert.ok(err.message.includes(path));
        assert.ok(err.message.includes(`0${mode.toString(8)}`));
      }
      await Deno.chmod(path, 0o400);
      await Identity.load(path);
    });
  },
});

Deno.test("Identity.load gives INVALID_KEY_FILE for a malformed file and NotFound for a missing one", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/bad.pem`;
    await Deno.writeTextFile(
      path,
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
      {
        mode: 0o600,
      },
    );
    const err = await Identity.load(path).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof IdentityError);
    assert.equal(err.code, "INVALID_KEY_FILE");
    assert.equal(err.path, path);
    assert.ok(err.message.includes(path));
    await Deno.writeFile(path, new Uint8Array([0xff, 0xfe, 0x00]));
    const err2 = await Identity.load(path).then(() => null, (e: unknown) => e);
    assert.ok(err2 instanceof IdentityError);
    assert.equal(err2.code, "INVALID_KEY_FILE");
    await assert.rejects(Identity.load(`${dir}/missing.pem`), Deno.errors.NotFound);
    const err3 = await Identity.load(dir).then(() => null, (e: unknown) => e);
    assert.ok(err3 instanceof IdentityError || err3 instanceof Deno.errors.PermissionDenied);
  });
});

Deno.test({
  name: "Identity key files are read by openssl, which derives the same public key",
  ignore: !opensslAvailable,
  fn: async () => {
    await withTempDir(async (dir) => {
      const id = await Identity.generate();
      const path = `${dir}/key.pem`;
      await id.save(path);
      const check = await openssl(["pkey", "-in", path, "-noout"]);
      assert.equal(check.code, 0, check.stderr);
      const pub = await openssl(["pkey", "-in", path, "-pubout", "-outform", "DER"]);
      assert.equal(pub.code, 0, pub.stderr);
      // SubjectPublicKeyInfo for Ed25519: 12-byte header, then the raw key.
      assert.equal(pub.stdout.length, 44);
      assert.equal(pub.stdout.subarray(12).toHex(), id.publicKeyRaw.toHex());
    });
  },
});

Deno.test({
  name: "Identity.load reads a key generated by openssl genpkey",
  ignore: !opensslAvailable,
  fn: async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/ossl.pem`;
      const gen = await openssl(["genpkey", "-algorithm", "ed25519", "-out", path]);
      assert.equal(gen.code, 0, gen.stderr);
      await Deno.chmod(path, 0o600);
      const id = await Identity.load(path);
      const pub = await openssl(["pkey", "-in", path, "-pubout", "-outform", "DER"]);
      assert.equal(pub.stdout.subarray(12).toHex(), id.publicKeyRaw.toHex());
      assert.equal(await id.toPkcs8Pem(), await Deno.readTextFile(path));
    });
  },
});

Deno.test("Identity.save with agentId keeps an Agent-Id line that Identity.load reads and openssl ignores", async () => {
  await withTempDir(async (dir) => {
    const id = await Identity.generate({ agentId: "alice the agent" });
    const path = `${dir}/alice.pem`;
    await id.save(path, { agentId: true });
    const text = await Deno.readTextFile(path);
    assert.ok(text.startsWith("Agent-Id: alice the agent\n-----BEGIN PRIVATE KEY-----\n"));
    if (!isWindows) assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const back = await Identity.load(path);
    assert.equal(back.agentId, "alice the agent");
    assert.equal(back.fingerprint, id.fingerprint);
    assert.equal((await Identity.load(path, { agentId: "bob" })).agentId, "bob");
    // Without the line, the default name.
    await id.save(path);
    assert.equal((await Identity.load(path)).agentId, `agent-${id.fingerprint.slice(0, 12)}`);
    await assert.rejects(
      () =>
        Identity.generate({ agentId: "a\nb" }).then((x) =>
          x.save(`${dir}/x.pem`, { agentId: true })
        ),
      RangeError,
    );
    if (opensslAvailable) {
      await id.save(path, { agentId: true });
      const out = await openssl(["pkey", "-in", path, "-pubout", "-outform", "DER"]);
      assert.equal(out.code, 0, out.stderr);
      // The DER SubjectPublicKeyInfo ends with the raw 32-byte key.
      assert.deepEqual(out.stdout.slice(-32), id.publicKeyRaw);
    }
  });
});

/** Runs `fn` with `Deno.open` refusing (instead of blocking on) `path`. */
async function neverOpening(path: string, fn: () => Promise<void>): Promise<void> {
  const open = Deno.open;
  Deno.open = ((p: string | URL, o?: Deno.OpenOptions) => {
    if (String(p) === path) throw new Error(`Deno.open was called on ${path}`);
    return open(p, o);
  }) as typeof Deno.open;
  try {
    await fn();
  } finally {
    Deno.open = open;
  }
}

Deno.test({
  name: "Identity.load refuses a FIFO, or a link to one, with INVALID_KEY_FILE without opening it",
  ignore: isWindows,
  fn: async () => {
    await withTempDir(async (dir) => {
      const fifo = `${dir}/key.pem`;
      const made = await new Deno.Command("mkfifo", { args: ["-m", "600", fifo] }).output();
      assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
      const link = `${dir}/link.pem`;
      await Deno.symlink(fifo, link);
      for (const path of [fifo, link]) {
        // Opening a FIFO for reading with no writer would block forever;
        // here it would throw instead, and the test would fail.
        await neverOpening(path, async () => {
          const err = await Identity.load(path).then(() => null, (e: unknown) => e);
          assert.ok(err instanceof IdentityError, `expected IdentityError, got ${err}`);
          assert.equal(err.code, "INVALID_KEY_FILE");
          assert.equal(err.path, path);
          assert.match(err.message, /is a FIFO, not a regular file/);
        });
      }
    });
  },
});

Deno.test({
  name: "Identity.load refuses a character device and a directory before opening them",
  ignore: isWindows,
  fn: async () => {
    await neverOpening("/dev/null", async () => {
      const err = await Identity.load("/dev/null").then(() => null, (e: unknown) => e);
      assert.ok(err instanceof IdentityError);
      assert.equal(err.code, "INVALID_KEY_FILE");
      assert.match(err.message, /\/dev\/null is a character device, not a regular file/);
    });
    await withTempDir(async (dir) => {
      await neverOpening(dir, async () => {
        const err = await Identity.load(dir).then(() => null, (e: unknown) => e);
        assert.ok(err instanceof IdentityError);
        assert.match(err.message, /is a directory, not a regular file/);
      });
    });
  },
});

Deno.test("Identity.load refuses a PKCS#8 v2 key file whose public-key field is another key", async () => {
  await withTempDir(async (dir) => {
    const id = await Identity.generate();
    const other = await Identity.generate();
    const v1 = Uint8Array.fromBase64((await id.toPkcs8Pem()).split("\n").slice(1, -2).join(""));
    const v2 = (pub: Uint8Array) =>
      new Uint8Array([0x30, 0x51, 0x02, 0x01, 0x01, ...v1.subarray(5), 0x81, 0x21, 0x00, ...pub]);
    const pem = (der: Uint8Array) =>
      `-----BEGIN PRIVATE KEY-----\n${der.toBase64()}\n-----END PRIVATE KEY-----\n`;
    const good = `${dir}/good.pem`;
    await Deno.writeTextFile(good, pem(v2(id.publicKeyRaw)), { mode: 0o600 });
    assert.equal((await Identity.load(good)).fingerprint, id.fingerprint);
    const bad = `${dir}/bad.pem`;
    await Deno.writeTextFile(bad, pem(v2(other.publicKeyRaw)), { mode: 0o600 });
    const err = await Identity.load(bad).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof IdentityError);
    assert.equal(err.code, "PUBLIC_KEY_MISMATCH");
    assert.equal(err.path, bad);
    assert.ok(err.message.includes(other.fingerprint), err.message);
    assert.ok(err.message.includes(id.fingerprint), err.message);
  });
});
