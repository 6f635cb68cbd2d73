/**
 * The README's "Using it" example is run as written (with the package
 * import pointed at this checkout), so it cannot go stale.
 */
import assert from "node:assert/strict";
import { runDeno } from "../helpers/subprocess.ts";

Deno.test("README example: two agents connect over RTT and one's intent is accepted by the other", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Using it"));
  const match = /```ts ignore\n([\s\S]*?)```/.exec(section);
  assert.ok(match, "the README has a ts example under 'Using it'");
  const source = match[1]!.replace('from "@web4/runtime"', 'from "../../mod.ts"');
  const run = await runDeno(source, [
    "--allow-ffi=./target/release",
    "--allow-read",
    "--allow-env",
    "--allow-net=127.0.0.1",
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /beta got ask nitrate levels -> accept/);
});
