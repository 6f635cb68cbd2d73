/**
 * The AgentLoop: an {@linkcode Agent} composes an identity, a transport (an
 * instance or a typed factory), the store, trust, the three protocol runtimes, the
 * ProtocolRouter and telemetry, and runs the cognitive cycle: every inbound
 * message of every session goes through `router.dispatch`, its replies go
 * back on their channels, and the loop's hooks, presence, intent
 * propagation and mission-drift detection follow from the results.
 *
 * @module
 */

import { CipRuntime, type CipRuntimeOptions } from "../cip/mod.ts";
import type { FactProposePayload, HumanState, IntentPayload } from "../envelope/mod.ts";
import { HcpRuntime, type HcpRuntimeOptions, NEUTRAL_HUMAN_STATE } from "../hcp/mod.ts";
import type { Identity } from "../identity/mod.ts";
import {
  claimId,
  evidenceFromDocument,
  type FetchedDocument,
  HttpFetcher,
  type LipFetcher,
  LipFetchError,
  LipRuntime,
  type LipRuntimeOptions,
} from "../lip/mod.ts";
import {
  createTelemetry,
  type EventSink,
  type MetricsMirror,
  MetricsRegistry,
  type StampingTelemetry,
  type Web4Event,
} from "../observability/mod.ts";
import { type DispatchResult, type OutboundEnvelope, ProtocolRouter } from "../router/mod.ts";
import {
  type Effect,
  type FetchRequest,
  type LocalLoad,
  newMsgId,
  type Outcome,
  outcome,
  type ReplySpec,
} from "../runtime/mod.ts";
import { rtt } from "../rtt/mod.ts";
import { openStore, type Store, type TrustLogEntry } from "../store/mod.ts";
import {
  resolveTransport,
  type Transport,
  type TransportAddress,
  type TransportEvent,
  type TransportSession,
  type TransportSource,
} from "../transport/mod.ts";
import { DriftDetector, type DriftOptions } from "./drift.ts";
import { AgentError } from "./errors.ts";
import { type ChannelKind, type LinkHandlers, SessionLink } from "./link.ts";
import { type LoadSource, presenceOf, systemLoadSource } from "./load.ts";

/** The goals of a CIP `INTENT`. */
export type CipGoal = IntentPayload["goal"];
/** An intent's priority. */
export type Priority = IntentPayload["priority"];

/** Options of {@linkcode Agent.create}. */
export interface AgentOptions {
  /** The agent's identity: TLS certificate key and envelope signer. */
  identity: Identity;
  /** The declared mission, in words (mission drift is scored against it). */
  mission: string;
  /** The store, or the path of its SQLite file (`":memory:"` for none); a path is opened and closed by the agent. */
  store: string | Store;
  /** The enrolled person's fingerprint (HCP is accepted only from it). */
  person?: string | undefined;
  /** Peers the owner declares trusted from the start. @default {[]} */
  trustAnchors?: readonly string[] | undefined;
  /**
   * The transport: a factory (`rtt(options)`, `memory({ network })`, your
   * own), which the agent calls with its identity and shuts down when it
   * stops; or a `Transport` instance for this identity, which stays yours:
   * the agent closes its sessions and stops accepting, and you shut the
   * transport down after the agent stopped. @default {rtt()}
   */
  transport?: TransportSource | undefined;
  /** Where the machine's load is read. @default {systemLoadSource()} */
  load?: LoadSource | undefined;
  /** How often load is read (and a changed presence sent); 0 reads it only on {@linkcode Agent.refreshLoad}. @default {1000} */
  loadIntervalMs?: number | undefined;
  /** Least lri change peers are told of (a presence change is always told). @default {5} */
  lriStep?: number | undefined;
  /** Inbound messages that count as a full queue (lri 100). @default {256} */
  queueCapacity?: number | undefined;
  /** Event sinks (console, file, memory). @default {[]} */
  sinks?: readonly EventSink[] | undefined;
  /** Mirror of every metric sample (e.g. `otelMirror()`). */
  metricsMirror?: MetricsMirror | undefined;
  /** Lifecycle hooks, also addable with {@linkcode Agent.on}. */
  hooks?: Partial<AgentHooks> | undefined;
  /** Mission-drift window and threshold. */
  drift?: DriftOptions | undefined;
  /** Which peers a person's consented intent goes to. @default {every verified peer that is probing or trusted} */
  relevantPeers?: ((intent: AgentIntent, peers: readonly PeerInfo[]) => string[]) | undefined;
  /** The LIP fetcher. @default {new HttpFetcher()} */
  fetcher?: LipFetcher | undefined;
  /** CIP runtime options. */
  cip?: CipRuntimeOptions | undefined;
  /** HCP runtime options. */
  hcp?: HcpRuntimeOptions | undefined;
  /** LIP runtime options. */
  lip?: LipRuntimeOptions | undefined;
  /** How long `connect` waits for the CIP handshake. @default {10000} */
  handshakeTimeoutMs?: number | undefined;
  /** The clock in ms. @default {Date.now} */
  now?: (() => number) | undefined;
  /** Aborting it stops the agent. */
  signal?: AbortSignal | undefined;
}

/**
 * A relay for peers the agent has no session with (the mesh, `lib/mesh/`,
 * attaches one with {@linkcode Agent.setRelay}). The agent never imports it:
 * it only asks it to claim frames that are not envelopes, to say whether a
 * peer is reachable, and to carry signed envelopes to such a peer.
 */
export interface AgentRelay {
  /**
   * Offered every inbound frame from a session before the router sees it;
   * `true` claims it (a relay frame: the relay forwards it or hands the inner
   * envelope back with {@linkcode Agent.deliverRelayed}).
   */
  frame(bytes: Uint8Array, from: { peer: string; session: string; channel: ChannelKind }): boolean;
  /** Whether `fp`, with no session to it, can be reached through the relay. */
  reachable(fp: string): boolean;
  /** Carries signed envelopes to `fp` (no session to it); `false` when it cannot. */
  send(fp: string, out: readonly OutboundEnvelope[]): Promise<boolean>;
}

/** One cognitive cycle: one inbound message. */
export interface CycleInfo {
  /** The cycle number, from 1. */
  cycle: number;
  /** The authenticated peer the message came from. */
  peer: string;
  /** The channel it arrived on. */
  channel: ChannelKind;
}

/** An intent reaching the agent loop. */
export interface AgentIntent {
  /** `peer`: a CIP INTENT from an agent; `person`: the person's consented HCP_INTENT. */
  source: "peer" | "person";
  /** Who sent it. */
  from: string;
  /** Its msg_id. */
  msgId: string;
  /** The goal (CIP or HCP vocabulary). */
  goal: string;
  /** The topic. */
  topic: string;
  /** The priority. */
  priority: Priority;
  /** Free-form context (CIP only). */
  context?: unknown;
  /** What the agent answered (CIP only). */
  decision?: "accept" | "defer" | undefined;
}

/** A claim changing state in the ledger or the LIP queue. */
export interface AgentFact {
  /** `cip` (claim ledger) or `lip` (deferred-acceptance queue). */
  origin: "cip" | "lip";
  /** The claim id. */
  claim: string;
  /** Its new status. */
  status: string;
  /** Why. */
  reason: string;
}

/** The cognitive-cycle hooks. A throwing hook is reported (`agent.hook_error`) and never breaks the loop. */
export interface AgentHooks {
  /** Before each cycle. */
  beforeCycle(info: CycleInfo): void;
  /** After each cycle, with the dispatch result. */
  afterCycle(info: CycleInfo, result: DispatchResult): void;
  /** An intent reached the loop (a peer's INTENT, or the person's consented HCP_INTENT). */
  intent(intent: AgentIntent): void;
  /** A claim changed state (pending, accepted, disputed, rejected). */
  fact(fact: AgentFact): void;
  /** The person's human-state vector arrived. */
  humanState(person: string, human: HumanState): void;
  /** A trust transition (peer or person), as it was logged. */
  trustChange(transition: TrustLogEntry): void;
}

/** What the agent knows of a connected peer. */
export interface PeerInfo {
  /** The peer's fingerprint. */
  fingerprint: string;
  /** Its agent id (from its envelopes; `"peer"` until one arrived). */
  agentId: string;
  /** Its CIP trust as we see it. */
  trust: string;
  /** Whether the CIP handshake completed. */
  verified: boolean;
  /** Whether this is our enrolled person. */
  person: boolean;
}

/** The result of sending one CIP message to one peer. */
export interface SendResult {
  /** The peer. */
  peer: string;
  /** `sent`, or `deferred`/`refused` by the runtime (nothing sent). */
  status: "sent" | "deferred" | "refused";
  /** The msg_id sent. */
  msgId?: string | undefined;
  /** Why it was not sent. */
  code?: string | undefined;
}

/** A DMP trace for a fact or decision. */
export interface Trace {
  /** The decision id (UUID). @default {a fresh one} */
  decision_id?: string | undefined;
  /** How the agent got there (at least one step). */
  steps: string[];
  /** What supports it. */
  evidence: string[];
  /** What else was considered. */
  counterfactuals?: string[] | undefined;
}

/** The name of a cognitive-cycle hook. */
export type AgentHookName = keyof AgentHooks;

/** Maps a person's HCP goal to the CIP goal of the intent propagated to peers. */
export const HCP_TO_CIP_GOAL: Readonly<Record<string, CipGoal>> = Object.freeze({
  align: "ask",
  request: "ask",
  clarify: "ask",
  decide: "propose_solution",
  resolve_conflict: "verify_knowledge",
});

/**
 * An agent: transport + router + runtimes + store + telemetry, with its
 * cognitive loop. Build it with {@linkcode Agent.create}; stop it with
 * {@linkcode Agent.stop}, `await using`, or the `signal`.
 *
 * @example Two agents and a person on the in-memory transport
 * ```ts
 * import { Agent, FixedLoadSource, HcpClient } from "./mod.ts";
 * import { Identity } from "../identity/mod.ts";
 * import { memory, MemoryNetwork } from "../rtt/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const network = new MemoryNetwork();
 * const [ia, ib, ada] = await Promise.all(
 *   ["a", "b", "ada"].map((agentId) => Identity.generate({ agentId })),
 * );
 * const common = {
 *   mission: "verify water quality facts",
 *   store: ":memory:",
 *   transport: memory({ network }),
 *   load: new FixedLoadSource({ cpu: 0.1 }),
 *   loadIntervalMs: 0,
 * };
 * await using a = await Agent.create({ ...common, identity: ia!, person: ada!.fingerprint });
 * await using b = await Agent.create({ ...common, identity: ib!, trustAnchors: [ia!.fingerprint] });
 * const bAddr = await b.listen({ hostname: "b", port: 1 });
 * const peer = await a.connect({ ...bAddr, fingerprint: ib!.fingerprint }); // RTT, then HELLO/HELLO/VERIFY
 * assert.equal(peer.verified, true);
 *
 * // The person speaks HCP to a; her consented intent reaches b's loop as a CIP INTENT.
 * await using me = await HcpClient.create({ identity: ada!, name: "Ada", transport: memory({ network }) });
 * const aAddr = await a.listen({ hostname: "a", port: 1 });
 * await me.connect({ ...aAddr, fingerprint: ia!.fingerprint });
 * const atB = b.nextEvent("agent.intent");
 * await me.intent({ goal: "request", topic: "topic:water" });
 * assert.equal((await atB).data.topic, "topic:water");
 * ```
 */
export class Agent implements AsyncDisposable {
  /** The agent's identity. */
  readonly identity: Identity;
  /** The declared mission. */
  readonly mission: string;
  /** The router (its `store` and `trust` are the agent's). */
  readonly router: ProtocolRouter;
  /** The store. */
  readonly store: Store;
  /** The telemetry every layer of this agent reports to. */
  readonly telemetry: StampingTelemetry;
  /** Counters, gauges and histograms (p50/p95/p99, Prometheus text). */
  readonly metrics: MetricsRegistry;
  /** The transport. */
  readonly transport: Transport;
  /** The CIP runtime. */
  readonly cip: CipRuntime;
  /** The HCP runtime. */
  readonly hcp: HcpRuntime;
  /** The LIP runtime. */
  readonly lip: LipRuntime;
  /** The enrolled person, if any. */
  readonly person: string | undefined;

  readonly #ownsStore: boolean;
  readonly #ownsTransport: boolean;
  readonly #loadSource: LoadSource;
  readonly #queueCapacity: number;
  readonly #hooks = new Map<AgentHookName, Set<(...args: never[]) => void>>();
  readonly #drift: DriftDetector;
  readonly #relevant: AgentOptions["relevantPeers"];
  readonly #fetcher: LipFetcher;
  readonly #handshakeTimeoutMs: number;
  readonly #now: () => number;
  readonly #links = new Map<string, SessionLink>();
  readonly #allLinks = new Set<SessionLink>();
  readonly #names = new Map<string, string>();
  readonly #announced = new Set<string>();
  readonly #queue: {
    bytes: Uint8Array;
    link: SessionLink;
    channel: ChannelKind;
    origin?: string | undefined;
  }[] = [];
  #relay: AgentRelay | undefined;
  readonly #waiters = new Set<{ check: () => boolean; resolve: () => void }>();
  readonly #eventWaiters = new Set<
    { match: (e: Web4Event) => boolean; resolve: (e: Web4Event) => void }
  >();
  readonly #abort = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #replays = new Map<string, { count: number; lastMs: number }>();
  #pumping: Promise<void> | undefined;
  #running = false;
  #cycle = 0;
  #openIntents = 0;
  #load: LocalLoad = { presence: "diffuse", lri: 0 };
  #sentLoad: LocalLoad;
  readonly #lriStep: number;
  #loadTimer: ReturnType<typeof setInterval> | undefined;
  #accepting: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  #unobserve: () => void = () => {};

  private constructor(
    options: AgentOptions,
    store: Store,
    ownsStore: boolean,
    transport: Transport,
    ownsTransport: boolean,
  ) {
    this.identity = options.identity;
    this.mission = options.mission;
    this.store = store;
    this.#ownsStore = ownsStore;
    this.transport = transport;
    this.#ownsTransport = ownsTransport;
    this.person = options.person;
    this.#now = options.now ?? Date.now;
    this.#loadSource = options.load ?? systemLoadSource();
    this.#queueCapacity = options.queueCapacity ?? 256;
    this.#drift = new DriftDetector(options.mission, options.drift);
    this.#relevant = options.relevantPeers;
    this.#fetcher = options.fetcher ?? new HttpFetcher();
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.#lriStep = options.lriStep ?? 5;
    this.metrics = new MetricsRegistry(
      options.metricsMirror === undefined ? {} : { mirror: options.metricsMirror },
    );
    const tap: EventSink = { write: (e) => this.#onEvent(e) };
    this.telemetry = createTelemetry({
      node: options.identity.agentId,
      sinks: [...(options.sinks ?? []), tap],
      metrics: this.metrics,
      now: this.#now,
    });
    this.cip = new CipRuntime(options.cip);
    this.hcp = new HcpRuntime(options.hcp);
    this.lip = new LipRuntime(options.lip);
    for (const [name, fn] of Object.entries(options.hooks ?? {})) {
      this.on(name as AgentHookName, fn as never);
    }
    this.#load = this.#readLoad();
    this.#sentLoad = this.#load;
    this.router = new ProtocolRouter({
      identity: options.identity,
      store,
      runtimes: [this.cip, this.hcp, this.lip],
      capabilities: ["state_exchange", "knowledge_exchange", "dmp_trace"],
      trust: { anchors: [...(options.trustAnchors ?? [])] },
      config: options.person === undefined ? {} : { person: options.person },
      now: this.#now,
      load: () => this.#load,
      telemetry: this.telemetry,
    });
  }

  /**
   * Creates an agent: opens the store (when given a path), creates the
   * transport (when given a factory), builds the router with the CIP, HCP and LIP
   * runtimes, declares the anchors, and starts the load timer. Call
   * {@linkcode Agent.listen} to accept sessions.
   *
   * @param options Identity, mission, store, person, anchors, transport, load, sinks, hooks.
   * @returns The running agent.
   * @throws {TypeError} For a missing identity, an empty mission, or a transport that is neither a `Transport` nor a factory.
   * @throws {RangeError} For a transport that does not authenticate as the identity.
   */
  static async create(options: AgentOptions): Promise<Agent> {
    if (options?.identity === undefined) throw new TypeError("Agent.create needs an identity");
    if (typeof options.mission !== "string" || options.mission.trim() === "") {
      throw new TypeError(
        `Agent mission must be a non-empty string, got ${JSON.stringify(options.mission)}`,
      );
    }
    const owns = typeof options.store === "string";
    const store = typeof options.store === "string" ? openStore(options.store) : options.store;
    let resolved;
    try {
      resolved = await resolveTransport(options.transport ?? rtt(), { identity: options.identity });
    } catch (err) {
      if (owns) store[Symbol.dispose]();
      throw err;
    }
    const agent = new Agent(options, store, owns, resolved.transport, resolved.owned);
    agent.#start(options);
    return agent;
  }

  #start(options: AgentOptions): void {
    this.#unobserve = this.transport.onEvent((e) => this.#bridge(e));
    const interval = options.loadIntervalMs ?? 1000;
    if (interval > 0) this.#loadTimer = setInterval(() => this.refreshLoad(), interval);
    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) void this.stop();
      else {signal.addEventListener("abort", () => void this.stop(), {
          once: true,
          signal: this.#abort.signal,
        });}
    }
    this.telemetry.emit("agent.started", {
      agent_id: this.identity.agentId,
      mission: this.mission,
      transport: this.transport.backend,
      person: this.person ?? null,
    });
  }

  /** This agent's fingerprint. */
  get fingerprint(): string {
    return this.identity.fingerprint;
  }

  /** This agent's current presence and lri. */
  get load(): LocalLoad {
    return { ...this.#load };
  }

  /** Whether the agent was stopped. */
  get stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  // ---- hooks --------------------------------------------------------------

  /**
   * Adds a hook. Hooks run synchronously in the loop; a throwing hook is
   * reported as `agent.hook_error` and the loop goes on.
   *
   * @param name `beforeCycle`, `afterCycle`, `intent`, `fact`, `humanState` or `trustChange`.
   * @param fn The hook.
   * @returns Its unregister function.
   */
  on<K extends AgentHookName>(name: K, fn: AgentHooks[K]): () => void {
    let set = this.#hooks.get(name);
    if (set === undefined) this.#hooks.set(name, set = new Set());
    set.add(fn as never);
    return () => set.delete(fn as never);
  }

  #call<K extends AgentHookName>(name: K, ...args: Parameters<AgentHooks[K]>): void {
    for (const fn of this.#hooks.get(name) ?? []) {
      try {
        (fn as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.telemetry.emit("agent.hook_error", {
          hook: name,
          error: err instanceof Error ? err.message : String(err),
        }, { severity: "error" });
      }
    }
  }

  // ---- sessions -----------------------------------------------------------

  /**
   * Listens for sessions (agents and the person) and accepts them in the
   * background.
   *
   * @param address Where to listen. @default {{ hostname: "127.0.0.1", port: 0 }}
   * @returns The bound address.
   */
  async listen(
    address: TransportAddress = { hostname: "127.0.0.1", port: 0 },
  ): Promise<TransportAddress> {
    this.#assertRunning();
    const bound = await this.transport.listen(address);
    this.#accepting ??= this.#acceptLoop();
    this.telemetry.emit("agent.listening", { hostname: bound.hostname, port: bound.port });
    return bound;
  }

  async #acceptLoop(): Promise<void> {
    while (!this.stopped) {
      let session: TransportSession;
      try {
        session = await this.transport.accept({ signal: this.#abort.signal });
      } catch {
        return;
      }
      this.#track(this.#adopt(session, session.peerFingerprint).catch(() => {}));
    }
  }

  /**
   * Connects to an agent: the transport session (pinned to `fingerprint`),
   * then the CIP handshake (HELLO, HELLO, VERIFY) through the router, then
   * the first STATE_UPDATE. With a session to that peer already open, only
   * the handshake is (re)checked. When both agents dial at once, the session
   * dialled by the lower fingerprint survives; the other closes (`duplicate`).
   *
   * @param options Host, port, the peer's fingerprint, its agent id if known, a signal.
   * @returns The peer as the agent sees it once the handshake is verified.
   * @throws {AgentError} `HANDSHAKE_FAILED` (refused or timed out), `STOPPED`.
   */
  async connect(
    options: TransportAddress & { fingerprint: string; agentId?: string; signal?: AbortSignal },
  ): Promise<PeerInfo> {
    this.#assertRunning();
    const fp = options.fingerprint;
    if (options.agentId !== undefined) this.#names.set(fp, options.agentId);
    const fresh = !this.#links.get(fp)?.open;
    if (fresh) {
      const session = await this.transport.connect({
        hostname: options.hostname,
        port: options.port,
        fingerprint: fp,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      await this.#adopt(session, this.fingerprint);
    }
    // A new session gets a new handshake; a verified one from an earlier session does not count.
    if (fresh || this.store.handshake(fp)?.stage !== "verified") {
      await this.#handshake(fp, options.signal);
    }
    this.#markVerified(fp);
    return this.peer(fp)!;
  }

  /**
   * Runs the CIP handshake (HELLO, HELLO, VERIFY) with a peer the agent has
   * no session with, through the attached relay (the mesh): the envelopes are
   * signed end to end, so the peer is verified by its own key, not by the
   * relays.
   *
   * @param fp The peer's fingerprint.
   * @param options Its agent id if known, a signal.
   * @throws {AgentError} `NOT_CONNECTED` (no session and no route), `HANDSHAKE_FAILED`, `STOPPED`.
   */
  async handshakeVia(
    fp: string,
    options: { agentId?: string; signal?: AbortSignal } = {},
  ): Promise<void> {
    this.#assertRunning();
    if (options.agentId !== undefined) this.#names.set(fp, options.agentId);
    if (this.#relay?.reachable(fp) !== true) {
      throw new AgentError("NOT_CONNECTED", `No session and no relay route to ${fp}`);
    }
    if (this.store.handshake(fp)?.stage !== "verified") await this.#handshake(fp, options.signal);
    this.#markVerified(fp);
  }

  /**
   * Hands back the inner envelope of a relay frame addressed to this agent:
   * it joins the one inbound queue and is dispatched with the origin as the
   * signer and the delivering session's peer as the relay
   * (`router.dispatch(bytes, { peer: origin, relay })`).
   *
   * @param bytes The inner envelope.
   * @param origin Its origin (the fingerprint that must have signed it).
   * @param from The session's peer that delivered the frame and the channel.
   */
  deliverRelayed(
    bytes: Uint8Array,
    origin: string,
    from: { peer: string; channel: ChannelKind },
  ): void {
    const link = this.#links.get(from.peer);
    if (link === undefined) return;
    this.#enqueue(bytes, link, from.channel, origin);
  }

  /**
   * Sends raw bytes (a relay frame) on a session's channel.
   *
   * @param fp The peer with a session.
   * @param channel The channel kind.
   * @param bytes The frame.
   * @throws {AgentError} `NOT_CONNECTED` without an open session.
   */
  async sendFrame(fp: string, channel: ChannelKind, bytes: Uint8Array): Promise<void> {
    const link = this.#links.get(fp);
    if (link === undefined || !link.open) {
      throw new AgentError("NOT_CONNECTED", `No open session to ${fp}`);
    }
    await link.send(channel, bytes);
  }

  /**
   * Attaches (or, with `undefined`, detaches) the relay for peers without a session.
   *
   * @param relay The relay (the mesh).
   */
  setRelay(relay: AgentRelay | undefined): void {
    this.#relay = relay;
  }

  async #handshake(fp: string, signal: AbortSignal | undefined): Promise<void> {
    const opened = this.cip.open(this.#receiver(fp), this.router.context(fp));
    if (opened.status === "refused") {
      throw new AgentError(
        "HANDSHAKE_FAILED",
        `CIP handshake with ${fp} refused: ${opened.reason}`,
      );
    }
    await this.#send(fp, await this.#apply(opened, { peer: fp }));
    try {
      await this.#until(
        () => this.store.handshake(fp)?.stage === "verified",
        this.#handshakeTimeoutMs,
        signal,
      );
    } catch (err) {
      throw new AgentError(
        "HANDSHAKE_FAILED",
        `CIP handshake with ${fp} did not complete: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async #adopt(session: TransportSession, dialer: string): Promise<void> {
    const handlers: LinkHandlers = {
      message: (bytes, link, channel) => this.#enqueue(bytes, link, channel),
      ended: (link) => this.#ended(link),
    };
    const link = await SessionLink.open(session, dialer, handlers, this.telemetry);
    this.#allLinks.add(link);
    const peer = session.peerFingerprint;
    const current = this.#links.get(peer);
    if (current !== undefined && current.open && current.session.id !== session.id) {
      // One session per pair: the one dialled by the lower fingerprint survives.
      const lower = this.fingerprint < peer ? this.fingerprint : peer;
      const [keep, drop] = link.dialer === lower && current.dialer !== lower
        ? [link, current]
        : current.dialer === lower && link.dialer !== lower
        ? [current, link]
        : [link, current]; // same dialer: the fresh session replaces the old
      this.#links.set(peer, keep);
      this.telemetry.emit("agent.session_duplicate", {
        kept: keep.session.id,
        closed: drop.session.id,
        reason: "duplicate",
      }, { peer, session: drop.session.id });
      this.#track(drop.close());
      return;
    }
    this.#links.set(peer, link);
    this.telemetry.emit("agent.peer_connected", {
      dialer: dialer === this.fingerprint ? "self" : "peer",
      person: peer === this.person,
    }, { peer, session: session.id });
  }

  #ended(link: SessionLink): void {
    this.#allLinks.delete(link);
    if (this.#links.get(link.peer) === link) {
      this.#links.delete(link.peer);
      this.#announced.delete(link.peer);
      this.telemetry.emit("agent.peer_disconnected", {
        reason: link.session.closeReason ?? "closed",
      }, { peer: link.peer, session: link.session.id });
    }
  }

  /**
   * The peers with an open session.
   *
   * @returns What the agent knows of each.
   */
  peers(): PeerInfo[] {
    return [...this.#links.keys()].map((fp) => this.peer(fp)!).filter((p) => p !== undefined);
  }

  /**
   * One peer as the agent sees it.
   *
   * @param fingerprint The peer.
   * @returns Its info, or `undefined` without an open session.
   */
  peer(fingerprint: string): PeerInfo | undefined {
    if (!this.#links.has(fingerprint)) return undefined;
    return {
      fingerprint,
      agentId: this.#names.get(fingerprint) ?? "peer",
      trust: this.router.trust.peer(fingerprint),
      verified: this.store.handshake(fingerprint)?.stage === "verified",
      person: fingerprint === this.person,
    };
  }

  // ---- the loop -----------------------------------------------------------

  #enqueue(bytes: Uint8Array, link: SessionLink, channel: ChannelKind, origin?: string): void {
    if (this.stopped) return;
    this.#queue.push({ bytes, link, channel, origin });
    this.metrics.gauge("agent_queue_depth", this.#queue.length, {});
    if (!this.#running) {
      this.#running = true;
      this.#pumping = this.#pump();
    }
  }

  async #pump(): Promise<void> {
    for (;;) {
      // Checked and cleared in one step with no await in between, so a message
      // enqueued while the pump finishes is never left behind.
      if (this.#queue.length === 0 || this.stopped) {
        this.#running = false;
        return;
      }
      const item = this.#queue.shift()!;
      try {
        await this.#cycleOnce(item.bytes, item.link, item.channel, item.origin);
      } catch (err) {
        this.telemetry.emit("agent.error", {
          where: "cycle",
          error: err instanceof Error ? err.message : String(err),
        }, { severity: "error", peer: item.link.peer });
      }
    }
  }

  async #cycleOnce(
    bytes: Uint8Array,
    link: SessionLink,
    channel: ChannelKind,
    origin?: string,
  ): Promise<void> {
    if (
      origin === undefined &&
      this.#relay?.frame(bytes, { peer: link.peer, session: link.session.id, channel }) === true
    ) return;
    // A relayed envelope is signed by its origin; the session's peer only carried it.
    const peer = origin ?? link.peer;
    const info: CycleInfo = { cycle: ++this.#cycle, peer, channel };
    this.#call("beforeCycle", info);
    const result = await this.router.dispatch(bytes, {
      peer,
      session: link.session.id,
      ...(origin === undefined ? {} : { relay: link.peer }),
    });
    if (result.envelope !== undefined) this.#names.set(peer, result.envelope.sender.agent_id);
    this.#committed(result.effects);
    await this.#send(peer, result.replies);
    for (const effect of result.effects) {
      if (effect.type === "trustChanged" && effect.entry.changed) {
        this.#call("trustChange", effect.entry);
      }
    }
    for (const effect of result.effects) {
      switch (effect.type) {
        case "intentReceived":
          this.#intentReached({
            source: "peer",
            from: peer,
            msgId: effect.msgId,
            goal: effect.goal,
            topic: effect.topic,
            priority: effect.priority,
            context: effect.context,
            decision: effect.decision,
          });
          break;
        case "humanState":
          this.#call("humanState", peer, effect.human);
          break;
        case "deliver": {
          const d = effect.delivery;
          if (d.kind !== "intent") break;
          const intent: AgentIntent = {
            source: "person",
            from: peer,
            msgId: d.msgId,
            goal: d.goal,
            topic: d.topic,
            priority: d.priority,
          };
          this.#intentReached(intent);
          await this.#propagate(intent);
          break;
        }
        case "fetch":
          this.#track(this.#runFetch(effect.request, peer));
          break;
      }
    }
    if (this.store.handshake(peer)?.stage === "verified" && !this.#announced.has(peer)) {
      this.#markVerified(peer);
    }
    this.#wake();
    this.#call("afterCycle", info, result);
  }

  /** Commits an outcome through the router; reports its committed effects; returns its replies. */
  async #apply(o: Outcome, to: { peer: string }): Promise<OutboundEnvelope[]> {
    const applied = await this.router.apply(o, to);
    this.#committed(applied.effects);
    return applied.replies;
  }

  /** The hooks fed by committed effects wherever they came from (a dispatch or an apply). */
  #committed(effects: readonly Effect[]): void {
    for (const effect of effects) {
      if (effect.type !== "claimChanged") continue;
      this.#call("fact", {
        origin: effect.origin,
        claim: effect.claim,
        status: effect.status,
        reason: effect.reason,
      });
    }
  }

  #intentReached(intent: AgentIntent): void {
    this.telemetry.emit("agent.intent", {
      source: intent.source,
      goal: intent.goal,
      topic: intent.topic,
      priority: intent.priority,
      decision: intent.decision ?? null,
    }, { peer: intent.from });
    this.#call("intent", intent);
    this.#observeDrift(intent.topic);
  }

  #observeDrift(topic: string): void {
    const v = this.#drift.observe(topic);
    this.metrics.gauge("agent_mission_alignment", v.score, {});
    if (v.entered) {
      this.telemetry.emit("agent.mission_drift", {
        score: v.score,
        samples: v.samples,
        mission: this.mission,
        last_topic: topic,
      }, { severity: "warn" });
    }
  }

  /** A person's consented intent becomes a CIP INTENT to the relevant peers. */
  async #propagate(intent: AgentIntent): Promise<void> {
    const candidates = this.peers().filter((p) =>
      !p.person && p.verified && (p.trust === "probing" || p.trust === "trusted")
    );
    const targets = this.#relevant === undefined
      ? candidates.map((p) => p.fingerprint)
      : this.#relevant(intent, candidates);
    const results = await this.declareIntent({
      goal: HCP_TO_CIP_GOAL[intent.goal] ?? "ask",
      topic: intent.topic,
      priority: intent.priority,
      context: { on_behalf_of: "person", hcp_msg_id: intent.msgId },
    }, { to: targets, observe: false });
    this.telemetry.emit("agent.intent_propagated", {
      hcp_msg_id: intent.msgId,
      topic: intent.topic,
      sent: results.filter((r) => r.status === "sent").map((r) => r.peer),
      deferred: results.filter((r) => r.status !== "sent").map((r) => r.peer),
    });
  }

  // ---- presence -----------------------------------------------------------

  #readLoad(): LocalLoad {
    return presenceOf(this.#loadSource.read(), {
      queueDepth: this.#queue.length,
      queueCapacity: this.#queueCapacity,
      openIntents: this.#openIntents,
    });
  }

  /**
   * Reads the load source now and, when presence changed or lri moved by at
   * least `lriStep` since peers were last told, sends a STATE_UPDATE to
   * every verified peer (the load timer calls this).
   *
   * @returns The sends' completion.
   */
  async refreshLoad(): Promise<void> {
    if (this.stopped) return;
    const next = this.#readLoad();
    const prev = this.#sentLoad;
    this.#load = next; // local decisions always use the latest reading
    this.metrics.gauge("agent_lri", next.lri, {});
    // Peers hear of a change of presence, or of lri by at least `lriStep`.
    if (prev.presence === next.presence && Math.abs(prev.lri - next.lri) < this.#lriStep) return;
    this.#sentLoad = next;
    this.telemetry.emit("agent.presence", {
      presence: next.presence,
      lri: next.lri,
      previous: prev.presence,
    });
    const sends = [...this.#announced].map((fp) => this.#stateUpdate(fp).catch(() => {}));
    const all = Promise.all(sends);
    this.#track(all);
    await all;
  }

  /**
   * A verified peer gets our STATE_UPDATEs from now on (the first one, handshake
   * step 5, is the CIP runtime's reply at verification).
   */
  #markVerified(fp: string): void {
    if (fp !== this.person) this.#announced.add(fp);
  }

  async #stateUpdate(fp: string): Promise<void> {
    const load = this.#load;
    const spec: ReplySpec = {
      protocol: "cip",
      type: "STATE_UPDATE",
      msg_id: newMsgId((n) => crypto.getRandomValues(new Uint8Array(n))),
      receiver: this.#receiver(fp),
      payload: { presence: load.presence, lri: load.lri, ltppeerstate: this.router.trust.peer(fp) },
      state: { presence: load.presence, lri: load.lri, kernel_signals: [] },
    };
    await this.#send(
      fp,
      await this.#apply(outcome("handled", { replies: [spec] }), { peer: fp }),
    );
  }

  // ---- what the agent starts ---------------------------------------------

  /**
   * Declares an intent to peers. An overloaded peer gets nothing: its result
   * is `deferred` (`peer_overloaded`); the answer (accept or defer) arrives
   * later as `cip.intent_answered`.
   *
   * @param intent Goal, topic, priority, context.
   * @param options `to`: the peers (default: every verified agent peer).
   * @returns One result per peer.
   */
  async declareIntent(
    intent: {
      goal: CipGoal;
      topic: string;
      priority?: Priority;
      context?: Record<string, unknown>;
    },
    options: { to?: readonly string[]; observe?: boolean } = {},
  ): Promise<SendResult[]> {
    this.#assertRunning();
    if (options.observe !== false) this.#observeDrift(intent.topic);
    const payload = {
      goal: intent.goal,
      topic: intent.topic,
      priority: intent.priority ?? "normal",
      ...(intent.context === undefined ? {} : { context: intent.context as never }),
    };
    return await this.#each(
      options.to,
      (fp) => this.cip.intent(this.#receiver(fp), payload, this.router.context(fp)),
    );
  }

  /**
   * Proposes a fact to peers (one signed copy each; each copy's msg_id is
   * the claim id in that peer's ledger).
   *
   * @param fact Statement, domain, confidence, sources, optional context `{ subject, value }`.
   * @param trace The DMP trace.
   * @param options `to` (default: every verified agent peer), `causal_links`.
   * @returns One result per peer (`msgId` = the claim id there).
   */
  async proposeFact(
    fact: FactProposePayload["fact"],
    trace: Trace,
    options: { to?: readonly string[]; causalLinks?: FactProposePayload["causal_links"] } = {},
  ): Promise<SendResult[]> {
    this.#assertRunning();
    const dmp = _dmpTrace(trace);
    return await this.#each(options.to, (fp) =>
      this.#outcomeOf("cip", "FACT_PROPOSE", fp, {
        fact,
        dmp_trace: dmp,
        ...(options.causalLinks === undefined ? {} : { causal_links: options.causalLinks }),
      }));
  }

  /**
   * Confirms (or rejects, or challenges) a claim in a peer's ledger.
   *
   * @param peer The peer holding the claim.
   * @param factRef The claim id there (the FACT_PROPOSE msg_id it received).
   * @param options `vote` (`confirm` default, `reject`, `challenge`), confidence, notes.
   * @returns The send result.
   */
  async vote(
    peer: string,
    factRef: string,
    options: { vote?: "confirm" | "reject" | "challenge"; confidence?: number; notes?: string } =
      {},
  ): Promise<SendResult> {
    this.#assertRunning();
    const vote = options.vote ?? "confirm";
    const notes = options.notes === undefined ? {} : { notes: options.notes };
    const [r] = await this.#each(
      [peer],
      (fp) =>
        vote === "challenge"
          ? this.#outcomeOf("cip", "FACT_CHALLENGE", fp, {
            fact_ref: factRef,
            reason: "conflict",
            ...notes,
          })
          : this.#outcomeOf("cip", vote === "confirm" ? "FACT_CONFIRM" : "FACT_REJECT", fp, {
            fact_ref: factRef,
            decision: vote,
            confidence: options.confidence ?? 0.9,
            ...notes,
          }),
    );
    return r!;
  }

  /**
   * Asks peers to verify a claim this agent holds: an INTENT `verify_knowledge`
   * whose context names the claim (`fact_ref`) and the fact, so a peer that
   * agrees can answer with {@linkcode Agent.vote}.
   *
   * @param claim The claim id in this agent's ledger.
   * @param options `to` (default: every verified agent peer but the proposer).
   * @returns One result per peer.
   * @throws {AgentError} `REFUSED` when the ledger has no such claim.
   */
  async askToVerify(
    claim: string,
    options: { to?: readonly string[] } = {},
  ): Promise<SendResult[]> {
    const record = this.store.claim(claim);
    if (record === undefined) throw new AgentError("REFUSED", `No claim ${claim} in the ledger`);
    const to = options.to ?? this.#agentPeers().filter((fp) => fp !== record.peer);
    return await this.declareIntent({
      goal: "verify_knowledge",
      topic: `fact:${record.fact.domain}`,
      context: { fact_ref: claim, proposer: record.peer, fact: record.fact as never },
    }, { to, observe: false });
  }

  /**
   * Shares a decision with its DMP trace.
   *
   * @param decision Choice, outcome, context.
   * @param trace The DMP trace.
   * @param options `to` (default: every verified agent peer), a retrospective.
   * @returns One result per peer.
   */
  async shareDecision(
    decision: { choice: string; outcome: string; context?: string },
    trace: Trace,
    options: { to?: readonly string[]; retrospective?: string } = {},
  ): Promise<SendResult[]> {
    this.#assertRunning();
    const { counterfactuals: _c, ...dmp } = _dmpTrace(trace);
    return await this.#each(options.to, (fp) =>
      this.#outcomeOf("cip", "DECISION_SHARE", fp, {
        decision,
        dmp_trace: dmp,
        ...(options.retrospective === undefined ? {} : { retrospective: options.retrospective }),
      }));
  }

  /**
   * Sends the enrolled person an HCP message (a decision with rationale and
   * alternatives, context, a check-in question) on its session.
   *
   * @param type The HCP type.
   * @param payload Its payload.
   * @returns The msg_id sent.
   * @throws {AgentError} `NO_PERSON` without an enrolled, connected person.
   */
  async toPerson(
    type: "HCP_DECISION" | "HCP_CONTEXT" | "HCP_INTENT",
    payload: Record<string, unknown>,
  ): Promise<string> {
    const person = this.person;
    if (person === undefined || !this.#links.get(person)?.open) {
      throw new AgentError("NO_PERSON", "No enrolled person is connected");
    }
    const human = this.store.person(person);
    const msgId = newMsgId((n) => crypto.getRandomValues(new Uint8Array(n)));
    const spec = {
      protocol: "hcp",
      type,
      msg_id: msgId,
      receiver: { agent_id: this.#names.get(person) ?? "person", fingerprint: person },
      payload,
      state: { human: _humanOf(human), presence: this.#load.presence, lri: this.#load.lri },
    } as unknown as ReplySpec;
    await this.#send(
      person,
      await this.#apply(outcome("handled", { replies: [spec] }), { peer: person }),
    );
    return msgId;
  }

  /**
   * Fetches a source itself (LIP): the claims queue `pending` here (an
   * agent's own fetch never corroborates), and the `LIP_EVIDENCE` is shared
   * with peers so they can verify and corroborate it.
   *
   * @param query An absolute http(s) URL.
   * @param options Constraints, `share` (default: every verified agent peer), a signal.
   * @returns The claim ids and the peers the evidence went to.
   * @throws {LipFetchError} When the fetch fails or a constraint forbids it.
   */
  async fetch(
    query: string,
    options: { constraints?: string[]; share?: readonly string[]; signal?: AbortSignal } = {},
  ): Promise<{ claims: string[]; sharedWith: SendResult[] }> {
    this.#assertRunning();
    const request: FetchRequest = {
      query,
      constraints: options.constraints ?? [],
      requestId: "",
      requester: this.fingerprint,
      requesterAgentId: this.identity.agentId,
    };
    const doc = await this.#fetcher.fetch(
      request,
      options.signal === undefined ? {} : { signal: options.signal },
    );
    const ctx = this.router.context(this.fingerprint);
    const done = this.lip.fetched(request, doc, ctx);
    await this.#apply(done, { peer: this.fingerprint });
    const { payload, source } = evidenceFromDocument(doc, query, {
      tier: this.lip.tierOf(doc.finalUrl, ctx),
    });
    const claims = payload.claims.map((c) => claimId(c, source.uri));
    const sharedWith = await this.#each(
      options.share,
      (fp) => this.#outcomeOf("lip", "LIP_EVIDENCE", fp, payload, { source }),
    );
    return { claims, sharedWith };
  }

  /**
   * Asks a peer to fetch for us (`LIP_FETCH`); its `LIP_EVIDENCE` arrives later.
   *
   * @param peer The peer.
   * @param query The URL.
   * @param constraints The constraints.
   * @returns The send result.
   */
  async askToFetch(peer: string, query: string, constraints: string[] = []): Promise<SendResult> {
    const [r] = await this.#each(
      [peer],
      (fp) => this.#outcomeOf("lip", "LIP_FETCH", fp, { query, constraints }),
    );
    return r!;
  }

  /**
   * Verifies a queued LIP claim by fetching its source again: when the same
   * claim comes out, corroborates it (`LIP_ACCEPT` naming `claim:<id>`) to
   * the peer it came from (or `to`).
   *
   * @param claim The claim id in this agent's LIP queue.
   * @param options `to`: who gets the corroboration (default: the claim's peer).
   * @returns Whether it verified, and the sends.
   * @throws {AgentError} `REFUSED` when no such claim is queued.
   */
  async verifyEvidence(
    claim: string,
    options: { to?: readonly string[]; signal?: AbortSignal } = {},
  ): Promise<{ verified: boolean; sent: SendResult[] }> {
    const item = this.store.lipItem(claim);
    if (item === undefined) throw new AgentError("REFUSED", `No LIP claim ${claim} is queued`);
    let doc: FetchedDocument;
    try {
      doc = await this.#fetcher.fetch({
        query: item.sourceUri,
        constraints: [],
        requestId: "",
        requester: this.fingerprint,
        requesterAgentId: this.identity.agentId,
      }, options.signal === undefined ? {} : { signal: options.signal });
    } catch (err) {
      if (!(err instanceof LipFetchError)) throw err;
      this.telemetry.emit("agent.verify_evidence", { claim, verified: false, reason: err.code }, {
        severity: "warn",
      });
      return { verified: false, sent: [] };
    }
    const ctx = this.router.context(this.fingerprint);
    const { payload, source } = evidenceFromDocument(doc, item.sourceUri, {
      tier: this.lip.tierOf(doc.finalUrl, ctx),
    });
    const verified = payload.claims.some((c) => claimId(c, source.uri) === claim);
    this.telemetry.emit("agent.verify_evidence", {
      claim,
      verified,
      reason: verified ? "same_claim" : "different_content",
    });
    if (!verified) return { verified, sent: [] };
    const to = options.to ?? [item.peer];
    const sent = await this.#each(to, (fp) =>
      this.#outcomeOf("lip", "LIP_ACCEPT", fp, {
        decision: "accept",
        reason: `re-fetched and verified claim:${claim}`,
        corroborators: [this.identity.agentId],
      }, {
        source: { uri: item.sourceUri, trust_tier: item.tier, retrieved_at: doc.retrievedAt },
      }));
    return { verified, sent };
  }

  /** Runs a fetch a peer asked for and answers it with the evidence. */
  async #runFetch(request: FetchRequest, peer: string): Promise<void> {
    const ctx = () => this.router.context(peer);
    let o: Outcome;
    try {
      const doc = await this.#fetcher.fetch(request, { signal: this.#abort.signal });
      o = this.lip.fetched(request, doc, ctx());
    } catch (err) {
      if (!(err instanceof LipFetchError)) {
        this.telemetry.emit("agent.error", { where: "lip_fetch", error: String(err) }, {
          severity: "error",
          peer,
        });
        return;
      }
      o = this.lip.fetchFailed(request, err, ctx());
    }
    if (this.stopped) return;
    await this.#send(peer, await this.#apply(o, { peer }));
  }

  /**
   * Re-evaluates a pending CIP claim (e.g. once local overload cleared).
   *
   * @param claim The claim id.
   * @returns The runtime's outcome status.
   */
  async settle(claim: string): Promise<Outcome["status"]> {
    const o = this.cip.settle(claim, this.router.context(this.fingerprint));
    await this.#apply(o, { peer: this.fingerprint });
    return o.status;
  }

  // ---- plumbing -----------------------------------------------------------

  #agentPeers(): string[] {
    return [...this.#links.keys()].filter((fp) =>
      fp !== this.person && this.store.handshake(fp)?.stage === "verified"
    );
  }

  #receiver(fp: string): { agent_id: string; fingerprint: string } {
    return { agent_id: this.#names.get(fp) ?? "peer", fingerprint: fp };
  }

  #outcomeOf(
    protocol: "cip" | "lip",
    type: string,
    fp: string,
    payload: unknown,
    extra: Partial<ReplySpec> = {},
  ): Outcome {
    const spec = {
      protocol,
      type,
      msg_id: newMsgId((n) => crypto.getRandomValues(new Uint8Array(n))),
      receiver: this.#receiver(fp),
      payload,
      ...(protocol === "cip"
        ? { state: { presence: this.#load.presence, lri: this.#load.lri, kernel_signals: [] } }
        : {}),
      ...extra,
    } as unknown as ReplySpec;
    return outcome("handled", { replies: [spec] });
  }

  async #each(
    to: readonly string[] | undefined,
    make: (fp: string) => Outcome,
  ): Promise<SendResult[]> {
    const results: SendResult[] = [];
    for (const fp of to ?? this.#agentPeers()) {
      if (!this.#links.get(fp)?.open && this.#relay?.reachable(fp) !== true) {
        results.push({ peer: fp, status: "refused", code: "not_connected" });
        continue;
      }
      const o = make(fp);
      if (o.status !== "handled") {
        await this.#apply(o, { peer: fp });
        this.telemetry.emit(
          "agent.send_held",
          { code: o.code ?? o.status, reason: o.reason ?? "" },
          { peer: fp },
        );
        results.push({
          peer: fp,
          status: o.status === "deferred" ? "deferred" : "refused",
          code: o.code,
        });
        continue;
      }
      const out = await this.#apply(o, { peer: fp });
      await this.#send(fp, out);
      results.push({ peer: fp, status: "sent", msgId: out[0]?.envelope.msg_id });
    }
    return results;
  }

  async #send(fp: string, out: readonly OutboundEnvelope[]): Promise<void> {
    if (out.length === 0) return;
    const link = this.#links.get(fp);
    // Without a live connection (none, or one still trying to resume), a relay
    // that can carry the envelopes (or hold them until a route appears) takes them.
    const live = link !== undefined && link.open && link.session.state === "open";
    if (!live && await this.#relay?.send(fp, out) === true) return;
    if (link === undefined || !link.open) {
      this.telemetry.emit("agent.undeliverable", {
        count: out.length,
        types: out.map((o) => o.envelope.type),
      }, {
        severity: "warn",
        peer: fp,
      });
      return;
    }
    for (const o of out) {
      try {
        // Handshake and error traffic waits for the peer's acknowledgement, so
        // what follows on other channels never overtakes it.
        await link.send(o.channel, o.bytes, { ack: o.channel === "control" });
      } catch (err) {
        this.telemetry.emit("agent.error", {
          where: "send",
          error: err instanceof Error ? err.message : String(err),
        }, {
          severity: "error",
          peer: fp,
        });
      }
    }
  }

  #bridge(e: TransportEvent): void {
    const session = "sessionId" in e ? e.sessionId : undefined;
    const peer = e.peerFingerprint;
    const opts = {
      ...(peer === undefined ? {} : { peer }),
      ...(session === undefined ? {} : { session }),
    };
    switch (e.type) {
      case "session_open":
        this.telemetry.emit("rtt.session_open", {
          resumed: e.resumed ?? false,
          reconnects: e.reconnects ?? 0,
        }, opts);
        if (e.resumed === true) this.telemetry.counter("rtt_reconnects_total", 1, {});
        return;
      case "session_close":
        this.telemetry.emit("rtt.session_close", { reason: e.reason ?? "manual" }, opts);
        return;
      case "heartbeat_timeout":
        this.telemetry.emit("rtt.heartbeat_timeout", {}, { ...opts, severity: "warn" });
        return;
      case "connection_lost":
        this.telemetry.emit("rtt.connection_lost", { reason: e.reason ?? "lost" }, {
          ...opts,
          severity: "warn",
        });
        return;
      case "drop":
        this.telemetry.emit("rtt.backpressure", {
          channel: e.channel,
          cause: e.cause,
          count: e.count,
        }, {
          ...opts,
          severity: "warn",
        });
        this.telemetry.counter("rtt_dropped_total", e.count, { channel: e.channel });
        return;
      case "replay": {
        // Coalesced: at most one event per session and channel per second.
        const key = `${e.sessionId}/${e.channel}`;
        const nowMs = this.#now();
        const r = this.#replays.get(key) ?? { count: 0, lastMs: -Infinity };
        r.count += 1;
        this.telemetry.counter("rtt_replays_total", 1, { channel: e.channel });
        if (nowMs - r.lastMs >= 1000) {
          this.telemetry.emit("rtt.replay", { channel: e.channel, count: r.count }, {
            ...opts,
            severity: "warn",
          });
          r.count = 0;
          r.lastMs = nowMs;
        }
        this.#replays.set(key, r);
        return;
      }
      case "rekey":
        this.telemetry.emit("rtt.rekey", { rekeys: e.rekeys }, opts);
        return;
      case "verification_failure":
        this.telemetry.emit("rtt.verification_failure", { code: e.code, message: e.message }, {
          ...opts,
          severity: "warn",
        });
        return;
    }
  }

  #onEvent(e: Web4Event): void {
    for (const w of [...this.#eventWaiters]) {
      if (w.match(e)) {
        this.#eventWaiters.delete(w);
        w.resolve(e);
      }
    }
  }

  /**
   * Waits for the next event of this agent that matches (for tests, demos
   * and scripts that follow a conversation).
   *
   * @param kind The event kind.
   * @param match Further condition on the event.
   * @param options A signal.
   * @returns The event.
   * @throws {AgentError} `STOPPED` when the agent stops first.
   */
  nextEvent(
    kind: string,
    match: (e: Web4Event) => boolean = () => true,
    options: { signal?: AbortSignal } = {},
  ): Promise<Web4Event> {
    return new Promise((resolve, reject) => {
      const w = { match: (e: Web4Event) => e.kind === kind && match(e), resolve };
      this.#eventWaiters.add(w);
      const stop = () => {
        this.#eventWaiters.delete(w);
        reject(new AgentError("STOPPED", `Stopped while waiting for ${kind}`));
      };
      this.#abort.signal.addEventListener("abort", stop, { once: true });
      options.signal?.addEventListener("abort", stop, { once: true });
    });
  }

  /**
   * Waits until a condition on the agent's state holds; it is checked after
   * every cycle.
   *
   * @param check The condition.
   * @param options A signal; `timeoutMs` guards against waiting forever. @default {{ timeoutMs: 30000 }}
   * @throws {AgentError} `TIMEOUT` or `STOPPED`.
   */
  async until(
    check: () => boolean,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<void> {
    await this.#until(check, options.timeoutMs ?? 30_000, options.signal);
  }

  #until(check: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.#waiters.delete(w);
        this.#abort.signal.removeEventListener("abort", onAbort);
        signal?.removeEventListener("abort", onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      const w = { check, resolve: () => done() };
      const onAbort = () => done(new AgentError("STOPPED", "Stopped while waiting"));
      const timer = setTimeout(
        () => done(new AgentError("TIMEOUT", `Condition not met within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.add(w);
      this.#abort.signal.addEventListener("abort", onAbort, { once: true });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) if (w.check()) w.resolve();
  }

  #track(p: Promise<unknown>): void {
    const q = p.catch(() => {}).finally(() => this.#pending.delete(q));
    this.#pending.add(q);
  }

  #assertRunning(): void {
    if (this.stopped) throw new AgentError("STOPPED", `Agent ${this.identity.agentId} is stopped`);
  }

  /**
   * Stops the agent: the load timer, every session (closed, loops ended),
   * the transport, and the store it opened. Safe to call twice.
   *
   * @returns Once everything is released.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.telemetry.emit("agent.stopping", { sessions: this.#allLinks.size });
    this.#abort.abort();
    if (this.#loadTimer !== undefined) clearInterval(this.#loadTimer);
    this.#queue.length = 0;
    await Promise.allSettled([...this.#allLinks].map((l) => l.close(200)));
    if (this.#ownsTransport) await this.transport.shutdown({ deadlineMs: 200 }).catch(() => {});
    this.#unobserve();
    await this.#accepting;
    await this.#pumping;
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    if (this.#ownsStore) this.store[Symbol.dispose]();
  }

  /** Same as {@linkcode Agent.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

function _humanOf(record: { humanState?: HumanState | undefined } | undefined): HumanState {
  return record?.humanState ?? { ...NEUTRAL_HUMAN_STATE };
}

/** The wire form of a {@linkcode Trace} (a fresh decision id when none is given). */
function _dmpTrace(trace: Trace) {
  return {
    decision_id: trace.decision_id ?? crypto.randomUUID(),
    steps: trace.steps,
    evidence: trace.evidence,
    ...(trace.counterfactuals === undefined ? {} : { counterfactuals: trace.counterfactuals }),
  };
}
