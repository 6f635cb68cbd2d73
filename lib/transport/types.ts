/**
 * The transport contract: what the layers above need from a transport,
 * independent of any backend. Backends (`rtt`, `memory`, your own)
 * implement these interfaces and export a typed {@linkcode TransportFactory}.
 *
 * @module
 */

import type { RTTReplayError } from "./errors.ts";
import type { SessionEventType, SessionHook } from "./hooks.ts";
import type { TransportMetrics, TransportStats } from "./stats.ts";
import type { Clock, RandomSource } from "../ports/mod.ts";

/** What a full send queue does with a new message. */
export type BackpressurePolicy = "block" | "error" | "drop_oldest" | "drop_newest";

/**
 * The state of a session: `open` (a connection carries it), `reconnecting`
 * (the connection was lost, resumption pending) or `closed` (final).
 */
export type TransportSessionState = "open" | "reconnecting" | "closed";

/** A host and port. */
export interface TransportAddress {
  /** Host name or address. */
  hostname: string;
  /** Port. */
  port: number;
}

/** Options of {@linkcode Transport.connect}. */
export interface TransportConnectOptions extends TransportAddress {
  /** The peer's expected fingerprint (64 hex digits): the session is pinned to it. */
  fingerprint: string;
  /** Aborts the connect; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Overall deadline of the connect. @default {handshakeTimeoutMs} */
  timeoutMs?: number;
}

/** Options of {@linkcode Transport.accept}. */
export interface TransportAcceptOptions {
  /** Aborts the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of {@linkcode TransportChannel.receive}. */
export interface TransportReceiveOptions {
  /** Aborts the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Per-channel options of {@linkcode TransportSession.openChannel}. */
export interface TransportChannelOptions {
  /** What a full send queue does. @default {the node's backpressurePolicy} */
  backpressurePolicy?: BackpressurePolicy;
  /** Messages per send queue. @default {the node's maxQueue} */
  maxQueue?: number;
  /** Bytes per send queue. @default {the node's maxQueueBytes} */
  maxQueueBytes?: number;
  /** How long a `block`ed send waits. @default {the node's blockTimeoutMs} */
  blockTimeoutMs?: number;
  /**
   * Scheduling class of this side's sends: 0 goes first, 2 last (a share is
   * kept for lower classes so none starves). @default {0 for `control`, 1
   * for `state`, 2 for every other kind}
   */
  priority?: 0 | 1 | 2;
}

/** One ordered, flow-controlled channel of a session. */
export interface TransportChannel extends AsyncIterable<Uint8Array> {
  /** The channel kind. */
  readonly kind: string;
  /** Queues a message (the policy decides what a full queue does). */
  send(data: Uint8Array): Promise<void>;
  /** Resolves once the peer acknowledged everything sent so far. */
  flush(): Promise<void>;
  /** The next message, or `null` once the channel ended. */
  receive(options?: TransportReceiveOptions): Promise<Uint8Array | null>;
  /** Half-closes our side. */
  close(): Promise<void>;
  /** Queue and traffic statistics. */
  stats(): TransportStats;
}

/** Options of {@linkcode TransportSession.close}. */
export interface TransportSessionCloseOptions {
  /** How long queued messages may take to be delivered before the close. @default {5000} */
  flushDeadlineMs?: number;
}

/**
 * What one session may cost its endpoint, set by the application at any
 * time with {@linkcode TransportSession.setBudget} (typically from the
 * peer's trust level). Fields left out keep their current value.
 */
export interface TransportSessionBudget {
  /**
   * The bytes this session may hold received and not yet read by the
   * application, over all its channels: a connection window over the
   * channels' windows, with a floor kept for each channel so that none is
   * starved of credit while the session holds less (a message being
   * reassembled may use the whole budget).
   * When the application stops reading and the budget is reached, the peer
   * gets no more credit: its sends wait in its own queue (flow control).
   * Lowering it below what is already held loses nothing: it only withholds
   * credit until reads bring the session under it. A single message larger
   * than the budget could never be read: it is refused and the session
   * closes with reason `message_too_large` (the peer's session closes with
   * `peer_closed` and the message `MESSAGE_TOO_LARGE ...`). Credit granted
   * before the budget was set is not taken back, so set it as soon as the
   * session is accepted. An integer from 1 to 2^40.
   * @default {the endpoint's `maxSessionReceiveBytes`}
   */
  receiveBytes?: number;
  /**
   * Whether the session is protected (a trusted peer's): when the endpoint's
   * session table is full it is never evicted to make room for another
   * session, and its resumption handshakes are shed last.
   * @default {false}
   */
  protected?: boolean;
}

/** One authenticated session with a peer. */
export interface TransportSession extends AsyncDisposable {
  /** Session id (the same on both sides and across reconnects). */
  readonly id: string;
  /** The peer's authenticated fingerprint. */
  readonly peerFingerprint: string;
  /** The lifecycle state. */
  readonly state: TransportSessionState;
  /** Why the session closed, once it has. */
  readonly closeReason: string | undefined;
  /** Opens or joins a channel. */
  openChannel(kind: string, options?: TransportChannelOptions): Promise<TransportChannel>;
  /** Closes the session (flushing up to the deadline). */
  close(options?: TransportSessionCloseOptions): Promise<void>;
  /** Session-wide statistics. */
  stats(): TransportStats;
  /**
   * Sets what the session may cost: its receive budget in bytes and whether
   * it is protected from eviction (see {@linkcode TransportSessionBudget}).
   * Takes effect at once; safe on a closed session (it does nothing).
   */
  setBudget(budget: TransportSessionBudget): void;
  /** Lifecycle hook; returns its unregister function. */
  onSessionOpen(fn: SessionHook): () => void;
  /** Lifecycle hook; returns its unregister function. */
  onSessionClose(fn: SessionHook): () => void;
  /** Lifecycle hook; returns its unregister function. */
  onHeartbeatTimeout(fn: SessionHook): () => void;
  /** Unregisters an open hook. */
  offSessionOpen(fn: SessionHook): void;
  /** Unregisters a close hook. */
  offSessionClose(fn: SessionHook): void;
  /** Unregisters a heartbeat-timeout hook. */
  offHeartbeatTimeout(fn: SessionHook): void;
  /** Unregisters every hook. */
  clearSessionHooks(): void;
}

/** Fields every session event of {@linkcode TransportEvent} carries. */
export interface TransportSessionEventBase {
  /** The session's id. */
  sessionId: string;
  /** The peer's fingerprint. */
  peerFingerprint: string;
}

/**
 * Everything a transport reports, as one typed union: session lifecycle
 * (`session_open`, `connection_lost`, `heartbeat_timeout`, `session_close`),
 * drops by a dropping policy (backpressure), replays, rekeys, refused
 * handshakes (verification failures).
 */
export type TransportEvent =
  | (TransportSessionEventBase & {
    /** A session lifecycle event (the same as the session hooks see). */
    type: SessionEventType;
    /** Close or loss reason. */
    reason?: string;
    /** For `session_open`: whether the session was resumed. */
    resumed?: boolean;
    /** Reconnects of the session so far. */
    reconnects?: number;
    /** For `session_close`: the detail (a peer's refusal code and message, or ours). */
    message?: string;
  })
  | (TransportSessionEventBase & {
    /** Messages were dropped by a `drop_oldest`/`drop_newest` policy. */
    type: "drop";
    /** The channel kind. */
    channel: string;
    /** `drop_oldest` or `drop_newest`. */
    cause: string;
    /** Messages dropped. */
    count: number;
  })
  | (TransportSessionEventBase & {
    /**
     * Replayed frames were dropped; the session is kept. Coalesced: at most
     * one event per channel per `replayReportIntervalMs`; more than
     * `replayFloodLimit` replays in `replayFloodWindowMs` close the session
     * (`session_close` reason `replay_flood`).
     */
    type: "replay";
    /** The channel kind. */
    channel: string;
    /** The sequence number of the last replayed frame. */
    sequence: bigint;
    /** Replayed frames since the previous event of this channel (>= 1). */
    count: number;
    /** The typed error (code `REPLAY`), for logging. */
    error: RTTReplayError;
  })
  | (TransportSessionEventBase & {
    /** A TLS key update happened. */
    type: "rekey";
    /** Key updates of this session so far. */
    rekeys: number;
  })
  | {
    /** An inbound handshake was refused. */
    type: "verification_failure";
    /** `FINGERPRINT_MISMATCH`, `PEER_NOT_ALLOWED`, `TLS_FAILED`, ... */
    code: string;
    /** The refused peer's fingerprint, when it got that far. */
    peerFingerprint?: string;
    /** The backend's message. */
    message: string;
  };

/** Observer of {@linkcode Transport.onEvent}. */
export type TransportObserver = (event: TransportEvent) => void;

/** Options of {@linkcode Transport.shutdown}. */
export interface TransportShutdownOptions {
  /** How long sessions may take to flush before they are cut. @default {2000} */
  deadlineMs?: number;
}

/** A transport: one local endpoint of one backend. */
export interface Transport extends AsyncDisposable {
  /** The backend's name (`"rtt"`, `"memory"`, ...), for logs and telemetry. */
  readonly backend: string;
  /** This endpoint's fingerprint. */
  readonly fingerprint: string;
  /** Listens for inbound sessions; resolves to the bound address. */
  listen(address: TransportAddress): Promise<TransportAddress>;
  /** Connects to a pinned peer; resolves once the peer accepted. */
  connect(options: TransportConnectOptions): Promise<TransportSession>;
  /** The next inbound session. */
  accept(options?: TransportAcceptOptions): Promise<TransportSession>;
  /** Observes every event of the endpoint; returns the unregister function. */
  onEvent(fn: TransportObserver): () => void;
  /** Endpoint-wide metrics. */
  metrics(): TransportMetrics;
  /** Closes every session and releases everything. Safe to call twice. */
  shutdown(options?: TransportShutdownOptions): Promise<void>;
}

/**
 * The part of an identity a transport needs: the fingerprint it
 * authenticates as and the private key its certificate is made from. An
 * `Identity` (`lib/identity/`) is one.
 */
export interface TransportIdentity {
  /** Lowercase hex SHA-256 of the raw public key. */
  readonly fingerprint: string;
  /** The private key as a PKCS#8 v1 PEM. */
  toPkcs8Pem(): Promise<string>;
}

/**
 * What the owner of a transport (an agent, a person's client) supplies when
 * it creates one from a {@linkcode TransportFactory}. Everything else a
 * backend needs is bound into the factory by the backend's own typed
 * function (`rtt(options)`, `memory(options)` in `lib/rtt/`).
 */
export interface TransportContext {
  /** The identity the new endpoint authenticates as. */
  readonly identity: TransportIdentity;
  /** The caller's clock (the endpoint's timers and deadlines). @default {systemClock} */
  readonly clock?: Clock | undefined;
  /** The caller's random source (what the endpoint draws, e.g. session ids). @default {systemRandom} */
  readonly random?: RandomSource | undefined;
}

/**
 * Creates one endpoint of one backend for the given context. Backends export
 * a typed function returning one (`rtt(options)`, `memory(options)`); the
 * caller of a factory owns the transport it made and shuts it down.
 *
 * @typeParam T The transport type the factory makes.
 */
export type TransportFactory<T extends Transport = Transport> = (
  context: TransportContext,
) => Promise<T>;
