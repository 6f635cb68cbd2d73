/**
 * The contract between the router and the protocol runtimes (CIP, HCP,
 * LIP): what a runtime is given ({@linkcode RuntimeContext}), what it
 * returns ({@linkcode Outcome}), and its shape ({@linkcode ProtocolRuntime}).
 *
 * A runtime is pure: it imports no transport, writes nothing, and sends
 * nothing. It reads the store and trust through the context and returns the
 * changes it wants, the unsigned replies and what it decided as typed
 * effects. The router commits the changes together with the envelope's
 * replay entry in one transaction, then signs the replies, emits the events
 * and returns the effects.
 *
 * @module
 */

import type {
  CipState,
  CipTrust,
  EnvelopeOf,
  EnvelopeReceiver,
  HcpState,
  LipSource,
  MessageType,
  PayloadOf,
  Presence,
  Protocol,
} from "../envelope/mod.ts";
import type { EventData, Severity, Telemetry } from "../observability/mod.ts";
import type { StoreChange, StoreView } from "../store/mod.ts";
import type { TrustView } from "../trust/mod.ts";
import type { Effect } from "./effects.ts";

/** Who we are: the agent's public identity and its signing port. */
export interface SelfInfo {
  /** Our agent id. */
  agentId: string;
  /** Our fingerprint. */
  fingerprint: string;
  /** Our public key (standard base64 of the raw 32 bytes). */
  pubkey: string;
  /** Our capabilities (`state_exchange`, `knowledge_exchange`, `dmp_trace`, ...). */
  capabilities: readonly string[];
  /**
   * Signs bytes with our Ed25519 key (deterministic). Runtimes use it only
   * for domain-separated data such as challenge responses, never to sign an
   * envelope (the router does that).
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** Our own load, read from an injected source at dispatch time. */
export interface LocalLoad {
  /** Our presence. */
  presence: Presence;
  /** Our load index, 0..100. */
  lri: number;
}

/** Agent-wide settings every runtime may read. */
export interface RuntimeConfig {
  /** `lri` at or above which a party counts as overloaded. @default {80} */
  overloadLri: number;
  /** The enrolled person's fingerprint (HCP), if enrolled. */
  person?: string | undefined;
}

/** Everything a runtime may use while handling one envelope. */
export interface RuntimeContext {
  /** Who we are. */
  self: SelfInfo;
  /**
   * The authenticated party: the session's peer fingerprint (CIP, LIP) or
   * the enrolled person's (HCP). Sanctions fall only on this fingerprint.
   */
  peer: string;
  /** The transport session id, if any (for events). */
  session?: string | undefined;
  /** The clock, milliseconds since the epoch. */
  now(): number;
  /** The random source (nonces, challenges, msg_ids): `n` fresh bytes. */
  random(n: number): Uint8Array;
  /** Read access to the store, as of the last commit. */
  store: StoreView;
  /** Trust, read through the machines' defaults. */
  trust: TrustView;
  /** Our load. */
  load: LocalLoad;
  /** Where the runtime may report metrics (events go in the outcome). */
  telemetry: Telemetry;
  /** Agent-wide settings. */
  config: Readonly<RuntimeConfig>;
}

/**
 * What the router did or should do with a message:
 * `handled` (applied), `deferred` (accepted for later, or answered "not
 * now"), `refused` (rule violation: the router answers with the protocol's
 * error type carrying `code`), `ignored` (dropped on purpose, logged, no
 * answer).
 */
export type OutcomeStatus = "handled" | "deferred" | "refused" | "ignored";

/**
 * An unsigned envelope the router signs and sends: protocol, type, the
 * `msg_id` the runtime chose (so it can refer to its own messages), the
 * receiver and payload, and the optional blocks of the protocol.
 */
export type ReplySpec = {
  [P in Protocol]: {
    [T in MessageType<P>]: {
      /** The protocol. */
      protocol: P;
      /** The message type. */
      type: T;
      /** The UUID v4 to sign it with (see `newMsgId`). */
      msg_id: string;
      /** Who it goes to. */
      receiver: EnvelopeReceiver;
      /** The payload. */
      payload: PayloadOf<P, T>;
      /** CIP/HCP `state` block. */
      state?: (P extends "hcp" ? HcpState : CipState) | undefined;
      /** CIP `trust` block. */
      trust?: CipTrust | undefined;
      /** LIP `source` block. */
      source?: LipSource | undefined;
    };
  }[MessageType<P>];
}[Protocol];

/** A telemetry event the router emits for the runtime. */
export interface OutcomeEvent {
  /** Dotted kind, area first (`cip.handshake`, `trust.transition`). */
  kind: string;
  /** Kind-specific fields. */
  data: EventData;
  /** How much it matters. @default {"info"} */
  severity?: Severity | undefined;
  /** The peer concerned (the authenticated one). */
  peer?: string | undefined;
}

/** What a runtime returns for one envelope. */
export interface Outcome {
  /** What happened. */
  status: OutcomeStatus;
  /** Machine-readable rule name for `refused`/`deferred`/`ignored` (`untrusted`, `quota`, `overloaded`, ...). */
  code?: string | undefined;
  /** Human-readable reason. */
  reason?: string | undefined;
  /** For `deferred`/`refused`: when the sender may try again. */
  retryAfterMs?: number | undefined;
  /**
   * State changes, committed by the router in one transaction with the
   * replay entry, whatever the status (a refusal may carry trust sanctions).
   */
  changes: StoreChange[];
  /** Envelopes to sign and send, in order. */
  replies: ReplySpec[];
  /**
   * What the runtime decided, as typed effects (deliver, fetch, claim
   * changed, ...), in order. The router returns them once the changes have
   * committed; nothing of them happens if the commit fails.
   */
  effects: Effect[];
  /** Events to emit, in order. */
  events: OutcomeEvent[];
}

/** A protocol runtime: one object handling the message types of one protocol. */
export interface ProtocolRuntime<P extends Protocol = Protocol> {
  /** The protocol. */
  readonly protocol: P;
  /** The message types it handles (the router registers one route for each). */
  readonly types: readonly MessageType<P>[];
  /**
   * Handles one verified envelope. Must not write or send anything: all
   * effects are in the returned outcome.
   *
   * @param envelope The verified envelope (its sender is `ctx.peer`).
   * @param ctx The context.
   * @returns The outcome.
   */
  handle(envelope: EnvelopeOf<P>, ctx: RuntimeContext): Outcome | Promise<Outcome>;
}
