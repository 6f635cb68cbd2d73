/**
 * `web4 bench [--json] [--quick] [--only SECTIONS]`: the benchmark tables of
 * `bench/main.ts`, run in a child Deno process with exactly the permissions
 * and the native library `deno task bench` gives it.
 *
 * @module
 */

import { fileURLToPath as fromFileUrl } from "node:url";
import { type Command, UsageError } from "../command.ts";

const USAGE = `Usage: web4 bench [--json] [--quick] [--only SECTIONS]

Runs the benchmarks (Deno TLS and TCP baselines, RTT, RTT under attack, the
FFI call cost, envelopes, the router, the mesh) and prints the tables with
same-run baselines and ratios: the same run as deno task bench, on the native
library with test hooks (target/hooks/release; build it first with
deno task build:native:hooks) or the one WEB4_RTT_LIB names.

Options:
  --json           Print the sections as JSON
  --quick          The network sections on a tenth of the work (less stable)
  --only SECTIONS  Some sections, comma-separated: net, two-process, attack,
                   ffi, envelope, router, mesh
  -h, --help       Show this text

Exit codes: 0 ok, 1 a section failed (or the benchmarks are not next to this
tool, as in a compiled binary), 2 usage error.`;

/**
 * The child's permissions: those of `deno task bench` (deno.json), with the
 * FFI permission narrowed to the folder of the library it loads.
 *
 * @param libDir The folder of the native library.
 * @returns The `deno run` permission flags.
 */
export function benchPermissions(libDir: string): string[] {
  return [
    `--allow-ffi=${libDir}`,
    "--allow-read",
    "--allow-write",
    "--allow-env=WEB4_RTT_LIB",
    "--allow-net=127.0.0.1,127.0.0.2",
    "--allow-run=openssl,deno",
  ];
}

/** `web4 bench`. */
export const benchCommand: Command = {
  name: "bench",
  summary: "Run the benchmarks and print their tables",
  usage: USAGE,
  options: {
    json: { type: "boolean" },
    quick: { type: "boolean" },
    only: { type: "string" },
  },
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
    // As `deno task bench`: the library with test hooks (the attack section
    // replays frames), unless WEB4_RTT_LIB names one.
    const lib = Deno.env.get("WEB4_RTT_LIB") || `${root}target/hooks/release`;
    try {
      await Deno.stat(lib);
    } catch {
      io.err(
        `error: no native library at ${lib} (run deno task build:native:hooks, or set WEB4_RTT_LIB)`,
      );
      return 1;
    }
    const libDir = (await Deno.stat(lib)).isDirectory ? lib : lib.replace(/[\\/][^\\/]*$/, "");
    const flags: string[] = [];
    if (args.values.json === true) flags.push("--json");
    if (args.values.quick === true) flags.push("--quick");
    if (typeof args.values.only === "string") flags.push("--only", args.values.only);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...benchPermissions(libDir), fromFileUrl(entry), ...flags],
      cwd: root,
      env: { WEB4_RTT_LIB: lib },
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    return (await child.status).code;
  },
};
