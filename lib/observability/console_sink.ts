/**
 * A human console sink: one compact line per event, coloured when the
 * terminal supports it.
 *
 * @module
 */

import type { Severity, Web4Event } from "./event.ts";
import type { EventSink } from "./telemetry.ts";

/** Options of {@linkcode ConsoleSink}. */
export interface ConsoleSinkOptions {
  /**
   * Where lines go.
   *
   * @default {(line) => console.log(line)}
   */
  print?: (line: string) => void;
  /**
   * Use ANSI colours. By default: when stdout is a terminal and `NO_COLOR`
   * is not set (a missing env permission counts as not set).
   */
  color?: boolean;
  /**
   * Events below this severity are skipped.
   *
   * @default {"info"}
   */
  minSeverity?: Severity;
}

const RANK: Record<Severity, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const COLOR: Record<Severity, string> = {
  debug: "\x1b[90m",
  info: "\x1b[36m",
  warn: "\x1b[33m",
  error: "\x1b[31m",
};

/**
 * Formats one event as a compact line:
 * `HH:MM:SS.mmm node kind peer=abcd1234 key=value ...`.
 *
 * @param event The event.
 * @param color Whether to add ANSI colours.
 * @returns The line, without a newline.
 *
 * @example
 * ```ts
 * import { formatEventLine } from "./console_sink.ts";
 * import assert from "node:assert/strict";
 *
 * const line = formatEventLine({ v: "1.0", id: "e", ts: "2026-01-01T10:20:30.456Z", seq: 1, node: "alice", kind: "trust.transition", severity: "info", peer: "ab".repeat(32), data: { from: "untrusted", to: "probing" } }, false);
 * assert.equal(line, "10:20:30.456 alice trust.transition peer=abababab from=untrusted to=probing");
 * ```
 */
export function formatEventLine(event: Web4Event, color: boolean): string {
  const time = event.ts.slice(11, 23);
  const parts = [time, event.node, event.kind];
  if (event.peer) parts.push(`peer=${event.peer.slice(0, 8)}`);
  for (const [key, value] of Object.entries(event.data)) {
    if (value === undefined) continue;
    const text = typeof value === "string" ? value : JSON.stringify(value);
    parts.push(`${key}=${text.length > 80 ? text.slice(0, 77) + "..." : text}`);
  }
  const line = parts.join(" ");
  if (!color) return line;
  const c = COLOR[event.severity];
  return `\x1b[2m${time}\x1b[0m ${event.node} ${c}${event.kind}\x1b[0m ${parts.slice(3).join(" ")}`
    .trimEnd();
}

/**
 * Whether a console should colour its output: stdout is a terminal and
 * `NO_COLOR` is not set (a missing env permission counts as not set; it is
 * queried, never prompted for).
 *
 * @returns `true` to colour.
 *
 * @example
 * ```ts
 * import { colorByDefault } from "./console_sink.ts";
 *
 * const lines = colorByDefault() ? "coloured" : "plain";
 * ```
 */
export function colorByDefault(): boolean {
  const granted =
    Deno.permissions.querySync({ name: "env", variable: "NO_COLOR" }).state === "granted";
  if (granted && Deno.env.get("NO_COLOR")) return false;
  return Deno.stdout.isTerminal();
}

/**
 * Prints each event as one line (see {@linkcode formatEventLine}).
 *
 * @example
 * ```ts
 * import { ConsoleSink } from "./console_sink.ts";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const sink = new ConsoleSink({ print: (l) => lines.push(l), color: false, minSeverity: "warn" });
 * sink.write({ v: "1.0", id: "e", ts: "2026-01-01T00:00:00.000Z", seq: 1, node: "n", kind: "test.quiet", severity: "info", data: {} });
 * sink.write({ v: "1.0", id: "f", ts: "2026-01-01T00:00:00.000Z", seq: 2, node: "n", kind: "test.loud", severity: "error", data: {} });
 * assert.deepEqual(lines, ["00:00:00.000 n test.loud"]);
 * ```
 */
export class ConsoleSink implements EventSink {
  #print: (line: string) => void;
  #color: boolean;
  #min: number;

  /**
   * Creates a console sink.
   *
   * @param options Output, colour, minimum severity.
   */
  constructor(options: ConsoleSinkOptions = {}) {
    this.#print = options.print ?? ((line) => console.log(line));
    this.#color = options.color ?? colorByDefault();
    this.#min = RANK[options.minSeverity ?? "info"];
  }

  /**
   * Prints one event, if it is severe enough.
   *
   * @param event The event.
   */
  write(event: Web4Event): void {
    if (RANK[event.severity] < this.#min) return;
    this.#print(formatEventLine(event, this.#color));
  }
}
