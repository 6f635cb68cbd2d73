/**
 * Agent identities: one Ed25519 key pair per agent, its fingerprint (the
 * lowercase hex SHA-256 of the raw public key), PKCS#8 v1 PEM key files with
 * mode 0600, and signing and verification through WebCrypto.
 *
 * @example
 * ```ts
 * import { Identity } from "@web4/runtime/identity";
 * import assert from "node:assert/strict";
 *
 * const id = await Identity.generate();
 * assert.equal(id.agentId, `agent-${id.fingerprint.slice(0, 12)}`);
 * ```
 *
 * @module
 */

export { IdentityError, type IdentityErrorCode, type IdentityErrorOptions } from "./errors.ts";
export { type GenerateIdentityOptions, Identity, type IdentityOptions } from "./identity.ts";
export { fingerprintOf, verifyEd25519 } from "./verify.ts";
