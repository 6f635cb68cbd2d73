/**
 * `deno task build:native` on a machine without cargo (issue 19 item 6): one
 * line saying what to do, no stack trace; a library already there is used.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Runs `deno task build:native ARGS` with a PATH holding only `deno`. */
async function withoutCargo(args: string[]): Promise<{ code: number; stderr: string }> {
  const bin = await Deno.makeTempDir({ prefix: "web4_nocargo_" });
  try {
    await Deno.symlink(Deno.execPath(), `${bin}/deno`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "build:native", ...args],
      cwd: ROOT,
      clearEnv: true,
      env: { PATH: bin, HOME: Deno.env.get("HOME") ?? "/tmp", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
}

Deno.test("build:native without cargo and without a library: one line naming rustup, Debian's cargo and WEB4_RTT_LIB, exit 1", async () => {
  // The debug profile is never built in these checkouts, so nothing is there to use.
  const r = await withoutCargo(["--debug"]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^error: cargo is not installed/);
  assert.match(lines[0]!, /rustup/);
  assert.match(lines[0]!, /apt install cargo/);
  assert.match(lines[0]!, /WEB4_RTT_LIB/);
  assert.doesNotMatch(r.stderr, /Failed to spawn|\n\s+at /);
});

Deno.test("build:native without cargo uses the library already built (the demo still runs)", async () => {
  const r = await withoutCargo([]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr.trim(),
    /^native build skipped: cargo is not installed; using \S+libweb4_rtt/,
  );
});
