/**
 * `deno task build:native`: builds the `web4_rtt` cdylib with cargo and
 * reports where it is. Cargo skips the work when nothing changed, so this
 * task is cheap to run before every test run.
 *
 * Flags: `--debug` builds the debug profile instead of release; `--hooks`
 * builds with the `test-hooks` feature (`web4_rtt_test_inject`) into its own
 * target folder, `target/hooks/`, so the release library never has them
 * (the tests and the benchmark load that one through `WEB4_RTT_LIB`).
 *
 * @module
 */

import { libraryFileName } from "../lib/rtt/native.ts";

const debug = Deno.args.includes("--debug");
const hooks = Deno.args.includes("--hooks");
const root = new URL("..", import.meta.url);
const args = ["build", "--package", "web4_rtt", "--locked"];
if (!debug) args.push("--release");
if (hooks) args.push("--features", "test-hooks", "--target-dir", "target/hooks");

const started = performance.now();
const { code } = await new Deno.Command("cargo", {
  args,
  cwd: root,
  stdout: "inherit",
  stderr: "inherit",
}).output();
if (code !== 0) {
  console.error(`native build failed: cargo ${args.join(" ")} exited with ${code}`);
  Deno.exit(code);
}
const folder = `target/${hooks ? "hooks/" : ""}${debug ? "debug" : "release"}`;
const path = new URL(`${folder}/${libraryFileName()}`, root);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.error(`native library: ${decodeURIComponent(path.pathname)} (${seconds}s)`);
