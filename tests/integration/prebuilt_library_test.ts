/**
 * The prebuilt-library path end to end, without the internet: a local HTTP
 * server serves a freshly built library under a manifest made for it.
 */
import assert from "node:assert/strict";
import { libraryFileName, NativeLibraryError, openNativeLibrary } from "../../lib/rtt/native.ts";
import { EXPECTED_ABI_VERSION } from "../../lib/rtt/ffi.ts";
import {
  ensurePrebuiltLibrary,
  loadNativeLibraryAsync,
  type PrebuiltManifest,
  sha256Hex,
} from "../../lib/rtt/prebuilt.ts";

const release = new URL("../../target/release/", import.meta.url).pathname;
const built = `${release}${libraryFileName()}`;

/** A cache folder inside target/release, where the test's scoped --allow-ffi reaches. */
function tempCache(): Promise<string> {
  return Deno.makeTempDir({ dir: release, prefix: "prebuilt-test-" });
}

async function failure(promise: Promise<unknown>): Promise<NativeLibraryError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof NativeLibraryError, `expected a NativeLibraryError, got ${err}`);
    return err;
  }
  throw new assert.AssertionError({ message: "expected a rejection" });
}

function serve(bytes: () => Uint8Array<ArrayBuffer>) {
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    hits += 1;
    const name = new URL(req.url).pathname.slice(1);
    if (name !== "web4_rtt-test-platform.bin") {
      return new Response("no such asset", { status: 404 });
    }
    return new Response(bytes());
  });
  return {
    server,
    pattern: `http://127.0.0.1:${server.addr.port}/{file}`,
    get hits() {
      return hits;
    },
  };
}

async function manifestFor(
  bytes: Uint8Array<ArrayBuffer>,
  pattern: string,
): Promise<PrebuiltManifest> {
  return {
    version: "9.9.9-test",
    abiVersion: EXPECTED_ABI_VERSION,
    urlPattern: pattern,
    platforms: {
      "test-platform": {
        file: "web4_rtt-test-platform.bin",
        sha256: await sha256Hex(bytes),
        size: bytes.length,
      },
    },
  };
}

Deno.test("ensurePrebuiltLibrary downloads once, verifies, caches, and the library passes the ABI check", async () => {
  const bytes = await Deno.readFile(built);
  const http = serve(() => bytes);
  const cacheDir = await tempCache();
  try {
    const manifest = await manifestFor(bytes, http.pattern);
    const options = { manifest, platform: "test-platform", cacheDir };
    const path = await ensurePrebuiltLibrary(options);
    assert.equal(path, `${cacheDir}/9.9.9-test/web4_rtt-test-platform.bin`);
    assert.equal(http.hits, 1);
    assert.deepEqual(await Deno.readFile(path), bytes);

    assert.equal(await ensurePrebuiltLibrary(options), path);
    assert.equal(http.hits, 1, "the cached copy is reused");

    const lib = openNativeLibrary(path);
    assert.equal(lib.abiVersion, EXPECTED_ABI_VERSION);
    lib.close();

    await http.server.shutdown();
    assert.equal(await ensurePrebuiltLibrary(options), path, "offline with a cached copy works");
  } finally {
    await http.server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("ensurePrebuiltLibrary refuses and deletes a download or cached file that does not match", async () => {
  const bytes = await Deno.readFile(built);
  let corrupt = true;
  const http = serve(() => {
    if (!corrupt) return bytes;
    const copy = bytes.slice();
    copy[copy.length >> 1]! ^= 0xff;
    return copy;
  });
  const cacheDir = await tempCache();
  try {
    const manifest = await manifestFor(bytes, http.pattern);
    const options = { manifest, platform: "test-platform", cacheDir };
    const err = await failure(ensurePrebuiltLibrary(options));
    assert.equal(err.code, "NATIVE_LIBRARY_CHECKSUM_MISMATCH");
    const leftovers = await Array.fromAsync(Deno.readDir(cacheDir)).then((e) => e.length);
    const files = leftovers === 0
      ? []
      : await Array.fromAsync(Deno.readDir(`${cacheDir}/9.9.9-test`));
    assert.deepEqual(files, [], "nothing of the bad download was kept");

    corrupt = false;
    const path = await ensurePrebuiltLibrary(options);
    const tampered = (await Deno.readFile(path)).slice();
    tampered[0]! ^= 0xff;
    await Deno.writeFile(path, tampered);
    assert.equal(await ensurePrebuiltLibrary(options), path);
    assert.equal(http.hits, 3, "a tampered cache entry is replaced by a fresh, verified download");
    assert.deepEqual(await Deno.readFile(path), bytes);
  } finally {
    await http.server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("ensurePrebuiltLibrary offline without a cached copy, or for an unknown platform, says what to do", async () => {
  const bytes = await Deno.readFile(built);
  const http = serve(() => bytes);
  const manifest = await manifestFor(bytes, http.pattern);
  await http.server.shutdown();
  const cacheDir = await tempCache();
  try {
    const offline = await failure(
      ensurePrebuiltLibrary({ manifest, platform: "test-platform", cacheDir }),
    );
    assert.equal(offline.code, "NATIVE_LIBRARY_NOT_FOUND");
    assert.match(offline.message, /Cannot download .*WEB4_RTT_LIB/);
    const unknown = await failure(
      ensurePrebuiltLibrary({ manifest, platform: "plan9-mips", cacheDir }),
    );
    assert.match(unknown.message, /No prebuilt native library for plan9-mips/);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("loadNativeLibraryAsync prefers the local build over any download", async () => {
  const lib = await loadNativeLibraryAsync({
    manifest: {
      version: "x",
      abiVersion: 0,
      urlPattern: "http://127.0.0.1:9/{file}",
      platforms: {},
    },
  });
  assert.equal(lib.abiVersion, EXPECTED_ABI_VERSION);
});
