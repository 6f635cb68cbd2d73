/**
 * `web4 info`: where the native transport library was found, its version
 * and ABI.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { NativeLibraryError, nativeLibraryInfo } from "../../lib/rtt/mod.ts";
import type { Command } from "../command.ts";

/** `web4 info`. */
export const infoCommand: Command = {
  name: "info",
  summary: "Load the native transport and print its version and ABI",
  usage: `Usage: web4 info [--json]

Opens the native RTT library (WEB4_RTT_LIB, else the local build) and prints
where it was found, its version and its ABI version. Exit code 1 with the
reason when it cannot be loaded.`,
  options: { json: { type: "boolean" } },
  // deno-lint-ignore require-await
  async run(args, io) {
    try {
      const lib = nativeLibraryInfo();
      if (args.values.json) {
        io.out(JSON.stringify({ version: denoJson.version, native: lib }));
        return 0;
      }
      io.out(`web4-runtime ${denoJson.version}`);
      io.out(`native library: ${lib.path}`);
      io.out(`native version: ${lib.version}`);
      io.out(`native ABI:     ${lib.abiVersion}`);
      return 0;
    } catch (err) {
      if (err instanceof NativeLibraryError) {
        io.err(`error: ${err.message}`);
        return 1;
      }
      throw err;
    }
  },
};
