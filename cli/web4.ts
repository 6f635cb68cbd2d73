/**
 * `web4`: the command-line entry point of web4-runtime.
 *
 * Subcommands:
 * - `info`: opens the native RTT library and prints where it was found, its
 *   version and ABI version (exit code 1 with the reason when it cannot be
 *   loaded).
 * - `loopback [--rounds N]`: two agents on 127.0.0.1 exchange signed CIP
 *   envelopes over a pinned TLS 1.3 RTT session (see `cli/loopback.ts`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "../deno.json" with { type: "json" };
import { NativeLibraryError, nativeLibraryInfo } from "../lib/rtt/mod.ts";
import { runLoopback } from "./loopback.ts";

const USAGE = `Usage: web4 <command>

Commands:
  info                  Load the native transport and print its version and ABI
  loopback [--rounds N] Two agents on 127.0.0.1 exchange signed envelopes over RTT
  help                  Show this text`;

/**
 * Runs the CLI with `args` and returns the process exit code.
 *
 * @param args Command-line arguments, without the program name.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      rounds: { type: "string", default: "20" },
    },
  });
  const command = positionals[0] ?? "help";
  if (values.help || command === "help") {
    console.log(USAGE);
    return 0;
  }
  if (command === "info") {
    try {
      const lib = nativeLibraryInfo();
      console.log(`web4-runtime ${denoJson.version}`);
      console.log(`native library: ${lib.path}`);
      console.log(`native version: ${lib.version}`);
      console.log(`native ABI:     ${lib.abiVersion}`);
      return 0;
    } catch (err) {
      if (err instanceof NativeLibraryError) {
        console.error(`error: ${err.message}`);
        return 1;
      }
      throw err;
    }
  }
  if (command === "loopback") {
    const rounds = Number(values.rounds);
    if (!Number.isInteger(rounds) || rounds < 1) {
      console.error(`error: --rounds must be a positive integer, got "${values.rounds}"`);
      return 2;
    }
    try {
      const result = await runLoopback({ rounds });
      return result.replayRefused && result.wrongPinRefused ? 0 : 1;
    } catch (err) {
      if (err instanceof NativeLibraryError) {
        console.error(`error: ${err.message}`);
        return 1;
      }
      throw err;
    }
  }
  console.error(`error: unknown command "${command}"\n\n${USAGE}`);
  return 2;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
