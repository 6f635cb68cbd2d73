/**
 * The fast path of verification: a bounded cache of fingerprints, and the
 * signing input, key and signature cut straight out of a canonical wire
 * text, which count only when they provably are the very ones
 * verification needs.
 *
 * @module
 */

import type { Prepared } from "./validate.ts";

const _encoder = new TextEncoder();

/** Fingerprints already computed, by base64 public key, oldest insertion first. */
const _fingerprints = new Map<string, string>();
/** Most entries in the fingerprint cache. */
export const FINGERPRINT_CACHE_SIZE = 1024;

/**
 * Number of entries in the fingerprint cache (never more than
 * {@linkcode FINGERPRINT_CACHE_SIZE}); for tests and diagnostics.
 *
 * @returns The number of cached fingerprints.
 */
export function fingerprintCacheSize(): number {
  return _fingerprints.size;
}

/**
 * Computes (or recalls) the fingerprint of a base64 public key that the
 * envelope schema has already checked (canonical base64 of 32 bytes). The
 * key is decoded only on a cache miss.
 */
export function fingerprintOfBase64(pubkey: string): string | Promise<string> {
  const hit = _fingerprints.get(pubkey);
  if (hit !== undefined) return hit;
  return crypto.subtle.digest("SHA-256", Uint8Array.fromBase64(pubkey)).then((digest) => {
    const fp = new Uint8Array(digest).toHex();
    _fingerprints.set(pubkey, fp);
    if (_fingerprints.size > FINGERPRINT_CACHE_SIZE) {
      // Evict the oldest insertion; a hot key is simply hashed again.
      const oldest = _fingerprints.keys().next().value;
      if (oldest !== undefined) _fingerprints.delete(oldest);
    }
    return fp;
  });
}

/** The `sign` member as the canonical wire form spells it, up to the signature. */
const _SIGN_HEAD = ',"sign":{"algo":"ed25519","signature":"';
/** The last member of `sender` in the canonical form, up to the key. */
const _PUBKEY_HEAD = '"pubkey":"';
/** Characters of a base64 signature (64 bytes) and a base64 key (32 bytes). */
const _SIGNATURE_CHARS = 88;
const _PUBKEY_CHARS = 44;

/** The signing input, key and signature cut out of a wire text before it was parsed. */
export interface Speculation {
  /** Where the `sign` member starts and ends in the text. */
  at: number;
  end: number;
  /** The UTF-8 of the text without the `sign` member. */
  signingBytes: Uint8Array<ArrayBuffer>;
  /** The `pubkey` and `signature` read from the text. */
  pubkey: string;
  signature: string;
  /** The signature's 64 bytes. */
  signatureBytes: Uint8Array<ArrayBuffer>;
}

/**
 * Cuts step 4's input out of the wire text before it is parsed, on the
 * guess that it is already canonical (as {@linkcode encodeEnvelope} writes
 * it), so that a canonical envelope is never serialized again. In the
 * canonical form the `sign` member directly follows `sender`, whose last
 * member is `pubkey`, so the key, the signature and the signing input can
 * be cut out of the text. The result only counts if, once the envelope is
 * parsed and canonicalized, the canonical signing text, `sender.pubkey` and
 * `sign.signature` are exactly these (see `usesSpeculation`); otherwise
 * the check is made on the canonical bytes.
 *
 * @param text The wire text.
 * @param bytes Its UTF-8 (the wire bytes).
 * @returns The cut-out input, or `null` if the text does not have that shape.
 */
export function speculate(text: string, bytes: Uint8Array): Speculation | null {
  const at = text.lastIndexOf(_SIGN_HEAD);
  if (at < 0) return null;
  const signatureStart = at + _SIGN_HEAD.length;
  const end = signatureStart + _SIGNATURE_CHARS + 2;
  const pubkeyStart = at - 2 - _PUBKEY_CHARS;
  if (
    text.charCodeAt(end - 2) !== 0x22 || text.charCodeAt(end - 1) !== 0x7d || // "}
    text.charCodeAt(at - 2) !== 0x22 || text.charCodeAt(at - 1) !== 0x7d || // "}
    pubkeyStart < _PUBKEY_HEAD.length ||
    !text.startsWith(_PUBKEY_HEAD, pubkeyStart - _PUBKEY_HEAD.length)
  ) {
    return null;
  }
  const signature = text.slice(signatureStart, end - 2);
  let signatureBytes: Uint8Array<ArrayBuffer>;
  try {
    signatureBytes = Uint8Array.fromBase64(signature);
  } catch {
    return null;
  }
  const pubkey = text.slice(pubkeyStart, at - 2);
  let signingBytes: Uint8Array<ArrayBuffer>;
  if (bytes.length === text.length) {
    // Only ASCII has as many bytes as characters: the offsets agree.
    signingBytes = new Uint8Array(bytes.length - (end - at));
    signingBytes.set(bytes.subarray(0, at));
    signingBytes.set(bytes.subarray(end), at);
  } else {
    signingBytes = _encoder.encode(text.slice(0, at) + text.slice(end));
  }
  return { at, end, signingBytes, pubkey, signature, signatureBytes };
}

/**
 * Whether a speculation's input is the very input step 4 needs: same signing
 * text (the canonical one), same key, same signature.
 *
 * @param text The wire text the speculation was cut from.
 */
export function usesSpeculation(spec: Speculation, text: string, prepared: Prepared): boolean {
  const { sender, sign } = prepared.value;
  return typeof sender === "object" && sender !== null &&
    (sender as Record<string, unknown>).pubkey === spec.pubkey &&
    typeof sign === "object" && sign !== null &&
    (sign as Record<string, unknown>).signature === spec.signature &&
    text.slice(0, spec.at) + text.slice(spec.end) === prepared.signingText;
}

export function isBytes(input: unknown): input is Uint8Array {
  try {
    return input instanceof Uint8Array;
  } catch {
    return false; // a revoked Proxy; the walk in step 1 reports it
  }
}
