/**
 * Test helper: a fault-injecting TCP proxy on loopback.
 *
 * It sits between clients and one target server, forwards bytes both ways
 * and, on command, cuts every connection (close), resets them (TCP RST,
 * mid-stream), stalls (stops forwarding while keeping every socket open,
 * which is what makes heartbeats time out), resumes, or refuses new
 * connections for a while. It counts connections and bytes so a test can
 * check that its faults really hit live traffic.
 *
 * The proxy uses `node:net` sockets rather than `Deno.connect`: a `Deno.Conn`
 * cannot send a TCP reset (Deno exposes no `SO_LINGER`, and closing one
 * always sends FIN), while `socket.resetAndDestroy()` does; and
 * `socket.pause()` stops reading from the kernel, so TCP flow control pushes
 * back on the senders exactly as a frozen network path would.
 *
 * @example Put a proxy between a client and a server, then stall and cut it
 * ```ts ignore
 * await using proxy = await FaultProxy.start({ target: { hostname: "127.0.0.1", port } });
 * const conn = await Deno.connect(proxy.addr);
 * proxy.stall(500); // nothing passes for 500 ms, sockets stay open
 * proxy.cut(); // every connection is closed
 * ```
 *
 * @module
 */

import net from "node:net";

/** A host and TCP port. */
export interface ProxyAddr {
  /** Host name or IP address. */
  hostname: string;
  /** TCP port. */
  port: number;
}

/** Options for {@linkcode FaultProxy.start}. */
export interface FaultProxyOptions {
  /** The server every accepted connection is forwarded to. */
  target: ProxyAddr;
  /**
   * Address to listen on.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * Port to listen on; 0 picks a free one.
   * @default {0}
   */
  port?: number;
}

/** Options for {@linkcode FaultProxy.cut} and {@linkcode FaultProxy.reset}. */
export interface FaultOptions {
  /**
   * After the fault, refuse (reset at once) new connections for this many
   * milliseconds, as if the path stayed down.
   * @default {0}
   */
  refuseMs?: number;
}

/** Counters of a {@linkcode FaultProxy}: a snapshot, safe to keep. */
export interface FaultProxyStats {
  /** Client connections accepted and forwarded (refused ones excluded). */
  accepted: number;
  /** Connection pairs currently open. */
  active: number;
  /** Connections refused while a refuse window was on. */
  refused: number;
  /** Connections whose target could not be reached. */
  targetFailures: number;
  /** Bytes forwarded client -> target. */
  bytesToTarget: number;
  /** Bytes forwarded target -> client. */
  bytesFromTarget: number;
  /** Calls to {@linkcode FaultProxy.cut}. */
  cuts: number;
  /** Calls to {@linkcode FaultProxy.reset}. */
  resets: number;
  /** Calls to {@linkcode FaultProxy.stall}. */
  stalls: number;
  /** Connection pairs ended by a cut or a reset. */
  connectionsKilled: number;
  /** Chunks altered by {@linkcode FaultProxy.corrupt}. */
  corrupted: number;
}

/** One forwarded connection: the accepted client socket and its target socket. */
interface _Pair {
  client: net.Socket;
  target: net.Socket;
  /** Sockets paused because the other side's write buffer is full. */
  waitingDrain: Set<net.Socket>;
  done: boolean;
}

function _checkMs(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`Invalid ${name}: ${value} (expected a finite number >= 0)`);
  }
}

function _checkPort(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new RangeError(`Invalid ${name}: ${value} (expected an integer 0-65535)`);
  }
}

/**
 * A fault-injecting TCP proxy between clients and one target server.
 *
 * Create it with {@linkcode FaultProxy.start}; point clients at
 * {@linkcode FaultProxy.addr}. Always close it (`await using` works).
 */
export class FaultProxy implements AsyncDisposable {
  readonly #server: net.Server;
  readonly #target: ProxyAddr;
  readonly #addr: ProxyAddr;
  readonly #pairs = new Set<_Pair>();
  /** Directions whose next chunk {@linkcode FaultProxy.corrupt} alters. */
  readonly #corruptNext = new Set<"bytesToTarget" | "bytesFromTarget">();
  readonly #stats: FaultProxyStats = {
    accepted: 0,
    active: 0,
    refused: 0,
    targetFailures: 0,
    bytesToTarget: 0,
    bytesFromTarget: 0,
    cuts: 0,
    resets: 0,
    stalls: 0,
    connectionsKilled: 0,
    corrupted: 0,
  };
  readonly #acceptWaiters = new Set<() => void>();
  #stalled = false;
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  #refuseUntil = 0;
  #closed: Promise<void> | undefined;

  private constructor(server: net.Server, target: ProxyAddr, addr: ProxyAddr) {
    this.#server = server;
    this.#target = target;
    this.#addr = addr;
    server.on("connection", (socket: net.Socket) => this.#onConnection(socket));
  }

  /**
   * Starts a proxy listening on loopback and forwarding to `options.target`.
   *
   * @param options Target and listen address.
   * @returns The running proxy.
   * @throws {RangeError} When a port is out of range.
   * @throws {Deno.errors.NotCapable} Without `--allow-net` for the addresses.
   */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const hostname = options.hostname ?? "127.0.0.1";
    const port = options.port ?? 0;
    _checkPort("port", port);
    _checkPort("target port", options.target.port);
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: hostname, port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const bound = server.address();
    if (bound === null || typeof bound === "string") {
      server.close();
      throw new Error(`Proxy on ${hostname}:${port} did not report a TCP address`);
    }
    return new FaultProxy(server, { ...options.target }, { hostname, port: bound.port });
  }

  /** The address clients connect to. */
  get addr(): ProxyAddr {
    return { ...this.#addr };
  }

  /** A snapshot of the counters. */
  get stats(): FaultProxyStats {
    return { ...this.#stats, active: this.#pairs.size };
  }

  /** Whether forwarding is currently stalled. */
  get stalled(): boolean {
    return this.#stalled;
  }

  /** Whether a refuse window ({@linkcode FaultProxy.refuse}, `refuseMs`) is still open. */
  get refusing(): boolean {
    return performance.now() < this.#refuseUntil;
  }

  /**
   * Closes every open connection on both sides; whatever the proxy holds in
   * flight is dropped.
   *
   * @param options Optional refuse window after the cut.
   * @returns How many connection pairs were cut.
   * @throws {RangeError} When `refuseMs` is negative.
   * @throws {Error} When the proxy is closed.
   */
  cut(options: FaultOptions = {}): number {
    return this.#kill(false, options.refuseMs ?? 0);
  }

  /**
   * Resets every open connection on both sides with a TCP RST, abandoning
   * whatever is in flight mid-stream (the endpoints read `ECONNRESET`).
   *
   * @param options Optional refuse window after the reset.
   * @returns How many connection pairs were reset.
   * @throws {RangeError} When `refuseMs` is negative.
   * @throws {Error} When the proxy is closed.
   */
  reset(options: FaultOptions = {}): number {
    return this.#kill(true, options.refuseMs ?? 0);
  }

  /**
   * Flips one bit of the next chunk forwarded in `direction` (an on-path
   * attacker altering a TLS record's bytes; the TCP stream stays up).
   *
   * @param direction Which way: `"toTarget"` (client -> server) or `"fromTarget"`.
   */
  corrupt(direction: "toTarget" | "fromTarget" = "toTarget"): void {
    this.#assertOpen();
    this.#corruptNext.add(direction === "toTarget" ? "bytesToTarget" : "bytesFromTarget");
  }

  /**
   * Stops forwarding in both directions while keeping every socket open
   * (connections accepted meanwhile are held too). Nothing is read from the
   * sockets, so the senders' TCP windows fill up as on a frozen path.
   *
   * @param ms Resume by itself after this many milliseconds; without it,
   * stay stalled until {@linkcode FaultProxy.resume}.
   * @throws {RangeError} When `ms` is negative or not finite.
   * @throws {Error} When the proxy is closed.
   */
  stall(ms?: number): void {
    if (ms !== undefined) _checkMs("stall duration", ms);
    this.#assertOpen();
    this.#stats.stalls++;
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    this.#stalled = true;
    for (const pair of this.#pairs) {
      pair.client.pause();
      pair.target.pause();
    }
    if (ms !== undefined) this.#stallTimer = setTimeout(() => this.resume(), ms);
  }

  /** Ends a stall: forwarding goes on where it stopped, nothing is lost. */
  resume(): void {
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    if (!this.#stalled) return;
    this.#stalled = false;
    for (const pair of this.#pairs) this.#resumePair(pair);
  }

  /**
   * Refuses new connections (accepts and resets them at once) for `ms`
   * milliseconds; open connections are not touched.
   *
   * @param ms Length of the refuse window.
   * @throws {RangeError} When `ms` is negative or not finite.
   */
  refuse(ms: number): void {
    _checkMs("refuse duration", ms);
    this.#refuseUntil = Math.max(this.#refuseUntil, performance.now() + ms);
  }

  /**
   * Resolves once at least `count` connections were accepted in total.
   *
   * @param count Accepted-connection count to wait for.
   * @param timeoutMs Give up after this long.
   * @returns Nothing.
   * @throws {Error} When the count is not reached in time.
   */
  async waitForAccepted(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.#stats.accepted < count) {
      const left = deadline - performance.now();
      if (left <= 0 || this.#closed !== undefined) {
        throw new Error(
          `Proxy ${this.#addr.hostname}:${this.#addr.port} accepted ${this.#stats.accepted} ` +
            `connections, not ${count}, within ${timeoutMs} ms`,
        );
      }
      let wake: () => void = () => {};
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        this.#acceptWaiters.add(wake);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#acceptWaiters.delete(wake);
    }
  }

  /**
   * Stops listening and closes every connection. Safe to call twice.
   *
   * @returns Resolves once the listening socket is closed.
   */
  close(): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    this.#stalled = false;
    for (const pair of [...this.#pairs]) this.#endPair(pair, false);
    this.#closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const wake of this.#acceptWaiters) wake();
    return this.#closed;
  }

  /**
   * Same as {@linkcode FaultProxy.close}.
   *
   * @returns Resolves once the proxy is closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #assertOpen(): void {
    if (this.#closed !== undefined) {
      throw new Error(`Proxy ${this.#addr.hostname}:${this.#addr.port} is closed`);
    }
  }

  #kill(rst: boolean, refuseMs: number): number {
    _checkMs("refuseMs", refuseMs);
    this.#assertOpen();
    if (rst) this.#stats.resets++;
    else this.#stats.cuts++;
    if (refuseMs > 0) this.refuse(refuseMs);
    const pairs = [...this.#pairs];
    for (const pair of pairs) this.#endPair(pair, rst);
    this.#stats.connectionsKilled += pairs.length;
    return pairs.length;
  }

  #resumePair(pair: _Pair): void {
    if (pair.done || pair.target.connecting) return;
    if (!pair.waitingDrain.has(pair.client)) pair.client.resume();
    if (!pair.waitingDrain.has(pair.target)) pair.target.resume();
  }

  #endPair(pair: _Pair, rst: boolean): void {
    if (pair.done) return;
    pair.done = true;
    this.#pairs.delete(pair);
    for (const socket of [pair.client, pair.target]) {
      if (socket.destroyed) continue;
      // A socket still connecting has nothing to reset: destroy it plainly.
      if (rst && !socket.connecting) socket.resetAndDestroy();
      else socket.destroy();
    }
  }

  #onConnection(client: net.Socket): void {
    client.on("error", () => {});
    if (this.#closed !== undefined || performance.now() < this.#refuseUntil) {
      if (this.#closed === undefined) this.#stats.refused++;
      client.resetAndDestroy();
      return;
    }
    this.#stats.accepted++;
    for (const wake of this.#acceptWaiters) wake();
    const target = net.connect({
      host: this.#target.hostname,
      port: this.#target.port,
      allowHalfOpen: true,
    });
    target.pause();
    const pair: _Pair = { client, target, waitingDrain: new Set(), done: false };
    this.#pairs.add(pair);
    // Errors end the pair, passed on as a reset; never left unhandled.
    client.on("error", () => this.#endPair(pair, true));
    let connected = false;
    target.on("error", () => {
      if (!connected) this.#stats.targetFailures++;
      this.#endPair(pair, true);
    });
    target.once("connect", () => {
      connected = true;
      if (pair.done) return;
      client.setNoDelay(true);
      target.setNoDelay(true);
      this.#pipe(pair, client, target, "bytesToTarget");
      this.#pipe(pair, target, client, "bytesFromTarget");
      if (!this.#stalled) this.#resumePair(pair);
    });
  }

  #pipe(
    pair: _Pair,
    from: net.Socket,
    to: net.Socket,
    counter: "bytesToTarget" | "bytesFromTarget",
  ): void {
    from.on("data", (data: Uint8Array) => {
      if (pair.done) return;
      let chunk = data;
      if (this.#corruptNext.delete(counter) && chunk.byteLength > 0) {
        // The last byte: inside a record's body or tag, whatever the chunking.
        chunk = Uint8Array.from(chunk);
        chunk[chunk.byteLength - 1]! ^= 1;
        this.#stats.corrupted++;
      }
      this.#stats[counter] += chunk.byteLength;
      if (!to.write(chunk)) {
        pair.waitingDrain.add(from);
        from.pause();
        to.once("drain", () => {
          pair.waitingDrain.delete(from);
          if (!this.#stalled && !pair.done) from.resume();
        });
      }
    });
    // EOF from one side: pass the half-close on; the other direction goes on.
    from.on("end", () => {
      if (!pair.done && !to.destroyed) to.end();
    });
    from.on("close", () => {
      if (pair.done) return;
      if (to.destroyed) {
        pair.done = true;
        this.#pairs.delete(pair);
      } else if (!to.writableEnded) {
        to.end();
      }
    });
  }
}
