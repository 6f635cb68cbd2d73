/**
 * The typed errors of every transport backend (their names come from the
 * specification: `RTTHandshakeError`, `RTTTransportError`,
 * `RTTBackpressureError`, `RTTReplayError`, plus `RTTDisconnectedError`).
 *
 * @module
 */

import { Web4Error, type Web4ErrorOptions } from "../errors/mod.ts";

/** Options shared by the RTT error classes. */
export interface RttErrorOptions extends Web4ErrorOptions {
  /** Fingerprint of the peer involved, when known. */
  peer?: string | undefined;
  /** Kind of the channel involved, when there is one. */
  channel?: string | undefined;
}

/** Codes of {@linkcode RTTHandshakeError}. */
export type RTTHandshakeErrorCode =
  | "FINGERPRINT_MISMATCH"
  | "PEER_NOT_ALLOWED"
  | "TLS_FAILED"
  | "HANDSHAKE_TIMEOUT"
  | "TOO_MANY_HANDSHAKES"
  | "TOO_MANY_SESSIONS";

/**
 * A session could not be established: the peer presented another
 * fingerprint than the pinned one (`FINGERPRINT_MISMATCH`), the server
 * refused us (`PEER_NOT_ALLOWED`), TLS failed (`TLS_FAILED`), the handshake
 * took too long (`HANDSHAKE_TIMEOUT`), the server had too many handshakes
 * in flight or a full session table (`TOO_MANY_HANDSHAKES`), or it holds
 * `maxSessionsPerPeer` sessions of ours or `maxSessionsPerAddress` of our
 * address (`TOO_MANY_SESSIONS`).
 *
 * @example Telling a wrong pin apart by class and code
 * ```ts
 * import { RTTHandshakeError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * function explain(err: unknown): string {
 *   if (err instanceof RTTHandshakeError && err.code === "FINGERPRINT_MISMATCH") {
 *     return `The peer is not ${err.peer}: check the pinned fingerprint`;
 *   }
 *   return "Connection failed";
 * }
 * const peer = "ab".repeat(32);
 * const err = new RTTHandshakeError("FINGERPRINT_MISMATCH", "Wrong peer", { peer });
 * assert.equal(explain(err), `The peer is not ${peer}: check the pinned fingerprint`);
 * ```
 */
export class RTTHandshakeError extends Web4Error<RTTHandshakeErrorCode, RttErrorOptions> {
  /** The fingerprint that was expected or refused, when known. */
  declare readonly peer: string | undefined;
}

/** Codes of {@linkcode RTTTransportError}. */
export type RTTTransportErrorCode = "MESSAGE_TOO_LARGE" | "TOO_MANY_CHANNELS" | "IO" | "PROTOCOL";

/**
 * The transport failed an operation: a message above `maxMessageBytes`
 * (`MESSAGE_TOO_LARGE`), more than `maxChannels` channels
 * (`TOO_MANY_CHANNELS`), a socket error (`IO`) or a broken protocol or
 * internal fault (`PROTOCOL`).
 */
export class RTTTransportError extends Web4Error<RTTTransportErrorCode, RttErrorOptions> {
  /** Fingerprint of the peer involved, when known. */
  declare readonly peer: string | undefined;
  /** Kind of the channel involved, when there is one. */
  declare readonly channel: string | undefined;
}

/** Codes of {@linkcode RTTBackpressureError}. */
export type RTTBackpressureErrorCode = "QUEUE_FULL" | "BLOCK_TIMEOUT";

/**
 * A channel's send queue is full: at once under the `error` policy
 * (`QUEUE_FULL`), or after `blockTimeoutMs` under `block` (`BLOCK_TIMEOUT`).
 */
export class RTTBackpressureError extends Web4Error<RTTBackpressureErrorCode, RttErrorOptions> {
  /** Fingerprint of the peer, when known. */
  declare readonly peer: string | undefined;
  /** Kind of the full channel. */
  declare readonly channel: string | undefined;
}

/** Options of {@linkcode RTTReplayError}. */
export interface RTTReplayErrorOptions extends RttErrorOptions {
  /** The replayed sequence number. */
  sequence?: bigint | undefined;
}

/**
 * A frame with an already acknowledged sequence number arrived on an
 * established connection. It was dropped and counted and the session kept;
 * this error is delivered as an event (`node.onEvent`, type `replay`), never
 * thrown by a call.
 */
export class RTTReplayError extends Web4Error<"REPLAY", RTTReplayErrorOptions> {
  /** Fingerprint of the peer. */
  declare readonly peer: string | undefined;
  /** Kind of the channel the frame arrived on. */
  declare readonly channel: string | undefined;
  /** The replayed sequence number. */
  declare readonly sequence: bigint | undefined;

  /**
   * Creates the error.
   *
   * @param message Message naming the peer and channel.
   * @param options `peer`, `channel`, `sequence` and `cause`.
   */
  constructor(message: string, options?: RTTReplayErrorOptions) {
    super("REPLAY", message, options);
  }
}

/** Codes of {@linkcode RTTDisconnectedError}. */
export type RTTDisconnectedErrorCode = "SESSION_CLOSED" | "CHANNEL_CLOSED" | "RESUME_TIMEOUT";

/** Options of {@linkcode RTTDisconnectedError}. */
export interface RTTDisconnectedErrorOptions extends RttErrorOptions {
  /** How many messages were not delivered. */
  undelivered?: number;
  /** The session's close reason, when known. */
  reason?: string | undefined;
}

/**
 * The session or channel is gone: closed (`SESSION_CLOSED`,
 * `CHANNEL_CLOSED`) or not resumed within the resume window
 * (`RESUME_TIMEOUT`). `undelivered` counts the messages that will never
 * reach the peer (for a refused `send`, that message).
 */
export class RTTDisconnectedError
  extends Web4Error<RTTDisconnectedErrorCode, RTTDisconnectedErrorOptions> {
  /** Number of messages that were not delivered. */
  declare readonly undelivered: number;
  /** Fingerprint of the peer, when known. */
  declare readonly peer: string | undefined;
  /** Kind of the channel involved, when there is one. */
  declare readonly channel: string | undefined;
  /** The session's close reason (`manual`, `resume_timeout`, ...), when known. */
  declare readonly reason: string | undefined;

  /**
   * Creates the error.
   *
   * @param code Which condition occurred.
   * @param message Message naming the peer or channel.
   * @param options `undelivered` (default 0), `reason`, `peer`, `channel` and `cause`.
   */
  constructor(
    code: RTTDisconnectedErrorCode,
    message: string,
    options?: RTTDisconnectedErrorOptions,
  ) {
    super(code, message, { ...options, undelivered: options?.undelivered ?? 0 });
  }
}
