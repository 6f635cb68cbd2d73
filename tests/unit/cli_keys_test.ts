import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { openStore } from "../../lib/store/mod.ts";
import { web4 } from "../helpers/web4.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "web4_cli_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("web4 keygen writes a 0600 key with its agent id that web4 id reads back; no overwrite without --force", async () => {
  await withDir(async (dir) => {
    const key = `${dir}/alice.pem`;
    const made = await web4(["keygen", "--out", key, "--agent-id", "alice", "--json"]);
    assert.equal(made.code, 0, made.stderr);
    const { fingerprint } = JSON.parse(made.stdout);
    assert.equal((await Deno.stat(key)).mode! & 0o777, 0o600);
    const loaded = await Identity.load(key);
    assert.equal(loaded.agentId, "alice");
    assert.equal(loaded.fingerprint, fingerprint);

    const id = await web4(["id", key, "--json"]);
    assert.equal(id.code, 0, id.stderr);
    assert.deepEqual(JSON.parse(id.stdout), {
      agentId: "alice",
      fingerprint,
      publicKey: loaded.publicKeyBase64,
    });
    const text = await web4(["id", key]);
    assert.match(text.stdout, new RegExp(`fingerprint: ${fingerprint}`));

    const again = await web4(["keygen", "--out", key]);
    assert.equal(again.code, 1);
    assert.equal(again.stderr.trim().split("\n").length, 1);
    assert.match(again.stderr, /exists; use --force/);
    assert.equal((await Identity.load(key)).fingerprint, fingerprint);

    const forced = await web4(["keygen", "--out", key, "--force", "--json"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(JSON.parse(forced.stdout).fingerprint, fingerprint);
  });
});

Deno.test("web4 keygen and id give one-line errors: usage exit 2, missing or loose files exit 1", async () => {
  await withDir(async (dir) => {
    const cases: [string[], number, RegExp][] = [
      [["keygen"], 2, /--out is required/],
      [
        ["keygen", "--out", `${dir}/k.pem`, "--bogus"],
        2,
        /^error: unknown flag --bogus \(see web4 keygen --help\)$/m,
      ],
      [["keygen", "--out", `${dir}/no/such/dir/k.pem`], 1, /no such directory/],
      [["id"], 2, /expected exactly one key FILE/],
      [["id", `${dir}/missing.pem`], 1, /No such key file/],
      [["trust"], 2, /--store is required/],
      [["trust", "--store", `${dir}/missing.db`], 1, /No such store/],
      [["trust", "--store", `${dir}/x.db`, "--dot", "--mermaid"], 2, /choose one of/],
    ];
    for (const [args, code, re] of cases) {
      const r = await web4(args);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
    await Deno.writeTextFile(`${dir}/loose.pem`, await (await Identity.generate()).toPkcs8Pem(), {
      mode: 0o644,
    });
    await Deno.chmod(`${dir}/loose.pem`, 0o644);
    const loose = await web4(["id", `${dir}/loose.pem`]);
    assert.equal(loose.code, 1);
    assert.match(loose.stderr, /mode 0644.*chmod 600/);
  });
});

Deno.test("web4 trust prints subjects, transitions, --json, --dot and --mermaid from a store", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/agent.db`;
    const peer = "ab".repeat(32);
    {
      using store = openStore(path);
      store.commit([
        {
          kind: "trust.state",
          record: {
            machine: "cip",
            subject: peer,
            state: "probing",
            sinceMs: 1_700_000_000_000,
            cooldownUntilMs: 0,
            maliceCount: 0,
            strikesMs: [],
          },
        },
        {
          kind: "trust.log",
          entry: {
            machine: "cip",
            subject: peer,
            atMs: 1_700_000_000_000,
            event: "valid_handshake",
            from: "untrusted",
            to: "probing",
            changed: true,
            reason: "handshake verified",
            evidence: [],
          },
        },
      ]);
    }
    const text = await web4(["trust", "--store", path]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /1 subject\(s\)\n {2}cip {2}abababababababab… +probing/);
    assert.match(text.stdout, /untrusted -> probing {2}valid_handshake: handshake verified/);
    const json = JSON.parse((await web4(["trust", "--store", path, "--json"])).stdout);
    assert.equal(json.subjects[0].state, "probing");
    assert.equal(json.log[0].event, "valid_handshake");
    const dot = (await web4(["trust", "--store", path, "--dot"])).stdout;
    assert.match(dot, /^digraph trust \{/);
    assert.match(dot, /"cip_untrusted" -> "cip_probing" \[label="valid_handshake"\];/);
    const mermaid = (await web4(["trust", "--store", path, "--mermaid"])).stdout;
    assert.match(mermaid, /^stateDiagram-v2\n {2}cip_untrusted --> cip_probing : valid_handshake/);
    // Read-only: the store is unchanged and still opens.
    using store = openStore(path);
    assert.equal(store.trust("cip", peer)?.state, "probing");
  });
});
