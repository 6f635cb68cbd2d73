/**
 * Decoding of the native event records that `web4_rtt_node_poll` copies out
 * (format: `docs/rtt.md`, "Event records"). Pure functions over bytes.
 *
 * @module
 */

import { RTTTransportError } from "../transport/errors.ts";

/** Size of a record header in bytes. */
export const EVENT_HEADER_BYTES = 32;

/** One decoded event record. */
export interface EventRecord {
  /** The kind (see `EventKind` in `ffi.ts`). */
  kind: number;
  /** Session handle, `0n` if none. */
  session: bigint;
  /** Operation id, or channel id for channel events. */
  op: bigint;
  /** Kind-specific value. */
  value: bigint;
  /** The parsed JSON payload, or `undefined` when there is none. */
  payload: Record<string, unknown> | undefined;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes the event records in `bytes[0, length)`.
 *
 * @param bytes The poll buffer.
 * @param length How many bytes the poll wrote.
 * @returns The records, in order.
 * @throws {RTTTransportError} `PROTOCOL` when the bytes are not well-formed records.
 *
 * @example Decoding one record without payload
 * ```ts
 * import { decodeEventRecords } from "./events.ts";
 * import assert from "node:assert/strict";
 *
 * const buf = new Uint8Array(32);
 * const view = new DataView(buf.buffer);
 * view.setUint32(0, 8, true); // READABLE
 * view.setBigUint64(8, 7n, true); // session 7
 * view.setBigUint64(16, 2n, true); // channel 2
 * const [rec] = decodeEventRecords(buf, 32);
 * assert.equal(rec?.kind, 8);
 * assert.equal(rec?.op, 2n);
 * ```
 */
export function decodeEventRecords(bytes: Uint8Array, length: number): EventRecord[] {
  if (!Number.isInteger(length) || length < 0 || length > bytes.length) {
    throw new RTTTransportError(
      "PROTOCOL",
      `Event buffer length ${length} is outside the buffer of ${bytes.length} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  const out: EventRecord[] = [];
  let at = 0;
  while (at < length) {
    if (length - at < EVENT_HEADER_BYTES) {
      throw new RTTTransportError(
        "PROTOCOL",
        `Truncated event record header at byte ${at} (${length - at} bytes left)`,
      );
    }
    const kind = view.getUint32(at, true);
    const payloadLen = view.getUint32(at + 4, true);
    const session = view.getBigUint64(at + 8, true);
    const op = view.getBigUint64(at + 16, true);
    const value = view.getBigInt64(at + 24, true);
    const start = at + EVENT_HEADER_BYTES;
    if (payloadLen > length - start) {
      throw new RTTTransportError(
        "PROTOCOL",
        `Event record of kind ${kind} at byte ${at} claims ${payloadLen} payload bytes, ` +
          `only ${length - start} remain`,
      );
    }
    let payload: Record<string, unknown> | undefined;
    if (payloadLen > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(decoder.decode(bytes.subarray(start, start + payloadLen)));
      } catch (cause) {
        throw new RTTTransportError(
          "PROTOCOL",
          `Event record of kind ${kind} at byte ${at} has a payload that is not UTF-8 JSON`,
          { cause },
        );
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new RTTTransportError(
          "PROTOCOL",
          `Event record of kind ${kind} at byte ${at} has a payload that is not a JSON object`,
        );
      }
      payload = parsed as Record<string, unknown>;
    }
    out.push({ kind, session, op, value, payload });
    // Padding to a multiple of 8; the last record's padding may be cut off.
    at = Math.min(length, start + Math.ceil(payloadLen / 8) * 8);
  }
  return out;
}

/**
 * Whether the event records in `bytes[0, length)` include one of `kind`,
 * read from the record headers alone (nothing is decoded or allocated);
 * `false` for bytes that are not well-formed records (decoding them reports
 * that).
 *
 * @param bytes The poll buffer.
 * @param length How many bytes the poll wrote.
 * @param kind The record kind (see `EventKind` in `ffi.ts`).
 * @returns Whether such a record is there.
 *
 * @example
 * ```ts
 * import { encodeEventRecords, hasEventRecord } from "./events.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeEventRecords([
 *   { kind: 8, session: 7n, op: 2n, value: 0n, payload: undefined },
 *   { kind: 1, session: 9n, op: 0n, value: 0n, payload: { id: "ab", peer: "cd" } },
 * ]);
 * assert.equal(hasEventRecord(bytes, bytes.length, 1), true); // ACCEPTED
 * assert.equal(hasEventRecord(bytes, bytes.length, 2), false); // CONNECTED
 * ```
 */
export function hasEventRecord(bytes: Uint8Array, length: number, kind: number): boolean {
  if (!Number.isInteger(length) || length < 0 || length > bytes.length) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  for (let at = 0; length - at >= EVENT_HEADER_BYTES;) {
    if (view.getUint32(at, true) === kind) return true;
    at += EVENT_HEADER_BYTES + Math.ceil(view.getUint32(at + 4, true) / 8) * 8;
  }
  return false;
}

/**
 * Encodes event records in the native format. The inverse of
 * {@linkcode decodeEventRecords}; used by tests and by fakes of the native
 * library.
 *
 * @param records The records to encode (`payload` is serialised as JSON).
 * @returns The bytes.
 */
export function encodeEventRecords(records: readonly EventRecord[]): Uint8Array<ArrayBuffer> {
  const encoder = new TextEncoder();
  const payloads = records.map((r) =>
    r.payload === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify(r.payload))
  );
  const total = payloads.reduce(
    (sum, p) => sum + EVENT_HEADER_BYTES + Math.ceil(p.length / 8) * 8,
    0,
  );
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  records.forEach((r, i) => {
    const p = payloads[i]!;
    view.setUint32(at, r.kind, true);
    view.setUint32(at + 4, p.length, true);
    view.setBigUint64(at + 8, r.session, true);
    view.setBigUint64(at + 16, r.op, true);
    view.setBigInt64(at + 24, r.value, true);
    out.set(p, at + EVENT_HEADER_BYTES);
    at += EVENT_HEADER_BYTES + Math.ceil(p.length / 8) * 8;
  });
  return out;
}

/** Where {@linkcode decodeMessageRecords} appends messages (an array, or a queue with free slots). */
export interface MessageSink {
  /** Appends one message. */
  push(message: Uint8Array<ArrayBuffer>): unknown;
}

/**
 * Splits the `[u32 len LE][bytes]` message records of `web4_rtt_channel_recv`
 * into copies of each message.
 *
 * @param bytes The receive buffer.
 * @param length How many bytes the call wrote.
 * @param out Where the messages are appended (a new array by default).
 * @returns `out`, with the messages appended in order (each its own `ArrayBuffer`).
 * @throws {RTTTransportError} `PROTOCOL` when a record is truncated.
 */
export function decodeMessageRecords(bytes: Uint8Array, length: number): Uint8Array<ArrayBuffer>[];
export function decodeMessageRecords<Out extends MessageSink>(
  bytes: Uint8Array,
  length: number,
  out: Out,
): Out;
export function decodeMessageRecords(
  bytes: Uint8Array,
  length: number,
  out: MessageSink = [],
): MessageSink {
  let at = 0;
  while (at < length) {
    if (length - at < 4) {
      throw new RTTTransportError("PROTOCOL", `Truncated message length at byte ${at}`);
    }
    // Little-endian u32, read without a DataView (this runs for every pull).
    const len = (bytes[at]! | bytes[at + 1]! << 8 | bytes[at + 2]! << 16 | bytes[at + 3]! << 24) >>>
      0;
    if (len > length - at - 4) {
      throw new RTTTransportError(
        "PROTOCOL",
        `Message record at byte ${at} claims ${len} bytes, only ${length - at - 4} remain`,
      );
    }
    out.push(bytes.slice(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

/**
 * A native event, decoded once into its typed form (the only place where
 * event payloads are read). `session` is the native session handle.
 */
export type NativeEvent =
  | { type: "accepted"; session: bigint; id: string; peer: string }
  | { type: "connected"; conn: number; session: bigint; id: string; peer: string }
  | { type: "connect_failed"; conn: number; code: string; message: string }
  | { type: "session_open"; session: bigint; resumed: boolean; reconnects: number }
  | { type: "connection_lost"; session: bigint; reason: string }
  | { type: "heartbeat_timeout"; session: bigint }
  | {
    type: "session_close";
    session: bigint;
    reason: string;
    message: string | undefined;
    undelivered: number;
  }
  | { type: "readable"; session: bigint; channel: number }
  | { type: "writable"; session: bigint; channel: number }
  | { type: "drop"; session: bigint; channel: string; cause: string; count: number }
  | { type: "replay"; session: bigint; channel: string; sequence: bigint; count: number }
  | { type: "flushed"; session: bigint; op: number }
  | { type: "flush_failed"; session: bigint; op: number; undelivered: number; reason: string }
  | { type: "rekey"; session: bigint; rekeys: number }
  | { type: "verification_failure"; code: string; peer: string; message: string }
  | { type: "dial"; session: bigint }
  | { type: "close_conn"; conn: number };

/**
 * Receives a READABLE (`writable` false) or WRITABLE (`writable` true) event
 * of channel `channel` of session `session`, without an event object (see
 * {@linkcode decodeNativeEvents}).
 */
export type ChannelEventSink = (session: bigint, channel: number, writable: boolean) => void;

/** The last poll buffer {@linkcode decodeNativeEvents} read, and its view. */
let _viewOf: Uint8Array | undefined;
let _view: DataView | undefined;

/** The last session handle decoded, and its two halves (see {@linkcode decodeNativeEvents}). */
let _lastSession: bigint | undefined;
let _lastLo = 0;
let _lastHi = 0;

function _str(p: Record<string, unknown> | undefined, key: string, fallback: string): string {
  const v = p?.[key];
  return typeof v === "string" ? v : fallback;
}

/**
 * Turns one raw record into its typed event.
 *
 * @param r The record.
 * @returns The event, or `undefined` for a kind this module does not know.
 */
export function toNativeEvent(r: EventRecord): NativeEvent | undefined {
  return _typed(r.kind, r.session, r.op, r.value, r.payload);
}

function _typed(
  kind: number,
  session: bigint,
  op: bigint,
  value: bigint,
  p: Record<string, unknown> | undefined,
): NativeEvent | undefined {
  const r = { session, op, value };
  switch (kind) {
    case 1:
      return {
        type: "accepted",
        session: r.session,
        id: _str(p, "id", ""),
        peer: _str(p, "peer_fingerprint", ""),
      };
    case 2:
      return {
        type: "connected",
        conn: Number(r.op),
        session: r.session,
        id: _str(p, "id", ""),
        peer: _str(p, "peer_fingerprint", ""),
      };
    case 3:
      return {
        type: "connect_failed",
        conn: Number(r.op),
        code: _str(p, "code", "IO"),
        message: _str(p, "message", ""),
      };
    case 4:
      return {
        type: "session_open",
        session: r.session,
        resumed: p?.["resumed"] === true,
        reconnects: Number(r.value),
      };
    case 5:
      return { type: "connection_lost", session: r.session, reason: _str(p, "reason", "io") };
    case 6:
      return { type: "heartbeat_timeout", session: r.session };
    case 7:
      return {
        type: "session_close",
        session: r.session,
        reason: _str(p, "reason", "manual"),
        message: typeof p?.["message"] === "string" ? p["message"] as string : undefined,
        undelivered: Number(r.value),
      };
    case 8:
      return { type: "readable", session: r.session, channel: Number(r.op) };
    case 9:
      return { type: "writable", session: r.session, channel: Number(r.op) };
    case 10:
      return {
        type: "drop",
        session: r.session,
        channel: _str(p, "channel", ""),
        cause: _str(p, "cause", "drop"),
        count: Number(r.value),
      };
    case 11:
      return {
        type: "replay",
        session: r.session,
        channel: _str(p, "channel", ""),
        sequence: BigInt.asUintN(64, r.value),
        count: Number(r.op),
      };
    case 12:
      return { type: "flushed", session: r.session, op: Number(r.op) };
    case 13:
      return {
        type: "flush_failed",
        session: r.session,
        op: Number(r.op),
        undelivered: Number(r.value),
        reason: _str(p, "reason", "session closed"),
      };
    case 14:
      return { type: "rekey", session: r.session, rekeys: Number(r.value) };
    case 15:
      return {
        type: "verification_failure",
        code: _str(p, "code", "TLS_FAILED"),
        peer: _str(p, "peer_fingerprint", ""),
        message: _str(p, "message", ""),
      };
    case 16:
      return { type: "dial", session: r.session };
    case 17:
      return { type: "close_conn", conn: Number(r.op) };
    default:
      return undefined;
  }
}

/**
 * Decodes the event records in `bytes[0, length)` straight into typed
 * events, calling `emit` with each (one pass, no intermediate records: this
 * runs for every message received).
 *
 * @param bytes The poll buffer.
 * @param length How many bytes the poll wrote.
 * @param emit Receives each event in order.
 * @param channelEvent When given, receives the READABLE and WRITABLE events
 * instead of `emit`, as their fields (one per message received: no event
 * object is made for them).
 * @throws {RTTTransportError} `PROTOCOL` when the bytes are not well-formed records.
 */
export function decodeNativeEvents(
  bytes: Uint8Array,
  length: number,
  emit: (event: NativeEvent) => void,
  channelEvent?: ChannelEventSink,
): void {
  if (length <= 0) return;
  if (length > bytes.length) {
    throw new RTTTransportError(
      "PROTOCOL",
      `Event buffer length ${length} is outside the buffer of ${bytes.length} bytes`,
    );
  }
  // One view per poll buffer, kept while the same buffer comes back (a batch
  // per message received); every read below stays under `length`.
  if (bytes !== _viewOf) {
    _view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    _viewOf = bytes;
  }
  const view = _view!;
  let at = 0;
  while (at < length) {
    if (length - at < EVENT_HEADER_BYTES) {
      throw new RTTTransportError("PROTOCOL", `Truncated event record header at byte ${at}`);
    }
    const kind = view.getUint32(at, true);
    const payloadLen = view.getUint32(at + 4, true);
    const start = at + EVENT_HEADER_BYTES;
    if (payloadLen > length - start) {
      // The slow path reports the exact problem.
      decodeEventRecords(bytes, length);
    }
    // The session handle: the same BigInt as the previous record's when the
    // bytes match (a batch is mostly one session's), so no allocation.
    const lo = view.getUint32(at + 8, true);
    const hi = view.getUint32(at + 12, true);
    if (lo !== _lastLo || hi !== _lastHi || _lastSession === undefined) {
      _lastSession = view.getBigUint64(at + 8, true);
      _lastLo = lo;
      _lastHi = hi;
    }
    const session = _lastSession;
    if ((kind === 8 || kind === 9) && payloadLen === 0) {
      // READABLE / WRITABLE, one per message or per room freed: no payload,
      // the channel id is the low half of `op`; no BigInt beyond the session.
      const channel = view.getUint32(at + 16, true);
      if (channelEvent !== undefined) {
        channelEvent(session, channel, kind === 9);
      } else {
        emit({ type: kind === 8 ? "readable" : "writable", session, channel });
      }
    } else {
      const payload = payloadLen === 0
        ? undefined
        : decodeEventRecords(bytes.subarray(at, start + payloadLen), start + payloadLen - at)[0]
          ?.payload;
      const event = _typed(
        kind,
        session,
        view.getBigUint64(at + 16, true),
        view.getBigInt64(at + 24, true),
        payload,
      );
      if (event !== undefined) emit(event);
    }
    at = Math.min(length, start + Math.ceil(payloadLen / 8) * 8);
  }
}
