/**
 * The ProtocolRouter: bytes from a session -> verified envelope -> one route
 * per (protocol, type) -> runtime -> one committed transaction -> signed
 * replies and events.
 *
 * @module
 */

import {
  createEnvelope,
  encodeEnvelope,
  type Envelope,
  errorTypeOf,
  FingerprintMismatchError,
  type HumanState,
  InvalidEnvelopeError,
  isErrorType,
  PayloadSchemaError,
  type Protocol,
  replayEntryOf,
  ReplayGuard,
  type ReplayGuardOptions,
  SignatureMismatchError,
  TimestampError,
  TrustViolationError,
  verifyEnvelope,
} from "../envelope/mod.ts";
import { MESSAGE_TYPES, PROTOCOLS } from "../envelope/protocols.ts";
import type { Identity } from "../identity/mod.ts";
import { noopTelemetry, type Telemetry } from "../observability/mod.ts";
import {
  createRuntimeContext,
  type Effect,
  type LocalLoad,
  msgIdBytes,
  newMsgId,
  type Outcome,
  type ProtocolRuntime,
  type ReplySpec,
  type RuntimeConfig,
  type RuntimeContext,
  selfFromIdentity,
} from "../runtime/mod.ts";
import { QuotaExceededError, type Store, type StoreChange } from "../store/mod.ts";
import { createTrustView, declareAnchors, type TrustConfig, type TrustView } from "../trust/mod.ts";
import { channelOf, type RouteChannel } from "./channels.ts";
import { RoutingError } from "./errors.ts";
import { RateLimiter, type RateLimitOptions } from "./rate_limit.ts";

/** A runtime of any one protocol (what the router registers). */
export type AnyProtocolRuntime =
  | ProtocolRuntime<"cip">
  | ProtocolRuntime<"hcp">
  | ProtocolRuntime<"lip">;

/** Options of {@linkcode ProtocolRouter}. */
export interface RouterOptions {
  /** Our identity: signs every reply. */
  identity: Identity;
  /** The agent's store: trust, ledger, queue and the replay window live here. */
  store: Store;
  /** The runtimes to route to (more with {@linkcode ProtocolRouter.register}). */
  runtimes?: readonly AnyProtocolRuntime[] | undefined;
  /** Our capabilities, as sent in `sender.capabilities`. @default {[]} */
  capabilities?: readonly string[] | undefined;
  /** Trust settings (anchors, cooldown, thresholds). */
  trust?: Partial<TrustConfig> | undefined;
  /** Runtime settings (`overloadLri`, the enrolled `person`). */
  config?: Partial<RuntimeConfig> | undefined;
  /** The clock in milliseconds. @default {Date.now} */
  now?: (() => number) | undefined;
  /** The random source (msg_ids, nonces). @default {crypto.getRandomValues} */
  random?: ((n: number) => Uint8Array) | undefined;
  /** Our load, read at each dispatch. @default {() => ({ presence: "focused", lri: 0 })} */
  load?: (() => LocalLoad) | undefined;
  /** Where events and metrics go. @default {noopTelemetry} */
  telemetry?: Telemetry | undefined;
  /** Per-peer rate limit; `false` turns it off. @default {{ burst: 200, perSecond: 100 }} */
  rateLimit?: RateLimitOptions | false | undefined;
  /** Largest accepted envelope in bytes. @default {1048576} */
  maxEnvelopeBytes?: number | undefined;
  /** Largest accepted clock distance in milliseconds. @default {120000} */
  maxSkewMs?: number | undefined;
  /** Bounds of the in-memory replay guard (restored from the store at start). */
  replayGuard?: ReplayGuardOptions | undefined;
  /**
   * The sanction rule for an envelope that failed verification on a
   * session (bad signature, fingerprint mismatch): returns the trust changes
   * for the session's peer. By default the registered CIP runtime's
   * `verificationFailed` (peer trust is the CIP machine), so the rule has
   * one implementation.
   */
  sanctions?: SanctionRule | undefined;
}

/** The sanction rule the router applies to envelopes that fail verification. */
export type SanctionRule = (error: unknown, ctx: RuntimeContext, msgId?: string) => Outcome;

/** Where an inbound message came from: always an authenticated party. */
export interface Inbound {
  /**
   * The fingerprint the envelope must be signed by: the session's peer, or,
   * for a relayed envelope, its origin.
   */
  peer: string;
  /**
   * For a relayed envelope (the mesh): the session's peer that delivered it.
   * Rate limits and verification sanctions fall on it, never on the origin
   * the envelope names; a blacklisted relay is dropped like a blacklisted peer.
   */
  relay?: string | undefined;
  /** The transport session id, for events. */
  session?: string | undefined;
}

/**
 * What happened to one inbound message: the runtime's statuses, plus
 * `dropped` (not processed and not answered: blacklisted peer, bad
 * signature, fingerprint mismatch, replay, rate limit beyond the first
 * refusal).
 */
export type DispatchStatus = "handled" | "deferred" | "refused" | "ignored" | "dropped";

/** A signed envelope ready to send, with the channel kind it travels on. */
export interface OutboundEnvelope {
  /** The signed envelope. */
  envelope: Envelope;
  /** Its wire form (canonical JSON, UTF-8). */
  bytes: Uint8Array;
  /** The channel kind to send it on (one table: `CHANNEL_OF`). */
  channel: RouteChannel;
}

/** The result of {@linkcode ProtocolRouter.dispatch}. */
export interface DispatchResult {
  /** What happened. */
  status: DispatchStatus;
  /** The rule that refused, deferred or dropped it (`untrusted`, `quota`, `replay`, ...). */
  code?: string | undefined;
  /** Human-readable reason. */
  reason?: string | undefined;
  /** When the sender may try again. */
  retryAfterMs?: number | undefined;
  /** The protocol, once known. */
  protocol?: Protocol | undefined;
  /** The message type, once known. */
  type?: string | undefined;
  /** The msg_id, once known. */
  msgId?: string | undefined;
  /** The verified envelope, if it got that far. */
  envelope?: Envelope | undefined;
  /** The typed error behind a refusal or drop, if any. */
  error?: Error | undefined;
  /**
   * What was decided and committed for this message, in order: the
   * runtime's effects, then one `trustChanged` per trust-log entry committed
   * (sanctions of a failed verification included). Empty when nothing was
   * committed.
   */
  effects: readonly Effect[];
  /** Envelopes to send back to the peer, in order. */
  replies: OutboundEnvelope[];
}

/** The result of {@linkcode ProtocolRouter.apply}: what to send, and what was committed. */
export interface Applied {
  /** The signed envelopes to send, in order. */
  replies: OutboundEnvelope[];
  /** The outcome's effects, then one `trustChanged` per committed trust-log entry. */
  effects: readonly Effect[];
}

/**
 * What an untrusted peer may send over CIP: the handshake, errors, and fact
 * proposals (which the CIP runtime records as rejected and counts toward
 * malice, as the trust table's `untrusted` rows require).
 */
const _UNTRUSTED_MAY: ReadonlySet<string> = new Set(["HELLO", "VERIFY", "ERROR", "FACT_PROPOSE"]);
const _NEUTRAL_HUMAN: HumanState = {
  presence: "focused",
  affect: "neutral",
  clarity: 50,
  pressure: 50,
  intent: "unknown",
  consent: "limited",
};

/** Messages handled in one store transaction at most (one write group). */
const _GROUP_MAX = 64;

/**
 * Runs state-changing tasks one at a time, in write groups: tasks queued
 * while one runs join the same store transaction (up to `_GROUP_MAX`), and
 * none of them settles before the group commits. One commit for many
 * messages is the store's fast path; nothing is answered before it is
 * durable.
 */
interface _Queued {
  task: () => Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface _GroupHooks {
  /** A group opened. */
  begin(): void;
  /** The group committed (`true`) or was rolled back (`false`). */
  end(committed: boolean): void;
}

class _GroupRunner {
  #queue: _Queued[] = [];
  #draining = false;
  #store: Store;
  #now: () => number;
  #hooks: _GroupHooks;

  constructor(store: Store, now: () => number, hooks: _GroupHooks) {
    this.#store = store;
    this.#now = now;
    this.#hooks = hooks;
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ task, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#draining) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0) {
        try {
          this.#store.beginGroup({ nowMs: this.#now() });
        } catch (err) {
          for (const item of this.#queue.splice(0)) item.reject(err);
          return;
        }
        this.#hooks.begin();
        const done: { item: _Queued; ok: boolean; value: unknown }[] = [];
        while (this.#queue.length > 0 && done.length < _GROUP_MAX) {
          const item = this.#queue.shift()!;
          try {
            done.push({ item, ok: true, value: await item.task() });
          } catch (err) {
            done.push({ item, ok: false, value: err });
          }
        }
        let failure: unknown;
        try {
          this.#store.endGroup();
        } catch (err) {
          failure = err ?? new Error("Store commit failed");
        }
        this.#hooks.end(failure === undefined);
        for (const { item, ok, value } of done) {
          if (failure !== undefined) item.reject(failure);
          else if (ok) item.resolve(value);
          else item.reject(value);
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}

/**
 * Routes verified envelopes to protocol runtimes and applies their outcomes.
 *
 * The pipeline for each inbound message, in this fixed order:
 * 1. rate limit per authenticated peer (`quota`);
 * 2. trust gate: a blacklisted peer is dropped, unanswered;
 * 3. `verifyEnvelope` with the session's peer as the expected sender and us
 *    as the receiver (a bad signature sanctions the peer `untrusted`, a
 *    fingerprint mismatch `blacklisted`; stale or malformed envelopes and
 *    unknown types are refused with the protocol's error type);
 * 4. one route per (protocol, type);
 * then, one message at a time:
 * 5. replay check against the persisted window (a replay is dropped);
 * 6. trust gate: an untrusted peer may only handshake (`untrusted`);
 * 7. the runtime's pure `handle`;
 * 8. one transaction: the outcome's changes and the replay entry (over a
 *    quota: `quota`, nothing stored);
 * 9. replies signed; a refusal answered with `ERROR`/`HCP_ERROR`/`LIP_ERROR`
 *    (never in answer to an error); events emitted; the committed effects
 *    returned.
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
 * ```
 */
export class ProtocolRouter {
  /** The store the router commits to. */
  readonly store: Store;
  /** The trust view (anchors and settings) runtimes read through. */
  readonly trust: TrustView;
  #identity: Identity;
  #routes = new Map<string, AnyProtocolRuntime>();
  #self: ReturnType<typeof selfFromIdentity>;
  #now: () => number;
  #random: (n: number) => Uint8Array;
  #load: () => LocalLoad;
  #telemetry: Telemetry;
  #limiter: RateLimiter | undefined;
  #lastRefusalReply = new Map<string, number>();
  /** Messages refused or dropped by the rate limit since the last `router.rate_limited` event. */
  #limited = 0;
  #guard: ReplayGuard;
  #runner: _GroupRunner;
  /** Events held back while a write group is open, emitted once it commits. */
  #held: (() => void)[] | undefined;
  #config: Partial<RuntimeConfig>;
  #capabilities: string[];
  #maxEnvelopeBytes: number | undefined;
  #maxSkewMs: number | undefined;
  #sanctions: SanctionRule | undefined;

  /**
   * Creates a router, declares the configured trust anchors (logged with the
   * owner as human actor, once), and restores the replay window from the
   * store.
   *
   * @param options Identity, store, runtimes and settings.
   * @throws {RoutingError} `DUPLICATE_ROUTE` when two runtimes claim a type.
   */
  constructor(options: RouterOptions) {
    this.store = options.store;
    this.#identity = options.identity;
    this.#capabilities = [...(options.capabilities ?? [])];
    this.#self = selfFromIdentity(options.identity, this.#capabilities);
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? ((n) => crypto.getRandomValues(new Uint8Array(n)));
    this.#load = options.load ?? (() => ({ presence: "focused", lri: 0 }));
    this.#telemetry = options.telemetry ?? noopTelemetry;
    this.#limiter = options.rateLimit === false ? undefined : new RateLimiter(options.rateLimit);
    this.#config = { ...options.config };
    this.#maxEnvelopeBytes = options.maxEnvelopeBytes;
    this.#maxSkewMs = options.maxSkewMs;
    this.#sanctions = options.sanctions;
    this.trust = createTrustView(this.store, options.trust, this.#now);
    for (const runtime of options.runtimes ?? []) this.register(runtime);

    const nowMs = this.#now();
    const anchors = declareAnchors(this.trust, this.store, nowMs);
    if (anchors.changes.length > 0) {
      this.store.commit(anchors.changes, { nowMs });
      for (const e of anchors.events) this.#telemetry.emit(e.kind, e.data, e);
    }
    this.#guard = new ReplayGuard(options.replayGuard);
    this.#restoreGuard(nowMs);
    this.#runner = new _GroupRunner(this.store, this.#now, {
      begin: () => {
        this.#held = [];
      },
      end: (committed) => {
        const held = this.#held ?? [];
        this.#held = undefined;
        if (committed) {
          for (const emit of held) emit();
          return;
        }
        // Nothing of the group is stored: forget what the guard recorded for it.
        this.#restoreGuard(this.#now());
        this.#telemetry.emit("router.error", {
          code: "commit_failed",
          message: "A store commit failed; the messages of its group were not applied",
        }, { severity: "error" });
      },
    });
  }

  #restoreGuard(nowMs: number): void {
    this.#guard.clear();
    this.#guard.restore(this.store.replayEntries(nowMs - this.#guard.windowMs), nowMs);
  }

  /**
   * Adds a runtime: one route per message type it lists.
   *
   * @param runtime The runtime.
   * @throws {RoutingError} `DUPLICATE_ROUTE` when a type already has a route
   * (nothing of this runtime is registered then); `UNKNOWN_TYPE` for a type
   * the protocol does not have.
   */
  register(runtime: AnyProtocolRuntime): void {
    const keys: string[] = [];
    for (const type of runtime.types as readonly string[]) {
      if (!(MESSAGE_TYPES[runtime.protocol] as readonly string[]).includes(type)) {
        throw new RoutingError(
          "UNKNOWN_TYPE",
          `Runtime for ${runtime.protocol} lists "${type}", which is not a ${runtime.protocol} message type`,
          { protocol: runtime.protocol, type },
        );
      }
      const key = `${runtime.protocol}/${type}`;
      if (this.#routes.has(key) || keys.includes(key)) {
        throw new RoutingError(
          "DUPLICATE_ROUTE",
          `A route for ${runtime.protocol} ${type} is already registered`,
          { protocol: runtime.protocol, type },
        );
      }
      keys.push(key);
    }
    for (const key of keys) this.#routes.set(key, runtime);
  }

  /**
   * The registered routes, as `protocol/TYPE` strings.
   *
   * @returns The route keys, sorted.
   */
  routes(): string[] {
    return [...this.#routes.keys()].sort();
  }

  /**
   * The message types of the three protocols that have no route yet.
   *
   * @returns `protocol/TYPE` strings; empty when every type is routed.
   */
  missingRoutes(): string[] {
    const missing: string[] = [];
    for (const protocol of PROTOCOLS) {
      for (const type of MESSAGE_TYPES[protocol]) {
        if (!this.#routes.has(`${protocol}/${type}`)) missing.push(`${protocol}/${type}`);
      }
    }
    return missing;
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
   * Applies an outcome that did not come from an inbound message (the
   * agent's own initiative: a HELLO, a FACT_PROPOSE): commits its changes in
   * one transaction, signs its replies and emits its events.
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
      for (const e of outcome.events) this.#emit(e.kind, e.data, e.severity, e.peer ?? to.peer, to);
      const replies = await Promise.all(outcome.replies.map((spec) => this.sign(spec)));
      return { replies, effects: _committedEffects(outcome) };
    });
  }

  /**
   * Signs one reply spec with our identity, keeping the msg_id the runtime
   * chose.
   *
   * @param spec The unsigned reply.
   * @returns The signed envelope, its bytes and its channel.
   */
  async sign(spec: ReplySpec): Promise<OutboundEnvelope> {
    const envelope = await createEnvelope(spec.protocol, spec.type as never, {
      identity: this.#identity,
      receiver: spec.receiver,
      payload: spec.payload as never,
      ...(spec.state === undefined ? {} : { state: spec.state as never }),
      ...(spec.trust === undefined ? {} : { trust: spec.trust }),
      ...(spec.source === undefined ? {} : { source: spec.source }),
      capabilities: this.#capabilities,
      clock: () => new Date(this.#now()),
      random: () => msgIdBytes(spec.msg_id),
    });
    return {
      envelope,
      bytes: encodeEnvelope(envelope),
      channel: channelOf(spec.protocol, spec.type),
    };
  }

  /**
   * Routes one inbound message. Never throws for anything the peer sent:
   * every refusal or drop is a result with a code (and, where the rules
   * allow, a signed error envelope to send back).
   *
   * @param input The message as received (UTF-8 JSON bytes or text).
   * @param from The authenticated party it came from.
   * @returns What happened and what to send back; settled only once the
   *   store transaction holding its changes has committed.
   * @throws {Error} The store's error when the transaction holding this
   *   message could not commit (a local failure such as a full disk): then
   *   nothing of it was applied and the same message is accepted again.
   */
  async dispatch(input: Uint8Array | string, from: Inbound): Promise<DispatchResult> {
    const started = performance.now();
    const result = await this.#dispatch(input, from);
    const labels = { protocol: result.protocol ?? "unknown", status: result.status };
    this.#telemetry.counter("router_messages_total", 1, labels);
    this.#telemetry.histogram("router_dispatch_ms", performance.now() - started, {
      protocol: labels.protocol,
    });
    return result;
  }

  async #dispatch(input: Uint8Array | string, from: Inbound): Promise<DispatchResult> {
    const nowMs = this.#now();
    const peer = from.peer;
    // The session's authenticated peer: the relay for a relayed envelope.
    const sessionPeer = from.relay ?? peer;

    // 1. Rate limit (per session peer).
    if (this.#limiter !== undefined) {
      const verdict = this.#limiter.take(sessionPeer, nowMs);
      if (!verdict.allowed) {
        const reason = `Rate limit of ${this.#limiter.perSecond} messages/s exceeded`;
        const last = this.#lastRefusalReply.get(sessionPeer) ?? -Infinity;
        if (nowMs - last < 1000) {
          // One answer (and one event) per second at most: a flood must not
          // make us parse, sign or log a flood. The drops are counted.
          this.#limited += 1;
          this.#telemetry.counter("router_rate_limited_total");
          return this.#result("dropped", {}, {
            code: "quota",
            reason,
            retryAfterMs: verdict.retryAfterMs,
          });
        }
        this.#lastRefusalReply.set(sessionPeer, nowMs);
        if (this.#lastRefusalReply.size > 4096) {
          this.#lastRefusalReply.delete(this.#lastRefusalReply.keys().next().value!);
        }
        const header = _peek(input);
        const result = this.#result("refused", header, {
          code: "quota",
          reason,
          retryAfterMs: verdict.retryAfterMs,
        });
        await this.#refuse(result, header, from);
        this.#limited += 1;
        this.#telemetry.counter("router_rate_limited_total");
        this.#emit(
          "router.rate_limited",
          {
            msg_id: header.msgId ?? null,
            dropped: this.#limited,
          },
          "warn",
          sessionPeer,
          from,
        );
        this.#limited = 0;
        return result;
      }
    }

    // 2. Blacklisted peers (origin or relay) are dropped, unanswered.
    const blacklisted = [peer, sessionPeer].find((fp) => this.trust.peer(fp) === "blacklisted");
    if (blacklisted !== undefined) {
      const header = _peek(input);
      this.#emit(
        "router.dropped",
        { code: "blacklisted", type: header.type ?? null },
        "warn",
        peer,
        from,
      );
      return this.#result("dropped", header, {
        code: "blacklisted",
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
      return await this.#verifyFailed(err, input, from);
    }

    // 4. Route.
    const header = { protocol: _protocolOf(envelope), type: envelope.type, msgId: envelope.msg_id };
    const runtime = this.#routes.get(`${header.protocol}/${envelope.type}`);
    if (runtime === undefined) {
      const error = new RoutingError(
        "NO_ROUTE",
        `No route for ${header.protocol} ${envelope.type}`,
        header,
      );
      const result = this.#result("refused", header, {
        code: "unknown_type",
        reason: error.message,
        error,
        envelope,
      });
      await this.#refuse(result, header, from);
      this.#emit(
        "router.refused",
        { code: "unknown_type", type: envelope.type },
        "warn",
        peer,
        from,
      );
      return result;
    }

    return await this.#runner.run(() => this.#handle(envelope, runtime, header, from));
  }

  async #handle(
    envelope: Envelope,
    runtime: AnyProtocolRuntime,
    header: _Header,
    from: Inbound,
  ): Promise<DispatchResult> {
    const nowMs = this.#now();
    const peer = from.peer;
    const entry = replayEntryOf(envelope);

    // 5. Replay, against the persisted window.
    const verdict = this.#guard.check(entry.sender, entry.msgId, entry.timestampMs, nowMs);
    if (verdict !== "accepted") {
      this.#emit("router.replay", { msg_id: envelope.msg_id, verdict }, "warn", peer, from);
      return this.#result("dropped", header, {
        code: "replay",
        reason: `Message ${envelope.msg_id} was refused by the replay guard (${verdict})`,
        envelope,
      });
    }

    // 6. Untrusted peers may only handshake (the person's HCP and LIP go to their runtimes).
    const isPerson = this.#config.person !== undefined && this.#config.person === peer;
    const gated = header.protocol === "cip"
      ? !_UNTRUSTED_MAY.has(envelope.type)
      : header.protocol === "lip" && !isPerson && !isErrorType(envelope.type);
    if (gated && this.trust.peer(peer) === "untrusted") {
      const result = this.#result("refused", header, {
        code: "untrusted",
        reason: `Peer ${peer} is untrusted: only the handshake is accepted`,
        envelope,
      });
      this.#commitReplayOnly(entry, nowMs);
      await this.#refuse(result, header, from);
      this.#emit("router.refused", { code: "untrusted", type: envelope.type }, "warn", peer, from);
      return result;
    }

    // 7. The runtime.
    const ctx = this.context(peer, from.session);
    let outcome: Outcome;
    try {
      outcome = await runtime.handle(envelope as never, ctx);
    } catch (err) {
      const result = this.#result("refused", header, {
        code: "internal_error",
        reason: `The ${header.protocol} runtime failed on ${envelope.type}`,
        error: err instanceof Error ? err : new Error(String(err)),
        envelope,
      });
      this.#commitReplayOnly(entry, nowMs);
      await this.#refuse(result, header, from);
      this.#emit(
        "router.error",
        {
          code: "internal_error",
          type: envelope.type,
          message: err instanceof Error ? err.message : String(err),
        },
        "error",
        peer,
        from,
      );
      return result;
    }

    // 8. One transaction: the outcome's changes and the replay entry.
    const changes: StoreChange[] = [...outcome.changes, { kind: "replay.add", entry }];
    try {
      this.store.commit(changes, { nowMs });
    } catch (err) {
      if (!(err instanceof QuotaExceededError)) throw err;
      this.#guard.record(entry.sender, entry.msgId, entry.timestampMs, nowMs);
      const result = this.#result("refused", header, {
        code: "quota",
        reason: err.message,
        error: err,
        envelope,
      });
      await this.#refuse(result, header, from);
      this.#emit("router.refused", { code: "quota", type: envelope.type }, "warn", peer, from);
      return result;
    }
    this.#guard.record(entry.sender, entry.msgId, entry.timestampMs, nowMs);

    // 9. Replies, refusal, events.
    const result = this.#result(outcome.status, header, {
      code: outcome.code,
      reason: outcome.reason,
      retryAfterMs: outcome.retryAfterMs,
      envelope,
      effects: _committedEffects(outcome),
    });
    for (const spec of outcome.replies) result.replies.push(await this.sign(spec));
    if (outcome.status === "refused") await this.#refuse(result, header, from);
    for (const e of outcome.events) this.#emit(e.kind, e.data, e.severity, e.peer ?? peer, from);
    this.#emit(
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
    return result;
  }

  async #verifyFailed(
    err: unknown,
    input: Uint8Array | string,
    from: Inbound,
  ): Promise<DispatchResult> {
    const peer = from.peer;
    const header = _peek(input);
    const error = err instanceof Error ? err : new Error(String(err));
    const senderMismatch = err instanceof TrustViolationError && err.path.startsWith("/sender");
    if (
      err instanceof SignatureMismatchError || err instanceof FingerprintMismatchError ||
      senderMismatch
    ) {
      // Sanctions fall on the session's authenticated peer (for a relayed
      // envelope, the relay that delivered it), never on a fingerprint the
      // envelope claims.
      const event = err instanceof SignatureMismatchError
        ? "invalid_signature"
        : "fingerprint_mismatch";
      const effects = await this.#runner.run(() =>
        Promise.resolve(this.#sanction(error, header.msgId, from))
      );
      this.#emit(
        "router.dropped",
        { code: event, msg_id: header.msgId ?? null },
        "warn",
        from.relay ?? peer,
        from,
      );
      const result = this.#result("dropped", header, {
        code: event,
        reason: error.message,
        error,
        effects,
      });
      return result;
    }
    if (err instanceof TimestampError) {
      const result = this.#result("refused", header, {
        code: "stale",
        reason: error.message,
        error,
      });
      await this.#refuse(result, header, from);
      this.#emit(
        "router.refused",
        { code: "stale", type: header.type ?? null },
        "warn",
        peer,
        from,
      );
      return result;
    }
    if (err instanceof TrustViolationError) {
      const result = this.#result("refused", header, {
        code: "wrong_receiver",
        reason: error.message,
        error,
      });
      await this.#refuse(result, header, from);
      this.#emit(
        "router.refused",
        { code: "wrong_receiver", type: header.type ?? null },
        "warn",
        peer,
        from,
      );
      return result;
    }
    if (err instanceof InvalidEnvelopeError || err instanceof PayloadSchemaError) {
      let code = err instanceof PayloadSchemaError ? "payload_schema" : "invalid_envelope";
      let typed: Error = error;
      if (header.protocol === undefined && header.structured === true) {
        code = "unknown_protocol";
        typed = new RoutingError(
          "UNKNOWN_PROTOCOL",
          `Message has no known protocol version key (cip, hcp, lip)`,
          {},
          { cause: err },
        );
      } else if (
        header.protocol !== undefined && header.type !== undefined &&
        !(MESSAGE_TYPES[header.protocol] as readonly string[]).includes(header.type)
      ) {
        code = "unknown_type";
        typed = new RoutingError(
          "UNKNOWN_TYPE",
          `"${header.type}" is not a ${header.protocol} message type`,
          header,
          { cause: err },
        );
      }
      const result = this.#result("refused", header, { code, reason: typed.message, error: typed });
      await this.#refuse(result, header, from);
      this.#emit("router.refused", { code, type: header.type ?? null }, "warn", peer, from);
      return result;
    }
    throw err;
  }

  #sanction(error: Error, msgId: string | undefined, from: Inbound): Effect[] {
    const rule = this.#sanctions ?? this.#defaultSanctions();
    if (rule === undefined) return [];
    const sanctioned = from.relay ?? from.peer;
    const result = rule(error, this.context(sanctioned, from.session), msgId);
    this.store.commit(result.changes, { nowMs: this.#now() });
    for (const e of result.events) {
      this.#emit(e.kind, e.data, e.severity, e.peer ?? sanctioned, from);
    }
    return _committedEffects(result);
  }

  #defaultSanctions(): SanctionRule | undefined {
    const cip = this.#routes.get("cip/HELLO") as
      | (AnyProtocolRuntime & { verificationFailed?: SanctionRule })
      | undefined;
    return typeof cip?.verificationFailed === "function"
      ? (error, ctx, msgId) => cip.verificationFailed!(error, ctx, msgId)
      : undefined;
  }

  #commitReplayOnly(entry: ReturnType<typeof replayEntryOf>, nowMs: number): void {
    try {
      this.store.commit([{ kind: "replay.add", entry }], { nowMs });
    } catch (err) {
      if (!(err instanceof QuotaExceededError)) throw err;
    }
    this.#guard.record(entry.sender, entry.msgId, entry.timestampMs, nowMs);
  }

  /** Appends the protocol's signed error envelope to `result.replies`, unless the message was one. */
  async #refuse(result: DispatchResult, header: _Header, from: Inbound): Promise<void> {
    const protocol = header.protocol ?? "cip";
    if (header.msgId === undefined || !_UUID_V4.test(header.msgId)) return;
    if (header.type !== undefined && isErrorType(header.type)) return;
    const payload = {
      in_reply_to: header.msgId,
      code: result.code ?? "refused",
      reason: (result.reason ?? "Refused").slice(0, 1000),
      ...(result.retryAfterMs === undefined
        ? {}
        : { retry_after_ms: Math.max(0, Math.ceil(result.retryAfterMs)) }),
    };
    const receiver = { agent_id: header.agentId ?? "unknown", fingerprint: from.peer };
    const spec = {
      protocol,
      type: errorTypeOf(protocol),
      msg_id: newMsgId(this.#random),
      receiver,
      payload,
      ...(protocol === "hcp"
        ? { state: { human: this.store.person(from.peer)?.humanState ?? _NEUTRAL_HUMAN } }
        : {}),
    } as ReplySpec;
    result.replies.push(await this.sign(spec));
  }

  #result(status: DispatchStatus, header: _Header, parts: Partial<DispatchResult>): DispatchResult {
    const result: DispatchResult = { status, effects: [], replies: [] };
    if (header.protocol !== undefined) result.protocol = header.protocol;
    if (header.type !== undefined) result.type = header.type;
    if (header.msgId !== undefined) result.msgId = header.msgId;
    for (const [key, value] of Object.entries(parts)) {
      if (value !== undefined) (result as unknown as Record<string, unknown>)[key] = value;
    }
    return result;
  }

  #emit(
    kind: string,
    data: Parameters<Telemetry["emit"]>[1],
    severity: "debug" | "info" | "warn" | "error" | undefined,
    peer: string,
    from: Inbound,
  ): void {
    const emit = () =>
      this.#telemetry.emit(kind, data, {
        ...(severity === undefined ? {} : { severity }),
        peer,
        ...(from.session === undefined ? {} : { session: from.session }),
      });
    if (this.#held === undefined) emit();
    else this.#held.push(emit);
  }
}

const _UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface _Header {
  protocol?: Protocol | undefined;
  type?: string | undefined;
  msgId?: string | undefined;
  agentId?: string | undefined;
  /** Whether the input parsed as a JSON object at all. */
  structured?: boolean | undefined;
}

function _protocolOf(envelope: Envelope): Protocol {
  return "cip" in envelope ? "cip" : "hcp" in envelope ? "hcp" : "lip";
}

/**
 * Reads protocol, type, msg_id and sender agent id from an unverified
 * message, for answering a refusal. Never trusted for anything else.
 */
function _peek(input: Uint8Array | string): _Header {
  let value: unknown;
  try {
    value = JSON.parse(typeof input === "string" ? input : new TextDecoder().decode(input));
  } catch {
    return {};
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  const v = value as Record<string, unknown>;
  const protocol = PROTOCOLS.find((p) => v[p] === "1.0");
  const sender = v.sender as Record<string, unknown> | undefined;
  return {
    structured: true,
    protocol,
    type: typeof v.type === "string" ? v.type.slice(0, 64) : undefined,
    msgId: typeof v.msg_id === "string" ? v.msg_id : undefined,
    agentId: typeof sender?.agent_id === "string" && sender.agent_id.length <= 128 &&
        sender.agent_id.length > 0
      ? sender.agent_id
      : undefined,
  };
}

/** An outcome's effects, then one `trustChanged` per trust-log entry among its changes. */
function _committedEffects(outcome: Outcome): Effect[] {
  const effects: Effect[] = [...outcome.effects];
  for (const change of outcome.changes) {
    if (change.kind === "trust.log") effects.push({ type: "trustChanged", entry: change.entry });
  }
  return effects;
}
