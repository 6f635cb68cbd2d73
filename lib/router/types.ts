/**
 * The router's types: its options, where a message came from, what a
 * dispatch or an `apply` returns.
 *
 * @module
 */

import type { Envelope, Protocol, ReplayGuardOptions } from "../envelope/mod.ts";
import type { Identity } from "../identity/mod.ts";
import type { Telemetry } from "../observability/mod.ts";
import type {
  Effect,
  LocalLoad,
  ProtocolRuntime,
  RuntimeConfig,
  SanctionRule,
} from "../runtime/mod.ts";
import type { Store } from "../store/mod.ts";
import type { TrustConfig } from "../trust/mod.ts";
import type { RouteChannel } from "./channels.ts";
import type { RateLimitOptions } from "./rate_limit.ts";
import type { WriteGroupOptions } from "./write_group.ts";
import type { Clock } from "../ports/mod.ts";

/** A runtime of any one protocol (what the router registers). */
export type AnyProtocolRuntime =
  | ProtocolRuntime<"cip">
  | ProtocolRuntime<"hcp">
  | ProtocolRuntime<"lip">;

/** Options of {@linkcode ProtocolRouter}. */
export interface RouterOptions {
  /** Our identity: signs every reply. */
  identity: Identity;
  /** The agent's store: trust, ledger, queue and the replay window live here. */
  store: Store;
  /** The runtimes to route to (more with {@linkcode ProtocolRouter.register}). */
  runtimes?: readonly AnyProtocolRuntime[] | undefined;
  /** Our capabilities, as sent in `sender.capabilities`. @default {[]} */
  capabilities?: readonly string[] | undefined;
  /** Trust settings (anchors, cooldown, thresholds). */
  trust?: Partial<TrustConfig> | undefined;
  /** Runtime settings (`overloadLri`, the enrolled `person`). */
  config?: Partial<RuntimeConfig> | undefined;
  /** The clock in milliseconds. @default {systemClock.now} */
  now?: (() => number) | undefined;
  /** Monotonic time for dispatch durations. @default {systemClock} */
  clock?: Clock | undefined;
  /** The random source (msg_ids, nonces). @default {systemRandom} */
  random?: ((n: number) => Uint8Array) | undefined;
  /** Our load, read at each dispatch. @default {() => ({ presence: "focused", lri: 0 })} */
  load?: (() => LocalLoad) | undefined;
  /** Where events and metrics go. @default {noopTelemetry} */
  telemetry?: Telemetry | undefined;
  /** Per-peer rate limit; `false` turns it off. @default {{ burst: 200, perSecond: 100 }} */
  rateLimit?: RateLimitOptions | false | undefined;
  /** Largest accepted envelope in bytes. @default {1048576} */
  maxEnvelopeBytes?: number | undefined;
  /** Largest accepted clock distance in milliseconds. @default {120000} */
  maxSkewMs?: number | undefined;
  /**
   * Write groups: the most messages committed in one store transaction and
   * the batching delay a group may wait for messages already being verified
   * (see `write_group.ts`). Nothing is answered before its group commits.
   *
   * @default {{ maxMessages: 64, delayMs: 2 }}
   */
  writeGroups?: WriteGroupOptions | undefined;
  /** Bounds of the in-memory replay guard (restored from the store at start). */
  replayGuard?: ReplayGuardOptions | undefined;
  /**
   * The sanction rule for an envelope that failed verification on a
   * session (bad signature, fingerprint mismatch): returns the trust changes
   * for the session's peer. By default the rule of the one registered
   * runtime that declares one (`ProtocolRuntime.sanctions`: the CIP
   * runtime's `verificationFailed`, since peer trust is the CIP machine), so
   * the rule has one implementation; with neither, nobody is sanctioned.
   */
  sanctions?: SanctionRule | undefined;
}

/** Where an inbound message came from: always an authenticated party. */
export interface Inbound {
  /**
   * The fingerprint the envelope must be signed by: the session's peer, or,
   * for a relayed envelope, its origin.
   */
  peer: string;
  /**
   * For a relayed envelope (the mesh): the session's peer that delivered it.
   * Rate limits and verification sanctions fall on it, never on the origin
   * the envelope names; a blacklisted relay is dropped like a blacklisted peer.
   */
  relay?: string | undefined;
  /** The transport session id, for events. */
  session?: string | undefined;
}

/**
 * What happened to one inbound message: the runtime's statuses, plus
 * `dropped` (not processed and not answered: blacklisted peer, bad
 * signature, fingerprint mismatch, replay, rate limit beyond the first
 * refusal).
 */
export type DispatchStatus = "handled" | "deferred" | "refused" | "ignored" | "dropped";

/** A signed envelope ready to send, with the channel kind it travels on. */
export interface OutboundEnvelope {
  /** The signed envelope. */
  envelope: Envelope;
  /** Its wire form (canonical JSON, UTF-8). */
  bytes: Uint8Array;
  /** The channel kind to send it on (one table: `CHANNEL_OF`). */
  channel: RouteChannel;
}

/** The result of {@linkcode ProtocolRouter.dispatch}. */
export interface DispatchResult {
  /** What happened. */
  status: DispatchStatus;
  /** The rule that refused, deferred or dropped it (`untrusted`, `quota`, `replay`, ...). */
  code?: string | undefined;
  /** Human-readable reason. */
  reason?: string | undefined;
  /** When the sender may try again. */
  retryAfterMs?: number | undefined;
  /** The protocol, once known. */
  protocol?: Protocol | undefined;
  /** The message type, once known. */
  type?: string | undefined;
  /** The msg_id, once known. */
  msgId?: string | undefined;
  /** The verified envelope, if it got that far. */
  envelope?: Envelope | undefined;
  /** The typed error behind a refusal or drop, if any. */
  error?: Error | undefined;
  /**
   * What was decided and committed for this message, in order: the
   * runtime's effects, then one `trustChanged` per trust-log entry committed
   * (sanctions of a failed verification included). Empty when nothing was
   * committed.
   */
  effects: readonly Effect[];
  /** Envelopes to send back to the peer, in order. */
  replies: OutboundEnvelope[];
}

/** The result of {@linkcode ProtocolRouter.apply}: what to send, and what was committed. */
export interface Applied {
  /** The signed envelopes to send, in order. */
  replies: OutboundEnvelope[];
  /** The outcome's effects, then one `trustChanged` per committed trust-log entry. */
  effects: readonly Effect[];
}
