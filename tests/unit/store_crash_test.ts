import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openStore } from "../../lib/store/mod.ts";
import { P1 } from "./store_records.ts";
import { counters, recount } from "./store_counting.ts";

const CHILD = new URL("./store_crash_child.ts", import.meta.url).pathname;

/** Reads the child's stdout until it has printed a commit number >= `atLeast`. */
async function readUntil(stream: ReadableStream<Uint8Array>, atLeast: number): Promise<number> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let last = 0;
  while (last < atLeast) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`The child stopped after commit ${last}`);
    buffered += value;
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const line of lines) last = Number(line);
  }
  reader.releaseLock();
  return last;
}

for (const mode of ["commit", "batch"] as const) {
  Deno.test(`Store survives SIGKILL during a stream of ${mode === "batch" ? "group " : ""}commits: integrity ok, every change list all or nothing`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "web4-crash-" });
    const path = `${dir}/agent.db`;
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", `--allow-read=${dir}`, `--allow-write=${dir}`, CHILD, path, mode],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const seen = await readUntil(child.stdout, 300);
      child.kill("SIGKILL");
      const status = await child.status;
      await child.stdout.cancel().catch(() => {});
      assert.equal(status.signal, "SIGKILL");

      using store = openStore(path);
      assert.equal(store.integrityCheck(), "ok");
      const raw = new DatabaseSync(path, { readOnly: true });
      const one = (sql: string) => Number(Object.values(raw.prepare(sql).get()!)[0]);
      const logs = one("SELECT COUNT(*) FROM trust_log");
      const claims = one("SELECT COUNT(*) FROM claims");
      const record = store.trust("cip", P1);
      assert.ok(logs >= seen, `at least the ${seen} acknowledged commits are there (${logs})`);
      assert.equal(claims, logs, "each commit's claim is there exactly when its log entry is");
      assert.equal(record?.maliceCount, logs, "the trust record is the last commit's");
      assert.equal(one("SELECT COUNT(*) FROM trust_evidence"), 3 * logs);
      assert.equal(
        one(
          "SELECT COUNT(*) FROM trust_log l WHERE (SELECT COUNT(*) FROM trust_evidence e WHERE e.log_id = l.id) <> 3",
        ),
        0,
        "every transition has its three evidence rows",
      );
      assert.equal(store.usage(P1, "evidence"), logs, "the quota counters are consistent too");
      raw.close();
      store.close();
      // Counted in memory, written once per transaction: on disk they are the rows' own.
      assert.deepEqual(counters(path), recount(path), "the byte counters equal a recount");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

const ROUTER_CHILD = new URL("./store_crash_router_child.ts", import.meta.url).pathname;

Deno.test("Router under SIGKILL: no result, reply or event left before its state (replay entry included) had committed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4-crash-router-" });
  const path = `${dir}/agent.db`;
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", `--allow-read=${dir}`, `--allow-write=${dir}`, ROUTER_CHILD, path],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    // Read what left the router until 200 results, then kill it mid-stream.
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const left: { what: string; msgId: string; type?: string }[] = [];
    let buffered = "";
    while (left.filter((l) => l.what === "R").length < 200) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`The child stopped after ${left.length} lines`);
      buffered += value;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        const [what, msgId, type] = line.split(" ");
        left.push({ what: what!, msgId: msgId!, ...(type === undefined ? {} : { type }) });
      }
    }
    child.kill("SIGKILL");
    assert.equal((await child.status).signal, "SIGKILL");
    await reader.cancel().catch(() => {});

    using store = openStore(path);
    assert.equal(store.integrityCheck(), "ok");
    const raw = new DatabaseSync(path, { readOnly: true });
    const replayed = new Set(
      raw.prepare("SELECT msg_id FROM replay").all().map((r) => String(r.msg_id)),
    );
    const claims = new Set(raw.prepare("SELECT id FROM claims").all().map((r) => String(r.id)));
    const pairs = raw.prepare("SELECT sender, COUNT(*) AS n FROM replay GROUP BY sender").all();
    raw.close();
    for (const { sender, n } of pairs) {
      assert.equal(
        store.usage(String(sender), "replay"),
        Number(n),
        "replay counters equal the rows",
      );
    }
    store.close();
    assert.deepEqual(counters(path), recount(path), "the byte counters equal a recount");
    assert.ok(left.some((l) => l.what === "E"), "events left too");
    for (const l of left) {
      assert.ok(
        replayed.has(l.msgId),
        `${l.what} ${l.msgId} left before its replay entry committed`,
      );
      if (l.type === "FACT_PROPOSE") {
        assert.ok(claims.has(l.msgId), `the result of ${l.msgId} left before its claim committed`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
