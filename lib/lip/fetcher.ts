/**
 * The fetcher port of LIP and its default implementation.
 *
 * The LIP runtime never fetches: an accepted `LIP_FETCH` comes out of it as
 * a `fetch` effect (a {@linkcode FetchRequest}) in the outcome; the agent hands
 * it to a {@linkcode LipFetcher} and gives the {@linkcode FetchedDocument}
 * back to the runtime (`LipRuntime.fetched`), which queues the claims and
 * answers with a `LIP_EVIDENCE`. {@linkcode HttpFetcher} is the default
 * fetcher (PROTOCOLS.md §8): http(s) only, to globally reachable addresses
 * only unless the operator lists the origin, connected by itself to the
 * address it checked, with every redirect checked the same way and size,
 * time and redirects bounded.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { FetchRequest } from "../runtime/mod.ts";
import { type AddressVerdict, classifyAddress, parseIpAddress } from "./address.ts";
import { LipFetchError } from "./errors.ts";
import {
  checkUrl,
  type FetchConstraints,
  parseFetchConstraints,
  parseOrigins,
  shownUrl,
} from "./urls.ts";
import { Http1Error, requestBytes, ResponseParser } from "./http1.ts";
import {
  type Connector,
  dnsResolver,
  type FetchConnection,
  type Resolver,
  tcpConnector,
} from "./net.ts";
import { type Clock, systemClock } from "../ports/mod.ts";

/** A fetched document and its provenance. */
export interface FetchedDocument {
  /** The URL first requested. */
  readonly url: string;
  /** The URL the body came from (after redirects). */
  readonly finalUrl: string;
  /** Every URL redirected through, in order (may be empty). */
  readonly redirects: readonly string[];
  /** The HTTP status (2xx). */
  readonly status: number;
  /** The `content-type` header (`""` when absent). */
  readonly contentType: string;
  /** The body, decoded as UTF-8 (invalid bytes replaced). */
  readonly text: string;
  /** The body's length in bytes. */
  readonly bytes: number;
  /** Lowercase hex SHA-256 of the body bytes. */
  readonly sha256: string;
  /** When the body was complete (RFC 3339 UTC, from the fetcher's clock). */
  readonly retrievedAt: string;
  /** Topical domains the request named (`domain:science`), for the evidence. */
  readonly topics: readonly string[];
}

/** Options of one fetch. */
export interface FetchCallOptions {
  /** Aborts the fetch. */
  signal?: AbortSignal | undefined;
}

/** The fetcher port the router or agent calls for a `LIP_FETCH`. */
export interface LipFetcher {
  /**
   * Fetches what the request asks for.
   *
   * @param request The query, constraints and requester.
   * @param options An abort signal.
   * @returns The document with its provenance.
   * @throws {LipFetchError} When a constraint, bound or permission forbids it, or it fails.
   */
  fetch(request: FetchRequest, options?: FetchCallOptions): Promise<FetchedDocument>;
}

/** A time bound: its signal aborts when the time is up; `clear` releases its timer. */
export interface Deadline {
  /** Aborted when the time is up. */
  readonly signal: AbortSignal;
  /** Releases the timer (the fetch ended first). */
  clear(): void;
}

/** Options of {@linkcode HttpFetcher}. */
export interface HttpFetcherOptions {
  /**
   * Origins (`scheme://host[:port]`) the operator allows even though they
   * are not globally reachable, e.g. `["http://127.0.0.1:8080"]`. An origin
   * is scheme, host and port: never a whole host. @default {[]}
   */
  allowOrigins?: readonly string[] | undefined;
  /** Largest body read, in bytes. @default {1048576} */
  maxBytes?: number | undefined;
  /** Largest response head (status line, headers, trailers), in bytes. @default {16384} */
  maxHeaderBytes?: number | undefined;
  /** Longest time for the whole fetch (lookups, connects, redirects, body), in ms. @default {10000} */
  timeoutMs?: number | undefined;
  /** Most redirects followed. @default {5} */
  maxRedirects?: number | undefined;
  /**
   * A URL template for queries that are not URLs, with `{query}` replaced
   * by the URL-encoded query (e.g. `https://search.example/?q={query}`).
   * Without it such queries are refused.
   */
  searchUrl?: string | undefined;
  /** Every A/AAAA answer for a name. @default {dnsResolver} */
  resolver?: Resolver | undefined;
  /** Opens a stream to a checked address. @default {tcpConnector()} */
  connector?: Connector | undefined;
  /**
   * This machine's own addresses, refused like non-global ones (a service
   * bound to all interfaces is reachable through them). @default {the
   * interfaces' addresses when `--allow-sys=networkInterfaces` is granted, else none}
   */
  localAddresses?: (() => readonly string[]) | undefined;
  /** Starts the time bound of one fetch. @default {clockDeadline(systemClock)} */
  deadline?: ((ms: number) => Deadline) | undefined;
  /** The clock for `retrievedAt`. @default {() => new Date(systemClock.now())} */
  clock?: (() => Date) | undefined;
  /** The `user-agent` header. @default {"web4-runtime-lip/1.0"} */
  userAgent?: string | undefined;
}

const _REDIRECTS = new Set([301, 302, 303, 307, 308]);
const _READ_CHUNK = 16 * 1024;

/**
 * The default fetcher.
 *
 * Each hop (the first URL and every redirect): the URL must be http(s)
 * and meet the request's constraints; the host's addresses are an IP
 * literal's own, `127.0.0.1` and `::1` for `localhost` names (RFC 6761),
 * or every A/AAAA answer of the resolver; unless the operator listed the
 * URL's origin, the hop is refused (`forbidden_address`) when any address
 * is not globally reachable ({@linkcode classifyAddress}) or is one of this
 * machine's, before any connection, so a refused port's answer never
 * depends on whether it is open. The fetcher then connects itself to a
 * checked address (the connector: `Deno.connect`, `Deno.startTls` with the
 * host name for https; never a proxy, never a second lookup; Deno's
 * `--allow-net` for that address is checked without prompting,
 * `not_allowed`), sends a `GET` without cookies, credentials or referrer,
 * and reads the response with a bounded HTTP/1.1 parser (`too_large`,
 * `bad_response`). The whole fetch is bounded in time (`timeout`).
 *
 * @example A listed loopback origin is fetched; another port of the same host is not
 * ```ts
 * import { HttpFetcher } from "./fetcher.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
 *   new Response("water boils at 100 C", { headers: { "content-type": "text/plain" } }));
 * const origin = `http://127.0.0.1:${server.addr.port}`;
 * const fetcher = new HttpFetcher({
 *   allowOrigins: [origin],
 *   clock: () => new Date("2026-11-28T10:00:00Z"),
 * });
 * const me = "ab".repeat(32);
 * const request = { constraints: [], requestId: "", requester: me, requesterAgentId: "me", chargedTo: me };
 * const doc = await fetcher.fetch({ ...request, query: `${origin}/water` });
 * assert.equal(doc.text, "water boils at 100 C");
 * assert.equal(doc.retrievedAt, "2026-11-28T10:00:00.000Z");
 * await assert.rejects(fetcher.fetch({ ...request, query: "http://127.0.0.1:1/" }), {
 *   code: "forbidden_address",
 * });
 * ```
 */
export class HttpFetcher implements LipFetcher {
  /** The operator's listed origins (canonical). */
  readonly allowOrigins: readonly string[];
  readonly #origins: ReadonlySet<string>;
  readonly #maxBytes: number;
  readonly #maxHead: number;
  readonly #timeoutMs: number;
  readonly #maxRedirects: number;
  readonly #searchUrl: string | undefined;
  readonly #resolve: Resolver;
  readonly #connect: Connector;
  readonly #local: () => readonly string[];
  readonly #deadline: (ms: number) => Deadline;
  readonly #clock: () => Date;
  readonly #userAgent: string;

  /**
   * Creates a fetcher.
   *
   * @param options Listed origins, bounds, search URL, ports, clock, user agent.
   * @throws {RangeError} When a bound is not a positive integer (redirects: >= 0).
   * @throws {TypeError} When `searchUrl` has no `{query}`, or an origin is not one.
   */
  constructor(options: HttpFetcherOptions = {}) {
    this.allowOrigins = Object.freeze(parseOrigins(options.allowOrigins ?? []));
    this.#origins = new Set(this.allowOrigins);
    this.#maxBytes = _positive("maxBytes", options.maxBytes ?? 1024 * 1024, 1);
    this.#maxHead = _positive("maxHeaderBytes", options.maxHeaderBytes ?? 16_384, 1);
    this.#timeoutMs = _positive("timeoutMs", options.timeoutMs ?? 10_000, 1);
    this.#maxRedirects = _positive("maxRedirects", options.maxRedirects ?? 5, 0);
    if (options.searchUrl !== undefined && !options.searchUrl.includes("{query}")) {
      throw new TypeError(`searchUrl ${JSON.stringify(options.searchUrl)} has no {query}`);
    }
    this.#searchUrl = options.searchUrl;
    this.#resolve = options.resolver ?? dnsResolver;
    this.#connect = options.connector ?? tcpConnector();
    this.#local = options.localAddresses ?? _interfaceAddresses;
    this.#deadline = options.deadline ?? clockDeadline(systemClock);
    this.#clock = options.clock ?? (() => new Date(systemClock.now()));
    this.#userAgent = options.userAgent ?? "web4-runtime-lip/1.0";
  }

  /**
   * Fetches the request's URL (or its search URL).
   *
   * @param request The query, constraints and requester.
   * @param options An abort signal.
   * @returns The document and its provenance.
   * @throws {LipFetchError} With the code naming what forbade or broke the fetch.
   */
  async fetch(request: FetchRequest, options: FetchCallOptions = {}): Promise<FetchedDocument> {
    const constraints = parseFetchConstraints(request.constraints);
    const maxBytes = Math.min(this.#maxBytes, constraints.maxBytes ?? Infinity);
    const first = this.#urlOf(request.query);
    const deadline = this.#deadline(this.#timeoutMs);
    const signal = options.signal === undefined
      ? deadline.signal
      : AbortSignal.any([deadline.signal, options.signal]);
    try {
      let url = first;
      const redirects: string[] = [];
      for (;;) {
        const response = await this.#hop(url, constraints, maxBytes, signal);
        const header = (name: string) => response.headers.find(([n]) => n === name)?.[1];
        const location = header("location");
        if (_REDIRECTS.has(response.status) && location !== undefined) {
          if (redirects.length >= this.#maxRedirects) {
            throw new LipFetchError(
              "too_many_redirects",
              `Fetch of ${shownUrl(first)} redirected more than ${this.#maxRedirects} times`,
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
        const body = response.body;
        return {
          url: shownUrl(first),
          finalUrl: shownUrl(url),
          redirects,
          status: response.status,
          contentType: header("content-type") ?? "",
          text: new TextDecoder().decode(body),
          bytes: body.byteLength,
          sha256: createHash("sha256").update(body).digest("hex"),
          retrievedAt: this.#clock().toISOString(),
          topics: constraints.topics,
        };
      }
    } catch (err) {
      if (err instanceof LipFetchError) throw err;
      if (deadline.signal.aborted) {
        throw new LipFetchError(
          "timeout",
          `Fetch of ${shownUrl(first)} did not complete within ${this.#timeoutMs} ms`,
          { url: shownUrl(first), cause: err },
        );
      }
      // One answer whatever broke (reset, closed early): the cause stays local.
      throw new LipFetchError("network", `Fetch of ${shownUrl(first)}: the connection failed`, {
        url: shownUrl(first),
        cause: err,
      });
    } finally {
      deadline.clear();
    }
  }

  #urlOf(query: string): URL {
    let url: URL | undefined;
    try {
      url = new URL(query);
    } catch {
      if (this.#searchUrl !== undefined) {
        url = new URL(this.#searchUrl.replaceAll("{query}", encodeURIComponent(query)));
      }
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
      throw new LipFetchError(
        "unsupported_query",
        `Fetch query ${JSON.stringify(query)} is not an http(s) URL and no searchUrl is set`,
      );
    }
    return url;
  }

  /** One request: checks, addresses, connection, response. */
  async #hop(
    url: URL,
    constraints: FetchConstraints,
    maxBytes: number,
    signal: AbortSignal,
  ) {
    checkUrl(url, constraints);
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
        requestBytes(url, { "user-agent": this.#userAgent, accept: "*/*" }),
        {
          maxHeadBytes: this.#maxHead,
          maxBodyBytes: maxBytes,
        },
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

/**
 * Fetch deadlines on a clock: each call starts a timer that aborts the
 * returned signal with a `TimeoutError` after `ms` (what
 * {@linkcode HttpFetcherOptions.deadline} takes; an agent passes its own
 * clock's).
 *
 * @param clock The clock whose timers run the deadlines.
 * @returns The deadline starter.
 *
 * @example
 * ```ts
 * import { clockDeadline } from "./mod.ts";
 * import { ManualClock } from "../ports/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const deadline = clockDeadline(clock)(1000);
 * clock.advance(1000);
 * assert.equal(deadline.signal.aborted, true);
 * ```
 */
export function clockDeadline(clock: Clock): (ms: number) => Deadline {
  return (ms) => {
    const c = new AbortController();
    const id = clock.setTimeout(
      () => c.abort(new DOMException("Fetch timed out", "TimeoutError")),
      ms,
    );
    return { signal: c.signal, clear: () => clock.clear(id) };
  };
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

function _positive(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Expected ${name} to be an integer >= ${min}, got ${value}`);
  }
  return value;
}
