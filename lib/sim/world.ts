/**
 * The simulated world: N mesh nodes over one {@linkcode MemoryNetwork} on
 * the simulation clock, each with its own clock view (skew), its own seeded
 * random stream, and a relay wrapper that claims the workload's application
 * frames before the mesh sees them. Nodes crash (no flush: timers end,
 * connections drop, nothing is stopped) and restart with the same key
 * against the same database.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { FixedLoadSource } from "../agent/mod.ts";
import type { AgentEvents } from "../agent/mod.ts";
import { Identity } from "../identity/mod.ts";
import { checkingJudge, MeshNode } from "../mesh/mod.ts";
import { seededRandom } from "../ports/mod.ts";
import { memory, MemoryNetwork } from "../rtt/mod.ts";
import { NodeClock, type SimClock } from "./clock.ts";
import { decodeAppFrame } from "./streams.ts";
import { SIM_SOURCE_TIERS, simFetcher, simJudge } from "./lip.ts";
import { AuditLog } from "../observability/mod.ts";

/** What the world tells the simulation.
 * @internal
 */
export interface WorldHooks {
  /** An application frame reached node `to` on `session`. */
  app(to: number, from: number, ch: number, seq: number, session: string): void;
  /** A typed event of node `i`'s agent. */
  event<K extends keyof AgentEvents>(i: number, name: K, e: AgentEvents[K]): void;
}

/** One simulated node and its generation (restarts).
 * @internal
 */
export interface SimNode {
  /** Index. */
  index: number;
  /** Name (`n0`...). */
  name: string;
  /** Its key (kept across restarts). */
  identity: Identity;
  /** The running mesh node, `undefined` while crashed. */
  node: MeshNode | undefined;
  /** Its clock view (a new one per generation, same offset). */
  clock: NodeClock;
  /** Restarts so far. */
  generation: number;
  /** Whether it lies (proposes false readings). */
  liar: boolean;
  /** The running generation's audit stream. */
  audit?: AuditLog | undefined;
  /** While crashed: a bare connection that keeps its database file as the crash left it. */
  holder?: DatabaseSync | undefined;
}

/** Options of {@linkcode World.create}.
 * @internal
 */
export interface WorldOptions {
  /** The seed. */
  seed: number;
  /** Node count (2 to 32). */
  nodes: number;
  /** The simulation clock. */
  clock: SimClock;
  /** Wall-clock offset per node, ms. */
  offsets: readonly number[];
  /** Direct links by index. */
  edges: readonly (readonly [number, number])[];
  /** Index of the liar, or -1. */
  liar: number;
  /** The readings honest judges check against (subject -> value). */
  readings: ReadonlyMap<string, number>;
  /** Store path per node (a temp file when crashes restart from it), or `:memory:`. */
  store: (i: number) => string;
  /** Hooks. */
  hooks: WorldHooks;
  /** The enrolled person of node 0 (a fingerprint), if any. */
  person?: string | undefined;
  /** The source tiers honest operators set. @default {SIM_SOURCE_TIERS} */
  lipTiers?: Readonly<Record<string, "low" | "medium" | "high" | "blocked">> | undefined;
  /** Test-only: drop the first application frame after each resumed session (an injected bug). */
  bugDropAfterResume?: boolean | undefined;
}

const _EVENTS = [
  "peerUp",
  "peerDown",
  "trustChanged",
  "claimChanged",
  "afterCycle",
  "intentPropagated",
  "error",
] as const;

/**
 * The nodes and the network.
 *
 * @example
 * ```ts ignore
 * const world = await World.create(options); // nodes made and listening, not linked
 * world.crash(2);
 * await world.restart(2);
 * ```
 *
 * @internal
 */
export class World {
  /** The network. */
  readonly network: MemoryNetwork;
  /** The nodes. */
  readonly nodes: SimNode[];
  /** The true readings (subject -> value) honest judges check against. */
  readonly readings: ReadonlyMap<string, number>;
  /** Crashes so far. */
  crashes = 0;
  /** Crashed generations whose native node is not freed yet (`n2 generation 3`). */
  readonly #unreleased = new Set<{ name: string; at: number }>();
  readonly #o: WorldOptions;
  /** The open session of each (node, peer) pair as the node's events tell it: `i>j` -> id. */
  readonly #sessions = new Map<string, string>();
  /** Sessions resumed and not yet past their first app frame (bug injection), per node. */
  readonly #resumed: Set<string>[];

  private constructor(o: WorldOptions, network: MemoryNetwork, nodes: SimNode[]) {
    this.#o = o;
    this.readings = o.readings;
    this.network = network;
    this.nodes = nodes;
    this.#resumed = nodes.map(() => new Set());
  }

  /**
   * Makes every node (listening on its name), not linked.
   *
   * @param o The options.
   * @returns The world.
   */
  static async create(o: WorldOptions): Promise<World> {
    const network = new MemoryNetwork({ clock: o.clock });
    const nodes: SimNode[] = [];
    for (let i = 0; i < o.nodes; i++) {
      const identity = await Identity.generate({
        agentId: `n${i}`,
        random: seededRandom(o.seed * 1000 + i * 17 + 1),
      });
      nodes.push({
        index: i,
        name: `n${i}`,
        identity,
        node: undefined,
        clock: new NodeClock(o.clock, o.offsets[i] ?? 0),
        generation: 0,
        liar: i === o.liar,
      });
    }
    const world = new World(o, network, nodes);
    for (const n of nodes) await world.#start(n);
    return world;
  }

  /**
   * The crashed generations still holding their native node more than
   * `graceMs` after their crash (a resource invariant: a crash frees what the
   * process held).
   *
   * @param graceMs Virtual ms a shutdown may take. @default {0}
   * @returns Their names (`n2 generation 3`).
   */
  unreleased(graceMs = 0): string[] {
    const now = this.#o.clock.monotonic();
    return [...this.#unreleased].filter((r) => now - r.at >= graceMs).map((r) => r.name);
  }

  /** Fingerprint of node `i`. */
  fp(i: number): string {
    return this.nodes[i]!.identity.fingerprint;
  }

  /** Index of a fingerprint, or -1. */
  indexOf(fp: string): number {
    return this.nodes.findIndex((n) => n.identity.fingerprint === fp);
  }

  /**
   * The session node `i` holds with node `j` (cheaper than asking the agent,
   * which reads its store).
   *
   * @param i The node.
   * @param j The peer.
   * @returns The session id, or `undefined`.
   */
  session(i: number, j: number): string | undefined {
    return this.#sessions.get(`${i}>${j}`);
  }

  /** Whether `i` and `j` are direct neighbours. */
  linked(i: number, j: number): boolean {
    return this.#o.edges.some(([x, y]) => (x === i && y === j) || (x === j && y === i));
  }

  async #start(n: SimNode): Promise<void> {
    const o = this.#o;
    const honest = this.nodes.filter((m) => !m.liar && m !== n).map((m) => m.identity.fingerprint);
    const everyone = this.nodes.filter((m) => m !== n).map((m) => m.identity.fingerprint);
    // The audit stream (in memory: a file's writes would complete on their own).
    const audit = AuditLog.memory();
    const node = await MeshNode.create({
      identity: n.identity,
      mission: "verify shared facts about water quality",
      store: o.store(n.index),
      transport: memory({ network: this.network }),
      // The liar trusts everyone; honest nodes anchor the honest ones only.
      trustAnchors: n.liar ? everyone : honest,
      person: n.index === 0 ? o.person : undefined,
      load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
      loadIntervalMs: 0,
      clock: n.clock,
      random: seededRandom(o.seed * 1000 + n.index * 17 + 2 + n.generation * 5),
      judge: checkingJudge({ reference: (_d, subject) => o.readings.get(subject) }),
      fetcher: simFetcher(n.clock, o.readings, n.liar),
      lipJudge: simJudge(o.readings, n.liar),
      lip: n.liar ? undefined : { sourceTiers: o.lipTiers ?? SIM_SOURCE_TIERS },
      sinks: [audit],
    });
    n.node = node;
    n.audit = audit;
    const agent = node.agent;
    const inner = agent.relay;
    const resumed = this.#resumed[n.index]!;
    agent.setRelay({
      frame: (bytes, from) => {
        const app = decodeAppFrame(bytes);
        if (app === undefined) return inner?.frame(bytes, from) ?? false;
        if (n.node !== node) return true; // a dead generation delivers nothing
        if (o.bugDropAfterResume === true && resumed.delete(from.session)) return true;
        o.hooks.app(n.index, app.from, app.ch, app.seq, from.session);
        return true;
      },
      reachable: (fp) => inner?.reachable(fp) ?? false,
      send: (fp, out) => inner?.send(fp, out) ?? Promise.resolve(false),
    });
    agent.on("peerUp", (e) => {
      if (n.node !== node) return;
      if (e.via === "resumed") resumed.add(e.session);
      const j = this.indexOf(e.peer);
      if (j >= 0 && this.nodes[n.index]!.node === node) {
        this.#sessions.set(`${n.index}>${j}`, e.session);
      }
    });
    agent.on("peerDown", (e) => {
      const j = this.indexOf(e.peer);
      const key = `${n.index}>${j}`;
      if (e.final && this.#sessions.get(key) === e.session) this.#sessions.delete(key);
    });
    for (const name of _EVENTS) {
      agent.on(name, (e: AgentEvents[typeof name]) => {
        if (n.node === node) o.hooks.event(n.index, name, e); // the dead say nothing
      });
    }
    await node.listen({ hostname: n.name, port: 1 });
  }

  /**
   * Node `i` crashes: its connections end abruptly, its listener goes, its
   * timers end, its native node is freed (with nobody left to send to), its
   * store is closed without a checkpoint (the file keeps what was
   * committed), and the world forgets it. Nothing is flushed.
   *
   * @param i The node.
   */
  crash(i: number): void {
    const n = this.nodes[i]!;
    const node = n.node;
    if (node === undefined) return;
    // The process dies: its connections end abruptly (nothing more is delivered either way).
    this.network.crash(node.agent.transport);
    this.crashes++;
    // Then its timers end, and its native node is freed. The connections are gone already, so
    // the core's shutdown has nobody to send to: no close frame leaves. Only the shutdown's own
    // timers (the core's next deadline, a few virtual ms) may still run; then nothing does.
    const clock = n.clock;
    clock.cancelAll();
    const release = { name: `n${i} generation ${n.generation}`, at: this.#o.clock.monotonic() };
    this.#unreleased.add(release);
    void node.agent.transport.shutdown({ deadlineMs: 0 }).catch(() => {}).then(() => {
      clock.kill();
      this.#unreleased.delete(release);
    });
    // Its database keeps exactly what was committed. Closing the last connection to a WAL
    // database checkpoints it and removes the WAL, which a crash would not do: a bare holder
    // connection is opened first, so the dead node's close is not the last one (SQLite rolls
    // back a transaction left open, as recovery would, and writes nothing else); the holder is
    // closed once the restarted node has its own connection. Whatever the dead node's code
    // still tries after this point finds its store closed: nothing reaches the file.
    const path = this.#o.store(i);
    if (path !== ":memory:") n.holder = new DatabaseSync(path);
    node.agent.store.close();
    for (const key of [...this.#sessions.keys()]) {
      const [a, b] = key.split(">").map(Number);
      if (a === i || b === i) this.#sessions.delete(key);
    }
    n.node = undefined;
    n.audit = undefined; // an in-memory stream dies with the process
    this.#resumed[i]!.clear();
  }

  /**
   * Restarts a crashed node: same key, same database, a fresh clock view
   * (same offset) and random stream.
   *
   * @param i The node.
   */
  async restart(i: number): Promise<void> {
    const n = this.nodes[i]!;
    if (n.node !== undefined) return;
    n.clock.kill();
    n.generation++;
    n.clock = new NodeClock(this.#o.clock, n.clock.offset);
    await this.#start(n);
    n.holder?.close();
    n.holder = undefined;
  }

  /**
   * Node `i` dials node `j` (both running); errors are the caller's.
   *
   * @param i The dialer.
   * @param j The listener.
   */
  async dial(i: number, j: number): Promise<void> {
    const a = this.nodes[i]!, b = this.nodes[j]!;
    if (a.node === undefined || b.node === undefined) return;
    await a.node.connect({
      hostname: b.name,
      port: 1,
      fingerprint: b.identity.fingerprint,
      agentId: b.name,
    });
  }

  /** Stops every running node (the end of a run). */
  async stop(): Promise<void> {
    await Promise.allSettled(this.nodes.map((n) => n.node?.stop()));
    for (const n of this.nodes) {
      n.holder?.close();
      n.holder = undefined;
    }
  }
}
