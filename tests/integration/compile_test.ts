import assert from "node:assert/strict";
import { EXPECTED_ABI_VERSION } from "../../mod.ts";

// `deno compile` needs the denort runtime, which Deno downloads from its own
// servers (unreachable from some machines) unless DENORT_BIN points at one.
// The compile runs once at load time, so that a machine without denort
// reports the test as ignored (with the reason), not as passed.
const dir = await Deno.makeTempDir();
const out = `${dir}/web4`;
const compiled = await new Deno.Command(Deno.execPath(), {
  args: [
    "compile",
    "--quiet",
    "--allow-ffi",
    "--allow-read",
    "--allow-env=WEB4_RTT_LIB",
    "--allow-net=127.0.0.1",
    "--output",
    out,
    new URL("../../cli/web4.ts", import.meta.url).pathname,
  ],
  stdout: "piped",
  stderr: "piped",
  signal: AbortSignal.timeout(120_000),
}).output();
const stderr = new TextDecoder().decode(compiled.stderr);
const denortMissing = compiled.code !== 0
  ? stderr.split("\n").find((line) => /denort|dns error|lookup address|download/i.test(line))
  : undefined;
if (denortMissing !== undefined) {
  console.warn(`deno compile test ignored: denort cannot be had here (${denortMissing.trim()})`);
}

Deno.test({
  name: "deno compile builds a web4 binary that loads the native library",
  ignore: denortMissing !== undefined,
  fn: async () => {
    try {
      assert.equal(compiled.code, 0, `deno compile failed: ${stderr}`);
      const lib = new URL("../../target/release/libweb4_rtt.so", import.meta.url).pathname;
      const run = await new Deno.Command(out, {
        args: ["info"],
        env: { WEB4_RTT_LIB: lib },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
      assert.match(
        new TextDecoder().decode(run.stdout),
        new RegExp(`native ABI: +${EXPECTED_ABI_VERSION}\n`),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

if (denortMissing !== undefined) await Deno.remove(dir, { recursive: true });
