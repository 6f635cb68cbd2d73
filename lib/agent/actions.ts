/**
 * What the agent starts over CIP and HCP: intents, fact proposals, votes,
 * requests to verify a claim, shared decisions, and messages to its person.
 * Each is an outcome committed and sent through the {@linkcode Outbox}.
 *
 * @module
 */

import type { CipRuntime } from "../cip/mod.ts";
import type { FactProposePayload, HumanState, PayloadOf } from "../envelope/mod.ts";
import { NEUTRAL_HUMAN_STATE } from "../hcp/mod.ts";
import type { ProtocolRouter } from "../router/mod.ts";
import { type LocalLoad, newMsgId, replySpec } from "../runtime/mod.ts";
import type { Store } from "../store/mod.ts";
import { AgentError } from "./errors.ts";
import type { CipGoal, Intents, Priority } from "./intents.ts";
import type { Outbox, SendResult } from "./outbox.ts";
import type { Sessions } from "./sessions.ts";
import { type RandomSource, randomUuid } from "../ports/mod.ts";

/** A DMP trace for a fact or decision. */
export interface Trace {
  /** The decision id (UUID). @default {a fresh one} */
  decision_id?: string | undefined;
  /** How the agent got there (at least one step). */
  steps: string[];
  /** What supports it. */
  evidence: string[];
  /** What else was considered. */
  counterfactuals?: string[] | undefined;
}

/** An intent the agent declares. */
export interface DeclaredIntent {
  /** The goal. */
  goal: CipGoal;
  /** The topic. */
  topic: string;
  /** The priority. @default {"normal"} */
  priority?: Priority;
  /** Free-form context. */
  context?: Record<string, unknown>;
}

/** A vote on a claim. */
export interface VoteOptions {
  /** `confirm`, `reject` or `challenge`. @default {"confirm"} */
  vote?: "confirm" | "reject" | "challenge";
  /** Confidence of a confirm or reject. @default {0.9} */
  confidence?: number;
  /** Notes. */
  notes?: string;
}

/** The HCP types an agent sends its person. */
export type PersonMessageType = "HCP_DECISION" | "HCP_CONTEXT" | "HCP_INTENT";

/** What {@linkcode Actions} needs from the agent. */
export interface ActionsPorts {
  /** Where msg_ids and decision ids come from. */
  readonly random: RandomSource;
  /** The enrolled person, if any. */
  readonly person: string | undefined;
  /** The CIP runtime (it decides whether an intent may go). */
  readonly cip: Pick<CipRuntime, "intent">;
  /** The router (runtime contexts). */
  readonly router: Pick<ProtocolRouter, "context">;
  /** The store (the claim ledger, the person's state). */
  readonly store: Pick<Store, "claim" | "person">;
  /** The sessions. */
  readonly sessions: Pick<Sessions, "agentPeers" | "isOpen" | "receiver">;
  /** How messages leave. */
  readonly outbox: Pick<Outbox, "each" | "address" | "cipState" | "reply" | "commitAndSend">;
  /** Mission drift of the agent's own intents; the intents it holds open. */
  readonly intents: Pick<Intents, "observe" | "opened">;
  /** The agent's current presence and lri. */
  load(): LocalLoad;
}

/**
 * The messages the agent starts.
 *
 * @example
 * ```ts ignore
 * const actions = new Actions(ports);
 * await actions.declareIntent({ goal: "ask", topic: "water" }, { to: [peer] });
 * ```
 */
export class Actions {
  readonly #ports: ActionsPorts;

  /**
   * Creates the room.
   *
   * @param ports What it needs from the agent.
   */
  constructor(ports: ActionsPorts) {
    this.#ports = ports;
  }

  /**
   * Declares an intent to peers (the CIP runtime holds it for an overloaded
   * peer). Each one sent stays open until the peer answers.
   *
   * @param intent Goal, topic, priority, context.
   * @param options `to` (default: every verified agent peer); `observe: false` skips drift scoring.
   * @returns One result per peer.
   */
  async declareIntent(
    intent: DeclaredIntent,
    options: { to?: readonly string[] | undefined; observe?: boolean | undefined } = {},
  ): Promise<SendResult[]> {
    const { cip, router, outbox, sessions, intents } = this.#ports;
    if (options.observe !== false) intents.observe(intent.topic);
    const payload = {
      goal: intent.goal,
      topic: intent.topic,
      priority: intent.priority ?? "normal",
      ...(intent.context === undefined ? {} : { context: intent.context as never }),
    };
    const results = await outbox.each(
      options.to,
      (fp) => cip.intent(sessions.receiver(fp), payload, router.context(fp)),
    );
    for (const r of results) {
      if (r.status === "sent" && r.msgId !== undefined) intents.opened(r.msgId);
    }
    return results;
  }

  /**
   * Proposes a fact to peers (one signed copy each; each copy's msg_id is
   * the claim id in that peer's ledger).
   *
   * @param fact The fact.
   * @param trace The DMP trace.
   * @param options `to`, `causalLinks`.
   * @returns One result per peer.
   */
  async proposeFact(
    fact: FactProposePayload["fact"],
    trace: Trace,
    options: {
      to?: readonly string[] | undefined;
      causalLinks?: FactProposePayload["causal_links"];
    } = {},
  ): Promise<SendResult[]> {
    const { outbox } = this.#ports;
    const dmp = dmpTrace(trace, this.#ports.random);
    return await outbox.each(options.to, (fp) =>
      outbox.reply(replySpec("cip", "FACT_PROPOSE", {
        ...outbox.address(fp),
        payload: {
          fact,
          dmp_trace: dmp,
          ...(options.causalLinks === undefined ? {} : { causal_links: options.causalLinks }),
        },
        state: outbox.cipState(),
      })));
  }

  /**
   * Confirms, rejects or challenges a claim in a peer's ledger.
   *
   * @param peer The peer holding the claim.
   * @param factRef The claim id there.
   * @param options The vote, confidence, notes.
   * @returns The send result.
   */
  async vote(peer: string, factRef: string, options: VoteOptions = {}): Promise<SendResult> {
    const { outbox } = this.#ports;
    const vote = options.vote ?? "confirm";
    const notes = options.notes === undefined ? {} : { notes: options.notes };
    const [r] = await outbox.each([peer], (fp) => {
      const head = { ...outbox.address(fp), state: outbox.cipState() };
      if (vote === "challenge") {
        return outbox.reply(replySpec("cip", "FACT_CHALLENGE", {
          ...head,
          payload: { fact_ref: factRef, reason: "conflict", ...notes },
        }));
      }
      const confidence = options.confidence ?? 0.9;
      return outbox.reply(
        vote === "confirm"
          ? replySpec("cip", "FACT_CONFIRM", {
            ...head,
            payload: { fact_ref: factRef, decision: "confirm", confidence, ...notes },
          })
          : replySpec("cip", "FACT_REJECT", {
            ...head,
            payload: { fact_ref: factRef, decision: "reject", confidence, ...notes },
          }),
      );
    });
    return r!;
  }

  /**
   * Asks peers to verify a claim this agent holds (an INTENT
   * `verify_knowledge` naming `fact_ref`, the proposer and the fact).
   *
   * @param claim The claim id in this agent's ledger.
   * @param options `to` (default: every verified agent peer but the proposer).
   * @returns One result per peer.
   * @throws {AgentError} `REFUSED` when the ledger has no such claim.
   */
  async askToVerify(
    claim: string,
    options: { to?: readonly string[] | undefined } = {},
  ): Promise<SendResult[]> {
    const record = this.#ports.store.claim(claim);
    if (record === undefined) throw new AgentError("REFUSED", `No claim ${claim} in the ledger`);
    const to = options.to ??
      this.#ports.sessions.agentPeers().filter((fp) => fp !== record.peer);
    return await this.declareIntent({
      goal: "verify_knowledge",
      topic: `fact:${record.fact.domain}`,
      context: { fact_ref: claim, proposer: record.peer, fact: record.fact as never },
    }, { to, observe: false });
  }

  /**
   * Shares a decision with its DMP trace (counterfactuals are not sent).
   *
   * @param decision Choice, outcome, context.
   * @param trace The DMP trace.
   * @param options `to`, a retrospective.
   * @returns One result per peer.
   */
  async shareDecision(
    decision: { choice: string; outcome: string; context?: string },
    trace: Trace,
    options: { to?: readonly string[] | undefined; retrospective?: string | undefined } = {},
  ): Promise<SendResult[]> {
    const { outbox } = this.#ports;
    const { counterfactuals: _c, ...dmp } = dmpTrace(trace, this.#ports.random);
    return await outbox.each(options.to, (fp) =>
      outbox.reply(replySpec("cip", "DECISION_SHARE", {
        ...outbox.address(fp),
        payload: {
          decision,
          dmp_trace: dmp,
          ...(options.retrospective === undefined ? {} : { retrospective: options.retrospective }),
        },
        state: outbox.cipState(),
      })));
  }

  /**
   * Sends the enrolled, connected person an HCP message.
   *
   * @param type The HCP type.
   * @param payload Its payload.
   * @returns The msg_id sent.
   * @throws {AgentError} `NO_PERSON` without an enrolled, connected person.
   */
  async toPerson<T extends PersonMessageType>(
    type: T,
    payload: PayloadOf<"hcp", T>,
  ): Promise<string> {
    const { person, sessions, store, outbox } = this.#ports;
    if (person === undefined || !sessions.isOpen(person)) {
      throw new AgentError("NO_PERSON", "No enrolled person is connected");
    }
    const load = this.#ports.load();
    const msgId = newMsgId(this.#ports.random);
    const spec = replySpec("hcp", type, {
      msg_id: msgId,
      receiver: sessions.receiver(person, "person"),
      payload,
      state: { human: humanOf(store.person(person)), presence: load.presence, lri: load.lri },
    });
    await outbox.commitAndSend(person, outbox.reply(spec));
    return msgId;
  }
}

/**
 * The person's last known human state, or the neutral one.
 *
 * @param record The person's record, if any.
 * @returns Its human state.
 */
function humanOf(record: { humanState?: HumanState | undefined } | undefined): HumanState {
  return record?.humanState ?? { ...NEUTRAL_HUMAN_STATE };
}

/**
 * The wire form of a {@linkcode Trace} (a fresh decision id when none is given).
 *
 * @param trace The trace.
 * @param random Where a fresh decision id comes from.
 * @returns The `dmp_trace` block.
 */
function dmpTrace(trace: Trace, random: RandomSource) {
  return {
    decision_id: trace.decision_id ?? randomUuid(random),
    steps: trace.steps,
    evidence: trace.evidence,
    ...(trace.counterfactuals === undefined ? {} : { counterfactuals: trace.counterfactuals }),
  };
}
