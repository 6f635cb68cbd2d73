/**
 * The enrolled person's proof: what makes a console request the person's.
 * The console token lets a browser in; only the person's key (Ed25519,
 * non-extractable in the browser) unlocks the person's history. The page
 * asks for a challenge (`POST /api/proof/challenge`), signs
 * {@linkcode proofText} with the person's key and posts it
 * (`POST /api/proof`); the answer is a per-page credential, sent with every
 * later request (`X-Web4-Person`, or `?person=` for the event stream).
 *
 * A challenge lives {@linkcode PROOF_CHALLENGE_MS} and is used once; at most
 * {@linkcode PROOF_MAX_CHALLENGES} are outstanding and at most
 * {@linkcode PROOF_MAX_CREDENTIALS} credentials held (the oldest goes). A
 * credential is the person's only while that key is the agent's person.
 *
 * @module
 */

import { fingerprintOf, verifyEd25519 } from "../../lib/identity/mod.ts";

/** How long a challenge can be answered, in milliseconds. */
export const PROOF_CHALLENGE_MS = 60_000;
/** The most challenges outstanding at once (the oldest is dropped). */
export const PROOF_MAX_CHALLENGES = 16;
/** The most per-page credentials held at once (the oldest is dropped). */
export const PROOF_MAX_CREDENTIALS = 8;
/** The domain separation of the signed text. */
const _CONTEXT = "web4-console-person-proof/1";

/**
 * The text the person's key signs: domain-separated, bound to the agent and
 * to one challenge.
 *
 * @param agentFingerprint The agent's fingerprint.
 * @param challenge The server's challenge.
 * @returns The UTF-8 bytes to sign.
 *
 * @example
 * ```ts
 * import { proofText } from "./proof.ts";
 * const text = new TextDecoder().decode(proofText("ab".repeat(32), "c1"));
 * if (!text.startsWith("web4-console-person-proof/1\n")) throw new Error();
 * ```
 */
export function proofText(agentFingerprint: string, challenge: string): Uint8Array {
  return new TextEncoder().encode(`${_CONTEXT}\n${agentFingerprint}\n${challenge}`);
}

/** What a proof post carries. */
export interface PersonProofPost {
  /** The challenge answered. */
  challenge: string;
  /** The signer's raw public key, standard base64. */
  publicKey: string;
  /** The Ed25519 signature over {@linkcode proofText}, standard base64. */
  signature: string;
}

/** Options of {@linkcode PersonProofs}. */
export interface PersonProofsOptions {
  /** The agent's fingerprint (bound into the signed text). */
  agentFingerprint: string;
  /** The clock, in milliseconds. */
  now: () => number;
  /** Random bytes (challenges and credentials). */
  random: (length: number) => Uint8Array;
}

/**
 * The console's challenges and the person's credentials.
 *
 * @example
 * ```ts
 * import { Identity } from "../../lib/identity/mod.ts";
 * import { PersonProofs, proofText } from "./proof.ts";
 * const person = await Identity.generate();
 * const proofs = new PersonProofs({
 *   agentFingerprint: "ab".repeat(32),
 *   now: () => 0,
 *   random: (n) => crypto.getRandomValues(new Uint8Array(n)),
 * });
 * const challenge = proofs.challenge();
 * const signature = await person.sign(proofText("ab".repeat(32), challenge));
 * const credential = await proofs.prove({
 *   challenge,
 *   publicKey: person.publicKeyBase64,
 *   signature: signature.toBase64(),
 * }, person.fingerprint);
 * if (typeof credential !== "string" || !proofs.isPerson(credential, person.fingerprint)) {
 *   throw new Error();
 * }
 * ```
 */
export class PersonProofs {
  readonly #options: PersonProofsOptions;
  /** Outstanding challenges and when each expires. */
  readonly #challenges = new Map<string, number>();
  /** Credentials and whose key proved them. */
  readonly #credentials = new Map<string, string>();

  /**
   * Makes an empty set of challenges and credentials.
   *
   * @param options The agent's fingerprint, the clock and the random source.
   */
  constructor(options: PersonProofsOptions) {
    this.#options = options;
  }

  /**
   * A new challenge (single use, {@linkcode PROOF_CHALLENGE_MS}).
   *
   * @returns The challenge.
   */
  challenge(): string {
    const c = this.#options.random(24).toHex();
    this.#challenges.set(c, this.#options.now() + PROOF_CHALLENGE_MS);
    while (this.#challenges.size > PROOF_MAX_CHALLENGES) {
      this.#challenges.delete(this.#challenges.keys().next().value!);
    }
    return c;
  }

  /**
   * Checks a proof: an outstanding, unexpired challenge (used up now),
   * signed by `person`'s key.
   *
   * @param post The proof.
   * @param person The enrolled person's fingerprint (`undefined`: none).
   * @returns A per-page credential, or why not.
   */
  async prove(
    post: PersonProofPost,
    person: string | undefined,
  ): Promise<string | { error: string }> {
    const expires = this.#challenges.get(post.challenge);
    this.#challenges.delete(post.challenge);
    if (expires === undefined) return { error: "unknown or already used challenge" };
    if (this.#options.now() > expires) return { error: "expired challenge" };
    if (person === undefined) return { error: "no person is enrolled" };
    let key: Uint8Array;
    let signature: Uint8Array;
    try {
      key = Uint8Array.fromBase64(post.publicKey);
      signature = Uint8Array.fromBase64(post.signature);
    } catch {
      return { error: "publicKey and signature must be standard base64" };
    }
    if (key.length !== 32) return { error: "publicKey must be a raw 32-byte Ed25519 key" };
    if (await fingerprintOf(key) !== person) return { error: "not the enrolled person's key" };
    const text = proofText(this.#options.agentFingerprint, post.challenge);
    if (!await verifyEd25519(key, text, signature)) return { error: "bad signature" };
    const credential = this.#options.random(32).toHex();
    this.#credentials.set(credential, person);
    while (this.#credentials.size > PROOF_MAX_CREDENTIALS) {
      this.#credentials.delete(this.#credentials.keys().next().value!);
    }
    return credential;
  }

  /**
   * Whether `credential` was proved by `person`'s key.
   *
   * @param credential The request's credential (`null`: none).
   * @param person The enrolled person's fingerprint (`undefined`: none).
   * @returns Whether the request is the person's.
   */
  isPerson(credential: string | null, person: string | undefined): boolean {
    if (credential === null || person === undefined) return false;
    return this.#credentials.get(credential) === person;
  }
}

/**
 * Reads a proof post's body.
 *
 * @param body The parsed JSON.
 * @returns The post, or `null` when it is not one.
 */
export function proofPostOf(body: unknown): PersonProofPost | null {
  const b = body as Partial<Record<keyof PersonProofPost, unknown>> | null;
  if (typeof b !== "object" || b === null) return null;
  const { challenge, publicKey, signature } = b;
  if (typeof challenge !== "string" || challenge.length > 128) return null;
  if (typeof publicKey !== "string" || publicKey.length > 64) return null;
  if (typeof signature !== "string" || signature.length > 128) return null;
  return { challenge, publicKey, signature };
}
