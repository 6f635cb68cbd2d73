/**
 * What a fetch may ask for and where it may go, read from text: the
 * `LIP_FETCH` constraints, the operator's listed origins, and the checks
 * of one hop's URL. Pure.
 *
 * @module
 */

import { LipFetchError } from "./errors.ts";

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
 * import { parseFetchConstraints } from "./urls.ts";
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
 * import { parseOrigins } from "./urls.ts";
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
 * Checks one hop's URL against the scheme rule and the request's
 * constraints (`domain:<host>`, `no_personal_data`).
 *
 * @param url The URL of the hop.
 * @param constraints The request's constraints, read.
 * @throws {LipFetchError} Code `constraint_violation`, naming the URL without credentials.
 *
 * @example
 * ```ts
 * import { checkUrl, parseFetchConstraints } from "./urls.ts";
 * import assert from "node:assert/strict";
 *
 * const c = parseFetchConstraints(["domain:example.org"]);
 * checkUrl(new URL("https://www.example.org/a"), c);
 * assert.throws(() => checkUrl(new URL("https://example.com/"), c), { code: "constraint_violation" });
 * ```
 */
export function checkUrl(url: URL, constraints: FetchConstraints): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new LipFetchError("constraint_violation", `URL ${shownUrl(url)} is not http(s)`, {
      url: shownUrl(url),
    });
  }
  if (!_hostAllowed(url.hostname, constraints.hosts)) {
    throw new LipFetchError(
      "constraint_violation",
      `URL ${shownUrl(url)} is outside the requested domains ${JSON.stringify(constraints.hosts)}`,
      { url: shownUrl(url) },
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

/**
 * A URL as it may be shown or shared: never with the credentials it may carry.
 *
 * @param url The URL.
 * @returns Its text without user name and password.
 *
 * @example
 * ```ts
 * import { shownUrl } from "./urls.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(shownUrl(new URL("http://ann:secret@example.org/a")), "http://example.org/a");
 * ```
 */
export function shownUrl(url: URL): string {
  if (url.username === "" && url.password === "") return url.href;
  const bare = new URL(url.href);
  bare.username = "";
  bare.password = "";
  return bare.href;
}
