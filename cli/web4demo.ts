/**
 * `deno run cli/web4demo.ts [--json]`: three agents and a person, the whole
 * story on 127.0.0.1 over the real RTT (see `cli/demo.ts`), every event
 * printed as it happens (`--json`: JSON Lines on stdout), then a summary.
 * Exit 0 on success; otherwise 1 with one line saying why (2 for usage or
 * missing permissions without a terminal to ask in).
 *
 * Permissions: network on 127.0.0.1 (the agents and the local page), FFI
 * and read of the native library, and the `WEB4_RTT_LIB` variable. In a
 * terminal it asks for exactly these after one line saying why; without a
 * terminal it names the flags; `deno run -P cli/web4demo.ts` uses the
 * permission set in `deno.json`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatEventLine, type Web4Event } from "../lib/observability/mod.ts";
import { LIBRARY_ENV_VAR } from "../lib/rtt/mod.ts";
import { type DemoSummary, runDemo } from "./demo.ts";

const USAGE = `Usage: deno run -P cli/web4demo.ts [--json]

Three agents and a person on 127.0.0.1 over RTT: handshakes, presence,
intents, consent, LIP evidence and facts confirmed by trust; every event
printed as it happens, then a summary.

Options:
  --json   events as JSON Lines on stdout (the summary as a last line)
  --help   this text`;

const FLAGS =
  `--allow-net=127.0.0.1 --allow-env=${LIBRARY_ENV_VAR} --allow-ffi=./target/release --allow-read=./target/release`;

/** The folder of the native library, found without touching the file system (no extra prompt). */
function _libDir(): string {
  let explicit: string | undefined;
  try {
    explicit = Deno.env.get(LIBRARY_ENV_VAR);
  } catch { /* no env permission: unset */ }
  if (explicit !== undefined && explicit !== "") {
    const cut = Math.max(explicit.lastIndexOf("/"), explicit.lastIndexOf("\\"));
    return cut > 0 ? explicit.slice(0, cut) : ".";
  }
  return decodeURIComponent(new URL("../target/release", import.meta.url).pathname);
}

/** Makes sure every permission the demo needs is granted; returns a one-line failure otherwise. */
async function _permissions(): Promise<{ ok: true } | { ok: false; line: string; code: number }> {
  const env: Deno.PermissionDescriptor = { name: "env", variable: LIBRARY_ENV_VAR };
  const net: Deno.PermissionDescriptor = { name: "net", host: "127.0.0.1" };
  const first = [env, net];
  const states = await Promise.all(first.map((d) => Deno.permissions.query(d)));
  const interactive = Deno.stdin.isTerminal();
  const missing = first.filter((_, i) => states[i]!.state !== "granted");
  if (missing.length > 0 || !(await _libGranted())) {
    if (!interactive) {
      return {
        ok: false,
        code: 2,
        line:
          `web4demo needs permissions; run: deno run -P cli/web4demo.ts  (or: deno run ${FLAGS} cli/web4demo.ts)`,
      };
    }
    console.error(
      "web4demo needs: network on 127.0.0.1 (three agents and a local page), the native RTT library (ffi + read), and the WEB4_RTT_LIB variable.",
    );
    for (const d of first) {
      if ((await Deno.permissions.request(d)).state !== "granted") {
        return { ok: false, code: 1, line: `web4demo: permission ${d.name} denied` };
      }
    }
    const dir = _libDir();
    for (const name of ["read", "ffi"] as const) {
      if ((await Deno.permissions.request({ name, path: dir })).state !== "granted") {
        return { ok: false, code: 1, line: `web4demo: permission ${name} for ${dir} denied` };
      }
    }
  }
  return { ok: true };
}

async function _libGranted(): Promise<boolean> {
  if (
    (await Deno.permissions.query({ name: "env", variable: LIBRARY_ENV_VAR })).state !== "granted"
  ) {
    return false;
  }
  const dir = _libDir();
  const [r, f] = await Promise.all([
    Deno.permissions.query({ name: "read", path: dir }),
    Deno.permissions.query({ name: "ffi", path: dir }),
  ]);
  return r.state === "granted" && f.state === "granted";
}

function _printSummary(s: DemoSummary, out: (line: string) => void): void {
  const fmt = (o: Record<string, string | number>) =>
    Object.entries(o).map(([k, v]) => `${k}=${v}`).join(" ") || "-";
  out("");
  out("summary");
  for (const name of Object.keys(s.trust)) {
    out(`  ${name.padEnd(6)} trust: ${fmt(s.trust[name]!)}`);
    out(
      `         CIP claims: ${fmt(s.claims[name]!)}  LIP claims: ${
        fmt(s.lip[name]!)
      }  facts in causal memory: ${s.facts[name]}`,
    );
  }
  out(`  messages dispatched: ${fmt(s.messages)}  events: ${s.events}`);
  out(
    `  RTT latency (send -> ack): p50 ${s.latency.p50} ms, p95 ${s.latency.p95} ms over ${s.latency.count} messages`,
  );
}

/**
 * Runs the demo command.
 *
 * @param args Command-line arguments.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  let json = false;
  try {
    const { values } = parseArgs({
      args,
      options: { json: { type: "boolean" }, help: { type: "boolean" } },
      strict: true,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    json = values.json === true;
  } catch (err) {
    console.error(`web4demo: ${(err as Error).message} (see --help)`);
    return 2;
  }
  let granted;
  try {
    granted = await _permissions();
  } catch (err) {
    console.error(`web4demo: ${(err as Error).message.split("\n")[0]}`);
    return 1;
  }
  if (!granted.ok) {
    console.error(granted.line);
    return granted.code;
  }
  const encoder = new TextEncoder();
  const write = (line: string) => Deno.stdout.writeSync(encoder.encode(line + "\n"));
  const color = !json && Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined;
  const onEvent = (e: Web4Event, names: ReadonlyMap<string, string>) => {
    if (json) return write(JSON.stringify(e));
    const peer = e.peer === undefined ? undefined : names.get(e.peer) ?? e.peer.slice(0, 8);
    const { peer: _drop, ...rest } = e;
    const line = formatEventLine({ ...rest, ...(peer === undefined ? {} : { peer }) }, color);
    write(line);
  };
  const onStep = (line: string) => {
    if (!json) write(color ? `\n\x1b[1m== ${line}\x1b[0m` : `\n== ${line}`);
  };
  try {
    const summary = await runDemo({ onEvent, onStep });
    if (json) write(JSON.stringify({ summary }));
    else _printSummary(summary, write);
    return 0;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    console.error(`web4demo failed: ${msg.split("\n")[0]}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
