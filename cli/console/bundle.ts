/**
 * The console page's script: `./page.ts` (the project's envelope and
 * identity code plus the page logic) bundled for the browser with
 * `deno bundle`. Run by `deno`, `serve --console` bundles it once at
 * start; `deno task compile` writes it to `cli/console/dist/console.js` and
 * includes it in the binary, which reads it from there.
 *
 * @module
 */

import { fileURLToPath as fromFileUrl } from "node:url";

let _cached: Promise<Uint8Array<ArrayBuffer>> | undefined;

/** Where `deno task console:bundle` writes the bundle. */
export const BUNDLE_URL: URL = new URL("./dist/console.js", import.meta.url);

/**
 * Bundles `./page.ts` with `deno bundle --platform browser`, with the
 * project's own `deno.json` (its import map and lock file) wherever the
 * process was started.
 *
 * @param out Where to write it.
 * @returns Once written.
 * @throws {Error} When `deno bundle` fails (its first error line).
 */
export async function buildBundle(out: string): Promise<void> {
  const entry = new URL("./page.ts", import.meta.url);
  const config = new URL("../../deno.json", import.meta.url);
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--config",
      fromFileUrl(config),
      "--platform",
      "browser",
      "--minify",
      "-o",
      out,
      fromFileUrl(entry),
    ],
    cwd: fromFileUrl(new URL("../../", import.meta.url)),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (r.code !== 0) {
    const msg = new TextDecoder().decode(r.stderr).split("\n").find((l) => l.trim() !== "");
    throw new Error(`deno bundle of the console page failed: ${msg ?? `exit ${r.code}`}`);
  }
  await Deno.writeTextFile(out, browserSafe(await Deno.readTextFile(out)));
}

/**
 * Replaces the bundle's one Node built-in import, `node:url`'s
 * `fileURLToPath` (used by `Identity.load`/`save` for `file:` URLs, which the
 * page never calls), with a function that throws; any other `node:` import
 * is an error, so a new one cannot slip into the page unnoticed.
 *
 * @param js The bundled JavaScript.
 * @returns It, without `node:` imports.
 * @throws {Error} Naming a `node:` import it cannot replace.
 */
export function browserSafe(js: string): string {
  const out = js.replace(
    /import\s*\{\s*fileURLToPath as ([\w$]+)\s*\}\s*from\s*"node:url";?/g,
    (_m, name: string) =>
      `const ${name}=()=>{throw new Error("file paths are not available in the browser")};`,
  );
  const left = /from\s*"(node:[^"]+)"/.exec(out);
  if (left !== null) throw new Error(`The console bundle imports ${left[1]}, which browsers lack`);
  return out;
}

/**
 * The page's script: bundled now (once per process) when run by `deno`,
 * else (a compiled binary) the bundle included at compile time.
 *
 * @returns The JavaScript.
 */
export function consoleBundle(): Promise<Uint8Array<ArrayBuffer>> {
  _cached ??= (async () => {
    // From a checkout (run by `deno`): always bundle the current source, so
    // the page never runs stale code. A compiled binary has no `deno` to
    // bundle with: it reads the bundle `deno task compile` included.
    const isDeno = /^deno(\.exe)?$/.test(Deno.execPath().split(/[\\/]/).pop() ?? "");
    if (!isDeno) return await Deno.readFile(BUNDLE_URL);
    const tmp = await Deno.makeTempFile({ prefix: "web4_console_", suffix: ".js" });
    try {
      await buildBundle(tmp);
      return await Deno.readFile(tmp);
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  })();
  _cached.catch(() => _cached = undefined);
  return _cached;
}

if (import.meta.main) {
  await Deno.mkdir(new URL("./dist/", import.meta.url), { recursive: true });
  await buildBundle(BUNDLE_URL.pathname);
  console.log(`wrote ${BUNDLE_URL.pathname}`);
}
