/**
 * The ProtocolRouter: bytes from a session -> verified envelope -> one route
 * per (protocol, type) -> runtime -> one committed transaction -> signed
 * replies and the committed effects (rendered as telemetry events).
 *
 * @module
 */

import {
  type Envelope,
  type Protocol,
  replayEntryOf,
  ReplayGuard,
  verifyEnvelope,
} from "../envelope/mod.ts";
import type { Identity } from "../identity/mod.ts";
import { noopTelemetry, type Telemetry } from "../observability/mod.ts";
import {
  createRuntimeContext,
  type LocalLoad,
  type Outcome,
  type ReplySpec,
  type RuntimeConfig,
  type RuntimeContext,
  selfFromIdentity,
} from "../runtime/mod.ts";
import { type ByteLevel, QuotaExceededError, type Store, type StoreChange } from "../store/mod.ts";
import { createTrustView, declareAnchors, type TrustView } from "../trust/mod.ts";
import { RoutingError } from "./errors.ts";
import { committedEffects, RouterEvents, trustEffects } from "./events.ts";
import { RateGate, type RateLimiter } from "./rate_limit.ts";
import { peekHeader, type RoutedHeader, untrustedMay, verificationRefusal } from "./refusals.ts";
import { dispatchResult, type Pending } from "./results.ts";
import { Replies } from "./replies.ts";
import { TurnAways } from "./turn_away.ts";
import { RouteTable } from "./routes.ts";
import type {
  AnyProtocolRuntime,
  Applied,
  DispatchResult,
  Inbound,
  OutboundEnvelope,
  RouterOptions,
} from "./types.ts";
import { WriteGroupRunner, type WriteTicket } from "./write_group.ts";
import { type Clock, sleep, systemClock, systemRandom } from "../ports/mod.ts";

/**
 * Routes verified envelopes to protocol runtimes and applies their outcomes.
 *
 * The pipeline for each inbound message, in this fixed order (each step
 * that turns a message away names its row of the refusal table,
 * `REFUSALS`):
 * 1. rate limit per authenticated peer (`rate_limited`, `rate_flood`);
 * 2. trust gate: a blacklisted peer is dropped, unanswered (`blacklisted`);
 * 3. `verifyEnvelope` with the session's peer as the expected sender and us
 *    as the receiver (a bad signature sanctions the peer `untrusted`, a
 *    fingerprint mismatch `blacklisted`, through the sanction rule; stale or
 *    malformed envelopes and unknown types are refused with the protocol's
 *    error type);
 * 4. one route per (protocol, type) (`no_route`);
 * then, one message at a time, in write groups:
 * 5. replay check against the persisted window (`replay`);
 * 6. trust gate: an untrusted peer may only handshake (`untrusted`);
 * 7. the runtime's pure `handle` (`internal_error` if it throws);
 * 8. one transaction: the outcome's changes and the replay entry (over a
 *    quota: `quota`, nothing stored);
 * 9. replies signed; a refusal answered with `ERROR`/`HCP_ERROR`/`LIP_ERROR`
 *    (never in answer to an error); the committed effects rendered as
 *    events and returned.
 *
 * @example A peer's HELLO is routed to the CIP runtime, which answers it
 * ```ts
 * import { ProtocolRouter } from "./mod.ts";
 * import { CipRuntime } from "../cip/mod.ts";
 * import { createEnvelope, encodeEnvelope } from "../envelope/mod.ts";
 * import { Identity } from "../identity/mod.ts";
 * import { openStore } from "../store/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [me, peer] = await Promise.all([Identity.generate(), Identity.generate()]);
 * using store = openStore(":memory:");
 * const router = new ProtocolRouter({ identity: me, store, runtimes: [new CipRuntime()] });
 * const hello = await createEnvelope("cip", "HELLO", {
 *   identity: peer,
 *   receiver: { agent_id: me.agentId, fingerprint: me.fingerprint },
 *   payload: {
 *     protocols: ["cip/1.0"],
 *     capabilities: ["state_exchange"],
 *     session_nonce: btoa("0123456789abcdef"),
 *     challenge: btoa("0123456789abcdef0123456789abcdef"),
 *     features: { supports_mesh: false, supports_multiplex: true },
 *   },
 * });
 * // `peer` is the fingerprint the transport authenticated for this session.
 * const result = await router.dispatch(encodeEnvelope(hello), { peer: peer.fingerprint });
 * assert.equal(result.status, "handled");
 * assert.equal(result.replies[0]?.envelope.type, "HELLO"); // the answering HELLO
 * assert.equal(result.replies[0]?.channel, "control"); // send it on this channel kind
 * assert.deepEqual(result.effects, [
 *   { type: "handshakeProgress", peer: peer.fingerprint, step: "hello_answered" },
 * ]);
 * ```
 */
export class ProtocolRouter {
  /** The store the router commits to. */
  readonly store: Store;
  /** The trust view (anchors and settings) runtimes read through. */
  readonly trust: TrustView;
  #identity: Identity;
  #routes: RouteTable;
  #self: ReturnType<typeof selfFromIdentity>;
  #now: () => number;
  readonly #clock: Clock;
  #random: (n: number) => Uint8Array;
  #load: () => LocalLoad;
  #telemetry: Telemetry;
  #rate: RateGate | undefined;
  #guard: ReplayGuard;
  #runner: WriteGroupRunner;
  #events: RouterEvents;
  #replies: Replies;
  #turnAways: TurnAways;
  #config: Partial<RuntimeConfig>;
  #capabilities: string[];
  #maxEnvelopeBytes: number | undefined;
  #maxSkewMs: number | undefined;

  /**
   * Creates a router, declares the configured trust anchors (logged with the
   * owner as human actor, once), and restores the replay window from the
   * store.
   *
   * @param options Identity, store, runtimes and settings.
   * @throws {RoutingError} `DUPLICATE_ROUTE` when two runtimes claim a type
   *   (or, without `options.sanctions`, two declare a sanction rule).
   */
  constructor(options: RouterOptions) {
    this.store = options.store;
    this.#identity = options.identity;
    this.#capabilities = [...(options.capabilities ?? [])];
    this.#self = selfFromIdentity(options.identity, this.#capabilities);
    this.#now = options.now ?? systemClock.now;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#load = options.load ?? (() => ({ presence: "focused", lri: 0 }));
    this.#telemetry = options.telemetry ?? noopTelemetry;
    this.#events = new RouterEvents(this.#telemetry);
    this.#rate = options.rateLimit === false ? undefined : new RateGate(options.rateLimit);
    this.#config = { ...options.config };
    this.#maxEnvelopeBytes = options.maxEnvelopeBytes;
    this.#maxSkewMs = options.maxSkewMs;
    this.#routes = new RouteTable(options.sanctions);
    this.#replies = new Replies({
      identity: this.#identity,
      capabilities: this.#capabilities,
      now: this.#now,
      random: this.#random,
      store: this.store,
    });
    this.trust = createTrustView(this.store, options.trust, this.#now);
    for (const runtime of options.runtimes ?? []) this.register(runtime);

    const nowMs = this.#now();
    const anchors = declareAnchors(this.trust, this.store, nowMs);
    if (anchors.changes.length > 0) {
      this.store.commit(anchors.changes, { nowMs });
      this.#events.render(trustEffects(anchors.changes), this.#self.fingerprint, {
        peer: this.#self.fingerprint,
      });
    }
    this.#guard = new ReplayGuard(options.replayGuard);
    this.#restoreGuard(nowMs);
    this.#runner = new WriteGroupRunner(this.store, this.#now, {
      begin: () => this.#events.hold(),
      end: (committed) => {
        this.#events.release(committed);
        if (committed) return;
        // Nothing of the group is stored: forget what the guard recorded for it.
        this.#restoreGuard(this.#now());
        this.#telemetry.emit("router.error", {
          code: "commit_failed",
          message: "A store commit failed; the messages of its group were not applied",
        }, { severity: "error" });
      },
    }, {
      // The batching delay runs on the router's clock; an abort ends it early.
      wait: (ms, signal) => sleep(this.#clock, ms, signal).catch(() => {}),
      ...options.writeGroups,
    });
    this.#turnAways = new TurnAways({
      store: this.store,
      now: this.#now,
      runner: this.#runner,
      routes: this.#routes,
      events: this.#events,
      replies: this.#replies,
      context: (peer, session) => this.context(peer, session),
    });
  }

  /**
   * The per-peer rate limit (`undefined` when `rateLimit: false`): a layer
   * that takes inbound units before the router (the mesh's frames) charges
   * the same buckets, so a session peer has one limit for everything it sends.
   */
  get rateLimiter(): RateLimiter | undefined {
    return this.#rate?.limiter;
  }

  #restoreGuard(nowMs: number): void {
    this.#guard.clear();
    this.#guard.restore(this.store.replayEntries(nowMs - this.#guard.windowMs), nowMs);
  }

  /**
   * Adds a runtime: one route per message type it lists, and its sanction
   * rule if it declares one (`ProtocolRuntime.sanctions`) and the options
   * named none.
   *
   * @param runtime The runtime.
   * @throws {RoutingError} `DUPLICATE_ROUTE` when a type already has a route,
   *   or when it declares a sanction rule and another registered runtime
   *   already did (nothing of this runtime is registered then);
   *   `UNKNOWN_TYPE` for a type the protocol does not have.
   */
  register(runtime: AnyProtocolRuntime): void {
    this.#routes.register(runtime);
  }

  /**
   * The registered routes, as `protocol/TYPE` strings.
   *
   * @returns The route keys, sorted.
   */
  routes(): string[] {
    return this.#routes.keys();
  }

  /**
   * The message types of the three protocols that have no route yet.
   *
   * @returns `protocol/TYPE` strings; empty when every type is routed.
   */
  missingRoutes(): string[] {
    return this.#routes.missing();
  }

  /**
   * Builds the runtime context for a party, as dispatch does: for callers
   * that start an exchange themselves (a CIP handshake, an LIP fetch).
   *
   * @param peer The authenticated peer.
   * @param session The transport session id.
   * @returns The context.
   */
  context(peer: string, session?: string): RuntimeContext {
    return createRuntimeContext({
      self: this.#self,
      peer,
      store: this.store,
      trust: this.trust,
      session,
      now: this.#now,
      random: this.#random,
      load: this.#load(),
      telemetry: this.#telemetry,
      config: this.#config,
    });
  }

  /**
   * A party's budget level (store byte quotas, inbound shares): `trusted` for
   * the person, this agent and peers trusted now; `probing` for the rest.
   *
   * @param peer The party's fingerprint.
   * @returns Its level.
   */
  levelOf(peer: string): ByteLevel {
    const own = peer === this.#config.person || peer === this.#self.fingerprint;
    return own || this.trust.peer(peer) === "trusted" ? "trusted" : "probing";
  }

  /**
   * Refuses, unrouted, a message larger than its sender's inbound share:
   * answered with code `quota` (row `too_large`).
   *
   * @param input The message.
   * @param from Its party.
   * @param reason Why.
   * @returns The refusal, its signed answer in `replies`.
   */
  refuse(input: Uint8Array | string, from: Inbound, reason: string): Promise<DispatchResult> {
    return this.#turnAways.turnAway("too_large", peekHeader(input), from, { reason });
  }

  /**
   * Applies an outcome that did not come from an inbound message (the
   * agent's own initiative: a HELLO, a FACT_PROPOSE): commits its changes in
   * one transaction, signs its replies, and renders its committed effects as
   * events.
   *
   * @param outcome The outcome.
   * @param to The peer the replies go to.
   * @returns The signed envelopes to send, in order, and the committed
   *   effects (the outcome's, then one `trustChanged` per trust-log entry);
   *   settled once the changes have committed.
   * @throws {QuotaExceededError} When a quota refuses the changes (nothing stored).
   */
  apply(outcome: Outcome, to: Inbound): Promise<Applied> {
    return this.#runner.run(async () => {
      this.store.commit(outcome.changes, { nowMs: this.#now() });
      const effects = committedEffects(outcome);
      this.#events.render(effects, to.peer, to);
      const replies = await Promise.all(outcome.replies.map((spec) => this.sign(spec)));
      return { replies, effects };
    });
  }

  /**
   * Signs one reply spec with our identity, keeping the msg_id the runtime
   * chose.
   *
   * @param spec The unsigned reply.
   * @returns The signed envelope, its bytes and its channel.
   */
  sign(spec: ReplySpec): Promise<OutboundEnvelope> {
    return this.#replies.sign(spec);
  }

  /**
   * Routes one inbound message. Never throws for anything the peer sent:
   * every refusal or drop is a result with a code (and, where the rules
   * allow, a signed error envelope to send back).
   *
   * @param input The message as received (UTF-8 JSON bytes or text).
   * @param from The authenticated party it came from.
   * @returns What happened, what to send back, and the committed effects;
   *   settled only once the store transaction holding its changes has
   *   committed.
   * @throws {Error} The store's error when the transaction holding this
   *   message could not commit (a local failure such as a full disk): then
   *   nothing of it was applied and the same message is accepted again.
   */
  async dispatch(input: Uint8Array | string, from: Inbound): Promise<DispatchResult> {
    const started = this.#clock.monotonic();
    const result = await this.#dispatch(input, from);
    const labels = { protocol: result.protocol ?? "unknown", status: result.status };
    this.#telemetry.counter("web4_router_messages_total", 1, labels);
    if ((result.status === "refused" || result.status === "dropped") && result.code !== undefined) {
      this.#telemetry.counter("web4_router_refusals_total", 1, { code: result.code });
    }
    this.#telemetry.histogram(
      "web4_router_dispatch_seconds",
      (this.#clock.monotonic() - started) / 1000,
      { protocol: labels.protocol },
    );
    return result;
  }

  async #dispatch(input: Uint8Array | string, from: Inbound): Promise<DispatchResult> {
    // An open write group may wait (within its batching delay) for this message.
    const ticket = this.#runner.expect();
    try {
      return await this.#route(input, from, ticket);
    } finally {
      ticket.cancel();
    }
  }

  async #route(
    input: Uint8Array | string,
    from: Inbound,
    ticket: WriteTicket,
  ): Promise<DispatchResult> {
    const nowMs = this.#now();
    const peer = from.peer;
    // The session's authenticated peer: the relay for a relayed envelope.
    const sessionPeer = from.relay ?? peer;

    // 1. Rate limit (per session peer): one answer a second at most, the rest dropped.
    const rate = this.#rate?.take(sessionPeer, nowMs);
    if (rate !== undefined && rate.verdict !== "allowed") {
      this.#telemetry.counter("web4_router_rate_limited_total");
      const parts = {
        reason: `Rate limit of ${this.#rate!.limiter.perSecond} messages/s exceeded`,
        retryAfterMs: rate.retryAfterMs,
        detail: rate.dropped,
      };
      return rate.verdict === "flood"
        ? await this.#turnAways.turnAway("rate_flood", {}, from, parts)
        : await this.#turnAways.turnAway("rate_limited", peekHeader(input), from, parts);
    }

    // 2. Blacklisted peers (origin or relay) are dropped, unanswered.
    const blacklisted = [peer, sessionPeer].find((fp) => this.trust.peer(fp) === "blacklisted");
    if (blacklisted !== undefined) {
      return await this.#turnAways.turnAway("blacklisted", peekHeader(input), from, {
        reason: `Peer ${blacklisted} is blacklisted`,
      });
    }

    // 3. Verify, bound to the session's peer (a relayed envelope: its origin) and to us.
    let envelope: Envelope;
    try {
      envelope = await verifyEnvelope(input, {
        expectedSender: peer,
        expectedReceiver: this.#identity.fingerprint,
        now: () => new Date(this.#now()),
        ...(this.#maxEnvelopeBytes === undefined
          ? {}
          : { maxEnvelopeBytes: this.#maxEnvelopeBytes }),
        ...(this.#maxSkewMs === undefined ? {} : { maxSkewMs: this.#maxSkewMs }),
      });
    } catch (err) {
      const header = peekHeader(input);
      const refusal = verificationRefusal(err, header);
      if (refusal === undefined) throw err;
      return await this.#turnAways.turnAway(refusal.reason, header, from, {
        reason: refusal.error.message,
        error: refusal.error,
      });
    }

    // 4. Route.
    const header: RoutedHeader = {
      protocol: _protocolOf(envelope),
      type: envelope.type,
      msgId: envelope.msg_id,
    };
    const runtime = this.#routes.get(header.protocol, envelope.type);
    if (runtime === undefined) {
      const error = new RoutingError(
        "NO_ROUTE",
        `No route for ${header.protocol} ${envelope.type}`,
        header,
      );
      return await this.#turnAways.turnAway("no_route", header, from, {
        reason: error.message,
        error,
        envelope,
      });
    }

    // Steps 5-8 in a write group; the replies are signed once it has committed.
    return await this.#replies.finish(
      await ticket.run(() => this.#handle(envelope, runtime, header, from)),
    );
  }

  async #handle(
    envelope: Envelope,
    runtime: AnyProtocolRuntime,
    header: RoutedHeader,
    from: Inbound,
  ): Promise<Pending> {
    const nowMs = this.#now();
    const peer = from.peer;
    const entry = replayEntryOf(envelope);

    // 5. Replay, against the persisted window.
    const verdict = this.#guard.check(entry.sender, entry.msgId, entry.timestampMs, nowMs);
    if (verdict !== "accepted") {
      return await this.#turnAways.refuse("replay", header, from, {
        reason: `Message ${envelope.msg_id} was refused by the replay guard (${verdict})`,
        envelope,
        detail: verdict,
      });
    }

    // 6. Untrusted peers may only handshake (the person's HCP and LIP go to their runtimes).
    const isPerson = this.#config.person !== undefined && this.#config.person === peer;
    if (
      !untrustedMay(header.protocol, envelope.type, isPerson) &&
      this.trust.peer(peer) === "untrusted"
    ) {
      this.#commitReplayOnly(entry, nowMs);
      return await this.#turnAways.refuse("untrusted", header, from, {
        reason: `Peer ${peer} is untrusted: only the handshake is accepted`,
        envelope,
      });
    }

    // 7. The runtime.
    let outcome: Outcome;
    try {
      outcome = await runtime.handle(envelope as never, this.context(peer, from.session));
    } catch (err) {
      this.#commitReplayOnly(entry, nowMs);
      return await this.#turnAways.refuse("internal_error", header, from, {
        reason: `The ${header.protocol} runtime failed on ${envelope.type}`,
        error: err instanceof Error ? err : new Error(String(err)),
        envelope,
        detail: err instanceof Error ? err.message : String(err),
      });
    }

    // 8. One transaction: the outcome's changes and the replay entry, charged to the origin.
    const changes: StoreChange[] = [...outcome.changes, { kind: "replay.add", entry }];
    try {
      this.store.commit(changes, { nowMs, charge: { peer, level: this.levelOf(peer) } });
    } catch (err) {
      if (!(err instanceof QuotaExceededError)) throw err;
      this.#guard.record(entry.sender, entry.msgId, entry.timestampMs, nowMs);
      return await this.#turnAways.refuse("quota", header, from, {
        reason: err.message,
        error: err,
        envelope,
      });
    }
    this.#guard.record(entry.sender, entry.msgId, entry.timestampMs, nowMs);

    // 9. Replies, the answer to a refusal, the committed effects and their events.
    const effects = committedEffects(outcome);
    const result = dispatchResult(outcome.status, header, {
      code: outcome.code,
      reason: outcome.reason,
      retryAfterMs: outcome.retryAfterMs,
      envelope,
      effects,
    });
    this.#events.render(effects, peer, from);
    this.#events.emit(
      "router.dispatched",
      {
        protocol: header.protocol,
        type: envelope.type,
        msg_id: envelope.msg_id,
        status: outcome.status,
        ...(outcome.code === undefined ? {} : { code: outcome.code }),
      },
      outcome.status === "refused" ? "warn" : "debug",
      peer,
      from,
    );
    return {
      result,
      replies: outcome.replies,
      answer: outcome.status === "refused" ? { header, from } : null,
    };
  }

  #commitReplayOnly(entry: ReturnType<typeof replayEntryOf>, nowMs: number): void {
    try {
      this.store.commit([{ kind: "replay.add", entry }], { nowMs });
    } catch (err) {
      if (!(err instanceof QuotaExceededError)) throw err;
    }
    this.#guard.record(entry.sender, entry.msgId, entry.timestampMs, nowMs);
  }
}

function _protocolOf(envelope: Envelope): Protocol {
  return "cip" in envelope ? "cip" : "hcp" in envelope ? "hcp" : "lip";
}
