/**
 * Test helper: runs a small TypeScript program in a fresh Deno process with
 * exactly the permissions a test names, and returns its exit code and output.
 *
 * @module
 */

/** The result of {@linkcode runDeno}. */
export interface DenoRun {
  /** Exit code of the child process. */
  code: number;
  /** Its standard output, decoded. */
  stdout: string;
  /** Its standard error, decoded. */
  stderr: string;
}

/**
 * Writes `source` to a temporary module in the repository's `tests/` tree (so
 * relative imports of `../../mod.ts` resolve) and runs it with `flags`.
 *
 * @param source Program text; imports are relative to `tests/helpers/`.
 * @param flags Permission flags for `deno run`, e.g. `["--allow-read"]`.
 * @param env Extra environment variables for the child.
 * @param signal Kills the child when it aborts (a bound on a child that should exit by itself).
 * @returns Exit code and output.
 */
export async function runDeno(
  source: string,
  flags: string[],
  env: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<DenoRun> {
  const dir = new URL(".", import.meta.url);
  const file = new URL(`_tmp_${crypto.randomUUID()}.ts`, dir);
  await Deno.writeTextFile(file, source);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--quiet", ...flags, file.pathname],
      env,
      stdout: "piped",
      stderr: "piped",
      ...(signal === undefined ? {} : { signal }),
    }).output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    await Deno.remove(file);
  }
}
