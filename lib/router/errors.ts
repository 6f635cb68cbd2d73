/**
 * The router's typed error.
 *
 * @module
 */

import { Web4Error, type Web4ErrorOptions } from "../errors/mod.ts";

/**
 * Codes of {@linkcode RoutingError}:
 * `UNKNOWN_PROTOCOL` (no `cip`/`hcp`/`lip` version key), `UNKNOWN_TYPE`
 * (a type the protocol does not have), `NO_ROUTE` (a known type no runtime
 * handles), `DUPLICATE_ROUTE` (two runtimes for one type, at registration).
 */
export type RoutingErrorCode = "UNKNOWN_PROTOCOL" | "UNKNOWN_TYPE" | "NO_ROUTE" | "DUPLICATE_ROUTE";

/** A message the router cannot route, or a route table that cannot be built. */
export class RoutingError extends Web4Error<RoutingErrorCode> {
  /** The protocol concerned, when known. */
  readonly protocol: string | undefined;
  /** The message type concerned, when known. */
  readonly type: string | undefined;

  /**
   * Creates the error.
   *
   * @param code What went wrong.
   * @param message Human-readable message naming the protocol and type.
   * @param where The protocol and type concerned.
   * @param options Optional `cause`.
   */
  constructor(
    code: RoutingErrorCode,
    message: string,
    where: { protocol?: string | undefined; type?: string | undefined } = {},
    options?: Web4ErrorOptions,
  ) {
    super(code, message, options);
    this.protocol = where.protocol;
    this.type = where.type;
  }
}
