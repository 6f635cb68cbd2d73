/**
 * The mesh's link state: which neighbours are live, the link table built
 * from every node's signed `links` advertisement, the route policy (relay
 * only through trusted enough, unblocked, non-blacklisted nodes), flooding,
 * and this node's own advertisements.
 *
 * @module
 */

import type { Agent } from "../agent/mod.ts";
import type { PeerTrust } from "../envelope/mod.ts";
import { type ControlFrame, encodeFrame, type LinksFrame, signControl } from "./frame.ts";
import { LinkTable, type RoutePolicy, type SeenCache } from "./routes.ts";

/** What {@linkcode Links} needs from the node. */
export interface LinksPorts {
  /** The node's agent (its sessions, trust, identity, frames, telemetry). */
  readonly agent: Pick<
    Agent,
    "fingerprint" | "identity" | "peers" | "router" | "sendFrame" | "telemetry" | "stopped"
  >;
  /** Frame ids seen (against loops and duplicates). */
  readonly seen: SeenCache;
  /** The least trust a neighbour needs to relay for this node. */
  readonly relayTrust: "trusted" | "probing";
  /** The clock in ms. */
  readonly now: () => number;
  /** Whether the node is stopping (no more advertisements). */
  stopping(): boolean;
  /** Retries held messages (a route may have appeared). */
  sweep(): void;
}

/**
 * Link state and routes of one node.
 *
 * @example
 * ```ts ignore
 * const links = new Links(ports);
 * await links.advertise(); // floods this node's live neighbours when they changed
 * links.route(fp); // first hop first, or undefined
 * ```
 */
export class Links {
  readonly #ports: LinksPorts;
  readonly #table: LinkTable;
  readonly #down = new Set<string>();
  readonly #blocked = new Set<string>();
  readonly #shunned = new Set<string>();
  readonly #adverts = new Map<string, ControlFrame>();
  #lastNeighbours = "";
  #seq = 0;
  #advertising: Promise<void> = Promise.resolve();

  /**
   * Creates the room.
   *
   * @param ports What it needs from the node.
   */
  constructor(ports: LinksPorts) {
    this.#ports = ports;
    this.#table = new LinkTable(ports.agent.fingerprint);
  }

  /** Every node the link table knows (this one included). */
  nodes(): string[] {
    return this.#table.nodes();
  }

  /** Every node known (the table and blacklisted signers heard of), this one excluded, sorted. */
  known(): string[] {
    const self = this.#ports.agent.fingerprint;
    return [...new Set([...this.#table.nodes(), ...this.#shunned])]
      .filter((fp) => fp !== self).sort();
  }

  /** The links both ends advertise. */
  links(): [string, string][] {
    return this.#table.links();
  }

  /**
   * A blacklisted signer whose frame was refused: still a row of the peer table.
   *
   * @param fp The signer.
   */
  shun(fp: string): void {
    this.#shunned.add(fp);
  }

  /**
   * Whether the owner blocked a node.
   *
   * @param fp The node.
   * @returns Whether it is blocked.
   */
  isBlocked(fp: string): boolean {
    return this.#blocked.has(fp);
  }

  /**
   * Blocks or unblocks a node (never routed through), then advertises.
   *
   * @param fp The node.
   * @param blocked Whether it is blocked.
   */
  async block(fp: string, blocked: boolean): Promise<void> {
    if (blocked) this.#blocked.add(fp);
    else this.#blocked.delete(fp);
    this.#ports.agent.telemetry.emit("mesh.blocked", { blocked }, { peer: fp });
    await this.advertise();
  }

  /**
   * Whether a neighbour's connection is down (lost, or its session ended).
   *
   * @param fp The neighbour.
   * @param down Whether it is down.
   */
  setDown(fp: string, down: boolean): void {
    if (down) this.#down.add(fp);
    else this.#down.delete(fp);
  }

  /** The live, verified, unblocked agent neighbours. */
  liveNeighbours(): string[] {
    return this.#ports.agent.peers()
      .filter((p) =>
        p.verified && !p.person && !this.#down.has(p.fingerprint) &&
        !this.#blocked.has(p.fingerprint)
      )
      .map((p) => p.fingerprint);
  }

  /**
   * What this node may route through now.
   *
   * @param extraAvoid More nodes to avoid (a relayed frame's hop list).
   * @returns The route policy.
   */
  policy(extraAvoid: readonly string[] = []): RoutePolicy {
    const trust = this.#ports.agent.router.trust;
    const avoid = new Set([...this.#blocked, ...extraAvoid]);
    for (const fp of this.#table.nodes()) {
      if (trust.peer(fp) === "blacklisted") avoid.add(fp);
    }
    const ok: PeerTrust[] = this.#ports.relayTrust === "trusted"
      ? ["trusted"]
      : ["trusted", "probing"];
    const canRelay = (fp: string) => ok.includes(trust.peer(fp));
    const live = this.liveNeighbours();
    return {
      firstHops: new Set(live.filter(canRelay)),
      avoid,
      neighbours: new Set(live),
      canRelay,
    };
  }

  /**
   * The route to a node (first hop first).
   *
   * @param fp The node.
   * @param extraAvoid More nodes to avoid.
   * @returns The hops, or `undefined` without a route.
   */
  route(fp: string, extraAvoid: readonly string[] = []): string[] | undefined {
    return this.#table.path(fp, this.policy(extraAvoid));
  }

  /**
   * Whether a node can be reached through the mesh in principle: known,
   * not this one, not blocked, not blacklisted.
   *
   * @param fp The node.
   * @returns Whether it can.
   */
  reachable(fp: string): boolean {
    const { agent } = this.#ports;
    return fp !== agent.fingerprint && this.#table.nodes().includes(fp) &&
      !this.#blocked.has(fp) && agent.router.trust.peer(fp) !== "blacklisted";
  }

  /**
   * Sends a frame to every live neighbour but `except` and its signer.
   *
   * @param frame The frame.
   * @param except Who it came from.
   */
  flood(frame: ControlFrame, except?: string): void {
    const bytes = encodeFrame(frame);
    for (const fp of this.liveNeighbours()) {
      if (fp === except || fp === frame.signer) continue;
      this.#ports.agent.sendFrame(fp, "control", bytes).catch(() => {});
    }
  }

  /**
   * A node's advertisement arrived: kept if newer (held messages are retried).
   *
   * @param frame The verified `links` frame.
   */
  received(frame: LinksFrame): void {
    if (!this.#table.update(frame.signer, frame.seq, frame.neighbours)) return;
    this.#adverts.set(frame.signer, frame);
    this.#ports.sweep();
    this.#ports.agent.telemetry.emit("mesh.links", {
      neighbours: frame.neighbours.length,
      seq: frame.seq,
    }, { severity: "debug", peer: frame.signer });
  }

  /**
   * Advertises this node's live neighbours when they changed. Advertisements
   * are made one at a time, so a newer one is never overtaken by an older one.
   *
   * @returns Once sent.
   */
  advertise(): Promise<void> {
    const next = this.#advertising.then(() => this.#advertiseNow());
    this.#advertising = next.catch(() => {});
    return next;
  }

  async #advertiseNow(): Promise<void> {
    const { agent, seen, now } = this.#ports;
    if (agent.stopped || this.#ports.stopping()) return;
    const neighbours = this.liveNeighbours().sort();
    const key = neighbours.join(",");
    if (key === this.#lastNeighbours && this.#seq > 0) return;
    this.#lastNeighbours = key;
    this.#seq = Math.max(now(), this.#seq + 1);
    this.#table.update(agent.fingerprint, this.#seq, neighbours);
    const frame = await signControl(agent.identity, {
      kind: "links",
      seq: this.#seq,
      neighbours,
    }, now());
    seen.add(frame.id);
    this.#adverts.set(agent.fingerprint, frame);
    agent.telemetry.emit("mesh.links", { neighbours: neighbours.length, seq: this.#seq }, {});
    // New neighbours learn the whole table; everyone learns this node's links.
    for (const fp of neighbours) {
      for (const ad of this.#adverts.values()) {
        agent.sendFrame(fp, "control", encodeFrame(ad)).catch(() => {});
      }
    }
    this.#ports.sweep();
  }
}
