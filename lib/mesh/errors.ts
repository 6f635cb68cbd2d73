/**
 * The mesh's typed error.
 *
 * @module
 */

/** Why a mesh operation or frame failed. */
export type MeshErrorCode =
  | "INVALID_FRAME"
  | "BAD_SIGNATURE"
  | "NO_ROUTE"
  | "EXPIRED"
  | "TIMEOUT"
  | "STOPPED";

/**
 * A mesh frame was malformed or badly signed, a destination had no route,
 * a held message expired, or the node was stopped.
 *
 * @example
 * ```ts
 * import { MeshError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new MeshError("NO_ROUTE", "No route to ab12");
 * assert.equal(err.code, "NO_ROUTE");
 * ```
 */
export class MeshError extends Error {
  /** The machine-readable reason. */
  readonly code: MeshErrorCode;

  /**
   * Creates the error.
   *
   * @param code The reason.
   * @param message What happened, naming the offending value.
   * @param options The cause, if any.
   */
  constructor(code: MeshErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MeshError";
    this.code = code;
  }
}
