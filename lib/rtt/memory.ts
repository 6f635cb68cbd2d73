/**
 * The `memory` transport backend: the same native core and the same driver
 * as `rtt`, over in-process byte pipes instead of TCP sockets, so every
 * rule of the transport has exactly one implementation. The pipes carry
 * real TLS 1.3 records; only the sockets are simulated.
 *
 * A {@linkcode MemoryNetwork} connects memory transports and injects faults
 * for the tests of the layers above: drop a connection, cut two nodes apart
 * (and refuse new connections), partition a set of nodes, stall or delay
 * the bytes between two nodes, and heal everything.
 *
 * Needs the native library (`--allow-ffi`), like `rtt`, but no network
 * permission.
 *
 * @module
 */

import { RTTTransportError } from "../transport/errors.ts";
import type { ByteListener, ByteNetwork, ByteStream } from "./network.ts";
import { createNodeWith, type RttNode } from "./node.ts";
import { loadNativeLibraryAsync } from "./prebuilt.ts";
import { type ResolvedRttNodeOptions, resolveRttOptions, type RttOptions } from "./options.ts";
import type { Transport, TransportContext } from "../transport/types.ts";
import { type Clock, systemClock, type TimerHandle } from "../ports/mod.ts";

/** One direction of a pipe: chunks in flight to one end. */
class _End implements ByteStream {
  readonly local: string;
  readonly remote: string;
  peer!: _End;
  #inbox: Uint8Array[] = [];
  #reader: (() => void) | undefined;
  #eof = false;
  #closed = false;
  #net: MemoryNetwork;
  /** Bytes held back by a stall. */
  held: Uint8Array[] = [];
  timers: Set<TimerHandle> = new Set();

  constructor(net: MemoryNetwork, local: string, remote: string) {
    this.#net = net;
    this.local = local;
    this.remote = remote;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#inbox.length === 0) {
      if (this.#eof || this.#closed) return null;
      await new Promise<void>((r) => this.#reader = r);
    }
    const chunk = this.#inbox[0]!;
    const n = Math.min(chunk.length, p.length);
    p.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#inbox.shift();
    else this.#inbox[0] = chunk.subarray(n);
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#closed || this.peer.#closed) {
      return Promise.reject(new Deno.errors.BrokenPipe("Memory pipe closed"));
    }
    _net.send(this.#net, this, p.slice());
    return Promise.resolve(p.length);
  }

  /** Delivers bytes to this end's reader. */
  deliver(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#inbox.push(bytes);
    this.#wake();
  }

  #wake(): void {
    const r = this.#reader;
    this.#reader = undefined;
    r?.();
  }

  /** The other end closed: reads end once the inbox is drained. */
  endOfStream(): void {
    this.#eof = true;
    this.#wake();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#inbox = [];
    for (const t of this.timers) this.#net.clock.clear(t);
    this.timers.clear();
    this.#wake();
    _net.closed(this.#net, this);
    this.peer.endOfStream();
  }

  ref(): void {}
  unref(): void {}
}

class _Listener implements ByteListener {
  readonly port: number;
  readonly key: string;
  readonly owner: string;
  #queue: ByteStream[] = [];
  #waiter: ((s: ByteStream | undefined) => void) | undefined;
  #closed = false;
  #net: MemoryNetwork;

  constructor(net: MemoryNetwork, key: string, port: number, owner: string) {
    this.#net = net;
    this.key = key;
    this.port = port;
    this.owner = owner;
  }

  push(s: ByteStream): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    if (w !== undefined) w(s);
    else this.#queue.push(s);
  }

  async accept(): Promise<ByteStream> {
    const ready = this.#queue.shift();
    if (ready !== undefined) return ready;
    if (this.#closed) throw new Deno.errors.BadResource("Memory listener closed");
    const s = await new Promise<ByteStream | undefined>((r) => this.#waiter = r);
    if (s === undefined) throw new Deno.errors.BadResource("Memory listener closed");
    return s;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    _net.unlisten(this.#net, this);
    for (const s of this.#queue.splice(0)) s.close();
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.(undefined);
  }

  ref(): void {}
  unref(): void {}
}

/** Module-internal access to a network's private methods. */
let _net: {
  bind(net: MemoryNetwork, local: string): ByteNetwork;
  unlisten(net: MemoryNetwork, l: _Listener): void;
  closed(net: MemoryNetwork, e: _End): void;
  send(net: MemoryNetwork, from: _End, bytes: Uint8Array): void;
};

/** How the bytes between two nodes currently travel. */
interface _LinkFault {
  stalled: boolean;
  delayMs: number;
}

/**
 * A process-local network that memory transports listen and connect on,
 * with fault injection. Nodes are named by their fingerprints.
 *
 * @example Partition a mesh, then heal it: nothing sent is lost
 * ```ts
 * import { Identity } from "../identity/mod.ts";
 * import { memory, MemoryNetwork } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const network = new MemoryNetwork();
 * const transport = memory({ network });
 * const [ia, ib] = await Promise.all([Identity.generate(), Identity.generate()]);
 * await using a = await transport({ identity: ia });
 * await using b = await transport({ identity: ib });
 * const { port } = await a.listen({ hostname: "a", port: 0 });
 * const [toA, atA] = await Promise.all([
 *   b.connect({ hostname: "a", port, fingerprint: ia.fingerprint }),
 *   a.accept(),
 * ]);
 * const out = await toA.openChannel("state");
 * const inbox = await atA.openChannel("state");
 * network.partition([a]); // a is cut off from everyone; its sessions start resuming
 * const sent = out.send(new TextEncoder().encode("during the partition"));
 * network.heal(); // the session resumes; the message arrives once
 * await sent;
 * assert.equal(new TextDecoder().decode((await inbox.receive())!), "during the partition");
 * ```
 */
export class MemoryNetwork {
  /** The clock of injected delays, and of nodes made on this network without their own. */
  readonly clock: Clock;
  #listeners = new Map<string, _Listener>();
  #ends = new Set<_End>();
  #nextPort = 1;
  #faults = new Map<string, _LinkFault>();
  /** Pairs that may not talk (cut or partitioned). */
  #blocked = new Set<string>();
  #groups: Set<string>[] = [];

  /**
   * Creates an empty network.
   *
   * @param options The clock of the network's delays. @default {{ clock: systemClock }}
   */
  constructor(options: { clock?: Clock | undefined } = {}) {
    this.clock = options.clock ?? systemClock;
  }

  static {
    _net = {
      bind: (net, local) => net.#bind(local),
      unlisten: (net, l) => net.#unlisten(l),
      closed: (net, e) => net.#ends.delete(e),
      send: (net, from, bytes) => net.#send(from, bytes),
    };
  }

  /** The view of the network a node with this fingerprint uses (streams are tagged with it). */
  #bind(local: string): ByteNetwork {
    return {
      kind: "memory",
      listen: (hostname, port) => Promise.resolve(this.#listen(local, hostname, port)),
      connect: (hostname, port) => this.#connect(local, hostname, port),
    };
  }

  #listen(owner: string, hostname: string, port: number): ByteListener {
    let bound = port;
    if (bound === 0) {
      while (this.#listeners.has(`${hostname}:${this.#nextPort}`)) this.#nextPort++;
      bound = this.#nextPort++;
    }
    const key = `${hostname}:${bound}`;
    if (this.#listeners.has(key)) {
      throw new RTTTransportError("IO", `Address ${key} is already in use on the memory network`);
    }
    const l = new _Listener(this, key, bound, owner);
    this.#listeners.set(key, l);
    return l;
  }

  #unlisten(l: _Listener): void {
    if (this.#listeners.get(l.key) === l) this.#listeners.delete(l.key);
  }

  async #connect(local: string, hostname: string, port: number): Promise<ByteStream> {
    await Promise.resolve();
    const l = this.#listeners.get(`${hostname}:${port}`);
    if (l === undefined || this.#isBlocked(local, l.owner)) {
      throw new Deno.errors.ConnectionRefused(
        `Nothing reachable listens at ${hostname}:${port} on the memory network`,
      );
    }
    const a = new _End(this, local, l.owner);
    const b = new _End(this, l.owner, local);
    a.peer = b;
    b.peer = a;
    this.#ends.add(a);
    this.#ends.add(b);
    l.push(b);
    return a;
  }

  #send(from: _End, bytes: Uint8Array): void {
    const f = this.#faults.get(_pair(from.local, from.remote));
    if (f?.stalled) {
      from.held.push(bytes);
      return;
    }
    if (f !== undefined && f.delayMs > 0) {
      const t = this.clock.setTimeout(() => {
        from.timers.delete(t);
        from.peer.deliver(bytes);
      }, f.delayMs);
      from.timers.add(t);
      return;
    }
    from.peer.deliver(bytes);
  }

  #isBlocked(a: string, b: string): boolean {
    if (this.#blocked.has(_pair(a, b))) return true;
    return this.#groups.some((g) => g.has(a) !== g.has(b));
  }

  #ends_between(pred: (e: _End) => boolean): _End[] {
    return [...this.#ends].filter(pred);
  }

  /**
   * Drops every connection between two nodes (both sides see the stream
   * end). Their sessions stay and resume: the dialing side reconnects.
   *
   * @param a One node.
   * @param b The other.
   */
  dropConnection(a: Transport, b: Transport): void {
    const key = _pair(a.fingerprint, b.fingerprint);
    for (const e of this.#ends_between((e) => _pair(e.local, e.remote) === key)) e.close();
  }

  /**
   * A node's process dies: every connection it has ends abruptly (its peers
   * see the stream end, nothing more is delivered either way) and its
   * listeners go, so a restarted node can listen on the same address. The
   * node object itself is left alone (a crash does not flush or stop it).
   *
   * @param node The node that crashed.
   *
   * @example
   * ```ts ignore
   * network.crash(node.transport); // then: a new node with the same key and database
   * ```
   */
  crash(node: Transport): void {
    const fp = node.fingerprint;
    for (const e of this.#ends_between((e) => e.local === fp || e.remote === fp)) {
      e.held = [];
      e.close();
    }
    for (const l of [...this.#listeners.values()]) if (l.owner === fp) l.close();
  }

  /**
   * Cuts two nodes apart: their connections drop and new ones are refused
   * until {@linkcode MemoryNetwork.heal}.
   *
   * @param a One node.
   * @param b The other.
   */
  cut(a: Transport, b: Transport): void {
    this.#blocked.add(_pair(a.fingerprint, b.fingerprint));
    this.dropConnection(a, b);
  }

  /**
   * Partitions the network: the given nodes can reach each other but no
   * one else (connections across drop, new ones are refused) until
   * {@linkcode MemoryNetwork.heal}.
   *
   * @param group The nodes on one side.
   */
  partition(group: readonly Transport[]): void {
    const g = new Set(group.map((t) => t.fingerprint));
    this.#groups.push(g);
    for (const e of this.#ends_between((e) => g.has(e.local) !== g.has(e.remote))) e.close();
  }

  /**
   * Stalls the bytes between two nodes (nothing is delivered, nothing is
   * lost: a silent link, as when a heartbeat times out) until
   * {@linkcode MemoryNetwork.heal}.
   *
   * @param a One node.
   * @param b The other.
   */
  stall(a: Transport, b: Transport): void {
    this.#fault(a, b).stalled = true;
  }

  /**
   * Delays every write between two nodes by `ms` (order is kept).
   *
   * @param a One node.
   * @param b The other.
   * @param ms The delay; 0 removes it.
   */
  delay(a: Transport, b: Transport, ms: number): void {
    if (!Number.isInteger(ms) || ms < 0) {
      throw new RangeError(`A delay must be a non-negative integer of ms, got ${ms}`);
    }
    this.#fault(a, b).delayMs = ms;
  }

  /** Removes every fault: cuts, partitions, stalls (held bytes are delivered) and delays. */
  heal(): void {
    this.#blocked.clear();
    this.#groups = [];
    this.#faults.clear();
    for (const e of this.#ends) {
      for (const bytes of e.held.splice(0)) e.peer.deliver(bytes);
    }
  }

  #fault(a: Transport, b: Transport): _LinkFault {
    const key = _pair(a.fingerprint, b.fingerprint);
    let f = this.#faults.get(key);
    if (f === undefined) {
      f = { stalled: false, delayMs: 0 };
      this.#faults.set(key, f);
    }
    return f;
  }
}

function _pair(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/** Options of the `memory` backend: the node's {@linkcode RttOptions} and the network it joins. */
export interface MemoryOptions extends RttOptions {
  /** The network to join (required: each test or simulation makes its own). */
  network: MemoryNetwork;
}

/**
 * Checks `options.network` and resolves the rest (used by `memory(options)`).
 *
 * @param options The memory backend's options.
 * @returns The resolved node options.
 * @throws {TypeError} When `network` is not a {@linkcode MemoryNetwork} or an option has the wrong type.
 * @throws {RangeError} When an option is out of range.
 */
export function resolveMemoryOptions(options: MemoryOptions): ResolvedRttNodeOptions {
  if (!(options?.network instanceof MemoryNetwork)) {
    throw new TypeError("Option network of the memory backend must be a MemoryNetwork");
  }
  const { network: _, ...rest } = options;
  return resolveRttOptions(rest);
}

/**
 * Creates a memory node: an `RttNode` (backend `"memory"`) whose streams are
 * pipes of `options.network`. Internal: `memory(options)` is the public way.
 *
 * @param options The node's options and the network.
 * @param resolved The options resolved by {@linkcode resolveMemoryOptions}.
 * @param context The identity the node authenticates as.
 * @returns The node.
 */
export async function createMemoryNode(
  options: MemoryOptions,
  resolved: ResolvedRttNodeOptions,
  context: TransportContext,
): Promise<RttNode> {
  const { network, ...rest } = options;
  const lib = await loadNativeLibraryAsync();
  return await createNodeWith(
    {
      ...rest,
      identity: context.identity,
      clock: context.clock ?? network.clock,
      random: context.random,
    },
    resolved,
    {
      symbols: lib.symbols,
      network: _net.bind(network, context.identity.fingerprint),
      backend: "memory",
    },
  );
}
