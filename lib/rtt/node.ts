/**
 * `RttNode`: one local RTT endpoint (an identity, a native node, its
 * listeners and sessions).
 *
 * @module
 */

import { EventKind, Status } from "./ffi.ts";
import { type CoreSymbols, NodeCore, utf8, type WakeMode } from "./core.ts";
import type { EventRecord } from "./events.ts";
import { connectError, errorFromStatus, RTTDisconnectedError, RTTReplayError } from "./errors.ts";
import { loadNativeLibrary } from "./native.ts";
import {
  checkFingerprint,
  checkInteger,
  nodeConfigJson,
  type ResolvedRttNodeOptions,
  resolveNodeOptions,
  type RttNodeOptions,
} from "./options.ts";
import { assertNetPermission } from "./permissions.ts";
import { type RttSession, sessionInternals, type SessionNotice } from "./session.ts";
import type { SessionEventType } from "./hooks.ts";
import type { Transport } from "./transport.ts";
import { emptyStats, type RttMetrics, toMetrics } from "./stats.ts";

/** A listening address. */
export interface RttAddress {
  /** Host name or address. */
  hostname: string;
  /** Port (the bound one, for a listener). */
  port: number;
}

/** Options of {@linkcode RttNode.connect}. */
export interface RttConnectOptions extends RttAddress {
  /** The peer's expected fingerprint (64 hex digits): the session is pinned to it. */
  fingerprint: string;
  /** Aborts the connect; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Overall deadline of the connect. @default {handshakeTimeoutMs} */
  timeoutMs?: number;
}

/** Options of {@linkcode RttNode.accept}. */
export interface RttAcceptOptions {
  /** Aborts the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of {@linkcode RttNode.shutdown}. */
export interface RttShutdownOptions {
  /** How long sessions may take to flush before they are cut. @default {2000} */
  deadlineMs?: number;
}

/** An event seen by {@linkcode RttNode.onEvent}: lifecycle events of every session, and more. */
export type RttNodeEvent =
  | {
    /** A session lifecycle event (the same as the session hooks see). */
    type: SessionEventType;
    /** The session's id. */
    sessionId: string;
    /** The peer's fingerprint. */
    peerFingerprint: string;
    /** Close or loss reason. */
    reason?: string;
    /** For `session_open`: whether the session was resumed. */
    resumed?: boolean;
    /** Reconnects of the session so far. */
    reconnects?: number;
  }
  | {
    /** Messages were dropped by a `drop_oldest`/`drop_newest` policy. */
    type: "drop";
    sessionId: string;
    peerFingerprint: string;
    /** The channel kind. */
    channel: string;
    /** `drop_oldest` or `drop_newest`. */
    cause: string;
    /** Messages dropped. */
    count: number;
  }
  | {
    /** A replayed frame was dropped; the session is kept. */
    type: "replay";
    sessionId: string;
    peerFingerprint: string;
    /** The channel kind. */
    channel: string;
    /** The replayed sequence number. */
    sequence: bigint;
    /** The typed error (code `REPLAY`), for logging. */
    error: RTTReplayError;
  }
  | {
    /** A TLS key update happened. */
    type: "rekey";
    sessionId: string;
    peerFingerprint: string;
    /** Key updates of this session so far. */
    rekeys: number;
  }
  | {
    /** An inbound handshake was refused. */
    type: "verification_failure";
    /** `FINGERPRINT_MISMATCH`, `PEER_NOT_ALLOWED`, `TLS_FAILED`, ... */
    code: string;
    /** The refused peer's fingerprint, when it got that far. */
    peerFingerprint?: string;
    /** The native message. */
    message: string;
  };

/** Observer of {@linkcode RttNode.onEvent}. */
export type RttNodeObserver = (event: RttNodeEvent) => void;

interface AcceptWaiter {
  resolve(session: RttSession): void;
  reject(error: unknown): void;
}

interface FinalizerHeld {
  core: NodeCore;
}

const finalizer = new FinalizationRegistry<FinalizerHeld>((held) => {
  // Safety net only: a node that was never shut down.
  held.core.free(0).catch(() => {
    // Nothing can be reported from a finalizer.
  });
});

/** Internal options of {@linkcode createNodeWith}. */
export interface CreateNodeInternals {
  /** The native symbols to use. */
  symbols: CoreSymbols;
  /** Forces a wake-up path. */
  wakeMode?: WakeMode;
}

let _construct: (core: NodeCore, fingerprint: string) => RttNode;

/**
 * An RTT endpoint: listens, connects, accepts authenticated sessions.
 *
 * @example Two nodes on loopback
 * ```ts ignore
 * import { Identity, RttNode } from "@web4/runtime";
 *
 * const [a, b] = await Promise.all([Identity.generate(), Identity.generate()]);
 * await using server = await RttNode.create({ identity: a });
 * await using client = await RttNode.create({ identity: b });
 * const { port } = await server.listen({ hostname: "127.0.0.1", port: 0 });
 * const [outbound, inbound] = await Promise.all([
 *   client.connect({ hostname: "127.0.0.1", port, fingerprint: a.fingerprint }),
 *   server.accept(),
 * ]);
 * const ch = await outbound.openChannel("state");
 * await ch.send(new TextEncoder().encode("hi"));
 * console.log(await (await inbound.openChannel("state")).receive());
 * ```
 */
export class RttNode implements Transport {
  /** The transport backend name: always `"rtt"`. */
  readonly backend = "rtt";
  /** This node's fingerprint. */
  readonly fingerprint: string;
  #core: NodeCore;
  #sessions = new Map<bigint, RttSession>();
  #acceptQueue: RttSession[] = [];
  #acceptWaiters: AcceptWaiter[] = [];
  #observers = new Set<RttNodeObserver>();
  #shutdown: Promise<void> | undefined;
  #lastMetrics: RttMetrics | undefined;
  #listeners: RttAddress[] = [];

  static {
    _construct = (core, fingerprint) => new RttNode(core, fingerprint);
  }

  private constructor(core: NodeCore, fingerprint: string) {
    this.#core = core;
    this.fingerprint = fingerprint;
    const weak = new WeakRef(this);
    core.ownerRef = weak;
    core.onRecord = (record) => {
      const node = weak.deref();
      if (node !== undefined) node.#onRecord(record);
    };
    finalizer.register(this, { core }, this);
  }

  /**
   * Creates a node (loading the native library on first use).
   *
   * @param options The identity and limits; see {@linkcode RttNodeOptions}.
   * @returns The node.
   * @throws {TypeError} When the identity is missing or an option has the wrong type.
   * @throws {RangeError} When an option is out of range.
   * @throws {NativeLibraryError} When the native library cannot be loaded.
   */
  static async create(options: RttNodeOptions): Promise<RttNode> {
    const resolved = resolveNodeOptions(options);
    const lib = loadNativeLibrary();
    const requested = options.wakeMode ?? "auto";
    const wakeMode = requested === "auto"
      ? (Deno.permissions.querySync({ name: "ffi" }).state === "granted" ? "callback" : "wait")
      : requested;
    return await createNodeWith(options, resolved, { symbols: lib.symbols, wakeMode });
  }

  /** How this node learns about native events (`callback` or `wait`). */
  get wakeMode(): "callback" | "wait" {
    return this.#core.wakeMode;
  }

  /** The addresses this node listens on. */
  get listeners(): readonly RttAddress[] {
    return [...this.#listeners];
  }

  /**
   * Listens for inbound sessions. Checks `--allow-net` for the address
   * first: no socket exists if the host is not granted.
   *
   * @param address `hostname` and `port` (0 picks a free port).
   * @returns The bound address.
   * @throws {Deno.errors.NotCapable} When `--allow-net` does not grant the host.
   * @throws {RTTTransportError} `IO` when the address cannot be bound.
   */
  async listen(address: RttAddress): Promise<RttAddress> {
    const { hostname, port } = _checkAddress(address);
    await assertNetPermission(hostname, port === 0 ? undefined : port);
    this.#assertRunning("listen on");
    const host = utf8(hostname);
    const out = new Uint16Array(1);
    const status = this.#core.symbols.web4_rtt_node_listen(
      this.#core.handle,
      host,
      BigInt(host.length),
      port,
      out,
    );
    if (status !== Status.OK) {
      throw errorFromStatus(status, {
        operation: `listen on ${hostname}:${port} with`,
        detail: this.#core.lastError(),
      });
    }
    const bound = { hostname, port: out[0]! };
    this.#listeners.push(bound);
    return { ...bound };
  }

  /**
   * Connects to a peer pinned to `fingerprint`. Resolves once the server
   * accepted us (so a refusal surfaces here).
   *
   * @param options Address, expected fingerprint, `signal`, `timeoutMs`.
   * @returns The session.
   * @throws {Deno.errors.NotCapable} When `--allow-net` does not grant the host.
   * @throws {RTTHandshakeError} `FINGERPRINT_MISMATCH`, `PEER_NOT_ALLOWED`,
   * `TLS_FAILED`, `HANDSHAKE_TIMEOUT`, `TOO_MANY_HANDSHAKES`.
   * @throws {RTTTransportError} `IO` when the peer cannot be reached.
   */
  async connect(options: RttConnectOptions): Promise<RttSession> {
    const { hostname, port } = _checkAddress(options);
    if (port === 0) throw new RangeError(`Cannot connect to port 0 of ${hostname}`);
    const fingerprint = checkFingerprint(options.fingerprint, "Option fingerprint");
    const timeoutMs = options.timeoutMs === undefined
      ? this.#core.options.handshakeTimeoutMs
      : checkInteger("timeoutMs", options.timeoutMs, 1, 3_600_000);
    const { signal } = options;
    await assertNetPermission(hostname, port);
    signal?.throwIfAborted();
    this.#assertRunning("connect from");
    const json = utf8(JSON.stringify({ host: hostname, port, fingerprint, timeout_ms: timeoutMs }));
    const out = new BigUint64Array(1);
    const status = this.#core.symbols.web4_rtt_node_connect(
      this.#core.handle,
      json,
      BigInt(json.length),
      out,
    );
    if (status !== Status.OK) {
      throw errorFromStatus(status, {
        operation: `connect to ${hostname}:${port} from`,
        peer: fingerprint,
        detail: this.#core.lastError(),
      });
    }
    const op = out[0]!;
    const onAbort = () => {
      if (!this.#core.freed) this.#core.symbols.web4_rtt_node_cancel(this.#core.handle, op);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const record = await this.#core.waitOp(op, 0n);
      if (record.kind === EventKind.CONNECTED) {
        const session = this.#sessions.get(record.session);
        if (session === undefined) {
          throw new RTTDisconnectedError(
            "SESSION_CLOSED",
            `The session with peer ${fingerprint} closed while connecting`,
            { peer: fingerprint },
          );
        }
        return session;
      }
      const code = typeof record.payload?.["code"] === "string"
        ? record.payload["code"] as string
        : "IO";
      if (code === "CANCELLED" && signal?.aborted) throw signal.reason;
      const message = typeof record.payload?.["message"] === "string"
        ? record.payload["message"] as string
        : undefined;
      throw connectError(code, message, `${hostname}:${port}`, fingerprint);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * The next inbound session (never a resumed one: resumption continues the
   * existing session object).
   *
   * @param options `signal` aborts the wait.
   * @returns The session.
   * @throws {RTTDisconnectedError} `SESSION_CLOSED` once the node is shut down.
   */
  accept(options: RttAcceptOptions = {}): Promise<RttSession> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const ready = this.#acceptQueue.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#shutdown !== undefined) return Promise.reject(this.#shutDownError("accept on"));
    const release = this.#core.hold();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.#acceptWaiters.indexOf(waiter);
        if (i >= 0) this.#acceptWaiters.splice(i, 1);
        release();
        reject(signal?.reason);
      };
      const waiter: AcceptWaiter = {
        resolve: (s) => {
          signal?.removeEventListener("abort", onAbort);
          release();
          resolve(s);
        },
        reject: (e) => {
          signal?.removeEventListener("abort", onAbort);
          release();
          reject(e);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#acceptWaiters.push(waiter);
    });
  }

  /**
   * Inbound sessions as they arrive; ends when the node shuts down.
   *
   * @returns An async iterator of sessions.
   */
  async *sessions(): AsyncIterableIterator<RttSession> {
    while (true) {
      let session: RttSession;
      try {
        session = await this.accept();
      } catch (error) {
        if (this.#shutdown !== undefined && error instanceof RTTDisconnectedError) return;
        throw error;
      }
      yield session;
    }
  }

  /**
   * Observes events of every session (lifecycle, drops, replays, rekeys)
   * and refused inbound handshakes.
   *
   * @param fn The observer.
   * @returns Unregisters it.
   */
  onEvent(fn: RttNodeObserver): () => void {
    if (typeof fn !== "function") {
      throw new TypeError(`An event observer must be a function, got ${typeof fn}`);
    }
    this.#observers.add(fn);
    return () => {
      this.#observers.delete(fn);
    };
  }

  /**
   * Node-wide metrics (last values once shut down).
   *
   * @returns A plain object with camelCase keys.
   */
  metrics(): RttMetrics {
    if (this.#core.freed) {
      return { ...(this.#lastMetrics ?? { ...emptyStats(), sessions: 0, pendingHandshakes: 0 }) };
    }
    const raw = this.#core.readJson((buf, cap) =>
      this.#core.symbols.web4_rtt_node_metrics(this.#core.handle, buf, cap)
    );
    if (typeof raw !== "number") this.#lastMetrics = toMetrics(raw);
    return { ...(this.#lastMetrics ?? { ...emptyStats(), sessions: 0, pendingHandshakes: 0 }) };
  }

  /**
   * Closes every session (flushing up to the deadline), stops every native
   * thread and socket, and releases the wake-up path. Safe to call twice.
   *
   * @param options `deadlineMs`.
   * @returns Resolves when everything is released.
   */
  shutdown(options: RttShutdownOptions = {}): Promise<void> {
    if (this.#shutdown === undefined) {
      const deadline = options.deadlineMs === undefined
        ? 2000
        : checkInteger("deadlineMs", options.deadlineMs, 0, 3_600_000);
      this.#shutdown = this.#doShutdown(deadline);
    }
    return this.#shutdown;
  }

  /**
   * Shuts the node down (`await using node = ...`).
   *
   * @returns Resolves when shut down.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  async #doShutdown(deadlineMs: number): Promise<void> {
    const start = Date.now();
    for (const w of this.#acceptWaiters.splice(0)) w.reject(this.#shutDownError("accept on"));
    const open = [...this.#sessions.values()].filter((s) => s.state !== "closed");
    if (open.length > 0 && !this.#core.freed) {
      const closing = Promise.all(open.map((s) => s.close({ flushDeadlineMs: deadlineMs })));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        closing.catch(() => {}),
        new Promise<void>((r) => timer = setTimeout(r, deadlineMs + 250)),
      ]);
      clearTimeout(timer);
    }
    this.metrics();
    finalizer.unregister(this);
    await this.#core.free(Math.max(0, deadlineMs - (Date.now() - start)));
    const { forceClose } = sessionInternals();
    for (const s of this.#sessions.values()) forceClose(s, "shutdown");
    this.#sessions.clear();
    this.#acceptQueue.length = 0;
  }

  #shutDownError(operation: string): RTTDisconnectedError {
    return new RTTDisconnectedError(
      "SESSION_CLOSED",
      `Cannot ${operation} node ${this.fingerprint}: it is shut down`,
      { reason: "shutdown" },
    );
  }

  #assertRunning(operation: string): void {
    if (this.#shutdown !== undefined || this.#core.freed) {
      throw this.#shutDownError(operation);
    }
  }

  #observe(event: RttNodeEvent): void {
    this.#core.dispatcher.run(() => {
      for (const fn of [...this.#observers]) {
        this.#core.dispatcher.run(() => {
          if (this.#observers.has(fn)) fn(event);
        });
      }
    });
  }

  #notice(notice: SessionNotice): void {
    if (notice.kind === "lifecycle") {
      this.#observe(notice.event);
      if (notice.event.type === "session_close") {
        for (const [h, s] of this.#sessions) if (s.state === "closed") this.#sessions.delete(h);
      }
      return;
    }
    const { record, session } = notice;
    const p = record.payload ?? {};
    const channel = typeof p["channel"] === "string" ? p["channel"] as string : "";
    const base = { sessionId: session.id, peerFingerprint: session.peerFingerprint };
    switch (record.kind) {
      case EventKind.DROP:
        this.#observe({
          type: "drop",
          ...base,
          channel,
          cause: typeof p["cause"] === "string" ? p["cause"] as string : "drop",
          count: Number(record.value),
        });
        return;
      case EventKind.REPLAY:
        this.#observe({
          type: "replay",
          ...base,
          channel,
          sequence: BigInt.asUintN(64, record.value),
          error: new RTTReplayError(
            `Replayed frame (sequence ${
              BigInt.asUintN(64, record.value)
            }) on channel "${channel}" of the session with peer ${session.peerFingerprint} was dropped`,
            { peer: session.peerFingerprint, channel, sequence: BigInt.asUintN(64, record.value) },
          ),
        });
        return;
      case EventKind.REKEY:
        this.#observe({ type: "rekey", ...base, rekeys: Number(record.value) });
        return;
    }
  }

  #newSession(record: EventRecord): RttSession | undefined {
    const p = record.payload ?? {};
    const id = typeof p["id"] === "string" ? p["id"] as string : String(record.session);
    const peer = typeof p["peer_fingerprint"] === "string" ? p["peer_fingerprint"] as string : "";
    if (record.session === 0n) return undefined;
    const existing = this.#sessions.get(record.session);
    if (existing !== undefined) return existing;
    const weak = new WeakRef(this);
    const session = sessionInternals().create(
      this.#core,
      record.session,
      id,
      peer,
      (notice) => {
        const node = weak.deref();
        if (node !== undefined) node.#notice(notice);
      },
      this,
    );
    this.#sessions.set(record.session, session);
    this.#observe({
      type: "session_open",
      sessionId: id,
      peerFingerprint: peer,
      resumed: false,
      reconnects: 0,
    });
    return session;
  }

  #onRecord(record: EventRecord): void {
    switch (record.kind) {
      case EventKind.ACCEPTED: {
        const session = this.#newSession(record);
        if (session === undefined) return;
        const waiter = this.#acceptWaiters.shift();
        if (waiter !== undefined) waiter.resolve(session);
        else this.#acceptQueue.push(session);
        return;
      }
      case EventKind.CONNECTED: {
        const session = this.#newSession(record);
        const op = this.#core.takeOp(record);
        if (op !== undefined) op.resolve(record);
        else if (session !== undefined) void session.close(); // The connect was abandoned.
        return;
      }
      case EventKind.CONNECT_FAILED:
      case EventKind.FLUSHED:
      case EventKind.FLUSH_FAILED:
        this.#core.takeOp(record)?.resolve(record);
        return;
      case EventKind.VERIFICATION_FAILURE: {
        const p = record.payload ?? {};
        const event: RttNodeEvent = {
          type: "verification_failure",
          code: typeof p["code"] === "string" ? p["code"] as string : "TLS_FAILED",
          message: typeof p["message"] === "string" ? p["message"] as string : "",
        };
        if (typeof p["peer_fingerprint"] === "string" && p["peer_fingerprint"] !== "") {
          event.peerFingerprint = p["peer_fingerprint"] as string;
        }
        this.#observe(event);
        return;
      }
      default: {
        const session = this.#sessions.get(record.session);
        if (session !== undefined) sessionInternals().event(session, record);
      }
    }
  }
}

function _checkAddress(address: RttAddress): RttAddress {
  if (address === null || typeof address !== "object") {
    throw new TypeError("An address needs hostname and port");
  }
  const { hostname, port } = address;
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(`Hostname must be a non-empty string, got ${JSON.stringify(hostname)}`);
  }
  return { hostname, port: checkInteger("port", port, 0, 65_535) };
}

/**
 * Creates a node over the given native symbols. Internal: `RttNode.create`
 * uses the real library; tests may pass a fake.
 *
 * @param options The caller's options (for the identity).
 * @param resolved The resolved options.
 * @param internals The symbols and wake-up path.
 * @returns The node.
 */
export async function createNodeWith(
  options: RttNodeOptions,
  resolved: ResolvedRttNodeOptions,
  internals: CreateNodeInternals,
): Promise<RttNode> {
  const { symbols } = internals;
  const pem = await options.identity.toPkcs8Pem();
  const json = utf8(JSON.stringify(nodeConfigJson(resolved, pem)));
  const out = new BigUint64Array(1);
  const status = symbols.web4_rtt_node_create(json, BigInt(json.length), out);
  json.fill(0); // The buffer held the private key.
  if (status !== Status.OK) {
    const detail = _lastError(symbols);
    throw errorFromStatus(status, { operation: "create", detail });
  }
  const handle = out[0]!;
  let core: NodeCore;
  try {
    core = new NodeCore(
      symbols,
      handle,
      resolved,
      options.onHookError ?? ((error) => console.error("RTT hook threw:", error)),
      internals.wakeMode ?? "wait",
    );
  } catch (error) {
    symbols.web4_rtt_node_free(handle, 0);
    throw error;
  }
  return _construct(core, options.identity.fingerprint);
}

function _lastError(symbols: CoreSymbols): string {
  const buf = new Uint8Array(1024);
  const len = Number(symbols.web4_rtt_last_error(buf, BigInt(buf.length)));
  return new TextDecoder().decode(buf.subarray(0, Math.min(len, buf.length)));
}
