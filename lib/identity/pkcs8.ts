/**
 * The one piece of PKCS#8 that WebCrypto does not check: the optional
 * public-key field of a version 2 (RFC 5958 `OneAsymmetricKey`) key.
 *
 * @module
 */

import { IdentityError } from "./errors.ts";

/** The PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410 section 7), before its 32 bytes. */
const _ED25519_PKCS8_PREFIX = Uint8Array.fromHex("302e020100300506032b657004220420");

/**
 * The PKCS#8 v1 DER of the Ed25519 private key `seed` (RFC 8410): what
 * WebCrypto imports to make a key from given bytes.
 *
 * @param seed The 32-byte private key.
 * @returns The 48-byte DER.
 * @throws {TypeError} If `seed` is not 32 bytes.
 */
export function ed25519Pkcs8FromSeed(seed: Uint8Array): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new TypeError("Expected a 32-byte Ed25519 private key");
  }
  const der = new Uint8Array(_ED25519_PKCS8_PREFIX.length + 32);
  der.set(_ED25519_PKCS8_PREFIX);
  der.set(seed, _ED25519_PKCS8_PREFIX.length);
  return der;
}

/** One DER element: its tag, and where its contents start and end. */
interface _Element {
  tag: number;
  start: number;
  end: number;
}

function _malformed(what: string): IdentityError {
  return new IdentityError("INVALID_KEY_FILE", `The PKCS#8 key is malformed: ${what}`);
}

/** Reads the element at `at` (definite lengths up to 0xffff, as keys need). */
function _element(der: Uint8Array, at: number, limit: number): _Element {
  if (at + 2 > limit) throw _malformed(`an element is cut off at byte ${at}`);
  const tag = der[at]!;
  let length = der[at + 1]!;
  let start = at + 2;
  if (length === 0x81 || length === 0x82) {
    const bytes = length - 0x80;
    if (start + bytes > limit) throw _malformed(`a length is cut off at byte ${at + 1}`);
    length = bytes === 1 ? der[start]! : (der[start]! << 8) | der[start + 1]!;
    start += bytes;
  } else if (length > 0x7f) {
    throw _malformed(`unsupported length form 0x${length.toString(16)} at byte ${at + 1}`);
  }
  const end = start + length;
  if (end > limit) {
    throw _malformed(`element 0x${tag.toString(16)} at byte ${at} runs past its parent`);
  }
  return { tag, start, end };
}

/**
 * The public key a PKCS#8 Ed25519 key carries in its optional `[1]
 * publicKey` field (version 2 keys, as ring and rcgen write them), or `null`
 * when it has none (version 1, as WebCrypto and OpenSSL write them).
 * WebCrypto imports both and ignores the field, so a caller must compare it
 * with the key derived from the private part.
 *
 * @param der A DER `PrivateKeyInfo` / `OneAsymmetricKey` that WebCrypto
 *   imported as Ed25519.
 * @returns The 32-byte public key from the field, or `null`.
 * @throws {IdentityError} Code `INVALID_KEY_FILE` if the structure or the
 *   field is malformed.
 */
export function pkcs8PublicKeyField(der: Uint8Array): Uint8Array | null {
  const outer = _element(der, 0, der.length);
  if (outer.tag !== 0x30 || outer.end !== der.length) {
    throw _malformed("it is not one DER SEQUENCE");
  }
  let at = outer.start;
  const fields: _Element[] = [];
  while (at < outer.end) {
    const el = _element(der, at, outer.end);
    fields.push(el);
    at = el.end;
  }
  // version, privateKeyAlgorithm, privateKey, [0] attributes?, [1] publicKey?
  for (const field of fields.slice(3)) {
    if (field.tag === 0xa0) continue;
    if (field.tag !== 0x81) {
      throw _malformed(`unexpected field with tag 0x${field.tag.toString(16)}`);
    }
    // BIT STRING contents: the count of unused bits (0), then the key.
    if (field.end - field.start !== 33 || der[field.start] !== 0) {
      throw _malformed(
        `the public-key field holds ${field.end - field.start} bytes, not a 32-byte Ed25519 key`,
      );
    }
    return der.slice(field.start + 1, field.end);
  }
  return null;
}
