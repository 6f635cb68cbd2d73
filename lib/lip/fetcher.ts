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
import { Http1Error, requestBytes, ResponseParser } from "./http1.ts";
import {
  type Connector,
  dnsResolver,
  type FetchConnection,
  type Resolver,
  tcpConnector,
} from "./net.ts";

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

/** The constraints of a `LIP_FETCH`, read. */
export interface FetchConstraints {
  /** Hosts the URL (and every redirect) must be, or be under (`domain:example.org`). */
  readonly hosts: readonly string[];
  /** Topical domains (`domain:science`, no dot): recorded in the evidence, not checked. */
  readonly topics: readonly string[];
  /** `no_personal_data`: no credentials in the URL, none sent, no referrer. */
  readonly noPersonalData: boolean;
  /** `max_bytes:<n>`: a tighter size bound, if given. */
  readonly maxBytes: number | undefined;
}

function _isHostName(value: string): boolean {
  return value === "localhost" || value.includes(".") || value.startsWith("[");
}

/**
 * Reads `LIP_FETCH` constraints. Understood: `no_personal_data`,
 * `domain:<host>` (a host name or address: the URL's host must equal it or
 * end with `.<host>`), `domain:<topic>` (a word without a dot, such as
 * `science`: a topical domain, passed to the evidence), `max_bytes:<n>`.
 * Anything else is refused, since a constraint the fetcher cannot honour
 * must not be silently ignored.
 *
 * @param constraints The request's constraints.
 * @returns What they ask for.
 * @throws {LipFetchError} Code `unsupported_constraint`, naming the constraint.
 *
 * @example
 * ```ts
 * import { parseFetchConstraints } from "./fetcher.ts";
 * import assert from "node:assert/strict";
 *
 * const c = parseFetchConstraints(["no_personal_data", "domain:example.org", "domain:science"]);
 * assert.deepEqual(c.hosts, ["example.org"]);
 * assert.deepEqual(c.topics, ["science"]);
 * assert.ok(c.noPersonalData);
 * assert.throws(() => parseFetchConstraints(["lang:en"]), { code: "unsupported_constraint" });
 * ```
 */
export function parseFetchConstraints(constraints: readonly string[]): FetchConstraints {
  const hosts: string[] = [];
  const topics: string[] = [];
  let noPersonalData = false;
  let maxBytes: number | undefined;
  for (const c of constraints) {
    if (c === "no_personal_data") {
      noPersonalData = true;
      continue;
    }
    const at = c.indexOf(":");
    const kind = at > 0 ? c.slice(0, at) : c;
    const value = at > 0 ? c.slice(at + 1).trim() : "";
    if (kind === "domain" && value.length > 0) {
      if (_isHostName(value)) hosts.push(value.toLowerCase());
      else topics.push(value);
      continue;
    }
    if (kind === "max_bytes" && /^[1-9][0-9]{0,12}$/.test(value)) {
      maxBytes = Math.min(maxBytes ?? Infinity, Number(value));
      continue;
    }
    throw new LipFetchError(
      "unsupported_constraint",
      `Fetch constraint ${JSON.stringify(c)} is not one this fetcher can honour`,
    );
  }
  return { hosts, topics, noPersonalData, maxBytes };
}

function _hostAllowed(hostname: string, hosts: readonly string[]): boolean {
  if (hosts.length === 0) return true;
  const h = hostname.toLowerCase();
  return hosts.some((d) => h === d || h.endsWith(`.${d}`));
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
  /** Starts the time bound of one fetch. @default {a timer} */
  deadline?: ((ms: number) => Deadline) | undefined;
  /** The clock for `retrievedAt`. @default {() => new Date()} */
  clock?: (() => Date) | undefined;
  /** The `user-agent` header. @default {"web4-runtime-lip/1.0"} */
  userAgent?: string | undefined;
}

const _REDIRECTS = new Set([301, 302, 303, 307, 308]);
const _READ_CHUNK = 16 * 1024;

/**
 * Parses the operator's origins: each an http(s) URL with nothing but a
 * scheme, host and optional port.
 *
 * @param origins The origins.
 * @returns Their canonical forms (`URL.origin`; the default port dropped).
 * @throws {TypeError} Naming the first that is not an origin.
 *
 * @example
 * ```ts
 * import { parseOrigins } from "./fetcher.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseOrigins(["http://127.0.0.1:8080/", "https://Example.org:443"]), [
 *   "http://127.0.0.1:8080",
 *   "https://example.org",
 * ]);
 * assert.throws(() => parseOrigins(["http://127.0.0.1:8080/admin"]), TypeError);
 * ```
 */
export function parseOrigins(origins: readonly string[]): string[] {
  return origins.map((o) => {
    let url: URL | undefined;
    try {
      url = new URL(o);
    } catch { /* refused below */ }
    if (
      url === undefined || (url.protocol !== "http:" && url.protocol !== "https:") ||
      url.pathname !== "/" || url.search !== "" || url.hash !== "" || url.username !== "" ||
      url.password !== ""
    ) {
      throw new TypeError(
        `${JSON.stringify(o)} is not an origin (scheme://host[:port], nothing else)`,
      );
    }
    return url.origin;
  });
}

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
    this.#deadline = options.deadline ?? _timer;
    this.#clock = options.clock ?? (() => new Date());
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
              `Fetch of ${_shown(first)} redirected more than ${this.#maxRedirects} times`,
              { url: _shown(first) },
            );
          }
          url = _redirect(location, url);
          redirects.push(_shown(url));
          continue;
        }
        if (response.status < 200 || response.status > 299) {
          throw new LipFetchError(
            "http_status",
            `Fetch of ${_shown(url)} answered HTTP ${response.status}`,
            { url: _shown(url) },
          );
        }
        const encoding = header("content-encoding") ?? "identity";
        if (encoding.toLowerCase() !== "identity") {
          throw new LipFetchError(
            "bad_response",
            `Fetch of ${_shown(url)} answered in ${JSON.stringify(encoding)}, not identity`,
            { url: _shown(url) },
          );
        }
        const body = response.body;
        return {
          url: _shown(first),
          finalUrl: _shown(url),
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
          `Fetch of ${_shown(first)} did not complete within ${this.#timeoutMs} ms`,
          { url: _shown(first), cause: err },
        );
      }
      throw new LipFetchError("network", `Fetch of ${_shown(first)} failed: ${String(err)}`, {
        url: _shown(first),
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
    _checkConstraints(url, constraints);
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
        `Fetch of ${_shown(url)}: ${err.message}`,
        { url: _shown(url), cause: err },
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
    const name = host.toLowerCase();
    if (name === "localhost" || name.endsWith(".localhost")) return ["127.0.0.1", "::1"];
    let answers: readonly string[];
    try {
      answers = await this.#resolve(host, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      if (err instanceof Deno.errors.NotCapable) {
        throw new LipFetchError(
          "not_allowed",
          `Fetch of ${_shown(url)} needs --allow-net for the name servers`,
          { url: _shown(url), cause: err },
        );
      }
      throw new LipFetchError("dns", `Fetch of ${_shown(url)}: ${host} did not resolve`, {
        url: _shown(url),
        cause: err,
      });
    }
    const parsed = answers.map((a) => parseIpAddress(a));
    if (parsed.length === 0 || parsed.some((p) => p === undefined)) {
      throw new LipFetchError(
        "dns",
        parsed.length === 0
          ? `Fetch of ${_shown(url)}: ${host} has no address`
          : `Fetch of ${_shown(url)}: ${host} resolved to something that is not an address`,
        { url: _shown(url) },
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
          _shown(url)
        } refused: its host is not globally reachable and ${url.origin} is not a listed origin`,
        { url: _shown(url), address: verdict },
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
        `Fetch of ${_shown(url)} needs --allow-net for the addresses of ${url.host}`,
        { url: _shown(url), cause: causes[0] },
      );
    }
    // One answer whatever the failure (refused, unreachable, TLS): the causes stay local.
    throw new LipFetchError(
      "network",
      `Fetch of ${_shown(url)}: could not connect to ${url.origin}`,
      {
        url: _shown(url),
        cause: new AggregateError(causes, "every address failed"),
      },
    );
  }
}

function _checkConstraints(url: URL, constraints: FetchConstraints): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new LipFetchError("constraint_violation", `URL ${_shown(url)} is not http(s)`, {
      url: _shown(url),
    });
  }
  if (!_hostAllowed(url.hostname, constraints.hosts)) {
    throw new LipFetchError(
      "constraint_violation",
      `URL ${_shown(url)} is outside the requested domains ${JSON.stringify(constraints.hosts)}`,
      { url: _shown(url) },
    );
  }
  if (constraints.noPersonalData && (url.username !== "" || url.password !== "")) {
    throw new LipFetchError(
      "constraint_violation",
      `URL ${url.origin}${url.pathname} carries credentials, refused under no_personal_data`,
      { url: `${url.origin}${url.pathname}` },
    );
  }
}

/** A URL as it may be shown or shared: never with the credentials it may carry. */
function _shown(url: URL): string {
  if (url.username === "" && url.password === "") return url.href;
  const bare = new URL(url.href);
  bare.username = "";
  bare.password = "";
  return bare.href;
}

function _redirect(location: string, base: URL): URL {
  try {
    return new URL(location, base);
  } catch (err) {
    throw new LipFetchError(
      "bad_response",
      `Fetch of ${_shown(base)} redirected to an invalid URL`,
      { url: _shown(base), cause: err },
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

function _timer(ms: number): Deadline {
  const c = new AbortController();
  const id = setTimeout(() => c.abort(new DOMException("Fetch timed out", "TimeoutError")), ms);
  return { signal: c.signal, clear: () => clearTimeout(id) };
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
