/**
 * The mesh's typed error.
 *
 * @module
 */

import { Web4Error } from "../errors/mod.ts";

/**
 * Why a mesh operation or frame failed.
 *
 * - `INVALID_FRAME`: a mesh frame is not JSON or breaks the frame format.
 * - `TOO_LARGE`: a mesh frame is larger than its byte bound (checked before parsing).
 * - `BAD_SIGNATURE`: a frame's public key or signature does not verify.
 * - `NO_ROUTE`: no route to the destination.
 * - `EXPIRED`: a held message outlived its window.
 * - `TIMEOUT`: a mesh condition was not met in time.
 * - `STOPPED`: the node was stopped.
 */
export type MeshErrorCode =
  | "INVALID_FRAME"
  | "TOO_LARGE"
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
 * import { Web4Error } from "../errors/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new MeshError("NO_ROUTE", "No route to ab12");
 * assert.equal(err.code, "NO_ROUTE");
 * assert.ok(err instanceof Web4Error);
 * ```
 */
export class MeshError extends Web4Error<MeshErrorCode> {}
