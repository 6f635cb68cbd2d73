/**
 * Typed errors of the identity layer.
 *
 * @module
 */

import { Web4Error, type Web4ErrorOptions } from "../errors/mod.ts";

/** The codes an {@linkcode IdentityError} carries. */
export type IdentityErrorCode = "KEY_FILE_PERMISSIONS" | "INVALID_KEY_FILE" | "PUBLIC_KEY_MISMATCH";

/** Options of {@linkcode IdentityError}. */
export interface IdentityErrorOptions extends Web4ErrorOptions {
  /** The key file involved, if any. */
  path?: string;
  /** The key file's permission bits, if they were the problem. */
  mode?: number;
}

/**
 * A key file that cannot be used as an identity.
 *
 * - `KEY_FILE_PERMISSIONS`: the file is accessible to group or others
 *   (its mode allows more than `0600`); `path` and `mode` say which and how.
 * - `INVALID_KEY_FILE`: the file (or PEM text) is not a PKCS#8
 *   `PRIVATE KEY` holding an Ed25519 key, or the path is not a regular file
 *   (a FIFO, device, socket or directory).
 * - `PUBLIC_KEY_MISMATCH`: a PKCS#8 version 2 key whose public-key field is
 *   not the public key of its private key.
 *
 * @example Telling a permissions problem from a bad file
 * ```ts
 * import { Identity, IdentityError } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const path = `${await Deno.makeTempDir()}/agent.pem`;
 * await (await Identity.generate()).save(path);
 * await Deno.chmod(path, 0o644); // readable by others: refused
 * try {
 *   await Identity.load(path);
 *   assert.fail("a group/other-readable key file must be refused");
 * } catch (err) {
 *   assert.ok(err instanceof IdentityError && err.code === "KEY_FILE_PERMISSIONS");
 *   assert.equal(err.path, path); // so the message can say: chmod 600 <path>
 * }
 * await Deno.remove(path);
 * ```
 */
export class IdentityError extends Web4Error<IdentityErrorCode, IdentityErrorOptions> {
  /** The key file involved, when there is one. */
  declare readonly path: string | undefined;
  /** The key file's permission bits (`0o777` part), for `KEY_FILE_PERMISSIONS`. */
  declare readonly mode: number | undefined;
}
