/**
 * Internal: the byte streams the driver moves TLS bytes over. The `rtt`
 * backend uses Deno's own TCP sockets; the `memory` backend uses
 * in-process pipes (`memory.ts`). Nothing above the driver sees the
 * difference: the same native core and the same driver run on both.
 *
 * @module
 */

import type { Clock } from "../ports/mod.ts";

/** One bidirectional byte stream (the subset of `Deno.Conn` the driver uses). */
export interface ByteStream {
  /** Reads into `p`; resolves to the count, or `null` at the end of the stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves to the count written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes both directions; a pending read ends. */
  close(): void;
  /** Lets the process exit while this stream is open. */
  unref(): void;
  /** Keeps the process alive while this stream is open. */
  ref(): void;
}

/** A listening endpoint. */
export interface ByteListener {
  /** The bound port. */
  readonly port: number;
  /** The next inbound stream; rejects once closed. */
  accept(): Promise<ByteStream>;
  /** Stops listening; a pending accept ends. */
  close(): void;
  /** Lets the process exit while listening. */
  unref(): void;
  /** Keeps the process alive while listening. */
  ref(): void;
}

/** Where byte streams come from. */
export interface ByteNetwork {
  /** `"tcp"` or `"memory"`. */
  readonly kind: string;
  /**
   * Whether an open stream keeps the process alive by itself (a pending
   * read of a Deno socket does; in-process pipes do not). The driver then
   * leaves its listeners and timer ref'd until the last stream ends rather
   * than toggling them with every wait.
   */
  readonly streamsKeepAlive?: boolean;
  /**
   * Listens on `hostname:port` (0 picks a port).
   *
   * @param hostname The host.
   * @param port The port.
   * @returns The listener.
   */
  listen(hostname: string, port: number): Promise<ByteListener>;
  /**
   * Opens a stream to `hostname:port`.
   *
   * @param hostname The host.
   * @param port The port.
   * @returns The stream.
   */
  connect(hostname: string, port: number): Promise<ByteStream>;
}

class TcpListener implements ByteListener {
  #l: Deno.TcpListener;
  readonly port: number;

  constructor(l: Deno.TcpListener) {
    this.#l = l;
    this.port = l.addr.port;
  }

  async accept(): Promise<ByteStream> {
    const c = await this.#l.accept();
    c.setNoDelay(true);
    return c;
  }

  close(): void {
    try {
      this.#l.close();
    } catch {
      // Already closed.
    }
  }

  unref(): void {
    this.#l.unref();
  }

  ref(): void {
    this.#l.ref();
  }
}

/** Deno's TCP sockets: `Deno.listen` / `Deno.connect`. */
export const tcpNetwork: ByteNetwork = {
  kind: "tcp",
  streamsKeepAlive: true,
  async listen(hostname: string, port: number): Promise<ByteListener> {
    await Promise.resolve();
    return new TcpListener(Deno.listen({ hostname, port, transport: "tcp" }));
  },
  async connect(hostname: string, port: number): Promise<ByteStream> {
    const c = await Deno.connect({ hostname, port, transport: "tcp" });
    c.setNoDelay(true);
    return c;
  },
};

/**
 * The remote host of an accepted stream (the key of the per-address
 * limits), or "" when the stream has none (in-process pipes).
 *
 * @param stream The stream.
 * @returns The host, at most 256 characters.
 */
export function remoteHost(stream: ByteStream): string {
  const addr = (stream as { remoteAddr?: unknown }).remoteAddr;
  if (addr === null || typeof addr !== "object") return "";
  const host = (addr as { hostname?: unknown }).hostname;
  return typeof host === "string" ? host.slice(0, 256) : "";
}

/** The rejection of {@linkcode withDeadline} when the time is up. */
export const TIMED_OUT: unique symbol = Symbol("timed out");

/**
 * `p`, or a rejection with {@linkcode TIMED_OUT} after `ms`, or with the
 * signal's reason; a value that arrives too late is closed.
 *
 * @param clock The timers.
 * @param p The pending value (a stream).
 * @param ms The deadline.
 * @param signal Aborts the wait.
 * @returns The value, in time.
 */
export function withDeadline<T extends { close(): void }>(
  clock: Clock,
  p: Promise<T>,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = clock.setTimeout(() => finish(() => reject(TIMED_OUT)), ms);
    const onAbort = () => finish(() => reject(signal?.reason));
    signal?.addEventListener("abort", onAbort, { once: true });
    function finish(f: () => void): void {
      if (settled) return;
      settled = true;
      clock.clear(timer);
      signal?.removeEventListener("abort", onAbort);
      f();
    }
    p.then(
      (v) => {
        if (settled) v.close();
        else finish(() => resolve(v));
      },
      (e) => finish(() => reject(e)),
    );
  });
}
