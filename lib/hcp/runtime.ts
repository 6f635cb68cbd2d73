/**
 * The HCP runtime: the agent's side of the Human Connection Protocol with
 * its one enrolled person. Pure: it reads the store and trust through the
 * context and returns an {@linkcode Outcome} (store changes, unsigned
 * replies, and its effects: what reaches the agent loop as a `deliver`
 * effect, the person's `humanState`, what changed in the person's state,
 * the gate's holds and refusals, an `errorReceived`).
 *
 * @module
 */

import type {
  EnvelopeOf,
  HcpDecisionPayload,
  HcpIntentPayload,
  HcpType,
  HumanState,
} from "../envelope/mod.ts";
import {
  type Delivery,
  type Effect,
  newMsgId,
  type Outcome,
  outcome,
  type ProtocolRuntime,
  type ReplySpec,
  type RuntimeContext,
} from "../runtime/mod.ts";
import type { SocialTrust, StoreChange } from "../store/mod.ts";
import { TrustBatch } from "../trust/mod.ts";
import { actionTopic, checkConsentCarried, checkConsentScope } from "./consent.ts";
import { HcpDecisionError, HcpError, HcpPersonError } from "./errors.ts";
import { type ActionVerdict, DEFAULT_PACING_DELAY_MS, gateAction } from "./gate.ts";
import {
  answerCheckIn,
  applyHello,
  applyHumanVector,
  markCheckInAsked,
  type PersonNote,
  personRecordOf,
  type PersonState,
  personStateOf,
  recordAction,
} from "./human_state.ts";

/** Lowest `satisfaction` of a feedback without corrections that counts as mutual validation. */
export const VALIDATION_SATISFACTION = 70;
/** Feedback below this `satisfaction`, or with corrections, counts as a misunderstanding. */
export const MISUNDERSTANDING_SATISFACTION = 50;
/** The topic of the agent's check-in question (an `HCP_INTENT` with goal `clarify`). */
export const CHECK_IN_TOPIC = "check_in";

/**
 * The answer of {@linkcode HcpRuntime.mayAct}: the gate's verdict plus the
 * store changes to commit if the agent goes ahead (the pacing clock) and
 * the replies to send (the check-in question, asked once per check-in).
 */
export type ActionDecision = ActionVerdict & {
  /** Changes to commit (empty unless allowed or a check-in question is sent). */
  readonly changes: StoreChange[];
  /** Envelopes to sign and send (the check-in question, at most once). */
  readonly replies: ReplySpec[];
};

/** Options of {@linkcode HcpRuntime}. */
export interface HcpRuntimeOptions {
  /**
   * While pacing applies (pressure >= 80, clarity <= 30, `slow_pacing`), the
   * least time between two automated actions; deferred intents carry it as
   * `retry_after_ms`.
   *
   * @default {30000}
   */
  pacingDelayMs?: number | undefined;
}

const _TYPES: readonly HcpType[] = Object.freeze([
  "HCP_HELLO",
  "HCP_INTENT",
  "HCP_CONTEXT",
  "HCP_DECISION",
  "HCP_FEEDBACK",
  "HCP_STATE_UPDATE",
  "HCP_ERROR",
]);

/** Everything one envelope changes, collected as it is handled. */
class _Turn {
  state: PersonState;
  readonly batch: TrustBatch;
  readonly replies: ReplySpec[] = [];
  readonly effects: Effect[] = [];
  /** The human state the envelope carried (reported unless the envelope is refused). */
  carried: HumanState | undefined;

  constructor(readonly ctx: RuntimeContext, readonly person: string, readonly nowMs: number) {
    this.state = personStateOf(ctx.store.person(person), person, nowMs);
    this.batch = new TrustBatch(ctx.trust, nowMs);
  }

  /** Applies notes: their effects, and trust events for consent changes. */
  notes(notes: readonly PersonNote[], msgId: string): void {
    for (const note of notes) {
      this.effects.push(_noteEffect(note, this.person, msgId));
      if (note.kind !== "consent_changed") continue;
      if (note.to === "revoked") {
        this.trust("consent_revoked", msgId);
      } else if (note.from === "revoked") {
        this.trust("consent_restored", msgId);
      }
    }
  }

  trust(
    type:
      | "valid_hello"
      | "mutual_validation"
      | "misunderstanding"
      | "consent_revoked"
      | "consent_restored",
    msgId: string,
  ): void {
    this.batch.apply("hcp", this.person, { type, evidence: [msgId] });
  }

  socialTrust(): SocialTrust {
    return this.batch.state("hcp", this.person) as SocialTrust;
  }

  /** The check-in question to the person, marking it asked. */
  askCheckIn(): void {
    if (this.state.checkIn === null || this.state.checkIn.askedAtMs !== null) return;
    this.replies.push(checkInQuestion(this.state, this.ctx));
    this.state = markCheckInAsked(this.state, this.nowMs);
  }

  finish(
    status: Outcome["status"],
    parts: Partial<Outcome> & { deliver?: Delivery | undefined } = {},
  ): Outcome {
    const { deliver, ...rest } = parts;
    const changes: StoreChange[] = [];
    if (this.state.human !== null) {
      changes.push({ kind: "person.upsert", person: personRecordOf(this.state) });
    }
    changes.push(...this.batch.changes);
    const effects: Effect[] = [];
    if (status !== "refused" && this.carried !== undefined) {
      effects.push({ type: "humanState", person: this.person, human: this.carried });
    }
    effects.push(...this.effects, ...(rest.effects ?? []));
    if (deliver !== undefined) effects.push({ type: "deliver", delivery: deliver });
    return outcome(status, {
      ...rest,
      changes: [...changes, ...(rest.changes ?? [])],
      replies: [...this.replies, ...(rest.replies ?? [])],
      effects,
    });
  }
}

/**
 * The agent's check-in question: an `HCP_INTENT` with goal `clarify`, topic
 * `check_in` and priority `high`, addressed to the person. The person
 * answers with an `HCP_FEEDBACK`: `satisfaction` >= 50 means "go on".
 *
 * @param state The person's state (its last vector is echoed in `state.human`).
 * @param ctx The context (for the msg_id).
 * @returns The reply to sign and send.
 * @throws {TypeError} When no human-state vector is known yet.
 *
 * @example
 * ```ts
 * import { checkInQuestion } from "./runtime.ts";
 * import { initialPersonState } from "./human_state.ts";
 * import assert from "node:assert/strict";
 *
 * const state = {
 *   ...initialPersonState("ab".repeat(32), 0, "ada"),
 *   human: { presence: "focused", affect: "anxious", clarity: 50, pressure: 40, intent: "x", consent: "granted" },
 * } as const;
 * const q = checkInQuestion(state, { random: (n: number) => new Uint8Array(n) });
 * assert.deepEqual(q.payload, { goal: "clarify", topic: "check_in", priority: "high" });
 * assert.equal(q.receiver.agent_id, "ada");
 * ```
 */
export function checkInQuestion(
  state: PersonState,
  ctx: Pick<RuntimeContext, "random">,
): ReplySpec {
  if (state.human === null) {
    throw new TypeError(`Person ${state.person} has no human-state vector: nothing to check in on`);
  }
  return {
    protocol: "hcp",
    type: "HCP_INTENT",
    msg_id: newMsgId(ctx.random),
    receiver: { agent_id: state.agentId, fingerprint: state.person },
    payload: { goal: "clarify", topic: CHECK_IN_TOPIC, priority: "high" },
    state: { human: { ...state.human } },
  };
}

/** The effect of a person note. */
function _noteEffect(note: PersonNote, person: string, msgId: string): Effect {
  switch (note.kind) {
    case "consent_changed":
      return { type: "consentChanged", person, msgId, from: note.from, to: note.to };
    case "check_in_opened":
      return { type: "checkInOpened", person, msgId, affect: note.affect };
    case "check_in_answered":
      return { type: "checkInAnswered", person, msgId, goOn: note.goOn };
    case "pacing_started":
    case "pacing_ended":
      return { type: "pacingChanged", person, msgId, paced: note.kind === "pacing_started" };
  }
}

/** A refusal by rule, whose state is not taken either. */
function _refused(
  envelope: EnvelopeOf<"hcp">,
  peer: string,
  err: { code: string; message: string },
): Outcome {
  return outcome("refused", {
    code: err.code,
    reason: err.message,
    effects: [{
      type: "refused",
      protocol: "hcp",
      peer,
      msgId: envelope.msg_id,
      code: err.code,
      reason: err.message,
      messageType: envelope.type,
    }],
  });
}

function _decisionProblem(d: HcpDecisionPayload): HcpDecisionError | null {
  if (d.rationale.trim() === "") {
    return new HcpDecisionError(
      "rationale",
      `HCP_DECISION ${JSON.stringify(d.decision)} refused: it has no rationale`,
    );
  }
  if (d.alternatives.filter((a) => a.trim() !== "").length === 0) {
    return new HcpDecisionError(
      "alternatives",
      `HCP_DECISION ${JSON.stringify(d.decision)} refused: it lists no alternatives`,
    );
  }
  return null;
}

/**
 * The HCP runtime. Accepts envelopes only from the enrolled person
 * (`ctx.config.person`, bound by the router as `ctx.peer`); keeps the
 * person's human-state vector, consent scope, check-in and pacing clock
 * in the store (`person.upsert`); moves social trust through the trust
 * layer (`valid_hello`, `consent_revoked`, `consent_restored`,
 * `mutual_validation`, `misunderstanding`); lets an `HCP_INTENT` reach the
 * agent (a `deliver` effect) only when {@linkcode gateAction} allows it.
 *
 * Consent changes only through `HCP_HELLO` and `HCP_STATE_UPDATE`; any
 * other type whose `state.human.consent` is not the consent the agent holds
 * (or that arrives before the agent holds any) is refused with
 * `consent_mismatch` and changes nothing ({@linkcode checkConsentCarried}).
 *
 * Per type: `HCP_HELLO` records identity, `consent_scope` (each entry
 * `kind:value`, else refused `invalid_topic`) and safety flags;
 * `HCP_INTENT` is gated (refused with the rule's code, or deferred with
 * code `paced` and `retryAfterMs` plus an `HCP_ERROR` reply, or deferred
 * with code `check_in_required` plus the check-in question);
 * `HCP_DECISION` without a rationale or alternatives is refused
 * (`decision_incomplete`); `HCP_FEEDBACK` answers an open check-in and
 * counts as validation or misunderstanding; `HCP_CONTEXT` is delivered;
 * `HCP_STATE_UPDATE` updates the vector; `HCP_ERROR` from the person is
 * recorded as an event and never answered.
 *
 * @example An intent allowed by consent reaches the agent
 * ```ts
 * import { HcpRuntime } from "./runtime.ts";
 * import { createEnvelope } from "../envelope/mod.ts";
 * import { Identity } from "../identity/mod.ts";
 * import { createRuntimeContext, effectsOf, selfFromIdentity } from "../runtime/mod.ts";
 * import { openStore } from "../store/mod.ts";
 * import assert from "node:assert/strict";
 *
 * using store = openStore(":memory:");
 * const agent = await Identity.generate({ agentId: "agent" });
 * const ada = await Identity.generate({ agentId: "ada" });
 * const hcp = new HcpRuntime();
 * const ctx = createRuntimeContext({
 *   self: selfFromIdentity(agent), peer: ada.fingerprint, store, config: { person: ada.fingerprint },
 * });
 * const common = {
 *   identity: ada,
 *   receiver: { agent_id: "agent", fingerprint: agent.fingerprint },
 *   state: { human: { presence: "focused", affect: "calm", clarity: 80, pressure: 20, intent: "plan", consent: "granted" } },
 * } as const;
 * const hello = hcp.handle(await createEnvelope("hcp", "HCP_HELLO", {
 *   ...common, payload: { identity: { name: "Ada", role: "owner" }, consent_scope: [], safety_flags: [] },
 * }), ctx);
 * store.commit(hello.changes);
 * const intent = hcp.handle(await createEnvelope("hcp", "HCP_INTENT", {
 *   ...common, payload: { goal: "request", topic: "work", priority: "normal" },
 * }), ctx);
 * assert.equal(intent.status, "handled");
 * const [delivered] = effectsOf(intent.effects, "deliver");
 * assert.equal(delivered?.delivery.kind === "intent" && delivered.delivery.topic, "topic:work");
 * ```
 */
export class HcpRuntime implements ProtocolRuntime<"hcp"> {
  /** Always `"hcp"`. */
  readonly protocol = "hcp" as const;
  /** Every HCP type, `HCP_ERROR` included. */
  readonly types: readonly HcpType[] = _TYPES;
  readonly #pacingDelayMs: number;

  /**
   * Creates the runtime.
   *
   * @param options The pacing delay.
   * @throws {RangeError} When `pacingDelayMs` is negative or not finite.
   */
  constructor(options: HcpRuntimeOptions = {}) {
    const delay = options.pacingDelayMs ?? DEFAULT_PACING_DELAY_MS;
    if (!Number.isFinite(delay) || delay < 0) {
      throw new RangeError(`Expected pacingDelayMs to be a finite number >= 0, got ${delay}`);
    }
    this.#pacingDelayMs = delay;
  }

  /** The pacing delay in force, in ms. */
  get pacingDelayMs(): number {
    return this.#pacingDelayMs;
  }

  /**
   * Handles one verified HCP envelope.
   *
   * @param envelope The envelope (its sender must be the enrolled person).
   * @param ctx The context; `ctx.config.person` names the enrolled person.
   * @returns The outcome, with a `deliver` effect when something reaches the agent.
   */
  handle(envelope: EnvelopeOf<"hcp">, ctx: RuntimeContext): Outcome {
    const person = ctx.config.person;
    const sender = envelope.sender.fingerprint;
    if (person === undefined || sender !== person || ctx.peer !== person) {
      const err = new HcpPersonError(sender === ctx.peer ? sender : ctx.peer, person ?? null);
      return _refused(envelope, ctx.peer, err);
    }
    const turn = new _Turn(ctx, person, ctx.now());
    const msgId = envelope.msg_id;
    try {
      return this.#dispatch(envelope, turn, msgId);
    } catch (err) {
      if (!(err instanceof HcpError)) throw err;
      // A refusal by rule: the envelope's state is not taken either.
      return _refused(envelope, person, err);
    }
  }

  #dispatch(envelope: EnvelopeOf<"hcp">, turn: _Turn, msgId: string): Outcome {
    const person = turn.person;
    // Only HCP_HELLO and HCP_STATE_UPDATE change consent (§8): any other type
    // carrying another consent than the record is refused before anything is taken.
    checkConsentCarried(
      envelope.type,
      envelope.state.human.consent,
      turn.state.human?.consent ?? null,
    );
    turn.carried = envelope.state.human;
    let human: HumanState = envelope.state.human;
    if (envelope.type === "HCP_STATE_UPDATE") human = { ...human, ...envelope.payload };
    if (envelope.type === "HCP_HELLO") {
      const scope = checkConsentScope(envelope.payload.consent_scope);
      const hello = applyHello(
        turn.state,
        { ...envelope.payload, consent_scope: scope },
        turn.nowMs,
      );
      turn.state = { ...hello.state, agentId: envelope.sender.agent_id };
      turn.notes(hello.notes, msgId);
    }
    const updated = applyHumanVector(turn.state, human, msgId, turn.nowMs);
    turn.state = { ...updated.state, agentId: envelope.sender.agent_id };
    turn.notes(updated.notes, msgId);

    switch (envelope.type) {
      case "HCP_HELLO":
        turn.trust("valid_hello", msgId);
        return turn.finish("handled");
      case "HCP_STATE_UPDATE":
        return turn.finish("handled");
      case "HCP_ERROR":
        return turn.finish("handled", {
          effects: [{
            type: "errorReceived",
            protocol: "hcp",
            peer: person,
            msgId,
            inReplyTo: envelope.payload.in_reply_to,
            code: envelope.payload.code,
            reason: envelope.payload.reason,
            retryAfterMs: envelope.payload.retry_after_ms,
          }],
        });
      case "HCP_CONTEXT":
        return turn.finish("handled", {
          deliver: { kind: "context", msgId, person, context: envelope.payload },
        });
      case "HCP_DECISION": {
        const problem = _decisionProblem(envelope.payload);
        if (problem !== null) throw problem;
        return turn.finish("handled", {
          deliver: { kind: "decision", msgId, person, decision: envelope.payload },
        });
      }
      case "HCP_FEEDBACK": {
        const fb = envelope.payload;
        const answered = answerCheckIn(turn.state, fb.satisfaction, turn.nowMs);
        turn.state = answered.state;
        turn.notes(answered.notes, msgId);
        if (fb.corrections.length > 0 || fb.satisfaction < MISUNDERSTANDING_SATISFACTION) {
          turn.trust("misunderstanding", msgId);
        } else if (fb.satisfaction >= VALIDATION_SATISFACTION) {
          turn.trust("mutual_validation", msgId);
        }
        return turn.finish("handled", {
          deliver: { kind: "feedback", msgId, person, feedback: fb },
        });
      }
      case "HCP_INTENT":
        return this.#intent(envelope.payload, turn, msgId);
    }
  }

  #intent(intent: HcpIntentPayload, turn: _Turn, msgId: string): Outcome {
    const topic = actionTopic(intent.topic);
    const verdict = gateAction(turn.state, turn.socialTrust(), topic, turn.nowMs, {
      pacingDelayMs: this.#pacingDelayMs,
    });
    const person = turn.person;
    switch (verdict.verdict) {
      case "allowed":
        turn.state = recordAction(turn.state, turn.nowMs);
        return turn.finish("handled", {
          deliver: {
            kind: "intent",
            msgId,
            person: turn.person,
            goal: intent.goal,
            topic,
            priority: intent.priority,
          },
        });
      case "refused":
        return turn.finish("refused", {
          code: verdict.code,
          reason: verdict.reason,
          effects: [{
            type: "refused",
            protocol: "hcp",
            peer: person,
            msgId,
            code: verdict.code,
            reason: verdict.reason,
            topic,
          }],
        });
      case "paced":
        return turn.finish("deferred", {
          code: "paced",
          reason: verdict.reason,
          retryAfterMs: verdict.retryAfterMs,
          effects: [{
            type: "intentPaced",
            person,
            msgId,
            topic,
            retryAfterMs: verdict.retryAfterMs,
          }],
          replies: [{
            protocol: "hcp",
            type: "HCP_ERROR",
            msg_id: newMsgId(turn.ctx.random),
            receiver: { agent_id: turn.state.agentId, fingerprint: turn.person },
            payload: {
              in_reply_to: msgId,
              code: "paced",
              reason: verdict.reason,
              retry_after_ms: verdict.retryAfterMs,
            },
            state: { human: { ...turn.state.human! } },
          }],
        });
      case "check_in":
        turn.askCheckIn();
        return turn.finish("deferred", {
          code: verdict.code,
          reason: verdict.reason,
          effects: [{ type: "checkInRequired", person, msgId, topic }],
        });
    }
  }

  /**
   * The agent-side gate: may the agent perform an automated action on
   * `topic` now? Applies {@linkcode gateAction} to the enrolled person's
   * stored state and social trust. When `allowed`, commit `changes` if
   * the agent goes ahead (they start the pacing clock); when `check_in`,
   * send `replies` (the check-in question, only the first time) and
   * commit `changes` (which remember it was asked).
   *
   * @param ctx A context (store, trust, clock, random, `config.person`).
   * @param topic The action's topic: `"topic:work"`, or a bare `"work"`.
   * @returns The verdict (`allowed`, `refused` with a code, `paced` with
   *   `retryAfterMs`, `check_in`), plus changes and replies.
   * @throws {HcpError} Code `invalid_topic` when `topic` is not a topic.
   *
   * @example Before any person has spoken, nothing automated happens
   * ```ts
   * import { HcpRuntime } from "./runtime.ts";
   * import { Identity } from "../identity/mod.ts";
   * import { createRuntimeContext, selfFromIdentity } from "../runtime/mod.ts";
   * import { openStore } from "../store/mod.ts";
   * import assert from "node:assert/strict";
   *
   * using store = openStore(":memory:");
   * const agent = await Identity.generate({ agentId: "agent" });
   * const ctx = createRuntimeContext({
   *   self: selfFromIdentity(agent), peer: agent.fingerprint, store, config: { person: "ab".repeat(32) },
   * });
   * const d = new HcpRuntime().mayAct(ctx, "topic:work");
   * assert.equal(d.verdict === "refused" && d.code, "no_consent");
   * ```
   */
  mayAct(ctx: RuntimeContext, topic: string): ActionDecision {
    const person = ctx.config.person;
    const nowMs = ctx.now();
    const options = { pacingDelayMs: this.#pacingDelayMs };
    if (person === undefined) {
      return { ...gateAction(null, "untrusted", topic, nowMs, options), changes: [], replies: [] };
    }
    const state = personStateOf(ctx.store.person(person), person, nowMs);
    const verdict = gateAction(state, ctx.trust.person(person), topic, nowMs, options);
    if (verdict.verdict === "allowed") {
      return {
        ...verdict,
        changes: [{ kind: "person.upsert", person: personRecordOf(recordAction(state, nowMs)) }],
        replies: [],
      };
    }
    if (verdict.verdict === "check_in" && state.checkIn?.askedAtMs === null) {
      return {
        ...verdict,
        changes: [{
          kind: "person.upsert",
          person: personRecordOf(markCheckInAsked(state, nowMs)),
        }],
        replies: [checkInQuestion(state, ctx)],
      };
    }
    return { ...verdict, changes: [], replies: [] };
  }
}
