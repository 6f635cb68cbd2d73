/**
 * What the CIP runtime's rooms share: the settings of a runtime instance and
 * one envelope's turn (the context, the time, and what accumulates: store
 * changes, trust events, replies, effects).
 *
 * @module
 */

import type { EnvelopeReceiver, PeerTrust } from "../envelope/mod.ts";
import {
  type Effect,
  type Outcome,
  outcome,
  type OutcomeStatus,
  type ReplySpec,
  type RuntimeContext,
} from "../runtime/mod.ts";
import type { StoreChange } from "../store/mod.ts";
import { type CipTrustEventType, TrustBatch } from "../trust/mod.ts";

/** The settings of one `CipRuntime`, as its rooms read them. */
export interface CipSettings {
  /** How long an unfinished handshake lives. */
  readonly handshakeTimeoutMs: number;
  /** The `retryAfterMs` of a deferral. */
  readonly deferRetryMs: number;
  /** Trusted confirmations that accept a claim. */
  readonly confirmationsNeeded: number;
  /** `capabilities` offered in HELLO. */
  readonly capabilities: readonly string[];
  /** `features` offered in HELLO. */
  readonly features: { readonly supports_mesh: boolean; readonly supports_multiplex: boolean };
}

/** One envelope's (or call's) handling: the context, the time, and what accumulates. */
export class Turn {
  /** The time every change of the turn is made at. */
  readonly nowMs: number;
  /** Trust events of the turn, each seeing the ones before. */
  readonly trust: TrustBatch;
  /** Store changes besides trust, in order. */
  readonly changes: StoreChange[] = [];
  /** Replies, in order. */
  readonly replies: ReplySpec[] = [];
  /** Effects, in order. */
  readonly effects: Effect[] = [];

  /**
   * Starts a turn.
   *
   * @param ctx The context of the envelope or call.
   */
  constructor(readonly ctx: RuntimeContext) {
    this.nowMs = ctx.now();
    this.trust = new TrustBatch(ctx.trust, this.nowMs);
  }

  /** The authenticated peer's trust as this turn has it. */
  get peerTrust(): PeerTrust {
    return this.trust.state("cip", this.ctx.peer) as PeerTrust;
  }

  /**
   * Applies a trust event (sanctions fall only ever on `ctx.peer`).
   *
   * @param type The event.
   * @param evidence The `msg_id`s behind it.
   * @param note Words for the log.
   * @param subject Whose trust (`ctx.peer` unless a reward names another).
   */
  trustEvent(
    type: CipTrustEventType,
    evidence: string[],
    note?: string,
    subject: string = this.ctx.peer,
  ): void {
    this.trust.apply("cip", subject, { type, evidence, ...(note === undefined ? {} : { note }) });
  }

  /**
   * Adds a reply.
   *
   * @param spec The unsigned reply.
   */
  reply(spec: ReplySpec): void {
    this.replies.push(spec);
  }

  /**
   * Adds an effect.
   *
   * @param effect What was decided.
   */
  effect(effect: Effect): void {
    this.effects.push(effect);
  }

  /**
   * The turn's outcome: its changes (then the trust changes), replies and
   * effects.
   *
   * @param status What happened.
   * @param parts Code, reason, retry delay.
   * @returns The outcome.
   */
  done(
    status: OutcomeStatus,
    parts: { code?: string; reason?: string; retryAfterMs?: number } = {},
  ): Outcome {
    return outcome(status, {
      ...parts,
      changes: [...this.changes, ...this.trust.changes],
      replies: this.replies,
      effects: this.effects,
    });
  }
}

/**
 * Checks that a receiver block is for the context's peer.
 *
 * @param receiver The receiver block.
 * @param ctx The context.
 * @throws {TypeError} If `receiver.fingerprint` is not `ctx.peer`.
 */
export function checkReceiver(receiver: EnvelopeReceiver, ctx: RuntimeContext): void {
  if (receiver.fingerprint !== ctx.peer) {
    throw new TypeError(`Receiver ${receiver.fingerprint} is not the context's peer ${ctx.peer}`);
  }
}
