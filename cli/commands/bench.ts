/**
 * `web4 bench [--json]`: the benchmark tables of `bench/main.ts`, run in a
 * child Deno process with the permissions `deno task bench` gives it.
 *
 * @module
 */

import { fileURLToPath as fromFileUrl } from "node:url";
import { type Command, UsageError } from "../command.ts";

const USAGE = `Usage: web4 bench [--json]

Runs every benchmark (Deno TLS and TCP baselines, RTT, the FFI call cost,
envelopes) and prints the tables with same-run baselines and ratios: the
same run as deno task bench (build the native library first).

Options:
  --json       Print the sections as JSON
  -h, --help   Show this text

Exit codes: 0 ok, 1 a section failed (or the benchmarks are not next to this
tool, as in a compiled binary), 2 usage error.`;

/** `web4 bench`. */
export const benchCommand: Command = {
  name: "bench",
  summary: "Run the benchmarks and print their tables",
  usage: USAGE,
  options: { json: { type: "boolean" } },
  async run(args, io) {
    if (args.positionals.length > 0) {
      throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    }
    const entry = new URL("../../bench/main.ts", import.meta.url);
    if (entry.protocol !== "file:") {
      io.err("error: the benchmarks are not available in this build (run deno task bench)");
      return 1;
    }
    try {
      await Deno.stat(entry);
    } catch {
      io.err(`error: no benchmarks at ${fromFileUrl(entry)} (run deno task bench from a checkout)`);
      return 1;
    }
    const root = fromFileUrl(new URL("../../", import.meta.url));
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--allow-ffi=${root}target/release`,
        "--allow-read",
        "--allow-env=WEB4_RTT_LIB",
        "--allow-net=127.0.0.1",
        "--allow-run=openssl",
        fromFileUrl(entry),
        ...(args.values.json === true ? ["--json"] : []),
      ],
      cwd: root,
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    return (await child.status).code;
  },
};
