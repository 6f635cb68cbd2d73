/**
 * `web4`: the command-line tool of web4-runtime. `web4 help` lists the
 * subcommands and `web4 --version` the version; every subcommand has
 * `--help`. Usage errors (no command, an unknown command or flag) exit 2;
 * other failures print one line and exit 1.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { type Command, type Io, runCommand } from "./command.ts";
import { benchCommand } from "./commands/bench.ts";
import { eventsCommand } from "./commands/events.ts";
import { idCommand } from "./commands/id.ts";
import { infoCommand } from "./commands/info.ts";
import { keygenCommand } from "./commands/keygen.ts";
import { loopbackCommand } from "./commands/loopback.ts";
import { sendCommand } from "./commands/send.ts";
import { serveCommand } from "./commands/serve.ts";
import { statusCommand } from "./commands/status.ts";
import { trustCommand } from "./commands/trust.ts";

/** Every subcommand, in the order `web4 help` lists them. */
export const COMMANDS: readonly Command[] = [
  keygenCommand,
  idCommand,
  serveCommand,
  statusCommand,
  sendCommand,
  trustCommand,
  eventsCommand,
  benchCommand,
  infoCommand,
  loopbackCommand,
];

function _usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "Usage: web4 <command> [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${"help".padEnd(width)}  Show this text (web4 <command> --help for one command)`,
    "",
    "Options:",
    "  --version  Print the version",
  ].join("\n");
}

const _stdio: Io = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/**
 * Runs the CLI with `args` and returns the process exit code.
 *
 * @param args Command-line arguments, without the program name.
 * @param io Where output goes. @default {console}
 * @returns The exit code.
 */
export async function main(args: string[], io: Io = _stdio): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined) {
    // No command is a usage error: the text goes to stderr, exit 2.
    io.err(_usage());
    return 2;
  }
  if (name === "help" || name === "--help" || name === "-h") {
    io.out(_usage());
    return 0;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    io.out(`web4 ${denoJson.version}`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    io.err(`error: unknown command "${name}"\n\n${_usage()}`);
    return 2;
  }
  return await runCommand(command, rest, io);
}

if (import.meta.main) {
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);
  const code = await main(Deno.args, { ..._stdio, signal: controller.signal });
  Deno.exit(code);
}
