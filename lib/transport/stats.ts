/**
 * Statistics objects of every transport backend (the native snake_case
 * JSON converted into plain camelCase objects).
 *
 * @module
 */

/** Queue and traffic statistics of a channel or a session. */
export interface TransportStats {
  /** Sends attempted. */
  attempted: number;
  /** Messages accepted into the send queue. */
  enqueued: number;
  /** Queued messages evicted by `drop_oldest`. */
  droppedOldest: number;
  /** Incoming messages refused by `drop_newest`. */
  droppedNewest: number;
  /** `droppedOldest + droppedNewest`. */
  dropped: number;
  /** Sends that had to wait (`block`). */
  blocked: number;
  /** Sends that failed (`error` policy, block timeout). */
  errors: number;
  /** Times a send found the queue full. */
  overflowEvents: number;
  /** Longest the send queue has been. */
  maxQueueLen: number;
  /** Payload bytes received. */
  bytesIn: number;
  /** Payload bytes sent. */
  bytesOut: number;
  /** Messages received. */
  messagesIn: number;
  /** Messages sent. */
  messagesOut: number;
  /** Heartbeat round trip, median, microseconds. */
  latencyP50Us: number;
  /** Heartbeat round trip, 95th percentile, microseconds. */
  latencyP95Us: number;
  /** Connections resumed. */
  reconnects: number;
  /** Replayed frames dropped. */
  replays: number;
  /** TLS key updates. */
  rekeys: number;
  /** Handshakes refused by verification. */
  verificationFailures: number;
  /**
   * Bytes received and not yet read by the application, held in the
   * transport now (a channel's, or a session's over its channels; see
   * `TransportSession.setBudget`).
   */
  receiveBytesHeld: number;
}

/** Node-wide metrics: {@linkcode TransportStats} summed over sessions, plus gauges. */
export interface TransportMetrics extends TransportStats {
  /** Sessions currently open. */
  sessions: number;
  /** Inbound handshakes in flight. */
  pendingHandshakes: number;
  /** Pending inbound handshakes shed so far (limits against floods). */
  handshakesShed: number;
  /** Most pending inbound handshakes of one remote address, now. */
  maxPendingPerAddress: number;
  /** Most live inbound sessions of one remote address, now. */
  maxSessionsPerAddress: number;
  /** Receive bytes granted (credit) and not yet read, over the node, now. */
  receiveBytesOutstanding: number;
  /** Most unacknowledged bytes of one channel (its retransmit buffer), now. */
  maxUnackedBytes: number;
  /** Events queued by the library for the driver, now. */
  queuedEvents: number;
  /** Optional events (replay, drop, refused handshake) not queued: the queue was full. */
  eventsDropped: number;
}

const STAT_KEYS: readonly (keyof TransportStats)[] = [
  "attempted",
  "enqueued",
  "droppedOldest",
  "droppedNewest",
  "dropped",
  "blocked",
  "errors",
  "overflowEvents",
  "maxQueueLen",
  "bytesIn",
  "bytesOut",
  "messagesIn",
  "messagesOut",
  "latencyP50Us",
  "latencyP95Us",
  "reconnects",
  "replays",
  "rekeys",
  "verificationFailures",
  "receiveBytesHeld",
];

function _snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * The native (snake_case) name of each of {@linkcode STAT_KEYS}, computed
 * once: statistics are converted at every session and channel close.
 */
const STAT_NATIVE_KEYS: readonly string[] = STAT_KEYS.map(_snake);

function _num(raw: Record<string, unknown>, key: string): number {
  return _numAt(raw, _snake(key));
}

function _numAt(raw: Record<string, unknown>, nativeKey: string): number {
  const v = raw[nativeKey];
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

/**
 * An all-zero {@linkcode TransportStats}.
 *
 * @returns A fresh object.
 */
export function emptyStats(): TransportStats {
  return toStats({});
}

/**
 * Converts native stats JSON (snake_case) into {@linkcode TransportStats}. Missing
 * or non-numeric fields count as 0; `dropped` is derived when absent.
 *
 * @param raw The parsed JSON object.
 * @returns The camelCase statistics.
 *
 * @example
 * ```ts
 * import { toStats } from "./stats.ts";
 * import assert from "node:assert/strict";
 *
 * const s = toStats({ dropped_oldest: 2, latency_p50_us: 40 });
 * assert.equal(s.droppedOldest, 2);
 * assert.equal(s.dropped, 2);
 * assert.equal(s.latencyP50Us, 40);
 * ```
 */
export function toStats(raw: Record<string, unknown>): TransportStats {
  const out = {} as TransportStats;
  for (let i = 0; i < STAT_KEYS.length; i++) {
    out[STAT_KEYS[i]!] = _numAt(raw, STAT_NATIVE_KEYS[i]!);
  }
  if (raw["dropped"] === undefined) out.dropped = out.droppedOldest + out.droppedNewest;
  return out;
}

/**
 * Converts native node metrics JSON into {@linkcode TransportMetrics}.
 *
 * @param raw The parsed JSON object.
 * @returns The camelCase metrics.
 */
export function toMetrics(raw: Record<string, unknown>): TransportMetrics {
  return {
    ...toStats(raw),
    sessions: _num(raw, "sessions"),
    pendingHandshakes: _num(raw, "pendingHandshakes"),
    handshakesShed: _num(raw, "handshakesShed"),
    maxPendingPerAddress: _num(raw, "maxPendingPerAddress"),
    maxSessionsPerAddress: _num(raw, "maxSessionsPerAddress"),
    receiveBytesOutstanding: _num(raw, "receiveBytesOutstanding"),
    maxUnackedBytes: _num(raw, "maxUnackedBytes"),
    queuedEvents: _num(raw, "queuedEvents"),
    eventsDropped: _num(raw, "eventsDropped"),
  };
}
