/**
 * The AgentLoop: an {@linkcode Agent} composes an identity, a transport (by
 * registry name), the store, trust, the three protocol runtimes, the
 * ProtocolRouter and telemetry. Each concern lives in a room of its own
 * (sessions, the loop, presence, the outbox, intents, CIP and LIP actions,
 * waiters); the agent wires them and keeps the public face.
 *
 * @module
 */

import { CipRuntime, type CipRuntimeOptions } from "../cip/mod.ts";
import type { FactProposePayload, PayloadOf } from "../envelope/mod.ts";
import { HcpRuntime, type HcpRuntimeOptions } from "../hcp/mod.ts";
import type { Identity } from "../identity/mod.ts";
import { HttpFetcher, type LipFetcher, LipRuntime, type LipRuntimeOptions } from "../lip/mod.ts";
import {
  createTelemetry,
  type EventSink,
  type MetricsMirror,
  MetricsRegistry,
  type StampingTelemetry,
  type Web4Event,
} from "../observability/mod.ts";
import { ProtocolRouter } from "../router/mod.ts";
import type { Effect, LocalLoad, Outcome } from "../runtime/mod.ts";
import { openStore, type Store } from "../store/mod.ts";
import { createTransport, type Transport, type TransportAddress } from "../transport/mod.ts";
import {
  Actions,
  type DeclaredIntent,
  type PersonMessageType,
  type Trace,
  type VoteOptions,
} from "./actions.ts";
import { DriftDetector, type DriftOptions } from "./drift.ts";
import { AgentError } from "./errors.ts";
import { type AgentHookName, type AgentHooks, Hooks } from "./events.ts";
import { type AgentIntent, Intents } from "./intents.ts";
import type { ChannelKind } from "./link.ts";
import { LipActions } from "./lip_actions.ts";
import { type LoadSource, systemLoadSource } from "./load.ts";
import { CognitiveLoop } from "./loop.ts";
import { Outbox, type SendResult } from "./outbox.ts";
import { PresenceTracker } from "./presence.ts";
import type { AgentRelay } from "./relay.ts";
import { type PeerInfo, Sessions } from "./sessions.ts";
import { TransportRenderer } from "./telemetry.ts";
import { Waiters } from "./waiters.ts";

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
  /** The transport backend's registry name. @default {"rtt"} */
  transport?: string | undefined;
  /** Extra options of the transport backend (e.g. `network` for `memory`, heartbeat settings). */
  transportOptions?: Record<string, unknown> | undefined;
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
 * An agent: transport + router + runtimes + store + telemetry, with its
 * cognitive loop. Build it with {@linkcode Agent.create}; stop it with
 * {@linkcode Agent.stop}, `await using`, or the `signal`.
 *
 * @example Two agents and a person on the in-memory transport
 * ```ts
 * import "../rtt/mod.ts"; // registers the `rtt` and `memory` backends
 * import { Agent, FixedLoadSource, HcpClient } from "./mod.ts";
 * import { Identity } from "../identity/mod.ts";
 * import { MemoryNetwork } from "../rtt/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const network = new MemoryNetwork();
 * const [ia, ib, ada] = await Promise.all(
 *   ["a", "b", "ada"].map((agentId) => Identity.generate({ agentId })),
 * );
 * const common = {
 *   mission: "verify water quality facts",
 *   store: ":memory:",
 *   transport: "memory",
 *   transportOptions: { network },
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
 * await using me = await HcpClient.create({ identity: ada!, name: "Ada", transport: "memory", transportOptions: { network } });
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
  readonly #handshakeTimeoutMs: number;
  readonly #abort = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #hooks: Hooks;
  readonly #waiters: Waiters;
  readonly #sessions: Sessions;
  readonly #outbox: Outbox;
  readonly #loop: CognitiveLoop;
  readonly #presence: PresenceTracker;
  readonly #intents: Intents;
  readonly #actions: Actions;
  readonly #lipActions: LipActions;
  #stopped: Promise<void> | undefined;
  #unobserve: () => void = () => {};

  private constructor(
    options: AgentOptions,
    store: Store,
    ownsStore: boolean,
    transport: Transport,
  ) {
    this.identity = options.identity;
    this.mission = options.mission;
    this.store = store;
    this.#ownsStore = ownsStore;
    this.transport = transport;
    this.person = options.person;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    const now = options.now ?? Date.now;
    const signal = this.#abort.signal;
    const stopped = () => signal.aborted;
    const track = (p: Promise<unknown>) => this.#track(p);
    const commit = async (o: Outcome, to: { peer: string }) => {
      const applied = await this.router.apply(o, to);
      this.#committed(applied.effects);
      return applied.replies;
    };
    this.metrics = new MetricsRegistry(
      options.metricsMirror === undefined ? {} : { mirror: options.metricsMirror },
    );
    this.#waiters = new Waiters(signal);
    const tap: EventSink = { write: (e) => this.#onEvent(e) };
    this.telemetry = createTelemetry({
      node: options.identity.agentId,
      sinks: [...(options.sinks ?? []), tap],
      metrics: this.metrics,
      now,
    });
    const telemetry = this.telemetry;
    const metrics = this.metrics;
    this.#hooks = new Hooks(telemetry);
    for (const [name, fn] of Object.entries(options.hooks ?? {})) {
      this.#hooks.on(name as AgentHookName, fn as never);
    }
    this.cip = new CipRuntime(options.cip);
    this.hcp = new HcpRuntime(options.hcp);
    this.lip = new LipRuntime(options.lip);
    const self = options.identity.fingerprint;
    // The router's trust view exists once the router does; the rooms read it lazily.
    const trust = { peer: (fp: string) => this.router.trust.peer(fp) };
    this.#sessions = new Sessions({
      self,
      person: this.person,
      transport,
      telemetry,
      store,
      trust,
      signal,
      message: (bytes, link, channel) => this.#loop.enqueue(bytes, link, channel),
      ended: (peer) => this.#presence.forget(peer),
      track,
    });
    const sessions = this.#sessions;
    this.#outbox = new Outbox({ sessions, telemetry, commit, load: () => this.#presence.load });
    const outbox = this.#outbox;
    this.#presence = new PresenceTracker({
      source: options.load ?? systemLoadSource(),
      queueCapacity: options.queueCapacity ?? 256,
      lriStep: options.lriStep ?? 5,
      intervalMs: options.loadIntervalMs ?? 1000,
      queueDepth: () => this.#loop?.depth ?? 0,
      telemetry,
      metrics,
      trust,
      outbox,
      track,
      stopped,
    });
    this.#intents = new Intents({
      mission: this.mission,
      drift: new DriftDetector(options.mission, options.drift),
      telemetry,
      metrics,
      relevant: options.relevantPeers,
      peers: () => sessions.peers(),
      heard: (intent) => this.#hooks.call("intent", intent),
      declare: (intent, to) => this.#actions.declareIntent(intent, { to, observe: false }),
    });
    this.router = new ProtocolRouter({
      identity: options.identity,
      store,
      runtimes: [this.cip, this.hcp, this.lip],
      capabilities: ["state_exchange", "knowledge_exchange", "dmp_trace"],
      trust: { anchors: [...(options.trustAnchors ?? [])] },
      config: options.person === undefined ? {} : { person: options.person },
      now,
      load: () => this.#presence.load,
      telemetry,
    });
    const router = this.router;
    this.#actions = new Actions({
      person: this.person,
      cip: this.cip,
      router,
      store,
      sessions,
      outbox,
      intents: this.#intents,
      load: () => this.#presence.load,
    });
    this.#lipActions = new LipActions({
      identity: options.identity,
      fetcher: options.fetcher ?? new HttpFetcher(),
      lip: this.lip,
      router,
      store,
      outbox,
      telemetry,
      signal,
      commit,
    });
    this.#loop = new CognitiveLoop({
      router,
      outbox,
      hooks: this.#hooks,
      intents: this.#intents,
      telemetry,
      metrics,
      name: (fp, agentId) => sessions.name(fp, agentId),
      fetch: (request, peer) => this.#track(this.#lipActions.run(request, peer)),
      committed: (effects) => this.#committed(effects),
      settled: (peer) => {
        if (store.handshake(peer)?.stage === "verified" && !this.#presence.hears(peer)) {
          this.#markVerified(peer);
        }
        this.#waiters.wake();
      },
      stopped,
    });
    const render = new TransportRenderer(telemetry, now);
    this.#unobserve = transport.onEvent((e) => render.event(e));
  }

  /**
   * Creates an agent: opens the store (when given a path), creates the
   * transport by registry name, builds the router with the CIP, HCP and LIP
   * runtimes, declares the anchors, and starts the load timer. Call
   * {@linkcode Agent.listen} to accept sessions.
   *
   * @param options Identity, mission, store, person, anchors, transport, load, sinks, hooks.
   * @returns The running agent.
   * @throws {TypeError} For a missing identity or an empty mission.
   * @throws {RangeError} For an unknown transport name.
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
    let transport: Transport;
    try {
      transport = await createTransport(options.transport ?? "rtt", {
        ...options.transportOptions,
        identity: options.identity,
      });
    } catch (err) {
      if (owns) store[Symbol.dispose]();
      throw err;
    }
    const agent = new Agent(options, store, owns, transport);
    agent.#start(options.signal);
    return agent;
  }

  #start(signal: AbortSignal | undefined): void {
    if (signal !== undefined) {
      if (signal.aborted) void this.stop();
      else {
        signal.addEventListener("abort", () => void this.stop(), {
          once: true,
          signal: this.#abort.signal,
        });
      }
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
    return { ...this.#presence.load };
  }

  /** Whether the agent was stopped. */
  get stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  /**
   * Adds a hook. Hooks run synchronously in the loop; a throwing hook is
   * reported as `agent.hook_error` and the loop goes on.
   *
   * @param name `beforeCycle`, `afterCycle`, `intent`, `fact`, `humanState` or `trustChange`.
   * @param fn The hook.
   * @returns Its unregister function.
   */
  on<K extends AgentHookName>(name: K, fn: AgentHooks[K]): () => void {
    return this.#hooks.on(name, fn);
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
    const bound = await this.#sessions.listen(address);
    this.telemetry.emit("agent.listening", { hostname: bound.hostname, port: bound.port });
    return bound;
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
    if (options.agentId !== undefined) this.#sessions.name(fp, options.agentId);
    const fresh = !this.#sessions.isOpen(fp);
    if (fresh) await this.#sessions.dial(options);
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
    if (options.agentId !== undefined) this.#sessions.name(fp, options.agentId);
    if (this.#outbox.relay?.reachable(fp) !== true) {
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
    const link = this.#sessions.link(from.peer);
    if (link === undefined) return;
    this.#loop.enqueue(bytes, link, from.channel, origin);
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
    const link = this.#sessions.link(fp);
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
    this.#outbox.relay = relay;
  }

  async #handshake(fp: string, signal: AbortSignal | undefined): Promise<void> {
    const opened = this.cip.open(this.#sessions.receiver(fp), this.router.context(fp));
    if (opened.status === "refused") {
      throw new AgentError(
        "HANDSHAKE_FAILED",
        `CIP handshake with ${fp} refused: ${opened.reason}`,
      );
    }
    await this.#outbox.commitAndSend(fp, opened);
    try {
      await this.#waiters.until(
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

  /** A verified agent peer hears our STATE_UPDATEs from now on. */
  #markVerified(fp: string): void {
    if (fp !== this.person) this.#presence.verified(fp);
  }

  /**
   * The peers with an open session.
   *
   * @returns What the agent knows of each.
   */
  peers(): PeerInfo[] {
    return this.#sessions.peers();
  }

  /**
   * One peer as the agent sees it.
   *
   * @param fingerprint The peer.
   * @returns Its info, or `undefined` without an open session.
   */
  peer(fingerprint: string): PeerInfo | undefined {
    return this.#sessions.peer(fingerprint);
  }

  // ---- presence -----------------------------------------------------------

  /**
   * Reads the load source now and, when presence changed or lri moved by at
   * least `lriStep` since peers were last told, sends a STATE_UPDATE to
   * every verified peer (the load timer calls this).
   *
   * @returns The sends' completion.
   */
  refreshLoad(): Promise<void> {
    return this.#presence.refresh();
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
  declareIntent(
    intent: DeclaredIntent,
    options: { to?: readonly string[]; observe?: boolean } = {},
  ): Promise<SendResult[]> {
    this.#assertRunning();
    return this.#actions.declareIntent(intent, options);
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
  proposeFact(
    fact: FactProposePayload["fact"],
    trace: Trace,
    options: { to?: readonly string[]; causalLinks?: FactProposePayload["causal_links"] } = {},
  ): Promise<SendResult[]> {
    this.#assertRunning();
    return this.#actions.proposeFact(fact, trace, options);
  }

  /**
   * Confirms (or rejects, or challenges) a claim in a peer's ledger.
   *
   * @param peer The peer holding the claim.
   * @param factRef The claim id there (the FACT_PROPOSE msg_id it received).
   * @param options `vote` (`confirm` default, `reject`, `challenge`), confidence, notes.
   * @returns The send result.
   */
  vote(peer: string, factRef: string, options: VoteOptions = {}): Promise<SendResult> {
    this.#assertRunning();
    return this.#actions.vote(peer, factRef, options);
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
  askToVerify(claim: string, options: { to?: readonly string[] } = {}): Promise<SendResult[]> {
    return this.#actions.askToVerify(claim, options);
  }

  /**
   * Shares a decision with its DMP trace.
   *
   * @param decision Choice, outcome, context.
   * @param trace The DMP trace.
   * @param options `to` (default: every verified agent peer), a retrospective.
   * @returns One result per peer.
   */
  shareDecision(
    decision: { choice: string; outcome: string; context?: string },
    trace: Trace,
    options: { to?: readonly string[]; retrospective?: string } = {},
  ): Promise<SendResult[]> {
    this.#assertRunning();
    return this.#actions.shareDecision(decision, trace, options);
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
  toPerson<T extends PersonMessageType>(type: T, payload: PayloadOf<"hcp", T>): Promise<string> {
    return this.#actions.toPerson(type, payload);
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
  fetch(
    query: string,
    options: { constraints?: string[]; share?: readonly string[]; signal?: AbortSignal } = {},
  ): Promise<{ claims: string[]; sharedWith: SendResult[] }> {
    this.#assertRunning();
    return this.#lipActions.fetch(query, options);
  }

  /**
   * Asks a peer to fetch for us (`LIP_FETCH`); its `LIP_EVIDENCE` arrives later.
   *
   * @param peer The peer.
   * @param query The URL.
   * @param constraints The constraints.
   * @returns The send result.
   */
  askToFetch(peer: string, query: string, constraints: string[] = []): Promise<SendResult> {
    return this.#lipActions.askToFetch(peer, query, constraints);
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
  verifyEvidence(
    claim: string,
    options: { to?: readonly string[]; signal?: AbortSignal } = {},
  ): Promise<{ verified: boolean; sent: SendResult[] }> {
    return this.#lipActions.verifyEvidence(claim, options);
  }

  /**
   * Re-evaluates a pending CIP claim (e.g. once local overload cleared).
   *
   * @param claim The claim id.
   * @returns The runtime's outcome status.
   */
  async settle(claim: string): Promise<Outcome["status"]> {
    const o = this.cip.settle(claim, this.router.context(this.fingerprint));
    this.#committed((await this.router.apply(o, { peer: this.fingerprint })).effects);
    return o.status;
  }

  /** The hooks fed by committed effects wherever they came from (a dispatch or an apply). */
  #committed(effects: readonly Effect[]): void {
    for (const effect of effects) {
      if (effect.type !== "claimChanged") continue;
      this.#hooks.call("fact", {
        origin: effect.origin,
        claim: effect.claim,
        status: effect.status,
        reason: effect.reason,
      });
    }
  }

  // ---- waiting ------------------------------------------------------------

  #onEvent(e: Web4Event): void {
    this.#waiters.observe(e);
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
    return this.#waiters.nextEvent(kind, match, options.signal);
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
    await this.#waiters.until(check, options.timeoutMs ?? 30_000, options.signal);
  }

  // ---- lifecycle ----------------------------------------------------------

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
    this.telemetry.emit("agent.stopping", { sessions: this.#sessions.size });
    this.#abort.abort();
    this.#presence.stop();
    const loop = this.#loop.stop();
    await this.#sessions.close(200);
    await this.transport.shutdown({ deadlineMs: 200 }).catch(() => {});
    this.#unobserve();
    await this.#sessions.accepted();
    await loop;
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    if (this.#ownsStore) this.store[Symbol.dispose]();
  }

  /** Same as {@linkcode Agent.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
