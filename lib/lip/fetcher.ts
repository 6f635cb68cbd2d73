/**
 * The fetcher port of LIP and its default implementation.
 *
 * The LIP runtime never fetches: an accepted `LIP_FETCH` comes out of it as
 * a `fetch` effect (a {@linkcode FetchRequest}) in the outcome; the agent hands
 * it to a {@linkcode LipFetcher} and gives the {@linkcode FetchedDocument}
 * back to the runtime (`LipRuntime.fetched`), which queues the claims and
 * answers with a `LIP_EVIDENCE`. {@linkcode HttpFetcher} is the default
 * fetcher (docs/protocols.md §8): http(s) only, to globally reachable addresses
 * only unless the operator lists the origin, connected by itself to the
 * address it checked, with every redirect checked the same way and size,
 * time and redirects bounded.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { FetchRequest } from "../runtime/mod.ts";
import { type A2aUri, askA2aAgent, readA2aUri } from "./a2a.ts";
import { LipFetchError } from "./errors.ts";
import { CheckedHttp, type CheckedLimits } from "./hops.ts";
import { parseFetchConstraints, parseOrigins, shownUrl } from "./urls.ts";
import { type Connector, dnsResolver, type Resolver, tcpConnector } from "./net.ts";
import { type Clock, type RandomSource, systemClock, systemRandom } from "../ports/mod.ts";

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
  /**
   * For an answer of an A2A agent (`a2a+https://`): its name, card and
   * endpoint, and `message` or the task's state and id. `text`, `bytes`
   * and `sha256` are then the answer's, not the HTTP body's.
   */
  readonly a2a?: A2aProvenance | undefined;
}

/** Where an A2A agent's answer came from ({@linkcode FetchedDocument.a2a}). */
export interface A2aProvenance {
  /** The agent's name in its card (at most 200 characters). */
  readonly agent: string;
  /** The card's URL (after redirects). */
  readonly card: string;
  /** The JSON-RPC endpoint asked. */
  readonly endpoint: string;
  /** `message`, or the task's state (`TASK_STATE_COMPLETED`). */
  readonly state: string;
  /** The task's id, when the answer was a task. */
  readonly taskId?: string | undefined;
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
  /** Draws the ids of A2A messages. @default {systemRandom} */
  random?: RandomSource | undefined;
  /**
   * Whether `a2a+https://` queries ask A2A agents (`false`: refused
   * `unsupported_query`, like any query that is not an http(s) URL). @default {true}
   */
  a2a?: boolean | undefined;
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
 * A query `a2a+https://HOST[/BASE]?q=QUESTION` asks an A2A agent instead
 * (`lib/lip/a2a.ts`): its Agent Card and the JSON-RPC `SendMessage` go
 * through the same checks, within the same time and size bounds, and its
 * answer is the document (`a2a+http://` only for a listed origin).
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
  readonly #http: CheckedHttp;
  readonly #maxBytes: number;
  readonly #maxHead: number;
  readonly #timeoutMs: number;
  readonly #maxRedirects: number;
  readonly #searchUrl: string | undefined;
  readonly #deadline: (ms: number) => Deadline;
  readonly #clock: () => Date;
  readonly #userAgent: string;
  readonly #random: RandomSource;
  readonly #a2a: boolean;

  /**
   * Creates a fetcher.
   *
   * @param options Listed origins, bounds, search URL, ports, clock, user agent.
   * @throws {RangeError} When a bound is not a positive integer (redirects: >= 0).
   * @throws {TypeError} When `searchUrl` has no `{query}`, or an origin is not one.
   */
  constructor(options: HttpFetcherOptions = {}) {
    this.allowOrigins = Object.freeze(parseOrigins(options.allowOrigins ?? []));
    this.#http = new CheckedHttp({
      origins: new Set(this.allowOrigins),
      resolver: options.resolver ?? dnsResolver,
      connector: options.connector ?? tcpConnector(),
      localAddresses: options.localAddresses,
    });
    this.#maxBytes = _positive("maxBytes", options.maxBytes ?? 1024 * 1024, 1);
    this.#maxHead = _positive("maxHeaderBytes", options.maxHeaderBytes ?? 16_384, 1);
    this.#timeoutMs = _positive("timeoutMs", options.timeoutMs ?? 10_000, 1);
    this.#maxRedirects = _positive("maxRedirects", options.maxRedirects ?? 5, 0);
    if (options.searchUrl !== undefined && !options.searchUrl.includes("{query}")) {
      throw new TypeError(`searchUrl ${JSON.stringify(options.searchUrl)} has no {query}`);
    }
    this.#searchUrl = options.searchUrl;
    this.#deadline = options.deadline ?? clockDeadline(systemClock);
    this.#clock = options.clock ?? (() => new Date(systemClock.now()));
    this.#userAgent = options.userAgent ?? "web4-runtime-lip/1.0";
    this.#random = options.random ?? systemRandom;
    this.#a2a = options.a2a ?? true;
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
    const limits: CheckedLimits = {
      constraints,
      maxHeadBytes: this.#maxHead,
      maxBodyBytes: Math.min(this.#maxBytes, constraints.maxBytes ?? Infinity),
      maxRedirects: this.#maxRedirects,
    };
    const target = this.#targetOf(request.query);
    const shown = "question" in target ? target.uri : shownUrl(target);
    const deadline = this.#deadline(this.#timeoutMs);
    const signal = options.signal === undefined
      ? deadline.signal
      : AbortSignal.any([deadline.signal, options.signal]);
    try {
      if ("question" in target) {
        return await askA2aAgent(this.#http, target, {
          limits,
          signal,
          userAgent: this.#userAgent,
          random: this.#random,
          clock: this.#clock,
        });
      }
      const headers = { "user-agent": this.#userAgent, accept: "*/*" };
      const response = await this.#http.request(target, { method: "GET", headers }, limits, signal);
      const body = response.body;
      return {
        url: shown,
        finalUrl: shownUrl(response.url),
        redirects: response.redirects,
        status: response.status,
        contentType: response.header("content-type") ?? "",
        text: new TextDecoder().decode(body),
        bytes: body.byteLength,
        sha256: createHash("sha256").update(body).digest("hex"),
        retrievedAt: this.#clock().toISOString(),
        topics: constraints.topics,
      };
    } catch (err) {
      if (err instanceof LipFetchError) throw err;
      if (deadline.signal.aborted) {
        throw new LipFetchError(
          "timeout",
          `Fetch of ${shown} did not complete within ${this.#timeoutMs} ms`,
          { url: shown, cause: err },
        );
      }
      // One answer whatever broke (reset, closed early): the cause stays local.
      throw new LipFetchError("network", `Fetch of ${shown}: the connection failed`, {
        url: shown,
        cause: err,
      });
    } finally {
      deadline.clear();
    }
  }

  /** An A2A agent and question, or the http(s) URL to get. */
  #targetOf(query: string): A2aUri | URL {
    const agent = readA2aUri(query);
    if (agent !== undefined && !this.#a2a) {
      throw new LipFetchError(
        "unsupported_query",
        `Fetch query ${agent.uri} asks an A2A agent, and this fetcher asks none (a2a: false)`,
      );
    }
    return agent ?? this.#urlOf(query);
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
        `Fetch query ${
          JSON.stringify(query)
        } is not an http(s) or a2a+http(s) URL and no searchUrl is set`,
      );
    }
    return url;
  }
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

function _positive(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Expected ${name} to be an integer >= ${min}, got ${value}`);
  }
  return value;
}
