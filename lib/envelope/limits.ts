/**
 * The maxima of every string and array in the envelope schemas, in one
 * place (docs/protocols.md §8, "sizes and audit"). The zod schemas of
 * `cip.ts`, `hcp.ts` and `lip.ts` are built from these numbers; the JSON
 * Schemas in `docs/schemas/` carry them (`maxLength`, `maxItems`, and
 * `x-maxUtf8Bytes` / `x-maxJsonBytes` for the byte counts), and
 * `docs/schemas/limits.md` lists every field with its maximum.
 *
 * Strings are counted in UTF-8 bytes, not UTF-16 units, except `agent_id`
 * (128 characters, as `Identity` checks it). The whole envelope is bounded
 * too: `DEFAULT_MAX_ENVELOPE_BYTES` (1 MiB) of JSON, 32 levels deep.
 *
 * @module
 */

import { truncateUtf8 } from "../observability/utf8.ts";

/** The maxima of the envelope schemas (see {@linkcode SCHEMA_LIMITS}). */
export interface SchemaLimits {
  /**
   * Free text, in UTF-8 bytes: `reason`, `notes`, `extraction_notes`,
   * `query`, `statement`, `rationale`, `feedback`, intents, ... (1 KiB).
   */
  readonly textBytes: number;
  /**
   * Labels, in UTF-8 bytes: topics, domains, refusal codes, capabilities,
   * protocol names, kernel signals, consent scopes, safety flags, LIP
   * constraints, local references.
   */
  readonly labelBytes: number;
  /** A person's `name` and `role` (HCP_HELLO), in UTF-8 bytes. */
  readonly nameBytes: number;
  /** URLs (`source.uri`, a fact's `sources`), in UTF-8 bytes. */
  readonly urlBytes: number;
  /**
   * A free-form field (`context`, trace steps, evidence, claims,
   * conflicts, causal links, shared history): a string of at most this
   * many UTF-8 bytes, or a JSON object whose JSON text is at most this
   * many bytes (which bounds every string, key and array inside it).
   */
  readonly freeFormBytes: number;
  /** `agent_id`, in characters (UTF-16 units), as `Identity` checks it. */
  readonly agentIdChars: number;
  /** An RFC 3339 timestamp, in characters. */
  readonly timestampChars: number;
  /** Items of the list fields. */
  readonly items: {
    /** HELLO `protocols`. */
    readonly protocols: number;
    /**
     * Short lists: `capabilities`, `kernel_signals`, a fact's `sources`,
     * `safety_flags`, LIP and HCP `constraints`, `alternatives`,
     * `corrections`.
     */
    readonly tags: number;
    /** HCP_HELLO `consent_scope`. */
    readonly scopes: number;
    /**
     * Trace-like lists: DMP `steps`, `counterfactuals` and `evidence`,
     * `causal_links`, `shared_history`, LIP `evidence`, `conflicts`,
     * `local_refs`, `corroborators`.
     */
    readonly trace: number;
    /** LIP_EVIDENCE `claims` (the LIP runtime accepts 64 by default). */
    readonly claims: number;
  };
}

/**
 * Every maximum of the envelope schemas. A field over its maximum is
 * refused by validation: `PayloadSchemaError` (`PAYLOAD_SCHEMA`) in a
 * payload, `InvalidEnvelopeError` (`INVALID_ENVELOPE`) in the header
 * blocks, with the field's JSON Pointer. An agent cuts its own free text
 * with `truncateUtf8(text, SCHEMA_LIMITS.textBytes)`, so it never sends
 * what it would refuse.
 *
 * @example
 * ```ts
 * import { SCHEMA_LIMITS } from "./limits.ts";
 * import { PayloadSchemaError, validatePayload } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(SCHEMA_LIMITS.textBytes, 1024);
 * const error = { in_reply_to: "0b6f2c1e-8f4a-4c3d-9e2b-7a1d5c6e8f90", code: "quota" };
 * validatePayload("cip", "ERROR", { ...error, reason: "é".repeat(512) }); // 1,024 bytes
 * assert.throws(
 *   () => validatePayload("cip", "ERROR", { ...error, reason: "é".repeat(512) + "!" }), // 1,025
 *   (e) => e instanceof PayloadSchemaError && e.path === "/payload/reason",
 * );
 * ```
 */
export const SCHEMA_LIMITS: SchemaLimits = Object.freeze({
  textBytes: 1024,
  labelBytes: 256,
  nameBytes: 128,
  urlBytes: 2048,
  freeFormBytes: 16 * 1024,
  agentIdChars: 128,
  timestampChars: 64,
  items: Object.freeze({ protocols: 8, tags: 32, scopes: 64, trace: 64, claims: 256 }),
});

/**
 * The agent's own free text, cut to what the schemas accept: at most
 * `maxBytes` UTF-8 bytes (by default `SCHEMA_LIMITS.textBytes`, 1 KiB), at
 * a code point boundary, ending with `…` when cut. Every reason the agent
 * builds from values it did not choose (an error's message, a peer's
 * query, a list of claim ids) goes through it before it is sent, so the
 * agent never sends what it would refuse.
 *
 * @param text The text.
 * @param maxBytes The budget in UTF-8 bytes. @default {SCHEMA_LIMITS.textBytes}
 * @returns `text`, or its longest prefix that fits with `…`.
 *
 * @example
 * ```ts
 * import { SCHEMA_LIMITS, truncateText } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const reason = truncateText(`Fetch of ${JSON.stringify("日本".repeat(400))} refused`);
 * assert.ok(new TextEncoder().encode(reason).length <= SCHEMA_LIMITS.textBytes);
 * assert.ok(reason.endsWith("…"));
 * assert.equal(truncateText("Handshake first"), "Handshake first");
 * ```
 */
export function truncateText(text: string, maxBytes: number = SCHEMA_LIMITS.textBytes): string {
  return truncateUtf8(text, maxBytes);
}
