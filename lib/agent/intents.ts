/**
 * Intents reaching the agent: a peer's CIP `INTENT` or the person's
 * consented `HCP_INTENT` is reported and scored for mission drift; the
 * person's becomes a CIP `INTENT` to the relevant peers.
 *
 * @module
 */

import type { IntentPayload } from "../envelope/mod.ts";
import type { MetricsRegistry, StampingTelemetry } from "../observability/mod.ts";
import type { DriftDetector } from "./drift.ts";
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

/** What {@linkcode Intents} needs from the agent. */
export interface IntentsPorts {
  /** The declared mission (reported with drift). */
  readonly mission: string;
  /** The mission-drift scorer. */
  readonly drift: DriftDetector;
  /** Where intents and drift are reported. */
  readonly telemetry: StampingTelemetry;
  /** Where the alignment gauge goes. */
  readonly metrics: MetricsRegistry;
  /** Which peers a person's intent goes to (default: verified agents, probing or trusted). */
  readonly relevant: ((intent: AgentIntent, peers: readonly PeerInfo[]) => string[]) | undefined;
  /** The peers now. */
  peers(): PeerInfo[];
  /** Calls the `intent` listeners. */
  heard(intent: AgentIntent): void;
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

  /**
   * Creates the room.
   *
   * @param ports What it needs from the agent.
   */
  constructor(ports: IntentsPorts) {
    this.#ports = ports;
  }

  /**
   * An intent reached the loop: reported (`agent.intent`), heard by the
   * `intent` listeners, scored for drift.
   *
   * @param intent The intent.
   */
  reached(intent: AgentIntent): void {
    this.#ports.telemetry.emit("agent.intent", {
      source: intent.source,
      goal: intent.goal,
      topic: intent.topic,
      priority: intent.priority,
      decision: intent.decision ?? null,
    }, { peer: intent.from });
    this.#ports.heard(intent);
    this.observe(intent.topic);
  }

  /**
   * Scores one topic against the mission; entering drift is reported
   * (`agent.mission_drift`, an edge, not a level).
   *
   * @param topic The intent's topic.
   */
  observe(topic: string): void {
    const { drift, metrics, telemetry, mission } = this.#ports;
    const v = drift.observe(topic);
    metrics.gauge("agent_mission_alignment", v.score, {});
    if (v.entered) {
      telemetry.emit("agent.mission_drift", {
        score: v.score,
        samples: v.samples,
        mission,
        last_topic: topic,
      }, { severity: "warn" });
    }
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
    this.#ports.telemetry.emit("agent.intent_propagated", {
      hcp_msg_id: intent.msgId,
      topic: intent.topic,
      sent: results.filter((r) => r.status === "sent").map((r) => r.peer),
      deferred: results.filter((r) => r.status !== "sent").map((r) => r.peer),
    });
  }
}
