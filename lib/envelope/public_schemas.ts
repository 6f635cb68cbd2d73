/**
 * Public access to the schemas without exposing zod types: payload
 * validation, message type lists and JSON Schema documents.
 *
 * @module
 */

import { z } from "zod";
import type { Protocol } from "./common.ts";
import { checkProtocol, MESSAGE_SCHEMAS, MESSAGE_TYPES, type MessageType } from "./protocols.ts";

/**
 * The message types of a protocol, in the spec's order.
 *
 * @param protocol `"cip"`, `"hcp"` or `"lip"`.
 * @returns The wire type names, e.g. `["HELLO", "VERIFY", ...]`.
 * @throws {TypeError} If `protocol` is unknown.
 *
 * @example
 * ```ts
 * import { messageTypes } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(messageTypes("lip"), [
 *   "LIP_FETCH",
 *   "LIP_EVIDENCE",
 *   "LIP_CONFLICT",
 *   "LIP_ACCEPT",
 *   "LIP_REJECT",
 *   "LIP_ERROR",
 * ]);
 * ```
 */
export function messageTypes<P extends Protocol>(protocol: P): MessageType<P>[] {
  checkProtocol(protocol);
  return [...MESSAGE_TYPES[protocol]] as MessageType<P>[];
}

/**
 * The JSON Schema (draft 2020-12) of a protocol's complete envelope (header
 * and the payload matching `type`), the same document as
 * `docs/schemas/<protocol>.schema.json`.
 *
 * @param protocol `"cip"`, `"hcp"` or `"lip"`.
 * @returns A fresh JSON Schema object.
 * @throws {TypeError} If `protocol` is unknown.
 */
export function envelopeJsonSchema(protocol: Protocol): Record<string, unknown> {
  checkProtocol(protocol);
  return z.toJSONSchema(MESSAGE_SCHEMAS[protocol], { target: "draft-2020-12" }) as Record<
    string,
    unknown
  >;
}
