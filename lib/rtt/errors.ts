/**
 * The one place where native status codes become the transport's typed
 * errors ({@linkcode errorFromStatus}); the error classes themselves belong
 * to the transport contract (`lib/transport/errors.ts`).
 *
 * @module
 */

import {
  RTTBackpressureError,
  RTTDisconnectedError,
  RTTHandshakeError,
  type RTTHandshakeErrorCode,
  RTTTransportError,
} from "../transport/errors.ts";
import { Status } from "./ffi.ts";

/** What an operation was doing when a status came back; names it in messages. */
export interface StatusContext {
  /** Verb phrase, e.g. `"send on"`, `"open"`. */
  operation: string;
  /** Fingerprint of the peer, when there is a session. */
  peer?: string | undefined;
  /** Channel kind, when the call was about a channel. */
  channel?: string | undefined;
  /** The native library's error text for this call, if any. */
  detail?: string | undefined;
  /** Undelivered messages to report on a disconnected error. */
  undelivered?: number | undefined;
  /** The session's close reason, when known. */
  reason?: string | undefined;
}

/**
 * Describes the subject of a call for an error message, e.g.
 * `channel "state" of the session with peer 3f...`.
 *
 * @param ctx The call context.
 * @returns A phrase naming the channel and/or peer.
 */
export function describeSubject(ctx: Pick<StatusContext, "peer" | "channel">): string {
  const peer = ctx.peer === undefined ? undefined : `peer ${ctx.peer}`;
  if (ctx.channel !== undefined) {
    return `channel "${ctx.channel}"${peer === undefined ? "" : ` of the session with ${peer}`}`;
  }
  return peer === undefined ? "the node" : `the session with ${peer}`;
}

/**
 * Turns a negative native status into the typed error the ABI table in
 * `docs/rtt.md` assigns to it. Not for `OK`, `WOULD_BLOCK` or
 * `BUFFER_TOO_SMALL`, which callers handle themselves.
 *
 * @param status The native status code (negative).
 * @param ctx What was being done, to whom.
 * @returns The error to throw.
 *
 * @example Mapping a full queue
 * ```ts
 * import { errorFromStatus } from "./errors.ts";
 * import { RTTBackpressureError } from "../transport/errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = errorFromStatus(-3, { operation: "send on", channel: "state" });
 * assert.ok(err instanceof RTTBackpressureError);
 * assert.equal(err.code, "QUEUE_FULL");
 * ```
 */
export function errorFromStatus(status: number, ctx: StatusContext): Error {
  const subject = describeSubject(ctx);
  const detail = ctx.detail === undefined || ctx.detail === "" ? "" : `: ${ctx.detail}`;
  const opts = { peer: ctx.peer, channel: ctx.channel };
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  switch (status) {
    case Status.INVALID_ARGUMENT:
      return new RangeError(`Invalid argument to ${ctx.operation} ${subject}${detail}`);
    case Status.UNKNOWN_HANDLE:
    case Status.SESSION_CLOSED:
    case Status.SHUT_DOWN:
      return new RTTDisconnectedError(
        ctx.reason === "resume_timeout" ? "RESUME_TIMEOUT" : "SESSION_CLOSED",
        `Cannot ${ctx.operation} ${subject}: the session is closed${
          status === Status.SHUT_DOWN ? " (node shut down)" : ""
        }${ctx.reason === undefined ? "" : ` (reason ${ctx.reason})`}${detail}`,
        { ...opts, undelivered: ctx.undelivered ?? 0, reason: ctx.reason },
      );
    case Status.CHANNEL_CLOSED:
      return new RTTDisconnectedError(
        "CHANNEL_CLOSED",
        `Cannot ${ctx.operation} ${subject}: the channel is closed${detail}`,
        { ...opts, undelivered: ctx.undelivered ?? 0 },
      );
    case Status.QUEUE_FULL:
      return new RTTBackpressureError(
        "QUEUE_FULL",
        `Send queue of ${subject} is full (policy "error")${detail}`,
        opts,
      );
    case Status.BLOCK_TIMEOUT:
      return new RTTBackpressureError(
        "BLOCK_TIMEOUT",
        `Send queue of ${subject} stayed full until the block timeout${detail}`,
        opts,
      );
    case Status.MESSAGE_TOO_LARGE:
      return new RTTTransportError(
        "MESSAGE_TOO_LARGE",
        `Message too large for ${subject}${detail}`,
        opts,
      );
    case Status.TOO_MANY_CHANNELS:
      return new RTTTransportError(
        "TOO_MANY_CHANNELS",
        `Too many channels on ${subject}${detail}`,
        opts,
      );
    case Status.IO:
      return new RTTTransportError(
        "IO",
        `${cap(ctx.operation)} ${subject} failed (I/O)${detail}`,
        opts,
      );
    case Status.PROTOCOL:
      return new RTTTransportError(
        "PROTOCOL",
        `${cap(ctx.operation)} ${subject} failed (protocol error)${detail}`,
        opts,
      );
    case Status.INTERNAL:
      return new RTTTransportError(
        "PROTOCOL",
        `${cap(ctx.operation)} ${subject} failed (internal error in the native library)${detail}`,
        opts,
      );
    default:
      return new RTTTransportError(
        "PROTOCOL",
        `${cap(ctx.operation)} ${subject} failed with unknown native status ${status}${detail}`,
        opts,
      );
  }
}

/** What each handshake code of a CONNECT_FAILED event means, for the message. */
const HANDSHAKE_FAILURES: Readonly<Record<RTTHandshakeErrorCode, (target: string) => string>> = {
  FINGERPRINT_MISMATCH: (t) => `the peer at ${t} did not present the pinned fingerprint`,
  PEER_NOT_ALLOWED: (t) => `the peer at ${t} does not allow our fingerprint`,
  TLS_FAILED: (t) => `the TLS handshake with ${t} failed`,
  HANDSHAKE_TIMEOUT: (t) => `the handshake with ${t} timed out`,
  TOO_MANY_HANDSHAKES: (t) => `the peer at ${t} has too many handshakes in flight`,
  TOO_MANY_SESSIONS: (t) => `the peer at ${t} holds too many sessions of ours or of our address`,
};

function _isHandshakeCode(code: string): code is RTTHandshakeErrorCode {
  return Object.hasOwn(HANDSHAKE_FAILURES, code);
}

/**
 * Turns a CONNECT_FAILED event's `{code, message}` into a typed error.
 * Handshake codes give {@linkcode RTTHandshakeError}; `IO` and anything
 * unknown give {@linkcode RTTTransportError}.
 *
 * @param code The code from the event payload.
 * @param message The native message, if any.
 * @param target `host:port` that was dialled.
 * @param fingerprint The pinned fingerprint.
 * @returns The error to reject `connect()` with.
 */
export function connectError(
  code: string,
  message: string | undefined,
  target: string,
  fingerprint: string,
): Error {
  const detail = message === undefined || message === "" ? "" : `: ${message}`;
  if (_isHandshakeCode(code)) {
    return new RTTHandshakeError(
      code,
      `Cannot connect to peer ${fingerprint}: ${HANDSHAKE_FAILURES[code](target)}${detail}`,
      { peer: fingerprint },
    );
  }
  return new RTTTransportError(
    code === "IO" ? "IO" : "PROTOCOL",
    `Cannot connect to peer ${fingerprint} at ${target} (${code})${detail}`,
    { peer: fingerprint },
  );
}
