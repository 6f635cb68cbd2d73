/**
 * `MeshNode`: an {@linkcode Agent} that routes for others. It attaches itself
 * as the agent's relay (`Agent.setRelay`), keeps the peer and link-state
 * tables, forwards relay frames through trusted neighbours, floods signed
 * control frames (links, introductions, fact copies, malice reports), holds
 * what has no route inside the +/-120 s window, and votes on facts so every
 * node counts every confirmation.
 *
 * @module
 */
import { Agent, type AgentOptions, type ChannelKind, type Trace } from "../agent/mod.ts";
import { causalLinksOf, conflicts, factSubject, type Knowable } from "../cip/mod.ts";
import {
  canonicalize,
  type Envelope,
  type FactProposePayload,
  type PeerTrust,
  verifyEnvelope,
} from "../envelope/mod.ts";
import type { DispatchResult, OutboundEnvelope } from "../router/mod.ts";
import { newMsgId, outcome, type ReplySpec } from "../runtime/mod.ts";
import type { TransportAddress } from "../transport/mod.ts";
import { TrustBatch } from "../trust/mod.ts";
import type { CipTrustEventType } from "../trust/mod.ts";
import { MeshError } from "./errors.ts";
import {
  type ControlBody,
  type ControlFrame,
  decodeFrame,
  encodeFrame,
  isMeshFrame,
  type MeshChannel,
  type RelayFrame,
  signControl,
  verifyControl,
} from "./frame.ts";
import { LinkTable, SeenCache } from "./routes.ts";

/** How a node judges a fact it received: confirm it, challenge it, or say nothing. */
export type Judge = (fact: FactProposePayload["fact"], proposer: string) =>
  | "confirm"
  | "challenge"
  | "abstain";

/** Options of {@linkcode MeshNode.create}: the agent's, plus the mesh's. */
export interface MeshOptions extends AgentOptions {
  /**
   * Who may reach this node through the mesh: `"any"`, or fingerprints (then
   * a trusted peer's introduction admits more). Direct neighbours are always
   * admitted. @default {"any"}
   */
  allowPeers?: "any" | readonly string[] | undefined;
  /** Relays a frame may still go through when it leaves its origin. @default {9} */
  hopLimit?: number | undefined;
  /** Ids remembered against loops and duplicates. @default {4096} */
  seenCapacity?: number | undefined;
  /** The least trust a neighbour needs to relay for us. @default {"trusted"} */
  relayTrust?: "trusted" | "probing" | undefined;
  /** How a pending claim is judged (votes go to every node). @default {confirm} */
  judge?: Judge | undefined;
  /** How often held messages are retried or expired, ms (0: only on link changes and {@linkcode MeshNode.sweep}). @default {500} */
  sweepMs?: number | undefined;
  /** The delivery window around an envelope's timestamp. @default {120000} */
  windowMs?: number | undefined;
}

/** One row of the peer table. */
export interface MeshPeer {
  /** Fingerprint. */
  fingerprint: string;
  /** Agent id, when known. */
  agentId: string;
  /** The dial address of a direct neighbour. */
  address?: TransportAddress | undefined;
  /** `up` (live session), `down` (session lost), `relayed` (reached through the mesh), `none`. */
  link: "up" | "down" | "relayed" | "none";
  /** This node's trust in it. */
  trust: PeerTrust;
  /** The current route (first hop first), when not a live neighbour. */
  route?: string[] | undefined;
  /** Blocked by the owner. */
  blocked: boolean;
}

/** A message this node originated that could not be delivered (the local `ERROR`). */
export interface MeshDeliveryError {
  /** The undelivered envelope's msg_id. */
  inReplyTo: string;
  /** `expired` (left the window while held) or `undeliverable`. */
  code: "expired" | "undeliverable";
  /** Why. */
  reason: string;
  /** Where it was going. */
  destination: string;
}

interface _Held {
  frame: RelayFrame;
  msgId: string;
  timestampMs: number;
}

const _VOTE_RETRIES = 5;
const _VOTE_RETRY_MS = 50;
const _enc = new TextEncoder();
const _dec = new TextDecoder();

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
  readonly #table: LinkTable;
  readonly #seen: SeenCache;
  readonly #hopLimit: number;
  readonly #relayTrust: "trusted" | "probing";
  readonly #judge: Judge;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #allow: "any" | Set<string>;
  readonly #blocked = new Set<string>();
  readonly #down = new Set<string>();
  readonly #addresses = new Map<string, TransportAddress>();
  readonly #names = new Map<string, string>();
  readonly #adverts = new Map<string, ControlFrame>();
  readonly #held: _Held[] = [];
  readonly #copies = new Map<string, { origin: string; copies: Record<string, string> }>();
  readonly #votes = new Map<string, { claim: string; vote: "confirm" | "challenge" }>();
  readonly #voted = new Set<string>();
  readonly #proposals = new Map<string, string[]>();
  readonly #reported = new Set<string>();
  readonly #errors: MeshDeliveryError[] = [];
  readonly #errorListeners = new Set<(e: MeshDeliveryError) => void>();
  #lastNeighbours = "";
  #seq = 0;
  #chain: Promise<void> = Promise.resolve();
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #refreshQueued = false;

  private constructor(agent: Agent, options: MeshOptions) {
    this.agent = agent;
    this.#table = new LinkTable(agent.fingerprint);
    this.#seen = new SeenCache(options.seenCapacity ?? 4096);
    this.#hopLimit = options.hopLimit ?? 9;
    this.#relayTrust = options.relayTrust ?? "trusted";
    this.#judge = options.judge ?? (() => "confirm");
    this.#windowMs = options.windowMs ?? 120_000;
    this.#now = options.now ?? Date.now;
    const allow = options.allowPeers ?? "any";
    this.#allow = allow === "any" ? "any" : new Set(allow);
  }

  /**
   * Creates the agent and attaches the mesh to it.
   *
   * @param options The agent's options and the mesh's.
   * @returns The running node.
   * @throws {TypeError} As {@linkcode Agent.create}.
   * @throws {RangeError} For a hop limit outside 0..64.
   */
  static async create(options: MeshOptions): Promise<MeshNode> {
    const hopLimit = options.hopLimit ?? 9;
    if (!Number.isInteger(hopLimit) || hopLimit < 0 || hopLimit > 64) {
      throw new RangeError(`Mesh hopLimit must be an integer in 0..64, got ${hopLimit}`);
    }
    // The agent's sink sees events from its first one on; the node exists a moment later.
    const ref: { node?: MeshNode } = {};
    const tap = {
      write: (e: { kind: string; peer?: string | null; data: unknown }) => {
        if (ref.node !== undefined) ref.node.#onEvent(e);
      },
    };
    const agent = await Agent.create({
      ...options,
      sinks: [...(options.sinks ?? []), tap as never],
    });
    const node = ref.node = new MeshNode(agent, options);
    agent.setRelay({
      frame: (bytes, from) => node.#frame(bytes, from),
      reachable: (fp) => node.#reachable(fp),
      send: (fp, out) => node.#send(fp, out),
    });
    agent.on("fact", (f) => {
      if (f.origin === "cip") node.#onClaim(f.claim, f.status);
    });
    agent.on("afterCycle", (_info, result) => node.#afterCycle(result));
    const sweepMs = options.sweepMs ?? 500;
    if (sweepMs > 0) node.#sweepTimer = setInterval(() => node.sweep(), sweepMs);
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
    this.#addresses.set(options.fingerprint, { hostname: options.hostname, port: options.port });
    if (options.agentId !== undefined) this.#names.set(options.fingerprint, options.agentId);
    await this.agent.connect(options);
    this.#down.delete(options.fingerprint);
    await this.#advertise();
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
    if (agentId !== undefined) this.#names.set(fp, agentId);
    // Whom this node's owner asks it to meet is admitted (its answers must get in).
    if (this.#allow !== "any") this.#allow.add(fp);
    await this.agent.handshakeVia(fp, agentId === undefined ? {} : { agentId });
  }

  /**
   * Never routes through `fp` again (and drops what it originates), until unblocked.
   *
   * @param fp The peer.
   */
  async block(fp: string): Promise<void> {
    this.#blocked.add(fp);
    this.agent.telemetry.emit("mesh.blocked", { blocked: true }, { peer: fp });
    await this.#advertise();
  }

  /**
   * Lifts a block.
   *
   * @param fp The peer.
   */
  async unblock(fp: string): Promise<void> {
    this.#blocked.delete(fp);
    this.agent.telemetry.emit("mesh.blocked", { blocked: false }, { peer: fp });
    await this.#advertise();
  }

  /**
   * Introduces a node to the mesh: a signed `introduce` frame, flooded. Where
   * an allow-list is in force and this node is trusted, it admits `subject`.
   *
   * @param subject The introduced fingerprint.
   * @param agentId Its agent id.
   */
  async introduce(subject: string, agentId: string): Promise<void> {
    const frame = await signControl(this.agent.identity, {
      kind: "introduce",
      subject,
      agent_id: agentId,
    }, this.#now());
    this.#seen.add(frame.id);
    this.#flood(frame);
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
  async proposeFact(
    fact: FactProposePayload["fact"],
    trace: Trace,
    options: { to?: readonly string[] } = {},
  ): Promise<Record<string, string>> {
    const decisionId = trace.decision_id ?? crypto.randomUUID();
    const to = options.to ?? this.verifiedNodes();
    const results = await this.agent.proposeFact(fact, { ...trace, decision_id: decisionId }, {
      to,
    });
    const copies: Record<string, string> = {};
    for (const r of results) if (r.msgId !== undefined) copies[r.peer] = r.msgId;
    this.#proposals.set(decisionId, Object.keys(copies));
    const frame = await signControl(this.agent.identity, {
      kind: "copies",
      decision_id: decisionId,
      copies,
    }, this.#now());
    this.#seen.add(frame.id);
    this.#flood(frame);
    return copies;
  }

  /** Every node with a verified handshake (neighbours and nodes met through the mesh). */
  verifiedNodes(): string[] {
    return this.#table.nodes().filter((fp) =>
      fp !== this.fingerprint && this.agent.store.handshake(fp)?.stage === "verified"
    ).sort();
  }

  /** Every node the link table knows (and every blacklisted node heard of), but this one. */
  knownNodes(): string[] {
    return [...new Set([...this.#table.nodes(), ...this.#shunned])]
      .filter((fp) => fp !== this.fingerprint).sort();
  }

  /** Blacklisted signers whose frames were refused: still rows of the peer table. */
  readonly #shunned = new Set<string>();

  /**
   * The route to a node (first hop first), `undefined` without one.
   *
   * @param fp The node.
   * @returns The hops.
   */
  route(fp: string): string[] | undefined {
    return this.#table.path(fp, this.#policy());
  }

  /** The links both ends advertise. */
  links(): [string, string][] {
    return this.#table.links();
  }

  /** The peer table: every node known, with link state, trust and route. */
  peers(): MeshPeer[] {
    const live = new Set(this.#liveNeighbours());
    return this.knownNodes().map((fp) => {
      const direct = this.agent.peer(fp) !== undefined || this.#addresses.has(fp);
      const route = live.has(fp) ? undefined : this.route(fp);
      return {
        fingerprint: fp,
        agentId: this.#names.get(fp) ?? this.agent.peer(fp)?.agentId ?? "peer",
        address: this.#addresses.get(fp),
        link: live.has(fp)
          ? "up"
          : direct
          ? "down"
          : route !== undefined && this.agent.store.handshake(fp)?.stage === "verified"
          ? "relayed"
          : "none",
        trust: this.agent.router.trust.peer(fp),
        route,
        blocked: this.#blocked.has(fp),
      };
    });
  }

  /** The local `ERROR`s for messages this node originated and could not deliver. */
  get deliveryErrors(): readonly MeshDeliveryError[] {
    return this.#errors;
  }

  /**
   * Listens for local delivery errors.
   *
   * @param fn Called for each.
   * @returns Its unregister function.
   */
  onDeliveryError(fn: (e: MeshDeliveryError) => void): () => void {
    this.#errorListeners.add(fn);
    return () => this.#errorListeners.delete(fn);
  }

  /** How many messages are held for lack of a route. */
  get heldCount(): number {
    return this.#held.length;
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
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        reject(new MeshError("TIMEOUT", `Mesh condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(w);
    });
  }

  readonly #waiters = new Set<{ check: () => boolean; resolve: () => void }>();

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
   * the window (local `ERROR` `expired`). Runs on a timer and on link changes.
   */
  sweep(): void {
    if (this.agent.stopped || this.#stopping) return;
    const nowMs = this.#now();
    for (const h of [...this.#held]) {
      if (Math.abs(nowMs - h.timestampMs) > this.#windowMs) {
        this.#held.splice(this.#held.indexOf(h), 1);
        this.agent.metrics.counter("mesh_expired_total", 1, {});
        const reason = `held without a route until it left the ${this.#windowMs / 1000} s window`;
        if (h.frame.origin === this.fingerprint) {
          this.#deliveryError({
            inReplyTo: h.msgId,
            code: "expired",
            reason,
            destination: h.frame.destination,
          });
        } else {
          const inner = JSON.parse(h.frame.envelope) as Envelope;
          this.#track(this.#undeliverable(h.frame, inner, reason, "expired"));
        }
        continue;
      }
      // A relay never sends a held frame back along its hop list.
      const next = this.#table.path(h.frame.destination, this.#policy(h.frame.hops))?.[0];
      if (next === undefined) continue;
      this.#held.splice(this.#held.indexOf(h), 1);
      this.#track(this.#sendFrame(next, h.frame, h.msgId));
    }
  }

  /** Stops the node and its agent. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    for (const t of this.#retryTimers) clearTimeout(t);
    this.#retryTimers.clear();
    this.#sweepTimer = undefined;
    // Work already started finishes before the agent (and its store) stops.
    let chain: Promise<void>;
    do {
      chain = this.#chain;
      await chain;
    } while (chain !== this.#chain);
    await this.agent.stop();
  }

  #stopping = false;

  /** Stops the node. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  // ---- routing ------------------------------------------------------------

  #liveNeighbours(): string[] {
    return this.agent.peers()
      .filter((p) =>
        p.verified && !p.person && !this.#down.has(p.fingerprint) &&
        !this.#blocked.has(p.fingerprint)
      )
      .map((p) => p.fingerprint);
  }

  #policy(extraAvoid: readonly string[] = []) {
    const avoid = new Set([...this.#blocked, ...extraAvoid]);
    for (const fp of this.#table.nodes()) {
      if (this.agent.router.trust.peer(fp) === "blacklisted") avoid.add(fp);
    }
    const ok: PeerTrust[] = this.#relayTrust === "trusted" ? ["trusted"] : ["trusted", "probing"];
    const live = this.#liveNeighbours();
    const firstHops = new Set(
      live.filter((fp) => ok.includes(this.agent.router.trust.peer(fp))),
    );
    const canRelay = (fp: string) => ok.includes(this.agent.router.trust.peer(fp));
    return { firstHops, avoid, neighbours: new Set(live), canRelay };
  }

  #reachable(fp: string): boolean {
    return fp !== this.fingerprint && this.#table.nodes().includes(fp) && !this.#blocked.has(fp) &&
      this.agent.router.trust.peer(fp) !== "blacklisted";
  }

  /** The agent's envelopes for a node without a session: wrapped, routed or held. */
  async #send(fp: string, out: readonly OutboundEnvelope[]): Promise<boolean> {
    if (!this.#reachable(fp)) return false;
    for (const o of out) {
      const frame: RelayFrame = {
        mesh: "1.0",
        kind: "relay",
        origin: this.fingerprint,
        destination: fp,
        hop_limit: this.#hopLimit,
        hops: [this.fingerprint],
        channel: o.channel as MeshChannel,
        envelope: _dec.decode(o.bytes),
      };
      this.#seen.add(`${this.fingerprint}/${o.envelope.msg_id}`);
      const next = this.route(fp)?.[0];
      if (next === undefined) {
        this.#hold(frame, o.envelope);
        continue;
      }
      await this.#sendFrame(next, frame, o.envelope.msg_id);
    }
    return true;
  }

  #hold(frame: RelayFrame, envelope: Pick<Envelope, "msg_id" | "timestamp">): void {
    this.#held.push({
      frame,
      msgId: envelope.msg_id,
      timestampMs: Date.parse(envelope.timestamp),
    });
    this.agent.metrics.gauge("mesh_held", this.#held.length, {});
    this.agent.telemetry.emit("mesh.held", {
      msg_id: envelope.msg_id,
      destination: frame.destination,
    }, { severity: "warn", peer: frame.destination });
  }

  async #sendFrame(next: string, frame: RelayFrame, msgId: string): Promise<void> {
    try {
      await this.agent.sendFrame(next, frame.channel, encodeFrame(frame));
      this.agent.metrics.counter("mesh_forwarded_total", 1, {
        role: frame.origin === this.fingerprint ? "origin" : "relay",
      });
      this.agent.telemetry.emit("mesh.forwarded", {
        origin: frame.origin,
        destination: frame.destination,
        next_hop: next,
        hops: frame.hops.length,
        msg_id: msgId,
      }, { severity: "debug", peer: next });
    } catch {
      // The session went away between routing and sending: hold it.
      const envelope = JSON.parse(frame.envelope) as Envelope;
      this.#hold(frame, envelope);
    }
  }

  /** A relay without a route answers the origin with a signed `ERROR` (`undeliverable`). */
  /**
   * A relay that cannot deliver answers the origin with a signed `ERROR`:
   * `undeliverable` (the destination cannot be reached at all) or `expired`
   * (held until it left the window).
   */
  async #undeliverable(
    frame: RelayFrame,
    envelope: Pick<Envelope, "msg_id" | "type" | "sender">,
    why: string,
    code: "undeliverable" | "expired" = "undeliverable",
  ): Promise<void> {
    if (code === "undeliverable") {
      this.agent.metrics.counter("mesh_dropped_total", 1, { reason: "no_route" });
      this.#dropped("no_route", frame.origin, envelope.msg_id);
    }
    if (envelope.type === "ERROR" || frame.origin === this.fingerprint) return;
    const spec = {
      protocol: "cip",
      type: "ERROR",
      msg_id: newMsgId((n) => crypto.getRandomValues(new Uint8Array(n))),
      receiver: { agent_id: envelope.sender.agent_id, fingerprint: frame.origin },
      payload: {
        in_reply_to: envelope.msg_id,
        code,
        reason: `Relay ${this.fingerprint} could not deliver to ${frame.destination}: ${why}`,
      },
    } as unknown as ReplySpec;
    const { replies: out } = await this.agent.router.apply(
      outcome("handled", { replies: [spec] }),
      { peer: frame.origin },
    );
    const next = this.route(frame.origin)?.[0];
    if (next !== undefined) await this.#send(frame.origin, out);
  }

  // ---- inbound frames -----------------------------------------------------

  #frame(
    bytes: Uint8Array,
    from: { peer: string; session: string; channel: ChannelKind },
  ): boolean {
    if (!isMeshFrame(bytes)) return false;
    if (this.#stopping) return true; // claimed and ignored: the node is stopping
    this.#track(this.#inbound(bytes, from));
    return true;
  }

  #track(p: Promise<void>): void {
    // One frame at a time, in arrival order; a failure is reported, never thrown.
    this.#chain = this.#chain.then(() => p).catch((err) => {
      this.agent.telemetry.emit("agent.error", {
        where: "mesh",
        error: err instanceof Error ? err.message : String(err),
      }, { severity: "error" });
    });
  }

  async #inbound(bytes: Uint8Array, from: { peer: string; channel: ChannelKind }): Promise<void> {
    if (this.agent.stopped || this.#stopping) return;
    let frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      this.#dropped("invalid_frame", null, null, from.peer, (err as Error).message);
      return;
    }
    if (frame.kind === "relay") await this.#relayed(frame, from);
    else await this.#control(frame, from.peer);
  }

  async #relayed(frame: RelayFrame, from: { peer: string; channel: ChannelKind }): Promise<void> {
    let msgId: string | null = null;
    try {
      msgId = String((JSON.parse(frame.envelope) as { msg_id?: unknown }).msg_id);
    } catch { /* verified below */ }
    if (frame.hops.includes(this.fingerprint)) {
      this.#dropped("loop", frame.origin, msgId, from.peer);
      return;
    }
    if (!this.#seen.add(`${frame.origin}/${msgId}`)) {
      this.#dropped("duplicate", frame.origin, msgId, from.peer);
      return;
    }
    const originTrust = this.agent.router.trust.peer(frame.origin);
    if (originTrust === "blacklisted" || this.#blocked.has(frame.origin)) {
      this.#dropped("blocked_origin", frame.origin, msgId, from.peer);
      return;
    }
    if (frame.destination === this.fingerprint) {
      if (!this.#admitted(frame.origin)) {
        this.#dropped("not_admitted", frame.origin, msgId, from.peer);
        return;
      }
      this.agent.metrics.counter("mesh_delivered_total", 1, {});
      this.agent.telemetry.emit("mesh.delivered", {
        origin: frame.origin,
        hops: frame.hops.length,
        msg_id: msgId ?? "",
      }, { severity: "debug", peer: from.peer });
      this.agent.deliverRelayed(_enc.encode(frame.envelope), frame.origin, from);
      return;
    }
    if (frame.hop_limit <= 0) {
      this.agent.metrics.counter("mesh_hop_expired_total", 1, {});
      this.agent.telemetry.emit("mesh.hop_expired", {
        origin: frame.origin,
        destination: frame.destination,
        hops: frame.hops.length,
      }, { severity: "warn", peer: from.peer });
      return;
    }
    // Verify before forwarding: a bad inner envelope sanctions the relay that delivered it.
    let envelope: Envelope;
    try {
      envelope = await verifyEnvelope(frame.envelope, {
        expectedSender: frame.origin,
        expectedReceiver: frame.destination,
        now: () => new Date(this.#now()),
        maxSkewMs: this.#windowMs,
      });
    } catch (err) {
      await this.#sanctionRelay(from.peer, err, msgId, frame);
      return;
    }
    const next = this.#table.path(frame.destination, this.#policy(frame.hops))?.[0];
    const onward: RelayFrame = {
      ...frame,
      hop_limit: frame.hop_limit - 1,
      hops: [...frame.hops, this.fingerprint],
    };
    if (next === undefined) {
      // Reachable in principle (known, not blocked): held here until a route appears or the
      // window closes; otherwise the origin is told at once.
      if (this.#reachable(frame.destination)) this.#hold(onward, envelope);
      else await this.#undeliverable(onward, envelope, "no route");
      return;
    }
    await this.#sendFrame(next, onward, envelope.msg_id);
  }

  async #sanctionRelay(
    relay: string,
    err: unknown,
    msgId: string | null,
    frame: RelayFrame,
  ): Promise<void> {
    this.agent.metrics.counter("mesh_dropped_total", 1, { reason: "tampered" });
    const ctx = this.agent.router.context(relay);
    const o = this.agent.cip.verificationFailed(err, ctx, msgId ?? undefined);
    await this.agent.router.apply(o, { peer: relay });
    this.agent.telemetry.emit("mesh.tampered", {
      origin: frame.origin,
      destination: frame.destination,
      error: err instanceof Error ? err.message : String(err),
    }, { severity: "warn", peer: relay });
  }

  #admitted(origin: string): boolean {
    if (this.#allow === "any") return true;
    return this.#allow.has(origin) || this.#addresses.has(origin) ||
      this.agent.peer(origin) !== undefined;
  }

  #dropped(
    reason: string,
    origin: string | null,
    msgId: string | null,
    peer?: string,
    detail?: string,
  ): void {
    this.agent.metrics.counter("mesh_dropped_total", 1, { reason });
    this.agent.telemetry.emit("mesh.dropped", {
      reason,
      origin,
      msg_id: msgId,
      ...(detail === undefined ? {} : { detail }),
    }, {
      severity: reason === "duplicate" ? "debug" : "warn",
      ...(peer === undefined ? {} : { peer }),
    });
  }

  #deliveryError(e: MeshDeliveryError): void {
    this.#errors.push(e);
    if (this.#errors.length > 1024) this.#errors.shift();
    this.agent.telemetry.emit("mesh.error", {
      in_reply_to: e.inReplyTo,
      code: e.code,
      reason: e.reason,
    }, { severity: "warn", peer: e.destination });
    for (const fn of this.#errorListeners) fn(e);
  }

  // ---- control frames -----------------------------------------------------

  #flood(frame: ControlFrame, except?: string): void {
    const bytes = encodeFrame(frame);
    for (const fp of this.#liveNeighbours()) {
      if (fp === except || fp === frame.signer) continue;
      this.agent.sendFrame(fp, "control", bytes).catch(() => {});
    }
  }

  async #control(frame: ControlFrame, from: string): Promise<void> {
    if (!this.#seen.add(frame.id)) return;
    try {
      await verifyControl(frame);
    } catch (err) {
      this.#dropped("bad_signature", frame.signer, null, from, (err as Error).message);
      return;
    }
    if (frame.signer === this.fingerprint) return;
    if (this.agent.router.trust.peer(frame.signer) === "blacklisted") {
      this.#shunned.add(frame.signer);
      this.#dropped("blocked_origin", frame.signer, null, from);
      return;
    }
    this.#flood(frame, from);
    switch (frame.kind) {
      case "links":
        if (this.#table.update(frame.signer, frame.seq, frame.neighbours)) {
          this.#adverts.set(frame.signer, frame);
          this.sweep();
          this.agent.telemetry.emit("mesh.links", {
            neighbours: frame.neighbours.length,
            seq: frame.seq,
          }, { severity: "debug", peer: frame.signer });
        }
        return;
      case "introduce":
        return this.#introduced(frame.signer, frame.subject, frame.agent_id);
      case "copies":
        this.#copies.set(frame.decision_id, { origin: frame.signer, copies: frame.copies });
        return await this.#castVotes(frame.decision_id);
      case "malice":
        return await this.#maliceReport(frame.signer, frame.subject, frame.evidence);
    }
  }

  #introduced(introducer: string, subject: string, agentId: string): void {
    const trust = this.agent.router.trust.peer(introducer);
    let admitted = false;
    let reason: string;
    if (this.#allow === "any") reason = "allow-list is any: nothing to admit";
    else if (trust !== "trusted") reason = `introducer is ${trust}, not trusted`;
    else if (this.#allow.has(subject)) reason = "already admitted";
    else {
      this.#allow.add(subject);
      this.#names.set(subject, agentId);
      admitted = true;
      reason = "admitted: may connect, starts probing after its handshake";
    }
    this.agent.telemetry.emit("mesh.introduction", {
      subject,
      introducer,
      admitted,
      reason,
    }, { peer: introducer });
  }

  // ---- consensus ----------------------------------------------------------

  #onClaim(claimId: string, status: string): void {
    if (this.#voted.has(claimId)) return;
    const claim = this.agent.store.claim(claimId);
    if (claim === undefined || claim.peer === this.fingerprint) return;
    let vote: "confirm" | "challenge" | "abstain";
    if (status === "pending") vote = this.#judge(claim.fact, claim.peer);
    else if (status === "disputed" && claim.reason.startsWith("contradicts_")) vote = "challenge";
    else return;
    if (vote === "abstain") return;
    this.#voted.add(claimId);
    this.#votes.set(claim.trace.decision_id, { claim: claimId, vote });
    this.#track(this.#castVotes(claim.trace.decision_id));
  }

  async #castVotes(decisionId: string): Promise<void> {
    const mine = this.#votes.get(decisionId);
    const map = this.#copies.get(decisionId);
    if (mine === undefined || map === undefined) return;
    const proposer = this.agent.store.claim(mine.claim)?.peer;
    if (proposer !== map.origin) return; // a copies map counts only from the proposer itself
    this.#votes.delete(decisionId);
    const targets = Object.entries(map.copies).filter(([fp]) =>
      fp !== this.fingerprint && fp !== map.origin &&
      this.agent.store.handshake(fp)?.stage === "verified"
    );
    for (const [fp, ref] of targets) await this.#vote(fp, ref, mine.vote, 0);
    this.agent.telemetry.emit("mesh.vote", {
      claim: mine.claim,
      decision_id: decisionId,
      vote: mine.vote,
      to: targets.length,
    }, { peer: map.origin });
  }

  /**
   * One vote. A copy may travel a longer path than a vote about it, so a
   * vote answered `unknown_fact` is sent again a little later (a few times).
   */
  async #vote(fp: string, ref: string, vote: "confirm" | "challenge", tries: number) {
    const r = await this.agent.vote(fp, ref, { vote });
    if (r.msgId !== undefined && tries < _VOTE_RETRIES) {
      this.#sentVotes.set(r.msgId, { fp, ref, vote, tries: tries + 1 });
      if (this.#sentVotes.size > 4096) {
        this.#sentVotes.delete(this.#sentVotes.keys().next().value!);
      }
    }
  }

  readonly #sentVotes = new Map<
    string,
    { fp: string; ref: string; vote: "confirm" | "challenge"; tries: number }
  >();

  #voteRefused(inReplyTo: string): void {
    const v = this.#sentVotes.get(inReplyTo);
    if (v === undefined) return;
    this.#sentVotes.delete(inReplyTo);
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      if (!this.agent.stopped) this.#track(this.#vote(v.fp, v.ref, v.vote, v.tries));
    }, _VOTE_RETRY_MS * v.tries);
    this.#retryTimers.add(timer);
  }

  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();

  /** Keeps the signed text of proposals (evidence for reports); reports a proposer found malicious. */
  #afterCycle(result: DispatchResult): void {
    const env = result.envelope;
    if (env === undefined || env.type !== "FACT_PROPOSE") return;
    this.#rawClaims.set(env.msg_id, canonicalize(env));
    if (this.#rawClaims.size > 1024) this.#rawClaims.delete(this.#rawClaims.keys().next().value!);
    const proposer = env.sender.fingerprint;
    if (this.agent.router.trust.peer(proposer) === "blacklisted") {
      this.#track(this.#report(proposer));
    }
  }

  /** Floods a signed malice report: the liar's own contradicting, signed claims. */
  async #report(subject: string): Promise<void> {
    if (this.#reported.has(subject)) return;
    this.#reported.add(subject);
    const evidence = this.agent.store.claimsBy(subject, "disputed")
      .map((c) => this.#rawClaims.get(c.id))
      .filter((e): e is string => e !== undefined);
    if (evidence.length === 0) return;
    const frame = await signControl(this.agent.identity, {
      kind: "malice",
      subject,
      evidence,
    } as ControlBody, this.#now());
    this.#seen.add(frame.id);
    this.#flood(frame);
    this.agent.telemetry.emit("mesh.malice_report", {
      subject,
      reporter: this.fingerprint,
      applied: "sent",
      reason: `${evidence.length} signed claims`,
    }, { peer: subject });
  }

  readonly #rawClaims = new Map<string, string>();

  /**
   * A malice report lowers trust only as the rules allow: the reporter must
   * be trusted, the evidence must be the subject's own valid signatures, and
   * then two of its claims contradicting each other are proven malice
   * (`blacklisted`), one contradicting what this node accepted is a conflict.
   */
  async #maliceReport(reporter: string, subject: string, evidence: string[]): Promise<void> {
    const log = (applied: string, reason: string) =>
      this.agent.telemetry.emit("mesh.malice_report", { subject, reporter, applied, reason }, {
        severity: applied === "none" ? "info" : "warn",
        peer: subject,
      });
    if (subject === this.fingerprint) return log("none", "about this node");
    if (this.agent.router.trust.peer(reporter) !== "trusted") {
      return log("none", `reporter is ${this.agent.router.trust.peer(reporter)}, not trusted`);
    }
    const facts: Knowable[] = [];
    for (const text of evidence.slice(0, 8)) {
      try {
        const env = await verifyEnvelope(text, {
          expectedSender: subject,
          expectedReceiver: reporter,
          maxSkewMs: Number.MAX_SAFE_INTEGER,
        });
        if (env.type !== "FACT_PROPOSE") continue;
        const p = env.payload as FactProposePayload;
        const s = factSubject(p.fact);
        facts.push({
          id: env.msg_id,
          fact: p.fact,
          subject: s?.subject,
          valueCanon: s?.valueCanon,
          contradicts: causalLinksOf(env.msg_id, p.causal_links ?? [])
            .filter((l) => l.relation === "contradicts").map((l) => l.ref),
        });
      } catch {
        return log("none", "evidence does not verify against the subject's key");
      }
    }
    let event: CipTrustEventType | undefined;
    if (facts.some((a, i) => facts.slice(i + 1).some((b) => conflicts(a, b)))) {
      event = "proven_malice";
    } else if (
      facts.some((f) =>
        f.subject !== undefined &&
        this.agent.store.causalFactsAbout(f.fact.domain, f.subject).some((c) =>
          conflicts(f, { ...c, contradicts: [] })
        )
      )
    ) event = "conflict";
    if (event === undefined) return log("none", "evidence shows no contradiction");
    const batch = new TrustBatch(this.agent.router.trust, this.#now());
    batch.apply("cip", subject, {
      type: event,
      evidence: facts.map((f) => f.id),
      note: `malice report by ${reporter}`,
    });
    // The router renders the committed trust-log entries (`trust.transition`).
    await this.agent.router.apply(outcome("handled", { changes: batch.changes }), {
      peer: subject,
    });
    log(event, `${facts.length} signed claims verified`);
  }

  // ---- links --------------------------------------------------------------

  #onEvent(e: { kind: string; peer?: string | null; data: unknown }): void {
    if (this.#waiters.size > 0) queueMicrotask(() => this.#wake());
    const peer = e.peer ?? undefined;
    switch (e.kind) {
      case "rtt.connection_lost":
        if (peer !== undefined) this.#down.add(peer);
        break;
      case "rtt.session_open":
      case "agent.peer_connected":
        if (peer !== undefined) this.#down.delete(peer);
        break;
      case "agent.peer_disconnected":
        if (peer !== undefined) this.#down.add(peer);
        break;
      case "trust.transition":
        break;
      case "cip.error_received": {
        const d = e.data as { in_reply_to: string; code: string };
        if (d.code === "unknown_fact") this.#voteRefused(d.in_reply_to);
        return;
      }
      case "router.dispatched": {
        // The acceptor's side of a handshake is verified once VERIFY is dispatched.
        const type = (e.data as { type?: string }).type;
        if (type !== "VERIFY" && type !== "HELLO") return;
        break;
      }
      default:
        return;
    }
    if (this.#refreshQueued) return;
    this.#refreshQueued = true;
    queueMicrotask(() => {
      this.#refreshQueued = false;
      this.#track(this.#advertise());
    });
  }

  /** Advertisements are made one at a time, so a newer one is never overtaken by an older one. */
  #advertise(): Promise<void> {
    const next = this.#advertising.then(() => this.#advertiseNow());
    this.#advertising = next.catch(() => {});
    return next;
  }

  #advertising: Promise<void> = Promise.resolve();

  async #advertiseNow(): Promise<void> {
    if (this.agent.stopped || this.#stopping) return;
    const neighbours = this.#liveNeighbours().sort();
    const key = neighbours.join(",");
    if (key === this.#lastNeighbours && this.#seq > 0) return;
    this.#lastNeighbours = key;
    this.#seq = Math.max(this.#now(), this.#seq + 1);
    this.#table.update(this.fingerprint, this.#seq, neighbours);
    const frame = await signControl(this.agent.identity, {
      kind: "links",
      seq: this.#seq,
      neighbours,
    }, this.#now());
    this.#seen.add(frame.id);
    this.#adverts.set(this.fingerprint, frame);
    this.agent.telemetry.emit("mesh.links", { neighbours: neighbours.length, seq: this.#seq }, {});
    // New neighbours learn the whole table; everyone learns this node's links.
    for (const fp of neighbours) {
      for (const ad of this.#adverts.values()) {
        this.agent.sendFrame(fp, "control", encodeFrame(ad)).catch(() => {});
      }
    }
    this.sweep();
  }
}
