/**
 * One A2A client as an ordinary web4 peer: the gateway holds an Ed25519
 * identity per client and runs a small `Agent` with it (memory store, no
 * fetcher, no judge) that dials the served agent like any peer (RTT, the
 * CIP handshake) and sends it one signed `INTENT` per A2A message. So the
 * served agent's router applies to A2A traffic exactly what it applies to
 * any stranger: verification, the trust gate, the rate limit, the inbound
 * byte share, the store quotas, and the trust pin the operator set for the
 * client's key. The peer only ever sends intents: it never votes,
 * corroborates nor asks for a fetch.
 *
 * @module
 */

import { Agent } from "../../lib/agent/mod.ts";
import type { Identity } from "../../lib/identity/mod.ts";
import { type Clock, type RandomSource, systemClock } from "../../lib/ports/mod.ts";
import type { TransportSource } from "../../lib/transport/mod.ts";

/** What the served agent decided about one intent. */
export type PeerDecision =
  | { kind: "accept"; msgId: string }
  | { kind: "defer"; msgId: string | undefined; reason: string }
  | { kind: "refused"; msgId: string | undefined; code: string; reason: string };

/** Where the served agent is (read at each ask: `serve` restarts it when a person enrols). */
export interface ServedAgent {
  /** Its fingerprint. */
  fingerprint: string;
  /** Its address (a wildcard listen address is dialled on loopback). */
  hostname: string;
  /** Its port. */
  port: number;
}

/** Options of {@linkcode A2aPeer.create}. */
export interface A2aPeerOptions {
  /** The client's identity (the key the served agent pins). */
  identity: Identity;
  /** Where the served agent is now. */
  served: () => ServedAgent;
  /** The peer's transport (default: RTT). */
  transport?: TransportSource | undefined;
  /** The clock. */
  clock?: Clock | undefined;
  /** The random source. */
  random?: RandomSource | undefined;
  /** How long to wait for the served agent's answer (ms). @default {10000} */
  answerTimeoutMs?: number | undefined;
}

/** Answers that arrived before their ask looked for them (bounded). */
const _EARLY_ANSWERS = 64;

/** One A2A client's web4 peer. */
export class A2aPeer implements AsyncDisposable {
  /** The peer's agent. */
  readonly agent: Agent;
  readonly #served: () => ServedAgent;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #answers = new Map<string, PeerDecision>();
  readonly #waiting = new Map<string, (d: PeerDecision) => void>();

  private constructor(agent: Agent, options: A2aPeerOptions) {
    this.agent = agent;
    this.#served = options.served;
    this.#timeoutMs = options.answerTimeoutMs ?? 10_000;
    this.#clock = options.clock ?? systemClock;
    agent.on("intentAnswered", (e) => {
      this.#answer(
        e.inReplyTo,
        e.decision === "accept" ? { kind: "accept", msgId: e.inReplyTo } : {
          kind: "defer",
          msgId: e.inReplyTo,
          reason: "the agent deferred it (it is overloaded); ask again later",
        },
      );
    });
    agent.on("errorReceived", (e) => {
      this.#answer(e.inReplyTo, {
        kind: "refused",
        msgId: e.inReplyTo,
        code: e.code,
        reason: e.reason,
      });
    });
  }

  /**
   * Makes the peer (it dials on its first ask).
   *
   * @param options Identity, where the served agent is, transport, clock.
   * @returns The peer.
   */
  static async create(options: A2aPeerOptions): Promise<A2aPeer> {
    const agent = await Agent.create({
      identity: options.identity,
      mission: "an A2A client of its served agent",
      store: ":memory:",
      ...(options.transport === undefined ? {} : { transport: options.transport }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.random === undefined ? {} : { random: options.random }),
    });
    return new A2aPeer(agent, options);
  }

  #answer(msgId: string, decision: PeerDecision): void {
    const waiter = this.#waiting.get(msgId);
    if (waiter !== undefined) {
      this.#waiting.delete(msgId);
      waiter(decision);
      return;
    }
    this.#answers.set(msgId, decision);
    if (this.#answers.size > _EARLY_ANSWERS) {
      this.#answers.delete(this.#answers.keys().next().value!);
    }
  }

  /**
   * Sends one `INTENT` (`ask`, the topic) to the served agent and waits for
   * its answer: `accept`, `defer`, or a refusal (`ERROR`: `paced`,
   * `untrusted`, `quota`, ...).
   *
   * @param topic The topic (`kind:value`, at most 256 UTF-8 bytes).
   * @returns The decision.
   */
  async ask(topic: string): Promise<PeerDecision> {
    const served = this.#served();
    if (this.agent.peer(served.fingerprint)?.verified !== true) {
      try {
        await this.agent.connect({
          hostname: served.hostname,
          port: served.port,
          fingerprint: served.fingerprint,
        });
      } catch (err) {
        return {
          kind: "defer",
          msgId: undefined,
          reason: `the agent is not reachable now (${(err as Error).message})`,
        };
      }
    }
    const [result] = await this.agent.declareIntent(
      { goal: "ask", topic, priority: "normal" },
      { to: [served.fingerprint], observe: false },
    );
    if (result === undefined || result.status !== "sent" || result.msgId === undefined) {
      return {
        kind: "defer",
        msgId: undefined,
        reason: `not sent: ${result?.code ?? "no session"}`,
      };
    }
    const msgId = result.msgId;
    const early = this.#answers.get(msgId);
    if (early !== undefined) {
      this.#answers.delete(msgId);
      return early;
    }
    const { promise, resolve } = Promise.withResolvers<PeerDecision>();
    this.#waiting.set(msgId, resolve);
    const timer = this.#clock.setTimeout(() => {
      this.#waiting.delete(msgId);
      resolve({ kind: "defer", msgId, reason: "the agent has not answered yet" });
    }, this.#timeoutMs);
    try {
      return await promise;
    } finally {
      this.#clock.clear(timer);
    }
  }

  /** Stops the peer's agent. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const resolve of this.#waiting.values()) {
      resolve({ kind: "defer", msgId: undefined, reason: "the gateway is stopping" });
    }
    this.#waiting.clear();
    await this.agent.stop();
  }
}
