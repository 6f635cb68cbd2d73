/**
 * Options of the `rtt` and `memory` backends ({@linkcode RttOptions}) and of
 * `RttNode.create` (the same plus the identity): names, defaults, ranges,
 * and their translation into the native config JSON (snake_case keys).
 *
 * @module
 */

import type { BackpressurePolicy, TransportIdentity } from "../transport/types.ts";
import { NATIVE_LIMITS } from "./limits.ts";
import type { Clock, RandomSource } from "../ports/mod.ts";

export type { BackpressurePolicy };

/** The policies, in documentation order. */
export const BACKPRESSURE_POLICIES: readonly BackpressurePolicy[] = [
  "block",
  "error",
  "drop_oldest",
  "drop_newest",
];

/**
 * The limits and policies of an RTT node, shared by the `rtt` and `memory`
 * backends (`rtt(options)`, `memory(options)`). Every number is an integer.
 */
export interface RttOptions {
  /** Heartbeat ping interval. @default {1000} */
  heartbeatIntervalMs?: number;
  /** A connection without a pong for this long is lost. @default {5000} */
  heartbeatTimeoutMs?: number;
  /** How long a lost connection may be resumed; 0 disables resumption. @default {30000} */
  resumeWindowMs?: number;
  /** First reconnect delay (doubled each attempt, with jitter). @default {20} */
  reconnectInitialDelayMs?: number;
  /** Largest reconnect delay. @default {2000} */
  reconnectMaxDelayMs?: number;
  /** Reconnect attempts per lost connection (within the resume window). @default {1000} */
  reconnectMaxAttempts?: number;
  /** Messages per channel send queue. @default {1024} */
  maxQueue?: number;
  /** Bytes per channel send queue. @default {8388608} (8 MiB) */
  maxQueueBytes?: number;
  /** What a full queue does; `block` loses nothing. @default {"block"} */
  backpressurePolicy?: BackpressurePolicy;
  /** How long a `block`ed send waits for room. @default {30000} */
  blockTimeoutMs?: number;
  /** Largest message. @default {16777216} (16 MiB) */
  maxMessageBytes?: number;
  /** Channels per session. @default {64} */
  maxChannels?: number;
  /** Sessions per node. @default {256} */
  maxSessions?: number;
  /** Inbound handshakes in flight. @default {64} */
  maxPendingHandshakes?: number;
  /** Handshake deadline (TCP accept to RTT accept frame). @default {5000} */
  handshakeTimeoutMs?: number;
  /** TLS KeyUpdate after this many bytes. @default {1073741824} (1 GiB) */
  rekeyAfterBytes?: number;
  /** TLS KeyUpdate after this much time. @default {600000} */
  rekeyAfterMs?: number;
  /** Replays tolerated per `replayFloodWindowMs`; one more closes the session (`replay_flood`). @default {64} */
  replayFloodLimit?: number;
  /** The replay-counting window. @default {10_000} */
  replayFloodWindowMs?: number;
  /** Shortest interval between two (coalesced) replay events of a channel. @default {1000} */
  replayReportIntervalMs?: number;
  /** Unacknowledged bytes per channel (the retransmit buffer); no new fragment goes out beyond it. @default {16 * MiB} */
  maxUnackedBytes?: number;
  /**
   * Data unacknowledged this long on a live connection ends the session (`ack_timeout`): counted
   * from when the oldest unacknowledged frame was written on the connection, ended at that instant
   * plus this (and 1 µs).
   * @default {20_000}
   */
  ackTimeoutMs?: number;
  /** Receive window (bytes) of a channel the peer declared and the application has not opened yet. @default {64 * 1024} */
  unopenedWindowBytes?: number;
  /** Receive window (messages) of such a channel. @default {16} */
  unopenedWindowMsgs?: number;
  /** Receive bytes granted and not yet read, per session (each channel gets at most an even share). @default {256 * MiB} */
  maxSessionReceiveBytes?: number;
  /** Receive bytes granted and not yet read, per node (each session gets at most an even share). @default {512 * MiB} */
  maxNodeReceiveBytes?: number;
  /** Live sessions per peer fingerprint (a fresh session replaces the peer's disconnected ones). @default {8} */
  maxSessionsPerPeer?: number;
  /** Inbound sessions per remote address (a 10-agent mesh on one host needs 9). @default {128} */
  maxSessionsPerAddress?: number;
  /** Inbound handshakes in flight per remote address; beyond it one of that address's is shed (idle first, at random). @default {32} */
  maxPendingHandshakesPerAddress?: number;
  /** Deadline of an inbound connection that has sent no byte (no ClientHello) yet. @default {2000} */
  clientHelloTimeoutMs?: number;
  /** Who may connect in: `"any"` authenticated peer, or these fingerprints. @default {"any"} */
  allowPeers?: "any" | readonly string[];
  /** Enables `session.testInject` (tests only). @default {false} */
  testHooks?: boolean;
  /**
   * Called when a lifecycle hook or event observer throws (the throw never
   * reaches the transport), and with an `RTTTransportError` `PROTOCOL` if
   * the library ever hands out malformed event records. Defaults to
   * `console.error`.
   */
  onHookError?: (error: unknown) => void;
}

/** Options of `RttNode.create`: the node's identity and its {@linkcode RttOptions}. */
export interface RttNodeOptions extends RttOptions {
  /** This node's key (required): what it authenticates as. */
  identity: TransportIdentity;
  /** Time and timers of the driver (monotonic ms go to the native core). @default {systemClock} */
  clock?: Clock | undefined;
  /** Where the seed of the native core's session ids comes from. @default {systemRandom} */
  random?: RandomSource | undefined;
}

/** {@linkcode RttOptions} (but `onHookError`) with every default applied. */
export interface ResolvedRttNodeOptions {
  /** See {@linkcode RttOptions.heartbeatIntervalMs}. */
  heartbeatIntervalMs: number;
  /** See {@linkcode RttOptions.heartbeatTimeoutMs}. */
  heartbeatTimeoutMs: number;
  /** See {@linkcode RttOptions.resumeWindowMs}. */
  resumeWindowMs: number;
  /** See {@linkcode RttOptions.reconnectInitialDelayMs}. */
  reconnectInitialDelayMs: number;
  /** See {@linkcode RttOptions.reconnectMaxDelayMs}. */
  reconnectMaxDelayMs: number;
  /** See {@linkcode RttOptions.reconnectMaxAttempts}. */
  reconnectMaxAttempts: number;
  /** See {@linkcode RttOptions.maxQueue}. */
  maxQueue: number;
  /** See {@linkcode RttOptions.maxQueueBytes}. */
  maxQueueBytes: number;
  /** See {@linkcode RttOptions.backpressurePolicy}. */
  backpressurePolicy: BackpressurePolicy;
  /** See {@linkcode RttOptions.blockTimeoutMs}. */
  blockTimeoutMs: number;
  /** See {@linkcode RttOptions.maxMessageBytes}. */
  maxMessageBytes: number;
  /** See {@linkcode RttOptions.maxChannels}. */
  maxChannels: number;
  /** See {@linkcode RttOptions.maxSessions}. */
  maxSessions: number;
  /** See {@linkcode RttOptions.maxPendingHandshakes}. */
  maxPendingHandshakes: number;
  /** See {@linkcode RttOptions.handshakeTimeoutMs}. */
  handshakeTimeoutMs: number;
  /** See {@linkcode RttOptions.rekeyAfterBytes}. */
  rekeyAfterBytes: number;
  /** See {@linkcode RttOptions.rekeyAfterMs}. */
  rekeyAfterMs: number;
  /** See {@linkcode RttOptions.replayFloodLimit}. */
  replayFloodLimit: number;
  /** See {@linkcode RttOptions.replayFloodWindowMs}. */
  replayFloodWindowMs: number;
  /** See {@linkcode RttOptions.replayReportIntervalMs}. */
  replayReportIntervalMs: number;
  /** See {@linkcode RttOptions.maxUnackedBytes}. */
  maxUnackedBytes: number;
  /** See {@linkcode RttOptions.ackTimeoutMs}. */
  ackTimeoutMs: number;
  /** See {@linkcode RttOptions.unopenedWindowBytes}. */
  unopenedWindowBytes: number;
  /** See {@linkcode RttOptions.unopenedWindowMsgs}. */
  unopenedWindowMsgs: number;
  /** See {@linkcode RttOptions.maxSessionReceiveBytes}. */
  maxSessionReceiveBytes: number;
  /** See {@linkcode RttOptions.maxNodeReceiveBytes}. */
  maxNodeReceiveBytes: number;
  /** See {@linkcode RttOptions.maxSessionsPerPeer}. */
  maxSessionsPerPeer: number;
  /** See {@linkcode RttOptions.maxSessionsPerAddress}. */
  maxSessionsPerAddress: number;
  /** See {@linkcode RttOptions.maxPendingHandshakesPerAddress}. */
  maxPendingHandshakesPerAddress: number;
  /** See {@linkcode RttOptions.clientHelloTimeoutMs}. */
  clientHelloTimeoutMs: number;
  /** See {@linkcode RttOptions.allowPeers}. */
  allowPeers: "any" | readonly string[];
  /** See {@linkcode RttOptions.testHooks}. */
  testHooks: boolean;
}

type NumericKey = Exclude<
  keyof ResolvedRttNodeOptions,
  "backpressurePolicy" | "allowPeers" | "testHooks"
>;

/**
 * Default, minimum and maximum of every numeric option. The native library
 * owns them (`native/core/src/config.rs`); this is its generated table
 * (`lib/rtt/limits.ts`, `deno task limits`), so options are checked before
 * any library is loaded, and a test compares it with the library.
 */
export const NUMERIC_OPTIONS: Readonly<
  Record<NumericKey, { readonly def: number; readonly min: number; readonly max: number }>
> = NATIVE_LIMITS;

const FINGERPRINT_RE = /^[0-9a-f]{64}$/;
/** Custom channel names: 1-64 characters of `[a-z0-9._-]`. */
export const CHANNEL_KIND_RE = /^[a-z0-9._-]{1,64}$/;

/**
 * Checks and normalises a fingerprint (64 hex digits, returned lowercase).
 *
 * @param value The candidate.
 * @param what Names the value in the error message.
 * @returns The lowercase fingerprint.
 * @throws {TypeError} When `value` is not a string.
 * @throws {RangeError} When it is not 64 hex digits.
 */
export function checkFingerprint(value: unknown, what: string): string {
  if (typeof value !== "string") {
    throw new TypeError(`${what} must be a string of 64 hex digits, got ${typeof value}`);
  }
  const lower = value.toLowerCase();
  if (!FINGERPRINT_RE.test(lower)) {
    throw new RangeError(`${what} must be 64 hex digits, got ${JSON.stringify(value)}`);
  }
  return lower;
}

/**
 * Checks an integer within `[min, max]`.
 *
 * @param name The option name, for the message.
 * @param value The candidate.
 * @param min Smallest allowed.
 * @param max Largest allowed.
 * @returns `value`.
 * @throws {TypeError} When `value` is not a number.
 * @throws {RangeError} When it is not an integer within range.
 */
export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number") {
    throw new TypeError(`Option ${name} must be a number, got ${typeof value}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Option ${name} must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

/**
 * Checks a backpressure policy name.
 *
 * @param name The option name, for the message.
 * @param value The candidate.
 * @returns The policy.
 * @throws {TypeError} When `value` is not a string.
 * @throws {RangeError} When it is not one of the four policies.
 */
export function checkPolicy(name: string, value: unknown): BackpressurePolicy {
  if (typeof value !== "string") {
    throw new TypeError(`Option ${name} must be a string, got ${typeof value}`);
  }
  if (!(BACKPRESSURE_POLICIES as readonly string[]).includes(value)) {
    throw new RangeError(
      `Option ${name} must be one of ${BACKPRESSURE_POLICIES.join(", ")}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return value as BackpressurePolicy;
}

/**
 * Checks a channel kind: `control`, `state`, `knowledge` or a custom name of
 * 1-64 characters `[a-z0-9._-]`.
 *
 * @param kind The candidate.
 * @returns `kind`.
 * @throws {TypeError} When `kind` is not a string.
 * @throws {RangeError} When it is not a valid name.
 */
export function checkChannelKind(kind: unknown): string {
  if (typeof kind !== "string") {
    throw new TypeError(`Channel kind must be a string, got ${typeof kind}`);
  }
  if (!CHANNEL_KIND_RE.test(kind)) {
    throw new RangeError(
      `Channel kind must be 1-64 characters of [a-z0-9._-], got ${JSON.stringify(kind)}`,
    );
  }
  return kind;
}

/**
 * Validates {@linkcode RttNodeOptions} and fills in the defaults.
 *
 * @param options The caller's options (the identity is checked for shape only).
 * @returns Every option, resolved.
 * @throws {TypeError} When `options` or the identity is missing or a value has the wrong type.
 * @throws {RangeError} When a value is out of range.
 */
export function resolveNodeOptions(options: RttNodeOptions): ResolvedRttNodeOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError("RttNode.create needs an options object with an identity");
  }
  const id = options.identity as Partial<TransportIdentity> | undefined;
  if (
    id === undefined || id === null || typeof id.fingerprint !== "string" ||
    typeof id.toPkcs8Pem !== "function"
  ) {
    throw new TypeError(
      "Option identity is required: an Identity (with fingerprint and toPkcs8Pem())",
    );
  }
  return resolveRttOptions(options);
}

/**
 * Validates {@linkcode RttOptions} (no identity) and fills in the defaults.
 * The backends' factories call it when they are made, so a bad option fails
 * there, before any library is loaded.
 *
 * @param options The caller's options.
 * @returns Every option, resolved.
 * @throws {TypeError} When `options` is not an object or a value has the wrong type.
 * @throws {RangeError} When a value is out of range.
 */
export function resolveRttOptions(options: RttOptions): ResolvedRttNodeOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `RTT options must be an object, got ${options === null ? "null" : typeof options}`,
    );
  }
  const out: Partial<Record<NumericKey, number>> = {};
  for (
    const [key, spec] of Object.entries(NUMERIC_OPTIONS) as [
      NumericKey,
      typeof NUMERIC_OPTIONS[NumericKey],
    ][]
  ) {
    const value = options[key];
    out[key] = value === undefined ? spec.def : checkInteger(key, value, spec.min, spec.max);
  }
  const n = out as Record<NumericKey, number>;
  if (n.reconnectMaxDelayMs < n.reconnectInitialDelayMs) {
    throw new RangeError(
      `Option reconnectMaxDelayMs (${n.reconnectMaxDelayMs}) must not be below ` +
        `reconnectInitialDelayMs (${n.reconnectInitialDelayMs})`,
    );
  }
  const backpressurePolicy = options.backpressurePolicy === undefined
    ? "block"
    : checkPolicy("backpressurePolicy", options.backpressurePolicy);
  let allowPeers: "any" | readonly string[] = "any";
  if (options.allowPeers !== undefined && options.allowPeers !== "any") {
    if (!Array.isArray(options.allowPeers)) {
      throw new TypeError(
        `Option allowPeers must be "any" or an array of fingerprints, got ${
          JSON.stringify(options.allowPeers)
        }`,
      );
    }
    allowPeers = Object.freeze(
      options.allowPeers.map((fp, i) => checkFingerprint(fp, `Option allowPeers[${i}]`)),
    );
  }
  if (options.testHooks !== undefined && typeof options.testHooks !== "boolean") {
    throw new TypeError(`Option testHooks must be a boolean, got ${typeof options.testHooks}`);
  }
  return { ...n, backpressurePolicy, allowPeers, testHooks: options.testHooks ?? false };
}

/**
 * The native config JSON object for resolved options.
 *
 * @param resolved The resolved options.
 * @param keyPem The node's private key as a PKCS#8 v1 PEM.
 * @param idSeed 64 hex digits that seed the native core's session ids (empty: the core draws one).
 * @returns The object to serialise for `web4_rtt_node_create`.
 */
export function nodeConfigJson(
  resolved: ResolvedRttNodeOptions,
  keyPem: string,
  idSeed = "",
): Record<string, unknown> {
  return {
    key_pem: keyPem,
    id_seed: idSeed,
    heartbeat_interval_ms: resolved.heartbeatIntervalMs,
    heartbeat_timeout_ms: resolved.heartbeatTimeoutMs,
    resume_window_ms: resolved.resumeWindowMs,
    reconnect_initial_delay_ms: resolved.reconnectInitialDelayMs,
    reconnect_max_delay_ms: resolved.reconnectMaxDelayMs,
    reconnect_max_attempts: resolved.reconnectMaxAttempts,
    max_queue: resolved.maxQueue,
    max_queue_bytes: resolved.maxQueueBytes,
    backpressure_policy: resolved.backpressurePolicy,
    block_timeout_ms: resolved.blockTimeoutMs,
    max_message_bytes: resolved.maxMessageBytes,
    max_channels: resolved.maxChannels,
    max_sessions: resolved.maxSessions,
    max_pending_handshakes: resolved.maxPendingHandshakes,
    handshake_timeout_ms: resolved.handshakeTimeoutMs,
    rekey_after_bytes: resolved.rekeyAfterBytes,
    rekey_after_ms: resolved.rekeyAfterMs,
    replay_flood_limit: resolved.replayFloodLimit,
    replay_flood_window_ms: resolved.replayFloodWindowMs,
    replay_report_interval_ms: resolved.replayReportIntervalMs,
    max_unacked_bytes: resolved.maxUnackedBytes,
    ack_timeout_ms: resolved.ackTimeoutMs,
    unopened_window_bytes: resolved.unopenedWindowBytes,
    unopened_window_msgs: resolved.unopenedWindowMsgs,
    max_session_receive_bytes: resolved.maxSessionReceiveBytes,
    max_node_receive_bytes: resolved.maxNodeReceiveBytes,
    max_sessions_per_peer: resolved.maxSessionsPerPeer,
    max_sessions_per_address: resolved.maxSessionsPerAddress,
    max_pending_handshakes_per_address: resolved.maxPendingHandshakesPerAddress,
    client_hello_timeout_ms: resolved.clientHelloTimeoutMs,
    allow_peers: resolved.allowPeers === "any" ? "any" : [...resolved.allowPeers],
    test_hooks: resolved.testHooks,
  };
}

/** A listening address. */
export interface RttAddress {
  /** Host name or address. */
  hostname: string;
  /** Port (the bound one, for a listener). */
  port: number;
}

/** Options of {@linkcode RttNode.connect}. */
export interface RttConnectOptions extends RttAddress {
  /** The peer's expected fingerprint (64 hex digits): the session is pinned to it. */
  fingerprint: string;
  /** Aborts the connect; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Overall deadline of the connect. @default {handshakeTimeoutMs} */
  timeoutMs?: number;
}

/** Options of {@linkcode RttNode.accept}. */
export interface RttAcceptOptions {
  /** Aborts the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of {@linkcode RttNode.shutdown}. */
export interface RttShutdownOptions {
  /** How long sessions may take to flush before they are cut. @default {2000} */
  deadlineMs?: number;
}

/**
 * Checks an address argument.
 *
 * @param address The caller's address.
 * @returns A copy with the checked hostname and port.
 * @throws {TypeError} Without a non-empty hostname.
 * @throws {RangeError} When the port is not an integer in 0..65535.
 */
export function checkAddress(address: RttAddress): RttAddress {
  if (address === null || typeof address !== "object") {
    throw new TypeError("An address needs hostname and port");
  }
  const { hostname, port } = address;
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(`Hostname must be a non-empty string, got ${JSON.stringify(hostname)}`);
  }
  return { hostname, port: checkInteger("port", port, 0, 65_535) };
}
