/**
 * Intents: a peer's CIP `INTENT` or the person's consented `HCP_INTENT`
 * reaching the agent is reported (`intent`) and scored for mission drift;
 * the person's becomes a CIP `INTENT` to the relevant peers. The intents
 * the agent itself declared stay open until answered, refused or expired:
 * their count is part of its presence (`focused` while any is open).
 *
 * @module
 */

import type { IntentPayload } from "../envelope/mod.ts";
import type { MetricsRegistry } from "../observability/mod.ts";
import type { DriftDetector } from "./drift.ts";
import type { Emit } from "./events.ts";
import type { SendResult } from "./outbox.ts";
import type { PeerInfo } from "./sessions.ts";

/** The goals of a CIP `INTENT`. */
export type CipGoal = IntentPayload["goal"];
/** An intent's priority. */
export type Priority = IntentPayload["priority"];

/** An intent reaching the agent loop. */
export interface AgentIntent {
  /** `peer`: a CIP INTENT from an agent; `person`: the person's consented HCP_INTENT. */
  source: "peer" | "person";
  /** Who sent it. */
  from: string;
  /** Its msg_id. */
  msgId: string;
  /** The goal (CIP or HCP vocabulary). */
  goal: string;
  /** The topic. */
  topic: string;
  /** The priority. */
  priority: Priority;
  /** Free-form context (CIP only). */
  context?: unknown;
  /** What the agent answered (CIP only). */
  decision?: "accept" | "defer" | undefined;
}

/** Maps a person's HCP goal to the CIP goal of the intent propagated to peers. */
export const HCP_TO_CIP_GOAL: Readonly<Record<string, CipGoal>> = Object.freeze({
  align: "ask",
  request: "ask",
  clarify: "ask",
  decide: "propose_solution",
  resolve_conflict: "verify_knowledge",
});

/** How long a declared intent counts as open without an answer, in ms. */
export const OPEN_INTENT_MS = 30_000;

/** What {@linkcode Intents} needs from the agent. */
export interface IntentsPorts {
  /** The declared mission (reported with drift). */
  readonly mission: string;
  /** The mission-drift scorer. */
  readonly drift: DriftDetector;
  /** Where intents, drift and propagation are reported. */
  readonly emit: Emit;
  /** Where the alignment gauge goes. */
  readonly metrics: MetricsRegistry;
  /** Which peers a person's intent goes to (default: verified agents, probing or trusted). */
  readonly relevant: ((intent: AgentIntent, peers: readonly PeerInfo[]) => string[]) | undefined;
  /** The clock in ms (open intents expire). */
  readonly now: () => number;
  /** The peers now. */
  peers(): PeerInfo[];
  /** Declares a CIP intent to peers (without scoring it for drift again). */
  declare(
    intent: { goal: CipGoal; topic: string; priority: Priority; context: Record<string, unknown> },
    to: readonly string[],
  ): Promise<SendResult[]>;
}

/**
 * Intents reaching the agent, and mission drift.
 *
 * @example
 * ```ts ignore
 * const intents = new Intents(ports);
 * intents.reached({ source: "peer", from, msgId, goal: "ask", topic: "water", priority: "normal" });
 * ```
 */
export class Intents {
  readonly #ports: IntentsPorts;
  /** Declared intents awaiting an answer: msg_id -> when sent (ms). */
  readonly #open = new Map<string, number>();

  /**
   * Creates the room.
   *
   * @param ports What it needs from the agent.
   */
  constructor(ports: IntentsPorts) {
    this.#ports = ports;
  }

  /**
   * An intent reached the loop: reported (`intent`) and scored for drift.
   *
   * @param intent The intent.
   */
  reached(intent: AgentIntent): void {
    this.#ports.emit("intent", intent);
    this.observe(intent.topic);
  }

  /**
   * Scores one topic against the mission; entering drift is reported
   * (`missionDrift`, an edge, not a level).
   *
   * @param topic The intent's topic.
   */
  observe(topic: string): void {
    const { drift, metrics, emit, mission } = this.#ports;
    const v = drift.observe(topic);
    metrics.gauge("web4_agent_mission_alignment", v.score, {});
    if (v.entered) {
      emit("missionDrift", { score: v.score, samples: v.samples, mission, lastTopic: topic });
    }
  }

  /**
   * An intent this agent declared was sent: open until answered, refused or
   * {@linkcode OPEN_INTENT_MS} old.
   *
   * @param msgId Its msg_id.
   */
  opened(msgId: string): void {
    this.#open.set(msgId, this.#ports.now());
  }

  /**
   * An answer (or an error) arrived for one of our messages: the intent it
   * names, if any, is no longer open.
   *
   * @param inReplyTo The msg_id it answers.
   */
  closed(inReplyTo: string): void {
    this.#open.delete(inReplyTo);
  }

  /**
   * How many declared intents await an answer now (expired ones are
   * dropped as they are counted).
   *
   * @returns The count.
   */
  openCount(): number {
    const oldest = this.#ports.now() - OPEN_INTENT_MS;
    for (const [id, sentMs] of this.#open) if (sentMs < oldest) this.#open.delete(id);
    return this.#open.size;
  }

  /**
   * A person's consented intent becomes a CIP `INTENT` to the relevant peers
   * (`agent.intent_propagated`).
   *
   * @param intent The person's intent.
   */
  async propagate(intent: AgentIntent): Promise<void> {
    const candidates = this.#ports.peers().filter((p) =>
      !p.person && p.verified && (p.trust === "probing" || p.trust === "trusted")
    );
    const targets = this.#ports.relevant === undefined
      ? candidates.map((p) => p.fingerprint)
      : this.#ports.relevant(intent, candidates);
    const results = await this.#ports.declare({
      goal: HCP_TO_CIP_GOAL[intent.goal] ?? "ask",
      topic: intent.topic,
      priority: intent.priority,
      context: { on_behalf_of: "person", hcp_msg_id: intent.msgId },
    }, targets);
    this.#ports.emit("intentPropagated", {
      hcpMsgId: intent.msgId,
      topic: intent.topic,
      sent: results.filter((r) => r.status === "sent").map((r) => r.peer),
      deferred: results.filter((r) => r.status !== "sent").map((r) => r.peer),
    });
  }
}
