/**
 * The agent's typed error.
 *
 * @module
 */

import { Web4Error } from "../errors/mod.ts";

/**
 * Why an agent operation failed.
 *
 * - `STOPPED`: the agent was stopped (before or while the operation waited).
 * - `NOT_CONNECTED`: no session (and no relay route) to the peer, or the
 *   person's client is not connected to its agent.
 * - `HANDSHAKE_FAILED`: the CIP handshake was refused or did not complete.
 * - `NO_PERSON`: no enrolled person is connected.
 * - `TIMEOUT`: a wait ran out.
 * - `REFUSED`: the operation names a claim the agent does not hold.
 */
export type AgentErrorCode =
  | "STOPPED"
  | "NOT_CONNECTED"
  | "HANDSHAKE_FAILED"
  | "NO_PERSON"
  | "TIMEOUT"
  | "REFUSED";

/**
 * An agent operation failed: the agent was stopped, the peer is not
 * connected, the CIP handshake did not complete, no person is enrolled, a
 * wait ran out, or the message was refused.
 *
 * @example
 * ```ts
 * import { AgentError } from "./errors.ts";
 * import { Web4Error } from "../errors/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new AgentError("NOT_CONNECTED", "No session with ab12");
 * assert.equal(err.code, "NOT_CONNECTED");
 * assert.ok(err instanceof Web4Error);
 * ```
 */
export class AgentError extends Web4Error<AgentErrorCode> {}
