/**
 * The fetcher port of LIP and its default implementation over `fetch`.
 *
 * The LIP runtime never fetches: an accepted `LIP_FETCH` comes out of it as
 * a `fetch` effect (a {@linkcode FetchRequest}) in the outcome; the agent hands
 * it to a {@linkcode LipFetcher} and gives the {@linkcode FetchedDocument}
 * back to the runtime (`LipRuntime.fetched`), which queues the claims and
 * answers with a `LIP_EVIDENCE`. {@linkcode HttpFetcher} is the default
 * fetcher: Deno's `fetch` under `--allow-net`, with the request's
 * constraints honoured and size, time and redirects bounded.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { FetchRequest } from "../runtime/mod.ts";
import { LipFetchError } from "./errors.ts";

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

/** Options of {@linkcode HttpFetcher}. */
export interface HttpFetcherOptions {
  /** Largest body read, in bytes. @default {1048576} */
  maxBytes?: number | undefined;
  /** Longest time for the whole fetch, redirects included, in ms. @default {10000} */
  timeoutMs?: number | undefined;
  /** Most redirects followed. @default {5} */
  maxRedirects?: number | undefined;
  /**
   * A URL template for queries that are not URLs, with `{query}` replaced
   * by the URL-encoded query (e.g. `https://search.example/?q={query}`).
   * Without it such queries are refused.
   */
  searchUrl?: string | undefined;
  /** The clock for `retrievedAt`. @default {() => new Date()} */
  clock?: (() => Date) | undefined;
  /** The `user-agent` header. @default {"web4-runtime-lip/1.0"} */
  userAgent?: string | undefined;
}

const _REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * The default fetcher: Deno's `fetch`, only to hosts `--allow-net` grants
 * (checked before each request, never prompting), honouring the request's
 * constraints on the first URL and on every redirect, reading at most
 * `maxBytes`, giving up after `timeoutMs`, sending no cookies or
 * credentials, and recording the final URL, the body's SHA-256 and the
 * retrieval time.
 *
 * @example Fetching a page served on loopback
 * ```ts
 * import { HttpFetcher } from "./fetcher.ts";
 * import assert from "node:assert/strict";
 *
 * await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
 *   new Response("water boils at 100 C", { headers: { "content-type": "text/plain" } }));
 * const fetcher = new HttpFetcher({ clock: () => new Date("2026-11-28T10:00:00Z") });
 * const doc = await fetcher.fetch({
 *   query: `http://127.0.0.1:${server.addr.port}/water`,
 *   constraints: ["domain:127.0.0.1", "no_personal_data"],
 *   requestId: "",
 *   requester: "ab".repeat(32),
 *   requesterAgentId: "me",
 * });
 * assert.equal(doc.text, "water boils at 100 C");
 * assert.equal(doc.retrievedAt, "2026-11-28T10:00:00.000Z");
 * ```
 */
export class HttpFetcher implements LipFetcher {
  readonly #maxBytes: number;
  readonly #timeoutMs: number;
  readonly #maxRedirects: number;
  readonly #searchUrl: string | undefined;
  readonly #clock: () => Date;
  readonly #userAgent: string;

  /**
   * Creates a fetcher.
   *
   * @param options Bounds, search URL, clock, user agent.
   * @throws {RangeError} When a bound is not a positive integer (redirects: >= 0).
   * @throws {TypeError} When `searchUrl` has no `{query}`.
   */
  constructor(options: HttpFetcherOptions = {}) {
    this.#maxBytes = _positive("maxBytes", options.maxBytes ?? 1024 * 1024, 1);
    this.#timeoutMs = _positive("timeoutMs", options.timeoutMs ?? 10_000, 1);
    this.#maxRedirects = _positive("maxRedirects", options.maxRedirects ?? 5, 0);
    if (options.searchUrl !== undefined && !options.searchUrl.includes("{query}")) {
      throw new TypeError(`searchUrl ${JSON.stringify(options.searchUrl)} has no {query}`);
    }
    this.#searchUrl = options.searchUrl;
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
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(), this.#timeoutMs);
    const signal = options.signal === undefined
      ? timer.signal
      : AbortSignal.any([timer.signal, options.signal]);
    try {
      let url = first;
      const redirects: string[] = [];
      for (;;) {
        await this.#check(url, constraints);
        const response = await this.#get(url, constraints, signal);
        const location = response.headers.get("location");
        if (_REDIRECTS.has(response.status) && location !== null) {
          await response.body?.cancel();
          if (redirects.length >= this.#maxRedirects) {
            throw new LipFetchError(
              "too_many_redirects",
              `Fetch of ${first.href} redirected more than ${this.#maxRedirects} times`,
              { url: first.href },
            );
          }
          url = new URL(location, url);
          redirects.push(url.href);
          continue;
        }
        if (response.status < 200 || response.status > 299) {
          await response.body?.cancel();
          throw new LipFetchError(
            "http_status",
            `Fetch of ${url.href} answered HTTP ${response.status}`,
            { url: url.href },
          );
        }
        const body = await _readBounded(response, maxBytes, url.href);
        return {
          url: first.href,
          finalUrl: url.href,
          redirects,
          status: response.status,
          contentType: response.headers.get("content-type") ?? "",
          text: new TextDecoder().decode(body),
          bytes: body.byteLength,
          sha256: createHash("sha256").update(body).digest("hex"),
          retrievedAt: this.#clock().toISOString(),
          topics: constraints.topics,
        };
      }
    } catch (err) {
      if (err instanceof LipFetchError) throw err;
      if (timer.signal.aborted) {
        throw new LipFetchError(
          "timeout",
          `Fetch of ${first.href} did not complete within ${this.#timeoutMs} ms`,
          { url: first.href, cause: err },
        );
      }
      throw new LipFetchError("network", `Fetch of ${first.href} failed: ${String(err)}`, {
        url: first.href,
        cause: err,
      });
    } finally {
      clearTimeout(timeout);
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

  async #check(url: URL, constraints: FetchConstraints): Promise<void> {
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new LipFetchError("constraint_violation", `URL ${url.href} is not http(s)`, {
        url: url.href,
      });
    }
    if (!_hostAllowed(url.hostname, constraints.hosts)) {
      throw new LipFetchError(
        "constraint_violation",
        `URL ${url.href} is outside the requested domains ${JSON.stringify(constraints.hosts)}`,
        { url: url.href },
      );
    }
    if (constraints.noPersonalData && (url.username !== "" || url.password !== "")) {
      throw new LipFetchError(
        "constraint_violation",
        `URL ${url.origin}${url.pathname} carries credentials, refused under no_personal_data`,
        { url: `${url.origin}${url.pathname}` },
      );
    }
    const status = await Deno.permissions.query({ name: "net", host: url.host });
    if (status.state !== "granted") {
      throw new LipFetchError(
        "not_allowed",
        `Fetch of ${url.href} needs --allow-net for "${url.host}"`,
        { url: url.href },
      );
    }
  }

  #get(url: URL, constraints: FetchConstraints, signal: AbortSignal): Promise<Response> {
    return fetch(url, {
      redirect: "manual",
      credentials: "omit",
      referrerPolicy: "no-referrer",
      signal,
      headers: {
        "user-agent": this.#userAgent,
        ...(constraints.noPersonalData ? { "dnt": "1" } : {}),
      },
    });
  }
}

function _positive(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Expected ${name} to be an integer >= ${min}, got ${value}`);
  }
  return value;
}

async function _readBounded(
  response: Response,
  maxBytes: number,
  url: string,
): Promise<Uint8Array> {
  const tooLarge = () =>
    new LipFetchError("too_large", `Body of ${url} exceeds ${maxBytes} bytes`, { url });
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw tooLarge();
  }
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}
