/**
 * The CIP/1.0 runtime: a thin dispatcher over its rooms, the handshake
 * (`handshake.ts`), presence and intents (`intents.ts`) and the knowledge
 * exchange (`ledger.ts`: the claim ledger, causal and decision memory).
 * Pure: it reads the store and trust through the context and returns an
 * {@linkcode Outcome}.
 *
 * @module
 */

import type { CipEnvelope, CipType, EnvelopeReceiver, IntentPayload } from "../envelope/mod.ts";
import type { Outcome, ProtocolRuntime, RuntimeContext, SanctionRule } from "../runtime/mod.ts";
import {
  handleError,
  handleHello,
  handleVerify,
  openHandshake,
  sanctionVerification,
} from "./handshake.ts";
import { declareIntent, handleIntent, handleStateUpdate } from "./intents.ts";
import { handleDecision, handlePropose, handleVote, settleClaim } from "./ledger.ts";
import { checkReceiver, type CipSettings, Turn } from "./turn.ts";

/** Options of {@linkcode CipRuntime}. */
export interface CipRuntimeOptions {
  /** How long an unfinished handshake lives. @default {30000} */
  handshakeTimeoutMs?: number | undefined;
  /** The `retryAfterMs` of a deferral. @default {30000} */
  deferRetryMs?: number | undefined;
  /** Trusted confirmations that accept a claim. @default {2} */
  confirmationsNeeded?: number | undefined;
  /** `capabilities` offered in HELLO. @default {["state_exchange", "knowledge_exchange", "dmp_trace"]} */
  capabilities?: readonly string[] | undefined;
  /** `features` offered in HELLO. @default {{ supports_mesh: false, supports_multiplex: true }} */
  features?: { supports_mesh: boolean; supports_multiplex: boolean } | undefined;
}

/** The CIP message types this runtime handles: all ten. */
export const CIP_TYPES: readonly CipType[] = Object.freeze([
  "HELLO",
  "VERIFY",
  "INTENT",
  "FACT_PROPOSE",
  "FACT_CHALLENGE",
  "FACT_CONFIRM",
  "FACT_REJECT",
  "DECISION_SHARE",
  "STATE_UPDATE",
  "ERROR",
] as CipType[]);

function _positive(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 1)) {
    throw new RangeError(`Expected ${name} to be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * The CIP/1.0 protocol runtime. One instance serves every peer: all state
 * lives in the store and comes in through the context.
 *
 * @example A handshake between two runtimes, without a router
 * ```ts
 * import { CipRuntime } from "./mod.ts";
 * import { createRuntimeContext, msgIdBytes, selfFromIdentity, type ReplySpec } from "../runtime/mod.ts";
 * import { createEnvelope, type CipEnvelope } from "../envelope/mod.ts";
 * import { Identity } from "../identity/mod.ts";
 * import { openStore } from "../store/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = [await Identity.generate({ agentId: "a" }), await Identity.generate({ agentId: "b" })];
 * using storeA = openStore(":memory:");
 * using storeB = openStore(":memory:");
 * const cip = new CipRuntime();
 * const ctxA = () => createRuntimeContext({ self: selfFromIdentity(a), peer: b.fingerprint, store: storeA });
 * const ctxB = () => createRuntimeContext({ self: selfFromIdentity(b), peer: a.fingerprint, store: storeB });
 * const sign = (from: Identity, spec: ReplySpec) =>
 *   createEnvelope("cip", spec.type as "HELLO", {
 *     identity: from,
 *     receiver: spec.receiver,
 *     payload: spec.payload as never,
 *     random: () => msgIdBytes(spec.msg_id),
 *   }) as Promise<CipEnvelope>;
 *
 * const open = cip.open({ agent_id: "b", fingerprint: b.fingerprint }, ctxA());
 * storeA.commit(open.changes);
 * const atB = await cip.handle(await sign(a, open.replies[0]!), ctxB()); // answering HELLO
 * storeB.commit(atB.changes);
 * const atA = await cip.handle(await sign(b, atB.replies[0]!), ctxA()); // VERIFY + STATE_UPDATE
 * storeA.commit(atA.changes);
 * const done = await cip.handle(await sign(a, atA.replies[0]!), ctxB());
 * storeB.commit(done.changes);
 * assert.equal(storeA.trust("cip", b.fingerprint)?.state, "probing");
 * assert.equal(storeB.trust("cip", a.fingerprint)?.state, "probing");
 * assert.deepEqual(done.effects, [{ type: "handshakeVerified", peer: a.fingerprint, trust: "probing" }]);
 * ```
 */
export class CipRuntime implements ProtocolRuntime<"cip"> {
  /** Always `"cip"`. */
  readonly protocol = "cip" as const;
  /** Every CIP type, `ERROR` included. */
  readonly types: readonly CipType[] = CIP_TYPES;
  /** How long an unfinished handshake lives. */
  readonly handshakeTimeoutMs: number;
  /** The `retryAfterMs` of a deferral. */
  readonly deferRetryMs: number;
  /** Trusted confirmations that accept a claim. */
  readonly confirmationsNeeded: number;
  /**
   * The sanction rule the router applies to envelopes that fail
   * verification ({@linkcode CipRuntime.verificationFailed}): peer trust is
   * the CIP machine, so the CIP runtime owns it.
   */
  readonly sanctions: SanctionRule;
  readonly #settings: CipSettings;

  /**
   * Creates the runtime.
   *
   * @param options Timeouts, thresholds, what HELLO offers.
   * @throws {RangeError} If a duration or threshold is not a positive integer.
   */
  constructor(options: CipRuntimeOptions = {}) {
    this.handshakeTimeoutMs = _positive("handshakeTimeoutMs", options.handshakeTimeoutMs ?? 30_000);
    this.deferRetryMs = _positive("deferRetryMs", options.deferRetryMs ?? 30_000);
    this.confirmationsNeeded = _positive("confirmationsNeeded", options.confirmationsNeeded ?? 2);
    this.#settings = {
      handshakeTimeoutMs: this.handshakeTimeoutMs,
      deferRetryMs: this.deferRetryMs,
      confirmationsNeeded: this.confirmationsNeeded,
      capabilities: [
        ...(options.capabilities ?? ["state_exchange", "knowledge_exchange", "dmp_trace"]),
      ],
      features: { ...(options.features ?? { supports_mesh: false, supports_multiplex: true }) },
    };
    this.sanctions = (error, ctx, msgId) => this.verificationFailed(error, ctx, msgId);
  }

  /**
   * Opens a handshake with `ctx.peer`: a HELLO with a fresh nonce and
   * challenge (from `ctx.random`, in that order, then the msg_id).
   *
   * @param receiver The peer's `receiver` block (its fingerprint must be `ctx.peer`).
   * @param ctx The context.
   * @returns `handled` with the HELLO; `refused` (`blacklisted`) for a
   *   blacklisted peer; `ignored` (`handshake_in_progress`) while one runs.
   * @throws {TypeError} If `receiver.fingerprint` is not `ctx.peer`.
   */
  open(receiver: EnvelopeReceiver, ctx: RuntimeContext): Outcome {
    checkReceiver(receiver, ctx);
    return openHandshake(new Turn(ctx), receiver, this.#settings);
  }

  /**
   * Declares an intent to `ctx.peer`. An overloaded peer (its last
   * presence or lri) is not sent anything: the outcome is `deferred`.
   *
   * @param receiver The peer's `receiver` block (its fingerprint must be `ctx.peer`).
   * @param intent Goal, topic, priority, optional context.
   * @param ctx The context.
   * @returns `handled` with the INTENT, or `deferred` (`peer_overloaded`).
   * @throws {TypeError} If `receiver.fingerprint` is not `ctx.peer`.
   */
  intent(
    receiver: EnvelopeReceiver,
    intent: Omit<IntentPayload, "in_reply_to" | "decision">,
    ctx: RuntimeContext,
  ): Outcome {
    checkReceiver(receiver, ctx);
    return declareIntent(new Turn(ctx), receiver, intent, this.#settings);
  }

  /**
   * What to do when an envelope from `ctx.peer` failed verification: a bad
   * signature makes the peer `untrusted`; a fingerprint that does not match
   * its key, or a sender other than the session's peer, makes it
   * `blacklisted`. Replayed, stale or malformed envelopes change no trust.
   * Only `ctx.peer` (the authenticated session peer) is ever sanctioned.
   *
   * @param error What `verifyEnvelope` threw.
   * @param ctx The context.
   * @param msgId The envelope's `msg_id` if known, logged as evidence.
   * @returns `refused` with the trust changes, or `ignored` for other errors.
   */
  verificationFailed(error: unknown, ctx: RuntimeContext, msgId?: string): Outcome {
    return sanctionVerification(new Turn(ctx), error, msgId);
  }

  /**
   * Handles one verified CIP envelope from `ctx.peer`.
   *
   * @param envelope The verified envelope.
   * @param ctx The context.
   * @returns The outcome.
   */
  async handle(envelope: CipEnvelope, ctx: RuntimeContext): Promise<Outcome> {
    const turn = new Turn(ctx);
    if (envelope.sender.fingerprint !== ctx.peer) {
      // The router binds sender to the session; if it did not, the session's peer answers for it.
      turn.trustEvent(
        "fingerprint_mismatch",
        [envelope.msg_id],
        `envelope names ${envelope.sender.fingerprint}`,
      );
      return turn.done("refused", {
        code: "fingerprint_mismatch",
        reason:
          `Envelope sender ${envelope.sender.fingerprint} is not the session's peer ${ctx.peer}`,
      });
    }
    if (turn.peerTrust === "blacklisted") {
      turn.effect({
        type: "blacklistedDropped",
        peer: ctx.peer,
        msgId: envelope.msg_id,
        messageType: envelope.type,
      });
      return turn.done("ignored", {
        code: "blacklisted",
        reason: `Peer ${ctx.peer} is blacklisted`,
      });
    }
    const settings = this.#settings;
    switch (envelope.type) {
      case "HELLO":
        return await handleHello(turn, envelope, settings);
      case "VERIFY":
        return await handleVerify(turn, envelope);
      case "STATE_UPDATE":
        return handleStateUpdate(turn, envelope);
      case "INTENT":
        return handleIntent(turn, envelope, settings);
      case "FACT_PROPOSE":
        return handlePropose(turn, envelope);
      case "FACT_CONFIRM":
      case "FACT_REJECT":
      case "FACT_CHALLENGE":
        return handleVote(turn, envelope, settings);
      case "DECISION_SHARE":
        return handleDecision(turn, envelope);
      case "ERROR":
        return handleError(turn, envelope);
      default:
        return turn.done("refused", {
          code: "unknown_type",
          reason: `Unknown CIP message type ${
            JSON.stringify((envelope as { type: unknown }).type)
          }`,
        });
    }
  }

  /**
   * Re-evaluates one pending claim (for instance once the local load has
   * dropped): accepted if it now meets every acceptance rule.
   *
   * @param claimId The claim.
   * @param ctx The context (`ctx.peer` is not used for sanctions here).
   * @returns `handled` if it was accepted or disputed, `deferred` if it
   *   stays pending, `ignored` if there is no pending claim by that id.
   */
  settle(claimId: string, ctx: RuntimeContext): Outcome {
    return settleClaim(new Turn(ctx), claimId, this.#settings);
  }
}
