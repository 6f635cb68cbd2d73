/**
 * Types of the two trust machines: the events each accepts, their
 * configuration, and the {@linkcode Transition} one event produces.
 *
 * @module
 */

import type { EventData, Severity } from "../observability/mod.ts";
import type { SocialTrust, TrustLogEntry, TrustMachine, TrustRecord } from "../store/mod.ts";
import type { PeerTrust } from "../envelope/mod.ts";

/**
 * What happened to a CIP peer, named for the fact, not for its effect.
 *
 * - `valid_handshake`: HELLO/HELLO/VERIFY completed with valid challenge responses.
 * - `verified_knowledge`: a claim of the peer reached >= 2 trusted confirmations.
 * - `conflict`: a claim of the peer was disputed (it conflicts with knowledge).
 * - `unverifiable_claim`: a claim of the peer cannot be verified (bad DMP trace, challenge).
 * - `severe_conflict`: a claim of the peer contradicts accepted knowledge.
 * - `malicious_evidence`: the peer presented evidence shown to be fabricated.
 * - `proven_malice`: two signed, mutually contradicting claims, or a second
 *   signed claim contradicting accepted knowledge after the first was disputed.
 * - `anomaly`: a temporary anomaly of a trusted peer (re-verify it).
 * - `invalid_signature`: a signature of the peer (envelope or challenge response) did not verify.
 * - `fingerprint_mismatch`: the peer's envelope or handshake named another identity.
 * - `manual_override`: a named human lifts a blacklisting.
 * - `anchor_declared`: the owner declared the peer a trust anchor.
 * - `pin_declared`: the owner pinned the peer at a level (`TrustConfig.pins`);
 *   from then on no other event moves it.
 */
export type CipTrustEventType =
  | "valid_handshake"
  | "verified_knowledge"
  | "conflict"
  | "unverifiable_claim"
  | "severe_conflict"
  | "malicious_evidence"
  | "proven_malice"
  | "anomaly"
  | "invalid_signature"
  | "fingerprint_mismatch"
  | "manual_override"
  | "anchor_declared"
  | "pin_declared";

/** A level the owner may pin a CIP peer at (`TrustConfig.pins`). */
export type PinnedLevel = "probing" | "trusted";

/**
 * What happened in an HCP relation.
 *
 * - `valid_hello`: the enrolled person opened with a valid `HCP_HELLO`.
 * - `mutual_validation`: the person confirmed the agent's understanding and
 *   the agent the person's (e.g. positive feedback without corrections).
 * - `misunderstanding`: a correction or a clarification was needed.
 * - `consent_revoked`: the person revoked consent.
 * - `consent_restored`: the person granted (or limited) consent again.
 */
export type HcpTrustEventType =
  | "valid_hello"
  | "mutual_validation"
  | "misunderstanding"
  | "consent_revoked"
  | "consent_restored";

/** The event types of machine `M`. */
export type TrustEventType<M extends TrustMachine = TrustMachine> = M extends "cip"
  ? CipTrustEventType
  : HcpTrustEventType;

/** One event given to a trust machine. */
export interface TrustEvent<M extends TrustMachine = TrustMachine> {
  /** What happened. */
  type: TrustEventType<M>;
  /** `msg_id`s of the envelopes that show it (may be omitted). */
  evidence?: readonly string[] | undefined;
  /** A short note added to the logged reason. */
  note?: string | undefined;
  /** The named human who decided (`manual_override`, `anchor_declared`, `pin_declared`: required). */
  actor?: string | undefined;
}

/** Settings of both machines. Every field has a default ({@linkcode DEFAULT_TRUST_CONFIG}). */
export interface TrustConfig {
  /** Unverifiable claims within the window that send a probing peer back to untrusted. @default {3} */
  unverifiableThreshold: number;
  /** The window of `unverifiableThreshold`. @default {600000} */
  unverifiableWindowMs: number;
  /** After `probing -> untrusted` (or `-> untrusted` by a bad signature), no return to probing for this long. @default {600000} */
  cooldownMs: number;
  /** Conflicts and unverifiable claims counted while untrusted that amount to proven malice. @default {5} */
  maliceThreshold: number;
  /** Misunderstandings within the window that send a trusted relation back to probing. @default {3} */
  misunderstandingThreshold: number;
  /** The window of `misunderstandingThreshold`. @default {1800000} */
  misunderstandingWindowMs: number;
  /** Fingerprints the owner declares as trust anchors (they start trusted). @default {[]} */
  anchors: readonly string[];
  /** The owner's name, logged as the human actor of anchors. @default {"owner"} */
  owner: string;
  /**
   * CIP peers the owner pins at a level (fingerprint -> level): a pinned
   * peer starts at its level (`pin_declared`, logged with the owner as
   * actor) and no other event moves it (each is logged as ignored). The
   * A2A gateway pins each A2A client's key this way.
   * @default {{}}
   */
  pins: Readonly<Record<string, PinnedLevel>>;
}

/** The time an event is applied at, and the settings. */
export interface TrustContext {
  /** Now, milliseconds since the epoch. */
  nowMs: number;
  /** Settings. @default {DEFAULT_TRUST_CONFIG} */
  config?: Partial<TrustConfig> | undefined;
}

/**
 * What one event did to one subject: a transition, a count, or nothing
 * (all logged). It is the trust-log entry to store, plus the subject's
 * record after the event.
 */
export interface Transition extends TrustLogEntry {
  /** The subject's record after the event (counters updated even when ignored). */
  record: TrustRecord;
}

/** A telemetry event a trust change asks to emit (structurally an `Outcome` event). */
export interface TrustTelemetryEvent {
  /** `trust.transition` or `trust.ignored`. */
  kind: "trust.transition" | "trust.ignored";
  /** From, to, event, reason, evidence, machine. */
  data: EventData;
  /** `info` for transitions, `debug` for ignored events, `warn` for sanctions. */
  severity: Severity;
  /** The subject. */
  peer: string;
}

/** Reads trust: what runtimes are given. Unknown subjects read as `untrusted`. */
export interface TrustView {
  /** The subject's record (a fresh `untrusted` one if none is stored). */
  record(machine: TrustMachine, subject: string): TrustRecord;
  /** A CIP peer's trust. */
  peer(fingerprint: string): PeerTrust;
  /** An HCP person's social trust. */
  person(fingerprint: string): SocialTrust;
  /** Whether the fingerprint is a declared anchor. */
  isAnchor(fingerprint: string): boolean;
  /** The level the owner pinned the fingerprint at, if pinned. */
  pinnedAt(fingerprint: string): PinnedLevel | undefined;
  /** The settings in force. */
  readonly config: Readonly<TrustConfig>;
}
