/**
 * `cli/web4demo.ts`: the story runs to its end on the real RTT, every event
 * validates against the event contract, the summary says what happened;
 * the command asks for (or names) exactly its permissions.
 */
import assert from "node:assert/strict";
import { runDemo } from "../../cli/demo.ts";
import type { Web4Event } from "../../lib/observability/mod.ts";
import { assertEventContract } from "../helpers/agents.ts";

const ROOT = new URL("../../", import.meta.url);

Deno.test("web4demo story: trust from anchors, LIP evidence accepted on two corroborations, a fact pending on one confirmation, consent revoked", async () => {
  const events: Web4Event[] = [];
  const steps: string[] = [];
  const s = await runDemo({ onEvent: (e) => events.push(e), onStep: (l) => steps.push(l) });
  assert.deepEqual(s.trust.alpha, { beta: "trusted", gamma: "trusted", ada: "person:restricted" });
  assert.deepEqual(s.lip.alpha, { accepted: 1 });
  assert.deepEqual(s.claims.alpha, { pending: 1 });
  assert.equal(s.facts.alpha, 1);
  assert.ok((s.messages.cip ?? 0) > 0 && (s.messages.hcp ?? 0) > 0 && (s.messages.lip ?? 0) > 0);
  assert.ok(s.latency.count > 0 && s.latency.p95 >= s.latency.p50);
  assert.ok(
    s.events > 0 && s.events <= events.length,
    "the summary counts the events before the stop",
  );
  assert.ok(steps.length >= 8);
  assertEventContract(events);
});

Deno.test("web4demo without a terminal and without permissions exits 2 with one line naming the flags", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "cli/web4demo.ts"],
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr).trim();
  assert.equal(out.code, 2);
  assert.equal(err.split("\n").length, 1);
  assert.match(err, /deno run -P cli\/web4demo\.ts/);
  assert.match(err, /--allow-net=127\.0\.0\.1/);
});

Deno.test("web4demo with the deno.json permission set (-P) runs with no prompt and ends with a JSON summary (--json)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-P", "cli/web4demo.ts", "--json"],
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  const events = lines.slice(0, -1).map((l) => JSON.parse(l) as Web4Event);
  const last = JSON.parse(lines.at(-1)!);
  assert.equal(last.summary.lip.alpha.accepted, 1);
  assertEventContract(events);
});

const python = await (async () => {
  try {
    const out = await new Deno.Command("python3", { args: ["-c", "import pty"] }).output();
    return out.success;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "web4demo in a terminal says why in one line, then asks for exactly four permissions (env, net, read, ffi) and runs",
  ignore: !python,
  async fn() {
    const driver = new URL("../helpers/pty_answer.py", import.meta.url).pathname;
    const out = await new Deno.Command("python3", {
      args: [driver, Deno.execPath(), "run", "cli/web4demo.ts"],
      cwd: ROOT.pathname,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text.slice(-500));
    const why = text.split("\n").filter((l) => l.startsWith("web4demo needs:"));
    assert.equal(why.length, 1);
    const asked = [...text.matchAll(/Deno requests (\w+) access to "([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(asked, ["env", "net", "read", "ffi"]);
    assert.match(text, /summary/);
  },
});
