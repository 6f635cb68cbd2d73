/**
 * The agent's typed error.
 *
 * @module
 */

/** Why an agent operation failed. */
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
 * import assert from "node:assert/strict";
 *
 * const err = new AgentError("NOT_CONNECTED", "No session with ab12");
 * assert.equal(err.code, "NOT_CONNECTED");
 * ```
 */
export class AgentError extends Error {
  /** The machine-readable reason. */
  readonly code: AgentErrorCode;

  /**
   * Creates the error.
   *
   * @param code The reason.
   * @param message What happened, naming the offending value.
   * @param options The cause, if any.
   */
  constructor(code: AgentErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AgentError";
    this.code = code;
  }
}
