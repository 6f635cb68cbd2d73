/**
 * `MeshCluster`: several mesh nodes in this process, wired by a topology.
 * Tests, the demo's `--in-process` mode and the benchmark build meshes with
 * it; the multi-process demo runs one `MeshNode` per process instead.
 *
 * @module
 */
import { FixedLoadSource } from "../agent/mod.ts";
import { Identity } from "../identity/mod.ts";
import type { EventSink } from "../observability/mod.ts";
import { memory, MemoryNetwork } from "../rtt/mod.ts";
import type { TransportFactory } from "../transport/mod.ts";
import { MeshError } from "./errors.ts";
import { MeshNode } from "./node.ts";
import type { MeshOptions } from "./types.ts";

/** Options of {@linkcode MeshCluster.create}. */
export interface ClusterOptions {
  /** Node names (agent ids), in order. */
  names: readonly string[];
  /** Direct links, by name; every other pair is reached through the mesh. */
  edges: readonly (readonly [string, string])[];
  /**
   * The transport factory every node is made with (each node owns its
   * transport). Nodes of a `memory` backend listen on their names, others
   * on 127.0.0.1. @default {memory({ network: new MemoryNetwork() })}
   */
  transport?: TransportFactory | undefined;
  /**
   * Which peers each owner declares as trust anchors: every other node's
   * (`"all"`), the direct neighbours', or a function of the name. @default {"all"}
   */
  anchors?: "all" | "neighbours" | ((name: string) => readonly string[]) | undefined;
  /** Allow-lists: `"any"`, or each node's direct neighbours only. @default {"any"} */
  allowPeers?: "any" | "neighbours" | undefined;
  /** Event sinks for every node. */
  sinks?: readonly EventSink[] | undefined;
  /** Store path per node (`":memory:"` by default). */
  store?: ((name: string) => string) | undefined;
  /** More mesh options for every node (or per node). */
  mesh?: Partial<MeshOptions> | ((name: string) => Partial<MeshOptions>) | undefined;
  /** Identities to use, by name (default: generated). */
  identities?: ReadonlyMap<string, Identity> | undefined;
}

/**
 * Nodes in one process, linked by a topology.
 *
 * @example A line of three on the memory backend
 * ```ts ignore
 * import { memory, MemoryNetwork } from "@web4/runtime";
 * await using mesh = await MeshCluster.create({
 *   names: ["a", "b", "c"], edges: [["a", "b"], ["b", "c"]],
 *   transport: memory({ network: new MemoryNetwork() }),
 * });
 * await mesh.linkAll();
 * await mesh.meetAll();
 * ```
 */
export class MeshCluster implements AsyncDisposable {
  /** The nodes by name. */
  readonly nodes: ReadonlyMap<string, MeshNode>;
  /** The topology's links. */
  readonly edges: readonly (readonly [string, string])[];
  readonly #ports: Map<string, { hostname: string; port: number }>;

  private constructor(
    nodes: Map<string, MeshNode>,
    ports: Map<string, { hostname: string; port: number }>,
    edges: readonly (readonly [string, string])[],
  ) {
    this.nodes = nodes;
    this.#ports = ports;
    this.edges = edges;
  }

  /**
   * Creates and starts every node (listening), not yet linked.
   *
   * @param options Names, edges, transport, anchors, allow-lists.
   * @returns The cluster.
   * @throws {RangeError} For an edge naming an unknown node.
   */
  static async create(options: ClusterOptions): Promise<MeshCluster> {
    const names = [...options.names];
    for (const [x, y] of options.edges) {
      if (!names.includes(x) || !names.includes(y)) {
        throw new RangeError(`Mesh edge ${x}-${y} names a node that is not in ${names.join(",")}`);
      }
    }
    const ids = new Map<string, Identity>();
    for (const n of names) {
      ids.set(n, options.identities?.get(n) ?? await Identity.generate({ agentId: n }));
    }
    const neighbours = (n: string) =>
      options.edges.flatMap(([x, y]) => x === n ? [y] : y === n ? [x] : []);
    const anchorsOf = (n: string): string[] => {
      const a = options.anchors ?? "all";
      const list = a === "all"
        ? names.filter((m) => m !== n)
        : a === "neighbours"
        ? neighbours(n)
        : [...a(n)];
      return list.map((m) => ids.get(m)!.fingerprint);
    };
    const transport = options.transport ?? memory({ network: new MemoryNetwork() });
    const nodes = new Map<string, MeshNode>();
    const ports = new Map<string, { hostname: string; port: number }>();
    try {
      for (const n of names) {
        const extra = typeof options.mesh === "function" ? options.mesh(n) : options.mesh ?? {};
        const node = await MeshNode.create({
          identity: ids.get(n)!,
          mission: "verify shared facts about water quality",
          store: options.store?.(n) ?? ":memory:",
          transport,
          trustAnchors: anchorsOf(n),
          load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
          loadIntervalMs: 0,
          sinks: options.sinks,
          allowPeers: options.allowPeers === "neighbours"
            ? neighbours(n).map((m) => ids.get(m)!.fingerprint)
            : "any",
          ...extra,
        });
        nodes.set(n, node);
        const hostname = node.agent.transport.backend === "memory" ? n : "127.0.0.1";
        const bound = await node.listen({ hostname, port: 0 });
        ports.set(n, { hostname, port: bound.port });
      }
    } catch (err) {
      await Promise.allSettled([...nodes.values()].map((x) => x.stop()));
      throw err;
    }
    return new MeshCluster(nodes, ports, options.edges);
  }

  /**
   * A node by name.
   *
   * @param name Its name.
   * @returns The node.
   * @throws {RangeError} For an unknown name.
   */
  get(name: string): MeshNode {
    const n = this.nodes.get(name);
    if (n === undefined) throw new RangeError(`No mesh node named ${name}`);
    return n;
  }

  /**
   * A node's fingerprint.
   *
   * @param name Its name.
   * @returns The fingerprint.
   */
  fp(name: string): string {
    return this.get(name).fingerprint;
  }

  /**
   * A node's name, from its fingerprint.
   *
   * @param fp The fingerprint.
   * @returns The name, or the first 8 hex digits.
   */
  nameOf(fp: string): string {
    for (const [n, node] of this.nodes) if (node.fingerprint === fp) return n;
    return fp.slice(0, 8);
  }

  /**
   * Where a node listens.
   *
   * @param name Its name.
   * @returns Host and port.
   */
  address(name: string): { hostname: string; port: number } {
    return this.#ports.get(name)!;
  }

  /**
   * Connects one edge (the first name dials).
   *
   * @param x One end.
   * @param y The other.
   */
  async link(x: string, y: string): Promise<void> {
    await this.get(x).connect({ ...this.address(y), fingerprint: this.fp(y), agentId: y });
  }

  /** Connects every edge, then waits until every node sees the whole topology. */
  async linkAll(): Promise<void> {
    for (const [x, y] of this.edges) await this.link(x, y);
    await this.converged();
  }

  /**
   * Waits until every running node's link table holds exactly the links of
   * the running topology (so every node routes over the same graph).
   *
   * @param timeoutMs How long.
   * @param down Nodes that are down (their links are left out).
   */
  async converged(timeoutMs = 10_000, down: readonly string[] = []): Promise<void> {
    const want = this.edges
      .filter(([x, y]) => !down.includes(x) && !down.includes(y))
      .map(([x, y]) => [this.fp(x), this.fp(y)].sort().join("|"))
      .sort().join(",");
    const up = [...this.nodes].filter(([n]) => !down.includes(n)).map(([, node]) => node);
    const have = (n: MeshNode) => n.links().map((l) => l.join("|")).sort().join(",");
    try {
      await Promise.all(up.map((n) => n.until(() => have(n) === want, timeoutMs)));
    } catch (err) {
      const short = (t: string) =>
        t.split(",").map((l) => l.split("|").map((fp) => this.nameOf(fp)).join("-")).join(" ");
      throw new MeshError(
        "TIMEOUT",
        `Mesh did not converge on ${short(want)}: ${
          up.map((n) => `${this.nameOf(n.fingerprint)} sees ${short(have(n))}`).join("; ")
        }`,
        { cause: err },
      );
    }
  }

  /** Every pair not directly linked runs the CIP handshake through the mesh (the lower name starts). */
  async meetAll(): Promise<void> {
    const names = [...this.nodes.keys()];
    const direct = new Set(this.edges.map(([x, y]) => [x, y].sort().join("|")));
    const jobs: Promise<void>[] = [];
    for (const x of names) {
      for (const y of names) {
        if (x < y && !direct.has([x, y].join("|"))) {
          const [nx, ny] = [this.get(x), this.get(y)];
          jobs.push(
            nx.meet(ny.fingerprint, y).then(() =>
              ny.until(() => ny.agent.store.handshake(nx.fingerprint)?.stage === "verified")
            ),
          );
        }
      }
    }
    await Promise.all(jobs);
  }

  /** Stops every node. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.nodes.values()].map((n) => n.stop()));
  }

  /** Stops every node. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
