/**
 * `deno task compile`: standalone binaries of `cli/web4.ts` and
 * `cli/web4demo.ts` in `dist/`, with the native library placed beside them
 * (a compiled binary carries its modules inside itself, so the library
 * lookup's last step is the executable's own folder: see `lib/rtt/native.ts`)
 * and the console page's bundle included. Where Deno's runtime binary
 * (`denort`) cannot be downloaded, it says so and exits 0 without binaries.
 *
 * @module
 */

import { libraryFileName } from "../lib/rtt/mod.ts";
import { buildBundle, BUNDLE_URL } from "./console/bundle.ts";

const root = new URL("../", import.meta.url);
const dist = new URL("dist/", root);

/** Permissions the binaries carry (the same a `deno run` of the tool needs). */
const FLAGS = [
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-net",
  "--allow-sys",
];

async function _compile(entry: string, name: string): Promise<"ok" | "skipped"> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      "--quiet",
      ...FLAGS,
      "--include",
      BUNDLE_URL.pathname,
      "--output",
      new URL(name, dist).pathname,
      new URL(entry, root).pathname,
    ],
    cwd: root.pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (r.code === 0) return "ok";
  const err = new TextDecoder().decode(r.stderr);
  if (/denort|dl\.deno\.land|Setting up base binary/.test(err)) return "skipped";
  const line = err.split("\n").find((l) => /error/i.test(l)) ?? `exit ${r.code}`;
  throw new Error(`deno compile ${entry} failed: ${line}`);
}

if (import.meta.main) {
  const lib = new URL(`target/release/${libraryFileName()}`, root);
  try {
    await Deno.stat(lib);
  } catch {
    console.error(`error: ${lib.pathname} is missing; run deno task build:native first`);
    Deno.exit(1);
  }
  await Deno.mkdir(new URL("./dist/", BUNDLE_URL), { recursive: true });
  await buildBundle(BUNDLE_URL.pathname);
  await Deno.mkdir(dist, { recursive: true });
  const entries: [string, string][] = [["cli/web4.ts", "web4"]];
  try {
    await Deno.stat(new URL("cli/web4demo.ts", root));
    entries.push(["cli/web4demo.ts", "web4demo"]);
  } catch { /* not there */ }
  try {
    for (const [entry, name] of entries) {
      if ((await _compile(entry, name)) === "skipped") {
        console.log(
          "compile skipped: Deno's runtime binary (denort) cannot be downloaded here " +
            "(dl.deno.land unreachable); no binaries were built",
        );
        Deno.exit(0);
      }
      console.log(`built dist/${name}${Deno.build.os === "windows" ? ".exe" : ""}`);
    }
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
  await Deno.copyFile(lib, new URL(libraryFileName(), dist));
  console.log(
    `placed dist/${libraryFileName()} beside the binaries (found from the executable's folder)`,
  );
}
