/**
 * `MeshNode`: an {@linkcode Agent} that routes for others. It attaches itself
 * as the agent's relay (`Agent.setRelay`) and composes the mesh's rooms:
 * link state and routes (`links.ts`), forwarding and holding (`relay.ts`),
 * votes (`consensus.ts`) and malice reports (`malice.ts`). This file keeps
 * the owner's API, admission (allow-lists and introductions) and the
 * dispatch of inbound mesh frames.
 *
 * @module
 */
import { Agent, type Trace } from "../agent/mod.ts";
import type { FactProposePayload } from "../envelope/mod.ts";
import type { TransportAddress } from "../transport/mod.ts";
import { Admission } from "./admission.ts";
import { Consensus } from "./consensus.ts";
import { MeshDrops } from "./drops.ts";
import { MeshError } from "./errors.ts";
import { type ControlFrame, signControl } from "./frame.ts";
import { InboundFrames } from "./inbound.ts";
import { type MeshLimits, meshLimits } from "./limits.ts";
import { Links } from "./links.ts";
import { MaliceWatch } from "./malice.ts";
import { type MeshDeliveryError, MeshRelay } from "./relay.ts";
import { SeenCache } from "./seen.ts";
import { ForwardShares } from "./shares.ts";
import type { MeshOptions, MeshPeer, MeshStateSizes } from "./types.ts";
import {
  type Clock,
  type RandomSource,
  systemClock,
  systemRandom,
  type TimerHandle,
} from "../ports/mod.ts";

/**
 * An agent in a mesh.
 *
 * @example Three nodes in a line: a reaches c through b
 * ```ts ignore
 * const a = await MeshNode.create({ identity: ia, mission: "m", store: ":memory:",
 *   transport: memory({ network }), trustAnchors: [ib.fingerprint] });
 * // ... b and c likewise; a -- b -- c
 * await a.connect({ hostname: "b", port: pb, fingerprint: ib.fingerprint });
 * await c.connect({ hostname: "b", port: pb, fingerprint: ib.fingerprint });
 * await a.until(() => a.route(ic.fingerprint) !== undefined);
 * await a.meet(ic.fingerprint); // the CIP handshake with c, relayed by b, signed end to end
 * await a.agent.declareIntent({ goal: "ask", topic: "nitrate" }, { to: [ic.fingerprint] });
 * ```
 */
export class MeshNode implements AsyncDisposable {
  /** The agent this node routes for. */
  readonly agent: Agent;
  /** The bounds in force. */
  readonly limits: Readonly<MeshLimits>;
  readonly #now: () => number;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #seen: SeenCache;
  readonly #admission: Admission;
  readonly #inbound: InboundFrames;
  readonly #links: Links;
  readonly #relay: MeshRelay;
  readonly #consensus: Consensus;
  readonly #malice: MaliceWatch;
  readonly #waiters = new Set<{ check: () => boolean; resolve: () => void }>();
  #chain: Promise<void> = Promise.resolve();
  #sweepTimer: TimerHandle | undefined;
  #refreshQueued = false;
  #wakeQueued = false;
  #stopping = false;

  private constructor(agent: Agent, options: MeshOptions, limits: MeshLimits) {
    this.agent = agent;
    this.limits = limits;
    const clock = this.#clock = options.clock ?? systemClock;
    const random = options.random ?? systemRandom;
    const now = this.#now = () => clock.now();
    this.#random = random;
    const windowMs = options.windowMs ?? 120_000;
    const seen = this.#seen = new SeenCache({
      capacity: limits.seenIds,
      reserve: limits.seenTrustedReserve,
    });
    const drops = new MeshDrops(agent, now);
    const rank = (fp: string) => this.#admission.rank(fp);
    const track = (p: Promise<void>) => this.#track(p);
    const signed = (frame: ControlFrame) => this.#inbound.signed(frame);
    const rate = agent.router.rateLimiter;
    const shares = new ForwardShares(
      { burst: rate?.burst ?? 200, perSecond: rate?.perSecond ?? 100 },
      { share: limits.forwardShare, total: limits.forwardTotalShare },
    );
    const links = this.#links = new Links({
      agent,
      random,
      now,
      limits,
      drops,
      shares,
      rank,
      signed,
      relayTrust: options.relayTrust ?? "trusted",
      admitted: (fp) => this.#admission.admitted(fp),
      stopping: () => this.#stopping,
      sweep: () => this.#relay.sweep(),
    });
    const admission = this.#admission = new Admission(
      { agent, limits, links },
      options.allowPeers ?? "any",
    );
    const relay = this.#relay = new MeshRelay({
      agent,
      random,
      links,
      seen,
      now,
      limits,
      drops,
      shares,
      rank,
      track,
      hopLimit: options.hopLimit ?? 9,
      windowMs,
      deliverable: (origin) => admission.deliverable(origin),
      admitted: (origin) => admission.admitted(origin),
      seenLimit: (origin) => admission.seenLimit(origin),
      delivering: (peer) => agent.router.rateLimiter?.refund(peer),
    });
    const consensus = this.#consensus = new Consensus({
      agent,
      random,
      clock,
      links,
      now,
      limits,
      drops,
      rank,
      signed,
      track,
      judge: options.judge,
    });
    const malice = this.#malice = new MaliceWatch({
      agent,
      random,
      links,
      now,
      limits,
      drops,
      rank,
      signed,
      track,
    });
    this.#inbound = new InboundFrames({
      agent,
      limits,
      windowMs,
      now,
      seen,
      drops,
      admission,
      links,
      relay,
      consensus,
      malice,
      stopping: () => this.#stopping,
      enqueue: (work) => this.#enqueue(work),
    });
  }

  /**
   * Creates the agent and attaches the mesh to it.
   *
   * @param options The agent's options and the mesh's.
   * @returns The running node.
   * @throws {TypeError} As {@linkcode Agent.create}.
   * @throws {RangeError} For a hop limit outside 0..64, or a bound of `limits` that is not
   *   a positive integer (a share: not in (0, 1]).
   */
  static async create(options: MeshOptions): Promise<MeshNode> {
    const hopLimit = options.hopLimit ?? 9;
    if (!Number.isInteger(hopLimit) || hopLimit < 0 || hopLimit > 64) {
      throw new RangeError(`Mesh hopLimit must be an integer in 0..64, got ${hopLimit}`);
    }
    const limits = meshLimits(options.limits);
    const agent = await Agent.create(options);
    const node = new MeshNode(agent, options, limits);
    agent.setRelay({
      frame: (bytes, from) => {
        const claimed = node.#inbound.frame(bytes, from);
        if (claimed) node.#poke(); // a frame refused at once (rate) is news for waiters too
        return claimed;
      },
      reachable: (fp) => node.#links.reachable(fp),
      send: (fp, out) => node.#relay.send(fp, out),
    });
    node.#listen(agent);
    const sweepMs = options.sweepMs ?? 500;
    if (sweepMs > 0) node.#sweepTimer = node.#clock.setInterval(() => node.sweep(), sweepMs);
    return node;
  }

  /** This node's fingerprint. */
  get fingerprint(): string {
    return this.agent.fingerprint;
  }

  // ---- the owner's API ----------------------------------------------------

  /**
   * Listens for neighbours.
   *
   * @param address Where.
   * @returns The bound address.
   */
  listen(address?: TransportAddress): Promise<TransportAddress> {
    return this.agent.listen(address);
  }

  /**
   * Connects to a direct neighbour (session and CIP handshake), then
   * advertises the new link.
   *
   * @param options Address, fingerprint, agent id.
   */
  async connect(
    options: TransportAddress & { fingerprint: string; agentId?: string },
  ): Promise<void> {
    this.#admission.dialled(
      options.fingerprint,
      { hostname: options.hostname, port: options.port },
      options.agentId,
    );
    await this.agent.connect(options);
    this.#links.setDown(options.fingerprint, false);
    await this.#links.advertise();
  }

  /**
   * Runs the CIP handshake with a node reached through the mesh (signed end
   * to end; the relays only carry it). The node then counts as `probing`;
   * under an allow-list it is admitted (its answers must get in).
   *
   * @param fp The node.
   * @param agentId Its agent id, when known.
   * @throws {AgentError} `NOT_CONNECTED` without a route, `HANDSHAKE_FAILED`.
   */
  async meet(fp: string, agentId?: string): Promise<void> {
    // Whom this node's owner asks it to meet is admitted (its answers must get in).
    this.#admission.met(fp, agentId);
    await this.agent.handshakeVia(fp, agentId === undefined ? {} : { agentId });
  }

  /**
   * Never routes through `fp` again (and drops what it originates), until unblocked.
   *
   * @param fp The peer.
   */
  async block(fp: string): Promise<void> {
    await this.#links.block(fp, true);
  }

  /**
   * Lifts a block.
   *
   * @param fp The peer.
   */
  async unblock(fp: string): Promise<void> {
    await this.#links.block(fp, false);
  }

  /**
   * Introduces a node to the mesh: a signed `introduce` frame, flooded. Where
   * an allow-list is in force and this node is trusted, it admits `subject`.
   *
   * @param subject The introduced fingerprint.
   * @param agentId Its agent id.
   */
  async introduce(subject: string, agentId: string): Promise<void> {
    const frame = await signControl(
      this.agent.identity,
      {
        kind: "introduce",
        subject,
        agent_id: agentId,
      },
      this.#now(),
      this.#random,
    );
    this.#inbound.signed(frame);
    this.#links.flood(frame);
  }

  /**
   * Proposes a fact to every node this node has met (one signed copy each),
   * then floods the signed map of copies so every node can address its
   * votes to each other node's copy.
   *
   * @param fact The fact.
   * @param trace Its DMP trace.
   * @param options `to` (default: every verified node, neighbours and met through the mesh).
   * @returns The copies: node -> msg_id.
   */
  proposeFact(
    fact: FactProposePayload["fact"],
    trace: Trace,
    options: { to?: readonly string[] } = {},
  ): Promise<Record<string, string>> {
    return this.#consensus.propose(fact, trace, options.to ?? this.verifiedNodes());
  }

  /** Every node with a verified handshake (neighbours and nodes met through the mesh). */
  verifiedNodes(): string[] {
    return this.#links.nodes().filter((fp) =>
      fp !== this.fingerprint && this.agent.store.handshake(fp)?.stage === "verified"
    ).sort();
  }

  /** Every node the link table knows (and every blacklisted node heard of), but this one. */
  knownNodes(): string[] {
    return this.#links.known();
  }

  /**
   * The route to a node (first hop first), `undefined` without one.
   *
   * @param fp The node.
   * @returns The hops.
   */
  route(fp: string): string[] | undefined {
    return this.#links.route(fp);
  }

  /** The links both ends advertise. */
  links(): [string, string][] {
    return this.#links.links();
  }

  /** The peer table: every node known, with link state, trust and route. */
  peers(): MeshPeer[] {
    const live = new Set(this.#links.liveNeighbours());
    return this.knownNodes().map((fp) => {
      const direct = this.agent.peer(fp) !== undefined || this.#admission.addresses.has(fp);
      const route = live.has(fp) ? undefined : this.route(fp);
      return {
        fingerprint: fp,
        agentId: this.#admission.names.get(fp) ?? this.agent.peer(fp)?.agentId ?? "peer",
        address: this.#admission.addresses.get(fp),
        link: live.has(fp)
          ? "up"
          : direct
          ? "down"
          : route !== undefined && this.agent.store.handshake(fp)?.stage === "verified"
          ? "relayed"
          : "none",
        trust: this.agent.router.trust.peer(fp),
        route,
        blocked: this.#links.isBlocked(fp),
      };
    });
  }

  /** The local `ERROR`s for messages this node originated and could not deliver. */
  get deliveryErrors(): readonly MeshDeliveryError[] {
    return this.#relay.errors;
  }

  /**
   * Listens for local delivery errors.
   *
   * @param fn Called for each.
   * @returns Its unregister function.
   */
  onDeliveryError(fn: (e: MeshDeliveryError) => void): () => void {
    return this.#relay.onDeliveryError(fn);
  }

  /** How many messages are held for lack of a route. */
  get heldCount(): number {
    return this.#relay.heldCount;
  }

  /**
   * How much state the node holds now, each within its bound
   * ({@linkcode MeshNode.limits}); what was dropped at a bound is counted in
   * the agent's metrics (`web4_mesh_dropped_total{reason}`).
   *
   * @returns The sizes.
   */
  stateSizes(): MeshStateSizes {
    return {
      seenIds: this.#seen.size,
      linkNodes: this.#links.nodes().length,
      pendingAdverts: this.#links.pendingCount,
      copies: this.#consensus.size,
      held: this.#relay.heldCount,
      heldBytes: this.#relay.heldBytes,
      evidenceBytes: this.#malice.evidenceBytes,
      pendingBytes: this.#inbound.pendingBytes,
    };
  }

  /**
   * Waits until a condition holds, re-checking on every event of the agent.
   *
   * @param check The condition.
   * @param timeoutMs How long.
   * @throws {MeshError} `TIMEOUT`.
   */
  until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = {
        check,
        resolve: () => {
          this.#clock.clear(timer);
          resolve();
        },
      };
      const timer = this.#clock.setTimeout(() => {
        this.#waiters.delete(w);
        reject(new MeshError("TIMEOUT", `Mesh condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(w);
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) {
      if (w.check()) {
        this.#waiters.delete(w);
        w.resolve();
      }
    }
  }

  /**
   * Retries held messages that have a route now and expires those outside
   * the window (local `ERROR` `expired`); forgets advertisements not renewed
   * and re-advertises this node's links every `limits.advertiseMs`. Runs on
   * a timer (`sweepMs`) and on link changes.
   */
  sweep(): void {
    if (this.agent.stopped || this.#stopping) return;
    const advertising = this.#links.tick();
    if (advertising !== undefined) this.#track(advertising);
    this.#relay.sweep();
    this.#poke();
  }

  /** Stops the node and its agent. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#clock.clear(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#consensus.stop();
    // Work already started finishes before the agent (and its store) stops.
    let chain: Promise<void>;
    do {
      chain = this.#chain;
      await chain;
    } while (chain !== this.#chain);
    await this.agent.stop();
  }

  /** Stops the node. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  // ---- the one chain ------------------------------------------------------

  /** Inbound frames: handled one at a time, in arrival order. */
  #enqueue(work: () => Promise<void>): void {
    this.#chain = this.#chain.then(work).catch((err) => this.#failed(err))
      .finally(() => this.#poke());
  }

  #track(p: Promise<void>): void {
    // Work of the rooms (already under way) joins the one chain, so `stop` waits for it; a
    // failure is reported at once, never thrown (nor left unhandled while the chain is busy).
    const settled = p.catch((err) => this.#failed(err));
    this.#chain = this.#chain.then(() => settled).finally(() => this.#poke());
  }

  #failed(err: unknown): void {
    this.agent.telemetry.emit("mesh.error", {
      code: "failed",
      reason: err instanceof Error ? err.message : String(err),
    }, { severity: "error" });
  }

  // ---- what the agent reports -------------------------------------------

  /** The node follows the agent's typed events; it never reads telemetry. */
  #listen(agent: Agent): void {
    const links = this.#links;
    agent.on("peerUp", (e) => {
      links.setDown(e.peer, false);
      this.#linksChanged();
    });
    agent.on("peerDown", (e) => {
      links.setDown(e.peer, true);
      this.#linksChanged();
    });
    // Either side of a handshake counts the peer as a live neighbour once it verified.
    agent.on("handshakeVerified", () => this.#linksChanged());
    agent.on("trustChanged", () => this.#linksChanged());
    agent.on("claimChanged", (e) => {
      if (e.origin === "cip") this.#consensus.claimChanged(e.claim, e.status);
      this.#poke();
    });
    agent.on("errorReceived", (e) => this.#consensus.refused(e.inReplyTo, e.code));
    agent.on("afterCycle", (e) => {
      if (e.result.envelope?.type === "FACT_PROPOSE") this.#malice.proposal(e.result.envelope);
      this.#poke();
    });
  }

  /** Live neighbours may have changed: advertise (once per turn) and re-check waiters. */
  #linksChanged(): void {
    this.#poke();
    if (this.#refreshQueued) return;
    this.#refreshQueued = true;
    queueMicrotask(() => {
      this.#refreshQueued = false;
      this.#links.invalidate();
      this.#track(this.#links.advertise());
      // Trust or neighbours changed: held advertisements may be admitted now.
      this.#inbound.recheck();
    });
  }

  /** Something changed: waiting conditions are re-checked (once per turn). */
  #poke(): void {
    if (this.#waiters.size === 0 || this.#wakeQueued) return;
    this.#wakeQueued = true;
    queueMicrotask(() => {
      this.#wakeQueued = false;
      this.#wake();
    });
  }
}
