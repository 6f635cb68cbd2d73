/**
 * JSON Schema (draft 2020-12) export of the envelope schemas, the source of
 * `docs/schemas/*.schema.json`.
 *
 * @module
 */

import { envelopeJsonSchema } from "./public_schemas.ts";
import type { Protocol } from "./common.ts";

/** File name of each protocol's schema under `docs/schemas/`. */
export const SCHEMA_FILES: Readonly<Record<Protocol, string>> = {
  cip: "cip.schema.json",
  hcp: "hcp.schema.json",
  lip: "lip.schema.json",
};

/**
 * Renders each protocol's complete envelope schema as JSON Schema text
 * (two-space indentation, trailing newline).
 *
 * @returns The text per protocol.
 */
export function renderJsonSchemas(): Record<Protocol, string> {
  const out = {} as Record<Protocol, string>;
  for (const protocol of ["cip", "hcp", "lip"] as const) {
    const schema = envelopeJsonSchema(protocol);
    const doc = {
      $id: `urn:web4-runtime:schema:${protocol}-envelope:1.0`,
      ...schema,
    };
    out[protocol] = JSON.stringify(doc, null, 2) + "\n";
  }
  return out;
}
