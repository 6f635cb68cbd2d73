/**
 * The shape of a `web4` subcommand and the shared plumbing: `parseArgs`
 * with strict options, `--help` on every subcommand, usage errors as one
 * line and exit code 2.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { Web4Error } from "../lib/errors/mod.ts";

/** Where a command writes: injectable so tests can capture it. */
export interface Io {
  /**
   * Writes one line to standard output.
   *
   * @param line The line, without a newline.
   */
  out(line: string): void;
  /**
   * Writes one line to standard error.
   *
   * @param line The line, without a newline.
   */
  err(line: string): void;
  /** Aborted on SIGINT/SIGTERM, for long-running commands. */
  signal?: AbortSignal | undefined;
}

/** The parsed arguments a command receives. */
export interface Parsed {
  /** Flag values by name. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Positional arguments. */
  positionals: string[];
}

/** One `web4` subcommand. */
export interface Command {
  /** Its name (`events`). */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text. */
  usage: string;
  /** Its flags (`--help` is added). */
  options: ParseArgsOptionsConfig;
  /**
   * Runs it.
   *
   * @param args The parsed arguments.
   * @param io Output.
   * @returns The exit code.
   */
  run(args: Parsed, io: Io): Promise<number>;
}

/** A mistake in how the command was called: exit code 2, one line. Code `USAGE`. */
export class UsageError extends Web4Error<"USAGE"> {
  /**
   * Creates the error.
   *
   * @param message One line naming the offending flag or value.
   */
  constructor(message: string) {
    super("USAGE", message);
  }
}

/**
 * Parses `args` for `command` and runs it; prints `--help`; turns a
 * {@linkcode UsageError} (or a parse error) into one line and exit code 2,
 * and a missing permission (`Deno.errors.NotCapable`) into one line and
 * exit code 1.
 *
 * @param command The command.
 * @param args Its arguments.
 * @param io Output.
 * @returns The exit code.
 */
export async function runCommand(command: Command, args: string[], io: Io): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { ...command.options, help: { type: "boolean", short: "h" } },
    }) as Parsed;
  } catch (err) {
    io.err(`error: ${_parseProblem(err, args, command)} (see web4 ${command.name} --help)`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(command.usage);
    return 0;
  }
  try {
    return await command.run(parsed, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`error: ${err.message} (see web4 ${command.name} --help)`);
      return 2;
    }
    if (err instanceof Deno.errors.NotCapable) {
      // A permission the process lacks: one line naming the flag, no trace.
      io.err(errorLine(err));
      return 1;
    }
    throw err;
  }
}

/**
 * What `parseArgs` refused, in one line; an unknown flag is echoed exactly
 * as it was typed (Node's own message quotes it in a broken way).
 */
function _parseProblem(err: unknown, args: string[], command: Command): string {
  const code = (err as { code?: unknown }).code;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const flag = unknownFlag(args, { ...command.options, help: { type: "boolean", short: "h" } });
    if (flag !== undefined) return `unknown flag ${flag}`;
  }
  return (err as Error).message.split("\n")[0]!;
}

/**
 * The first argument that is a flag the options do not define, as typed.
 *
 * @param args The arguments.
 * @param options The command's options.
 * @returns The argument, or `undefined` when every flag is known.
 *
 * @example
 * ```ts
 * import { unknownFlag } from "./command.ts";
 * import assert from "node:assert/strict";
 *
 * const options = { to: { type: "string" }, json: { type: "boolean", short: "j" } } as const;
 * assert.equal(unknownFlag(["--to", "-x", "--jsn=1"], options), "--jsn=1");
 * assert.equal(unknownFlag(["-j", "-q"], options), "-q");
 * assert.equal(unknownFlag(["--json", "--", "--anything"], options), undefined);
 * ```
 */
export function unknownFlag(args: string[], options: ParseArgsOptionsConfig): string | undefined {
  const shorts = new Map(
    Object.entries(options).flatMap(([name, o]) => o.short === undefined ? [] : [[o.short, name]]),
  );
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return undefined;
    if (arg.startsWith("--")) {
      const name = arg.slice(2).split("=")[0]!;
      const option = options[name];
      if (option === undefined) return arg;
      if (option.type === "string" && !arg.includes("=")) i++; // its value
    } else if (arg.startsWith("-") && arg.length > 1) {
      for (const ch of arg.slice(1)) {
        const name = shorts.get(ch);
        if (name === undefined) return arg;
        if (options[name]!.type === "string") {
          if (arg.endsWith(ch)) i++;
          break;
        }
      }
    }
  }
  return undefined;
}

/**
 * A string flag's value, or `undefined`.
 *
 * @param parsed The parsed arguments.
 * @param name The flag.
 * @returns Its value.
 */
export function stringFlag(parsed: Parsed, name: string): string | undefined {
  const value = parsed.values[name];
  return typeof value === "string" ? value : undefined;
}

/**
 * A required string flag.
 *
 * @param parsed The parsed arguments.
 * @param name The flag.
 * @returns Its value.
 * @throws {UsageError} When it is missing.
 */
export function requiredFlag(parsed: Parsed, name: string): string {
  const value = stringFlag(parsed, name);
  if (value === undefined || value === "") throw new UsageError(`--${name} is required`);
  return value;
}

/**
 * A repeatable string flag's values.
 *
 * @param parsed The parsed arguments.
 * @param name The flag.
 * @returns The values, in order (empty when absent).
 */
export function listFlag(parsed: Parsed, name: string): string[] {
  const value = parsed.values[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === "string");
}

/**
 * The one line to print for an error that ends a command.
 *
 * @param err The error.
 * @returns `error: <message>`, first line only.
 */
export function errorLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `error: ${message.split("\n")[0]}`;
}
