/**
 * `deno task mesh-demo` as a user runs it (issue 19 item 8): without `deno`
 * (or cargo) on PATH, an output file outside the repository refused before
 * the run, and a `--mermaid` graph of one sorted line per pair.
 */
import assert from "node:assert/strict";
import { toMermaid } from "../../cli/web4meshdemo.ts";
import type { HostStatus } from "../../cli/mesh_host.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** `deno task mesh-demo ARGS` with a PATH that holds neither deno nor cargo. */
async function meshDemo(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = await Deno.makeTempDir({ prefix: "web4_emptybin_" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "mesh-demo", ...args],
      cwd: ROOT,
      clearEnv: true,
      env: { PATH: bin, HOME: Deno.env.get("HOME") ?? "/tmp", NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const d = new TextDecoder();
    return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
}

Deno.test("mesh-demo --dot outside the repository is refused before the run, in one line", async () => {
  const outside = await Deno.makeTempDir({ prefix: "web4_dot_" });
  try {
    const r = await meshDemo(["--dot", `${outside}/mesh.dot`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /web4meshdemo: --dot \S+mesh\.dot: no write access there/);
    assert.equal(r.stdout.includes("=="), false, "no step of the run was taken");
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test({
  name:
    "mesh-demo runs its node processes without deno on PATH and writes a sorted, one-line-per-pair mermaid graph",
  sanitizeResources: false,
  fn: async () => {
    const file = `target/mesh-demo-test-${Deno.pid}.mmd`;
    try {
      const r = await meshDemo(["--json", "--mermaid", file]);
      assert.equal(r.code, 0, r.stderr);
      const lines = (await Deno.readTextFile(`${ROOT}${file}`)).trim().split("\n");
      assert.equal(lines[0], "graph LR");
      const pairs = lines.filter((l) => / (===|-\.-)\|/.test(l));
      assert.equal(pairs.length, 6, lines.join("\n")); // 4 nodes: every pair once
      const keys = pairs.map((l) => /^\s*(\S+) (?:===|-\.-)\|.*\| (\S+)$/.exec(l)!.slice(1));
      const joined = keys.map((k) => k.join(" "));
      assert.deepEqual(joined, [...new Set(joined)].sort());
      assert.ok(keys.every(([a, b]) => a! < b!), "each pair once, its names in order");
      assert.ok(lines.includes("  alpha ===|trusted| beta"), lines.join("\n"));
    } finally {
      await Deno.remove(`${ROOT}${file}`).catch(() => {});
    }
  },
});

Deno.test("toMermaid draws 10 fully meshed nodes as 45 sorted lines, one per pair", () => {
  const names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
  const status: HostStatus[] = names.map((n) => ({
    name: n,
    fingerprint: n,
    port: 0,
    peers: names.filter((m) => m !== n).map((m) => ({
      fingerprint: m,
      agentId: m,
      link: "",
      trust: m === "j" || n === "j" ? "blacklisted" : "trusted",
    })),
    links: [],
    claims: {},
    held: 0,
    errors: [],
    received: [],
  }));
  // A ring given in both directions and twice: still one line per pair.
  const ring: [number, number][] = names.map((_, i) => [i, (i + 1) % 10]);
  const edges = [...ring, ...ring.map(([x, y]) => [y, x] as [number, number]), ...ring];
  const lines = toMermaid(status, (fp) => fp, edges, names).trim().split("\n").slice(2);
  assert.equal(lines.length, 45);
  const keys = lines.map((l) => /^\s*(\S+) (?:===|-\.-)\|.*\| (\S+)$/.exec(l)!.slice(1).join(" "));
  assert.deepEqual(keys, [...new Set(keys)].sort());
  assert.equal(lines.filter((l) => l.includes("===")).length, 10);
  assert.ok(lines.includes("  a ===|trusted| b"));
  assert.ok(lines.includes("  a -.-|trusted| c"));
  assert.ok(lines.includes("  a ===|blacklisted| j"));
});
