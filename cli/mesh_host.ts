/**
 * One mesh node behind a small command interface, so the mesh demo drives
 * nodes the same way whether they run in its own process (`--in-process`)
 * or each in an OS process of its own (`deno run cli/mesh_host.ts CONFIG`,
 * commands as JSON Lines on stdin, answers and events as JSON Lines on
 * stdout).
 *
 * @module
 */
import { FixedLoadSource } from "../lib/agent/mod.ts";
import { Identity } from "../lib/identity/mod.ts";
import { checkingJudge, type Judge, type MeshLimits, MeshNode } from "../lib/mesh/mod.ts";
import type { EventSink, Web4Event } from "../lib/observability/mod.ts";
import { rtt, type RttOptions } from "../lib/rtt/mod.ts";
import type { TransportFactory } from "../lib/transport/mod.ts";

/** How a node is started. */
export interface HostConfig {
  /** Its name (agent id). */
  name: string;
  /** Its PKCS#8 key file. */
  keyFile: string;
  /** Its SQLite store file (`":memory:"` for none). */
  storeFile: string;
  /** Where it listens (0: any free port). */
  port: number;
  /** Its owner's trust anchors. */
  anchors: string[];
  /** Its allow-list. */
  allowPeers: "any" | string[];
  /** Options of the node's `rtt` transport (heartbeats, resume window); JSON, as the config crosses to a child process. */
  rtt?: RttOptions;
  /** Whether this node lies about facts (the demo's dishonest node): it never confirms, it proposes what it is told. */
  liar?: boolean;
  /**
   * The operator's own readings (subject -> value, e.g. `{"station7.ph": 7.2}`): the node's
   * judge confirms a fact that matches them or its accepted knowledge, challenges one that
   * contradicts them, and abstains otherwise. Without readings it checks accepted knowledge only.
   */
  readings?: Record<string, unknown>;
  /** Bounds of the node's mesh state (`MeshLimits`; defaults otherwise). */
  limits?: Partial<MeshLimits>;
}

/**
 * The judge a host's node votes with: the liar never confirms; an honest
 * node checks facts against its accepted knowledge and its operator's readings.
 *
 * @param config The host's configuration.
 * @returns The judge.
 */
export function hostJudge(config: Pick<HostConfig, "liar" | "readings">): Judge {
  if (config.liar === true) return () => "abstain";
  const readings = config.readings ?? {};
  return checkingJudge({
    reference: (_domain, subject) =>
      Object.hasOwn(readings, subject) ? readings[subject] : undefined,
  });
}

/** A command to a node. */
export type HostCommand =
  | { cmd: "connect"; hostname: string; port: number; fingerprint: string; name: string }
  | { cmd: "meet"; fingerprint: string; name: string }
  | { cmd: "introduce"; fingerprint: string; name: string }
  | { cmd: "propose"; fact: Record<string, unknown> }
  | { cmd: "intent"; to: string; topic: string }
  | { cmd: "status" }
  | { cmd: "stop" };

/** What `status` answers. */
export interface HostStatus {
  name: string;
  fingerprint: string;
  port: number;
  peers: {
    fingerprint: string;
    agentId: string;
    link: string;
    trust: string;
    route?: string[] | undefined;
  }[];
  links: [string, string][];
  claims: Record<string, string>;
  held: number;
  errors: { code: string; inReplyTo: string }[];
  received: string[];
}

/** A running node and the commands it answers. */
export class NodeHost {
  /** The node. */
  readonly node: MeshNode;
  /** Its port. */
  readonly port: number;
  readonly #received: string[] = [];

  private constructor(node: MeshNode, port: number) {
    this.node = node;
    this.port = port;
    node.agent.on("intent", (i) => {
      if (i.source === "peer") this.#received.push(i.topic);
    });
  }

  /**
   * Starts a node from its configuration.
   *
   * @param config Key, store, port, anchors, allow-list, rtt options.
   * @param sinks Where its events go.
   * @param transport The node's transport factory (the node owns what it makes). @default {rtt(config.rtt)}
   * @returns The host.
   */
  static async start(
    config: HostConfig,
    sinks: readonly EventSink[],
    transport: TransportFactory = rtt(config.rtt),
  ): Promise<NodeHost> {
    const identity = await Identity.load(config.keyFile, { agentId: config.name });
    const node = await MeshNode.create({
      identity,
      mission: "verify shared facts about water quality",
      store: config.storeFile,
      transport,
      trustAnchors: config.anchors,
      allowPeers: config.allowPeers,
      load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
      loadIntervalMs: 0,
      sinks,
      judge: hostJudge(config),
      ...(config.limits === undefined ? {} : { limits: config.limits }),
    });
    const hostname = node.agent.transport.backend === "memory" ? config.name : "127.0.0.1";
    const bound = await node.listen({ hostname, port: config.port });
    return new NodeHost(node, bound.port);
  }

  /**
   * Runs one command.
   *
   * @param c The command.
   * @returns Its answer (JSON).
   */
  async handle(c: HostCommand): Promise<unknown> {
    const n = this.node;
    switch (c.cmd) {
      case "connect":
        await n.connect({
          hostname: c.hostname,
          port: c.port,
          fingerprint: c.fingerprint,
          agentId: c.name,
        });
        return null;
      case "meet":
        await n.meet(c.fingerprint, c.name);
        return null;
      case "introduce":
        await n.introduce(c.fingerprint, c.name);
        return null;
      case "propose":
        return await n.proposeFact(c.fact as never, {
          steps: ["sampled and measured at the station"],
          evidence: ["lab report"],
        });
      case "intent": {
        const [r] = await n.agent.declareIntent({ goal: "ask", topic: c.topic }, { to: [c.to] });
        return r ?? null;
      }
      case "status":
        return this.status();
      case "stop":
        await n.stop();
        return null;
    }
  }

  /** The node's table, links, claims, held messages and local errors. */
  status(): HostStatus {
    const n = this.node;
    const claims: Record<string, string> = {};
    for (const p of n.knownNodes()) {
      for (const c of n.agent.store.claimsBy(p)) claims[c.id] = c.status;
    }
    return {
      name: n.agent.identity.agentId,
      fingerprint: n.fingerprint,
      port: this.port,
      peers: n.peers().map((p) => ({
        fingerprint: p.fingerprint,
        agentId: p.agentId,
        link: p.link,
        trust: p.trust,
        route: p.route,
      })),
      links: n.links(),
      claims,
      held: n.heldCount,
      errors: n.deliveryErrors.map((e) => ({ code: e.code, inReplyTo: e.inReplyTo })),
      received: [...this.#received],
    };
  }
}

/** The child process: one node, commands on stdin, answers and events on stdout. */
async function _child(configJson: string): Promise<void> {
  const config = JSON.parse(configJson) as HostConfig;
  const enc = new TextEncoder();
  const out = (value: unknown) => Deno.stdout.writeSync(enc.encode(JSON.stringify(value) + "\n"));
  const sink: EventSink = { write: (e: Web4Event) => out({ event: e }) };
  const host = await NodeHost.start(config, [sink]);
  out({ ready: { fingerprint: host.node.fingerprint, port: host.port } });
  let buffer = "";
  const dec = new TextDecoder();
  for await (const chunk of Deno.stdin.readable) {
    buffer += dec.decode(chunk, { stream: true });
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (line.trim() === "") continue;
      const { id, command } = JSON.parse(line) as { id: number; command: HostCommand };
      try {
        out({ id, ok: true, result: await host.handle(command) });
      } catch (err) {
        out({ id, ok: false, error: err instanceof Error ? err.message : String(err) });
      }
      if (command.cmd === "stop") Deno.exit(0);
    }
  }
  await host.node.stop();
}

if (import.meta.main) {
  const arg = Deno.args[0];
  if (arg === undefined) {
    console.error("Usage: deno run cli/mesh_host.ts CONFIG_JSON (started by cli/web4meshdemo.ts)");
    Deno.exit(2);
  }
  await _child(arg);
}
