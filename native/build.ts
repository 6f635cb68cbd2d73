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
 * Without cargo on `PATH` it prints one line and exits 1 (install Rust, or
 * point `WEB4_RTT_LIB` at a prebuilt library), or 0 when a library is already
 * there to use (`WEB4_RTT_LIB`, or a previous build in the target folder).
 *
 * @module
 */

import { libraryFileName } from "../lib/rtt/native.ts";

/** A library to use without cargo: `WEB4_RTT_LIB`, else one built before. */
function _existing(): string | undefined {
  const explicit = Deno.env.get("WEB4_RTT_LIB");
  if (explicit !== undefined && explicit !== "") return `WEB4_RTT_LIB=${explicit}`;
  try {
    if (Deno.statSync(path).isFile) return decodeURIComponent(path.pathname);
  } catch { /* not built */ }
  return undefined;
}

const debug = Deno.args.includes("--debug");
const hooks = Deno.args.includes("--hooks");
const root = new URL("..", import.meta.url);
const args = ["build", "--package", "web4_rtt", "--locked"];
if (!debug) args.push("--release");
if (hooks) args.push("--features", "test-hooks", "--target-dir", "target/hooks");

const folder = `target/${hooks ? "hooks/" : ""}${debug ? "debug" : "release"}`;
const path = new URL(`${folder}/${libraryFileName()}`, root);

const started = performance.now();
let code: number;
try {
  ({ code } = await new Deno.Command("cargo", {
    args,
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  }).output());
} catch (err) {
  if (!(err instanceof Deno.errors.NotFound)) throw err;
  // No cargo: one line saying what to do, never a stack trace. A library
  // already there (WEB4_RTT_LIB, or built before) is used as it is.
  const found = _existing();
  if (found !== undefined) {
    console.error(`native build skipped: cargo is not installed; using ${found}`);
    Deno.exit(0);
  }
  console.error(
    "error: cargo is not installed, so the native library cannot be built. Install Rust " +
      "(https://rustup.rs, or Debian's `apt install cargo`), or point WEB4_RTT_LIB at a prebuilt " +
      `${libraryFileName()} (README: "Where the native library comes from").`,
  );
  Deno.exit(1);
}
if (code !== 0) {
  console.error(`native build failed: cargo ${args.join(" ")} exited with ${code}`);
  Deno.exit(code);
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.error(`native library: ${decodeURIComponent(path.pathname)} (${seconds}s)`);
