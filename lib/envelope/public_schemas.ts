/**
 * Public access to the schemas without exposing zod types: payload
 * validation, message type lists and JSON Schema documents.
 *
 * @module
 */

import { z } from "zod";
import { MESSAGE_SCHEMAS, MESSAGE_TYPES } from "./schemas.ts";
import type { MessageType, Protocol } from "./types.ts";

function _checkProtocol(protocol: unknown): asserts protocol is Protocol {
  if (protocol !== "cip" && protocol !== "hcp" && protocol !== "lip") {
    throw new TypeError(`Unknown protocol ${String(protocol)}: expected "cip", "hcp" or "lip"`);
  }
}

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
 * ]);
 * ```
 */
export function messageTypes<P extends Protocol>(protocol: P): MessageType<P>[] {
  _checkProtocol(protocol);
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
  _checkProtocol(protocol);
  return z.toJSONSchema(MESSAGE_SCHEMAS[protocol], { target: "draft-2020-12" }) as Record<
    string,
    unknown
  >;
}
