/**
 * From a fetched document to the `LIP_EVIDENCE` that reports it: the
 * payload (claims, evidence, confidence, extraction notes) and the `source`
 * block (URI, tier, retrieval time). Pure.
 *
 * @module
 */

import type {
  FreeForm,
  JsonObject,
  LipEvidencePayload,
  LipSource,
  SourceTrustTier,
} from "../envelope/mod.ts";
import type { A2aProvenance, FetchedDocument } from "./fetcher.ts";

/** Default length of the page excerpt the default extractor makes a claim of. */
export const DEFAULT_EXCERPT_CHARS = 2000;

/** Turns a document into claims (an LLM, a parser, ...). */
export type ClaimExtractor = (document: FetchedDocument, query: string) => FreeForm[];

/** Options of {@linkcode evidenceFromDocument}. */
export interface EvidenceOptions {
  /** The source's tier as this agent sees it now. */
  tier: SourceTrustTier;
  /** Extracts the claims. @default {one `{ query, excerpt }` claim} */
  extract?: ClaimExtractor | undefined;
  /** Confidence reported. @default {0.5} */
  confidence?: number | undefined;
  /** Excerpt length of the default extractor. @default {2000} */
  excerptChars?: number | undefined;
}

/**
 * The readable text of a document: HTML loses its scripts, styles and
 * tags; white space is collapsed.
 *
 * @param document The fetched document.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { documentText } from "./evidence.ts";
 * import type { FetchedDocument } from "./fetcher.ts";
 * import assert from "node:assert/strict";
 *
 * const doc = { contentType: "text/html", text: "<p>Water <b>boils</b></p><script>x()</script>" } as FetchedDocument;
 * assert.equal(documentText(doc), "Water boils");
 * ```
 */
export function documentText(document: FetchedDocument): string {
  let text = document.text;
  if (/html/i.test(document.contentType)) {
    text = text.replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, " ").replace(/<[^>]*>/g, " ");
  }
  return text.replace(/\s+/g, " ").trim();
}

/**
 * Builds the `LIP_EVIDENCE` payload and `source` block for a document. The
 * evidence item records the provenance: requested and final URL, redirects,
 * status, content type, size and SHA-256 of the body, and the topical
 * domains asked for; for an A2A agent's answer also `a2a` (the agent's name,
 * card, endpoint, state and task id).
 *
 * @param document The fetched document.
 * @param query The `LIP_FETCH` query.
 * @param options The source's tier, an extractor, the confidence.
 * @returns The payload and source block of the `LIP_EVIDENCE`.
 *
 * @example
 * ```ts
 * import { evidenceFromDocument } from "./evidence.ts";
 * import type { FetchedDocument } from "./fetcher.ts";
 * import assert from "node:assert/strict";
 *
 * const doc = {
 *   url: "https://example.org/w", finalUrl: "https://example.org/w", redirects: [], status: 200,
 *   contentType: "text/plain", text: "Water boils at 100 C", bytes: 20, sha256: "00".repeat(32),
 *   retrievedAt: "2026-11-28T10:00:00.000Z", topics: [],
 * } satisfies FetchedDocument;
 * const { payload, source } = evidenceFromDocument(doc, "water", { tier: "unknown" });
 * assert.deepEqual(payload.claims, [{ query: "water", excerpt: "Water boils at 100 C" }]);
 * assert.equal(source.retrieved_at, "2026-11-28T10:00:00.000Z");
 * ```
 */
export function evidenceFromDocument(
  document: FetchedDocument,
  query: string,
  options: EvidenceOptions,
): { payload: LipEvidencePayload; source: LipSource } {
  const chars = options.excerptChars ?? DEFAULT_EXCERPT_CHARS;
  const claims = options.extract === undefined
    ? [{ query, excerpt: documentText(document).slice(0, chars) }]
    : options.extract(document, query);
  return {
    payload: {
      claims,
      evidence: [{
        url: document.url,
        final_url: document.finalUrl,
        redirects: [...document.redirects],
        status: document.status,
        content_type: document.contentType,
        bytes: document.bytes,
        sha256: document.sha256,
        topics: [...document.topics],
        ...(document.a2a === undefined ? {} : { a2a: _a2a(document.a2a) }),
      }],
      confidence: options.confidence ?? 0.5,
      extraction_notes: options.extract === undefined
        ? `default extractor: the first ${chars} characters of the page text`
        : "claims from the configured extractor",
    },
    source: {
      uri: document.finalUrl,
      trust_tier: options.tier,
      retrieved_at: document.retrievedAt,
    },
  };
}

function _a2a(a: A2aProvenance): JsonObject {
  const out: JsonObject = { agent: a.agent, card: a.card, endpoint: a.endpoint, state: a.state };
  if (a.taskId !== undefined) out.taskId = a.taskId;
  return out;
}
