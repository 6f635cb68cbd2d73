/**
 * `RttNode`: one local RTT endpoint (an identity, a native node, its
 * listeners and sessions).
 *
 * @module
 */

import { Status } from "./ffi.ts";
import { type CoreSymbols, NodeCore } from "./core.ts";
import { lastErrorOf, readNativeJson, utf8 } from "./args.ts";
import type { NativeEvent } from "./events.ts";
import { connectError, errorFromStatus } from "./errors.ts";
import { RTTDisconnectedError, RTTTransportError } from "../transport/errors.ts";
import { loadNativeLibraryAsync } from "./prebuilt.ts";
import {
  checkAddress,
  checkFingerprint,
  checkInteger,
  nodeConfigJson,
  type ResolvedRttNodeOptions,
  resolveNodeOptions,
  type RttAcceptOptions,
  type RttAddress,
  type RttConnectOptions,
  type RttNodeOptions,
  type RttShutdownOptions,
} from "./options.ts";
import {
  NodeObservers,
  noticeEvent,
  type RttNodeEvent,
  type RttNodeObserver,
} from "./observers.ts";
import { assertNetPermission } from "./permissions.ts";
import { type RttSession, sessionInternals, type SessionNotice } from "./session.ts";
import type { Transport } from "../transport/types.ts";
import { toMetrics, type TransportMetrics as RttMetrics } from "../transport/stats.ts";
import { type ByteNetwork, tcpNetwork, TIMED_OUT, withDeadline } from "./network.ts";
import { sleep, systemClock, systemRandom } from "../ports/mod.ts";

interface AcceptWaiter {
  resolve(session: RttSession): void;
  reject(error: unknown): void;
}

interface FinalizerHeld {
  core: NodeCore;
}

const finalizer = new FinalizationRegistry<FinalizerHeld>((held) => {
  // Safety net only: a node that was never shut down.
  held.core.free().catch(() => {
    // Nothing can be reported from a finalizer.
  });
});

/** Internal options of {@linkcode createNodeWith}. */
export interface CreateNodeInternals {
  /** The native symbols to use. */
  symbols: CoreSymbols;
  /** Where sockets come from (Deno TCP for `rtt`, pipes for `memory`). */
  network: ByteNetwork;
  /** The backend name the node reports. */
  backend: string;
}

let _construct: (core: NodeCore, fingerprint: string, backend: string) => RttNode;
let _sessionOf: (node: RttNode, handle: bigint) => RttSession | undefined;

/**
 * An RTT endpoint: listens, connects, accepts authenticated sessions.
 *
 * @example Two nodes on loopback
 * ```ts
 * import { Identity } from "../identity/mod.ts";
 * import { RttNode } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await Promise.all([Identity.generate(), Identity.generate()]);
 * await using server = await RttNode.create({ identity: a });
 * await using client = await RttNode.create({ identity: b });
 * const { port } = await server.listen({ hostname: "127.0.0.1", port: 0 });
 * const [outbound, inbound] = await Promise.all([
 *   client.connect({ hostname: "127.0.0.1", port, fingerprint: a.fingerprint }),
 *   server.accept(),
 * ]);
 * assert.equal(inbound.peerFingerprint, b.fingerprint); // authenticated by TLS
 * const ch = await outbound.openChannel("state");
 * await ch.send(new TextEncoder().encode("hi"));
 * const got = await (await inbound.openChannel("state")).receive();
 * assert.equal(new TextDecoder().decode(got!), "hi");
 * ```
 */
export class RttNode implements Transport {
  /** The transport backend name: `"rtt"` (Deno TCP), or `"memory"` (in-process pipes). */
  readonly backend: string;
  /** This node's fingerprint. */
  readonly fingerprint: string;
  #core: NodeCore;
  #sessions = new Map<bigint, RttSession>();
  #acceptQueue: RttSession[] = [];
  #acceptWaiters: AcceptWaiter[] = [];
  #observers: NodeObservers;
  #shutdown: Promise<void> | undefined;
  #lastMetrics: RttMetrics | undefined;
  #listeners: RttAddress[] = [];

  static {
    _construct = (core, fingerprint, backend) => new RttNode(core, fingerprint, backend);
    _sessionOf = (node, handle) => node.#sessions.get(handle);
  }

  private constructor(core: NodeCore, fingerprint: string, backend: string) {
    this.#core = core;
    this.#observers = new NodeObservers(core.dispatcher);
    this.fingerprint = fingerprint;
    this.backend = backend;
    const weak = new WeakRef(this);
    core.ownerRef = weak;
    core.onEvent = (event) => {
      const node = weak.deref();
      if (node !== undefined) node.#onNativeEvent(event);
    };
    core.onChannelEvent = (handle, channel, writable) => {
      const node = weak.deref();
      const session = node === undefined ? undefined : _sessionOf(node, handle);
      if (session !== undefined) sessionInternals().channelEvent(session, channel, writable);
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
    const lib = await loadNativeLibraryAsync();
    return await createNodeWith(options, resolved, {
      symbols: lib.symbols,
      network: tcpNetwork,
      backend: "rtt",
    });
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
    const { hostname, port } = checkAddress(address);
    if (this.#core.network.kind === "tcp") {
      await assertNetPermission(hostname, port === 0 ? undefined : port);
    }
    this.#assertRunning("listen on");
    let bound: number;
    try {
      bound = await this.#core.sockets.listen(hostname, port);
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable || error instanceof RTTDisconnectedError) {
        throw error;
      }
      throw new RTTTransportError(
        "IO",
        `Cannot listen on ${hostname}:${port} with node ${this.fingerprint}: ${
          error instanceof Error ? error.message : String(error)
        }`,
        { cause: error },
      );
    }
    const result = { hostname, port: bound };
    this.#listeners.push(result);
    return { ...result };
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
    const { hostname, port } = checkAddress(options);
    if (port === 0) throw new RangeError(`Cannot connect to port 0 of ${hostname}`);
    const fingerprint = checkFingerprint(options.fingerprint, "Option fingerprint");
    const timeoutMs = options.timeoutMs === undefined
      ? this.#core.options.handshakeTimeoutMs
      : checkInteger("timeoutMs", options.timeoutMs, 1, 3_600_000);
    const { signal } = options;
    if (this.#core.network.kind === "tcp") await assertNetPermission(hostname, port);
    signal?.throwIfAborted();
    this.#assertRunning("connect from");
    const started = this.#core.clock.monotonic();
    const target = `${hostname}:${port}`;
    const release = this.#core.hold();
    try {
      const stream = await withDeadline(
        this.#core.clock,
        this.#core.network.connect(hostname, port),
        timeoutMs,
        signal,
      ).catch((error) => {
        if (signal?.aborted) throw signal.reason;
        if (error instanceof Deno.errors.NotCapable) throw error;
        if (error === TIMED_OUT) {
          throw connectError(
            "HANDSHAKE_TIMEOUT",
            `No TCP connection within ${timeoutMs} ms`,
            target,
            fingerprint,
          );
        }
        throw connectError(
          "IO",
          error instanceof Error ? error.message : String(error),
          target,
          fingerprint,
        );
      });
      if (this.#core.freed || this.#shutdown !== undefined) {
        stream.close();
        throw this.#shutDownError("connect from");
      }
      const left = Math.max(1, Math.round(timeoutMs - (this.#core.clock.monotonic() - started)));
      const id = this.#core.sockets.startConnect(stream, fingerprint, left);
      const done = this.#core.ops.wait(`connect:${id}`, 0n);
      this.#core.pump();
      const onAbort = () => {
        const op = this.#core.ops.take(`connect:${id}`);
        this.#core.sockets.abandon(id);
        op?.reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      let event: NativeEvent;
      try {
        event = await done;
      } finally {
        signal?.removeEventListener("abort", onAbort);
      }
      if (event.type === "connected") {
        const session = this.#sessions.get(event.session);
        if (session === undefined) {
          throw new RTTDisconnectedError(
            "SESSION_CLOSED",
            `The session with peer ${fingerprint} closed while connecting`,
            { peer: fingerprint },
          );
        }
        this.#core.dialAddresses.set(event.session, { hostname, port });
        return session;
      }
      if (event.type === "connect_failed") {
        throw connectError(event.code, event.message, target, fingerprint);
      }
      throw new RTTTransportError("PROTOCOL", `Unexpected completion of a connect to ${target}`);
    } finally {
      release();
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
    return this.#observers.add(fn);
  }

  /**
   * Node-wide metrics (last values once shut down).
   *
   * @returns A plain object with camelCase keys.
   */
  metrics(): RttMetrics {
    if (this.#core.freed) {
      return { ...(this.#lastMetrics ?? toMetrics({})) };
    }
    const raw = readNativeJson((buf, cap) =>
      this.#core.symbols.web4_rtt_node_metrics(this.#core.handle, buf, cap)
    );
    if (typeof raw !== "number") this.#lastMetrics = toMetrics(raw);
    return { ...(this.#lastMetrics ?? toMetrics({})) };
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
    const start = this.#core.clock.monotonic();
    for (const w of this.#acceptWaiters.splice(0)) w.reject(this.#shutDownError("accept on"));
    const open = [...this.#sessions.values()].filter((s) => s.state !== "closed");
    if (open.length > 0 && !this.#core.freed) {
      const { shutdown } = sessionInternals();
      const closing = Promise.all(open.map((s) => shutdown(s, deadlineMs)));
      const stop = new AbortController();
      await Promise.race([
        closing.catch(() => {}),
        sleep(this.#core.clock, deadlineMs + 250, stop.signal),
      ]);
      stop.abort();
    }
    this.metrics();
    finalizer.unregister(this);
    void start;
    await this.#core.free();
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

  #notice(notice: SessionNotice): void {
    const event = noticeEvent(notice);
    if (event !== undefined) this.#observers.observe(event);
    if (notice.kind === "lifecycle" && notice.event.type === "session_close") {
      for (const [h, s] of this.#sessions) if (s.state === "closed") this.#sessions.delete(h);
    }
  }

  #newSession(handle: bigint, id: string, peer: string): RttSession {
    const existing = this.#sessions.get(handle);
    if (existing !== undefined) return existing;
    const weak = new WeakRef(this);
    const session = sessionInternals().create(
      this.#core,
      handle,
      id,
      peer,
      (notice) => {
        const node = weak.deref();
        if (node !== undefined) node.#notice(notice);
      },
      this,
    );
    this.#sessions.set(handle, session);
    this.#observers.observe({
      type: "session_open",
      sessionId: id,
      peerFingerprint: peer,
      resumed: false,
      reconnects: 0,
    });
    return session;
  }

  #onNativeEvent(event: NativeEvent): void {
    switch (event.type) {
      case "accepted": {
        const session = this.#newSession(event.session, event.id, event.peer);
        const waiter = this.#acceptWaiters.shift();
        if (waiter !== undefined) waiter.resolve(session);
        else this.#acceptQueue.push(session);
        return;
      }
      case "connected": {
        const session = this.#newSession(event.session, event.id, event.peer);
        const op = this.#core.ops.take(`connect:${event.conn}`);
        if (op !== undefined) op.resolve(event);
        else void session.close(); // The connect was abandoned.
        return;
      }
      case "connect_failed":
        this.#core.ops.take(`connect:${event.conn}`)?.resolve(event);
        return;
      case "flushed":
      case "flush_failed":
        this.#core.ops.take(`flush:${event.op}`)?.resolve(event);
        return;
      case "verification_failure": {
        const observed: RttNodeEvent = {
          type: "verification_failure",
          code: event.code,
          message: event.message,
        };
        if (event.peer !== "") observed.peerFingerprint = event.peer;
        this.#observers.observe(observed);
        return;
      }
      case "dial":
      case "close_conn":
        return;
      default: {
        const session = this.#sessions.get(event.session);
        if (session !== undefined) sessionInternals().event(session, event);
        if (event.type === "session_close") this.#core.dialAddresses.delete(event.session);
      }
    }
  }
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
  // The native core draws its session ids from this seed (one seed, one run).
  const idSeed = (options.random ?? systemRandom)(32);
  const json = utf8(JSON.stringify(nodeConfigJson(resolved, pem, idSeed.toHex())));
  idSeed.fill(0);
  const out = new BigUint64Array(1);
  const status = symbols.web4_rtt_node_create(json, json.length, out);
  json.fill(0); // The buffer held the private key.
  if (status !== Status.OK) {
    throw errorFromStatus(status, { operation: "create", detail: lastErrorOf(symbols) });
  }
  const core = new NodeCore(
    symbols,
    out[0]!,
    resolved,
    options.onHookError ?? ((error) => console.error("RTT hook threw:", error)),
    internals.network,
    options.clock ?? systemClock,
  );
  return _construct(core, options.identity.fingerprint, internals.backend);
}
