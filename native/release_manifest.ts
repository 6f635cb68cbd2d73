/**
 * Writes `lib/rtt/prebuilt_manifest.json` for a release from a folder of
 * built libraries named `web4_rtt-<platform>.<so|dylib|dll>`, where
 * `<platform>` is Deno's `<os>-<arch>` (`linux-x86_64`, `darwin-aarch64`,
 * `windows-x86_64`, ...). Run by `.github/workflows/release.yml` before
 * `deno publish`, so the package carries the checksums of its own libraries.
 *
 * Usage: `deno run --allow-read --allow-write=lib/rtt native/release_manifest.ts --dir DIR [--url PATTERN]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "../deno.json" with { type: "json" };
import { EXPECTED_ABI_VERSION } from "../lib/rtt/ffi.ts";
import { type PrebuiltManifest, sha256Hex } from "../lib/rtt/prebuilt.ts";
import current from "../lib/rtt/prebuilt_manifest.json" with { type: "json" };

const { values } = parseArgs({
  args: Deno.args,
  options: { dir: { type: "string" }, url: { type: "string" } },
});
if (!values.dir) {
  console.error("usage: release_manifest.ts --dir DIR [--url PATTERN]");
  Deno.exit(2);
}
const NAME = /^web4_rtt-([a-z0-9]+-[a-z0-9_]+)\.(so|dylib|dll)$/;
const platforms: Record<string, { file: string; sha256: string; size: number }> = {};
for await (const entry of Deno.readDir(values.dir)) {
  const match = entry.isFile ? NAME.exec(entry.name) : null;
  if (!match) continue;
  const bytes = await Deno.readFile(`${values.dir}/${entry.name}`);
  platforms[match[1]!] = { file: entry.name, sha256: await sha256Hex(bytes), size: bytes.length };
}
if (Object.keys(platforms).length === 0) {
  console.error(`no web4_rtt-<platform>.<ext> files in ${values.dir}`);
  Deno.exit(1);
}
const manifest: PrebuiltManifest = {
  version: denoJson.version,
  abiVersion: EXPECTED_ABI_VERSION,
  urlPattern: values.url ?? current.urlPattern,
  platforms: Object.fromEntries(Object.entries(platforms).sort(([a], [b]) => a.localeCompare(b))),
};
const out = new URL("../lib/rtt/prebuilt_manifest.json", import.meta.url);
await Deno.writeTextFile(out, JSON.stringify(manifest, null, 2) + "\n");
console.log(`wrote ${decodeURIComponent(out.pathname)}: ${Object.keys(platforms).join(", ")}`);
