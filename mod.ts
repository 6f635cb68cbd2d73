/**
 * web4-runtime: authenticated, trust-aware messaging between AI agents and
 * the people they act for.
 *
 * This module re-exports the public API. Importing it never opens the native
 * transport library; that happens on first use of the transport, which then
 * needs `--allow-ffi` for the library path.
 *
 * @example Checking the native transport
 * ```ts ignore
 * import { nativeLibraryInfo } from "@web4/runtime";
 *
 * const lib = nativeLibraryInfo(); // needs --allow-ffi and a built library
 * console.log(lib.version, lib.abiVersion);
 * ```
 *
 * @module
 */

export { Web4Error, type Web4ErrorOptions } from "./lib/errors/mod.ts";
export {
  assertNetPermission,
  EXPECTED_ABI_VERSION,
  LIBRARY_ENV_VAR,
  libraryFileName,
  NativeLibraryError,
  type NativeLibraryInfo,
  nativeLibraryInfo,
  resolveLibraryPath,
} from "./lib/rtt/mod.ts";
