/**
 * Ed25519 verification and fingerprints: pure Ed25519 (RFC 8032) through
 * the engine of `ed25519.ts` (the runtime's `node:crypto`, else WebCrypto),
 * the imported public keys kept in a small cache (a peer's key is imported
 * once, not once per message), and the fingerprint (the hex SHA-256 of the
 * raw key). `fingerprintOf` and `verifyEd25519` are public
 * (`mod.ts`); the rest is internal to the identity and envelope layers.
 *
 * @module
 */

import { ed25519, type PublicKeyHandle } from "./ed25519.ts";

/** Public keys made ready for verification, most recently inserted last. */
const _publicKeyCache = new Map<string, PublicKeyHandle | Promise<PublicKeyHandle | null>>();
const _PUBLIC_KEY_CACHE_SIZE = 512;

/**
 * The bytes, backed by a plain `ArrayBuffer` (WebCrypto refuses a shared one): the same array or a copy.
 *
 * @param data The bytes.
 * @returns Bytes on an `ArrayBuffer`.
 */
export function plainBytes(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return data.buffer instanceof ArrayBuffer
    ? data as Uint8Array<ArrayBuffer>
    : new Uint8Array(data);
}

/**
 * Checks a raw Ed25519 public key argument.
 *
 * @param publicKeyRaw The key.
 * @param name Its name in the message.
 * @throws {TypeError} If it is not a `Uint8Array`.
 * @throws {RangeError} If it is not 32 bytes long.
 */
export function checkRawPublicKey(publicKeyRaw: Uint8Array, name: string): void {
  if (!(publicKeyRaw instanceof Uint8Array)) {
    throw new TypeError(`Expected ${name} to be a Uint8Array, got ${typeof publicKeyRaw}`);
  }
  if (publicKeyRaw.length !== 32) {
    throw new RangeError(
      `Expected ${name} to be a raw 32-byte Ed25519 public key, got ${publicKeyRaw.length} bytes`,
    );
  }
}

/**
 * Computes an Ed25519 public key's fingerprint: the lowercase hex SHA-256 of
 * its raw 32 bytes (64 hex digits).
 *
 * @param publicKeyRaw The raw 32-byte public key.
 * @returns The fingerprint.
 * @throws {TypeError} If `publicKeyRaw` is not a `Uint8Array`.
 * @throws {RangeError} If it is not 32 bytes long.
 *
 * @example Fingerprint of an identity's key
 * ```ts
 * import { fingerprintOf, Identity } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const id = await Identity.generate();
 * assert.equal(await fingerprintOf(id.publicKeyRaw), id.fingerprint);
 * ```
 */
export async function fingerprintOf(publicKeyRaw: Uint8Array): Promise<string> {
  checkRawPublicKey(publicKeyRaw, "publicKeyRaw");
  const digest = await crypto.subtle.digest("SHA-256", plainBytes(publicKeyRaw));
  return new Uint8Array(digest).toHex();
}

/**
 * Makes a raw Ed25519 public key ready for verification, through a small
 * cache keyed by the key's standard base64 (a peer's key is imported once,
 * not once per message).
 *
 * @param cacheKey The standard base64 of `publicKeyRaw`.
 * @param publicKeyRaw The raw 32-byte key.
 * @returns The key (synchronously when cached or when the engine is
 *   synchronous), or `null` if the engine refuses it.
 */
function _importPublicKey(
  cacheKey: string,
  publicKeyRaw: Uint8Array,
): PublicKeyHandle | null | Promise<PublicKeyHandle | null> {
  const cached = _publicKeyCache.get(cacheKey);
  if (cached !== undefined) return cached;
  const imported = ed25519.importPublicKey(plainBytes(publicKeyRaw));
  if (imported === null) return null;
  _publicKeyCache.set(cacheKey, imported);
  if (_publicKeyCache.size > _PUBLIC_KEY_CACHE_SIZE) {
    // Evict the oldest insertion; a hot key is simply imported again.
    const oldest = _publicKeyCache.keys().next().value;
    if (oldest !== undefined) _publicKeyCache.delete(oldest);
  }
  if (imported instanceof Promise) {
    // A refused key is not kept.
    void imported.then((key) => {
      if (key === null && _publicKeyCache.get(cacheKey) === imported) {
        _publicKeyCache.delete(cacheKey);
      }
    });
  }
  return imported;
}

/**
 * How many imported public keys the verification cache holds at most
 * (oldest insertion evicted first).
 */
export const PUBLIC_KEY_CACHE_SIZE: number = _PUBLIC_KEY_CACHE_SIZE;

/**
 * Number of public keys currently held by the verification cache (never
 * more than {@linkcode PUBLIC_KEY_CACHE_SIZE}); for tests and diagnostics.
 *
 * @returns The number of cached keys.
 */
export function publicKeyCacheSize(): number {
  return _publicKeyCache.size;
}

function _verify(
  key: PublicKeyHandle | null | Promise<PublicKeyHandle | null>,
  data: Uint8Array,
  signature: Uint8Array,
): boolean | Promise<boolean> {
  if (key === null) return false;
  if (key instanceof Promise) {
    return key.then((k) =>
      k !== null && ed25519.verify(k, plainBytes(data), plainBytes(signature))
    );
  }
  return ed25519.verify(key, plainBytes(data), plainBytes(signature));
}

/**
 * Verifies an Ed25519 signature like {@linkcode verifyEd25519}, with the
 * public key given as standard base64 (as envelopes carry it): a key
 * already in the cache is neither decoded nor imported again. Internal to
 * the envelope layer (not exported from `mod.ts`).
 *
 * @param publicKeyBase64 Standard base64 of the raw 32-byte public key.
 * @param data The signed bytes.
 * @param signature The 64-byte signature.
 * @returns `true` if the signature is valid for `data` under the key;
 *   `false` otherwise, including for base64 that does not decode to a
 *   32-byte key or a 64-byte signature, and for a key that is not a valid
 *   curve point. Synchronous with the `node:crypto` engine (a promise with
 *   WebCrypto's); never throws or rejects.
 */
export function verifyEd25519Base64(
  publicKeyBase64: string,
  data: Uint8Array,
  signature: Uint8Array,
): boolean | Promise<boolean> {
  if (signature.length !== 64) return false;
  const key = _publicKeyCache.get(publicKeyBase64);
  if (key === undefined) {
    let raw: Uint8Array;
    try {
      raw = Uint8Array.fromBase64(publicKeyBase64);
    } catch {
      return false;
    }
    if (raw.length !== 32) return false;
    // Cache under the canonical spelling only.
    return _verify(_importPublicKey(raw.toBase64(), raw), data, signature);
  }
  return _verify(key, data, signature);
}

/**
 * Verifies an Ed25519 signature (RFC 8032, pure Ed25519) over `data`.
 *
 * @param publicKeyRaw The signer's raw 32-byte public key.
 * @param data The signed bytes.
 * @param signature The 64-byte signature.
 * @returns `true` if the signature is valid for `data` under the key;
 *   `false` otherwise, including for a signature of the wrong length or a
 *   key that is not a valid curve point.
 * @throws {TypeError} If an argument is not a `Uint8Array`.
 * @throws {RangeError} If `publicKeyRaw` is not 32 bytes long.
 *
 * @example Checking an identity's signature
 * ```ts
 * import { Identity, verifyEd25519 } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const id = await Identity.generate();
 * const data = new TextEncoder().encode("hello");
 * const sig = await id.sign(data);
 * assert.ok(await verifyEd25519(id.publicKeyRaw, data, sig));
 * ```
 */
export async function verifyEd25519(
  publicKeyRaw: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  checkRawPublicKey(publicKeyRaw, "publicKeyRaw");
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(`Expected data to be a Uint8Array, got ${typeof data}`);
  }
  if (!(signature instanceof Uint8Array)) {
    throw new TypeError(`Expected signature to be a Uint8Array, got ${typeof signature}`);
  }
  if (signature.length !== 64) return false;
  return await _verify(_importPublicKey(publicKeyRaw.toBase64(), publicKeyRaw), data, signature);
}
