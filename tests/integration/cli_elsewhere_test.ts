/**
 * `web4` started outside the repository, as a user runs it: the console's
 * bundle uses the project's config (issue 19 item 1) and `web4 bench` is the
 * run `deno task bench` makes (item 2).
 */
import assert from "node:assert/strict";
import { benchPermissions } from "../../cli/commands/bench.ts";
import { web4, Web4Process } from "../helpers/web4.ts";

const ROOT = new URL("../../", import.meta.url);

Deno.test("web4 serve --console started from another folder serves the bundled page", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4_elsewhere_" });
  try {
    assert.equal((await web4(["keygen", "--out", `${dir}/a.pem`], { cwd: dir })).code, 0);
    await using serve = new Web4Process(
      ["serve", "--key", `${dir}/a.pem`, "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0"],
      { cwd: dir },
    );
    const [, url] = await serve.line(/^console on (http:\S+)$/);
    const page = new URL(url!);
    const res = await fetch(new URL(`/console.js${page.search}`, page));
    const js = await res.text();
    assert.equal(res.status, 200, js);
    assert.ok(js.length > 10_000, "the bundle is the page's script");
    assert.equal((await serve.stop()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("web4 bench gives its child the permissions of deno task bench", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const task: string = config.tasks.bench;
  const run = task.slice(task.indexOf("deno run"));
  const taskFlags = run.split(/\s+/).filter((a) => a.startsWith("--allow-"));
  assert.deepEqual(benchPermissions("./target/hooks/release"), taskFlags);
  assert.match(task, /WEB4_RTT_LIB=\.\/target\/hooks\/release deno run/);
});

Deno.test("web4 bench --quick --only router --json runs end to end from another folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4_bench_" });
  try {
    const r = await web4(["bench", "--quick", "--only", "router", "--json"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.sections.length, 1, r.stdout);
    assert.deepEqual(report.failures, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
