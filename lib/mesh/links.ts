/**
 * The mesh's link state: which neighbours are live, the link table built
 * from the signed `links` advertisements of admitted nodes (bounded: see
 * `MeshLimits`), the route policy (relay only through trusted enough,
 * unblocked, non-blacklisted nodes), flooding within the forward shares,
 * and this node's own advertisements (on every change, and every
 * `advertiseMs` so its `at` stays fresh).
 *
 * @module
 */

import type { Agent } from "../agent/mod.ts";
import type { PeerTrust } from "../envelope/mod.ts";
import type { MeshDrops } from "./drops.ts";
import { type ControlFrame, encodeFrame, type LinksFrame, signControl } from "./frame.ts";
import { leastTrustedOldest, type MeshLimits, trustRank } from "./limits.ts";
import { LinkTable, type RoutePolicy } from "./routes.ts";
import type { ForwardShares } from "./shares.ts";
import type { RandomSource } from "../ports/mod.ts";

/** What {@linkcode Links} needs from the node. */
export interface LinksPorts {
  /** Where frame ids, msg_ids and decision ids come from. */
  readonly random: RandomSource;
  /** The node's agent (its sessions, trust, identity, frames, telemetry). */
  readonly agent: Pick<
    Agent,
    "fingerprint" | "identity" | "peers" | "router" | "sendFrame" | "telemetry" | "stopped"
  >;
  /** The least trust a neighbour needs to relay for this node. */
  readonly relayTrust: "trusted" | "probing";
  /** The clock in ms. */
  readonly now: () => number;
  /** The bounds. */
  readonly limits: Pick<
    MeshLimits,
    "linkNodes" | "pendingAdverts" | "advertiseMs" | "advertTtlMs"
  >;
  /** Drops, counted. */
  readonly drops: MeshDrops;
  /** Shares of each next hop's rate for the frames of other origins. */
  readonly shares: ForwardShares;
  /** Whether the node admits `fp` (connected, met, allow-listed, introduced, anchored, vouched for). */
  admitted(fp: string): boolean;
  /** How much this node trusts an origin (`trustRank`). */
  rank(fp: string): number;
  /** Remembers a frame this node signed (so its echo is a duplicate). */
  signed(frame: ControlFrame): void;
  /** Whether the node is stopping (no more advertisements). */
  stopping(): boolean;
  /** Retries held messages (a route may have appeared). */
  sweep(): void;
}

/** Blacklisted signers remembered as rows of the peer table. */
const _MAX_SHUNNED = 256;
/** Routes remembered between changes. */
const _MAX_ROUTES = 4096;

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
  /** The newest advertisement of each node in the table, with when it arrived (for age and order). */
  readonly #adverts = new Map<string, { frame: ControlFrame; receivedMs: number }>();
  /** Advertisements of nodes not admitted yet (their admission may follow), oldest first. */
  readonly #pending = new Map<string, LinksFrame>();
  /** Neighbours that were sent the whole table. */
  readonly #told = new Set<string>();
  #lastNeighbours = "";
  #lastAdvertMs = -Infinity;
  #seq = 0;
  #advertising: Promise<void> = Promise.resolve();
  #policy: RoutePolicy | undefined;
  #vouched: Set<string> | undefined;
  readonly #routes = new Map<string, string[] | undefined>();

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

  /** Advertisements waiting for their signer's admission. */
  get pendingCount(): number {
    return this.#pending.size;
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
    this.#shunned.delete(fp);
    this.#shunned.add(fp);
    if (this.#shunned.size > _MAX_SHUNNED) {
      this.#shunned.delete(this.#shunned.values().next().value!);
    }
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
    this.invalidate();
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
    if (down) {
      this.#down.add(fp);
      this.#told.delete(fp);
    } else this.#down.delete(fp);
    this.invalidate();
  }

  /**
   * Routes, the policy and the vouched set are computed again on next use
   * (after a change of links, trust or blocks; and on every sweep).
   */
  invalidate(): void {
    this.#policy = undefined;
    this.#vouched = undefined;
    this.#routes.clear();
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
   * What this node may route through now (computed once per change).
   *
   * @param extraAvoid More nodes to avoid (a relayed frame's hop list).
   * @returns The route policy.
   */
  policy(extraAvoid: readonly string[] = []): RoutePolicy {
    const base = this.#policy ??= this.#computePolicy();
    if (extraAvoid.length === 0) return base;
    return { ...base, avoid: new Set([...base.avoid, ...extraAvoid]) };
  }

  #computePolicy(): RoutePolicy {
    const trust = this.#ports.agent.router.trust;
    const avoid = new Set(this.#blocked);
    const ok: PeerTrust[] = this.#ports.relayTrust === "trusted"
      ? ["trusted"]
      : ["trusted", "probing"];
    const relays = new Set<string>();
    for (const fp of this.#table.nodes()) {
      const t = trust.peer(fp);
      if (t === "blacklisted") avoid.add(fp);
      else if (ok.includes(t)) relays.add(fp);
    }
    const canRelay = (fp: string) => relays.has(fp) || ok.includes(trust.peer(fp));
    const live = this.liveNeighbours();
    return {
      firstHops: new Set(live.filter(canRelay)),
      avoid,
      neighbours: new Set(live),
      canRelay,
    };
  }

  /**
   * Whether an admitted node that may relay for this node lists `fp` as its
   * live neighbour (so `fp` is vouched for, and admitted to the link table).
   *
   * @param fp The node.
   * @returns Whether it is vouched for.
   */
  vouched(fp: string): boolean {
    if (this.#vouched === undefined) {
      const policy = this.policy();
      const self = this.#ports.agent.fingerprint;
      this.#vouched = new Set();
      for (const n of this.#table.nodes()) {
        if (n !== self && (policy.avoid.has(n) || !(policy.canRelay?.(n) ?? true))) continue;
        for (const m of this.#table.neighboursOf(n)) this.#vouched.add(m);
      }
    }
    return this.#vouched.has(fp);
  }

  /**
   * The route to a node (first hop first); computed once per change.
   *
   * @param fp The node.
   * @param extraAvoid More nodes to avoid.
   * @returns The hops, or `undefined` without a route.
   */
  route(fp: string, extraAvoid: readonly string[] = []): string[] | undefined {
    const key = extraAvoid.length === 0 ? fp : `${fp}|${extraAvoid.join(",")}`;
    if (this.#routes.has(key)) return this.#routes.get(key);
    const path = this.#table.path(fp, this.policy(extraAvoid));
    if (this.#routes.size >= _MAX_ROUTES) this.#routes.clear();
    this.#routes.set(key, path);
    return path;
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
    return fp !== agent.fingerprint && this.#table.has(fp) &&
      !this.#blocked.has(fp) && agent.router.trust.peer(fp) !== "blacklisted";
  }

  /**
   * Sends a frame to every live neighbour but `except` and its signer; a
   * frame of another signer only within that signer's share of each next
   * hop's rate (over it: not sent there, counted `forward_share`).
   *
   * @param frame The frame.
   * @param except Who it came from.
   */
  flood(frame: ControlFrame, except?: string): void {
    const { agent, shares, now, drops, rank } = this.#ports;
    const bytes = encodeFrame(frame);
    const own = frame.signer === agent.fingerprint;
    const trusted = rank(frame.signer) >= trustRank("trusted");
    for (const fp of this.liveNeighbours()) {
      if (fp === except || fp === frame.signer) continue;
      if (!own && !shares.take(fp, frame.signer, now(), trusted)) {
        drops.drop("forward_share", { origin: frame.signer, peer: fp, detail: frame.kind });
        continue;
      }
      agent.sendFrame(fp, "control", bytes).catch(() => {});
    }
  }

  /**
   * A `links` frame whose signer is not admitted (yet): kept a while, its
   * admission may follow (an advertisement that vouches for it).
   *
   * @param frame The frame (not verified yet).
   * @param peer The neighbour that delivered it.
   */
  hold(frame: LinksFrame, peer: string): void {
    const { limits, drops } = this.#ports;
    const held = this.#pending.get(frame.signer);
    if (held !== undefined && held.seq >= frame.seq) return;
    this.#pending.delete(frame.signer);
    this.#pending.set(frame.signer, frame);
    if (this.#pending.size > limits.pendingAdverts) {
      const oldest = this.#pending.keys().next().value!;
      this.#pending.delete(oldest);
      drops.drop("adverts_full", { origin: oldest, peer, detail: "advertisement not admitted" });
    }
  }

  /**
   * The held advertisements whose signer is admitted now (taken out).
   *
   * @returns The frames, to handle as if they arrived now.
   */
  admittedNow(): LinksFrame[] {
    const out: LinksFrame[] = [];
    for (const [signer, frame] of this.#pending) {
      if (this.#ports.admitted(signer)) {
        this.#pending.delete(signer);
        out.push(frame);
      }
    }
    return out;
  }

  /**
   * An admitted node's verified advertisement arrived: kept if newer, within
   * the table's bound (past it, the least trusted node's oldest advertisement
   * is dropped, or this one refused, and counted).
   *
   * @param frame The verified `links` frame.
   * @param peer The neighbour that delivered it.
   * @returns Whether it was kept (then flood it on).
   */
  received(frame: LinksFrame, peer: string): boolean {
    const { limits, rank, drops, now } = this.#ports;
    const held = this.#adverts.get(frame.signer)?.frame as LinksFrame | undefined;
    if (held !== undefined && held.seq >= frame.seq) return false;
    if (held === undefined && this.#table.size >= limits.linkNodes) {
      const self = this.#ports.agent.fingerprint;
      const candidates = [...this.#adverts]
        .filter(([fp]) => fp !== self)
        .sort((x, y) => x[1].receivedMs - y[1].receivedMs)
        .map(([fp]) => [fp, fp] as const);
      const victim = leastTrustedOldest(candidates, rank);
      if (victim === undefined || rank(victim) > rank(frame.signer)) {
        drops.drop("links_full", { origin: frame.signer, peer, detail: "advertisement refused" });
        return false;
      }
      drops.drop("links_full", { origin: victim, peer, detail: "oldest advertisement dropped" });
      this.#forget(victim);
    }
    this.#table.update(frame.signer, frame.seq, frame.neighbours);
    this.#adverts.set(frame.signer, { frame, receivedMs: now() });
    this.invalidate();
    this.#ports.sweep();
    this.#ports.agent.telemetry.emit("mesh.links", {
      neighbours: frame.neighbours.length,
      seq: frame.seq,
    }, { severity: "debug", peer: frame.signer });
    return true;
  }

  #forget(fp: string): void {
    this.#table.remove(fp);
    this.#adverts.delete(fp);
    this.invalidate();
  }

  /**
   * Forgets advertisements not renewed within `advertTtlMs`, and makes this
   * node's own again once `advertiseMs` passed (runs on every sweep).
   *
   * @returns The re-advertisement under way, if one is due.
   */
  tick(): Promise<void> | undefined {
    const { now, limits, agent } = this.#ports;
    const nowMs = now();
    for (const [fp, ad] of this.#adverts) {
      if (fp !== agent.fingerprint && nowMs - ad.receivedMs > limits.advertTtlMs) this.#forget(fp);
    }
    this.invalidate();
    if (nowMs - this.#lastAdvertMs < limits.advertiseMs) return undefined;
    this.#lastAdvertMs = nowMs; // once per period, even while the advertisement is being signed
    return this.advertise(true);
  }

  /**
   * Advertises this node's live neighbours when they changed (or, forced,
   * anyway: a fresh `at`). Advertisements are made one at a time, so a newer
   * one is never overtaken by an older one.
   *
   * @param force Advertise even if nothing changed.
   * @returns Once sent.
   */
  advertise(force = false): Promise<void> {
    const next = this.#advertising.then(() => this.#advertiseNow(force));
    this.#advertising = next.catch(() => {});
    return next;
  }

  async #advertiseNow(force: boolean): Promise<void> {
    const { agent, now } = this.#ports;
    if (agent.stopped || this.#ports.stopping()) return;
    const neighbours = this.liveNeighbours().sort();
    const key = neighbours.join(",");
    if (!force && key === this.#lastNeighbours && this.#seq > 0) return;
    this.#lastNeighbours = key;
    this.#lastAdvertMs = now();
    this.#seq = Math.max(now(), this.#seq + 1);
    this.#table.update(agent.fingerprint, this.#seq, neighbours);
    this.invalidate();
    const frame = await signControl(
      agent.identity,
      {
        kind: "links",
        seq: this.#seq,
        neighbours,
      },
      now(),
      this.#ports.random,
    );
    this.#ports.signed(frame);
    this.#adverts.set(agent.fingerprint, { frame, receivedMs: now() });
    agent.telemetry.emit("mesh.links", { neighbours: neighbours.length, seq: this.#seq }, {});
    // New neighbours learn the whole table; everyone learns this node's links.
    this.flood(frame);
    for (const fp of neighbours) {
      if (this.#told.has(fp)) continue;
      this.#told.add(fp);
      for (const [signer, ad] of this.#adverts) {
        if (signer === agent.fingerprint || signer === fp) continue;
        const trusted = this.#ports.rank(signer) >= trustRank("trusted");
        if (!this.#ports.shares.take(fp, signer, now(), trusted)) continue;
        agent.sendFrame(fp, "control", encodeFrame(ad.frame)).catch(() => {});
      }
    }
    for (const fp of this.#told) if (!neighbours.includes(fp)) this.#told.delete(fp);
    this.#ports.sweep();
  }
}
