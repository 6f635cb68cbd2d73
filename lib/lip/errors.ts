/**
 * Typed errors of the LIP runtime and of the default fetcher. Each `code`
 * of a {@linkcode LipError} is also the `code` of the `LIP_ERROR` sent to
 * the peer it concerns.
 *
 * @module
 */

import { Web4Error, type Web4ErrorOptions } from "../errors/mod.ts";
import type { AddressVerdict } from "./address.ts";

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
 * - `unsupported_query`: the query is not an absolute http(s) URL (and no search URL is
 *   configured), or an `a2a+` URI with no question, more than `?q=`, or plain http to an
 *   unlisted origin.
 * - `unsupported_constraint`: a constraint the fetcher cannot honour (fails closed).
 * - `constraint_violation`: the URL (or a redirect) breaks a constraint such as `domain:`.
 * - `not_allowed`: whoever the fetch is charged to may not cause one now (only the person,
 *   the agent itself and peers `trusted` at that moment may), or Deno's `--allow-net` does not
 *   cover the addresses (or the name servers).
 * - `forbidden_address`: the host (or a redirect's) has an address that is not globally
 *   reachable, or one of this machine's, and its origin is not listed by the operator;
 *   refused before any connection.
 * - `busy`: the fetches already running for that requester (or in all) are at their bound.
 * - `dns`: the host name did not resolve to an address.
 * - `too_large`: the body is longer than the size bound.
 * - `timeout`: no complete answer within the time bound.
 * - `http_status`: the server answered with a status other than 2xx.
 * - `too_many_redirects`: more redirects than allowed.
 * - `bad_response`: a response the bounded HTTP/1.1 reader refuses (head too large, bad
 *   framing, a transfer or content coding other than identity/chunked, a bad redirect).
 * - `network`: no connection to any of the host's addresses (one answer, whatever the cause).
 * - `bad_card`: an A2A agent's card is not JSON, offers no JSON-RPC interface of A2A 1.0, or
 *   names an endpoint that is not plain http(s), or a plain-http endpoint of an unlisted origin.
 * - `agent_error`: the A2A agent answered with a JSON-RPC error object.
 * - `no_answer`: the A2A agent answered with a task that did not complete (working,
 *   input-required, failed, rejected, ...) or with no text: no evidence, nothing retried.
 */
export type LipFetchErrorCode =
  | "unsupported_query"
  | "unsupported_constraint"
  | "constraint_violation"
  | "not_allowed"
  | "forbidden_address"
  | "busy"
  | "dns"
  | "too_large"
  | "timeout"
  | "http_status"
  | "too_many_redirects"
  | "bad_response"
  | "network"
  | "bad_card"
  | "agent_error"
  | "no_answer";

/** Options of {@linkcode LipFetchError}. */
export interface LipFetchErrorOptions extends Web4ErrorOptions {
  /** The URL involved, if any. */
  url?: string | undefined;
  /** For `forbidden_address`: the address refused and why (local only: never in the message). */
  address?: AddressVerdict | undefined;
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
  /** For `forbidden_address`: the address refused and why (local only). */
  declare readonly address: AddressVerdict | undefined;
}
