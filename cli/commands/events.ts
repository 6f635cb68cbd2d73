/**
 * `web4 events FILE [--follow] [--kind K] [--peer FP] [--json]`:
 * pretty-prints a JSON Lines event log, or an audit stream's file.
 *
 * @module
 */

import { colorByDefault, formatEventLine, type Web4Event } from "../../lib/observability/mod.ts";
import { type Command, errorLine, listFlag, stringFlag, UsageError } from "../command.ts";
import { readEvents } from "../control/lists.ts";
import { controlFor } from "./status.ts";

const USAGE = `Usage: web4 events FILE [--follow] [--kind K]... [--peer FP] [--json]
       web4 events --key FILE [--control-dir DIR] [--follow] [--kind K]... [--peer FP] [--json]

Pretty-prints a JSON Lines event log (as written by web4 serve --events FILE),
one line per event; an audit stream's file (web4 serve --audit FILE, lines
{"n", "level", "event"}) reads the same way. With --key instead of FILE, the
events come from the web4 serve running with that key (its control endpoint,
web4 status --help): its recent ones, then new ones with --follow.

Options:
  --follow, -f   Keep reading as the file grows (also across size rotation)
  --kind K       Only events of kind K; "trust." or "trust.*" matches a prefix (repeatable)
  --peer FP      Only events whose peer fingerprint starts with FP
  --json         Print the matching events as JSON Lines instead
  --color        Colour the output (default: when stdout is a terminal)
  --key FILE     Read from the serve running with this key instead of a FILE
  --control-dir DIR  That serve's control folder, if it was given one
  -h, --help     Show this text

Exit codes: 0 ok, 1 unreadable file or malformed lines (reported with their
line numbers), 2 usage error.`;

/** Whether an event passes the `--kind` and `--peer` filters. */
function _matches(event: Web4Event, kinds: string[], peer: string | undefined): boolean {
  if (peer !== undefined && !(event.peer ?? "").startsWith(peer)) return false;
  if (kinds.length === 0) return true;
  return kinds.some((k) => {
    const prefix = k.endsWith(".*") ? k.slice(0, -1) : k.endsWith(".") ? k : undefined;
    return prefix === undefined ? event.kind === k : event.kind.startsWith(prefix);
  });
}

function _isEvent(value: unknown): value is Web4Event {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.v === "1.0" && typeof v.kind === "string" && typeof v.ts === "string" &&
    typeof v.node === "string" && typeof v.seq === "number" && typeof v.data === "object";
}

/** The event of an audit stream's line (`{"n", "level", "event"}`), if it is one. */
function _auditEvent(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  return typeof v.n === "number" && typeof v.level === "string" ? v.event : undefined;
}

/** `web4 events`. */
export const eventsCommand: Command = {
  name: "events",
  summary: "Pretty-print a JSON Lines event log",
  usage: USAGE,
  options: {
    follow: { type: "boolean", short: "f" },
    kind: { type: "string", multiple: true },
    peer: { type: "string" },
    json: { type: "boolean" },
    color: { type: "boolean" },
    key: { type: "string" },
    "control-dir": { type: "string" },
  },
  async run(args, io) {
    const keyPath = stringFlag(args, "key");
    if (keyPath !== undefined && args.positionals.length === 0) {
      const kinds = listFlag(args, "kind");
      const peer = stringFlag(args, "peer");
      const json = args.values.json === true;
      const color = args.values.color === true ||
        (args.values.color === undefined && colorByDefault());
      return await _fromServe(keyPath, stringFlag(args, "control-dir"), io, {
        follow: args.values.follow === true,
        each: (e) => {
          if (_matches(e, kinds, peer)) {
            io.out(json ? JSON.stringify(e) : formatEventLine(e, color));
          }
        },
      });
    }
    if (args.positionals.length !== 1) throw new UsageError("expected exactly one FILE");
    const path = args.positionals[0]!;
    const kinds = listFlag(args, "kind");
    const peer = stringFlag(args, "peer");
    const json = args.values.json === true;
    const color = args.values.color === true ||
      (args.values.color === undefined && colorByDefault());
    let offset = 0;
    let lineNo = 0;
    let malformed = 0;
    let carry = "";
    const decoder = new TextDecoder();

    const consume = (text: string) => {
      const lines = (carry + text).split("\n");
      carry = lines.pop() ?? "";
      for (const line of lines) {
        lineNo += 1;
        if (line.trim() === "") continue;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          value = undefined;
        }
        const unwrapped = _auditEvent(value);
        if (unwrapped !== undefined) value = unwrapped;
        if (!_isEvent(value)) {
          malformed += 1;
          io.err(`${path}:${lineNo}: not an event of contract v1.0`);
          continue;
        }
        if (!_matches(value, kinds, peer)) continue;
        const text = unwrapped === undefined ? line : JSON.stringify(value);
        io.out(json ? text : formatEventLine(value, color));
      }
    };

    const readFrom = async (): Promise<boolean> => {
      let file: Deno.FsFile;
      try {
        file = await Deno.open(path, { read: true });
      } catch (err) {
        io.err(
          errorLine(err instanceof Deno.errors.NotFound ? new Error(`No such file: ${path}`) : err),
        );
        return false;
      }
      try {
        const { size } = await file.stat();
        if (size < offset) {
          // Rotated: the file was replaced by a smaller one; start over.
          offset = 0;
          carry = "";
        }
        if (size === offset) return true;
        await file.seek(offset, Deno.SeekMode.Start);
        const buf = new Uint8Array(size - offset);
        let read = 0;
        while (read < buf.length) {
          const n = await file.read(buf.subarray(read));
          if (n === null) break;
          read += n;
        }
        offset += read;
        consume(decoder.decode(buf.subarray(0, read), { stream: true }));
        return true;
      } finally {
        file.close();
      }
    };

    if (!(await readFrom())) return 1;
    if (args.values.follow === true) {
      const signal = io.signal;
      while (!signal?.aborted) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 250);
          signal?.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve();
          }, { once: true });
        });
        if (signal?.aborted) break;
        if (!(await readFrom())) return 1;
      }
    } else if (carry.trim() !== "") {
      consume("\n");
    }
    return malformed > 0 ? 1 : 0;
  },
};

/** `events --key`: the running serve's recent events (and, with --follow, new ones). */
async function _fromServe(
  keyPath: string,
  dir: string | undefined,
  io: { err(line: string): void; signal?: AbortSignal | undefined },
  o: { follow: boolean; each: (e: Web4Event) => void },
): Promise<number> {
  try {
    const { client, dir: where, fingerprint } = await controlFor(keyPath, dir);
    if (client === undefined) {
      io.err(
        `error: no web4 serve runs for ${
          fingerprint.slice(0, 16)
        } (no control socket in ${where}); give the event FILE of serve --events instead`,
      );
      return 1;
    }
    try {
      await readEvents(client, o.each, { follow: o.follow, signal: io.signal });
      return 0;
    } finally {
      client.close();
    }
  } catch (err) {
    io.err(errorLine(err));
    return 1;
  }
}
