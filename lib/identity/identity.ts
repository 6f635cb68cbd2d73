/**
 * Ed25519 agent identities: generation, PKCS#8 v1 PEM key files (their
 * format: `key_file.ts`), signing. Verification and fingerprints are
 * `verify.ts`.
 *
 * @module
 */

import { IdentityError } from "./errors.ts";
import {
  agentIdLine,
  checkRegularFile,
  decodePem,
  MAX_KEY_FILE_BYTES,
  pathName,
  PEM_LABEL,
} from "./key_file.ts";
import { checkRawPublicKey, fingerprintOf, plainBytes } from "./verify.ts";
import { ED25519, ed25519, type Signer } from "./ed25519.ts";
import { ed25519Pkcs8FromSeed, pkcs8PublicKeyField } from "./pkcs8.ts";
import { type RandomSource, randomUuid, systemRandom } from "../ports/mod.ts";

/** Options of {@linkcode Identity.generate}, {@linkcode Identity.load} and {@linkcode Identity.fromPkcs8Pem}. */
export interface IdentityOptions {
  /**
   * The agent's human-readable name, 1-128 characters.
   *
   * @default {"agent-" + the first 12 hex digits of the fingerprint}
   */
  agentId?: string;
}

/** Options of {@linkcode Identity.generate}. */
export interface GenerateIdentityOptions extends IdentityOptions {
  /**
   * Where the 32-byte private key comes from (a seeded source gives the same
   * key for the same seed, for simulations).
   *
   * @default {systemRandom}
   */
  random?: RandomSource | undefined;
}

function _checkAgentId(agentId: unknown): string {
  if (typeof agentId !== "string") {
    throw new TypeError(`Expected agentId to be a string, got ${typeof agentId}`);
  }
  if (agentId.length < 1 || agentId.length > 128) {
    throw new RangeError(
      `Expected agentId to have 1-128 characters, got ${agentId.length}: "${agentId.slice(0, 32)}"`,
    );
  }
  return agentId;
}

/**
 * One agent's Ed25519 key pair and the names derived from it.
 *
 * Key files are PKCS#8 v1 PEM (`-----BEGIN PRIVATE KEY-----`), the form
 * `openssl genpkey -algorithm ed25519` writes and the Rust transport reads.
 * The private key never leaves the object except through
 * {@linkcode Identity.toPkcs8Pem} and {@linkcode Identity.save}.
 *
 * @example Generating, signing and naming
 * ```ts
 * import { Identity, verifyEd25519 } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const alice = await Identity.generate({ agentId: "alice" });
 * assert.equal(alice.agentId, "alice");
 * assert.match(alice.fingerprint, /^[0-9a-f]{64}$/);
 *
 * const data = new TextEncoder().encode("hello");
 * const sig = await alice.sign(data);
 * assert.ok(await verifyEd25519(alice.publicKeyRaw, data, sig));
 * ```
 *
 * @example Key files
 * ```ts
 * import { Identity } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const path = `${await Deno.makeTempDir()}/agent.pem`;
 * const id = await Identity.generate();
 * await id.save(path); // PKCS#8 v1 PEM, mode 0600
 * const same = await Identity.load(path, { agentId: "alice" });
 * assert.equal(same.fingerprint, id.fingerprint);
 * await Deno.remove(path);
 * ```
 */
export class Identity {
  /** The agent's human-readable name (1-128 characters). */
  readonly agentId: string;
  /** Lowercase hex SHA-256 of the raw 32-byte public key (64 hex digits). */
  readonly fingerprint: string;
  /** Standard base64 (with padding) of the raw 32-byte public key. */
  readonly publicKeyBase64: string;
  readonly #publicKeyRaw: Uint8Array;
  readonly #privateKey: CryptoKey;
  /** The engine's signer for the private key, made on the first signature. */
  #signer: Signer | undefined;

  private constructor(
    privateKey: CryptoKey,
    publicKeyRaw: Uint8Array,
    fingerprint: string,
    agentId: string,
  ) {
    this.#privateKey = privateKey;
    this.#publicKeyRaw = publicKeyRaw;
    this.fingerprint = fingerprint;
    this.publicKeyBase64 = publicKeyRaw.toBase64();
    this.agentId = agentId;
  }

  static async #fromPrivateKey(
    privateKey: CryptoKey,
    options?: IdentityOptions,
  ): Promise<Identity> {
    const agentId = options?.agentId === undefined ? undefined : _checkAgentId(options.agentId);
    const jwk = await crypto.subtle.exportKey("jwk", privateKey);
    if (jwk.x === undefined) {
      throw new IdentityError("INVALID_KEY_FILE", "The Ed25519 key has no public part");
    }
    const publicKeyRaw = Uint8Array.fromBase64(jwk.x, { alphabet: "base64url" });
    const fingerprint = await fingerprintOf(publicKeyRaw);
    return new Identity(
      privateKey,
      publicKeyRaw,
      fingerprint,
      agentId ?? `agent-${fingerprint.slice(0, 12)}`,
    );
  }

  /**
   * Generates a fresh key pair: its private key is 32 bytes of `random`
   * (what Ed25519 key generation is), imported as PKCS#8, since WebCrypto
   * cannot generate from a given source.
   *
   * @param options `agentId` (default `agent-` + 12 hex digits of the
   *   fingerprint) and `random` (default the system's).
   * @returns The new identity.
   * @throws {TypeError} If `agentId` is not a string.
   * @throws {RangeError} If `agentId` is not 1-128 characters long.
   *
   * @example The same seed gives the same key
   * ```ts
   * import { Identity } from "./mod.ts";
   * import { seededRandom } from "../ports/mod.ts";
   * import assert from "node:assert/strict";
   *
   * const a = await Identity.generate({ random: seededRandom(1) });
   * const b = await Identity.generate({ random: seededRandom(1) });
   * assert.equal(a.fingerprint, b.fingerprint);
   * ```
   */
  static async generate(options?: GenerateIdentityOptions): Promise<Identity> {
    if (options?.agentId !== undefined) _checkAgentId(options.agentId);
    const seed = (options?.random ?? systemRandom)(32);
    const der = ed25519Pkcs8FromSeed(seed);
    const privateKey = await crypto.subtle.importKey("pkcs8", plainBytes(der), ED25519, true, [
      "sign",
    ]);
    seed.fill(0);
    der.fill(0);
    return await Identity.#fromPrivateKey(privateKey, options);
  }

  /**
   * Makes an identity of a WebCrypto key pair whose private key may be
   * non-extractable (the person's key in the console page, kept in
   * IndexedDB): signing works; {@linkcode Identity.toPkcs8Pem} and
   * {@linkcode Identity.save} throw for a non-extractable key.
   *
   * @param pair An Ed25519 key pair (its public key extractable, as WebCrypto makes it).
   * @param options `agentId` (default `agent-` + 12 hex digits of the fingerprint).
   * @returns The identity.
   * @throws {TypeError} If the keys are not an Ed25519 pair, or `agentId` is not a string.
   * @throws {RangeError} If `agentId` is not 1-128 characters long.
   *
   * @example
   * ```ts
   * import { Identity } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]) as CryptoKeyPair;
   * const person = await Identity.fromKeyPair(pair, { agentId: "ada" });
   * assert.equal((await person.sign(new Uint8Array([1]))).length, 64);
   * ```
   */
  static async fromKeyPair(pair: CryptoKeyPair, options?: IdentityOptions): Promise<Identity> {
    const agentId = options?.agentId === undefined ? undefined : _checkAgentId(options.agentId);
    if (
      pair?.privateKey?.algorithm?.name !== "Ed25519" ||
      pair.publicKey?.algorithm?.name !== "Ed25519"
    ) {
      throw new TypeError("Expected an Ed25519 CryptoKeyPair");
    }
    const publicKeyRaw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    checkRawPublicKey(publicKeyRaw, "the public key");
    const fingerprint = await fingerprintOf(publicKeyRaw);
    return new Identity(
      pair.privateKey,
      publicKeyRaw,
      fingerprint,
      agentId ?? `agent-${fingerprint.slice(0, 12)}`,
    );
  }

  /**
   * Reads an identity from PKCS#8 PEM text: version 1, or version 2 whose
   * public-key field is the key derived from the private key (WebCrypto
   * ignores that field; this method checks it). Explanatory text before the
   * `-----BEGIN` boundary (RFC 7468 §5.2, ignored by openssl) is skipped,
   * except an `Agent-Id: NAME` line, which names the agent when `agentId`
   * is not given ({@linkcode Identity.save} with `{ agentId: true }` writes it).
   *
   * @param pem The PEM text (`-----BEGIN PRIVATE KEY-----` ...).
   * @param options `agentId` (default: the `Agent-Id:` line, else `agent-` + 12 hex digits of the fingerprint).
   * @returns The identity.
   * @throws {IdentityError} Code `INVALID_KEY_FILE` if the text is not an
   *   unencrypted PKCS#8 Ed25519 private key; code `PUBLIC_KEY_MISMATCH` if
   *   its public-key field is another key than its private key's.
   * @throws {TypeError} If `pem` or `agentId` is not a string.
   * @throws {RangeError} If `agentId` is not 1-128 characters long.
   */
  static async fromPkcs8Pem(pem: string, options?: IdentityOptions): Promise<Identity> {
    if (options?.agentId !== undefined) _checkAgentId(options.agentId);
    const der = decodePem(pem);
    if (options?.agentId === undefined) {
      const named = agentIdLine(pem);
      if (named !== undefined) options = { ...options, agentId: _checkAgentId(named) };
    }
    let privateKey: CryptoKey;
    try {
      privateKey = await crypto.subtle.importKey("pkcs8", plainBytes(der), ED25519, true, ["sign"]);
    } catch (cause) {
      throw new IdentityError(
        "INVALID_KEY_FILE",
        `The PEM block is not a PKCS#8 Ed25519 private key (${der.length} bytes of DER)`,
        { cause },
      );
    }
    const field = pkcs8PublicKeyField(der);
    const identity = await Identity.#fromPrivateKey(privateKey, options);
    if (field !== null && field.toHex() !== identity.#publicKeyRaw.toHex()) {
      throw new IdentityError(
        "PUBLIC_KEY_MISMATCH",
        `The PKCS#8 key's public-key field ${field.toBase64()} (fingerprint ${await fingerprintOf(
          field,
        )}) is not the public key of its private key, ${identity.publicKeyBase64} (fingerprint ${identity.fingerprint})`,
      );
    }
    return identity;
  }

  /**
   * Loads an identity from a PEM key file written by {@linkcode Identity.save}
   * or `openssl genpkey -algorithm ed25519`.
   *
   * On POSIX systems a file that group or others may access (any of the
   * `0o077` mode bits set) is refused before its contents are read.
   *
   * @param path The key file.
   * @param options `agentId` (default: the file's `Agent-Id:` line, else `agent-` + 12 hex digits of the fingerprint).
   * @returns The identity.
   * @throws {IdentityError} Code `KEY_FILE_PERMISSIONS` if the file's mode
   *   allows group or other access; code `INVALID_KEY_FILE` if it is not an
   *   unencrypted PKCS#8 Ed25519 private key, or is not a regular file (a
   *   FIFO, device, socket or directory is refused before it is opened, so
   *   loading never blocks on one); code `PUBLIC_KEY_MISMATCH` as in
   *   {@linkcode Identity.fromPkcs8Pem}.
   * @throws {Deno.errors.NotFound} If the file does not exist.
   * @throws {TypeError} If `agentId` is not a string.
   * @throws {RangeError} If `agentId` is not 1-128 characters long.
   */
  static async load(path: string | URL, options?: IdentityOptions): Promise<Identity> {
    if (options?.agentId !== undefined) _checkAgentId(options.agentId);
    const name = pathName(path);
    // Look before opening: opening a FIFO for reading blocks until a writer
    // comes, and a device may never end.
    checkRegularFile(await Deno.stat(path), name);
    using file = await Deno.open(path, { read: true });
    const info = await file.stat();
    checkRegularFile(info, name);
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      const mode = info.mode & 0o777;
      throw new IdentityError(
        "KEY_FILE_PERMISSIONS",
        `Key file ${name} has mode 0${mode.toString(8)}, accessible to group or others; ` +
          `it must be 0600 (run: chmod 600 ${name})`,
        { path: name, mode },
      );
    }
    if (info.size > MAX_KEY_FILE_BYTES) {
      throw new IdentityError(
        "INVALID_KEY_FILE",
        `Key file ${name} is ${info.size} bytes, too large for an Ed25519 PEM key`,
        { path: name },
      );
    }
    const bytes = new Uint8Array(info.size);
    let read = 0;
    while (read < bytes.length) {
      const n = await file.read(bytes.subarray(read));
      if (n === null) break;
      read += n;
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, read));
    } catch (cause) {
      throw new IdentityError("INVALID_KEY_FILE", `Key file ${name} is not UTF-8 text`, {
        path: name,
        cause,
      });
    }
    try {
      return await Identity.fromPkcs8Pem(text, options);
    } catch (err) {
      if (err instanceof IdentityError) {
        throw new IdentityError(err.code, `Key file ${name}: ${err.message}`, {
          path: name,
          cause: err.cause,
        });
      }
      throw err;
    }
  }

  /** A copy of the raw 32-byte public key. */
  get publicKeyRaw(): Uint8Array<ArrayBuffer> {
    return this.#publicKeyRaw.slice();
  }

  /**
   * Exports the private key as PKCS#8 v1 PEM text (64-character lines,
   * trailing newline), the form the Rust transport reads.
   *
   * @returns The PEM text.
   */
  async toPkcs8Pem(): Promise<string> {
    const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", this.#privateKey));
    const body = der.toBase64().match(/.{1,64}/g)!.join("\n");
    return `-----BEGIN ${PEM_LABEL}-----\n${body}\n-----END ${PEM_LABEL}-----\n`;
  }

  /**
   * Writes the private key to `path` as PKCS#8 v1 PEM. The data goes to a new
   * file created with mode `0600` next to `path`, which is then renamed over
   * `path`; an existing file at `path` is replaced and its mode is not kept.
   *
   * With `agentId: true` the file starts with an `Agent-Id: NAME` line of
   * RFC 7468 explanatory text (openssl ignores it; {@linkcode Identity.load}
   * reads the name back).
   *
   * @param path Where to write the key.
   * @param options `agentId`: keep the agent id in the file. @default {{ agentId: false }}
   * @returns Once the file is written and synced.
   * @throws {Deno.errors.NotFound} If the directory does not exist.
   * @throws {RangeError} With `agentId: true`, if the agent id has a line break.
   */
  async save(path: string | URL, options: { agentId?: boolean } = {}): Promise<void> {
    const target = pathName(path);
    if (options.agentId === true && /[\r\n]/.test(this.agentId)) {
      throw new RangeError(
        `Cannot keep an agent id with a line break in a key file: ${JSON.stringify(this.agentId)}`,
      );
    }
    const header = options.agentId === true ? `Agent-Id: ${this.agentId}\n` : "";
    const pem = new TextEncoder().encode(header + await this.toPkcs8Pem());
    const tmp = `${target}.${randomUuid(systemRandom)}.tmp`;
    try {
      {
        using file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
        let written = 0;
        while (written < pem.length) written += await file.write(pem.subarray(written));
        await file.sync();
      }
      await Deno.rename(tmp, target);
    } catch (err) {
      await Deno.remove(tmp).catch(() => {});
      throw err;
    }
  }

  /**
   * Signs `data` with the private key (pure Ed25519, RFC 8032).
   *
   * @param data The bytes to sign.
   * @returns The 64-byte signature.
   * @throws {TypeError} If `data` is not a `Uint8Array`.
   */
  async sign(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`Expected data to be a Uint8Array, got ${typeof data}`);
    }
    this.#signer ??= ed25519.signer(this.#privateKey);
    return await this.#signer(plainBytes(data));
  }

  /** Shows the public names only, never key material. */
  [Symbol.for("Deno.customInspect")](): string {
    return `Identity { agentId: ${
      JSON.stringify(this.agentId)
    }, fingerprint: "${this.fingerprint}" }`;
  }
}
