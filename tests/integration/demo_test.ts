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
  let names: ReadonlyMap<string, string> = new Map();
  const s = await runDemo({
    onEvent: (e, n) => {
      events.push(e);
      names = n;
    },
    onStep: (l) => steps.push(l),
  });
  assert.deepEqual(s.trust.alpha, { beta: "trusted", gamma: "trusted", ada: "person:restricted" });
  assert.deepEqual(s.lip.alpha, { accepted: 1 });
  assert.deepEqual(s.claims.alpha, { pending: 1 });
  assert.equal(s.facts.alpha, 1);
  // The story is told in order.
  const story = [
    /^Three agents start/,
    /CIP HELLO \/ HELLO \/ VERIFY$/,
    /intent to beta: accepted$/,
    /gamma becomes overloaded .*deferred$/,
    /^ada .* HCP_HELLO$/,
    /HCP_INTENT passes consent and reaches beta's and gamma's loops/,
    /fetches a page \(LIP\).*corroborate$/,
    /one trusted confirmation of two$/,
    /revokes consent.*consent_revoked$/,
  ];
  assert.equal(steps.length, story.length, steps.join("\n"));
  story.forEach((re, i) => assert.match(steps[i]!, re));
  // What each step claims, in the events: who did what, with which result.
  const name = (fp: string | undefined) => names.get(fp ?? "") ?? "?";
  const of = (kind: string) => events.filter((e) => e.kind === kind);
  const intents = of("agent.intent").map((e) =>
    `${e.node} <- ${
      name(e.peer)
    }: ${e.data.source} ${e.data.goal} ${e.data.topic} ${e.data.decision}`
  );
  assert.deepEqual(intents.slice(0, 4).sort(), [
    "alpha <- ada: person request topic:water null",
    "beta <- alpha: peer ask aral water nitrate accept",
    "beta <- alpha: peer ask topic:water accept",
    "gamma <- alpha: peer ask topic:water accept",
  ]);
  assert.deepEqual(
    of("agent.send_held").map((e) => `${e.node} -> ${name(e.peer)}: ${e.data.code}`),
    ["alpha -> gamma: peer_overloaded"],
  );
  assert.deepEqual(
    of("lip.claim").filter((e) => e.data.to === "accepted").map((e) => [e.node, e.data.reason]),
    [["alpha", "2 trusted corroborators"]],
  );
  assert.deepEqual(
    of("cip.claim").map((e) => [e.node, e.data.status, e.data.reason]),
    [["alpha", "pending", "awaiting trusted confirmations"]],
  );
  assert.deepEqual(
    of("router.dispatched").filter((e) => e.data.status === "refused").map((e) =>
      `${e.node}: ${e.data.type} ${e.data.code}`
    ),
    ["alpha: HCP_INTENT consent_revoked"],
  );
  // The summary counts what the routers dispatched and the events before the stop.
  const before = events.slice(0, s.events);
  for (const protocol of ["cip", "hcp", "lip"]) {
    const dispatched = before.filter((e) =>
      e.kind === "router.dispatched" && e.data.protocol === protocol
    );
    assert.equal(s.messages[protocol], dispatched.length, protocol);
  }
  assert.ok(s.messages.cip! > 0 && s.messages.hcp! > 0 && s.messages.lip! > 0);
  const shutdown = new Set(["agent.stopping", "rtt.session_close", "agent.peer_disconnected"]);
  assert.deepEqual(before.filter((e) => e.kind === "agent.stopping"), []);
  assert.deepEqual(events.slice(s.events).filter((e) => !shutdown.has(e.kind)), []);
  assert.deepEqual(of("agent.stopping").map((e) => e.node).sort(), ["alpha", "beta", "gamma"]);
  assert.ok(s.latency.count > 0 && s.latency.p95 >= s.latency.p50);
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
