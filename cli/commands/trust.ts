/**
 * `web4 trust --store FILE [--dot|--mermaid] [--json]`: the peers (and the
 * person) in an agent's store, their trust states and the transition log.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { type Command, errorLine, requiredFlag, stringFlag, UsageError } from "../command.ts";
import { allPeers } from "../control/lists.ts";
import { controlFor } from "./status.ts";

const USAGE = `Usage: web4 trust --store FILE [--dot | --mermaid | --json] [--all]
       web4 trust --key FILE [--control-dir DIR] [--json]

Reads an agent's store (the SQLite file of web4 serve --store, opened
read-only) and prints every subject's trust (machine "cip" for peers, "hcp"
for the person), then the transition log, oldest first.

Options:
  --store FILE   The agent's store
  --key FILE     Instead of a store: ask the web4 serve running with this key
                 (its control endpoint, web4 status --help) for its peers now:
                 fingerprint, agent id, trust, verified, person
  --control-dir DIR  That serve's control folder, if it was given one
  --all          Also list log entries that did not change the state
  --dot          Print the observed transitions as a Graphviz digraph
  --mermaid      Print them as a Mermaid stateDiagram-v2
  --json         Print {"subjects": [...], "log": [...]} as JSON
  -h, --help     Show this text

Exit codes: 0 ok, 1 missing or unreadable store, 2 usage error.`;

/** One subject's current trust. */
interface _Subject {
  machine: string;
  subject: string;
  state: string;
  sinceMs: number;
}

/** One trust-log entry. */
interface _Entry {
  machine: string;
  subject: string;
  atMs: number;
  event: string;
  from: string;
  to: string;
  changed: boolean;
  reason: string;
  actor: string | null;
}

function _read(path: string, all: boolean): { subjects: _Subject[]; log: _Entry[] } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const subjects = db.prepare(
      "SELECT machine, subject, state, since_ms AS sinceMs FROM trust ORDER BY machine, subject",
    ).all() as unknown as _Subject[];
    const rows = db.prepare(
      `SELECT machine, subject, at_ms AS atMs, event, from_state AS "from", to_state AS "to",
              changed, reason, actor FROM trust_log ${all ? "" : "WHERE changed = 1"} ORDER BY id`,
    ).all() as unknown as (Omit<_Entry, "changed"> & { changed: number })[];
    return {
      subjects: subjects.map((s) => ({ ...s, sinceMs: Number(s.sinceMs) })),
      log: rows.map((r) => ({ ...r, atMs: Number(r.atMs), changed: r.changed === 1 })),
    };
  } finally {
    db.close();
  }
}

function _short(fp: string): string {
  return fp.length > 16 ? `${fp.slice(0, 16)}…` : fp;
}

function _edges(
  log: _Entry[],
): Map<string, { from: string; to: string; events: Map<string, number> }> {
  const edges = new Map<string, { from: string; to: string; events: Map<string, number> }>();
  for (const e of log) {
    if (!e.changed) continue;
    const key = `${e.machine}:${e.from}->${e.to}`;
    let edge = edges.get(key);
    if (edge === undefined) {
      edges.set(
        key,
        edge = { from: `${e.machine}_${e.from}`, to: `${e.machine}_${e.to}`, events: new Map() },
      );
    }
    edge.events.set(e.event, (edge.events.get(e.event) ?? 0) + 1);
  }
  return edges;
}

function _label(events: Map<string, number>): string {
  return [...events].map(([ev, n]) => n > 1 ? `${ev} ×${n}` : ev).join(", ");
}

/** `web4 trust`. */
export const trustCommand: Command = {
  name: "trust",
  summary: "Show peers, trust states and the transition log of an agent's store",
  usage: USAGE,
  options: {
    store: { type: "string" },
    dot: { type: "boolean" },
    mermaid: { type: "boolean" },
    json: { type: "boolean" },
    all: { type: "boolean" },
    key: { type: "string" },
    "control-dir": { type: "string" },
  },
  async run(args, io) {
    if (args.positionals.length > 0) {
      throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    }
    const keyPath = stringFlag(args, "key");
    if (keyPath !== undefined) {
      if (stringFlag(args, "store") !== undefined) {
        throw new UsageError("give --store or --key, not both");
      }
      return await _fromServe(
        keyPath,
        stringFlag(args, "control-dir"),
        args.values.json === true,
        io,
      );
    }
    const formats = ["dot", "mermaid", "json"].filter((f) => args.values[f] === true);
    if (formats.length > 1) throw new UsageError(`choose one of --${formats.join(", --")}`);
    const path = requiredFlag(args, "store");
    try {
      if (!Deno.statSync(path).isFile) throw new Error(`Not a file: ${path}`);
    } catch (err) {
      io.err(
        errorLine(err instanceof Deno.errors.NotFound ? new Error(`No such store: ${path}`) : err),
      );
      return 1;
    }
    let data;
    try {
      data = _read(path, args.values.all === true);
    } catch (err) {
      io.err(`error: ${path} is not an agent store (${(err as Error).message.split("\n")[0]})`);
      return 1;
    }
    const { subjects, log } = data;
    if (args.values.json === true) {
      io.out(JSON.stringify({ subjects, log }));
      return 0;
    }
    if (args.values.dot === true) {
      io.out("digraph trust {");
      io.out("  rankdir=LR;");
      const current = new Map<string, string[]>();
      for (const s of subjects) {
        const node = `${s.machine}_${s.state}`;
        current.set(node, [...(current.get(node) ?? []), s.subject.slice(0, 8)]);
      }
      const nodes = new Set<string>(current.keys());
      const edges = _edges(log);
      for (const e of edges.values()) nodes.add(e.from).add(e.to);
      for (const n of [...nodes].sort()) {
        const who = current.get(n);
        const label = who === undefined
          ? n.replace("_", " ")
          : `${n.replace("_", " ")}\\n${who.join(" ")}`;
        io.out(`  "${n}" [label="${label}"];`);
      }
      for (const e of edges.values()) {
        io.out(`  "${e.from}" -> "${e.to}" [label="${_label(e.events)}"];`);
      }
      io.out("}");
      return 0;
    }
    if (args.values.mermaid === true) {
      io.out("stateDiagram-v2");
      for (const e of _edges(log).values()) io.out(`  ${e.from} --> ${e.to} : ${_label(e.events)}`);
      for (const s of subjects) {
        io.out(`  note right of ${s.machine}_${s.state} : ${s.subject.slice(0, 8)}`);
      }
      return 0;
    }
    io.out(`${subjects.length} subject(s)`);
    for (const s of subjects) {
      io.out(
        `  ${s.machine}  ${_short(s.subject).padEnd(17)}  ${s.state.padEnd(10)}  since ${
          new Date(s.sinceMs).toISOString()
        }`,
      );
    }
    io.out(`${log.length} transition(s)`);
    for (const e of log) {
      io.out(
        `  ${new Date(e.atMs).toISOString()}  ${e.machine}  ${
          _short(e.subject).padEnd(17)
        }  ${e.from} -> ${e.to}  ${e.event}: ${e.reason}${
          e.actor === null ? "" : ` (by ${e.actor})`
        }`,
      );
    }
    return 0;
  },
};

/** `trust --key`: the running serve's peers through its control endpoint. */
async function _fromServe(
  keyPath: string,
  dir: string | undefined,
  json: boolean,
  io: { out(line: string): void; err(line: string): void },
): Promise<number> {
  try {
    const { client, dir: where, fingerprint } = await controlFor(keyPath, dir);
    if (client === undefined) {
      io.err(
        `error: no web4 serve runs for ${
          fingerprint.slice(0, 16)
        } (no control socket in ${where}); read its store with --store FILE`,
      );
      return 1;
    }
    try {
      const peers = await allPeers(client);
      if (json) io.out(JSON.stringify({ peers }));
      else {
        for (const p of peers) {
          io.out(
            `${_short(p.fingerprint)} ${p.agentId} ${p.trust}${p.verified ? " verified" : ""}${
              p.person ? " person" : ""
            }`,
          );
        }
        if (peers.length === 0) io.out("no peers");
      }
      return 0;
    } finally {
      client.close();
    }
  } catch (err) {
    io.err(errorLine(err));
    return 1;
  }
}
