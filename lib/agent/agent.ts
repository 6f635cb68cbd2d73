/**
 * The AgentLoop: an {@linkcode Agent} composes an identity, a transport (an
 * instance or a typed factory), the store, trust, the three protocol runtimes, the
 * ProtocolRouter and telemetry. Each concern lives in a room of its own
 * (sessions, the loop, presence, the outbox, intents, CIP and LIP actions,
 * waiters); the agent wires them and keeps the public face.
 *
 * @module
 */

import type { CipRuntime } from "../cip/mod.ts";
import type { FactProposePayload, PayloadOf } from "../envelope/mod.ts";
import type { HcpRuntime } from "../hcp/mod.ts";
import type { Identity } from "../identity/mod.ts";
import type { LipRuntime } from "../lip/mod.ts";
import type { MetricsRegistry, StampingTelemetry, Web4Event } from "../observability/mod.ts";
import type { OutboundEnvelope, ProtocolRouter } from "../router/mod.ts";
import type { LocalLoad, Outcome } from "../runtime/mod.ts";
import type { Store } from "../store/mod.ts";
import type { Transport, TransportAddress } from "../transport/mod.ts";
import type { DeclaredIntent, PersonMessageType, Trace, VoteOptions } from "./actions.ts";
import { AgentError } from "./errors.ts";
import type { AgentEventName, AgentEvents, AgentListener } from "./events.ts";
import type { InboundUsage } from "./inbound.ts";
import type { ChannelKind } from "./link.ts";
import type { EvidenceCheck } from "./lip_actions.ts";
import type { AgentOptions } from "./options.ts";
import { openAgentParts } from "./open.ts";
import type { SendResult } from "./outbox.ts";
import type { AgentRelay } from "./relay.ts";
import { buildRooms, type Rooms } from "./rooms.ts";
import type { PeerInfo } from "./sessions.ts";

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
 * const record = await me.connect({ ...aAddr, fingerprint: ia!.fingerprint }); // changes nothing
 * assert.equal(record.human, null); // a has no consent of hers yet
 * await me.hello({ consent: "granted" }); // her explicit choice
 * const atB = b.next("intent"); // a typed event: what reached b's loop
 * await me.intent({ goal: "request", topic: "topic:water" });
 * const intent = await atB;
 * assert.deepEqual([intent.source, intent.from, intent.topic], ["peer", ia!.fingerprint, "topic:water"]);
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
  readonly #abort = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #rooms: Rooms;
  readonly #closed = Promise.withResolvers<void>();
  #stopped: Promise<void> | undefined;

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
    this.person = options.person;
    const rooms = this.#rooms = buildRooms({
      options,
      store,
      transport,
      ownsTransport,
      signal: this.#abort.signal,
      track: (p) => this.#track(p),
    });
    this.metrics = rooms.metrics;
    this.telemetry = rooms.telemetry;
    this.cip = rooms.cip;
    this.hcp = rooms.hcp;
    this.lip = rooms.lip;
    this.router = rooms.router;
  }

  /**
   * Creates an agent: opens the store (when given a path), creates the
   * transport (when given a factory), builds the router with the CIP, HCP and LIP
   * runtimes, declares the anchors, and starts the load timer. Call
   * {@linkcode Agent.listen} to accept sessions.
   *
   * @param options Identity, mission, store, person, anchors, transport, load, sinks, listeners.
   * @returns The running agent.
   * @throws {TypeError} For a missing identity, an empty mission, or a transport that is neither a `Transport` nor a factory.
   * @throws {RangeError} For a mission over 1,024 UTF-8 bytes (free text, `SCHEMA_LIMITS.textBytes`), or a transport that does not authenticate as the identity.
   */
  static async create(options: AgentOptions): Promise<Agent> {
    const { store, ownsStore, transport, ownsTransport } = await openAgentParts(options);
    const agent = new Agent(options, store, ownsStore, transport, ownsTransport);
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
    this.#rooms.events.emit("started", {
      agentId: this.identity.agentId,
      mission: this.mission,
      transport: this.transport.backend,
      person: this.person,
    });
  }

  /** This agent's fingerprint. */
  get fingerprint(): string {
    return this.identity.fingerprint;
  }

  /** This agent's current presence and lri. */
  get load(): LocalLoad {
    return { ...this.#rooms.presence.load };
  }

  /** Whether the agent was stopped (or is stopping). */
  get stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Settles once the agent has stopped and released everything, however it was stopped. */
  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  /**
   * Listens to one of the agent's typed events ({@linkcode AgentEvents}:
   * sessions, the router's committed effects, intents, the loop, presence,
   * sends, failures). Listeners run synchronously, one event at a time; one
   * that throws is reported as `agent.hook_error` and the agent goes on.
   *
   * @param name The event.
   * @param fn The listener.
   * @returns Its unregister function.
   * @throws {TypeError} When `fn` is not a function.
   */
  on<K extends AgentEventName>(name: K, fn: AgentListener<K>): () => void {
    return this.#rooms.events.on(name, fn);
  }

  /**
   * Waits for the next typed event that matches (for tests, demos and
   * scripts that follow a conversation).
   *
   * @param name The event.
   * @param match Further condition on it.
   * @param options A signal; `timeoutMs` guards against waiting forever. @default {{ timeoutMs: 30000 }}
   * @returns The event.
   * @throws {AgentError} `TIMEOUT`, or `STOPPED` when the agent stops or the signal aborts first.
   */
  next<K extends AgentEventName>(
    name: K,
    match: (event: AgentEvents[K]) => boolean = () => true,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<AgentEvents[K]> {
    return this.#rooms.waiters.next(name, match, options.timeoutMs ?? 30_000, options.signal);
  }

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
    const bound = await this.#rooms.sessions.listen(address);
    this.#rooms.events.emit("listening", { hostname: bound.hostname, port: bound.port });
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
    await this.#rooms.connect(options);
    return this.peer(options.fingerprint)!;
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
    await this.#rooms.handshakeVia(fp, options);
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
    const link = this.#rooms.sessions.link(from.peer);
    if (link === undefined) return;
    this.#rooms.loop.enqueue(bytes, link, from.channel, origin);
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
    const link = this.#rooms.sessions.link(fp);
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
    this.#rooms.outbox.relay = relay;
  }

  /**
   * The relay attached with {@linkcode Agent.setRelay} (a mesh node's), or
   * `undefined`: a wrapper (the simulator's) delegates to it.
   *
   * @example
   * ```ts ignore
   * const inner = agent.relay;
   * agent.setRelay({ ...inner!, frame: (bytes, from) => inner!.frame(bytes, from) });
   * ```
   */
  get relay(): AgentRelay | undefined {
    return this.#rooms.outbox.relay;
  }

  /**
   * What a peer holds of its inbound share: level, share, the bytes read
   * from it and not yet done with, those waiting for room, whether reading
   * is paused, and what its session holds unread in the transport.
   *
   * @param fingerprint The peer.
   * @returns Its usage, or `undefined` without a session or bytes held.
   */
  inbound(fingerprint: string): InboundUsage | undefined {
    return this.#rooms.inboundOf(fingerprint);
  }

  /**
   * The peers with an open session.
   *
   * @returns What the agent knows of each.
   */
  peers(): PeerInfo[] {
    return this.#rooms.sessions.peers();
  }

  /**
   * One peer as the agent sees it.
   *
   * @param fingerprint The peer.
   * @returns Its info, or `undefined` without an open session.
   */
  peer(fingerprint: string): PeerInfo | undefined {
    return this.#rooms.sessions.peer(fingerprint);
  }

  /**
   * Reads the load source now and, when presence changed or lri moved by at
   * least `lriStep` since peers were last told, sends a STATE_UPDATE to
   * every verified peer (the load timer calls this).
   *
   * @returns The sends' completion.
   */
  refreshLoad(): Promise<void> {
    return this.#rooms.presence.refresh();
  }

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
    intent: DeclaredIntent,
    options: { to?: readonly string[]; observe?: boolean } = {},
  ): Promise<SendResult[]> {
    this.#assertRunning();
    return await this.#rooms.actions.declareIntent(intent, options);
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
    return await this.#rooms.actions.proposeFact(fact, trace, options);
  }

  /**
   * Confirms (or rejects, or challenges) a claim in a peer's ledger.
   *
   * @param peer The peer holding the claim.
   * @param factRef The claim id there (the FACT_PROPOSE msg_id it received).
   * @param options `vote` (`confirm` default, `reject`, `challenge`), confidence, notes.
   * @returns The send result.
   */
  async vote(peer: string, factRef: string, options: VoteOptions = {}): Promise<SendResult> {
    this.#assertRunning();
    return await this.#rooms.actions.vote(peer, factRef, options);
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
    return await this.#rooms.actions.askToVerify(claim, options);
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
    return await this.#rooms.actions.shareDecision(decision, trace, options);
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
  async toPerson<T extends PersonMessageType>(
    type: T,
    payload: PayloadOf<"hcp", T>,
  ): Promise<string> {
    return await this.#rooms.actions.toPerson(type, payload);
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
    return await this.#rooms.lipActions.fetch(query, options);
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
    return await this.#rooms.lipActions.askToFetch(peer, query, constraints);
  }

  /**
   * Checks a queued LIP claim and vouches for it only when the agent's judge
   * (`lipJudge`) verified it: without a judge it abstains; otherwise it
   * fetches the source again on the account of the peer the claim came from
   * (refused unless that peer is trusted now), and, when the same claim
   * comes out, the judge's `corroborate` sends `LIP_ACCEPT` naming
   * `claim:<id>` and `dispute` sends `LIP_REJECT`, to that peer (or `to`).
   *
   * @param claim The claim id in this agent's LIP queue.
   * @param options `to`: who gets the vote (default: the claim's peer).
   * @returns Whether it vouched, why, and the sends.
   * @throws {AgentError} `REFUSED` when no such claim is queued.
   */
  async verifyEvidence(
    claim: string,
    options: { to?: readonly string[]; signal?: AbortSignal } = {},
  ): Promise<EvidenceCheck> {
    return await this.#rooms.lipActions.verifyEvidence(claim, options);
  }

  /**
   * Commits an outcome decided outside the loop (the mesh's sanctions and
   * malice reports, an owner's own outcome) through the router: one
   * transaction, its replies signed, its committed effects reported as
   * typed events. Nothing is sent.
   *
   * @param outcome The outcome.
   * @param to The peer it concerns (the replies are addressed to it).
   * @returns The signed envelopes, to send (e.g. through the relay).
   * @throws {QuotaExceededError} When a quota refuses the changes (nothing stored).
   */
  apply(outcome: Outcome, to: { peer: string }): Promise<OutboundEnvelope[]> {
    return this.#rooms.commit(outcome, to);
  }

  /**
   * Re-evaluates a pending CIP claim (e.g. once local overload cleared).
   *
   * @param claim The claim id.
   * @returns The runtime's outcome status.
   */
  async settle(claim: string): Promise<Outcome["status"]> {
    const o = this.cip.settle(claim, this.router.context(this.fingerprint));
    await this.#rooms.commit(o, { peer: this.fingerprint });
    return o.status;
  }

  /**
   * Waits for the next telemetry event (v1.0 contract) of this agent that
   * matches: for tests of what the agent reports. To follow what the agent
   * does, wait on its typed events ({@linkcode Agent.next}).
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
    return this.#rooms.waiters.nextEvent(kind, match, options.signal);
  }

  /**
   * Waits until a condition on the agent's state holds; it is checked now,
   * after every cycle and after every session change.
   *
   * @param check The condition.
   * @param options A signal; `timeoutMs` guards against waiting forever. @default {{ timeoutMs: 30000 }}
   * @throws {AgentError} `TIMEOUT` or `STOPPED`.
   */
  async until(
    check: () => boolean,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<void> {
    await this.#rooms.waiters.until(check, options.timeoutMs ?? 30_000, options.signal);
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
    if (this.#stopped === undefined) {
      // Set before anything runs, so a `stopping` listener that calls stop() gets this promise.
      const done = Promise.withResolvers<void>();
      this.#stopped = done.promise;
      this.#stop().then(done.resolve, done.reject).finally(() => this.#closed.resolve());
    }
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#rooms.events.emit("stopping", { sessions: this.#rooms.sessions.size });
    this.#abort.abort();
    await this.#rooms.shutdown();
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    if (this.#ownsStore) this.store[Symbol.dispose]();
  }

  /** Same as {@linkcode Agent.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
