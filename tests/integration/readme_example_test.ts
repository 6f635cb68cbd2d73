/**
 * The README's "Using it" example is run as written, with the package's
 * specifiers (`@web4/runtime` and its subpaths) pointed at this checkout's
 * files through the `exports` of `deno.json`, so it cannot go stale.
 */
import assert from "node:assert/strict";
import { runDeno } from "../helpers/subprocess.ts";

/** Points `@web4/runtime` and `@web4/runtime/<subpath>` at the files `deno.json` exports. */
async function localImports(source: string): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const exports = config.exports as Record<string, string>;
  return source.replace(/from "@web4\/runtime(\/[a-z_]+)?"/g, (_, sub: string | undefined) => {
    const target = exports[sub === undefined ? "." : `.${sub}`];
    assert.ok(target, `the README imports @web4/runtime${sub}, which deno.json does not export`);
    return `from "../../${target.slice(2)}"`;
  });
}

Deno.test("README example: two agents connect over RTT, one's intent reaches the other's loop and its acceptance comes back", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Using it"));
  const match = /```ts ignore\n([\s\S]*?)```/.exec(section);
  assert.ok(match, "the README has a ts example under 'Using it'");
  const source = await localImports(match[1]!);
  assert.doesNotMatch(source, /@web4\/runtime/, "every package import points at this checkout");
  const run = await runDeno(source, [
    "--allow-ffi=./target/release",
    "--allow-read",
    "--allow-env",
    "--allow-net=127.0.0.1",
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "beta got ask nitrate levels -> accept\nalpha heard accept\n");
});
