/**
 * Where a running `web4 serve` keeps its control endpoint: a folder (mode
 * 0700) holding the Unix socket `control.sock` (mode 0600) and the operator
 * token `token` (mode 0600). The folder is found from the agent's
 * fingerprint, so every command given the same key finds it.
 *
 * @module
 */

/** The socket's file name in the control folder. */
export const CONTROL_SOCKET = "control.sock";
/** The token's file name in the control folder. */
export const CONTROL_TOKEN = "token";

/**
 * The well-known control folder of the agent with `fingerprint`:
 * `$XDG_RUNTIME_DIR/web4/<fp>` when `XDG_RUNTIME_DIR` is set, else
 * `$HOME/.web4/run/<fp>`, where `<fp>` is the fingerprint's first 32 hex
 * digits (a Unix socket's path must stay under 108 bytes); `override`
 * (`--control-dir`) wins.
 *
 * @param fingerprint The agent's fingerprint.
 * @param override An explicit folder.
 * @returns The folder's path.
 *
 * @example
 * ```ts
 * import { controlDir } from "./paths.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(controlDir("ab".repeat(32), "/tmp/x"), "/tmp/x");
 * ```
 */
export function controlDir(fingerprint: string, override?: string): string {
  if (override !== undefined) return override;
  const runtime = Deno.env.get("XDG_RUNTIME_DIR");
  const fp = fingerprint.slice(0, 32);
  if (runtime !== undefined && runtime !== "") return `${runtime}/web4/${fp}`;
  const home = Deno.env.get("HOME") ?? ".";
  return `${home}/.web4/run/${fp}`;
}

/**
 * Creates the control folder with mode 0700 (its parents as needed), and
 * refuses one that exists with any access for group or others.
 *
 * @param dir The folder.
 * @throws {Error} When it exists with a wider mode.
 */
export async function makePrivateDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await Deno.stat(dir);
  if (st.mode !== null && (st.mode & 0o077) !== 0) {
    throw new Error(
      `The control folder ${dir} is open to others (mode ${
        (st.mode & 0o777).toString(8)
      }); run chmod 700 ${dir}`,
    );
  }
}
