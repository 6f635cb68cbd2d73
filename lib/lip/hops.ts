/**
 * One checked HTTP exchange, the ground both fetches stand on (a page's
 * `GET`, an A2A agent's card and `POST`): each hop's URL is checked against
 * the constraints, the host resolved once, every address refused unless
 * globally reachable (or its origin listed by the operator) before any
 * connection, the connection opened to the checked address, and the response
 * read by the bounded HTTP/1.1 parser. Redirects of a `GET` are followed,
 * each checked the same way. Internal to `lib/lip`.
 *
 * @module
 */

import { type AddressVerdict, classifyAddress, parseIpAddress } from "./address.ts";
import { LipFetchError } from "./errors.ts";
import { Http1Error, type Http1Response, requestBytes, ResponseParser } from "./http1.ts";
import type { Connector, FetchConnection, Resolver } from "./net.ts";
import { checkUrl, type FetchConstraints, shownUrl } from "./urls.ts";

/** Where {@linkcode CheckedHttp} may go and how it gets there. */
export interface CheckedHttpOptions {
  /** Canonical origins allowed although not globally reachable. */
  readonly origins: ReadonlySet<string>;
  /** Every A/AAAA answer for a name. */
  readonly resolver: Resolver;
  /** Opens a stream to a checked address. */
  readonly connector: Connector;
  /** This machine's own addresses, refused like non-global ones. @default {the interfaces' when readable} */
  readonly localAddresses?: (() => readonly string[]) | undefined;
}

/** One request {@linkcode CheckedHttp.request} sends. */
export interface CheckedRequest {
  /** `GET` (redirects followed) or `POST` (never redirected). */
  readonly method: "GET" | "POST";
  /** Header fields besides host, accept-encoding, connection and content-length. */
  readonly headers: Readonly<Record<string, string>>;
  /** A `POST`'s body. */
  readonly body?: Uint8Array | undefined;
}

/** The bounds of one request. */
export interface CheckedLimits {
  /** The request's constraints, read. */
  readonly constraints: FetchConstraints;
  /** Largest response head, in bytes. */
  readonly maxHeadBytes: number;
  /** Largest body, in bytes. */
  readonly maxBodyBytes: number;
  /** Most redirects a `GET` follows. */
  readonly maxRedirects: number;
}

/** A 2xx response in identity coding, and where it came from. */
export interface CheckedResponse {
  /** The URL the body came from (after redirects). */
  readonly url: URL;
  /** The URLs redirected through (shown without credentials). */
  readonly redirects: readonly string[];
  /** The status (2xx). */
  readonly status: number;
  /** A header's value (names lowercase). */
  header(name: string): string | undefined;
  /** The body. */
  readonly body: Uint8Array;
}

const _REDIRECTS = new Set([301, 302, 303, 307, 308]);
const _READ_CHUNK = 16 * 1024;

/**
 * The checked exchange of the default fetcher (see the module).
 *
 * @example A listed origin answers; an unlisted loopback port is refused before any connection
 * ```ts
 * import { CheckedHttp } from "./hops.ts";
 * import { dnsResolver, tcpConnector } from "./net.ts";
 * import { parseFetchConstraints } from "./urls.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
 *   new Response("ok", { headers: { "content-type": "text/plain" } }));
 * const origin = `http://127.0.0.1:${server.addr.port}`;
 * const http = new CheckedHttp({
 *   origins: new Set([origin]), resolver: dnsResolver, connector: tcpConnector(),
 * });
 * const limits = {
 *   constraints: parseFetchConstraints([]), maxHeadBytes: 16384, maxBodyBytes: 1024, maxRedirects: 0,
 * };
 * const get = { method: "GET", headers: {} } as const;
 * const r = await http.request(new URL(`${origin}/x`), get, limits, AbortSignal.timeout(5000));
 * assert.equal(new TextDecoder().decode(r.body), "ok");
 * await assert.rejects(
 *   http.request(new URL("http://127.0.0.1:1/"), get, limits, AbortSignal.timeout(5000)),
 *   { code: "forbidden_address" },
 * );
 * ```
 */
export class CheckedHttp {
  readonly #origins: ReadonlySet<string>;
  readonly #resolve: Resolver;
  readonly #connect: Connector;
  readonly #local: () => readonly string[];

  /**
   * Creates the exchange.
   *
   * @param options Listed origins and the network ports.
   */
  constructor(options: CheckedHttpOptions) {
    this.#origins = options.origins;
    this.#resolve = options.resolver;
    this.#connect = options.connector;
    this.#local = options.localAddresses ?? _interfaceAddresses;
  }

  /**
   * Whether the operator listed an origin.
   *
   * @param origin A canonical origin (`URL.origin`).
   * @returns `true` when listed.
   */
  listed(origin: string): boolean {
    return this.#origins.has(origin);
  }

  /**
   * Sends one request and reads its response whole: every hop checked, a
   * `GET`'s redirects followed (a `POST`'s never), a 2xx status and the
   * identity coding required.
   *
   * @param first The URL.
   * @param request Method, headers, body.
   * @param limits Constraints and bounds.
   * @param signal Aborts the exchange (the caller's deadline).
   * @returns The response.
   * @throws {LipFetchError} `constraint_violation`, `forbidden_address`, `dns`, `not_allowed`,
   *   `network`, `too_large`, `bad_response`, `http_status`, `too_many_redirects`; anything else
   *   thrown (an abort, a reset connection) is the caller's to name.
   */
  async request(
    first: URL,
    request: CheckedRequest,
    limits: CheckedLimits,
    signal: AbortSignal,
  ): Promise<CheckedResponse> {
    let url = first;
    const redirects: string[] = [];
    for (;;) {
      const response = await this.#hop(url, request, limits, signal);
      const header = (name: string) => response.headers.find(([n]) => n === name)?.[1];
      const location = header("location");
      if (request.method === "GET" && _REDIRECTS.has(response.status) && location !== undefined) {
        if (redirects.length >= limits.maxRedirects) {
          throw new LipFetchError(
            "too_many_redirects",
            `Fetch of ${shownUrl(first)} redirected more than ${limits.maxRedirects} times`,
            { url: shownUrl(first) },
          );
        }
        url = _redirect(location, url);
        redirects.push(shownUrl(url));
        continue;
      }
      if (response.status < 200 || response.status > 299) {
        throw new LipFetchError(
          "http_status",
          `Fetch of ${shownUrl(url)} answered HTTP ${response.status}`,
          { url: shownUrl(url) },
        );
      }
      const encoding = header("content-encoding") ?? "identity";
      if (encoding.toLowerCase() !== "identity") {
        throw new LipFetchError(
          "bad_response",
          `Fetch of ${shownUrl(url)} answered in ${JSON.stringify(encoding)}, not identity`,
          { url: shownUrl(url) },
        );
      }
      return { url, redirects, status: response.status, header, body: response.body };
    }
  }

  /** One request: checks, addresses, connection, response. */
  async #hop(
    url: URL,
    request: CheckedRequest,
    limits: CheckedLimits,
    signal: AbortSignal,
  ): Promise<Http1Response> {
    checkUrl(url, limits.constraints);
    const tls = url.protocol === "https:";
    const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const addresses = await this.#addresses(host, url, signal);
    if (!this.#origins.has(url.origin)) this.#refuseUnreachable(url, addresses);
    const conn = await this.#open(addresses, { port, tls, hostname: host }, url, signal);
    const drop = () => {
      try {
        conn.close();
      } catch { /* already closed */ }
    };
    signal.addEventListener("abort", drop, { once: true });
    try {
      return await _exchange(
        conn,
        requestBytes(url, request.headers, { method: request.method, body: request.body }),
        { maxHeadBytes: limits.maxHeadBytes, maxBodyBytes: limits.maxBodyBytes },
      );
    } catch (err) {
      if (!(err instanceof Http1Error) || signal.aborted) throw err;
      throw new LipFetchError(
        err.code === "too_large" ? "too_large" : "bad_response",
        `Fetch of ${shownUrl(url)}: ${err.message}`,
        { url: shownUrl(url), cause: err },
      );
    } finally {
      signal.removeEventListener("abort", drop);
      drop();
    }
  }

  /** The host's addresses: its own (an IP), loopback (localhost names), or every answer. */
  async #addresses(host: string, url: URL, signal: AbortSignal): Promise<string[]> {
    const literal = parseIpAddress(host);
    if (literal !== undefined) return [literal.text];
    const name = host.toLowerCase().replace(/\.$/, "");
    if (name === "localhost" || name.endsWith(".localhost")) return ["127.0.0.1", "::1"];
    let answers: readonly string[];
    try {
      answers = await this.#resolve(host, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      if (err instanceof Deno.errors.NotCapable) {
        throw new LipFetchError(
          "not_allowed",
          `Fetch of ${shownUrl(url)} needs --allow-net for the name servers`,
          { url: shownUrl(url), cause: err },
        );
      }
      throw new LipFetchError("dns", `Fetch of ${shownUrl(url)}: ${host} did not resolve`, {
        url: shownUrl(url),
        cause: err,
      });
    }
    const parsed = answers.map((a) => parseIpAddress(a));
    if (parsed.length === 0 || parsed.some((p) => p === undefined)) {
      throw new LipFetchError(
        "dns",
        parsed.length === 0
          ? `Fetch of ${shownUrl(url)}: ${host} has no address`
          : `Fetch of ${shownUrl(url)}: ${host} resolved to something that is not an address`,
        { url: shownUrl(url) },
      );
    }
    return parsed.map((p) => p!.text);
  }

  /** Refuses the hop when any address is not globally reachable or is this machine's own. */
  #refuseUnreachable(url: URL, addresses: readonly string[]): void {
    const own = new Set(
      this.#local().map((a) => parseIpAddress(a)?.text).filter((a) => a !== undefined),
    );
    for (const address of addresses) {
      const verdict: AddressVerdict = own.has(address)
        ? { ...classifyAddress(address), global: false, name: "this-machine" }
        : classifyAddress(address);
      if (verdict.global) continue;
      // The reason names neither the address nor its class: a peer learns nothing of the network.
      throw new LipFetchError(
        "forbidden_address",
        `Fetch of ${
          shownUrl(url)
        } refused: its host is not globally reachable and ${url.origin} is not a listed origin`,
        { url: shownUrl(url), address: verdict },
      );
    }
  }

  /** Connects to the first address that accepts. */
  async #open(
    addresses: readonly string[],
    target: { port: number; tls: boolean; hostname: string },
    url: URL,
    signal: AbortSignal,
  ): Promise<FetchConnection> {
    const causes: unknown[] = [];
    let denied = 0;
    for (const ip of addresses) {
      try {
        return await this.#connect({ ip, ...target }, signal);
      } catch (err) {
        if (signal.aborted) throw err;
        if (err instanceof Deno.errors.NotCapable) denied++;
        causes.push(err);
      }
    }
    if (denied === addresses.length) {
      throw new LipFetchError(
        "not_allowed",
        `Fetch of ${shownUrl(url)} needs --allow-net for the addresses of ${url.host}`,
        { url: shownUrl(url), cause: causes[0] },
      );
    }
    // One answer whatever the failure (refused, unreachable, TLS): the causes stay local.
    throw new LipFetchError(
      "network",
      `Fetch of ${shownUrl(url)}: could not connect to ${url.origin}`,
      {
        url: shownUrl(url),
        cause: new AggregateError(causes, "every address failed"),
      },
    );
  }
}

function _redirect(location: string, base: URL): URL {
  try {
    return new URL(location, base);
  } catch (err) {
    throw new LipFetchError(
      "bad_response",
      `Fetch of ${shownUrl(base)} redirected to an invalid URL`,
      { url: shownUrl(base), cause: err },
    );
  }
}

/** Sends the request and reads the response whole, bounded by the parser. */
async function _exchange(
  conn: FetchConnection,
  request: Uint8Array,
  limits: { maxHeadBytes: number; maxBodyBytes: number },
) {
  for (let at = 0; at < request.byteLength;) at += await conn.write(request.subarray(at));
  const parser = new ResponseParser(limits);
  const buf = new Uint8Array(_READ_CHUNK);
  while (!parser.done) {
    const n = await conn.read(buf);
    if (n === null) parser.end();
    else parser.push(buf.subarray(0, n));
  }
  return parser.response;
}

function _interfaceAddresses(): string[] {
  try {
    const state = Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" });
    if (state.state !== "granted") return [];
    return Deno.networkInterfaces().map((i) => i.address);
  } catch {
    return [];
  }
}
