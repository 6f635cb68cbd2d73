/**
 * LIP/1.0 (internet <-> agent, docs/protocols.md §4): the envelope's types and
 * zod schemas together, for every message type including the refusal
 * `LIP_ERROR`.
 *
 * @module
 */

import { z } from "zod";
import * as C from "./common.ts";
import type { EnvelopeHeader, ErrorPayload, FreeForm } from "./common.ts";
import { agentId, label, text, timestamp, url } from "./formats.ts";
import { SCHEMA_LIMITS } from "./limits.ts";

const _ITEMS = SCHEMA_LIMITS.items;

// ---- types ----------------------------------------------------------------

/** How far an internet source is trusted (LIP). */
export type SourceTrustTier = "unknown" | "low" | "medium" | "high" | "blocked";
/** The LIP envelope's `source` block. */
export interface LipSource {
  /** Where the content came from. */
  uri: string;
  /** How far the source is trusted. */
  trust_tier: SourceTrustTier;
  /** When it was retrieved (RFC 3339 UTC). */
  retrieved_at: string;
}

/** LIP `LIP_FETCH` payload. */
export interface LipFetchPayload {
  /** What to look for. */
  query: string;
  /** Constraints, e.g. `"no_personal_data"`. */
  constraints: string[];
}

/** LIP `LIP_EVIDENCE` payload. */
export interface LipEvidencePayload {
  /** The claims extracted. */
  claims: FreeForm[];
  /** The evidence for them. */
  evidence: FreeForm[];
  /** Confidence, 0..1. */
  confidence: number;
  /** How they were extracted. */
  extraction_notes: string;
}

/** LIP `LIP_CONFLICT` payload. */
export interface LipConflictPayload {
  /** The conflicts found. */
  conflicts: FreeForm[];
  /** Local knowledge they conflict with. */
  local_refs: string[];
  /** How severe. */
  severity: "low" | "medium" | "high";
}

/** LIP `LIP_ACCEPT` payload. */
export interface LipAcceptPayload {
  /** Always `"accept"`. */
  decision: "accept";
  /** Why. */
  reason: string;
  /** Agent ids of the peers who corroborated. */
  corroborators: string[];
}

/** LIP `LIP_REJECT` payload. */
export interface LipRejectPayload {
  /** Always `"reject"`. */
  decision: "reject";
  /** Why. */
  reason: string;
  /** Agent ids of the peers who corroborated. */
  corroborators: string[];
}

/** LIP payload type per message type. */
export interface LipPayloads {
  /** A fetch request. */
  LIP_FETCH: LipFetchPayload;
  /** Evidence found. */
  LIP_EVIDENCE: LipEvidencePayload;
  /** A conflict. */
  LIP_CONFLICT: LipConflictPayload;
  /** Acceptance. */
  LIP_ACCEPT: LipAcceptPayload;
  /** Rejection. */
  LIP_REJECT: LipRejectPayload;
  /** A refusal: why a message was refused or failed. */
  LIP_ERROR: ErrorPayload;
}

/** A LIP message type (`"LIP_FETCH"`, ...). */
export type LipType = keyof LipPayloads;

/** A signed LIP/1.0 envelope of type `T` (any LIP type by default). */
export type LipEnvelope<T extends LipType = LipType> = T extends LipType ? EnvelopeHeader & {
    /** Protocol version. */
    lip: "1.0";
    /** Message type. */
    type: T;
    /** The source (optional on `LIP_FETCH` and `LIP_ERROR` only). */
    source?: LipSource | undefined;
    /** Per-type payload. */
    payload: LipPayloads[T];
  }
  : never;

// ---- schemas --------------------------------------------------------------

const _lipSource = z.strictObject({
  uri: url(),
  trust_tier: z.enum(["unknown", "low", "medium", "high", "blocked"]),
  retrieved_at: timestamp(),
});

const _lipFetch = z.strictObject({ query: text(), constraints: C.tags });
const _lipEvidence = z.strictObject({
  claims: C.list(C.freeForm, _ITEMS.claims),
  evidence: C.traceItems,
  confidence: C.unit,
  extraction_notes: text(),
});
const _lipConflict = z.strictObject({
  conflicts: C.traceItems,
  local_refs: C.list(label(), _ITEMS.trace),
  severity: z.enum(["low", "medium", "high"]),
});
const _corroborators = C.list(agentId(), _ITEMS.trace);
const _lipAccept = z.strictObject({
  decision: z.literal("accept"),
  reason: text(),
  corroborators: _corroborators,
});
const _lipReject = z.strictObject({
  decision: z.literal("reject"),
  reason: text(),
  corroborators: _corroborators,
});

/** The payload schema of every LIP message type, in the spec's order. */
export const LIP_PAYLOADS = {
  LIP_FETCH: _lipFetch,
  LIP_EVIDENCE: _lipEvidence,
  LIP_CONFLICT: _lipConflict,
  LIP_ACCEPT: _lipAccept,
  LIP_REJECT: _lipReject,
  LIP_ERROR: C.errorPayload,
} as const;

// Compile-time proof that every schema's output is the documented type.
const _lipSchemasMatch: C.SchemasMatch<typeof LIP_PAYLOADS, LipPayloads> = true;
void _lipSchemasMatch;

/** LIP message types, in the spec's order. */
export const LIP_TYPES = Object.keys(LIP_PAYLOADS) as LipType[];

/**
 * The LIP types whose `source` block is optional: a fetch request names no
 * source yet, and a refusal may answer one that has none.
 */
export const LIP_SOURCE_OPTIONAL: ReadonlySet<string> = new Set<LipType>([
  "LIP_FETCH",
  "LIP_ERROR",
]);

const _lipBase = { lip: z.literal("1.0"), ...C.header };

// Same members as the base, `type` second (zod reports the first failing member).
/** The LIP envelope structure: every header field checked, the payload only an object. */
export const LIP_STRUCTURE = z.strictObject({
  lip: _lipBase.lip,
  type: z.enum(LIP_TYPES),
  ...C.header,
  source: _lipSource.optional(),
}).refine((e) => LIP_SOURCE_OPTIONAL.has(e.type) || e.source !== undefined, {
  error: "A LIP envelope other than LIP_FETCH and LIP_ERROR needs a source block",
  path: ["source"],
});

/** The complete LIP message schema (for the JSON Schema export). */
export const LIP_MESSAGE: z.ZodType = C.messageSchema(
  "lip",
  z.strictObject(_lipBase),
  LIP_PAYLOADS,
  (type) => ({ source: LIP_SOURCE_OPTIONAL.has(type) ? _lipSource.optional() : _lipSource }),
);
