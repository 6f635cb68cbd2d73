import assert from "node:assert/strict";
import { EXPECTED_ABI_VERSION, NativeLibraryError, nativeLibraryInfo } from "../../lib/rtt/mod.ts";
import { openNativeLibrary, resolveLibraryPath } from "../../lib/rtt/native.ts";
import { runDeno } from "../helpers/subprocess.ts";

const cargoVersion = (await Deno.readTextFile(new URL("../../native/Cargo.toml", import.meta.url)))
  .match(/^version = "([^"]+)"/m)?.[1];

Deno.test("nativeLibraryInfo loads the local cargo build with the crate's version and ABI", () => {
  const info = nativeLibraryInfo();
  assert.equal(info.version, cargoVersion);
  assert.equal(info.abiVersion, EXPECTED_ABI_VERSION);
  assert.match(info.path, /target\/release\/libweb4_rtt\.(so|dylib)$|web4_rtt\.dll$/);
});

Deno.test("openNativeLibrary refuses a library of another ABI version with NATIVE_ABI_MISMATCH", () => {
  const path = resolveLibraryPath();
  assert.throws(
    () => openNativeLibrary(path, EXPECTED_ABI_VERSION + 1),
    (err: unknown) => {
      assert.ok(err instanceof NativeLibraryError);
      assert.equal(err.code, "NATIVE_ABI_MISMATCH");
      assert.equal(err.path, path);
      assert.match(err.message, new RegExp(`ABI version ${EXPECTED_ABI_VERSION}`));
      assert.match(err.message, /build:native/);
      return true;
    },
  );
});

Deno.test("openNativeLibrary wraps a file that is not a library in NATIVE_LIBRARY_LOAD_FAILED", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bogus = `${dir}/libweb4_rtt.so`;
    await Deno.writeTextFile(bogus, "not an ELF file");
    const result = await runDeno(
      `import { openNativeLibrary, NativeLibraryError } from "./../../lib/rtt/native.ts";
       try { openNativeLibrary(${JSON.stringify(bogus)}); console.log("opened"); }
       catch (e) { console.log(e instanceof NativeLibraryError ? e.code : "other:" + e); }`,
      [`--allow-ffi=${dir}`, "--allow-read"],
    );
    assert.equal(result.stdout.trim(), "NATIVE_LIBRARY_LOAD_FAILED", result.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing library at WEB4_RTT_LIB gives NATIVE_LIBRARY_NOT_FOUND naming the path and the fix", async () => {
  const missing = "/nonexistent/web4/libweb4_rtt.so";
  const result = await runDeno(
    `import { NativeLibraryError, nativeLibraryInfo } from "./../../lib/rtt/mod.ts";
     try { nativeLibraryInfo(); console.log("loaded"); }
     catch (e) {
       if (!(e instanceof NativeLibraryError)) throw e;
       console.log(JSON.stringify({ code: e.code, path: e.path, message: e.message }));
     }`,
    ["--allow-read", "--allow-env=WEB4_RTT_LIB", "--allow-ffi"],
    { WEB4_RTT_LIB: missing },
  );
  assert.equal(result.code, 0, result.stderr);
  const err = JSON.parse(result.stdout);
  assert.equal(err.code, "NATIVE_LIBRARY_NOT_FOUND");
  assert.equal(err.path, missing);
  assert.match(err.message, /WEB4_RTT_LIB/);
  assert.match(err.message, /deno task build:native/);
});

Deno.test("WEB4_RTT_LIB takes precedence over the local build", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const copy = `${dir}/copy-of-web4_rtt.so`;
    await Deno.copyFile(resolveLibraryPath(), copy);
    const result = await runDeno(
      `import { nativeLibraryInfo } from "./../../lib/rtt/mod.ts";
       console.log(nativeLibraryInfo().path);`,
      ["--allow-read", "--allow-env=WEB4_RTT_LIB", `--allow-ffi=${dir}`],
      { WEB4_RTT_LIB: copy },
    );
    assert.equal(result.stdout.trim(), copy, result.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("importing any entry of the package (the root and every subpath) needs neither --allow-ffi nor the native library", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const targets = Object.values(config.exports as Record<string, string>);
  assert.ok(targets.length > 1, "the package has subpath exports");
  const imports = targets.map((t, i) => `import * as e${i} from "./../../${t.slice(2)}";`);
  const result = await runDeno(
    `${imports.join("\n")}
     const entries = [${targets.map((_, i) => `e${i}`).join(", ")}];
     console.log(entries.map((e) => Object.keys(e).length > 0).join(" "));
     console.log(typeof e0.Agent, typeof e0.rtt, typeof e0.Web4Error);`,
    [],
    { WEB4_RTT_LIB: "/nonexistent/libweb4_rtt.so" },
  );
  assert.equal(result.code, 0, result.stderr);
  const [loaded, root] = result.stdout.trim().split("\n");
  assert.equal(loaded, targets.map(() => "true").join(" "), "every entry exports something");
  assert.equal(root, "function function function");
});

Deno.test("using the transport without --allow-ffi fails with Deno's NotCapable, not a crash", async () => {
  const result = await runDeno(
    `import { nativeLibraryInfo } from "./../../lib/rtt/mod.ts";
     try { nativeLibraryInfo(); console.log("loaded"); }
     catch (e) { console.log(e instanceof Deno.errors.NotCapable ? "NotCapable" : "other:" + e); }`,
    ["--allow-read"],
  );
  assert.equal(result.stdout.trim(), "NotCapable", result.stderr);
});
