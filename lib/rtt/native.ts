/**
 * Locating, opening and checking the native `web4_rtt` library.
 *
 * Lookup order: the `WEB4_RTT_LIB` environment variable (an explicit path,
 * or a folder holding the platform's library file),
 * then the local cargo build next to this module (`target/release/` at the
 * repository root, for `file:` imports), then the executable's own folder
 * (a `deno compile` binary carries its modules inside itself, so
 * `deno task compile` places the library next to the binary). The library is opened lazily, the
 * first time the transport is used, so importing `mod.ts` never needs
 * `--allow-ffi`.
 *
 * @module
 */

import { Web4Error } from "../errors/mod.ts";
import { EXPECTED_ABI_VERSION, type NativeSymbols, probeSymbols, symbols } from "./ffi.ts";

/** Name of the environment variable holding an explicit library path (or its folder). */
export const LIBRARY_ENV_VAR = "WEB4_RTT_LIB";

/**
 * Why the native library cannot be used.
 *
 * - `NATIVE_LIBRARY_NOT_FOUND`: no library at `WEB4_RTT_LIB`, none beside the
 *   module or the executable, or no prebuilt one for this platform (or it
 *   cannot be downloaded or cached).
 * - `NATIVE_LIBRARY_LOAD_FAILED`: the file exists but cannot be opened as a
 *   library, or lacks a symbol.
 * - `NATIVE_ABI_MISMATCH`: the library is of another ABI version.
 * - `NATIVE_LIBRARY_CHECKSUM_MISMATCH`: a downloaded prebuilt library does
 *   not match the package's manifest.
 */
export type NativeLibraryErrorCode =
  | "NATIVE_LIBRARY_NOT_FOUND"
  | "NATIVE_LIBRARY_LOAD_FAILED"
  | "NATIVE_ABI_MISMATCH"
  | "NATIVE_LIBRARY_CHECKSUM_MISMATCH";

/**
 * The native library cannot be found, opened, checked, or is of another
 * ABI version (see {@linkcode NativeLibraryErrorCode}); `path` is the file
 * that was tried, if any.
 *
 * @example
 * ```ts
 * import { NativeLibraryError } from "./native.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new NativeLibraryError("NATIVE_LIBRARY_NOT_FOUND", "Build it first", "/x.so");
 * assert.equal(err.code, "NATIVE_LIBRARY_NOT_FOUND");
 * assert.equal(err.path, "/x.so");
 * ```
 */
export class NativeLibraryError extends Web4Error<NativeLibraryErrorCode> {
  /** The library path that was tried, or `undefined` when none was found. */
  readonly path: string | undefined;

  /**
   * Creates the error.
   *
   * @param code Which condition occurred.
   * @param message Human-readable message saying what to do.
   * @param path The path that was tried.
   * @param cause The underlying error.
   */
  constructor(code: NativeLibraryErrorCode, message: string, path?: string, cause?: unknown) {
    super(code, message, { cause });
    this.path = path;
  }
}

/** What is known about the opened native library. */
export interface NativeLibraryInfo {
  /** Path of the opened file. */
  readonly path: string;
  /** The library's own version string (its crate version). */
  readonly version: string;
  /** The library's ABI version (equal to {@linkcode EXPECTED_ABI_VERSION}). */
  readonly abiVersion: number;
}

/** A native library that was opened and passed the ABI check. Internal. */
export interface NativeLibrary extends NativeLibraryInfo {
  /** The typed native symbols. */
  readonly symbols: NativeSymbols;
  /** Closes the library. Safe to call twice. */
  close(): void;
}

/**
 * The platform file name of the library, as cargo writes it.
 *
 * @param os The operating system; defaults to the current one.
 * @returns `libweb4_rtt.so`, `libweb4_rtt.dylib` or `web4_rtt.dll`.
 */
export function libraryFileName(os: typeof Deno.build.os = Deno.build.os): string {
  switch (os) {
    case "darwin":
      return "libweb4_rtt.dylib";
    case "windows":
      return "web4_rtt.dll";
    default:
      return "libweb4_rtt.so";
  }
}

/**
 * An environment variable's value; a missing env permission (or an empty
 * value) counts as "not set", never as an error or a prompt.
 *
 * @param name The variable.
 * @returns Its value, or `undefined`.
 */
export function readEnv(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  const value = Deno.env.get(name);
  return value === undefined || value === "" ? undefined : value;
}

/** The local cargo build path next to this module, when loaded from a file. */
function _localBuildPath(): string | undefined {
  const url = new URL(`../../target/release/${libraryFileName()}`, import.meta.url);
  if (url.protocol !== "file:") return undefined;
  const path = decodeURIComponent(url.pathname);
  return Deno.build.os === "windows" ? path.replace(/^\/([A-Za-z]:)/, "$1") : path;
}

/**
 * Where a compiled binary looks for the library: its own folder.
 *
 * @param execPath The executable's path. @default {Deno.execPath()}
 * @returns The library path beside it, or `undefined` when the executable's path cannot be read.
 *
 * @example
 * ```ts
 * import { libraryBesideExecutable, libraryFileName } from "./native.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(libraryBesideExecutable("/opt/web4/web4"), `/opt/web4/${libraryFileName()}`);
 * ```
 */
export function libraryBesideExecutable(execPath?: string): string | undefined {
  let exe = execPath;
  if (exe === undefined) {
    try {
      exe = Deno.execPath();
    } catch {
      return undefined; // no read permission: counts as "not there"
    }
  }
  const cut = Math.max(exe.lastIndexOf("/"), exe.lastIndexOf("\\"));
  return `${cut < 0 ? "." : exe.slice(0, cut)}${cut < 0 ? "/" : exe[cut]}${libraryFileName()}`;
}

function _exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (cause) {
    // A missing permission is not a missing file: say which flag to grant.
    if (cause instanceof Deno.errors.NotCapable) throw _readDenied(path, cause);
    return false;
  }
}

function _readDenied(path: string, cause: Deno.errors.NotCapable): Deno.errors.NotCapable {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  const dir = cut <= 0 ? "." : path.slice(0, cut);
  return new Deno.errors.NotCapable(
    `Cannot look for the native library at "${path}": read access is not granted. ` +
      `Run again with --allow-read=${dir} (and --allow-ffi=${dir})`,
    { cause },
  );
}

function _isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch (cause) {
    if (cause instanceof Deno.errors.NotCapable) throw _readDenied(path, cause);
    return false;
  }
}

const BUILD_HINT =
  "Build it with `deno task build:native` (runs `cargo build --release` in a checkout), " +
  `or set ${LIBRARY_ENV_VAR} to the path of a built ${libraryFileName()}`;

/**
 * Finds the native library path without opening it.
 *
 * @returns The path to open.
 * @throws {NativeLibraryError} `NATIVE_LIBRARY_NOT_FOUND` when no candidate exists.
 * @throws {Deno.errors.NotCapable} Without `--allow-read` for a candidate's
 * path (the message names the flag), never reported as a missing file.
 */
export function resolveLibraryPath(): string {
  let explicit = readEnv(LIBRARY_ENV_VAR);
  if (explicit !== undefined) {
    // A folder stands for the platform's library file inside it.
    if (_isDirectory(explicit)) explicit = `${explicit.replace(/[/\\]$/, "")}/${libraryFileName()}`;
    if (!_exists(explicit)) {
      throw new NativeLibraryError(
        "NATIVE_LIBRARY_NOT_FOUND",
        `Native library not found at ${LIBRARY_ENV_VAR}="${explicit}". ${BUILD_HINT}.`,
        explicit,
      );
    }
    return explicit;
  }
  const local = _localBuildPath();
  let denied: Deno.errors.NotCapable | undefined;
  try {
    if (local !== undefined && _exists(local)) return local;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
    denied = err; // the executable's folder may still be readable
  }
  const beside = libraryBesideExecutable();
  try {
    if (beside !== undefined && _exists(beside)) return beside;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
  }
  if (denied !== undefined) throw denied;
  throw new NativeLibraryError(
    "NATIVE_LIBRARY_NOT_FOUND",
    `Native library ${libraryFileName()} not found${
      local === undefined ? "" : ` at "${local}"`
    }. ${BUILD_HINT}.`,
    local,
  );
}

/**
 * Opens the library at `path` and checks its ABI version. Uncached: most
 * callers want {@linkcode loadNativeLibrary}.
 *
 * @param path Path of the shared library.
 * @param expectedAbiVersion The ABI version to require; defaults to
 * {@linkcode EXPECTED_ABI_VERSION}.
 * @returns The opened library.
 * @throws {NativeLibraryError} `NATIVE_LIBRARY_LOAD_FAILED` when the file
 * cannot be opened as this library, `NATIVE_ABI_MISMATCH` when it reports
 * another ABI version.
 * @throws {Deno.errors.NotCapable} Without `--allow-ffi` for `path`.
 */
export function openNativeLibrary(
  path: string,
  expectedAbiVersion: number = EXPECTED_ABI_VERSION,
): NativeLibrary {
  // First bind only the symbols every ABI version has, so a library of
  // another version is reported as an ABI mismatch rather than as a missing
  // symbol; then bind the full table.
  const probe = _dlopen(path, probeSymbols);
  let abiVersion: number;
  try {
    abiVersion = probe.symbols.web4_rtt_abi_version();
  } finally {
    probe.close();
  }
  if (abiVersion !== expectedAbiVersion) {
    throw new NativeLibraryError(
      "NATIVE_ABI_MISMATCH",
      `Native library "${path}" has ABI version ${abiVersion}, but this module needs ` +
        `${expectedAbiVersion}. Rebuild it from the same checkout (\`deno task build:native\`) ` +
        `or point ${LIBRARY_ENV_VAR} at a matching build.`,
      path,
    );
  }
  const lib = _dlopen(path, symbols);
  const version = readNativeString((buf, cap) => lib.symbols.web4_rtt_version(buf, cap));
  let closed = false;
  return {
    path,
    version,
    abiVersion,
    symbols: lib.symbols,
    close() {
      if (closed) return;
      closed = true;
      lib.close();
    },
  };
}

function _dlopen<S extends Deno.ForeignLibraryInterface>(
  path: string,
  table: S,
): Deno.DynamicLibrary<S> {
  try {
    return Deno.dlopen(path, table);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotCapable) throw cause;
    throw new NativeLibraryError(
      "NATIVE_LIBRARY_LOAD_FAILED",
      `Cannot open native library "${path}": ${
        cause instanceof Error ? cause.message : String(cause)
      }. ${BUILD_HINT}.`,
      path,
      cause,
    );
  }
}

/**
 * Reads a string from a native "copy into my buffer, return the full length"
 * function, growing the buffer once if the first one was too small. Avoids
 * `Deno.UnsafePointerView`, which needs unscoped `--allow-ffi`.
 *
 * @param copy Calls the native function with a buffer and its capacity.
 * @returns The decoded UTF-8 string.
 */
export function readNativeString(
  copy: (buf: Uint8Array<ArrayBuffer>, cap: bigint) => number | bigint,
): string {
  let buf = new Uint8Array(256);
  let len = Number(copy(buf, BigInt(buf.length)));
  if (len > buf.length) {
    buf = new Uint8Array(len);
    len = Number(copy(buf, BigInt(buf.length)));
  }
  return new TextDecoder().decode(buf.subarray(0, Math.min(len, buf.length)));
}

let _cached: NativeLibrary | undefined;

/**
 * Returns the process-wide native library, opening it on first use.
 *
 * @param path Open this file instead of looking one up (used by the
 * prebuilt fallback); ignored once a library is open.
 * @returns The opened, ABI-checked library.
 * @throws {NativeLibraryError} When it cannot be found, opened or is of
 * another ABI version.
 */
export function loadNativeLibrary(path?: string): NativeLibrary {
  if (_cached === undefined) _cached = openNativeLibrary(path ?? resolveLibraryPath());
  return _cached;
}

/**
 * Opens the native library (once per process) and describes it.
 *
 * @returns Its path, version and ABI version.
 * @throws {NativeLibraryError} When it cannot be found, opened or is of
 * another ABI version.
 * @throws {Deno.errors.NotCapable} Without `--allow-ffi` for its path.
 *
 * @example The native version
 * ```ts
 * import { EXPECTED_ABI_VERSION, nativeLibraryInfo } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const { version, abiVersion } = nativeLibraryInfo();
 * assert.equal(abiVersion, EXPECTED_ABI_VERSION);
 * assert.match(version, /^\d+\.\d+\.\d+/);
 * ```
 */
export function nativeLibraryInfo(): NativeLibraryInfo {
  const { path, version, abiVersion } = loadNativeLibrary();
  return { path, version, abiVersion };
}
