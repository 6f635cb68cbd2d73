/**
 * Test helper: runs `cli/web4.ts` as a subprocess (one-shot, or long-running
 * with its output read line by line).
 *
 * @module
 */

import { waitFor } from "./wait.ts";

const _root = new URL("../../", import.meta.url);
const _entry = new URL("cli/web4.ts", _root).pathname;

/** Permissions a `web4` child gets in tests. */
export const WEB4_FLAGS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-run",
  "--allow-net",
  "--allow-sys",
];

/** The result of {@linkcode web4}. */
export interface Web4Run {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Runs `web4 ARGS` to completion.
 *
 * @param args The arguments.
 * @param env More environment variables (the rest is inherited).
 * @returns Exit code and output.
 */
export async function web4(args: string[], env: Record<string, string> = {}): Promise<Web4Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--quiet", ...WEB4_FLAGS, _entry, ...args],
    cwd: _root.pathname,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** A running `web4` process whose output lines are read as they come. */
export class Web4Process implements AsyncDisposable {
  /** The child. */
  readonly child: Deno.ChildProcess;
  /** Every stdout line so far. */
  readonly lines: string[] = [];
  /** Every stderr line so far. */
  readonly errLines: string[] = [];
  readonly #waiters = new Set<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }>();
  readonly #lineWaiters = new Set<() => void>();
  readonly #done: Promise<void>;
  #exit: Deno.CommandStatus | undefined;

  /**
   * Starts `web4 ARGS`.
   *
   * @param args The arguments.
   * @param env More environment variables (the rest is inherited).
   */
  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--quiet", ...WEB4_FLAGS, _entry, ...args],
      cwd: _root.pathname,
      env: { NO_COLOR: "1", ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#done = Promise.all([
      this.#pump(this.child.stdout, this.lines),
      this.#pump(this.child.stderr, this.errLines),
    ]).then(() => {});
  }

  async #pump(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
    let carry = "";
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      const chunk = decoder.decode(bytes, { stream: true });
      const parts = (carry + chunk).split("\n");
      carry = parts.pop() ?? "";
      for (const line of parts) {
        into.push(line);
        for (const wake of [...this.#lineWaiters]) wake();
        for (const w of [...this.#waiters]) {
          const m = line.match(w.re);
          if (m !== null) {
            this.#waiters.delete(w);
            w.resolve(m);
          }
        }
      }
    }
  }

  /**
   * Resolves with the first output line (stdout or stderr) matching `re`,
   * including one already printed; rejects if the process ends first.
   *
   * @param re The pattern.
   * @returns The match.
   */
  line(re: RegExp): Promise<RegExpMatchArray> {
    for (const line of [...this.lines, ...this.errLines]) {
      const m = line.match(re);
      if (m !== null) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      this.#waiters.add({ re, resolve });
      this.child.status.then(() =>
        this.#done.then(() =>
          reject(
            new Error(
              `web4 exited before printing ${re}:\n${[...this.lines, ...this.errLines].join("\n")}`,
            ),
          )
        )
      );
    });
  }

  /**
   * Resolves once `count` output lines (stdout or stderr) match `re`;
   * rejects if the process ends first.
   *
   * @param re The pattern.
   * @param count How many matching lines.
   * @returns Once there are that many.
   */
  async countLines(re: RegExp, count: number): Promise<void> {
    const seen = () => [...this.lines, ...this.errLines].filter((l) => re.test(l)).length;
    let ended = false;
    this.#done.then(() => ended = true);
    while (seen() < count) {
      if (ended) throw new Error(`web4 exited before ${count} lines matching ${re}`);
      // Wakes on the next output line, or on the end of the output.
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#lineWaiters.delete(wake);
          resolve();
        };
        this.#lineWaiters.add(wake);
        this.#done.then(wake);
      });
    }
  }

  /**
   * Sends a signal and waits for the exit.
   *
   * @param signal The signal. @default {"SIGTERM"}
   * @returns The exit status.
   */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    if (this.#exit === undefined) {
      try {
        this.child.kill(signal);
      } catch { /* already gone */ }
      this.#exit = await this.child.status;
      await this.#done;
    }
    return this.#exit;
  }

  /** Kills the process if it is still running. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL");
  }
}

/** One line of an agent's JSONL events file (`--events PATH`). */
export interface LoggedEvent {
  /** The event kind, e.g. `router.dispatched`. */
  kind: string;
  /** The peer's fingerprint, when the event is about one. */
  peer?: string;
  /** The event's fields. */
  data: Record<string, unknown>;
}

/**
 * Reads the complete lines of an agent's JSONL events file; an absent file
 * reads as no events.
 *
 * @param path The file.
 * @returns Its events, in order.
 */
export async function readLoggedEvents(path: string): Promise<LoggedEvent[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  // Only whole lines: the child may be writing the last one right now.
  const whole = text.split("\n").slice(0, -1);
  return whole.filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

/**
 * Waits until a child's events file holds a matching event (a child process
 * announces its events only through that file, so the wait checks it every
 * 50 ms), failing with the kinds seen at the deadline.
 *
 * @param path The events file.
 * @param match The event awaited.
 * @param timeoutMs Milliseconds to wait at most. @default {30000}
 * @returns The first matching event.
 */
export async function untilLoggedEvent(
  path: string,
  match: (e: LoggedEvent) => boolean,
  timeoutMs = 30_000,
): Promise<LoggedEvent> {
  let found: LoggedEvent | undefined;
  let kinds: string[] = [];
  await waitFor(
    `a matching event in ${path}`,
    async () => {
      const events = await readLoggedEvents(path);
      kinds = events.map((e) => e.kind);
      found = events.find(match);
      return found !== undefined;
    },
    { timeoutMs, everyMs: 50, detail: () => `seen: ${kinds.slice(-20).join(", ")}` },
  );
  return found!;
}
