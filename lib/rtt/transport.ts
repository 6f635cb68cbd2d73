/**
 * The transport-agnostic facade: what the layers above RTT need from a
 * transport, a registry of backends by name, and the two built-in backends
 * (`"rtt"`, the native transport; `"memory"`, in-process, for unit tests of
 * higher layers). Registering the built-ins loads nothing: the RTT backend
 * opens the native library only when a transport is created.
 *
 * @module
 */

import type { BackpressurePolicy, RttNodeOptions } from "./options.ts";
import { RttNode } from "./node.ts";
import { createMemoryTransport } from "./memory.ts";
import type { RttMetrics, RttStats } from "./stats.ts";
import type { SessionHook } from "./hooks.ts";

/** A host and port. */
export interface TransportAddress {
  /** Host name or address. */
  hostname: string;
  /** Port. */
  port: number;
}

/** Options of {@linkcode Transport.connect}. */
export interface TransportConnectOptions extends TransportAddress {
  /** The peer's expected fingerprint. */
  fingerprint: string;
  /** Aborts the connect. */
  signal?: AbortSignal;
  /** Overall deadline. */
  timeoutMs?: number;
}

/** Per-channel options of {@linkcode TransportSession.openChannel}. */
export interface TransportChannelOptions {
  /** What a full send queue does. */
  backpressurePolicy?: BackpressurePolicy;
  /** Messages per send queue. */
  maxQueue?: number;
  /** Bytes per send queue. */
  maxQueueBytes?: number;
  /** How long a `block`ed send waits. */
  blockTimeoutMs?: number;
}

/** One ordered, flow-controlled channel of a session. */
export interface TransportChannel extends AsyncIterable<Uint8Array> {
  /** The channel kind. */
  readonly kind: string;
  /** Queues a message (the policy decides what a full queue does). */
  send(data: Uint8Array): Promise<void>;
  /** Resolves when everything sent so far reached the peer. */
  flush(): Promise<void>;
  /** The next message, or `null` once the channel ended. */
  receive(options?: { signal?: AbortSignal }): Promise<Uint8Array | null>;
  /** Half-closes our side. */
  close(): Promise<void>;
  /** Queue and traffic statistics. */
  stats(): RttStats;
}

/** One authenticated session with a peer. */
export interface TransportSession extends AsyncDisposable {
  /** Session id. */
  readonly id: string;
  /** The peer's authenticated fingerprint. */
  readonly peerFingerprint: string;
  /** `open`, `reconnecting` or `closed`. */
  readonly state: "open" | "reconnecting" | "closed";
  /** Opens or joins a channel. */
  openChannel(kind: string, options?: TransportChannelOptions): Promise<TransportChannel>;
  /** Closes the session. */
  close(): Promise<void>;
  /** Session-wide statistics. */
  stats(): RttStats;
  /** Lifecycle hook; returns its unregister function. */
  onSessionOpen(fn: SessionHook): () => void;
  /** Lifecycle hook; returns its unregister function. */
  onSessionClose(fn: SessionHook): () => void;
  /** Lifecycle hook; returns its unregister function. */
  onHeartbeatTimeout(fn: SessionHook): () => void;
  /** Unregisters an open hook. */
  offSessionOpen(fn: SessionHook): void;
  /** Unregisters a close hook. */
  offSessionClose(fn: SessionHook): void;
  /** Unregisters a heartbeat-timeout hook. */
  offHeartbeatTimeout(fn: SessionHook): void;
  /** Unregisters every hook. */
  clearSessionHooks(): void;
}

/** A transport backend: one local endpoint. */
export interface Transport extends AsyncDisposable {
  /** The backend's registry name. */
  readonly backend: string;
  /** This endpoint's fingerprint. */
  readonly fingerprint: string;
  /** Listens for inbound sessions; resolves to the bound address. */
  listen(address: TransportAddress): Promise<TransportAddress>;
  /** Connects to a pinned peer. */
  connect(options: TransportConnectOptions): Promise<TransportSession>;
  /** The next inbound session. */
  accept(options?: { signal?: AbortSignal }): Promise<TransportSession>;
  /** Endpoint-wide metrics. */
  metrics(): RttMetrics;
  /** Closes every session and releases everything. Safe to call twice. */
  shutdown(): Promise<void>;
}

/** Options a backend factory receives: the node options, plus backend-specific extras. */
export type TransportOptions = RttNodeOptions & Record<string, unknown>;

/** Creates a transport of one backend. */
export type TransportFactory = (options: TransportOptions) => Promise<Transport>;

const registry = new Map<string, TransportFactory>();

/**
 * Registers (or replaces) a backend under `name`.
 *
 * @param name The backend name, 1-64 characters `[a-z0-9._-]`.
 * @param factory Creates a transport from options.
 * @throws {RangeError} For an invalid name.
 * @throws {TypeError} When `factory` is not a function.
 */
export function registerTransport(name: string, factory: TransportFactory): void {
  if (typeof name !== "string" || !/^[a-z0-9._-]{1,64}$/.test(name)) {
    throw new RangeError(
      `Transport name must be 1-64 characters of [a-z0-9._-], got ${JSON.stringify(name)}`,
    );
  }
  if (typeof factory !== "function") {
    throw new TypeError(`Transport factory for "${name}" must be a function`);
  }
  registry.set(name, factory);
}

/**
 * Removes a backend.
 *
 * @param name The backend name.
 * @returns Whether it was registered.
 */
export function unregisterTransport(name: string): boolean {
  return registry.delete(name);
}

/**
 * The registered backend names, sorted.
 *
 * @returns The names.
 */
export function transportNames(): string[] {
  return [...registry.keys()].sort();
}

/**
 * Creates a transport of the backend `name`.
 *
 * @param name A registered backend (`"rtt"`, `"memory"`, or your own).
 * @param options The backend's options.
 * @returns The transport.
 * @throws {RangeError} When no backend has that name.
 *
 * @example An in-memory pair for a unit test
 * ```ts ignore
 * const network = new MemoryNetwork();
 * const a = await createTransport("memory", { identity: idA, network });
 * const b = await createTransport("memory", { identity: idB, network });
 * const { port } = await a.listen({ hostname: "a", port: 0 });
 * const [s1, s2] = await Promise.all([b.connect({ hostname: "a", port, fingerprint: idA.fingerprint }), a.accept()]);
 * ```
 */
export function createTransport(name: string, options: TransportOptions): Promise<Transport> {
  const factory = registry.get(name);
  if (factory === undefined) {
    return Promise.reject(
      new RangeError(
        `No transport backend named ${JSON.stringify(name)}; registered: ${
          transportNames().join(", ")
        }`,
      ),
    );
  }
  return factory(options);
}

registerTransport("rtt", (options) => RttNode.create(options));
registerTransport("memory", createMemoryTransport);
