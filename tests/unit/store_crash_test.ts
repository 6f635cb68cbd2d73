import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openStore } from "../../lib/store/mod.ts";
import { P1 } from "./store_records.ts";

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
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
