/**
 * `deno run cli/web4meshdemo.ts [--nodes N] [--in-process] [--json] [--dot FILE] [--mermaid FILE]`:
 * a mesh of N agents (default 4, up to 10) on 127.0.0.1 over the real RTT,
 * each in its own OS process (its own key file, store file and port; the
 * demo supervises them and stops them all on exit or Ctrl-C), or all in
 * this process with `--in-process`.
 *
 * The story: a ring (with a chord from six nodes), so some pairs are not
 * directly connected; a neighbour introduces the newcomer; every pair that
 * is not linked meets through the mesh (handshakes relayed, signed end to
 * end); a multi-hop intent; the newcomer earns trust with a fact of its
 * own that the others verify (each honest node's judge checks it against
 * its own station's readings: nobody confirms what it did not check); a
 * fact reaches consensus the same way; the newcomer then
 * lies twice and is caught (blacklisted everywhere, its messages no longer
 * relayed); one node is killed and restarted: what had no route is held and
 * delivered on heal. Every event is printed as it happens (`--json`: JSON
 * Lines, `node` names the agent), then a table of nodes, links and trust.
 * Exit 0 on success, otherwise 1 with one line saying why (2 for usage).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Identity } from "../lib/identity/mod.ts";
import { formatEventLine, type Web4Event } from "../lib/observability/mod.ts";
import { LIBRARY_ENV_VAR, resolveLibraryPath, type RttOptions } from "../lib/rtt/mod.ts";
import { type HostCommand, type HostConfig, type HostStatus, NodeHost } from "./mesh_host.ts";

const USAGE =
  `Usage: deno task mesh-demo [--nodes N] [--in-process] [--json] [--dot FILE] [--mermaid FILE]

A mesh of N agents (4..10, default 4) on 127.0.0.1 over RTT, each in its own
process: multi-hop delivery, introductions, trust earned by verified
knowledge, consensus, a liar caught, a node killed and restarted.

Options:
  --nodes N       how many agents (4..10, default 4)
  --in-process    run every agent in this process
  --json          events as JSON Lines on stdout
  --dot FILE      write the trust graph as Graphviz DOT
  --mermaid FILE  write the trust graph as a mermaid diagram
  --help          this text`;

const NAMES = [
  "alpha",
  "beta",
  "gamma",
  "delta",
  "epsilon",
  "zeta",
  "eta",
  "theta",
  "iota",
  "kappa",
];

/** Heartbeats short enough that a killed process is noticed in about a second. */
const RTT_OPTIONS: RttOptions = {
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 1000,
  resumeWindowMs: 1500,
};

interface Handle {
  readonly name: string;
  fingerprint: string;
  port: number;
  pid: number | null;
  call(command: HostCommand): Promise<unknown>;
  status(): Promise<HostStatus>;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

type Emit = (e: Web4Event) => void;

class InProcess implements Handle {
  fingerprint = "";
  port = 0;
  pid: number | null = null;
  #host: NodeHost | undefined;
  constructor(readonly name: string, readonly config: HostConfig, readonly emit: Emit) {}
  async start() {
    this.#host = await NodeHost.start(this.config, [{ write: this.emit }]);
    this.fingerprint = this.#host.node.fingerprint;
    this.port = this.config.port = this.#host.port;
    this.pid = Deno.pid;
  }
  call(command: HostCommand) {
    return this.#host!.handle(command);
  }
  status() {
    return Promise.resolve(this.#host!.status());
  }
  async kill() {
    await this.#host?.node.stop();
  }
  async restart() {
    await this.start();
  }
  async stop() {
    await this.#host?.node.stop();
  }
}

class Child implements Handle {
  fingerprint = "";
  port = 0;
  pid: number | null = null;
  #proc: Deno.ChildProcess | undefined;
  #next = 1;
  #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #reading: Promise<void> | undefined;
  constructor(
    readonly name: string,
    readonly config: HostConfig,
    readonly emit: Emit,
    readonly permissions: string[],
  ) {}
  start(): Promise<void> {
    const script = new URL("./mesh_host.ts", import.meta.url).pathname;
    // The running Deno itself (never `deno` looked up on PATH, which may be
    // absent or another version): the task grants `--allow-run` for it.
    this.#proc = new Deno.Command(denoBinary(), {
      args: ["run", ...this.permissions, script, JSON.stringify(this.config)],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.pid = this.#proc.pid;
    this.#writer = this.#proc.stdin.getWriter();
    return new Promise((resolve, reject) => {
      this.#reading = this.#read(resolve, reject);
    });
  }
  async #read(ready: () => void, failed: (e: Error) => void) {
    const dec = new TextDecoder();
    let buffer = "";
    let started = false;
    for await (const chunk of this.#proc!.stdout) {
      buffer += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.event !== undefined) this.emit(msg.event as Web4Event);
        else if (msg.ready !== undefined) {
          const r = msg.ready as { fingerprint: string; port: number };
          this.fingerprint = r.fingerprint;
          this.port = this.config.port = r.port;
          started = true;
          ready();
        } else if (typeof msg.id === "number") {
          const w = this.#waiting.get(msg.id);
          this.#waiting.delete(msg.id);
          if (msg.ok === true) w?.resolve(msg.result);
          else w?.reject(new Error(`${this.name}: ${String(msg.error)}`));
        }
      }
    }
    const gone = new Error(`${this.name}'s process ended`);
    if (!started) failed(gone);
    for (const w of this.#waiting.values()) w.reject(gone);
    this.#waiting.clear();
  }
  async call(command: HostCommand): Promise<unknown> {
    const id = this.#next++;
    const answer = new Promise((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    await this.#writer!.write(new TextEncoder().encode(JSON.stringify({ id, command }) + "\n"));
    return await answer;
  }
  async status() {
    return await this.call({ cmd: "status" }) as HostStatus;
  }
  async kill() {
    try {
      this.#proc?.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#proc?.status;
    await this.#writer?.close().catch(() => {});
    await this.#reading;
  }
  async restart() {
    await this.start();
  }
  async stop() {
    if (this.#proc === undefined) return;
    try {
      await Promise.race([
        this.call({ cmd: "stop" }).catch(() => {}),
        new Promise((r) => setTimeout(r, 3000)),
      ]);
    } finally {
      await this.kill();
    }
  }
}

/** The demo's topology: a ring, plus a chord from the first node across it from six nodes on. */
export function topology(n: number): [number, number][] {
  const edges: [number, number][] = [];
  for (let i = 0; i < n; i++) edges.push([Math.min(i, (i + 1) % n), Math.max(i, (i + 1) % n)]);
  if (n >= 6) edges.push([0, Math.floor(n / 2)]);
  return edges;
}

/** What every honest operator's own station measured: their judges confirm what matches it. */
const READINGS: Record<string, number> = { "station7.ph": 7.2, "station7.nitrate": 12 };

const fact = (subject: string, value: number, statement: string) => ({
  statement,
  domain: "water",
  confidence: 0.9,
  sources: ["https://example.org/station7"],
  context: { subject, value },
});

/**
 * The Deno binary that runs the node processes: this process's own
 * executable when `--allow-run` covers it, else `deno` when that is granted.
 *
 * @returns The command to spawn.
 * @throws {Error} One line naming the flag when neither may be run.
 */
export function denoBinary(): string {
  const exe = Deno.execPath();
  if (Deno.permissions.querySync({ name: "run", command: exe }).state === "granted") return exe;
  try {
    if (Deno.permissions.querySync({ name: "run", command: "deno" }).state === "granted") {
      return "deno";
    }
  } catch { /* "deno" is not on PATH */ }
  throw new Error(
    `the node processes need --allow-run=${exe} (deno task mesh-demo grants it), or run --in-process`,
  );
}

/**
 * Checks, before the run, that an output file (`--dot`, `--mermaid`) may be
 * written: asks for the permission (a prompt in a terminal) and creates the
 * file, so a path outside the granted folders fails now, not after the run.
 *
 * @param flag The flag, for the error.
 * @param path The file.
 * @returns Once it may be written.
 * @throws {Error} One line saying why it cannot be written and what to do.
 */
export async function checkOutputFile(flag: string, path: string): Promise<void> {
  const status = await Deno.permissions.request({ name: "write", path });
  if (status.state !== "granted") {
    throw new Error(
      `--${flag} ${path}: no write access there (deno task mesh-demo may write only inside the ` +
        `repository); give a path inside it, or run deno run --allow-write=${path} ... ` +
        `cli/web4meshdemo.ts with the task's other flags`,
    );
  }
  try {
    await Deno.writeTextFile(path, "");
  } catch (err) {
    throw new Error(`--${flag} ${path}: ${(err as Error).message.split("\n")[0]}`);
  }
}

interface Options {
  nodes: number;
  inProcess: boolean;
  json: boolean;
  dot?: string | undefined;
  mermaid?: string | undefined;
}

/**
 * Runs the demo.
 *
 * @param o The options.
 * @param out Where lines go.
 * @returns Nothing; throws with a one-line reason on failure.
 */
export async function runMeshDemo(o: Options, out: (line: string) => void): Promise<void> {
  if (o.dot !== undefined) await checkOutputFile("dot", o.dot);
  if (o.mermaid !== undefined) await checkOutputFile("mermaid", o.mermaid);
  if (!o.inProcess) denoBinary();
  const n = o.nodes;
  const names = NAMES.slice(0, n);
  const liar = n - 1; // the newcomer that later lies
  const victim = 1; // the node killed and restarted
  // Keys and stores live under target/ (removed at the end), so the task needs no wider access.
  const dir = `${Deno.cwd()}/target/mesh-demo/run-${Deno.pid}-${Date.now()}`;
  await Deno.mkdir(dir, { recursive: true });
  const ids = await Promise.all(names.map((name) => Identity.generate({ agentId: name })));
  const fps = ids.map((i) => i.fingerprint);
  const name = (fp: string) => names[fps.indexOf(fp)] ?? fp.slice(0, 8);
  const honest = names.map((_, i) => i).filter((i) => i !== liar);
  const color = !o.json && Deno.stdout.isTerminal();
  const step = (text: string) =>
    out(o.json ? JSON.stringify({ demo: "step", text }) : `\n== ${text}`);
  const introduced = new Set<string>();
  const emit: Emit = (e) => {
    if (e.kind === "mesh.introduction") introduced.add(e.node);
    if (e.severity === "debug") return;
    out(o.json ? JSON.stringify(e) : formatEventLine(e, color));
  };
  const libDir = (() => {
    const p = resolveLibraryPath();
    return p.slice(0, p.lastIndexOf("/")) || ".";
  })();
  const permissions = [
    "--allow-net=127.0.0.1",
    `--allow-env=${LIBRARY_ENV_VAR}`,
    `--allow-ffi=${libDir}`,
    `--allow-read=${libDir},${dir}`,
    `--allow-write=${dir}`,
  ];
  const handles: Handle[] = [];
  const stopAll = async () => {
    await Promise.allSettled(handles.map((h) => h.stop()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const onSignal = () => {
    void stopAll().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    for (let i = 0; i < n; i++) {
      const keyFile = `${dir}/${names[i]}.pem`;
      await ids[i]!.save(keyFile);
      const config: HostConfig = {
        name: names[i]!,
        keyFile,
        storeFile: `${dir}/${names[i]}.db`,
        port: 0,
        anchors: i === liar
          ? fps.filter((_, j) => j !== i)
          : honest.filter((j) => j !== i).map((j) => fps[j]!),
        allowPeers: i === liar ? "any" : honest.filter((j) => j !== i).map((j) => fps[j]!),
        rtt: RTT_OPTIONS,
        // The newcomer behaves until it lies: it, too, checks what it confirms.
        readings: READINGS,
      };
      const h = o.inProcess
        ? new InProcess(names[i]!, config, emit)
        : new Child(names[i]!, config, emit, permissions);
      handles.push(h);
      await (h as InProcess | Child).start();
    }
    const H = (i: number) => handles[i]!;
    const edges = topology(n);
    const statuses = () => Promise.all(handles.map((h) => h.status()));
    const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) => {
      const until = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    /** Every node in `up` sees the links among them (a blacklisted node's own adverts are ignored). */
    const converged = (up: number[]) =>
      waitFor("every node sees the whole topology", async () => {
        const want = edges.filter(([x, y]) => up.includes(x) && up.includes(y)).length;
        const s = await Promise.all(up.map((i) => H(i).status()));
        const among = (l: string[]) => l.every((fp) => up.includes(fps.indexOf(fp)));
        return s.every((x) => x.links.filter(among).length === want);
      });
    const link = (x: number, y: number) =>
      H(x).call({
        cmd: "connect",
        hostname: "127.0.0.1",
        port: H(y).port,
        fingerprint: fps[y]!,
        name: names[y]!,
      });

    step(
      `${n} agents ${o.inProcess ? "in this process" : "in their own processes"}; links: ${
        edges.map(([x, y]) => `${names[x]}-${names[y]}`).join(" ")
      }`,
    );
    for (const [x, y] of edges) await link(x, y);
    await converged(names.map((_, i) => i));

    step(`${names[0]} introduces the newcomer ${names[liar]} (signed); the allow-lists admit it`);
    await H(0).call({ cmd: "introduce", fingerprint: fps[liar]!, name: names[liar]! });
    await waitFor(
      "the introduction reached every node",
      () => Promise.resolve(honest.every((i) => i === 0 || introduced.has(names[i]!))),
    );

    step("every pair that is not linked meets through the mesh (relayed handshakes)");
    const adjacent = new Set(edges.map(([x, y]) => `${x}|${y}`));
    const meets: Promise<unknown>[] = [];
    for (let x = 0; x < n; x++) {
      for (let y = x + 1; y < n; y++) {
        if (adjacent.has(`${x}|${y}`)) continue;
        // The newcomer knocks itself: only the introduction lets it in.
        const [from, to] = y === liar ? [y, x] : [x, y];
        meets.push(H(from).call({ cmd: "meet", fingerprint: fps[to]!, name: names[to]! }));
      }
    }
    await Promise.all(meets);

    const far = 2;
    step(`multi-hop: ${names[0]} -> ${names[far]} (not linked)`);
    await H(0).call({ cmd: "intent", to: fps[far]!, topic: "aral nitrate levels" });
    await waitFor(
      `${names[far]} received the intent`,
      async () => (await H(far).status()).received.includes("aral nitrate levels"),
    );

    step(
      `${names[liar]} earns trust: its own fact, checked by the others against their own readings`,
    );
    const f0 = await H(liar).call({
      cmd: "propose",
      fact: fact("station7.ph", 7.2, "pH at station 7 is 7.2"),
    }) as Record<string, string>;
    await waitFor(`${names[liar]} is trusted by every honest node`, async () => {
      const s = await Promise.all(honest.map((i) => H(i).status()));
      return s.every((x) => x.peers.find((p) => p.fingerprint === fps[liar])?.trust === "trusted");
    });

    step(`consensus: ${names[0]} proposes a fact, one signed copy per node`);
    const f1 = await H(0).call({
      cmd: "propose",
      fact: fact("station7.nitrate", 12, "Nitrate at station 7 is 12 mg/l"),
    }) as Record<string, string>;
    await waitFor("every other node accepted it", async () => {
      const s = await statuses();
      return s.every((x, i) => i === 0 || x.claims[f1[fps[i]!]!] === "accepted");
    });

    step(`${names[liar]} lies: it contradicts the accepted fact, twice`);
    await H(liar).call({
      cmd: "propose",
      fact: fact("station7.nitrate", 50, "Nitrate at station 7 is 50 mg/l"),
    });
    await H(liar).call({
      cmd: "propose",
      fact: fact("station7.nitrate", 51, "Nitrate at station 7 is 51 mg/l"),
    });
    await waitFor(`${names[liar]} is blacklisted by every honest node`, async () => {
      const s = await Promise.all(honest.map((i) => H(i).status()));
      return s.every((x) =>
        x.peers.find((p) => p.fingerprint === fps[liar])?.trust === "blacklisted"
      );
    });
    step(`${names[liar]}'s later messages are no longer relayed`);
    await H(liar).call({ cmd: "intent", to: fps[victim]!, topic: "trust me" });

    step(`${names[victim]}'s process is killed`);
    await H(victim).kill();
    const others = honest.filter((i) => i !== victim);
    await waitFor(
      `the others route around ${names[victim]}`,
      async () => {
        const s = await Promise.all(others.map((i) => H(i).status()));
        return s.every((x) => !x.links.some((l) => l.includes(fps[victim]!)));
      },
    );
    await H(0).call({ cmd: "intent", to: fps[victim]!, topic: "while you were down" });
    await H(0).call({ cmd: "intent", to: fps[far]!, topic: "during the partition" });
    const held = (await H(0).status()).held;
    out(
      o.json
        ? JSON.stringify({ demo: "held", node: names[0], held })
        : `   ${names[0]} holds ${held}`,
    );

    step(`${names[victim]} restarts (same key, store and port) and rejoins`);
    await H(victim).restart();
    for (const [x, y] of edges) {
      if (x === victim || y === victim) await link(victim, x === victim ? y : x);
    }
    await converged(honest);
    await waitFor(
      "what was held is delivered",
      async () =>
        (await H(victim).status()).received.includes("while you were down") &&
        (await H(far).status()).received.includes("during the partition") &&
        (await H(0).status()).held === 0,
    );
    if (f0 === undefined) throw new Error("no fact copies");

    const final = await statuses();
    Deno.removeSignalListener("SIGINT", onSignal);
    await stopAll();
    printTable(final, names, fps, edges, name, o.json, out);
    if (o.dot !== undefined) await Deno.writeTextFile(o.dot, toDot(final, name, edges, fps));
    if (o.mermaid !== undefined) {
      await Deno.writeTextFile(o.mermaid, toMermaid(final, name, edges, fps));
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    await stopAll();
  }
}

function printTable(
  s: HostStatus[],
  names: string[],
  fps: string[],
  edges: [number, number][],
  name: (fp: string) => string,
  json: boolean,
  out: (line: string) => void,
) {
  if (json) {
    out(JSON.stringify({
      demo: "summary",
      nodes: s.map((x) => ({ name: x.name, fingerprint: x.fingerprint, port: x.port })),
      links: edges.map(([x, y]) => [names[x], names[y]]),
      trust: Object.fromEntries(
        s.map((
          x,
        ) => [x.name, Object.fromEntries(x.peers.map((p) => [name(p.fingerprint), p.trust]))]),
      ),
    }));
    return;
  }
  out("\nnodes");
  for (const x of s) out(`  ${x.name.padEnd(8)} ${x.fingerprint.slice(0, 16)}  port ${x.port}`);
  out("links");
  out("  " + edges.map(([x, y]) => `${names[x]}-${names[y]}`).join("  "));
  out("trust (row trusts column)");
  out("  " + "".padEnd(9) + names.map((m) => m.slice(0, 11).padEnd(12)).join(""));
  for (const x of s) {
    const row = names.map((m, j) =>
      m === x.name ? "-".padEnd(12) : (x.peers.find((p) => p.fingerprint === fps[j])?.trust ?? "?")
        .padEnd(12)
    );
    out(`  ${x.name.padEnd(9)}${row.join("")}`);
  }
}

const _COLOR: Record<string, string> = {
  trusted: "darkgreen",
  probing: "orange",
  untrusted: "gray",
  blacklisted: "red",
};

/**
 * The trust graph as Graphviz DOT: links as thick undirected lines, trust as arrows.
 *
 * @returns The DOT text.
 */
function toDot(
  s: HostStatus[],
  name: (fp: string) => string,
  edges: [number, number][],
  fps: string[],
): string {
  const lines = ["digraph mesh {", "  node [shape=circle];"];
  for (const [x, y] of edges) {
    lines.push(
      `  "${name(fps[x]!)}" -> "${name(fps[y]!)}" [dir=none, penwidth=3, color=lightblue];`,
    );
  }
  for (const x of s) {
    for (const p of x.peers) {
      lines.push(
        `  "${x.name}" -> "${name(p.fingerprint)}" [label="${p.trust}", color=${
          _COLOR[p.trust] ?? "black"
        }];`,
      );
    }
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}

/**
 * The trust graph as a mermaid diagram, one line per pair of nodes (sorted by
 * name): `===` for a direct link, `-.-` for a pair that meets through the
 * mesh, labelled with the trust of each side in the pair (one word when both
 * agree, else `left / right`: how the left node sees the right, then the
 * reverse).
 *
 * @param s Every node's status.
 * @param name A fingerprint's node name.
 * @param edges The direct links, as index pairs into `fps`.
 * @param fps The nodes' fingerprints.
 * @returns The mermaid text.
 *
 * @example Two linked nodes that trust each other, a third seen through the mesh
 * ```ts
 * import { toMermaid } from "./web4meshdemo.ts";
 * import assert from "node:assert/strict";
 *
 * const peer = (fingerprint: string, trust: string) => ({ fingerprint, agentId: fingerprint, link: "", trust });
 * const node = (name: string, peers: ReturnType<typeof peer>[]) =>
 *   ({ name, fingerprint: name, port: 0, peers, links: [], claims: {}, held: 0, errors: [], received: [] });
 * const text = toMermaid(
 *   [node("a", [peer("b", "trusted"), peer("c", "probing")]), node("b", [peer("a", "trusted")]), node("c", [peer("a", "trusted")])],
 *   (fp) => fp,
 *   [[0, 1], [1, 0]],
 *   ["a", "b", "c"],
 * );
 * assert.equal(text, 'graph LR\n  %% === linked, -.- through the mesh; label: trust (left sees right / right sees left)\n  a ===|trusted| b\n  a -.-|"probing / trusted"| c\n');
 * ```
 */
export function toMermaid(
  s: HostStatus[],
  name: (fp: string) => string,
  edges: [number, number][],
  fps: string[],
): string {
  const key = (x: string, y: string) => (x < y ? `${x}\u0000${y}` : `${y}\u0000${x}`);
  const linked = new Set(edges.map(([x, y]) => key(name(fps[x]!), name(fps[y]!))));
  const trust = new Map<string, string>(); // "from\u0000to" -> trust
  const pairs = new Set(linked);
  for (const x of s) {
    for (const p of x.peers) {
      const other = name(p.fingerprint);
      if (other === x.name) continue;
      trust.set(`${x.name}\u0000${other}`, p.trust);
      pairs.add(key(x.name, other));
    }
  }
  const lines = [
    "graph LR",
    "  %% === linked, -.- through the mesh; label: trust (left sees right / right sees left)",
  ];
  for (const pair of [...pairs].sort()) {
    const [a, b] = pair.split("\u0000") as [string, string];
    const ab = trust.get(`${a}\u0000${b}`) ?? "?";
    const ba = trust.get(`${b}\u0000${a}`) ?? "?";
    const label = ab === ba ? ab : `"${ab} / ${ba}"`;
    lines.push(`  ${a} ${linked.has(pair) ? "===" : "-.-"}|${label}| ${b}`);
  }
  return lines.join("\n") + "\n";
}

if (import.meta.main) {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      options: {
        nodes: { type: "string", default: "4" },
        "in-process": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        dot: { type: "string" },
        mermaid: { type: "string" },
        help: { type: "boolean", default: false },
      },
    });
  } catch (err) {
    console.error(`web4meshdemo: ${(err as Error).message}`);
    Deno.exit(2);
  }
  if (parsed.values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const nodes = Number(parsed.values.nodes);
  if (!Number.isInteger(nodes) || nodes < 4 || nodes > 10) {
    console.error(
      `web4meshdemo: --nodes must be an integer from 4 to 10, got ${parsed.values.nodes}`,
    );
    Deno.exit(2);
  }
  const enc = new TextEncoder();
  try {
    await runMeshDemo({
      nodes,
      inProcess: parsed.values["in-process"],
      json: parsed.values.json,
      dot: parsed.values.dot,
      mermaid: parsed.values.mermaid,
    }, (line) => Deno.stdout.writeSync(enc.encode(line + "\n")));
    Deno.exit(0);
  } catch (err) {
    console.error(`web4meshdemo: ${err instanceof Error ? err.message : String(err)}`);
    Deno.exit(1);
  }
}
