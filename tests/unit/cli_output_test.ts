/**
 * What `web4` prints, as a user reads it (issue 19 item 10): the version,
 * bare `web4`, unknown flags echoed as typed, a wrong pinned fingerprint
 * naming both keys, and a reconnect warning that does not outlive the
 * peer's return.
 */
import assert from "node:assert/strict";
import { web4, Web4Process } from "../helpers/web4.ts";

async function keygen(path: string): Promise<string> {
  const r = await web4(["keygen", "--out", path, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).fingerprint;
}

/** A loopback port nothing listens on (bound, then released). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("web4 --version prints the version; bare web4 prints usage on stderr and exits 2", async () => {
  const { version } = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  );
  const v = await web4(["--version"]);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout, `web4 ${version}\n`);
  const bare = await web4([]);
  assert.equal(bare.code, 2);
  assert.equal(bare.stdout, "");
  assert.match(bare.stderr, /^Usage: web4 <command>/);
});

Deno.test("an unknown flag is echoed exactly as typed, in one line, exit 2", async () => {
  for (
    const [args, line] of [
      [["send", "--frobnicate"], "error: unknown flag --frobnicate (see web4 send --help)"],
      [["serve", "--kee=é'\"x"], `error: unknown flag --kee=é'"x (see web4 serve --help)`],
      [["trust", "-z"], "error: unknown flag -z (see web4 trust --help)"],
    ] as const
  ) {
    const r = await web4([...args]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `${line}\n`);
  }
});

Deno.test("send to an agent that is not the pinned one names the pinned and the presented fingerprint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4_output_" });
  try {
    const fa = await keygen(`${dir}/a.pem`);
    const fb = await keygen(`${dir}/b.pem`);
    await using a = new Web4Process(["serve", "--key", `${dir}/a.pem`, "--listen", "127.0.0.1:0"]);
    const [, port] = await a.line(/^listening on 127\.0\.0\.1:(\d+)$/);
    const r = await web4([
      "send",
      "--key",
      `${dir}/b.pem`,
      "--to",
      `127.0.0.1:${port}`,
      "--fingerprint",
      fb, // pinned: not the key alice's agent has
      "--protocol",
      "cip",
      "--type",
      "STATE_UPDATE",
      "--payload",
      '{"presence":"focused","lri":10,"ltppeerstate":"probing"}',
    ]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `error: the agent at 127.0.0.1:${port} presented fingerprint ${fa}, not the pinned ${fb}\n`,
    );
    assert.equal((await a.stop()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve's unreachable-peer warning is followed by a connected line once the peer dials in", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4_output_" });
  try {
    const fa = await keygen(`${dir}/a.pem`);
    const fb = await keygen(`${dir}/b.pem`);
    // alice knows bob at an address where nothing listens: her own dialling always fails.
    const nowhere = freePort();
    await using a = new Web4Process([
      "serve",
      "--key",
      `${dir}/a.pem`,
      "--listen",
      "127.0.0.1:0",
      "--peer",
      `127.0.0.1:${nowhere}=${fb}`,
    ]);
    const [, port] = await a.line(/^listening on 127\.0\.0\.1:(\d+)$/);
    const name = `${fb.slice(0, 16)} at 127\\.0\\.0\\.1:${nowhere}`;
    await a.line(new RegExp(`^warning: peer ${name} unreachable \\(.*\\); retrying$`));
    // bob dials alice.
    await using b = new Web4Process([
      "serve",
      "--key",
      `${dir}/b.pem`,
      "--listen",
      "127.0.0.1:0",
      "--peer",
      `127.0.0.1:${port}=${fa}`,
    ]);
    await b.line(new RegExp(`^connected to ${fa.slice(0, 16)} at `));
    await a.line(new RegExp(`^connected to ${name}( \\(it dialled in\\))?$`));
    assert.equal((await b.stop()).code, 0);
    assert.equal((await a.stop()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
