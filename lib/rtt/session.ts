/**
 * `RttSession`: one authenticated conversation with a peer, over any number
 * of connections (a lost connection is resumed under the same session).
 *
 * @module
 */

import { Status } from "./ffi.ts";
import type { NodeCore } from "./core.ts";
import { readNativeJson, utf8 } from "./args.ts";
import type { NativeEvent } from "./events.ts";
import { errorFromStatus } from "./errors.ts";
import { RTTDisconnectedError } from "../transport/errors.ts";
import {
  type SessionEventType,
  type SessionHook,
  type SessionHookEvent,
  SessionHooks,
} from "../transport/hooks.ts";
import type {
  TransportSession,
  TransportSessionBudget,
  TransportSessionCloseOptions,
  TransportSessionState,
} from "../transport/types.ts";
import { checkChannelKind, checkInteger, checkPolicy, NUMERIC_OPTIONS } from "./options.ts";
import {
  channelInternals,
  type RttChannel,
  type RttChannelOptions,
  type SessionLink,
} from "./channel.ts";
import { emptyStats, toStats, type TransportStats as RttStats } from "../transport/stats.ts";

/** The state of a session (the contract's {@linkcode TransportSessionState}). */
export type RttSessionState = TransportSessionState;

/** Options of {@linkcode RttSession.close}. */
export type SessionCloseOptions = TransportSessionCloseOptions;

/** Default scheduling class per channel kind: control > state > the rest. */
function _defaultPriority(kind: string): 0 | 1 | 2 {
  return kind === "control" ? 0 : kind === "state" ? 1 : 2;
}

/** A lifecycle event as the node's observer sees it (see `RttNodeEvent`). Internal. */
export interface SessionLifecycleEvent extends SessionHookEvent {
  /** Which event. */
  type: SessionEventType;
  /** The peer's fingerprint. */
  peerFingerprint: string;
}

/** Non-lifecycle events a session reports to the node. Internal. */
export type SessionNotice =
  | { kind: "lifecycle"; event: SessionLifecycleEvent }
  | { kind: "event"; event: NativeEvent; session: RttSession };

let _create: (
  core: NodeCore,
  handle: bigint,
  id: string,
  peer: string,
  notify: (notice: SessionNotice) => void,
  owner: object,
) => RttSession;
let _event: (session: RttSession, event: NativeEvent) => void;
let _channelEvent: (session: RttSession, channel: number, writable: boolean) => void;
let _forceClose: (session: RttSession, reason: string) => void;
let _shutdown: (session: RttSession, deadlineMs: number) => Promise<void>;

/**
 * Internal constructor and event entry points, for `node.ts`.
 *
 * @returns The functions.
 */
export function sessionInternals(): {
  create: typeof _create;
  event: typeof _event;
  channelEvent: typeof _channelEvent;
  forceClose: typeof _forceClose;
  shutdown: typeof _shutdown;
} {
  // One object (this runs for every message received).
  return _internals ??= {
    create: _create,
    event: _event,
    channelEvent: _channelEvent,
    forceClose: _forceClose,
    shutdown: _shutdown,
  };
}

let _internals: ReturnType<typeof sessionInternals> | undefined;

/**
 * An authenticated session with one peer. Obtained from `node.connect()` or
 * `node.accept()`.
 *
 * @example Lifecycle hooks
 * ```ts
 * import { Identity } from "../identity/mod.ts";
 * import { memory, MemoryNetwork } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const network = new MemoryNetwork();
 * const [ia, ib] = await Promise.all([Identity.generate(), Identity.generate()]);
 * await using a = await memory({ network })({ identity: ia });
 * await using b = await memory({ network })({ identity: ib });
 * const { port } = await a.listen({ hostname: "a", port: 0 });
 * const [session] = await Promise.all([
 *   b.connect({ hostname: "a", port, fingerprint: ia.fingerprint }),
 *   a.accept(),
 * ]);
 * const seen: string[] = [];
 * session.onSessionOpen(({ resumed }) => seen.push(`open resumed=${resumed}`)); // called at once
 * const off = session.onSessionClose(({ reason }) => seen.push(`closed ${reason}`));
 * await session.close();
 * off();
 * assert.deepEqual(seen, ["open resumed=false", "closed manual"]);
 * ```
 */
export class RttSession implements TransportSession {
  /** The session id (the same on both sides and across reconnects). */
  readonly id: string;
  /** The peer's authenticated fingerprint. */
  readonly peerFingerprint: string;
  #core: NodeCore;
  #handle: bigint;
  #notify: (notice: SessionNotice) => void;
  #state: RttSessionState = "open";
  #closeReason: string | undefined;
  #undelivered = 0;
  #reconnects = 0;
  #lastOpen: SessionHookEvent;
  #hooks: SessionHooks;
  #channels = new Map<number, RttChannel>();
  #released = false;
  #closeRequested = false;
  /** 0: `manual`; 1: `shutdown` (the node is shutting down). */
  #closeWhy = 0;
  #closedHeld = false;
  #closed: Promise<void>;
  #resolveClosed!: () => void;
  #lastStats: RttStats | undefined;
  #link: SessionLink;

  static {
    _create = (core, handle, id, peer, notify, owner) =>
      new RttSession(core, handle, id, peer, notify, owner);
    _event = (session, event) => session.#onEvent(event);
    _channelEvent = (session, id, writable) => {
      const channel = session.#channels.get(id);
      if (channel !== undefined) channelInternals().channelEvent(channel, writable);
    };
    _forceClose = (session, reason) => session.#onClose(reason, 0, false);
    _shutdown = (session, deadlineMs) => {
      session.#closeWhy = 1;
      return session.close({ flushDeadlineMs: deadlineMs });
    };
  }

  private constructor(
    core: NodeCore,
    handle: bigint,
    id: string,
    peer: string,
    notify: (notice: SessionNotice) => void,
    owner: object,
  ) {
    this.#core = core;
    this.#handle = handle;
    this.id = id;
    this.peerFingerprint = peer;
    this.#notify = notify;
    this.#lastOpen = { sessionId: id, resumed: false, reconnects: 0 };
    this.#hooks = new SessionHooks(
      core.dispatcher,
      () => this.#state === "open" ? this.#lastOpen : undefined,
    );
    this.#closed = new Promise((r) => this.#resolveClosed = r);
    this.#link = {
      core,
      handle,
      peer,
      owner,
      closedReason: () => this.#state === "closed" ? (this.#closeReason ?? "manual") : undefined,
      released: () => this.#released,
    };
  }

  /** `open`, `reconnecting` (connection lost, resuming) or `closed`. */
  get state(): RttSessionState {
    return this.#state;
  }

  /** Why the session closed, once it has. */
  get closeReason(): string | undefined {
    return this.#closeReason;
  }

  /**
   * Resolves once the session is closed (for any reason). While this is
   * awaited the node keeps the process alive and processes events.
   */
  get closed(): Promise<void> {
    if (this.#state !== "closed" && !this.#closedHeld) {
      this.#closedHeld = true;
      const release = this.#core.hold();
      void this.#closed.then(release);
    }
    return this.#closed;
  }

  /**
   * Opens (or joins) the channel `kind`. Both sides opening the same kind
   * hold the same logical channel; messages that arrived before are kept.
   *
   * @param kind `"control"`, `"state"`, `"knowledge"` or 1-64 characters of `[a-z0-9._-]`.
   * @param options Per-channel policy and queue limits.
   * @returns The channel.
   * @throws {TypeError|RangeError} For a bad kind or option.
   * @throws {RTTTransportError} `TOO_MANY_CHANNELS` above `maxChannels`.
   * @throws {RTTDisconnectedError} When the session is closed.
   */
  openChannel(kind: string, options: RttChannelOptions = {}): Promise<RttChannel> {
    try {
      return Promise.resolve(this.#openChannel(kind, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #openChannel(kind: string, options: RttChannelOptions): RttChannel {
    checkChannelKind(kind);
    const json: Record<string, unknown> = { kind };
    if (options.backpressurePolicy !== undefined) {
      json["backpressure_policy"] = checkPolicy("backpressurePolicy", options.backpressurePolicy);
    }
    if (options.maxQueue !== undefined) {
      const { min, max } = NUMERIC_OPTIONS.maxQueue;
      json["max_queue"] = checkInteger("maxQueue", options.maxQueue, min, max);
    }
    if (options.maxQueueBytes !== undefined) {
      const { min, max } = NUMERIC_OPTIONS.maxQueueBytes;
      json["max_queue_bytes"] = checkInteger("maxQueueBytes", options.maxQueueBytes, min, max);
    }
    let blockTimeoutMs = this.#core.options.blockTimeoutMs;
    if (options.blockTimeoutMs !== undefined) {
      const { min, max } = NUMERIC_OPTIONS.blockTimeoutMs;
      blockTimeoutMs = checkInteger("blockTimeoutMs", options.blockTimeoutMs, min, max);
    }
    json["priority"] = options.priority === undefined
      ? _defaultPriority(kind)
      : checkInteger("priority", options.priority, 0, 2);
    if (this.#state === "closed" || this.#released) {
      throw errorFromStatus(Status.SESSION_CLOSED, {
        operation: "open",
        peer: this.peerFingerprint,
        channel: kind,
        reason: this.#closeReason,
      });
    }
    const out = new Uint32Array(1);
    const bytes = utf8(JSON.stringify(json));
    const status = this.#core.symbols.web4_rtt_session_open_channel(
      this.#core.handle,
      this.#handle,
      bytes,
      bytes.length,
      out,
    );
    this.#core.schedulePump();
    if (status !== Status.OK) {
      throw errorFromStatus(status, {
        operation: "open",
        peer: this.peerFingerprint,
        channel: kind,
        reason: this.#closeReason,
        detail: this.#core.lastError(),
      });
    }
    const id = out[0]!;
    const existing = this.#channels.get(id);
    if (existing !== undefined && !existing.closed) return existing;
    const channel = channelInternals().create(this.#link, id, kind, blockTimeoutMs);
    this.#channels.set(id, channel);
    return channel;
  }

  /**
   * Closes the session: queued messages are flushed (up to the deadline),
   * then the session ends with reason `manual`. Resolves once closed. Safe
   * to call twice.
   *
   * @param options `flushDeadlineMs`.
   * @returns Resolves when the session is closed.
   */
  async close(options: SessionCloseOptions = {}): Promise<void> {
    if (this.#state === "closed") return;
    const deadline = options.flushDeadlineMs === undefined
      ? 5000
      : checkInteger("flushDeadlineMs", options.flushDeadlineMs, 0, 3_600_000);
    if (!this.#closeRequested) {
      this.#closeRequested = true;
      const status = this.#core.freed
        ? Status.SHUT_DOWN
        : this.#core.symbols.web4_rtt_session_close(
          this.#core.handle,
          this.#handle,
          deadline,
          this.#closeWhy,
          this.#core.clock.monotonic(),
        );
      this.#core.pump();
      if (status !== Status.OK) {
        // Already closing or gone natively: close locally.
        this.#onClose(this.#closeReason ?? "manual", 0, true);
        return;
      }
    }
    const release = this.#core.hold();
    try {
      await this.#closed;
    } finally {
      release();
    }
  }

  /**
   * Session-wide queue and traffic statistics (a snapshot taken at close
   * once the session is gone).
   *
   * @returns A plain object with camelCase keys.
   */
  stats(): RttStats {
    if (this.#released || this.#core.freed) return { ...(this.#lastStats ?? emptyStats()) };
    const raw = readNativeJson((buf, cap) =>
      this.#core.symbols.web4_rtt_session_stats(this.#core.handle, this.#handle, buf, cap)
    );
    if (typeof raw === "number") return { ...(this.#lastStats ?? emptyStats()) };
    this.#lastStats = toStats(raw);
    return { ...this.#lastStats };
  }

  /**
   * Sets what the session may cost: the bytes it may hold received and
   * unread over all its channels (`receiveBytes`), and whether it is
   * protected from eviction (`protected`). See
   * {@linkcode TransportSessionBudget} for the rules; a field left out keeps
   * its value. Does nothing on a closed session.
   *
   * @example A stranger's session gets a small budget at once
   * ```ts
   * import { Identity } from "../identity/mod.ts";
   * import { memory, MemoryNetwork } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const network = new MemoryNetwork();
   * const [ia, ib] = await Promise.all([Identity.generate(), Identity.generate()]);
   * await using a = await memory({ network })({ identity: ia });
   * await using b = await memory({ network })({ identity: ib });
   * const { port } = await a.listen({ hostname: "a", port: 0 });
   * const [, inbound] = await Promise.all([
   *   b.connect({ hostname: "a", port, fingerprint: ia.fingerprint }),
   *   a.accept(),
   * ]);
   * inbound.setBudget({ receiveBytes: 1024 * 1024 }); // a probing peer: 1 MiB
   * inbound.setBudget({ protected: true }); // later: trusted, never evicted
   * assert.equal(inbound.stats().receiveBytesHeld, 0);
   * ```
   *
   * @param budget The fields to change.
   * @throws {TypeError} When a field has the wrong type.
   * @throws {RangeError} When `receiveBytes` is not an integer from 1 to 2^40.
   */
  setBudget(budget: TransportSessionBudget): void {
    if (budget === null || typeof budget !== "object") {
      throw new TypeError(
        `setBudget needs an object, got ${budget === null ? "null" : typeof budget}`,
      );
    }
    const bytes = budget.receiveBytes === undefined ? 0 : checkInteger(
      "receiveBytes",
      budget.receiveBytes,
      1,
      NUMERIC_OPTIONS.maxSessionReceiveBytes.max,
    );
    if (budget.protected !== undefined && typeof budget.protected !== "boolean") {
      throw new TypeError(`Option protected must be a boolean, got ${typeof budget.protected}`);
    }
    const protect = budget.protected === undefined ? -1 : budget.protected ? 1 : 0;
    if (this.#state === "closed" || this.#released || this.#core.freed) return;
    const status = this.#core.symbols.web4_rtt_session_set_budget(
      this.#core.handle,
      this.#handle,
      BigInt(bytes),
      protect,
    );
    if (status < 0) {
      throw errorFromStatus(status, {
        operation: "set the budget of",
        peer: this.peerFingerprint,
        detail: this.#core.lastError(),
      });
    }
    // A raised budget may grant credit at once.
    this.#core.schedulePump(status);
  }

  /**
   * Test hook of the native library (the node needs `testHooks: true`),
   * e.g. `{ replay_last: "state" }` re-sends an acknowledged frame.
   *
   * @param action The action object.
   * @throws {RangeError} When the node was not created with `testHooks`, or
   * the library was built without test hooks.
   */
  testInject(action: Record<string, unknown>): void {
    const inject = this.#core.symbols.web4_rtt_test_inject;
    if (inject === null) {
      throw new RangeError(
        "testInject needs a native library built with test hooks " +
          "(`deno task build:native --hooks`, then WEB4_RTT_LIB=target/hooks/release/<library>)",
      );
    }
    const bytes = utf8(JSON.stringify(action));
    const status = inject(
      this.#core.handle,
      this.#handle,
      bytes,
      bytes.length,
    );
    this.#core.schedulePump();
    if (status !== Status.OK) {
      throw errorFromStatus(status, {
        operation: "inject a test action into",
        peer: this.peerFingerprint,
        detail: this.#core.lastError(),
      });
    }
  }

  /**
   * Calls `fn` whenever the session opens, now included: registered on an
   * open session, it is called at once with the last open event.
   *
   * @param fn The hook; gets `{ sessionId, resumed, reconnects }`.
   * @returns Unregisters it.
   */
  onSessionOpen(fn: SessionHook): () => void {
    return this.#hooks.on("session_open", fn);
  }

  /**
   * Calls `fn` when the session closes (`reason`: `manual`, `peer_closed`,
   * `heartbeat_timeout`, `resume_timeout`, `shutdown`, ...).
   *
   * @param fn The hook; gets `{ sessionId, reason, reconnects }`.
   * @returns Unregisters it.
   */
  onSessionClose(fn: SessionHook): () => void {
    return this.#hooks.on("session_close", fn);
  }

  /**
   * Calls `fn` when a heartbeat deadline is missed (before `connection_lost`
   * and the resume or close that follows).
   *
   * @param fn The hook; gets `{ sessionId, reason: "heartbeat_timeout", reconnects }`.
   * @returns Unregisters it.
   */
  onHeartbeatTimeout(fn: SessionHook): () => void {
    return this.#hooks.on("heartbeat_timeout", fn);
  }

  /**
   * Unregisters an open hook.
   *
   * @param fn The hook.
   */
  offSessionOpen(fn: SessionHook): void {
    this.#hooks.off("session_open", fn);
  }

  /**
   * Unregisters a close hook.
   *
   * @param fn The hook.
   */
  offSessionClose(fn: SessionHook): void {
    this.#hooks.off("session_close", fn);
  }

  /**
   * Unregisters a heartbeat-timeout hook.
   *
   * @param fn The hook.
   */
  offHeartbeatTimeout(fn: SessionHook): void {
    this.#hooks.off("heartbeat_timeout", fn);
  }

  /** Unregisters every lifecycle hook of this session. */
  clearSessionHooks(): void {
    this.#hooks.clear();
  }

  /**
   * Closes the session (`await using session = ...`).
   *
   * @returns Resolves when closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #emit(type: SessionEventType, event: SessionHookEvent): void {
    this.#hooks.emit(type, event);
    this.#notify({
      kind: "lifecycle",
      event: { type, peerFingerprint: this.peerFingerprint, ...event },
    });
  }

  #onEvent(event: NativeEvent): void {
    switch (event.type) {
      case "session_open": {
        if (this.#state === "closed") return;
        // The initial open is represented by the session's creation.
        if (this.#state === "open" && !event.resumed) return;
        this.#state = "open";
        this.#reconnects = event.reconnects;
        this.#lastOpen = {
          sessionId: this.id,
          resumed: event.resumed,
          reconnects: event.reconnects,
        };
        this.#emit("session_open", this.#lastOpen);
        return;
      }
      case "connection_lost":
        if (this.#state === "closed") return;
        this.#state = "reconnecting";
        this.#emit("connection_lost", {
          sessionId: this.id,
          reason: event.reason,
          reconnects: this.#reconnects,
        });
        return;
      case "heartbeat_timeout":
        if (this.#state === "closed") return;
        this.#emit("heartbeat_timeout", {
          sessionId: this.id,
          reason: "heartbeat_timeout",
          reconnects: this.#reconnects,
        });
        return;
      case "session_close":
        this.#onClose(event.reason, event.undelivered, true, event.message);
        return;
      case "readable":
      case "writable": {
        const channel = this.#channels.get(event.channel);
        if (channel !== undefined) channelInternals().event(channel, event);
        return;
      }
      default:
        this.#notify({ kind: "event", event, session: this });
    }
  }

  #onClose(reason: string, undelivered: number, native: boolean, message?: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#closeReason = reason;
    this.#undelivered = undelivered;
    const canCall = native && !this.#core.freed && !this.#released;
    if (canCall) this.stats();
    for (const channel of this.#channels.values()) channelInternals().sessionClosed(channel);
    this.#core.ops.fail(this.#handle, () =>
      new RTTDisconnectedError(
        reason === "resume_timeout" ? "RESUME_TIMEOUT" : "SESSION_CLOSED",
        `The session with peer ${this.peerFingerprint} closed (${reason}) before the operation completed`,
        { peer: this.peerFingerprint, undelivered: this.#undelivered, reason },
      ));
    if (canCall) this.#core.symbols.web4_rtt_session_release(this.#core.handle, this.#handle);
    this.#released = true;
    this.#resolveClosed();
    this.#emit("session_close", {
      sessionId: this.id,
      reason,
      reconnects: this.#reconnects,
      ...(message === undefined ? {} : { message }),
    });
  }
}
