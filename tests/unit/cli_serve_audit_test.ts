import assert from "node:assert/strict";
import { AuditLog } from "../../lib/observability/mod.ts";
import { web4, Web4Process } from "../helpers/web4.ts";

Deno.test("web4 serve keeps the audit stream next to its store (STORE.audit.jsonl), readable with web4 events, across a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4_audit_" });
  try {
    const key = async (name: string) => {
      const r = await web4(["keygen", "--out", `${dir}/${name}.pem`, "--agent-id", name, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout).fingerprint as string;
    };
    const fa = await key("alice");
    const fc = await key("carol");
    const serve = ["serve", "--key", `${dir}/alice.pem`, "--store", `${dir}/a.db`];
    {
      await using a = new Web4Process([...serve, "--listen", "127.0.0.1:0"]);
      const port = (await a.line(/^listening on 127\.0\.0\.1:(\d+)$/))[1]!;
      // A stranger (no handshake: untrusted) asks for a fetch of the loopback.
      const sent = await web4([
        "send",
        "--key",
        `${dir}/carol.pem`,
        "--to",
        `127.0.0.1:${port}`,
        "--fingerprint",
        fa,
        "--timeout",
        "30000",
        "--protocol",
        "lip",
        "--type",
        "LIP_FETCH",
        "--payload",
        '{"query":"http://127.0.0.1:1/admin","constraints":[]}',
      ]);
      assert.equal(sent.code === 0 || sent.code === 1, true, sent.stderr);
      assert.equal((await a.stop("SIGTERM")).code, 0, a.errLines.join("\n"));
    }
    const path = `${dir}/a.db.audit.jsonl`;
    const pretty = await web4(["events", path, "--peer", fc.slice(0, 16), "--json"]);
    assert.equal(pretty.code, 0, pretty.stderr);
    const events = pretty.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.ok(events.length > 0 && events.every((e) => e.peer === fc && e.level === "stranger"));
    assert.ok(
      events.some((e) =>
        e.kind.startsWith("lip.") || (e.kind === "router.refused" && e.data.type === "LIP_FETCH")
      ),
      "the stranger's LIP_FETCH is on record",
    );
    // A restart appends after what is there.
    {
      await using again = new Web4Process([...serve, "--listen", "127.0.0.1:0"]);
      await again.line(/^listening on /);
      assert.equal((await again.stop("SIGTERM")).code, 0);
    }
    await using audit = await AuditLog.open(path);
    const all = audit.read({ limit: 1000 }).entries;
    assert.deepEqual(all.map((e) => e.n), all.map((_, i) => i + 1), "positions go on");
    assert.equal(all.filter((e) => e.event.kind === "agent.started").length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
