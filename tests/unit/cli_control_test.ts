// The control endpoint of a running serve (issue 19, "An agent you can talk to while it
// runs"): web4 status and web4 send go through the serve with the same key, found through
// the well-known folder; the socket and folder are private; a wrong token is refused.
import assert from "node:assert/strict";
import { web4, Web4Process } from "../helpers/web4.ts";

async function keygen(path: string, agentId: string): Promise<string> {
  const r = await web4(["keygen", "--out", path, "--agent-id", agentId, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).fingerprint;
}

Deno.test("web4 status and send talk to the running serve through its control socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4_control_" });
  const env = { env: { XDG_RUNTIME_DIR: `${dir}/run` } };
  try {
    const fa = await keygen(`${dir}/a.pem`, "alice");
    const fb = await keygen(`${dir}/b.pem`, "bob");
    // Nothing runs yet: status says so and how to start one.
    const none = await web4(["status", "--key", `${dir}/a.pem`], env);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^error: no web4 serve runs for \w{16} .*web4 serve --key/);

    await using a = new Web4Process(
      ["serve", "--key", `${dir}/a.pem`, "--listen", "127.0.0.1:0"],
      env,
    );
    await using b = new Web4Process(
      ["serve", "--key", `${dir}/b.pem`, "--listen", "127.0.0.1:0"],
      env,
    );
    const socket = (await a.line(/^control on unix:(\S+)$/))[1]!;
    const bPort = (await b.line(/^listening on 127\.0\.0\.1:(\d+)$/))[1]!;
    await b.line(/^control on unix:/);
    const folder = `${dir}/run/web4/${fa.slice(0, 32)}`;
    assert.equal(socket, `${folder}/control.sock`);
    assert.equal((await Deno.stat(folder)).mode! & 0o777, 0o700);
    assert.equal((await Deno.lstat(socket)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${folder}/token`)).mode! & 0o777, 0o600);

    const status = await web4(["status", "--key", `${dir}/a.pem`, "--json"], env);
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout);
    assert.deepEqual([s.agentId, s.fingerprint, s.peers], ["alice", fa, 0]);
    assert.ok(s.lri < 50, `an idle agent's lri: ${s.lri}`);

    // events --follow --key streams what alice's serve does from now on.
    await using follower = new Web4Process(
      ["events", "--key", `${dir}/a.pem`, "--follow", "--json"],
      env,
    );
    await follower.line(/"kind":"agent\.started"/);

    // send with alice's key goes through alice's serve (its session to bob), not a
    // second agent: bob refuses the fetch and the reason is printed.
    const sent = await web4([
      "send",
      "--key",
      `${dir}/a.pem`,
      "--to",
      `127.0.0.1:${bPort}`,
      "--fingerprint",
      fb,
      "--protocol",
      "lip",
      "--type",
      "LIP_FETCH",
      "--payload",
      '{"query":"https://example.com/","constraints":[]}',
      "--timeout",
      "20000",
    ], env);
    assert.equal(sent.code, 1, sent.stdout + sent.stderr);
    assert.match(
      sent.stdout,
      /^refused LIP_FETCH \S+: LIP_ERROR not_allowed: .*only the person and trusted peers/,
    );
    await follower.line(new RegExp(`"peer":"${fb}"`));
    assert.equal((await follower.stop("SIGTERM")).code, 0);
    // The session is alice's serve's own: its status now counts bob, verified.
    const after = JSON.parse(
      (await web4(["status", "--key", `${dir}/a.pem`, "--json"], env)).stdout,
    );
    assert.equal(after.verifiedPeers, 1);

    // trust --key and events --key read the running serve's peers and events.
    const trust = await web4(["trust", "--key", `${dir}/a.pem`, "--json"], env);
    assert.equal(trust.code, 0, trust.stderr);
    const peers = JSON.parse(trust.stdout).peers;
    assert.deepEqual(
      peers.map((p: { fingerprint: string; verified: boolean }) => [p.fingerprint, p.verified]),
      [[fb, true]],
    );
    const events = await web4(["events", "--key", `${dir}/a.pem`, "--json"], env);
    assert.equal(events.code, 0, events.stderr);
    const kinds = events.stdout.trim().split("\n").map((l) => JSON.parse(l).kind);
    assert.ok(kinds.includes("agent.started"), kinds.join(" "));

    // A wrong token is refused (and not echoed); the right one pages the peers, the
    // limit capped at 100; a bad cursor is a 400.
    const token = (await Deno.readTextFile(`${folder}/token`)).trim();
    const wrong = await controlGet(folder, "/v1/status", "not-the-token");
    assert.deepEqual([wrong.status, wrong.code], [401, "UNAUTHORIZED"]);
    assert.equal(JSON.stringify(wrong).includes(token), false);
    const page = await controlGet(folder, "/v1/peers?limit=100000");
    assert.equal(page.status, 200);
    assert.deepEqual(page.body.items.map((p: { fingerprint: string }) => p.fingerprint), [fb]);
    assert.equal(page.body.next, null);
    assert.equal((await controlGet(folder, "/v1/peers?cursor=-1")).status, 400);

    // A second serve with the same key is refused while the first runs.
    const twin = await web4(["serve", "--key", `${dir}/a.pem`, "--listen", "127.0.0.1:0"], env);
    assert.equal(twin.code, 1);
    assert.match(twin.stderr, /Another web4 serve for this agent runs/);

    assert.equal((await a.stop("SIGTERM")).code, 0);
    await assert.rejects(() => Deno.lstat(socket), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const _client = new URL("../../cli/control/client.ts", import.meta.url).href;

/**
 * One GET through `ControlClient` in a child (a Unix socket client needs
 * `--allow-net` for its path, which the test run does not grant).
 */
async function controlGet(
  folder: string,
  target: string,
  token?: string,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; code?: string; body?: any }> {
  const script = `
    import { ControlClient, ControlError } from ${JSON.stringify(_client)};
    const c = await ControlClient.find(${JSON.stringify(folder)}, ${JSON.stringify(token)});
    try {
      console.log(JSON.stringify({ status: 200, body: await c.get(${JSON.stringify(target)}) }));
    } catch (e) {
      if (!(e instanceof ControlError)) throw e;
      console.log(JSON.stringify({ status: e.status, code: e.code, reason: e.reason }));
    } finally {
      c.close();
    }`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  assert.equal(out.code, 0, d.decode(out.stderr));
  return JSON.parse(d.decode(out.stdout));
}

Deno.test("web4 serve --load N fixes the load index; a bad value is a usage error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4_load_" });
  try {
    await keygen(`${dir}/a.pem`, "alice");
    const bad = await web4([
      "serve",
      "--key",
      `${dir}/a.pem`,
      "--listen",
      "127.0.0.1:0",
      "--load",
      "high",
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--load must be auto, off or an integer from 0 to 100, got "high"/);
    const control = ["--control-dir", `${dir}/ctl`];
    await using a = new Web4Process([
      "serve",
      "--key",
      `${dir}/a.pem`,
      "--listen",
      "127.0.0.1:0",
      "--load",
      "90",
      ...control,
    ]);
    await a.line(/^control on unix:/);
    const status = await web4(["status", "--key", `${dir}/a.pem`, "--json", ...control]);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(
      (({ presence, lri }) => ({ presence, lri }))(JSON.parse(status.stdout)),
      { presence: "overloaded", lri: 90 },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
