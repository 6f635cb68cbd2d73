/**
 * `deno task limits`: writes `lib/rtt/limits.ts` from the native library's
 * own table (`web4_rtt_config_limits`), so the defaults and ranges of every
 * numeric transport option have one owner, `native/core/src/config.rs`.
 * `tests/unit/rtt_limits_test.ts` fails when the file and the library
 * disagree (then run this task after `deno task build:native`).
 *
 * @module
 */

import { EXPECTED_ABI_VERSION } from "../lib/rtt/ffi.ts";
import { type LimitRow, readNativeLimits, renderLimitsModule } from "../lib/rtt/limits_source.ts";
import { openNativeLibrary, resolveLibraryPath } from "../lib/rtt/native.ts";

const lib = openNativeLibrary(resolveLibraryPath());
try {
  const rows: LimitRow[] = readNativeLimits(lib.symbols);
  const out = new URL("../lib/rtt/limits.ts", import.meta.url);
  await Deno.writeTextFile(out, renderLimitsModule(rows, EXPECTED_ABI_VERSION));
  console.error(`wrote ${decodeURIComponent(out.pathname)} (${rows.length} limits)`);
} finally {
  lib.close();
}
