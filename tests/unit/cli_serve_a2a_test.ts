/**
 * `web4 serve --a2a`: the flags, the printed lines (`a2a on`, `a2a card`,
 * `a2a token`), a real A2A call with the printed token, a refused one
 * without, the `a2a.task` event in the event file, and the usage errors.
 */
import assert from "node:assert/strict";
import { readLoggedEvents, web4, Web4Process } from "../helpers/web4.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "web4_a2a_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("web4 serve --a2a prints its URL, card and token; the token's client gets a task, a request without it 401, and the exchange is in the event log", async () => {
  await withDir(async (dir) => {
    const k = await web4(["keygen", "--out", `${dir}/a.pem`, "--agent-id", "alice"]);
    assert.equal(k.code, 0, k.stderr);
    await using a = new Web4Process([
      "serve",
      "--key",
      `${dir}/a.pem`,
      "--listen",
      "127.0.0.1:0",
      "--mission",
      "water quality",
      "--events",
      `${dir}/a.jsonl`,
      "--a2a",
      "127.0.0.1:0",
      "--a2a-share",
      "water",
    ]);
    const rpc = (await a.line(/^a2a on (http:\S+\/a2a)$/))[1]!;
    const card = (await a.line(/^a2a card (http:\S+)$/))[1]!;
    const token = (await a.line(/^a2a token (\S+)$/))[1]!;
    const cardJson = await (await fetch(card)).json();
    assert.equal(cardJson.name, "alice");
    assert.equal(cardJson.supportedInterfaces[0].url, rpc);
    assert.equal(cardJson.skills[0].id, "ask:topic:water");
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "message/send",
      params: {
        message: {
          kind: "message",
          messageId: "m1",
          role: "user",
          parts: [{ kind: "text", text: "water" }],
        },
      },
    });
    const refused = await fetch(rpc, { method: "POST", body });
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    const res = await fetch(rpc, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body,
    });
    const json = await res.json();
    // A 0.3 call is answered in 0.3's shape; no person is enrolled, so the task waits for one.
    assert.equal(json.result.kind, "task");
    assert.equal(json.result.status.state, "input-required");
    assert.match(json.result.status.message.parts[0].text, /no person is enrolled/);
    assert.equal((await a.stop()).code, 0);
    const events = (await readLoggedEvents(`${dir}/a.jsonl`)).filter((e) => e.kind === "a2a.task");
    assert.deepEqual(events.map((e) => (e.data as { state: string }).state), [
      "TASK_STATE_SUBMITTED",
      "TASK_STATE_INPUT_REQUIRED",
    ]);
  });
});

Deno.test("web4 serve --a2a: usage errors name the flag (non-loopback without TLS, flags without --a2a, a bad token file)", async () => {
  await withDir(async (dir) => {
    const k = await web4(["keygen", "--out", `${dir}/a.pem`]);
    assert.equal(k.code, 0, k.stderr);
    const base = ["serve", "--key", `${dir}/a.pem`, "--listen", "127.0.0.1:0"];
    let r = await web4([...base, "--a2a", "0.0.0.0:0"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--a2a 0\.0\.0\.0:0 is not a loopback address/);
    r = await web4([...base, "--a2a-share", "water"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /need --a2a/);
    await Deno.writeTextFile(`${dir}/tokens`, "planner short\n");
    r = await web4([...base, "--a2a", "127.0.0.1:0", "--a2a-token-file", `${dir}/tokens`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /line 1: the token of planner is shorter than 16 characters/);
  });
});
