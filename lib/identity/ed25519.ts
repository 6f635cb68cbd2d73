/**
 * The Ed25519 engine behind signing and verification: the runtime's own
 * `node:crypto` when it has one (Deno, Node), synchronous, else WebCrypto
 * (a browser: the console page).
 *
 * Why not WebCrypto everywhere: Deno answers `crypto.subtle.sign` and
 * `verify` on another thread and hands the result back through its event
 * loop, so one signature costs the primitive plus a thread hop and an
 * event-loop turn. Measured on the 2-core machine of `docs/performance.md`
 * (a 625-byte input, one at a time): WebCrypto verify 62-85 us, sign 50 us;
 * `node:crypto` verify 38-42 us, sign 20 us. Eight verifications in flight
 * cost WebCrypto 42 us each, no less than the synchronous call, so nothing
 * is lost by not handing them off. Both engines give the same answer on
 * every Wycheproof Ed25519 vector (`tests/unit/ed25519_wycheproof_test.ts`
 * runs both); they are the runtime's implementations, nothing home-made.
 *
 * @module
 */

/** What this module needs of a `node:crypto` key object. */
interface _NodeKey {
  readonly type: string;
}

/** What this module needs of `node:crypto`. */
interface _NodeCrypto {
  createPublicKey(options: { key: Uint8Array; format: "der"; type: "spki" }): _NodeKey;
  verify(algorithm: null, data: Uint8Array, key: _NodeKey, signature: Uint8Array): boolean;
  sign(algorithm: null, data: Uint8Array, key: _NodeKey): Uint8Array;
  KeyObject: { from(key: CryptoKey): _NodeKey };
}

/** The WebCrypto algorithm of every key here. */
export const ED25519 = { name: "Ed25519" } as const;

/** A public key made ready for verification by one engine (opaque). */
export type PublicKeyHandle = { readonly type: string };

/** Signs bytes with one private key. */
export type Signer = (
  data: Uint8Array<ArrayBuffer>,
) => Uint8Array<ArrayBuffer> | Promise<Uint8Array<ArrayBuffer>>;

/** One implementation of Ed25519 (RFC 8032, pure): import, verify, sign. */
export interface Ed25519Engine {
  /** `"node:crypto"` or `"webcrypto"`. */
  readonly name: string;
  /**
   * Makes a raw 32-byte public key ready for verification.
   *
   * @returns The handle, or `null` for bytes the engine refuses as a key.
   */
  importPublicKey(
    raw: Uint8Array<ArrayBuffer>,
  ): PublicKeyHandle | null | Promise<PublicKeyHandle | null>;
  /**
   * Checks a 64-byte signature; `false` (never a throw) for any failure.
   */
  verify(
    key: PublicKeyHandle,
    data: Uint8Array<ArrayBuffer>,
    signature: Uint8Array<ArrayBuffer>,
  ): boolean | Promise<boolean>;
  /** A signer for a private key (non-extractable keys too). */
  signer(privateKey: CryptoKey): Signer;
}

/** The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes. */
const _SPKI_PREFIX = Uint8Array.fromHex("302a300506032b6570032100");

/**
 * The engine over a `node:crypto` module.
 *
 * @param nc The module.
 * @returns The engine.
 */
function _nodeEngine(nc: _NodeCrypto): Ed25519Engine {
  return {
    name: "node:crypto",
    importPublicKey(raw) {
      if (raw.length !== 32) return null;
      const der = new Uint8Array(_SPKI_PREFIX.length + 32);
      der.set(_SPKI_PREFIX);
      der.set(raw, _SPKI_PREFIX.length);
      try {
        return nc.createPublicKey({ key: der, format: "der", type: "spki" });
      } catch {
        return null;
      }
    },
    verify(key, data, signature) {
      try {
        return nc.verify(null, data, key, signature);
      } catch {
        return false;
      }
    },
    signer(privateKey) {
      const key = nc.KeyObject.from(privateKey);
      return (data) => {
        const out = nc.sign(null, data, key);
        // A Buffer may sit in a shared pool: hand back bytes of their own.
        return new Uint8Array(out);
      };
    },
  };
}

/** The engine over WebCrypto: asynchronous, available everywhere. */
export const webCryptoEngine: Ed25519Engine = {
  name: "webcrypto",
  importPublicKey(raw) {
    return crypto.subtle.importKey("raw", raw, ED25519, true, ["verify"]).then(
      (key) => key,
      () => null,
    );
  },
  async verify(key, data, signature) {
    try {
      return await crypto.subtle.verify(ED25519, key as CryptoKey, signature, data);
    } catch {
      return false;
    }
  },
  signer(privateKey) {
    return async (data) => new Uint8Array(await crypto.subtle.sign(ED25519, privateKey, data));
  },
};

/**
 * The runtime's `node:crypto` (through `process.getBuiltinModule`, so a
 * browser bundle has no `node:` import), or `undefined` without one.
 */
function _nodeCrypto(): _NodeCrypto | undefined {
  const { process } = globalThis as {
    process?: { getBuiltinModule?: (id: string) => unknown };
  };
  try {
    const nc = process?.getBuiltinModule?.("node:crypto") as Partial<_NodeCrypto> | undefined;
    return typeof nc?.verify === "function" && typeof nc.sign === "function" &&
        typeof nc.createPublicKey === "function" && typeof nc.KeyObject?.from === "function"
      ? nc as _NodeCrypto
      : undefined;
  } catch {
    return undefined;
  }
}

const _nc = _nodeCrypto();

/** The `node:crypto` engine, or `undefined` where the runtime has none (a browser). */
export const nodeCryptoEngine: Ed25519Engine | undefined = _nc === undefined
  ? undefined
  : _nodeEngine(_nc);

/** The engine signing and verification use: `node:crypto` where there is one, else WebCrypto. */
export const ed25519: Ed25519Engine = nodeCryptoEngine ?? webCryptoEngine;
