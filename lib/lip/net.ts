/**
 * The default fetcher's two network ports, injectable as the clock is: a
 * {@linkcode Resolver} that returns every A and AAAA answer for a name, and
 * a {@linkcode Connector} that opens a byte stream to one checked IP
 * address (TLS with the URL's host name for https). The defaults are
 * `Deno.resolveDns` ({@linkcode dnsResolver}) and `Deno.connect` plus
 * `Deno.startTls` ({@linkcode tcpConnector}): never a proxy, never a
 * second lookup.
 *
 * @module
 */

/**
 * Resolves a host name to every address it has (A and AAAA), as text.
 * An empty list means the name has no address.
 */
export type Resolver = (hostname: string, signal: AbortSignal) => Promise<readonly string[]>;

/** Where a {@linkcode Connector} connects. */
export interface ConnectTarget {
  /** The checked IP address (IPv6 without brackets). */
  readonly ip: string;
  /** The TCP port. */
  readonly port: number;
  /** Whether to speak TLS over the connection (https). */
  readonly tls: boolean;
  /** The URL's host name: the TLS server name and certificate name (an IP for IP URLs). */
  readonly hostname: string;
}

/** A connected byte stream (a `Deno.Conn` is one). */
export interface FetchConnection {
  /** Reads into `p`; `null` at the end of the stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; returns how much. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the stream (a pending read then fails). */
  close(): void;
}

/** Connects to one checked address. Throws when it cannot. */
export type Connector = (target: ConnectTarget, signal: AbortSignal) => Promise<FetchConnection>;

/**
 * The default resolver: `Deno.resolveDns` for A and AAAA (a name with
 * neither answer resolves to nothing). It needs `--allow-net` for the
 * system's name servers.
 *
 * @param hostname The name.
 * @param signal Aborts the lookups.
 * @returns Every address, IPv4 first.
 * @throws {Error} When a lookup fails for another reason than "no such record".
 *
 * @example
 * ```ts ignore
 * import { dnsResolver } from "./net.ts";
 *
 * const addresses = await dnsResolver("example.org", AbortSignal.timeout(5000));
 * ```
 */
export async function dnsResolver(hostname: string, signal: AbortSignal): Promise<string[]> {
  const lookup = async (type: "A" | "AAAA"): Promise<string[]> => {
    try {
      return await Deno.resolveDns(hostname, type, { signal });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return [];
      throw err;
    }
  };
  const [a, aaaa] = await Promise.all([lookup("A"), lookup("AAAA")]);
  return [...a, ...aaaa];
}

/** Options of {@linkcode tcpConnector}. */
export interface TcpConnectorOptions {
  /** More root certificates (PEM) for https, besides the system's. */
  caCerts?: readonly string[] | undefined;
}

/**
 * The default connector: `Deno.connect` to the IP itself, then
 * `Deno.startTls` with the URL's host name for https (certificate checked
 * against that name, during the connect). Deno's `--allow-net` for the
 * address is queried first, never prompted for: without it the connect
 * fails with `Deno.errors.NotCapable`.
 *
 * @param options More root certificates.
 * @returns The connector.
 *
 * @example
 * ```ts
 * import { tcpConnector } from "./net.ts";
 * import assert from "node:assert/strict";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const connect = tcpConnector();
 * const target = { ip: "127.0.0.1", port: listener.addr.port, tls: false, hostname: "127.0.0.1" };
 * const conn = await connect(target, new AbortController().signal);
 * const accepted = await listener.accept();
 * assert.equal(await conn.write(new Uint8Array([1])), 1);
 * accepted.close();
 * conn.close();
 * ```
 */
export function tcpConnector(options: TcpConnectorOptions = {}): Connector {
  const caCerts = options.caCerts === undefined ? undefined : [...options.caCerts];
  return async (target, signal) => {
    // Decision 7: fail early and clearly rather than prompt.
    const host = target.ip.includes(":")
      ? `[${target.ip}]:${target.port}`
      : `${target.ip}:${target.port}`;
    if ((await Deno.permissions.query({ name: "net", host })).state !== "granted") {
      throw new Deno.errors.NotCapable(`Requires net access to "${host}" (--allow-net)`);
    }
    const conn = await Deno.connect({
      hostname: target.ip,
      port: target.port,
      transport: "tcp",
      signal,
    });
    if (!target.tls) return conn;
    // startTls takes no signal: an abort during the handshake closes the socket under it.
    const drop = () => {
      try {
        conn.close();
      } catch { /* already closed */ }
    };
    signal.addEventListener("abort", drop, { once: true });
    try {
      const tls = await Deno.startTls(conn, {
        hostname: target.hostname,
        ...(caCerts === undefined ? {} : { caCerts }),
      });
      // Handshake now, so a certificate that does not match fails the connect, not a read.
      await tls.handshake();
      return tls;
    } catch (err) {
      drop();
      throw err;
    } finally {
      signal.removeEventListener("abort", drop);
    }
  };
}
