/**
 * LIP claims: their ids, what they are about, when two conflict, and how a
 * message names the claims it concerns.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { canonicalize, type FreeForm } from "../envelope/mod.ts";

/**
 * The id of a claim taken from a source: lowercase hex SHA-256 of the
 * canonical JSON (RFC 8785) of `{ "claim": claim, "uri": uri }`. Every agent
 * computes the same id for the same claim from the same source, so peers
 * can name claims to each other (in `LIP_CONFLICT.local_refs`, or as
 * `claim:<id>` in a `LIP_ACCEPT`/`LIP_REJECT` `reason`).
 *
 * @param claim The claim, as in `LIP_EVIDENCE.claims`.
 * @param uri The source's URI.
 * @returns 64 lowercase hex characters.
 *
 * @example
 * ```ts
 * import { claimId } from "./claims.ts";
 * import assert from "node:assert/strict";
 *
 * const a = claimId({ subject: "boiling_point", value: 100 }, "https://example.org/water");
 * assert.match(a, /^[0-9a-f]{64}$/);
 * assert.equal(a, claimId({ value: 100, subject: "boiling_point" }, "https://example.org/water"));
 * assert.notEqual(a, claimId({ subject: "boiling_point", value: 100 }, "https://example.org/other"));
 * ```
 */
export function claimId(claim: FreeForm, uri: string): string {
  return createHash("sha256").update(canonicalize({ claim, uri })).digest("hex");
}

/** What a claim is about: `{ subject, value, domain? }` inside an object claim. */
export interface ClaimSubject {
  /** The claim's domain (`""` when it names none). */
  readonly domain: string;
  /** What the claim is about. */
  readonly subject: string;
  /** Canonical JSON of its value. */
  readonly value: string;
}

/**
 * What a claim is about, when it says so: an object claim with a non-empty
 * string `subject` and a `value` (any JSON), and optionally a string
 * `domain`. This is CIP's conflict convention applied to LIP claims.
 *
 * @param claim The claim.
 * @returns Its subject, or `null` for claims that name none (strings included).
 *
 * @example
 * ```ts
 * import { claimSubject } from "./claims.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(claimSubject({ domain: "physics", subject: "c", value: 299792458 }), {
 *   domain: "physics", subject: "c", value: "299792458",
 * });
 * assert.equal(claimSubject("water boils at 100 C"), null);
 * ```
 */
export function claimSubject(claim: FreeForm): ClaimSubject | null {
  if (typeof claim === "string") return null;
  const { subject, value, domain } = claim;
  if (typeof subject !== "string" || subject.length === 0 || value === undefined) return null;
  return {
    domain: typeof domain === "string" ? domain : "",
    subject,
    value: canonicalize(value),
  };
}

/**
 * Whether two claims conflict: same domain and subject, different canonical
 * values (docs/protocols.md §2, decision "what conflict means"). Claims without
 * a subject never conflict implicitly.
 *
 * @param a One claim.
 * @param b The other.
 * @returns `true` when they contradict each other.
 *
 * @example
 * ```ts
 * import { claimsConflict } from "./claims.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(claimsConflict({ subject: "x", value: 1 }, { subject: "x", value: 2 }));
 * assert.ok(!claimsConflict({ subject: "x", value: 1 }, { subject: "x", value: 1 }));
 * assert.ok(!claimsConflict({ subject: "x", value: 1, domain: "a" }, { subject: "x", value: 2, domain: "b" }));
 * ```
 */
export function claimsConflict(a: FreeForm, b: FreeForm): boolean {
  const sa = claimSubject(a);
  const sb = claimSubject(b);
  return sa !== null && sb !== null && sa.domain === sb.domain && sa.subject === sb.subject &&
    sa.value !== sb.value;
}

const _CLAIM_REF = /\bclaim:([0-9a-f]{64})\b/g;

/**
 * The claim ids a `LIP_ACCEPT` or `LIP_REJECT` names in its `reason`, as
 * `claim:<id>` tokens (their payload has no other place for them).
 *
 * @param reason The payload's `reason`.
 * @returns The ids, in order, without repeats.
 *
 * @example
 * ```ts
 * import { claimRefsInReason } from "./claims.ts";
 * import assert from "node:assert/strict";
 *
 * const id = "a".repeat(64);
 * assert.deepEqual(claimRefsInReason(`checked claim:${id} twice`), [id]);
 * assert.deepEqual(claimRefsInReason("looks right"), []);
 * ```
 */
export function claimRefsInReason(reason: string): string[] {
  return [...new Set([...reason.matchAll(_CLAIM_REF)].map((m) => m[1]!))];
}
