/**
 * The CIP/1.0 runtime: handshake (HELLO, HELLO, VERIFY, trust gate,
 * STATE_UPDATE, INTENT), presence, and knowledge exchange (the claim
 * ledger, causal and decision memory). Pure: it reads the store and trust
 * through the context and returns an {@linkcode Outcome}.
 *
 * @module
 */

import {
  type CipEnvelope,
  type CipType,
  type EnvelopeReceiver,
  FingerprintMismatchError,
  type IntentPayload,
  type PeerTrust,
  SignatureMismatchError,
  TrustViolationError,
} from "../envelope/mod.ts";
import { verifyEd25519 } from "../identity/mod.ts";
import {
  type Effect,
  isOverloaded,
  newMsgId,
  type Outcome,
  outcome,
  type OutcomeEvent,
  type OutcomeStatus,
  type ProtocolRuntime,
  type ReplySpec,
  type RuntimeContext,
} from "../runtime/mod.ts";
import type { ClaimRecord, ClaimStatus, HandshakeRecord, StoreChange } from "../store/mod.ts";
import { type CipTrustEventType, TrustBatch } from "../trust/mod.ts";
import {
  causalLinksOf,
  challengeResponseBytes,
  conflicts,
  factSubject,
  type Knowable,
  traceProblem,
} from "./knowledge_rules.ts";

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

const _PROTOCOL = "cip/1.0";

function _checkReceiver(receiver: EnvelopeReceiver, ctx: RuntimeContext): void {
  if (receiver.fingerprint !== ctx.peer) {
    throw new TypeError(`Receiver ${receiver.fingerprint} is not the context's peer ${ctx.peer}`);
  }
}

function _positive(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 1)) {
    throw new RangeError(`Expected ${name} to be a positive integer, got ${value}`);
  }
  return value;
}

/** One envelope's handling: the context, the time, and what accumulates. */
class _Turn {
  readonly nowMs: number;
  readonly trust: TrustBatch;
  readonly changes: StoreChange[] = [];
  readonly replies: ReplySpec[] = [];
  readonly effects: Effect[] = [];
  readonly events: OutcomeEvent[] = [];

  constructor(readonly ctx: RuntimeContext) {
    this.nowMs = ctx.now();
    this.trust = new TrustBatch(ctx.trust, this.nowMs);
  }

  /** The authenticated peer's trust as this turn has it. */
  get peerTrust(): PeerTrust {
    return this.trust.state("cip", this.ctx.peer) as PeerTrust;
  }

  /** A trust event for a peer (sanctions: only ever `ctx.peer`). */
  trustEvent(type: CipTrustEventType, evidence: string[], note?: string, subject = this.ctx.peer) {
    this.trust.apply("cip", subject, { type, evidence, ...(note === undefined ? {} : { note }) });
  }

  event(kind: string, data: OutcomeEvent["data"], severity: OutcomeEvent["severity"] = "info") {
    this.events.push({ kind, data, severity, peer: this.ctx.peer });
  }

  reply(spec: ReplySpec) {
    this.replies.push(spec);
  }

  effect(effect: Effect) {
    this.effects.push(effect);
  }

  /** A claim of the ledger changed status: the effect, and its `cip.claim` event. */
  claimChanged(
    claim: string,
    status: ClaimStatus,
    reason: string,
    proposer: string,
    named = false,
  ) {
    this.effects.push({
      type: "claimChanged",
      origin: "cip",
      claim,
      status,
      reason,
      peer: proposer,
    });
    this.event("cip.claim", { claim, status, reason, ...(named ? { proposer } : {}) });
  }

  done(
    status: OutcomeStatus,
    parts: { code?: string; reason?: string; retryAfterMs?: number } = {},
  ): Outcome {
    return outcome(status, {
      ...parts,
      changes: [...this.changes, ...this.trust.changes],
      replies: this.replies,
      effects: this.effects,
      events: [...this.trust.events, ...this.events],
    });
  }
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
  readonly #capabilities: string[];
  readonly #features: { supports_mesh: boolean; supports_multiplex: boolean };

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
    this.#capabilities = [
      ...(options.capabilities ?? ["state_exchange", "knowledge_exchange", "dmp_trace"]),
    ];
    this.#features = {
      ...(options.features ?? { supports_mesh: false, supports_multiplex: true }),
    };
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
    _checkReceiver(receiver, ctx);
    const turn = new _Turn(ctx);
    if (turn.peerTrust === "blacklisted") {
      return turn.done("refused", {
        code: "blacklisted",
        reason: `Peer ${ctx.peer} is blacklisted`,
      });
    }
    const current = this.#liveHandshake(turn);
    if (current !== undefined && current.stage !== "verified") {
      return turn.done("ignored", {
        code: "handshake_in_progress",
        reason: `A handshake with ${ctx.peer} is ${current.stage}`,
      });
    }
    this.#sendHello(turn, receiver, undefined);
    turn.event("cip.handshake", { step: "hello_sent" });
    return turn.done("handled");
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
    _checkReceiver(receiver, ctx);
    const turn = new _Turn(ctx);
    const presence = ctx.store.presence(ctx.peer);
    if (presence !== undefined && isOverloaded(presence, ctx.config)) {
      return turn.done("deferred", {
        code: "peer_overloaded",
        reason: `Peer ${ctx.peer} is overloaded (${presence.presence}, lri ${presence.lri})`,
        retryAfterMs: this.deferRetryMs,
      });
    }
    turn.reply({
      protocol: "cip",
      type: "INTENT",
      msg_id: newMsgId(ctx.random),
      receiver,
      payload: { ...intent },
    });
    return turn.done("handled");
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
    const turn = new _Turn(ctx);
    const evidence = msgId === undefined ? [] : [msgId];
    if (error instanceof SignatureMismatchError) {
      turn.trustEvent("invalid_signature", evidence, error.message);
      return turn.done("refused", { code: "bad_signature", reason: error.message });
    }
    if (
      error instanceof FingerprintMismatchError ||
      (error instanceof TrustViolationError && error.path.startsWith("/sender"))
    ) {
      turn.trustEvent("fingerprint_mismatch", evidence, error.message);
      return turn.done("refused", { code: "fingerprint_mismatch", reason: error.message });
    }
    const reason = error instanceof Error ? error.message : String(error);
    turn.event("cip.verification_failed", { reason }, "warn");
    return turn.done("ignored", { code: "invalid_envelope", reason });
  }

  /**
   * Handles one verified CIP envelope from `ctx.peer`.
   *
   * @param envelope The verified envelope.
   * @param ctx The context.
   * @returns The outcome.
   */
  async handle(envelope: CipEnvelope, ctx: RuntimeContext): Promise<Outcome> {
    const turn = new _Turn(ctx);
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
      turn.event("cip.dropped", { msg_id: envelope.msg_id, type: envelope.type }, "warn");
      return turn.done("ignored", {
        code: "blacklisted",
        reason: `Peer ${ctx.peer} is blacklisted`,
      });
    }
    switch (envelope.type) {
      case "HELLO":
        return await this.#hello(turn, envelope);
      case "VERIFY":
        return await this.#verify(turn, envelope);
      case "STATE_UPDATE":
        return this.#stateUpdate(turn, envelope);
      case "INTENT":
        return this.#intent(turn, envelope);
      case "FACT_PROPOSE":
        return this.#propose(turn, envelope);
      case "FACT_CONFIRM":
      case "FACT_REJECT":
      case "FACT_CHALLENGE":
        return this.#vote(turn, envelope);
      case "DECISION_SHARE":
        return this.#decision(turn, envelope);
      case "ERROR":
        return this.#error(turn, envelope);
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
    const turn = new _Turn(ctx);
    const claim = ctx.store.claim(claimId);
    if (claim === undefined || claim.status !== "pending") {
      return turn.done("ignored", { code: "not_pending", reason: `No pending claim ${claimId}` });
    }
    const status = this.#evaluate(turn, claim);
    return status === "pending"
      ? turn.done("deferred", { code: "pending", reason: `Claim ${claimId} stays pending` })
      : turn.done("handled");
  }

  // ---- handshake ----------------------------------------------------------

  /** The peer's handshake, unless it has expired (time-based: applied when read). */
  #liveHandshake(turn: _Turn): HandshakeRecord | undefined {
    const record = turn.ctx.store.handshake(turn.ctx.peer);
    if (record === undefined) return undefined;
    if (record.stage !== "verified" && turn.nowMs > record.deadlineMs) return undefined;
    return record;
  }

  #sendHello(
    turn: _Turn,
    receiver: EnvelopeReceiver,
    answer: { challengeResponse: string; inReplyTo: string; theirNonce: string } | undefined,
  ): void {
    const { ctx } = turn;
    const nonce = ctx.random(16).slice(0, 16).toBase64();
    const challenge = ctx.random(32).slice(0, 32).toBase64();
    const msgId = newMsgId(ctx.random);
    const payload = {
      protocols: [_PROTOCOL],
      capabilities: [...this.#capabilities],
      session_nonce: nonce,
      challenge,
      features: { ...this.#features },
      ...(answer === undefined
        ? {}
        : { challenge_response: answer.challengeResponse, in_reply_to: answer.inReplyTo }),
    };
    turn.reply({ protocol: "cip", type: "HELLO", msg_id: msgId, receiver, payload });
    const record: HandshakeRecord = {
      peer: ctx.peer,
      role: answer === undefined ? "initiator" : "responder",
      stage: answer === undefined ? "hello_sent" : "hello_answered",
      ourNonce: nonce,
      ourChallenge: challenge,
      ourHelloId: msgId,
      startedMs: turn.nowMs,
      deadlineMs: turn.nowMs + this.handshakeTimeoutMs,
    };
    if (answer !== undefined) {
      record.theirNonce = answer.theirNonce;
      record.theirHelloId = answer.inReplyTo;
    }
    turn.changes.push({ kind: "handshake.set", record });
  }

  async #respond(turn: _Turn, challenge: string): Promise<string> {
    const { self, peer } = turn.ctx;
    return (await self.sign(challengeResponseBytes(peer, self.fingerprint, challenge))).toBase64();
  }

  async #responseValid(
    turn: _Turn,
    envelope: CipEnvelope,
    ourChallenge: string,
    response: string | undefined,
  ): Promise<boolean> {
    if (response === undefined) return false;
    // The payload schema has checked that it is base64 of 64 bytes.
    const signature = Uint8Array.fromBase64(response);
    const data = challengeResponseBytes(turn.ctx.self.fingerprint, turn.ctx.peer, ourChallenge);
    return await verifyEd25519(Uint8Array.fromBase64(envelope.sender.pubkey), data, signature);
  }

  /** A failed handshake: sanction a bad response, forget the handshake if it was ours, refuse. */
  #failHandshake(
    turn: _Turn,
    envelope: CipEnvelope,
    code: string,
    reason: string,
    effect: "keep" | "clear" | "sanction",
  ) {
    // An envelope that answers nothing we sent leaves the live handshake alone.
    if (effect === "sanction") turn.trustEvent("invalid_signature", [envelope.msg_id], reason);
    if (effect !== "keep") turn.changes.push({ kind: "handshake.clear", peer: turn.ctx.peer });
    turn.event("cip.handshake", { step: "failed", code, msg_id: envelope.msg_id }, "warn");
    return turn.done("refused", { code, reason });
  }

  /** After a valid exchange: the trust gate, then the first STATE_UPDATE. */
  #gate(turn: _Turn, envelope: CipEnvelope, record: HandshakeRecord) {
    turn.trustEvent("valid_handshake", [envelope.msg_id]);
    turn.changes.push({ kind: "handshake.set", record: { ...record, stage: "verified" } });
    turn.event("cip.handshake", { step: "verified", trust: turn.peerTrust });
    turn.effect({ type: "handshakeVerified", peer: turn.ctx.peer });
    turn.reply({
      protocol: "cip",
      type: "STATE_UPDATE",
      msg_id: newMsgId(turn.ctx.random),
      receiver: { agent_id: envelope.sender.agent_id, fingerprint: turn.ctx.peer },
      payload: {
        presence: turn.ctx.load.presence,
        lri: turn.ctx.load.lri,
        ltppeerstate: turn.peerTrust,
      },
    });
  }

  async #hello(turn: _Turn, envelope: CipEnvelope<"HELLO">): Promise<Outcome> {
    const { ctx } = turn;
    const p = envelope.payload;
    const receiver = { agent_id: envelope.sender.agent_id, fingerprint: ctx.peer };
    if (!p.protocols.includes(_PROTOCOL)) {
      return turn.done("refused", {
        code: "unsupported_protocol",
        reason: `HELLO offers ${JSON.stringify(p.protocols)}, not "${_PROTOCOL}"`,
      });
    }
    const current = this.#liveHandshake(turn);
    if (p.in_reply_to === undefined) {
      // An opening HELLO. If we opened too, the lower fingerprint's opening wins.
      if (current?.stage === "hello_sent" && ctx.self.fingerprint < ctx.peer) {
        turn.event("cip.handshake", { step: "simultaneous_open", kept: "ours" });
        return turn.done("ignored", {
          code: "simultaneous_open",
          reason: "Both sides opened; the lower fingerprint's HELLO is answered",
        });
      }
      const response = await this.#respond(turn, p.challenge);
      this.#sendHello(turn, receiver, {
        challengeResponse: response,
        inReplyTo: envelope.msg_id,
        theirNonce: p.session_nonce,
      });
      turn.event("cip.handshake", { step: "hello_answered" });
      return turn.done("handled");
    }
    // An answering HELLO: it must answer our live HELLO.
    if (
      current === undefined || current.role !== "initiator" || current.stage !== "hello_sent" ||
      current.ourHelloId !== p.in_reply_to
    ) {
      const stored = ctx.store.handshake(ctx.peer);
      const expired = stored !== undefined && stored.ourHelloId === p.in_reply_to &&
        stored.stage === "hello_sent";
      return this.#failHandshake(
        turn,
        envelope,
        expired ? "handshake_timeout" : "unexpected_hello",
        expired
          ? `The handshake with ${ctx.peer} timed out`
          : `HELLO answers ${p.in_reply_to}, not our open HELLO`,
        expired ? "clear" : "keep",
      );
    }
    if (!(await this.#responseValid(turn, envelope, current.ourChallenge, p.challenge_response))) {
      return this.#failHandshake(
        turn,
        envelope,
        "bad_challenge_response",
        "The answering HELLO's challenge response does not verify",
        "sanction",
      );
    }
    const response = await this.#respond(turn, p.challenge);
    turn.reply({
      protocol: "cip",
      type: "VERIFY",
      msg_id: newMsgId(ctx.random),
      receiver,
      payload: {
        challenge_response: response,
        in_reply_to: envelope.msg_id,
        session_nonces: [current.ourNonce, p.session_nonce],
      },
    });
    this.#gate(turn, envelope, {
      ...current,
      theirNonce: p.session_nonce,
      theirHelloId: envelope.msg_id,
    });
    return turn.done("handled");
  }

  async #verify(turn: _Turn, envelope: CipEnvelope<"VERIFY">): Promise<Outcome> {
    const p = envelope.payload;
    const current = this.#liveHandshake(turn);
    if (
      current === undefined || current.role !== "responder" || current.stage !== "hello_answered" ||
      current.ourHelloId !== p.in_reply_to
    ) {
      return this.#failHandshake(
        turn,
        envelope,
        "unexpected_verify",
        `VERIFY answers ${p.in_reply_to}, not our open HELLO`,
        "keep",
      );
    }
    if (p.session_nonces[0] !== current.theirNonce || p.session_nonces[1] !== current.ourNonce) {
      return this.#failHandshake(
        turn,
        envelope,
        "nonce_mismatch",
        "VERIFY's session_nonces are not this handshake's",
        "clear",
      );
    }
    if (!(await this.#responseValid(turn, envelope, current.ourChallenge, p.challenge_response))) {
      return this.#failHandshake(
        turn,
        envelope,
        "bad_challenge_response",
        "VERIFY's challenge response does not verify",
        "sanction",
      );
    }
    this.#gate(turn, envelope, current);
    return turn.done("handled");
  }

  // ---- state and intent ---------------------------------------------------

  #stateUpdate(turn: _Turn, envelope: CipEnvelope<"STATE_UPDATE">): Outcome {
    const p = envelope.payload;
    const record = {
      peer: turn.ctx.peer,
      presence: p.presence,
      lri: p.lri,
      peerView: p.ltppeerstate,
      kernelSignals: [...(p.kernel_signals ?? [])],
      updatedMs: turn.nowMs,
      ...(p.intent === undefined ? {} : { intent: p.intent }),
    };
    turn.changes.push({ kind: "presence.set", record });
    turn.event("cip.state_update", { presence: p.presence, lri: p.lri, peer_view: p.ltppeerstate });
    return turn.done("handled");
  }

  #intent(turn: _Turn, envelope: CipEnvelope<"INTENT">): Outcome {
    const { ctx } = turn;
    const p = envelope.payload;
    if (p.in_reply_to !== undefined) {
      turn.event("cip.intent_answered", {
        in_reply_to: p.in_reply_to,
        decision: p.decision ?? null,
        topic: p.topic,
      });
      return turn.done("handled");
    }
    const theirs = envelope.state ?? ctx.store.presence(ctx.peer);
    const peerBusy = theirs !== undefined && isOverloaded(theirs, ctx.config);
    const weBusy = isOverloaded(ctx.load, ctx.config);
    const decision = peerBusy || weBusy ? "defer" : "accept";
    turn.reply({
      protocol: "cip",
      type: "INTENT",
      msg_id: newMsgId(ctx.random),
      receiver: { agent_id: envelope.sender.agent_id, fingerprint: ctx.peer },
      payload: {
        goal: p.goal,
        topic: p.topic,
        priority: p.priority,
        in_reply_to: envelope.msg_id,
        decision,
      },
    });
    turn.event("cip.intent", { goal: p.goal, topic: p.topic, decision });
    turn.effect({
      type: "intentReceived",
      peer: ctx.peer,
      msgId: envelope.msg_id,
      goal: p.goal,
      topic: p.topic,
      priority: p.priority,
      context: p.context,
      decision,
    });
    if (decision === "accept") return turn.done("handled");
    return turn.done("deferred", {
      code: weBusy ? "overloaded" : "peer_overloaded",
      reason: weBusy ? "We are overloaded" : `Peer ${ctx.peer} is overloaded`,
      retryAfterMs: this.deferRetryMs,
    });
  }

  // ---- knowledge ----------------------------------------------------------

  /** The claims and accepted facts a new claim conflicts with. */
  #conflictsOf(
    turn: _Turn,
    claim: ClaimRecord,
  ): { accepted: string[]; own: ClaimRecord[]; others: ClaimRecord[] } {
    const { store } = turn.ctx;
    const me: Knowable = { ...claim, contradicts: _contradicts(claim) };
    const accepted = new Set<string>();
    const facts = [
      ...(claim.subject === undefined
        ? []
        : store.causalFactsAbout(claim.fact.domain, claim.subject)),
      ...me.contradicts.map((ref) => store.causalFact(ref)),
      ...store.causalLinks(claim.id, "to").filter((l) => l.relation === "contradicts")
        .map((l) => store.causalFact(l.from)),
    ];
    for (const f of facts) {
      if (f === undefined) continue;
      const links = store.causalLinks(f.id).filter((l) => l.relation === "contradicts").map((l) =>
        l.ref
      );
      if (conflicts(me, { ...f, contradicts: links })) accepted.add(f.id);
    }
    const seen = new Set<string>();
    const own: ClaimRecord[] = [];
    const others: ClaimRecord[] = [];
    const candidates = [
      ...(claim.subject === undefined ? [] : store.claimsAbout(claim.fact.domain, claim.subject)),
      ...me.contradicts.map((ref) => store.claim(ref)),
    ];
    for (const c of candidates) {
      if (c === undefined || seen.has(c.id) || accepted.has(c.id)) continue;
      seen.add(c.id);
      if (!conflicts(me, { ...c, contradicts: _contradicts(c) })) continue;
      if (c.peer === claim.peer) own.push(c);
      else if (c.status === "pending") others.push(c); // a disputed claim has already lost
    }
    return { accepted: [...accepted], own, others };
  }

  #setStatus(turn: _Turn, claim: ClaimRecord, status: ClaimStatus, reason: string): ClaimRecord {
    const next = { ...claim, status, reason, updatedMs: turn.nowMs };
    turn.changes.push({ kind: "claim.upsert", claim: next });
    turn.claimChanged(claim.id, status, reason, claim.peer, true);
    return next;
  }

  #challenge(turn: _Turn, envelope: CipEnvelope, notes: string) {
    turn.reply({
      protocol: "cip",
      type: "FACT_CHALLENGE",
      msg_id: newMsgId(turn.ctx.random),
      receiver: { agent_id: envelope.sender.agent_id, fingerprint: turn.ctx.peer },
      payload: { fact_ref: envelope.msg_id, reason: "conflict", notes },
    });
  }

  #propose(turn: _Turn, envelope: CipEnvelope<"FACT_PROPOSE">): Outcome {
    const { ctx } = turn;
    const p = envelope.payload;
    if (ctx.store.claim(envelope.msg_id) !== undefined) {
      return turn.done("ignored", {
        code: "duplicate",
        reason: `Claim ${envelope.msg_id} is known`,
      });
    }
    const named = factSubject(p.fact);
    const claim: ClaimRecord = {
      id: envelope.msg_id,
      peer: ctx.peer,
      fact: p.fact,
      trace: p.dmp_trace,
      links: [...(p.causal_links ?? [])],
      status: "pending",
      reason: "awaiting trusted confirmations",
      createdMs: turn.nowMs,
      updatedMs: turn.nowMs,
      ...(named === undefined ? {} : { subject: named.subject, valueCanon: named.valueCanon }),
    };
    const evidence = [envelope.msg_id];
    const problem = traceProblem(p.dmp_trace, p.fact) ??
      this.#reusedDecision(turn, p.dmp_trace.decision_id);
    if (problem !== null) {
      turn.changes.push({
        kind: "claim.upsert",
        claim: { ...claim, status: "rejected", reason: `inconsistent_trace: ${problem}` },
      });
      turn.trustEvent("unverifiable_claim", evidence, problem);
      turn.claimChanged(claim.id, "rejected", problem, claim.peer);
      return turn.done("refused", { code: "inconsistent_trace", reason: `DMP trace: ${problem}` });
    }
    const found = this.#conflictsOf(turn, claim);
    const state = turn.peerTrust;
    const priorLies = ctx.store.claimsBy(ctx.peer, "disputed").filter((c) =>
      c.reason.startsWith("contradicts_accepted")
    );
    // Proven malice: two signed, mutually contradicting claims; or a second
    // claim contradicting accepted knowledge after the first was disputed.
    if (found.own.length > 0 || (found.accepted.length > 0 && priorLies.length > 0)) {
      const refs = found.own.length > 0 ? found.own.map((c) => c.id) : priorLies.map((c) => c.id);
      const why = found.own.length > 0 ? "contradicts_own_claim" : "contradicts_accepted";
      turn.changes.push({
        kind: "claim.upsert",
        claim: {
          ...claim,
          status: "disputed",
          reason: `${why}: ${[...found.accepted, ...refs].join(",")}`,
        },
      });
      for (const own of found.own) {
        if (own.status !== "disputed") {
          this.#setStatus(turn, own, "disputed", `contradicted_by_own_claim: ${claim.id}`);
        }
      }
      turn.trustEvent("proven_malice", [...evidence, ...refs], why);
      this.#challenge(
        turn,
        envelope,
        `${why.replaceAll("_", " ")} ${[...found.accepted, ...refs].join(", ")}`,
      );
      return turn.done("handled", { code: "disputed", reason: why });
    }
    if (state === "untrusted") {
      turn.changes.push({
        kind: "claim.upsert",
        claim: { ...claim, status: "rejected", reason: "untrusted_source" },
      });
      const conflicting = found.accepted.length + found.others.length > 0;
      if (conflicting) {
        turn.trustEvent("conflict", evidence, "claim from an untrusted peer conflicts");
      }
      return turn.done("refused", { code: "untrusted", reason: `Peer ${ctx.peer} is untrusted` });
    }
    if (found.accepted.length > 0) {
      turn.changes.push({
        kind: "claim.upsert",
        claim: {
          ...claim,
          status: "disputed",
          reason: `contradicts_accepted: ${found.accepted.join(",")}`,
        },
      });
      turn.trustEvent(
        state === "trusted" ? "severe_conflict" : "conflict",
        evidence,
        `contradicts accepted ${found.accepted.join(", ")}`,
      );
      this.#challenge(
        turn,
        envelope,
        `contradicts accepted knowledge ${found.accepted.join(", ")}`,
      );
      turn.claimChanged(claim.id, "disputed", "contradicts_accepted", claim.peer);
      return turn.done("handled", { code: "disputed", reason: "contradicts accepted knowledge" });
    }
    const trustedRivals = found.others.filter((c) => turn.trust.state("cip", c.peer) === "trusted");
    if (trustedRivals.length > 0 || (state === "trusted" && found.others.length > 0)) {
      const rivals = found.others.map((c) => c.id);
      turn.changes.push({
        kind: "claim.upsert",
        claim: { ...claim, status: "disputed", reason: `conflicts_with: ${rivals.join(",")}` },
      });
      for (const rival of found.others) {
        if (rival.status === "pending") {
          this.#setStatus(turn, rival, "disputed", `conflicts_with: ${claim.id}`);
        }
      }
      if (trustedRivals.length > 0 && state === "probing") {
        turn.trustEvent(
          "conflict",
          evidence,
          `conflicts with trusted claims ${trustedRivals.map((c) => c.id).join(", ")}`,
        );
      }
      turn.claimChanged(claim.id, "disputed", "conflicts_with", claim.peer);
      return turn.done("handled", { code: "disputed", reason: "conflicts with another claim" });
    }
    turn.changes.push({ kind: "claim.upsert", claim });
    turn.claimChanged(claim.id, "pending", claim.reason, claim.peer);
    return turn.done("handled");
  }

  /** A decision id already shared by another peer: the trace is not this peer's. */
  #reusedDecision(turn: _Turn, decisionId: string): string | null {
    const known = turn.ctx.store.decision(decisionId);
    return known !== undefined && known.peer !== turn.ctx.peer
      ? `decision_id ${decisionId} belongs to another peer's trace`
      : null;
  }

  /**
   * Applies the acceptance rules to a pending claim with its votes
   * (including those of this turn): returns its status after.
   */
  #evaluate(
    turn: _Turn,
    claim: ClaimRecord,
    extra?: { peer: string; kind: string; counted: boolean },
  ): ClaimStatus {
    const { ctx } = turn;
    const confirmers = new Set(
      ctx.store.votes(claim.id).filter((v) =>
        v.kind === "confirm" && v.counted && v.peer !== claim.peer
      )
        .map((v) => v.peer),
    );
    if (extra !== undefined && extra.kind === "confirm" && extra.counted) {
      confirmers.add(extra.peer);
    }
    if (confirmers.size < this.confirmationsNeeded) return "pending";
    const proposer = turn.trust.state("cip", claim.peer);
    if (proposer === "untrusted" || proposer === "blacklisted") {
      this.#setStatus(turn, claim, "rejected", "untrusted_source");
      return "rejected";
    }
    if (isOverloaded(ctx.load, ctx.config)) {
      turn.claimChanged(claim.id, "pending", "local_overload", claim.peer);
      return "pending";
    }
    const found = this.#conflictsOf(turn, claim);
    if (found.accepted.length > 0) {
      this.#setStatus(turn, claim, "disputed", `contradicts_accepted: ${found.accepted.join(",")}`);
      return "disputed";
    }
    this.#setStatus(turn, claim, "accepted", `confirmed by ${confirmers.size} trusted peers`);
    turn.changes.push({
      kind: "causal.add",
      fact: {
        id: claim.id,
        origin: "cip",
        fact: claim.fact,
        acceptedMs: turn.nowMs,
        ...(claim.subject === undefined
          ? {}
          : { subject: claim.subject, valueCanon: claim.valueCanon }),
      },
      links: causalLinksOf(claim.id, claim.links),
    });
    // Verified knowledge: the proposer's claim met the bar (a reward, not a sanction).
    turn.trustEvent("verified_knowledge", [claim.id, ...confirmers], undefined, claim.peer);
    return "accepted";
  }

  #vote(
    turn: _Turn,
    envelope: CipEnvelope<"FACT_CONFIRM" | "FACT_REJECT" | "FACT_CHALLENGE">,
  ): Outcome {
    const { ctx } = turn;
    const p = envelope.payload;
    const claim = ctx.store.claim(p.fact_ref);
    if (claim === undefined) {
      return turn.done("refused", {
        code: "unknown_fact",
        reason: `No claim ${p.fact_ref} in the ledger`,
      });
    }
    if (claim.peer === ctx.peer) {
      turn.event("cip.vote", {
        claim: claim.id,
        type: envelope.type,
        counted: false,
        why: "own_claim",
      });
      return turn.done("ignored", {
        code: "own_claim",
        reason: "A peer's vote on its own claim never counts",
      });
    }
    const kind = envelope.type === "FACT_CONFIRM"
      ? "confirm"
      : envelope.type === "FACT_REJECT"
      ? "reject"
      : "challenge";
    const counted = turn.peerTrust === "trusted";
    const reason = "reason" in p ? p.reason : p.notes ?? "";
    const confidence = "confidence" in p ? p.confidence : 1;
    turn.changes.push({
      kind: "claim.vote",
      vote: {
        claimId: claim.id,
        peer: ctx.peer,
        msgId: envelope.msg_id,
        kind,
        reason,
        confidence,
        counted,
        atMs: turn.nowMs,
      },
    });
    turn.event("cip.vote", { claim: claim.id, type: envelope.type, counted });
    if (claim.status !== "pending" || !counted) return turn.done("handled");
    if (kind === "confirm") {
      const status = this.#evaluate(turn, claim, { peer: ctx.peer, kind, counted });
      if (status === "pending" && isOverloaded(ctx.load, ctx.config)) {
        return turn.done("deferred", {
          code: "overloaded",
          reason: "Local overload: the claim stays pending",
          retryAfterMs: this.deferRetryMs,
        });
      }
      return turn.done("handled");
    }
    if (kind === "reject" || (kind === "challenge" && "reason" in p && p.reason === "conflict")) {
      this.#setStatus(turn, claim, "disputed", `${kind}ed_by_trusted: ${envelope.msg_id}`);
    }
    return turn.done("handled");
  }

  #decision(turn: _Turn, envelope: CipEnvelope<"DECISION_SHARE">): Outcome {
    const { ctx } = turn;
    const p = envelope.payload;
    const problem = traceProblem(p.dmp_trace) ??
      this.#reusedDecision(turn, p.dmp_trace.decision_id);
    if (problem !== null) {
      turn.trustEvent("unverifiable_claim", [envelope.msg_id], problem);
      return turn.done("refused", { code: "inconsistent_trace", reason: `DMP trace: ${problem}` });
    }
    turn.changes.push({
      kind: "decision.add",
      decision: {
        decisionId: p.dmp_trace.decision_id,
        peer: ctx.peer,
        msgId: envelope.msg_id,
        choice: p.decision.choice,
        outcome: p.decision.outcome,
        trace: p.dmp_trace,
        atMs: turn.nowMs,
        ...(p.decision.context === undefined ? {} : { context: p.decision.context }),
        ...(p.retrospective === undefined ? {} : { retrospective: p.retrospective }),
      },
    });
    turn.event("cip.decision", { decision_id: p.dmp_trace.decision_id, choice: p.decision.choice });
    return turn.done("handled");
  }

  #error(turn: _Turn, envelope: CipEnvelope<"ERROR">): Outcome {
    const p = envelope.payload;
    const current = turn.ctx.store.handshake(turn.ctx.peer);
    if (
      current !== undefined && current.stage !== "verified" && current.ourHelloId === p.in_reply_to
    ) {
      turn.changes.push({ kind: "handshake.clear", peer: turn.ctx.peer });
    }
    turn.event(
      "cip.error_received",
      { in_reply_to: p.in_reply_to, code: p.code, reason: p.reason },
      "warn",
    );
    turn.effect({
      type: "errorReceived",
      protocol: "cip",
      peer: turn.ctx.peer,
      inReplyTo: p.in_reply_to,
      code: p.code,
      reason: p.reason,
    });
    return turn.done("handled");
  }
}

function _contradicts(
  claim: { id: string; links: readonly ClaimRecord["links"][number][] },
): string[] {
  return causalLinksOf(claim.id, claim.links).filter((l) => l.relation === "contradicts").map((l) =>
    l.ref
  );
}
