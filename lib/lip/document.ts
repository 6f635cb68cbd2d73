/**
 * A fetched document made from a text body: its byte length and SHA-256
 * computed from the text, in one place (an A2A agent's answer, a
 * simulated web's page, a test's fetcher).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { FetchedDocument } from "./fetcher.ts";

/**
 * A {@linkcode FetchedDocument} whose `text` is the body: `bytes` is its
 * UTF-8 length and `sha256` the lowercase hex SHA-256 of that UTF-8.
 *
 * @param text The body.
 * @param provenance Everything else the document records.
 * @returns The document.
 *
 * @example
 * ```ts
 * import { textDocument } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const doc = textDocument("Water boils at 100 C.", {
 *   url: "https://example.org/w",
 *   finalUrl: "https://example.org/w",
 *   redirects: [],
 *   status: 200,
 *   contentType: "text/plain",
 *   retrievedAt: "2026-12-08T00:00:00.000Z",
 *   topics: [],
 * });
 * assert.equal(doc.bytes, 21);
 * assert.equal(doc.sha256.length, 64);
 * ```
 */
export function textDocument(
  text: string,
  provenance: Omit<FetchedDocument, "text" | "bytes" | "sha256">,
): FetchedDocument {
  const utf8 = new TextEncoder().encode(text);
  return {
    ...provenance,
    text,
    bytes: utf8.byteLength,
    sha256: createHash("sha256").update(utf8).digest("hex"),
  };
}
