/**
 * The root of every error class web4-runtime throws for conditions callers
 * catch. Lower layers (identity, envelope, rtt, ...) derive their own classes
 * from {@linkcode Web4Error}; plain argument mistakes use the built-in
 * `TypeError` and `RangeError`.
 *
 * @module
 */

/** Options accepted by {@linkcode Web4Error} and its subclasses. */
export interface Web4ErrorOptions {
  /** The underlying error, if this one wraps another. */
  cause?: unknown;
}

/**
 * Base class of the project's typed errors. Every instance carries a stable,
 * machine-readable `code` (such as `"FINGERPRINT_MISMATCH"`) next to a
 * human-readable message.
 *
 * @example Catching by class and code
 * ```ts
 * import { Web4Error } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new Web4Error("EXAMPLE", "Something named went wrong");
 * assert.ok(err instanceof Error);
 * assert.equal(err.code, "EXAMPLE");
 * assert.equal(err.name, "Web4Error");
 * ```
 */
export class Web4Error extends Error {
  /** Stable machine-readable code; see the docs of each subclass. */
  readonly code: string;

  /**
   * Creates an error.
   *
   * @param code Stable machine-readable code.
   * @param message Human-readable message naming the offending value.
   * @param options Optional `cause`.
   */
  constructor(code: string, message: string, options?: Web4ErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}
