// One source of truth for the transport's limits: the native library's
// table (native/core/src/config.rs, `web4_rtt_config_limits`) against the
// generated TypeScript copy (lib/rtt/limits.ts) that options are checked with.
import assert from "node:assert/strict";
import { loadNativeLibrary } from "../../lib/rtt/native.ts";
import { NATIVE_LIMITS } from "../../lib/rtt/limits.ts";
import { optionName, readNativeLimits, renderLimitsModule } from "../../lib/rtt/limits_source.ts";
import { EXPECTED_ABI_VERSION } from "../../lib/rtt/ffi.ts";
import { NUMERIC_OPTIONS, resolveRttOptions } from "../../lib/rtt/options.ts";

Deno.test("lib/rtt/limits.ts is exactly the native library's table (else run `deno task limits`)", async () => {
  const lib = loadNativeLibrary();
  const rows = readNativeLimits(lib.symbols);
  const native = Object.fromEntries(
    rows.map((r) => [optionName(r.name), { def: r.default, min: r.min, max: r.max }]),
  );
  assert.deepEqual(native, NATIVE_LIMITS);
  // The file itself is what the task writes (before formatting, which keeps it).
  const text = await Deno.readTextFile(new URL("../../lib/rtt/limits.ts", import.meta.url));
  const rendered = renderLimitsModule(rows, EXPECTED_ABI_VERSION);
  assert.equal(text.replace(/\s+/g, " "), rendered.replace(/\s+/g, " "));
});

Deno.test("every numeric option is checked against the native range, and only those", () => {
  assert.deepEqual(Object.keys(NUMERIC_OPTIONS).sort(), Object.keys(NATIVE_LIMITS).sort());
  for (const [key, { min, max, def }] of Object.entries(NATIVE_LIMITS)) {
    assert.ok(min <= def && def <= max, key);
    // The two reconnect delays move together (the maximum is never below the first).
    const delay = key === "reconnectInitialDelayMs" || key === "reconnectMaxDelayMs";
    const at = (v: number) =>
      resolveRttOptions(
        (delay ? { reconnectInitialDelayMs: v, reconnectMaxDelayMs: v } : { [key]: v }) as Record<
          string,
          number
        >,
      );
    assert.equal((at(min) as unknown as Record<string, number>)[key], min);
    assert.equal((at(max) as unknown as Record<string, number>)[key], max);
    if (min > 0) assert.throws(() => at(min - 1), RangeError, key);
    assert.throws(() => at(max + 1), RangeError, key);
  }
});
