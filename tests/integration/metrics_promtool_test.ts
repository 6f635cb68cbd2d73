/**
 * The metrics drop into an existing Prometheus: a live `web4 serve`'s
 * `/metrics` (with a peer connected, so labelled series and histograms have
 * samples) piped through `promtool check metrics` (Debian's `prometheus`
 * package), and `docs/alerts.yml` through `promtool check rules`.
 *
 * Without promtool the test is skipped with a message, except when
 * `CI=true`, where it fails (`.ci/run` installs it).
 */
import assert from "node:assert/strict";
import { WEB4_METRICS } from "../../lib/observability/mod.ts";
import { web4, Web4Process } from "../helpers/web4.ts";

const promtool = Deno.env.get("WEB4_PROMTOOL") ?? "promtool";

async function _hasPromtool(): Promise<boolean> {
  try {
    const out = await new Deno.Command(promtool, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.success;
  } catch {
    return false;
  }
}

const found = await _hasPromtool();
const inCi = Deno.env.get("CI") === "true";
if (!found && !inCi) {
  console.warn(
    "metrics_promtool_test: skipped, no promtool found (apt-get install -y prometheus, or set WEB4_PROMTOOL)",
  );
}

/** Runs `promtool ARGS` with `input` on stdin; returns its exit code and output. */
async function _promtool(args: string[], input = ""): Promise<{ code: number; out: string }> {
  const child = new Deno.Command(promtool, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  const d = new TextDecoder();
  return { code: out.code, out: d.decode(out.stdout) + d.decode(out.stderr) };
}

async function _keygen(path: string, agentId: string): Promise<string> {
  const r = await web4(["keygen", "--out", path, "--agent-id", agentId, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).fingerprint;
}

Deno.test({
  name:
    "a live agent's /metrics passes `promtool check metrics`; docs/alerts.yml passes `promtool check rules`",
  ignore: !found && !inCi,
  async fn() {
    assert.ok(found, "CI=true but no promtool: .ci/run installs Debian's prometheus package");
    const dir = await Deno.makeTempDir({ prefix: "web4_promtool_" });
    try {
      const fa = await _keygen(`${dir}/a.pem`, "alice");
      await _keygen(`${dir}/b.pem`, "bob");
      await using a = new Web4Process([
        "serve",
        "--key",
        `${dir}/a.pem`,
        "--listen",
        "127.0.0.1:0",
        "--store",
        `${dir}/a.db`,
        "--metrics",
        "127.0.0.1:0",
      ]);
      const port = (await a.line(/^listening on 127\.0\.0\.1:(\d+)$/))[1]!;
      const url = (await a.line(/^metrics on (http:\S+)$/))[1]!;

      // At idle, before any peer: every family is there, at zero.
      const idle = await (await fetch(url)).text();
      for (const f of WEB4_METRICS) assert.match(idle, new RegExp(`^# HELP ${f.name} `, "m"));
      const idleCheck = await _promtool(["check", "metrics"], idle);
      assert.equal(idleCheck.code, 0, idleCheck.out);

      await using b = new Web4Process([
        "serve",
        "--key",
        `${dir}/b.pem`,
        "--listen",
        "127.0.0.1:0",
        "--store",
        `${dir}/b.db`,
        "--peer",
        `127.0.0.1:${port}=${fa}`,
      ]);
      await b.line(new RegExp(`^connected to ${fa.slice(0, 16)} at 127\\.0\\.0\\.1:${port}$`));
      // The handshake's messages are dispatched by the router: wait for their histogram.
      let text = "";
      const deadline = Date.now() + 30_000;
      while (!/^web4_router_dispatch_seconds_count\{protocol="[^"]+"\} [1-9]/m.test(text)) {
        assert.ok(Date.now() < deadline, `no dispatch recorded after 30 s:\n${text}`);
        text = await (await fetch(url)).text();
      }
      assert.match(text, /^web4_transport_sessions 1$/m);
      assert.match(text, /^web4_router_messages_total\{protocol="[^"]+",status="[a-z]+"\} [1-9]/m);
      assert.doesNotMatch(text, /peer=|fingerprint=/, "no per-peer label");
      const check = await _promtool(["check", "metrics"], text);
      assert.equal(check.code, 0, check.out + "\n" + text);
      assert.equal(check.out.trim(), "", "promtool's lint has nothing to say");

      const rules = new URL("../../docs/alerts.yml", import.meta.url).pathname;
      const ruleCheck = await _promtool(["check", "rules", rules]);
      assert.equal(ruleCheck.code, 0, ruleCheck.out);
      assert.match(ruleCheck.out, /SUCCESS: \d+ rules found/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
