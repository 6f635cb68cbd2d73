import assert from "node:assert/strict";
import { EXPECTED_ABI_VERSION } from "../../lib/rtt/mod.ts";

// `deno task compile` (cli/compile.ts) needs the denort runtime, which Deno
// downloads from its own servers (unreachable from some machines) unless
// DENORT_BIN points at one; then it prints "compile skipped: ..." and exits 0.
// It runs once at load time, so that a machine without denort reports the
// test as ignored (with the reason), not as passed.
const root = new URL("../../", import.meta.url);
const compiled = await new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    "--allow-env",
    new URL("cli/compile.ts", root).pathname,
  ],
  cwd: root.pathname,
  stdout: "piped",
  stderr: "piped",
  signal: AbortSignal.timeout(240_000),
}).output();
const stdout = new TextDecoder().decode(compiled.stdout);
const stderr = new TextDecoder().decode(compiled.stderr);
const skipped = compiled.code === 0 ? /^compile skipped: .*$/m.exec(stdout)?.[0] : undefined;
if (skipped !== undefined) console.warn(`deno compile test ignored: ${skipped}`);

Deno.test({
  name:
    "deno task compile builds web4 and web4demo; the binary finds the native library beside itself",
  ignore: skipped !== undefined,
  fn: async () => {
    assert.equal(compiled.code, 0, `deno task compile failed: ${stderr}`);
    assert.match(stdout, /built dist\/web4\n/);
    assert.match(stdout, /built dist\/web4demo\n/);
    const run = await new Deno.Command(new URL("dist/web4", root).pathname, {
      args: ["info"],
      clearEnv: true,
      cwd: "/",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
    const out = new TextDecoder().decode(run.stdout);
    assert.match(out, new RegExp(`native ABI: +${EXPECTED_ABI_VERSION}\n`));
    assert.match(out, /native library: .*\/dist\/libweb4_rtt\.so\n/);
  },
});
