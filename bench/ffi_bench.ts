/**
 * FFI crossing cost: a synchronous call into the native library against a
 * plain JavaScript call in the same run (the baseline). `deno bench` prints
 * each figure; the ratio shows what one crossing costs on this machine.
 *
 * @module
 */

import { loadNativeLibrary } from "../lib/rtt/native.ts";

const lib = loadNativeLibrary();
let sink = 0;
function jsAbiVersion(): number {
  return sink & 1 ? 2 : 1;
}

Deno.bench({ name: "js call (baseline)", group: "ffi-call", baseline: true }, () => {
  sink += jsAbiVersion();
});

Deno.bench({ name: "sync FFI call web4_rtt_abi_version", group: "ffi-call" }, () => {
  sink += lib.symbols.web4_rtt_abi_version();
});
