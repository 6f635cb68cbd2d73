/**
 * RTT, the Rust Transport Tunnel, seen from TypeScript: native library
 * loading and the permission-scoped networking helper. The library is opened
 * lazily; nothing here touches FFI at import time.
 *
 * @module
 */

export {
  LIBRARY_ENV_VAR,
  libraryFileName,
  NativeLibraryError,
  type NativeLibraryInfo,
  nativeLibraryInfo,
  resolveLibraryPath,
} from "./native.ts";
export { EXPECTED_ABI_VERSION } from "./ffi.ts";
export { assertNetPermission } from "./permissions.ts";
