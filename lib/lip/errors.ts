/**
 * Typed errors of the LIP runtime and of the default fetcher. Each `code`
 * of a {@linkcode LipError} is also the `code` of the `LIP_ERROR` sent to
 * the peer it concerns.
 *
 * @module
 */

import { Web4Error, type Web4ErrorOptions } from "../errors/mod.ts";

/**
 * Why LIP refused a message or rejected a claim.
 *
 * - `blocked_source`: the source's tier is `blocked`.
 * - `no_provenance`: no evidence, or a `retrieved_at` in the future.
 * - `untrusted_sender`: the evidence comes from an untrusted or blacklisted peer.
 * - `expired`: the claim waited longer than the queue's time to live.
 * - `refuted`: a dispute was resolved against the claim.
 * - `unknown_claim`: a message names no claim this agent holds.
 * - `invalid_transition`: a queue transition outside the spec's table.
 */
export type LipErrorCode =
  | "blocked_source"
  | "no_provenance"
  | "untrusted_sender"
  | "expired"
  | "refuted"
  | "unknown_claim"
  | "invalid_transition";

/**
 * An error of the LIP runtime; `code` is the wire code of the matching `LIP_ERROR`.
 *
 * @example
 * ```ts
 * import { LipError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new LipError("blocked_source", 'Source "https://spam.example" is blocked');
 * assert.equal(err.code, "blocked_source");
 * ```
 */
export class LipError extends Web4Error<LipErrorCode> {}

/**
 * Why the default fetcher did not fetch.
 *
 * - `unsupported_query`: the query is not an absolute http(s) URL (and no search URL is configured).
 * - `unsupported_constraint`: a constraint the fetcher cannot honour (fails closed).
 * - `constraint_violation`: the URL (or a redirect) breaks a constraint such as `domain:`.
 * - `not_allowed`: Deno's `--allow-net` does not cover the host.
 * - `too_large`: the body is longer than the size bound.
 * - `timeout`: no complete answer within the time bound.
 * - `http_status`: the server answered with a status other than 2xx.
 * - `too_many_redirects`: more redirects than allowed.
 * - `network`: the connection failed.
 */
export type LipFetchErrorCode =
  | "unsupported_query"
  | "unsupported_constraint"
  | "constraint_violation"
  | "not_allowed"
  | "too_large"
  | "timeout"
  | "http_status"
  | "too_many_redirects"
  | "network";

/** Options of {@linkcode LipFetchError}. */
export interface LipFetchErrorOptions extends Web4ErrorOptions {
  /** The URL involved, if any. */
  url?: string | undefined;
}

/**
 * A fetch the default fetcher refused or could not complete.
 *
 * @example
 * ```ts
 * import { LipFetchError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new LipFetchError("too_large", "Body of http://127.0.0.1/x exceeds 10 bytes", {
 *   url: "http://127.0.0.1/x",
 * });
 * assert.equal(err.url, "http://127.0.0.1/x");
 * ```
 */
export class LipFetchError extends Web4Error<LipFetchErrorCode, LipFetchErrorOptions> {
  /** The URL involved, if any. */
  declare readonly url: string | undefined;
}
