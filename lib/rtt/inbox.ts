/**
 * Internal: the receive side of one `RttChannel`: messages read ahead from
 * the library as the application reads (so the peer's credit, and memory,
 * stays bounded), into a shared buffer that grows for large messages, or a
 * buffer of a large message's exact size. Not exported from `mod.ts`.
 *
 * @module
 */

import { Status } from "./ffi.ts";
import { decodeMessageRecords } from "./events.ts";
import type { SessionLink } from "./channel.ts";

/** Bit 31 of `channel_recv`'s `*out_left`: a connection has output to write. */
const RECV_TRANSMIT = 0x8000_0000;

/**
 * A channel's first receive buffer, made at its first pull: most channels
 * carry small messages, and every session's channels pay for their buffers
 * at set-up.
 */
const RECV_BUFFER_MIN_BYTES = 16 * 1024;
/**
 * The read-ahead a busy channel reaches (credit returns as the app reads):
 * a pull that leaves messages in the library doubles the buffer up to this
 * size for the next pull.
 */
const RECV_BUFFER_BYTES = 64 * 1024;
/**
 * The receive buffer grows (doubling) up to this size when a message does not
 * fit, so a stream of large messages takes one library call each instead of a
 * failed call and a one-off buffer; larger messages still use a one-off buffer.
 */
const RECV_BUFFER_MAX_BYTES = 1024 * 1024;

/**
 * A message at least this large is received alone into a buffer of its exact
 * size (`web4_rtt_channel_recv_message`): one copy, into the memory the
 * application gets, instead of a copy into the shared receive buffer and
 * another out of it.
 */
const RECV_EXACT_MIN_BYTES = 16 * 1024;

/** Reasons after which a drained channel ends with `null` rather than an error. */
const CLEAN_CLOSE_REASONS: ReadonlySet<string> = new Set(["manual", "peer_closed", "shutdown"]);

/** Makes the channel's typed error for a status. */
export type ChannelErrorOf = (status: number, operation: string, undelivered: number) => Error;

/** The read-ahead of one channel. */
export class ChannelInbox {
  /** The peer closed its side (and everything before was read ahead). */
  peerClosed = false;
  /** The session ended: nothing more comes from the library. */
  sessionEnded = false;
  #link: SessionLink;
  #id: number;
  #error: ChannelErrorOf;
  /** Read-ahead messages; a slot before `#inboxHead` was returned and is emptied (`undefined`). */
  #inbox: (Uint8Array<ArrayBuffer> | undefined)[] = [];
  #inboxHead = 0;
  /** Made at the first pull (see {@linkcode RECV_BUFFER_MIN_BYTES}). */
  #recvBuf: Uint8Array<ArrayBuffer> | undefined;
  #needed = new Uint32Array(1);
  #maybeReady = true;
  /** The next message's record size in the library, when the last pull said (else 0). */
  #nextRecord = 0;

  /**
   * @param link The channel's session.
   * @param id The channel id.
   * @param error Makes the channel's typed error for a status.
   */
  constructor(link: SessionLink, id: number, error: ChannelErrorOf) {
    this.#link = link;
    this.#id = id;
    this.#error = error;
  }

  /** Messages read ahead and not yet returned. */
  get buffered(): number {
    return this.#inbox.length - this.#inboxHead;
  }

  /** The library has something for this channel (READABLE): the next read pulls. */
  readable(): void {
    this.#maybeReady = true;
  }

  /**
   * The next message: a message, `null` at the end, `undefined` when none is ready yet.
   *
   * @returns The message, `null` or `undefined`.
   * @throws {RTTDisconnectedError} When the session ended abnormally.
   */
  next(): Uint8Array<ArrayBuffer> | null | undefined {
    if (this.#inboxHead < this.#inbox.length) {
      const msg = this.#inbox[this.#inboxHead]!;
      this.#inbox[this.#inboxHead++] = undefined; // let the consumed message go
      if (this.#inboxHead === this.#inbox.length) {
        this.#inbox = [];
        this.#inboxHead = 0;
      }
      return msg;
    }
    if (this.peerClosed) return null;
    if (!this.sessionEnded && !this.#link.released()) {
      // Pull only when the library may hold something (READABLE since the
      // last empty pull): an empty pull per receive is a wasted call.
      if (this.#maybeReady && this.pull()) return this.next();
      if (this.peerClosed) return null;
      return undefined;
    }
    const reason = this.#link.closedReason();
    if (this.sessionEnded && (reason === undefined || CLEAN_CLOSE_REASONS.has(reason))) {
      return null;
    }
    if (this.sessionEnded || this.#link.released()) {
      throw this.#error(Status.SESSION_CLOSED, "receive on", 0);
    }
    return undefined;
  }

  /**
   * Pulls one batch from the library; true when messages were added.
   *
   * @param retry Whether a large message found too large for the shared
   * buffer may be retried alone (false in that retry, so it happens once).
   * @returns Whether messages were added.
   */
  pull(retry = true): boolean {
    const core = this.#link.core;
    if (this.#nextRecord - 4 >= RECV_EXACT_MIN_BYTES) {
      // A large message is next: straight into a buffer of its own.
      const msg = new Uint8Array(this.#nextRecord - 4);
      this.#needed[0] = 0;
      const n = core.symbols.web4_rtt_channel_recv_message(
        core.handle,
        this.#link.handle,
        this.#id,
        msg,
        msg.length,
        this.#needed,
      );
      const left = this.#needed[0]! & ~RECV_TRANSMIT;
      if ((this.#needed[0]! & RECV_TRANSMIT) !== 0) core.outputPending();
      if (n === msg.length) {
        this.#nextRecord = left;
        if (left === 0) this.#maybeReady = false;
        this.#inbox.push(msg);
        return true;
      }
      // Not what was announced (or an error): the general path decides.
    }
    this.#nextRecord = 0;
    let buf = this.#recvBuf ??= new Uint8Array(RECV_BUFFER_MIN_BYTES);
    for (let attempt = 0; attempt < 2; attempt++) {
      this.#needed[0] = 0;
      const n = core.symbols.web4_rtt_channel_recv(
        core.handle,
        this.#link.handle,
        this.#id,
        buf,
        buf.length,
        this.#needed,
      );
      const left = this.#needed[0]! & ~RECV_TRANSMIT;
      // Reading returned credit: a grant due at once must go out.
      if ((this.#needed[0]! & RECV_TRANSMIT) !== 0) core.outputPending();
      if (n > 0) {
        // `left` says whether anything is still in the library.
        if (left === 0) this.#maybeReady = false;
        this.#nextRecord = left;
        decodeMessageRecords(buf, n, this.#inbox);
        // More waits than fitted: a larger read-ahead for the next pull.
        if (left !== 0 && buf === this.#recvBuf && buf.length < RECV_BUFFER_BYTES) {
          this.#recvBuf = new Uint8Array(buf.length * 2);
        }
        return true;
      }
      if (n === 0) {
        const needed = left;
        if (needed === 0) {
          this.#maybeReady = false;
          return false;
        }
        if (retry && needed - 4 >= RECV_EXACT_MIN_BYTES) {
          // A large message: into a buffer of its own (above), not a larger shared one.
          this.#nextRecord = needed;
          return this.pull(false);
        }
        if (needed <= RECV_BUFFER_MAX_BYTES) {
          // Keep the larger buffer for the messages that follow.
          let size = buf.length * 2;
          while (size < needed) size *= 2;
          buf = new Uint8Array(Math.min(size, RECV_BUFFER_MAX_BYTES));
          this.#recvBuf = buf;
        } else {
          // One message larger than the largest buffer: a one-off buffer for it.
          buf = new Uint8Array(needed);
        }
        continue;
      }
      if (n === Status.CHANNEL_CLOSED) {
        this.peerClosed = true;
        return false;
      }
      if (
        n === Status.SESSION_CLOSED || n === Status.UNKNOWN_HANDLE || n === Status.SHUT_DOWN
      ) {
        this.sessionEnded = true;
        return false;
      }
      throw this.#error(n, "receive on", 0);
    }
    return false;
  }
}
