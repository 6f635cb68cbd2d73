/**
 * The in-memory transport backend: sessions between transports of one
 * {@linkcode MemoryNetwork} in the same process, with the same contract as
 * RTT (pinned fingerprints and allow-lists, ordered channels, bounded send
 * queues with the four backpressure policies and their statistics, flush,
 * half-close, lifecycle hooks, typed errors). For unit tests of the layers
 * above the transport; integration tests use the real RTT.
 *
 * No sockets exist, so no `--allow-net` is needed. A test can simulate a
 * lost connection with {@linkcode MemoryNetwork.dropConnection}.
 *
 * @module
 */

import {
  RTTBackpressureError,
  RTTDisconnectedError,
  RTTHandshakeError,
  RTTTransportError,
} from "./errors.ts";
import {
  HookDispatcher,
  type SessionEventType,
  type SessionHook,
  type SessionHookEvent,
  SessionHooks,
} from "./hooks.ts";
import {
  type BackpressurePolicy,
  checkChannelKind,
  checkFingerprint,
  checkInteger,
  checkPolicy,
  NUMERIC_OPTIONS,
  type ResolvedRttNodeOptions,
  resolveNodeOptions,
  type RttNodeOptions,
} from "./options.ts";
import { emptyStats, type RttMetrics, type RttStats } from "./stats.ts";
import type {
  Transport,
  TransportAddress,
  TransportChannel,
  TransportChannelOptions,
  TransportConnectOptions,
  TransportOptions,
  TransportSession,
} from "./transport.ts";

/** A lifecycle event as {@linkcode MemoryTransport.onEvent} sees it. */
export interface MemoryTransportEvent extends SessionHookEvent {
  /** Which event. */
  type: SessionEventType | "drop";
  /** The peer's fingerprint. */
  peerFingerprint: string;
  /** For `drop`: the channel. */
  channel?: string;
  /** For `drop`: the policy that dropped. */
  cause?: string;
  /** For `drop`: how many messages. */
  count?: number;
}

/** Options of {@linkcode MemoryNetwork.dropConnection}. */
export interface DropConnectionOptions {
  /** Report a heartbeat timeout first. @default {false} */
  heartbeatTimeout?: boolean;
  /** Resume at once (`true`) or close the session (`false`). @default {true} */
  resume?: boolean;
}

/** A process-local "network" that memory transports listen and connect on. */
export class MemoryNetwork {
  #listeners = new Map<string, MemoryTransport>();
  #nextPort = 1;
  #nextSession = 1;

  /** @internal Registers a listener; returns the bound port. */
  _listen(transport: MemoryTransport, hostname: string, port: number): number {
    const bound = port === 0 ? this.#freePort(hostname) : port;
    const key = `${hostname}:${bound}`;
    if (this.#listeners.has(key)) {
      throw new RTTTransportError("IO", `Address ${key} is already in use on the memory network`);
    }
    this.#listeners.set(key, transport);
    return bound;
  }

  /** @internal Removes every listener of a transport. */
  _unlisten(transport: MemoryTransport): void {
    for (const [key, t] of this.#listeners) if (t === transport) this.#listeners.delete(key);
  }

  /** @internal The listener at an address. */
  _lookup(hostname: string, port: number): MemoryTransport | undefined {
    return this.#listeners.get(`${hostname}:${port}`);
  }

  /** @internal A fresh session id. */
  _sessionId(): string {
    return `mem-${this.#nextSession++}`;
  }

  #freePort(hostname: string): number {
    while (this.#listeners.has(`${hostname}:${this.#nextPort}`)) this.#nextPort++;
    return this.#nextPort++;
  }

  /**
   * Simulates a lost connection under `session` (both ends): optionally a
   * heartbeat timeout first, then `connection_lost`, then either a resumed
   * `session_open` (nothing is lost) or `session_close` with the cause.
   *
   * @param session Either end of a memory session.
   * @param options What happens.
   */
  dropConnection(session: TransportSession, options: DropConnectionOptions = {}): void {
    if (!(session instanceof MemorySession)) {
      throw new TypeError("dropConnection needs a session of a memory transport");
    }
    session._dropConnection(options.heartbeatTimeout ?? false, options.resume ?? true);
  }
}

/** The shared network used when a memory transport is given none. */
export const defaultMemoryNetwork: MemoryNetwork = new MemoryNetwork();

/**
 * Options of {@linkcode MemoryTransport.create}. The limits have the same
 * names, defaults and meaning as in `RttNode.create` ({@linkcode RttNodeOptions}).
 */
export interface MemoryTransportOptions extends
  Pick<
    RttNodeOptions,
    | "maxQueue"
    | "maxQueueBytes"
    | "backpressurePolicy"
    | "blockTimeoutMs"
    | "maxMessageBytes"
    | "maxChannels"
    | "maxSessions"
    | "allowPeers"
    | "onHookError"
  > {
  /** Only `fingerprint` is used. */
  identity: { readonly fingerprint: string };
  /** The network to live on. @default {defaultMemoryNetwork} */
  network?: MemoryNetwork;
  /** 0 makes a dropped connection close the session (see {@linkcode MemoryNetwork.dropConnection}). */
  resumeWindowMs?: number;
}

/** One direction of a channel: the sender's queue, read by the receiver. */
class Pipe {
  queue: Uint8Array[] = [];
  bytes = 0;
  /** Messages enqueued so far (sequence of the next one). */
  enqueuedSeq = 0;
  /** Messages settled (received or dropped) so far. */
  settledSeq = 0;
  closed = false;
  readers: (() => void)[] = [];
  room: (() => void)[] = [];
  flushers: { upTo: number; resolve(): void; reject(e: Error): void }[] = [];

  settle(n: number): void {
    this.settledSeq += n;
    this.flushers = this.flushers.filter((f) => {
      if (this.settledSeq >= f.upTo) f.resolve();
      return this.settledSeq < f.upTo;
    });
  }

  wake(list: "readers" | "room"): void {
    for (const fn of this[list].splice(0)) fn();
  }
}

/** A logical channel shared by both ends of a memory session. */
class SharedChannel {
  /** Pipes by sending side (0: connector, 1: acceptor). */
  pipes: [Pipe, Pipe] = [new Pipe(), new Pipe()];
  ends: [MemoryChannel | undefined, MemoryChannel | undefined] = [undefined, undefined];
}

/** The state shared by both ends of a memory session. */
class SharedSession {
  channels: Map<string, SharedChannel> = new Map();
  ends: [MemorySession | undefined, MemorySession | undefined] = [undefined, undefined];
  constructor(readonly id: string) {}
}

function addStats(into: RttStats, from: RttStats): void {
  for (const key of Object.keys(into) as (keyof RttStats)[]) {
    if (key === "maxQueueLen") into[key] = Math.max(into[key], from[key]);
    else into[key] += from[key];
  }
}

/** One end of a memory channel. */
class MemoryChannel implements TransportChannel {
  readonly kind: string;
  #session: MemorySession;
  #shared: SharedChannel;
  #side: 0 | 1;
  #policy: BackpressurePolicy;
  #maxQueue: number;
  #maxQueueBytes: number;
  #blockTimeoutMs: number;
  #localClosed = false;
  #sendChain: Promise<void> = Promise.resolve();
  #stats = emptyStats();

  constructor(
    session: MemorySession,
    shared: SharedChannel,
    side: 0 | 1,
    kind: string,
    limits: {
      policy: BackpressurePolicy;
      maxQueue: number;
      maxQueueBytes: number;
      blockTimeoutMs: number;
    },
  ) {
    this.#session = session;
    this.#shared = shared;
    this.#side = side;
    this.kind = kind;
    this.#policy = limits.policy;
    this.#maxQueue = limits.maxQueue;
    this.#maxQueueBytes = limits.maxQueueBytes;
    this.#blockTimeoutMs = limits.blockTimeoutMs;
  }

  get #out(): Pipe {
    return this.#shared.pipes[this.#side];
  }

  get #in(): Pipe {
    return this.#shared.pipes[this.#side === 0 ? 1 : 0];
  }

  #subject(): string {
    return `channel "${this.kind}" of the session with peer ${this.#session.peerFingerprint}`;
  }

  #opts() {
    return { peer: this.#session.peerFingerprint, channel: this.kind };
  }

  #closedError(undelivered: number): RTTDisconnectedError {
    if (this.#localClosed) {
      return new RTTDisconnectedError(
        "CHANNEL_CLOSED",
        `Cannot send on ${this.#subject()}: the channel is closed`,
        {
          ...this.#opts(),
          undelivered,
        },
      );
    }
    const reason = this.#session.closeReason ?? "manual";
    return new RTTDisconnectedError(
      reason === "resume_timeout" ? "RESUME_TIMEOUT" : "SESSION_CLOSED",
      `Cannot use ${this.#subject()}: the session is closed (reason ${reason})`,
      { ...this.#opts(), undelivered, reason },
    );
  }

  #full(pipe: Pipe, size: number): boolean {
    return pipe.queue.length >= this.#maxQueue || pipe.bytes + size > this.#maxQueueBytes;
  }

  #enqueue(data: Uint8Array): void {
    const pipe = this.#out;
    pipe.queue.push(data);
    pipe.bytes += data.length;
    pipe.enqueuedSeq++;
    this.#stats.enqueued++;
    this.#stats.messagesOut++;
    this.#stats.bytesOut += data.length;
    this.#stats.maxQueueLen = Math.max(this.#stats.maxQueueLen, pipe.queue.length);
    pipe.wake("readers");
  }

  send(data: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(
        new TypeError(`Channel "${this.kind}" can only send a Uint8Array, got ${typeof data}`),
      );
    }
    if (this.#localClosed || this.#session.state === "closed") {
      return Promise.reject(this.#closedError(1));
    }
    const max = this.#session._options.maxMessageBytes;
    if (data.length > max) {
      return Promise.reject(
        new RTTTransportError(
          "MESSAGE_TOO_LARGE",
          `Message of ${data.length} bytes is larger than maxMessageBytes (${max}) on ${this.#subject()}`,
          this.#opts(),
        ),
      );
    }
    const copy = data.slice();
    // Sends of one channel are serialised so a blocked send keeps its place.
    const result = this.#sendChain.then(() => this.#sendOne(copy));
    this.#sendChain = result.then(() => {}, () => {});
    return result;
  }

  async #sendOne(data: Uint8Array): Promise<void> {
    if (this.#localClosed || this.#session.state === "closed") throw this.#closedError(1);
    const pipe = this.#out;
    this.#stats.attempted++;
    if (!this.#full(pipe, data.length)) return this.#enqueue(data);
    this.#stats.overflowEvents++;
    switch (this.#policy) {
      case "error":
        this.#stats.errors++;
        throw new RTTBackpressureError(
          "QUEUE_FULL",
          `Send queue of ${this.#subject()} is full (policy "error")`,
          this.#opts(),
        );
      case "drop_newest":
        this.#stats.droppedNewest++;
        this.#stats.dropped++;
        this.#session._drop(this.kind, "drop_newest", 1);
        return;
      case "drop_oldest": {
        let n = 0;
        while (pipe.queue.length > 0 && this.#full(pipe, data.length)) {
          pipe.bytes -= pipe.queue.shift()!.length;
          n++;
        }
        this.#stats.droppedOldest += n;
        this.#stats.dropped += n;
        pipe.settle(n);
        this.#session._drop(this.kind, "drop_oldest", n);
        return this.#enqueue(data);
      }
      case "block": {
        this.#stats.blocked++;
        const deadline = Date.now() + this.#blockTimeoutMs;
        while (this.#full(pipe, data.length)) {
          const left = deadline - Date.now();
          if (left <= 0) {
            this.#stats.errors++;
            throw new RTTBackpressureError(
              "BLOCK_TIMEOUT",
              `Send queue of ${this.#subject()} stayed full for blockTimeoutMs (${this.#blockTimeoutMs})`,
              this.#opts(),
            );
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, left);
            const waiters = this.#session._closeWaiters;
            function done() {
              clearTimeout(timer);
              waiters.delete(done);
              resolve();
            }
            pipe.room.push(done);
            waiters.add(done);
          });
          if (this.#session.closeReason !== undefined) throw this.#closedError(1);
        }
        return this.#enqueue(data);
      }
    }
  }

  async flush(): Promise<void> {
    await this.#sendChain;
    const pipe = this.#out;
    if (this.#session.state === "closed") {
      throw this.#closedError(pipe.enqueuedSeq - pipe.settledSeq);
    }
    if (pipe.settledSeq >= pipe.enqueuedSeq) return;
    await new Promise<void>((resolve, reject) => {
      pipe.flushers.push({ upTo: pipe.enqueuedSeq, resolve, reject });
    });
  }

  receive(options: { signal?: AbortSignal } = {}): Promise<Uint8Array | null> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const pipe = this.#in;
    const take = (): Uint8Array | null | undefined => {
      const msg = pipe.queue.shift();
      if (msg !== undefined) {
        pipe.bytes -= msg.length;
        pipe.settle(1);
        this.#stats.messagesIn++;
        this.#stats.bytesIn += msg.length;
        pipe.wake("room");
        return msg;
      }
      if (pipe.closed) return null;
      if (this.#session.state === "closed") {
        const reason = this.#session.closeReason ?? "manual";
        if (["manual", "peer_closed", "shutdown"].includes(reason)) return null;
        throw this.#closedError(0);
      }
      return undefined;
    };
    return new Promise((resolve, reject) => {
      const attempt = () => {
        let msg: Uint8Array | null | undefined;
        try {
          msg = take();
        } catch (error) {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
          return;
        }
        if (msg === undefined) {
          pipe.readers.push(attempt);
          return;
        }
        signal?.removeEventListener("abort", onAbort);
        resolve(msg);
      };
      const onAbort = () => {
        const i = pipe.readers.indexOf(attempt);
        if (i >= 0) pipe.readers.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      attempt();
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    while (true) {
      const msg = await this.receive();
      if (msg === null) return;
      yield msg;
    }
  }

  close(): Promise<void> {
    if (this.#localClosed) return Promise.resolve();
    this.#localClosed = true;
    return this.#sendChain.then(() => {
      this.#out.closed = true;
      this.#out.wake("readers");
    });
  }

  stats(): RttStats {
    return { ...this.#stats };
  }

  /** @internal Session closed: wake everything waiting on this channel. */
  _sessionClosed(undeliveredError: (n: number) => Error): void {
    for (const pipe of this.#shared.pipes) {
      pipe.wake("readers");
      pipe.wake("room");
      const undelivered = pipe.enqueuedSeq - pipe.settledSeq;
      for (const f of pipe.flushers.splice(0)) f.reject(undeliveredError(undelivered));
    }
  }
}

/** One end of a memory session. */
class MemorySession implements TransportSession {
  readonly id: string;
  readonly peerFingerprint: string;
  #transport: MemoryTransport;
  #shared: SharedSession;
  #side: 0 | 1;
  #state: "open" | "reconnecting" | "closed" = "open";
  #closeReason: string | undefined;
  #reconnects = 0;
  #lastOpen: SessionHookEvent;
  #hooks: SessionHooks;
  #channels = new Map<string, MemoryChannel>();
  #closedResolve!: () => void;
  readonly closed: Promise<void>;
  /** @internal Blocked senders to wake when the session closes. */
  _closeWaiters: Set<() => void> = new Set();

  constructor(transport: MemoryTransport, shared: SharedSession, side: 0 | 1, peer: string) {
    this.#transport = transport;
    this.#shared = shared;
    this.#side = side;
    this.id = shared.id;
    this.peerFingerprint = peer;
    this.#lastOpen = { sessionId: this.id, resumed: false, reconnects: 0 };
    this.#hooks = new SessionHooks(
      transport._dispatcher,
      () => this.#state === "open" ? this.#lastOpen : undefined,
    );
    this.closed = new Promise((r) => this.#closedResolve = r);
  }

  get state(): "open" | "reconnecting" | "closed" {
    return this.#state;
  }

  get closeReason(): string | undefined {
    return this.#closeReason;
  }

  /** @internal */
  get _options(): ResolvedRttNodeOptions {
    return this.#transport._options;
  }

  openChannel(kind: string, options: TransportChannelOptions = {}): Promise<TransportChannel> {
    try {
      checkChannelKind(kind);
      const o = this.#transport._options;
      const limits = {
        policy: options.backpressurePolicy === undefined
          ? o.backpressurePolicy
          : checkPolicy("backpressurePolicy", options.backpressurePolicy),
        maxQueue: options.maxQueue === undefined ? o.maxQueue : checkInteger(
          "maxQueue",
          options.maxQueue,
          NUMERIC_OPTIONS.maxQueue.min,
          NUMERIC_OPTIONS.maxQueue.max,
        ),
        maxQueueBytes: options.maxQueueBytes === undefined ? o.maxQueueBytes : checkInteger(
          "maxQueueBytes",
          options.maxQueueBytes,
          NUMERIC_OPTIONS.maxQueueBytes.min,
          NUMERIC_OPTIONS.maxQueueBytes.max,
        ),
        blockTimeoutMs: options.blockTimeoutMs === undefined ? o.blockTimeoutMs : checkInteger(
          "blockTimeoutMs",
          options.blockTimeoutMs,
          NUMERIC_OPTIONS.blockTimeoutMs.min,
          NUMERIC_OPTIONS.blockTimeoutMs.max,
        ),
      };
      if (this.#state === "closed") {
        throw new RTTDisconnectedError(
          "SESSION_CLOSED",
          `Cannot open channel "${kind}" of the session with peer ${this.peerFingerprint}: the session is closed`,
          { peer: this.peerFingerprint, channel: kind, reason: this.#closeReason },
        );
      }
      const existing = this.#channels.get(kind);
      if (existing !== undefined) return Promise.resolve(existing);
      let shared = this.#shared.channels.get(kind);
      if (shared === undefined) {
        if (this.#shared.channels.size >= o.maxChannels) {
          throw new RTTTransportError(
            "TOO_MANY_CHANNELS",
            `Too many channels on the session with peer ${this.peerFingerprint}: cannot open channel "${kind}" (maxChannels ${o.maxChannels})`,
            { peer: this.peerFingerprint, channel: kind },
          );
        }
        shared = new SharedChannel();
        this.#shared.channels.set(kind, shared);
      }
      const channel = new MemoryChannel(this, shared, this.#side, kind, limits);
      shared.ends[this.#side] = channel;
      this.#channels.set(kind, channel);
      return Promise.resolve(channel);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  close(): Promise<void> {
    if (this.#state !== "closed") {
      const peer = this.#shared.ends[this.#side === 0 ? 1 : 0];
      this._end("manual");
      peer?._end("peer_closed");
    }
    return Promise.resolve();
  }

  stats(): RttStats {
    const total = emptyStats();
    for (const c of this.#channels.values()) addStats(total, c.stats());
    total.reconnects = this.#reconnects;
    return total;
  }

  onSessionOpen(fn: SessionHook): () => void {
    return this.#hooks.on("session_open", fn);
  }
  onSessionClose(fn: SessionHook): () => void {
    return this.#hooks.on("session_close", fn);
  }
  onHeartbeatTimeout(fn: SessionHook): () => void {
    return this.#hooks.on("heartbeat_timeout", fn);
  }
  offSessionOpen(fn: SessionHook): void {
    this.#hooks.off("session_open", fn);
  }
  offSessionClose(fn: SessionHook): void {
    this.#hooks.off("session_close", fn);
  }
  offHeartbeatTimeout(fn: SessionHook): void {
    this.#hooks.off("heartbeat_timeout", fn);
  }
  clearSessionHooks(): void {
    this.#hooks.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #emit(type: SessionEventType, event: SessionHookEvent): void {
    this.#hooks.emit(type, event);
    this.#transport._observe({ type, peerFingerprint: this.peerFingerprint, ...event });
  }

  /** @internal */
  _drop(channel: string, cause: string, count: number): void {
    if (count === 0) return;
    this.#transport._observe({
      type: "drop",
      sessionId: this.id,
      peerFingerprint: this.peerFingerprint,
      channel,
      cause,
      count,
    });
  }

  /** @internal Ends this side of the session. */
  _end(reason: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#closeReason = reason;
    for (const c of this.#shared.channels.values()) {
      c.ends[this.#side]?._sessionClosed((n) =>
        new RTTDisconnectedError(
          reason === "resume_timeout" ? "RESUME_TIMEOUT" : "SESSION_CLOSED",
          `The session with peer ${this.peerFingerprint} closed (${reason}): ${n} message(s) undelivered`,
          { peer: this.peerFingerprint, undelivered: n, reason },
        )
      );
    }
    for (const w of this._closeWaiters) w();
    this._closeWaiters.clear();
    this.#transport._forget(this);
    this.#closedResolve();
    this.#emit("session_close", { sessionId: this.id, reason, reconnects: this.#reconnects });
  }

  /** @internal See {@linkcode MemoryNetwork.dropConnection}. */
  _dropConnection(heartbeatTimeout: boolean, resume: boolean): void {
    const both = this.#shared.ends.filter((s): s is MemorySession => s !== undefined);
    const reason = heartbeatTimeout ? "heartbeat_timeout" : "io";
    for (const s of both) s.#lose(heartbeatTimeout, reason);
    for (const s of both) {
      if (resume && s.#transport._options.resumeWindowMs > 0) s.#resume();
      else s._end(reason);
    }
  }

  #lose(heartbeatTimeout: boolean, reason: string): void {
    if (this.#state === "closed") return;
    if (heartbeatTimeout) {
      this.#emit("heartbeat_timeout", {
        sessionId: this.id,
        reason: "heartbeat_timeout",
        reconnects: this.#reconnects,
      });
    }
    this.#state = "reconnecting";
    this.#emit("connection_lost", { sessionId: this.id, reason, reconnects: this.#reconnects });
  }

  #resume(): void {
    if (this.#state !== "reconnecting") return;
    this.#state = "open";
    this.#reconnects++;
    this.#lastOpen = { sessionId: this.id, resumed: true, reconnects: this.#reconnects };
    this.#emit("session_open", this.#lastOpen);
  }
}

/**
 * A transport whose sessions live in process memory. Create it with
 * {@linkcode MemoryTransport.create} or `createTransport("memory", ...)`.
 *
 * @example
 * ```ts
 * import { MemoryNetwork, MemoryTransport } from "./memory.ts";
 * import assert from "node:assert/strict";
 *
 * const network = new MemoryNetwork();
 * const a = await MemoryTransport.create({ identity: { fingerprint: "a".repeat(64) }, network });
 * const b = await MemoryTransport.create({ identity: { fingerprint: "b".repeat(64) }, network });
 * const { port } = await a.listen({ hostname: "a", port: 0 });
 * const [out, inn] = await Promise.all([
 *   b.connect({ hostname: "a", port, fingerprint: a.fingerprint }),
 *   a.accept(),
 * ]);
 * await (await out.openChannel("state")).send(new Uint8Array([1]));
 * assert.deepEqual(await (await inn.openChannel("state")).receive(), new Uint8Array([1]));
 * await a.shutdown();
 * await b.shutdown();
 * ```
 */
export class MemoryTransport implements Transport {
  /** Always `"memory"`. */
  readonly backend = "memory";
  /** This endpoint's fingerprint. */
  readonly fingerprint: string;
  #network: MemoryNetwork;
  #sessions = new Set<MemorySession>();
  #acceptQueue: MemorySession[] = [];
  #acceptWaiters: { resolve(s: MemorySession): void; reject(e: unknown): void }[] = [];
  #observers = new Set<(e: MemoryTransportEvent) => void>();
  #shutDown = false;
  #verificationFailures = 0;
  /** @internal */
  readonly _options: ResolvedRttNodeOptions;
  /** @internal */
  readonly _dispatcher: HookDispatcher;

  private constructor(options: MemoryTransportOptions, resolved: ResolvedRttNodeOptions) {
    this.fingerprint = checkFingerprint(options.identity.fingerprint, "Identity fingerprint");
    this.#network = options.network ?? defaultMemoryNetwork;
    this._options = resolved;
    this._dispatcher = new HookDispatcher(
      options.onHookError ?? ((e) => console.error("Memory transport hook threw:", e)),
    );
  }

  /**
   * Creates a memory transport.
   *
   * @param options Identity (fingerprint), network, limits.
   * @returns The transport.
   * @throws {TypeError|RangeError} For bad options, as `RttNode.create`.
   */
  static create(options: MemoryTransportOptions): Promise<MemoryTransport> {
    try {
      if (
        options === null || typeof options !== "object" ||
        typeof options.identity?.fingerprint !== "string"
      ) {
        throw new TypeError("Option identity is required: an object with a fingerprint");
      }
      const { network: _n, onHookError: _h, identity, ...rest } = options;
      const resolved = resolveNodeOptions({
        ...rest,
        identity: { fingerprint: identity.fingerprint, toPkcs8Pem: () => Promise.resolve("") },
      });
      return Promise.resolve(new MemoryTransport(options, resolved));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Listens on the memory network.
   *
   * @param address Host name and port (0 picks a free one).
   * @returns The bound address.
   */
  listen(address: TransportAddress): Promise<TransportAddress> {
    try {
      this.#assertRunning();
      const port = checkInteger("port", address.port, 0, 65_535);
      if (typeof address.hostname !== "string" || address.hostname === "") {
        throw new TypeError(
          `Hostname must be a non-empty string, got ${JSON.stringify(address.hostname)}`,
        );
      }
      return Promise.resolve({
        hostname: address.hostname,
        port: this.#network._listen(this, address.hostname, port),
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Connects to the memory transport listening at the address, pinned to `fingerprint`.
   *
   * @param options Address and expected fingerprint.
   * @returns The session.
   * @throws {RTTHandshakeError} `FINGERPRINT_MISMATCH` or `PEER_NOT_ALLOWED`.
   * @throws {RTTTransportError} `IO` when nothing listens there.
   */
  connect(options: TransportConnectOptions): Promise<TransportSession> {
    try {
      this.#assertRunning();
      options.signal?.throwIfAborted();
      const fingerprint = checkFingerprint(options.fingerprint, "Option fingerprint");
      const target = `${options.hostname}:${options.port}`;
      const server = this.#network._lookup(options.hostname, options.port);
      if (server === undefined || server.#shutDown) {
        throw new RTTTransportError(
          "IO",
          `Cannot connect to peer ${fingerprint} at ${target}: nothing listens there`,
          {
            peer: fingerprint,
          },
        );
      }
      if (server.fingerprint !== fingerprint) {
        throw new RTTHandshakeError(
          "FINGERPRINT_MISMATCH",
          `Cannot connect to peer ${fingerprint}: the peer at ${target} did not present the pinned fingerprint`,
          { peer: fingerprint },
        );
      }
      const allow = server._options.allowPeers;
      if (allow !== "any" && !allow.includes(this.fingerprint)) {
        server.#verificationFailures++;
        throw new RTTHandshakeError(
          "PEER_NOT_ALLOWED",
          `Cannot connect to peer ${fingerprint}: the peer at ${target} does not allow our fingerprint`,
          { peer: fingerprint },
        );
      }
      if (
        server.#sessions.size >= server._options.maxSessions ||
        this.#sessions.size >= this._options.maxSessions
      ) {
        throw new RTTTransportError(
          "IO",
          `Cannot connect to peer ${fingerprint} at ${target}: too many sessions`,
          {
            peer: fingerprint,
          },
        );
      }
      const shared = new SharedSession(this.#network._sessionId());
      const mine = new MemorySession(this, shared, 0, fingerprint);
      const theirs = new MemorySession(server, shared, 1, this.fingerprint);
      shared.ends = [mine, theirs];
      this.#sessions.add(mine);
      server.#sessions.add(theirs);
      this._observe({
        type: "session_open",
        sessionId: shared.id,
        peerFingerprint: fingerprint,
        resumed: false,
        reconnects: 0,
      });
      server._observe({
        type: "session_open",
        sessionId: shared.id,
        peerFingerprint: this.fingerprint,
        resumed: false,
        reconnects: 0,
      });
      const waiter = server.#acceptWaiters.shift();
      if (waiter !== undefined) waiter.resolve(theirs);
      else server.#acceptQueue.push(theirs);
      return Promise.resolve(mine);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The next inbound session.
   *
   * @param options `signal` aborts the wait.
   * @returns The session.
   * @throws {RTTDisconnectedError} Once shut down.
   */
  accept(options: { signal?: AbortSignal } = {}): Promise<TransportSession> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const ready = this.#acceptQueue.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#shutDown) return Promise.reject(this.#shutDownError());
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.#acceptWaiters.indexOf(waiter);
        if (i >= 0) this.#acceptWaiters.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter = {
        resolve: (s: MemorySession) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(s);
        },
        reject: (e: unknown) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#acceptWaiters.push(waiter);
    });
  }

  /**
   * Observes lifecycle and drop events of every session.
   *
   * @param fn The observer.
   * @returns Unregisters it.
   */
  onEvent(fn: (event: MemoryTransportEvent) => void): () => void {
    this.#observers.add(fn);
    return () => {
      this.#observers.delete(fn);
    };
  }

  /**
   * Metrics summed over the open sessions.
   *
   * @returns A plain object.
   */
  metrics(): RttMetrics {
    const total = emptyStats();
    for (const s of this.#sessions) addStats(total, s.stats());
    total.verificationFailures = this.#verificationFailures;
    return { ...total, sessions: this.#sessions.size, pendingHandshakes: 0 };
  }

  /**
   * Closes every session and stops listening. Safe to call twice.
   *
   * @returns Resolves when done.
   */
  async shutdown(): Promise<void> {
    if (this.#shutDown) return;
    this.#shutDown = true;
    this.#network._unlisten(this);
    for (const w of this.#acceptWaiters.splice(0)) w.reject(this.#shutDownError());
    for (const s of [...this.#sessions]) await s.close();
    this.#acceptQueue.length = 0;
  }

  /**
   * Shuts the transport down.
   *
   * @returns Resolves when done.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** @internal */
  _observe(event: MemoryTransportEvent): void {
    this._dispatcher.run(() => {
      for (const fn of [...this.#observers]) {
        this._dispatcher.run(() => {
          if (this.#observers.has(fn)) fn({ ...event });
        });
      }
    });
  }

  /** @internal */
  _forget(session: MemorySession): void {
    this.#sessions.delete(session);
  }

  #assertRunning(): void {
    if (this.#shutDown) throw this.#shutDownError();
  }

  #shutDownError(): RTTDisconnectedError {
    return new RTTDisconnectedError(
      "SESSION_CLOSED",
      `Memory transport ${this.fingerprint} is shut down`,
      {
        reason: "shutdown",
      },
    );
  }
}

/**
 * Factory for the registry: `createTransport("memory", options)`.
 *
 * @param options `identity`, optional `network` (a {@linkcode MemoryNetwork}) and limits.
 * @returns The transport.
 */
export function createMemoryTransport(options: TransportOptions): Promise<Transport> {
  const network = options["network"];
  if (network !== undefined && !(network instanceof MemoryNetwork)) {
    return Promise.reject(new TypeError("Option network must be a MemoryNetwork"));
  }
  return MemoryTransport.create(options as MemoryTransportOptions);
}
