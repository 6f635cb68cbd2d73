/**
 * The agent's composition: builds its rooms (sessions, the loop, presence,
 * the outbox, intents, CIP and LIP actions, waiters, events and their
 * telemetry) around one router, and wires each room's narrow ports. The
 * router's committed effects become the agent's typed events here, for
 * every commit (a dispatch or an apply).
 *
 * @module
 */

import { CipRuntime } from "../cip/mod.ts";
import type { PeerTrust } from "../envelope/mod.ts";
import { consentRecordContext, consentRecordOf, HcpRuntime } from "../hcp/mod.ts";
import { clockDeadline, FetchBudget, HttpFetcher, LipRuntime } from "../lip/mod.ts";
import { createTelemetry, MetricsRegistry, type StampingTelemetry } from "../observability/mod.ts";
import { type OutboundEnvelope, ProtocolRouter } from "../router/mod.ts";
import type { Effect, LocalLoad, Outcome } from "../runtime/mod.ts";
import type { Store } from "../store/mod.ts";
import type { Transport, TransportAddress, TransportMetrics } from "../transport/mod.ts";
import { createTrustView, trustLevelOf } from "../trust/mod.ts";
import { Actions } from "./actions.ts";
import { DriftDetector } from "./drift.ts";
import { AgentError } from "./errors.ts";
import { AgentEmitter, type AgentEventName, type AgentListener, type Emit } from "./events.ts";
import { Intents } from "./intents.ts";
import { LipActions } from "./lip_actions.ts";
import { InboundShares, type InboundUsage } from "./inbound.ts";
import { ownLoadSource } from "./load.ts";
import { CognitiveLoop } from "./loop.ts";
import type { AgentOptions } from "./options.ts";
import { Outbox, type SendResult } from "./outbox.ts";
import { PresenceTracker } from "./presence.ts";
import { Sessions } from "./sessions.ts";
import { renderTelemetry, reportListenerError } from "./telemetry.ts";
import { Waiters } from "./waiters.ts";
import { randomUuid, systemClock, systemRandom } from "../ports/mod.ts";

/** Everything an agent is made of. */
export interface Rooms {
  /** Counters, gauges, histograms. */
  readonly metrics: MetricsRegistry;
  /** The telemetry every layer reports to. */
  readonly telemetry: StampingTelemetry;
  /** The CIP runtime. */
  readonly cip: CipRuntime;
  /** The HCP runtime. */
  readonly hcp: HcpRuntime;
  /** The LIP runtime. */
  readonly lip: LipRuntime;
  /** The router. */
  readonly router: ProtocolRouter;
  /** The typed events. */
  readonly events: AgentEmitter;
  /** Waiting on the agent. */
  readonly waiters: Waiters;
  /** Sessions, one per peer. */
  readonly sessions: Sessions;
  /** How envelopes leave. */
  readonly outbox: Outbox;
  /** Intents reaching the agent, and the ones it holds open. */
  readonly intents: Intents;
  /** Load, presence and STATE_UPDATEs. */
  readonly presence: PresenceTracker;
  /** CIP and HCP messages the agent starts. */
  readonly actions: Actions;
  /** LIP actions. */
  readonly lipActions: LipActions;
  /** The cognitive loop. */
  readonly loop: CognitiveLoop;
  /** The peers' inbound byte shares. */
  readonly inbound: InboundShares;
  /** A peer's inbound usage with what its session holds in the transport. */
  inboundOf(fp: string): InboundUsage | undefined;
  /**
   * Commits an outcome through the router and reports its effects as events.
   *
   * @returns The signed envelopes to send.
   */
  commit(o: Outcome, to: { peer: string }): Promise<OutboundEnvelope[]>;
  /**
   * A session with the peer (reused when open), then the CIP handshake when
   * the session is new or the peer not verified.
   *
   * @throws {AgentError} `HANDSHAKE_FAILED`.
   */
  connect(
    options: TransportAddress & { fingerprint: string; agentId?: string; signal?: AbortSignal },
  ): Promise<void>;
  /**
   * The CIP handshake with a peer without a session, through the relay.
   *
   * @throws {AgentError} `NOT_CONNECTED` (no relay route), `HANDSHAKE_FAILED`.
   */
  handshakeVia(fp: string, options: { agentId?: string; signal?: AbortSignal }): Promise<void>;
  /**
   * Once the agent is aborted: stops the load timer and the loop, closes
   * every session, shuts the transport down, and waits for the read loops.
   */
  shutdown(): Promise<void>;
}

/** What {@linkcode buildRooms} builds the rooms from. */
export interface RoomParts {
  /** The agent's options. */
  readonly options: AgentOptions;
  /** The store. */
  readonly store: Store;
  /** The transport. */
  readonly transport: Transport;
  /** Whether the agent made the transport (from a factory) and so shuts it down. */
  readonly ownsTransport: boolean;
  /** Aborted when the agent stops. */
  readonly signal: AbortSignal;
  /** Tracks background work the agent waits for when it stops. */
  track(work: Promise<unknown>): void;
}

/**
 * Builds and wires an agent's rooms.
 *
 * @param parts Options, store, transport, the stop signal, work tracking.
 * @returns The rooms.
 */
export function buildRooms(parts: RoomParts): Rooms {
  const { options, store, transport, signal, track } = parts;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const now = () => clock.now();
  const self = options.identity.fingerprint;
  const person = options.person;
  const stopped = () => signal.aborted;
  const metrics = new MetricsRegistry(
    options.metricsMirror === undefined ? {} : { mirror: options.metricsMirror },
  );
  metrics.observe((m) => observeTransport(m, transport.metrics()));
  metrics.observe((m) => {
    m.gauge("web4_store_bytes", store.totalBytes());
    m.gauge("web4_store_quota_bytes", store.byteQuotas.total);
  });
  // Every event carries the trust level of its peer, so sinks reserve room per level.
  const trustSettings = {
    anchors: [...(options.trustAnchors ?? [])],
    pins: { ...(options.trustPins ?? {}) },
  };
  const levels = createTrustView(store, trustSettings, now);
  const telemetry = createTelemetry({
    node: options.identity.agentId,
    sinks: [...(options.sinks ?? []), { write: (e) => waiters.observe(e) }],
    metrics,
    now,
    newId: () => randomUuid(random),
    levelOf: (fp) => trustLevelOf(levels, fp, { self, person }),
  });
  // Telemetry is the first subscriber; the owner's listeners come after it.
  const events = new AgentEmitter((name, err) => reportListenerError(telemetry, name, err));
  const emit: Emit = (name, event) => events.emit(name, event);
  renderTelemetry(events, telemetry, { self, now });
  for (const [name, fn] of Object.entries(options.listeners ?? {})) {
    events.on(name as AgentEventName, fn as AgentListener<AgentEventName>);
  }
  const waiters = new Waiters(signal, events, clock);
  const cip = new CipRuntime(options.cip);
  const hcp = new HcpRuntime(options.hcp);
  const lip = new LipRuntime(options.lip);
  // Rooms built later are only read by closures called once everything is built.
  const load = (): LocalLoad => presence.load;
  const trust = { peer: (fp: string): PeerTrust => router.trust.peer(fp) };
  const commit = async (o: Outcome, to: { peer: string }) => {
    const applied = await router.apply(o, to);
    committed(applied.effects);
    return applied.replies;
  };
  // A peer's budget level is the router's (the person, this agent, trusted peers: `trusted`).
  const inbound = new InboundShares(options.inbound ?? {}, {
    levelOf: (fp) => router.levelOf(fp),
    emit,
    metrics,
  });
  const budgetOf = (fp: string) => {
    const level = router.levelOf(fp);
    return { receiveBytes: inbound.shareOf(level), protected: level === "trusted" };
  };
  const sessions = new Sessions({
    self,
    clock,
    person,
    transport,
    emit,
    telemetry,
    store,
    trust,
    signal,
    message: (bytes, link, channel): Promise<void> | undefined =>
      loop.enqueue(bytes, link, channel),
    room: (fp) => inbound.room(fp),
    budget: budgetOf,
    tooLarge: (fp, session) => inbound.refusedByTransport(fp, session),
    gone: (fp) => inbound.forget(fp),
    track,
  });
  const outbox = new Outbox({ sessions, emit, commit, load, random });
  const intents = new Intents({
    mission: options.mission,
    drift: new DriftDetector(options.mission, options.drift),
    emit,
    metrics,
    now,
    relevant: options.relevantPeers,
    peers: () => sessions.peers(),
    declare: (intent, to): Promise<SendResult[]> =>
      actions.declareIntent(intent, { to, observe: false }),
  });
  const router = new ProtocolRouter({
    identity: options.identity,
    store,
    runtimes: [cip, hcp, lip],
    capabilities: ["state_exchange", "knowledge_exchange", "dmp_trace"],
    trust: trustSettings,
    ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
    config: person === undefined ? {} : { person },
    now,
    clock,
    random,
    load,
    telemetry,
  });
  const actions = new Actions({
    random,
    person,
    cip,
    router,
    store,
    sessions,
    outbox,
    intents,
    load,
  });
  const lipActions = new LipActions({
    identity: options.identity,
    fetcher: options.fetcher ??
      new HttpFetcher({ clock: () => new Date(now()), deadline: clockDeadline(clock), random }),
    budget: new FetchBudget(options.fetchBudget),
    judge: options.lipJudge,
    lip,
    router,
    store,
    outbox,
    emit,
    signal,
    commit,
  });
  const loop = new CognitiveLoop({
    router,
    inbound,
    outbox,
    intents,
    emit,
    gauge: (depth) => metrics.gauge("web4_agent_queue_depth", depth, {}),
    name: (fp, agentId) => sessions.name(fp, agentId),
    committed: (effects) => committed(effects),
    fetch: (request, peer) => track(lipActions.run(request, peer)),
    background: track,
    settled: () => waiters.wake(),
    stopped,
  });

  const presence = new PresenceTracker({
    source: options.load ?? ownLoadSource(),
    queueCapacity: options.queueCapacity ?? 256,
    lriStep: options.lriStep ?? 5,
    intervalMs: options.loadIntervalMs ?? 1000,
    clock,
    queueDepth: () => loop.depth,
    inboundBytes: () => ({ held: inbound.held, capacity: inbound.budget.total }),
    openIntents: () => intents.openCount(),
    emit,
    metrics,
    trust,
    outbox,
    track,
    stopped,
  });

  /** Committed effects, wherever they came from (a dispatch or an apply), as events. */
  function committed(effects: readonly Effect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case "claimChanged":
        case "handshakeVerified":
          emit(effect.type, effect);
          break;
        case "trustChanged":
          if (effect.entry.changed) emit("trustChanged", effect);
          break;
        case "errorReceived":
          intents.closed(effect.inReplyTo);
          emit("errorReceived", effect);
          break;
        case "humanState":
          emit("humanState", { person: effect.person, human: effect.human });
          break;
        case "intentReceived":
          intents.reached({
            source: "peer",
            from: effect.peer,
            msgId: effect.msgId,
            goal: effect.goal,
            topic: effect.topic,
            priority: effect.priority,
            context: effect.context,
            decision: effect.decision,
          });
          break;
        case "deliver": {
          const d = effect.delivery;
          if (d.kind !== "intent") break;
          intents.reached({
            source: "person",
            from: d.person,
            msgId: d.msgId,
            goal: d.goal,
            topic: d.topic,
            priority: d.priority,
          });
          break;
        }
        case "fetch":
          break; // work for the loop, not news
      }
    }
  }

  const verified = (fp: string) => {
    if (fp !== person) presence.verified(fp);
  };
  events.on("handshakeVerified", (e) => verified(e.peer));
  // When the person's session opens, the agent tells them what it holds of
  // them (docs/protocols.md §8): their client sends that state, never defaults.
  events.on("peerUp", (e) => {
    if (!e.person) return;
    const told = consentRecordContext(consentRecordOf(store.person(e.peer)));
    track(
      actions.toPerson("HCP_CONTEXT", told).catch((err) => {
        if (!stopped()) {
          emit("error", { where: "consent_record", error: String(err), peer: e.peer });
        }
      }),
    );
  });
  events.on("peerDown", (e) => {
    if (e.final) presence.forget(e.peer);
  });
  // Trust moves a peer's shares: its inbound share, its sessions' transport budget and protection.
  events.on("trustChanged", (e) => {
    if (e.entry.machine !== "cip") return;
    inbound.retune(e.entry.subject);
    sessions.rebudget(e.entry.subject);
  });
  // Waiting conditions are re-checked after every cycle and every session change.
  const wake = () => waiters.wake();
  for (const name of ["peerUp", "peerDown", "sessionDuplicate"] as const) events.on(name, wake);
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
  const unobserve = transport.onEvent((e) => sessions.observe(e));

  /** The CIP handshake (HELLO, HELLO, VERIFY), waited for until it verified. */
  async function handshake(fp: string, handshakeSignal: AbortSignal | undefined): Promise<void> {
    const opened = cip.open(sessions.receiver(fp), router.context(fp));
    if (opened.status === "refused") {
      throw new AgentError(
        "HANDSHAKE_FAILED",
        `CIP handshake with ${fp} refused: ${opened.reason}`,
      );
    }
    await outbox.commitAndSend(fp, opened);
    try {
      await waiters.until(
        () => store.handshake(fp)?.stage === "verified",
        handshakeTimeoutMs,
        handshakeSignal,
      );
    } catch (err) {
      throw new AgentError(
        "HANDSHAKE_FAILED",
        `CIP handshake with ${fp} did not complete: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  return {
    metrics,
    telemetry,
    cip,
    hcp,
    lip,
    router,
    events,
    waiters,
    sessions,
    outbox,
    intents,
    presence,
    actions,
    lipActions,
    loop,
    inbound,
    inboundOf(fp) {
      const link = sessions.link(fp);
      const usage = inbound.usage(fp);
      if (usage === undefined && link === undefined) return undefined;
      const level = router.levelOf(fp);
      const none = { peer: fp, level, share: inbound.shareOf(level), held: 0, waiting: 0 };
      return {
        ...(usage ?? { ...none, paused: false }),
        transportHeld: link?.session.stats().receiveBytesHeld ?? 0,
      };
    },
    commit,
    async shutdown() {
      presence.stop();
      const looping = loop.stop();
      await sessions.close(200);
      if (parts.ownsTransport) await transport.shutdown({ deadlineMs: 200 }).catch(() => {});
      unobserve();
      await sessions.accepted();
      await looping;
    },
    async connect(o) {
      const fp = o.fingerprint;
      if (o.agentId !== undefined) sessions.name(fp, o.agentId);
      const fresh = !sessions.isOpen(fp);
      if (fresh) await sessions.dial(o);
      // A new session gets a new handshake; a verified one from an earlier session does not count.
      if (fresh || store.handshake(fp)?.stage !== "verified") await handshake(fp, o.signal);
      verified(fp);
    },
    async handshakeVia(fp, o) {
      if (o.agentId !== undefined) sessions.name(fp, o.agentId);
      if (outbox.relay?.reachable(fp) !== true) {
        throw new AgentError("NOT_CONNECTED", `No session and no relay route to ${fp}`);
      }
      if (store.handshake(fp)?.stage !== "verified") await handshake(fp, o.signal);
      verified(fp);
    },
  };
}

/** Copies the transport's own counts into the agent's metrics (run at each scrape). */
function observeTransport(m: MetricsRegistry, t: TransportMetrics): void {
  m.gauge("web4_transport_sessions", t.sessions);
  m.gauge("web4_transport_pending_handshakes", t.pendingHandshakes);
  m.gauge("web4_transport_receive_held_bytes", t.receiveBytesHeld);
  m.counterTotal("web4_transport_handshakes_shed_total", t.handshakesShed);
  m.counterTotal("web4_transport_verification_failures_total", t.verificationFailures);
  m.counterTotal("web4_transport_received_bytes_total", t.bytesIn);
  m.counterTotal("web4_transport_sent_bytes_total", t.bytesOut);
  m.counterTotal("web4_transport_events_dropped_total", t.eventsDropped);
}
