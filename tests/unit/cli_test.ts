import assert from "node:assert/strict";
import { EXPECTED_ABI_VERSION } from "../../lib/rtt/mod.ts";
import { runDeno } from "../helpers/subprocess.ts";

Deno.test("web4 info prints the native version and exits 1 with the fix when the library is missing", async () => {
  const ok = await runDeno(
    `import { main } from "./../../cli/web4.ts"; Deno.exit(await main(["info"]));`,
    ["--allow-read", "--allow-env=WEB4_RTT_LIB", "--allow-ffi"],
  );
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`native ABI: +${EXPECTED_ABI_VERSION}\n`));
  const missing = await runDeno(
    `import { main } from "./../../cli/web4.ts"; Deno.exit(await main(["info"]));`,
    ["--allow-read", "--allow-env=WEB4_RTT_LIB", "--allow-ffi"],
    { WEB4_RTT_LIB: "/nonexistent/libweb4_rtt.so" },
  );
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /not found at WEB4_RTT_LIB/);
});

Deno.test("web4 rejects an unknown command with exit code 2", async () => {
  const r = await runDeno(
    `import { main } from "./../../cli/web4.ts"; Deno.exit(await main(["frobnicate"]));`,
    ["--allow-read"],
  );
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
});

Deno.test("web4 loopback exchanges verified envelopes over RTT and shows replay and wrong-pin refusals", async () => {
  const r = await runDeno(
    `import { main } from "./../../cli/web4.ts"; Deno.exit(await main(["loopback", "--rounds", "5"]));`,
    [
      "--allow-read",
      "--allow-env=WEB4_RTT_LIB",
      "--allow-ffi=./target/release",
      "--allow-net=127.0.0.1",
    ],
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /5 signed STATE_UPDATE round trips, each envelope verified/);
  assert.match(r.stdout, /replayed envelope refused: REPLAY/);
  assert.match(r.stdout, /wrong pinned fingerprint refused: FINGERPRINT_MISMATCH/);
});

Deno.test("web4 loopback refuses a bad --rounds value with exit code 2", async () => {
  const r = await runDeno(
    `import { main } from "./../../cli/web4.ts"; Deno.exit(await main(["loopback", "--rounds", "zero"]));`,
    ["--allow-read"],
  );
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--rounds must be a positive integer, got "zero"/);
});

Deno.test("web4 info without --allow-read names the missing permission, never a missing file (issue 19 item 3)", async () => {
  const r = await runDeno(
    `import { main } from "./../../cli/web4.ts"; Deno.exit(await main(["info"]));`,
    ["--allow-env=WEB4_RTT_LIB", "--allow-ffi"],
    { WEB4_RTT_LIB: "" },
  );
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^error: .*read access is not granted.*--allow-read=\S+target\/release/);
  assert.doesNotMatch(r.stderr, /not found/);
});
