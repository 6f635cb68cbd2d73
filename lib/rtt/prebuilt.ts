/**
 * Prebuilt native libraries for users of the published package: one file
 * per platform and package version, downloaded once, checked against the
 * SHA-256 in the manifest that ships inside the package, and cached.
 *
 * The manifest (`prebuilt_manifest.json`) is written by the release
 * workflow; in a checkout it lists no platforms, since a checkout uses its
 * own cargo build.
 *
 * @module
 */

import {
  LIBRARY_ENV_VAR,
  loadNativeLibrary,
  type NativeLibrary,
  NativeLibraryError,
  readEnv,
} from "./native.ts";
import bundledManifest from "./prebuilt_manifest.json" with { type: "json" };
import { randomUuid, systemRandom } from "../ports/mod.ts";

/** Environment variable that overrides the download URL pattern (for mirrors). */
export const DOWNLOAD_URL_ENV_VAR = "WEB4_RTT_DOWNLOAD_URL";

/** One platform's file in a {@linkcode PrebuiltManifest}. */
export interface PrebuiltFile {
  /** The release asset's file name. */
  readonly file: string;
  /** Lowercase hex SHA-256 of the file. */
  readonly sha256: string;
  /** Size in bytes. */
  readonly size: number;
}

/** The checksums of one release's prebuilt libraries. */
export interface PrebuiltManifest {
  /** The package version the libraries belong to. */
  readonly version: string;
  /** The ABI version the libraries report (0 in a checkout's manifest). */
  readonly abiVersion: number;
  /** Download URL pattern; `{version}`, `{file}` and `{platform}` are replaced. */
  readonly urlPattern: string;
  /** Files by platform key (`linux-x86_64`, `darwin-aarch64`, `windows-x86_64`, ...). */
  readonly platforms: { readonly [platform: string]: PrebuiltFile };
}

/** The manifest shipped with this package. */
export const PREBUILT_MANIFEST: PrebuiltManifest = bundledManifest;

/** Options of {@linkcode ensurePrebuiltLibrary}. */
export interface EnsurePrebuiltOptions {
  /**
   * The manifest to trust.
   *
   * @default {PREBUILT_MANIFEST}
   */
  manifest?: PrebuiltManifest;
  /**
   * The platform key.
   *
   * @default {platformKey()}
   */
  platform?: string;
  /**
   * Cache folder; the file goes to `<cacheDir>/<version>/<file>`.
   *
   * @default {defaultCacheDir()}
   */
  cacheDir?: string;
  /**
   * Download URL pattern. By default `WEB4_RTT_DOWNLOAD_URL` if set, else
   * the manifest's.
   */
  urlPattern?: string;
  /** Aborts the download. */
  signal?: AbortSignal;
}

/**
 * This machine's platform key: `<os>-<arch>` as Deno names them
 * (`linux-x86_64`, `darwin-aarch64`, `windows-x86_64`).
 *
 * @returns The key.
 *
 * @example
 * ```ts
 * import { platformKey } from "./prebuilt.ts";
 *
 * console.log(platformKey()); // e.g. "linux-x86_64"
 * ```
 */
export function platformKey(): string {
  return `${Deno.build.os}-${Deno.build.arch}`;
}

/**
 * Where prebuilt libraries are cached, following Deno's own cache location:
 * `$DENO_DIR/web4_rtt`, else `$XDG_CACHE_HOME/deno/web4_rtt`, else the
 * platform's user cache folder (`~/.cache`, `~/Library/Caches`,
 * `%LOCALAPPDATA%`) + `/deno/web4_rtt`.
 *
 * @returns The folder, or `undefined` when no variable is readable.
 */
export function defaultCacheDir(): string | undefined {
  const denoDir = readEnv("DENO_DIR");
  if (denoDir) return `${denoDir}/web4_rtt`;
  const xdg = readEnv("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/deno/web4_rtt`;
  if (Deno.build.os === "windows") {
    const local = readEnv("LOCALAPPDATA");
    return local ? `${local}\\deno\\web4_rtt` : undefined;
  }
  const home = readEnv("HOME");
  if (!home) return undefined;
  return Deno.build.os === "darwin"
    ? `${home}/Library/Caches/deno/web4_rtt`
    : `${home}/.cache/deno/web4_rtt`;
}

/**
 * Hex SHA-256 of some bytes.
 *
 * @param bytes The data.
 * @returns 64 lowercase hex characters.
 */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function _readIfValid(path: string, want: PrebuiltFile): Promise<boolean> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  if (bytes.length === want.size && await sha256Hex(bytes) === want.sha256) return true;
  // A cached file that no longer matches is not used, and not kept.
  await Deno.remove(path).catch(() => {});
  return false;
}

/**
 * Returns the path of this platform's prebuilt library for the manifest's
 * version, downloading and caching it on first use. The file is checked
 * against the manifest's SHA-256 and size every time (cached copies too);
 * a mismatching download is deleted and refused.
 *
 * Needs `--allow-read`/`--allow-write` for the cache folder, `--allow-net`
 * for the download host (first use only) and `--allow-env` for the cache
 * variables (`DENO_DIR`, `XDG_CACHE_HOME`, `HOME`) and
 * `WEB4_RTT_DOWNLOAD_URL`.
 *
 * @param options Manifest, platform, cache folder, URL pattern, signal.
 * @returns The cached library's path.
 * @throws {NativeLibraryError} `NATIVE_LIBRARY_NOT_FOUND` when the manifest
 * has no file for this platform, no cache folder is known, or the download
 * fails (offline); `NATIVE_LIBRARY_CHECKSUM_MISMATCH` when the downloaded
 * bytes do not match the manifest.
 */
export async function ensurePrebuiltLibrary(options: EnsurePrebuiltOptions = {}): Promise<string> {
  const manifest = options.manifest ?? PREBUILT_MANIFEST;
  const platform = options.platform ?? platformKey();
  const want = manifest.platforms[platform];
  if (want === undefined) {
    throw new NativeLibraryError(
      "NATIVE_LIBRARY_NOT_FOUND",
      `No prebuilt native library for ${platform} in version ${manifest.version}. Build it from a ` +
        "checkout with `deno task build:native` and set WEB4_RTT_LIB to the built file.",
    );
  }
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  if (cacheDir === undefined) {
    throw new NativeLibraryError(
      "NATIVE_LIBRARY_NOT_FOUND",
      "No cache folder for the prebuilt native library: grant --allow-env=DENO_DIR,HOME (or set " +
        "DENO_DIR), or set WEB4_RTT_LIB to a built library.",
    );
  }
  const dir = `${cacheDir}/${manifest.version}`;
  const path = `${dir}/${want.file}`;
  if (await _readIfValid(path, want)) return path;

  const pattern = options.urlPattern ?? readEnv(DOWNLOAD_URL_ENV_VAR) ?? manifest.urlPattern;
  const url = pattern.replaceAll("{version}", manifest.version)
    .replaceAll("{file}", want.file)
    .replaceAll("{platform}", platform);
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    const response = await fetch(url, options.signal ? { signal: options.signal } : {});
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status}`);
    }
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (cause) {
    if (cause instanceof Deno.errors.NotCapable) throw cause;
    throw new NativeLibraryError(
      "NATIVE_LIBRARY_NOT_FOUND",
      `Cannot download the prebuilt native library from ${url}: ${
        cause instanceof Error ? cause.message : String(cause)
      }. Connect once to cache it, set ${DOWNLOAD_URL_ENV_VAR} to a mirror, or set WEB4_RTT_LIB ` +
        "to a built library.",
      path,
      cause,
    );
  }
  const actual = await sha256Hex(bytes);
  if (bytes.length !== want.size || actual !== want.sha256) {
    throw new NativeLibraryError(
      "NATIVE_LIBRARY_CHECKSUM_MISMATCH",
      `Downloaded native library from ${url} does not match the package's manifest ` +
        `(sha256 ${actual}, ${bytes.length} bytes; expected ${want.sha256}, ${want.size} bytes). ` +
        "It was not saved.",
      path,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  // Write beside the target, then rename: a reader never sees half a file.
  const temp = `${path}.${randomUuid(systemRandom)}.part`;
  try {
    await Deno.writeFile(temp, bytes, { mode: 0o644 });
    await Deno.rename(temp, path);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
  return path;
}

/**
 * Returns the process-wide native library like `loadNativeLibrary`, and
 * when neither `WEB4_RTT_LIB` nor a local build exists, falls back to this
 * platform's prebuilt library ({@linkcode ensurePrebuiltLibrary}). The
 * transport calls this before its first use.
 *
 * @param options Passed to {@linkcode ensurePrebuiltLibrary}.
 * @returns The opened, ABI-checked library.
 * @throws {NativeLibraryError} When no library can be found, downloaded,
 * verified or opened; the error of the local lookup (with its build hint)
 * when the manifest has no file for this platform.
 */
export async function loadNativeLibraryAsync(
  options: EnsurePrebuiltOptions = {},
): Promise<NativeLibrary> {
  try {
    return loadNativeLibrary();
  } catch (err) {
    const manifest = options.manifest ?? PREBUILT_MANIFEST;
    const fallback = err instanceof NativeLibraryError &&
      err.code === "NATIVE_LIBRARY_NOT_FOUND" &&
      readEnv(LIBRARY_ENV_VAR) === undefined &&
      manifest.platforms[options.platform ?? platformKey()] !== undefined;
    if (!fallback) throw err;
  }
  const path = await ensurePrebuiltLibrary(options);
  return loadNativeLibrary(path);
}
