/**
 * FFI crossing cost: a synchronous call into the native library
 * (`web4_rtt_abi_version`, which does no work) against a plain JavaScript
 * function call in the same run (the baseline). The ratio shows what one
 * crossing costs on this machine; DESIGN.md decision 5 explains why RTT
 * batches frames and events to keep crossings off the hot path.
 *
 * @module
 */

import type { BenchSection } from "./report.ts";
import { probeSymbols } from "../lib/rtt/ffi.ts";
import { resolveLibraryPath } from "../lib/rtt/native.ts";

const CALLS = 2_000_000;
const RUNS = 3;

let _sink = 0;
function _jsAbiVersion(): number {
  return _sink & 1 ? 2 : 1;
}

/** Best of `RUNS` runs of `CALLS` calls, in nanoseconds per call. */
function _nsPerCall(call: () => number): number {
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < CALLS; i++) _sink += call();
    best = Math.min(best, performance.now() - t0);
  }
  return (best * 1e6) / CALLS;
}

/**
 * Measures a synchronous FFI call against a plain JavaScript call.
 *
 * @returns The "FFI call" section (nanoseconds per call; ratio below 1 means
 * slower than the JavaScript baseline, as expected).
 * @throws {NativeLibraryError} When the native library is not found (build
 * it with `deno task build:native`).
 */
export function runFfiBench(): Promise<BenchSection> {
  // Only the version probe is bound: the figure does not depend on the rest
  // of the ABI, so it can be measured against any build of the library.
  const lib = Deno.dlopen(resolveLibraryPath(), probeSymbols);
  let js: number;
  let ffi: number;
  try {
    const abi = lib.symbols.web4_rtt_abi_version;
    // Warm both paths up so the JIT has settled before measuring.
    for (let i = 0; i < 200_000; i++) _sink += abi() + _jsAbiVersion();
    js = _nsPerCall(_jsAbiVersion);
    ffi = _nsPerCall(() => abi());
  } finally {
    lib.close();
  }
  if (_sink === 0) throw new Error("Unreachable: the calls were optimised away");
  return Promise.resolve({
    section: "FFI call",
    rows: [{
      name: "sync FFI call (web4_rtt_abi_version)",
      value: ffi,
      unit: "ns/call",
      baseline: "plain JS call",
      baselineValue: js,
      ratio: js / ffi,
      goal: "informational",
    }],
  });
}
