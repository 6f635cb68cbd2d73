/**
 * Typed errors of the envelope layer, one class per verification step.
 *
 * @module
 */

import { Web4Error, type Web4ErrorOptions } from "../errors/mod.ts";

/** The codes an {@linkcode EnvelopeError} carries, one per verification step. */
export type EnvelopeErrorCode =
  | "INVALID_ENVELOPE"
  | "PAYLOAD_SCHEMA"
  | "FINGERPRINT_MISMATCH"
  | "SIGNATURE_MISMATCH"
  | "TIMESTAMP"
  | "TRUST_VIOLATION"
  | "REPLAY";

/**
 * Base class of every envelope error. `code` names the verification step
 * that failed and `path` is a JSON Pointer (RFC 6901) to the offending field,
 * such as `/payload/lri` (`""` for the envelope as a whole).
 */
export class EnvelopeError extends Web4Error<EnvelopeErrorCode> {
  /** JSON Pointer to the offending field (`""` for the whole envelope). */
  readonly path: string;

  /**
   * Creates an error.
   *
   * @param code The step that failed.
   * @param message Human-readable message naming the offending value.
   * @param path JSON Pointer to the offending field.
   * @param options Optional `cause`.
   */
  constructor(code: EnvelopeErrorCode, message: string, path: string, options?: Web4ErrorOptions) {
    super(code, message, options);
    this.path = path;
  }
}

/** Code `INVALID_ENVELOPE`: too large, not JSON, or a malformed envelope field. */
export class InvalidEnvelopeError extends EnvelopeError {
  /** Always `"INVALID_ENVELOPE"`. */
  declare readonly code: "INVALID_ENVELOPE";

  /**
   * Creates an error.
   *
   * @param message Human-readable message naming the offending value.
   * @param path JSON Pointer to the offending field.
   * @param options Optional `cause`.
   */
  constructor(message: string, path: string, options?: Web4ErrorOptions) {
    super("INVALID_ENVELOPE", message, path, options);
  }
}

/** Code `PAYLOAD_SCHEMA`: the payload does not match its message type's schema. */
export class PayloadSchemaError extends EnvelopeError {
  /** Always `"PAYLOAD_SCHEMA"`. */
  declare readonly code: "PAYLOAD_SCHEMA";

  /**
   * Creates an error.
   *
   * @param message Human-readable message naming the offending value.
   * @param path JSON Pointer to the offending field (under `/payload`).
   * @param options Optional `cause`.
   */
  constructor(message: string, path: string, options?: Web4ErrorOptions) {
    super("PAYLOAD_SCHEMA", message, path, options);
  }
}

/** Code `FINGERPRINT_MISMATCH`: `sender.fingerprint` is not the SHA-256 of `sender.pubkey`. */
export class FingerprintMismatchError extends EnvelopeError {
  /** Always `"FINGERPRINT_MISMATCH"`. */
  declare readonly code: "FINGERPRINT_MISMATCH";

  /**
   * Creates an error.
   *
   * @param message Human-readable message naming the fingerprints.
   * @param path JSON Pointer, normally `/sender/fingerprint`.
   * @param options Optional `cause`.
   */
  constructor(message: string, path: string, options?: Web4ErrorOptions) {
    super("FINGERPRINT_MISMATCH", message, path, options);
  }
}

/** Code `SIGNATURE_MISMATCH`: the signature does not verify under `sender.pubkey`. */
export class SignatureMismatchError extends EnvelopeError {
  /** Always `"SIGNATURE_MISMATCH"`. */
  declare readonly code: "SIGNATURE_MISMATCH";

  /**
   * Creates an error.
   *
   * @param message Human-readable message naming the sender and message.
   * @param path JSON Pointer, normally `/sign/signature`.
   * @param options Optional `cause`.
   */
  constructor(message: string, path: string, options?: Web4ErrorOptions) {
    super("SIGNATURE_MISMATCH", message, path, options);
  }
}

/** Code `TIMESTAMP`: the timestamp is outside the allowed clock skew. */
export class TimestampError extends EnvelopeError {
  /** Always `"TIMESTAMP"`. */
  declare readonly code: "TIMESTAMP";

  /**
   * Creates an error.
   *
   * @param message Human-readable message naming the timestamp.
   * @param path JSON Pointer, normally `/timestamp`.
   * @param options Optional `cause`.
   */
  constructor(message: string, path: string, options?: Web4ErrorOptions) {
    super("TIMESTAMP", message, path, options);
  }
}

/** Code `TRUST_VIOLATION`: the sender or receiver is not the one the session expects. */
export class TrustViolationError extends EnvelopeError {
  /** Always `"TRUST_VIOLATION"`. */
  declare readonly code: "TRUST_VIOLATION";

  /**
   * Creates an error.
   *
   * @param message Human-readable message naming the expected and actual party.
   * @param path JSON Pointer, e.g. `/sender/fingerprint`.
   * @param options Optional `cause`.
   */
  constructor(message: string, path: string, options?: Web4ErrorOptions) {
    super("TRUST_VIOLATION", message, path, options);
  }
}

/** Code `REPLAY`: this sender's `msg_id` was seen before, or is below the replay guard's floor. */
export class ReplayError extends EnvelopeError {
  /** Always `"REPLAY"`. */
  declare readonly code: "REPLAY";

  /**
   * Creates an error.
   *
   * @param message Human-readable message naming the sender and `msg_id`.
   * @param path JSON Pointer, normally `/msg_id` or `/timestamp`.
   * @param options Optional `cause`.
   */
  constructor(message: string, path: string, options?: Web4ErrorOptions) {
    super("REPLAY", message, path, options);
  }
}
