/**
 * The cognitive loop: every inbound message of every session joins one
 * queue and is dispatched in arrival order, one at a time, through the
 * router; its replies go back, and what the runtimes decided follows.
 *
 * @module
 */

import type { MetricsRegistry, StampingTelemetry } from "../observability/mod.ts";
import type { ProtocolRouter } from "../router/mod.ts";
import type { Effect, FetchRequest } from "../runtime/mod.ts";
import type { Hooks } from "./events.ts";
import type { CycleInfo } from "./events.ts";
import type { AgentIntent, Intents } from "./intents.ts";
import type { ChannelKind, SessionLink } from "./link.ts";
import type { Outbox } from "./outbox.ts";

/** What the {@linkcode CognitiveLoop} needs from the agent. */
export interface LoopPorts {
  /** The router every message goes through. */
  readonly router: Pick<ProtocolRouter, "dispatch">;
  /** How replies leave; its relay is offered every frame first. */
  readonly outbox: Pick<Outbox, "send" | "relay">;
  /** The hooks. */
  readonly hooks: Hooks;
  /** Intents reaching the loop. */
  readonly intents: Pick<Intents, "reached" | "propagate">;
  /** Where cycle failures are reported. */
  readonly telemetry: StampingTelemetry;
  /** Where the queue-depth gauge goes. */
  readonly metrics: MetricsRegistry;
  /** Remembers the agent id a peer goes by. */
  name(fp: string, agentId: string): void;
  /** Runs a fetch a peer asked for. */
  fetch(request: FetchRequest, peer: string): void;
  /** Reports committed effects (wherever they came from). */
  committed(effects: readonly Effect[]): void;
  /** After each cycle: a peer whose handshake just verified hears our presence from now on. */
  settled(peer: string): void;
  /** Whether the agent stopped. */
  stopped(): boolean;
}

interface _Item {
  bytes: Uint8Array;
  link: SessionLink;
  channel: ChannelKind;
  origin?: string | undefined;
}

/**
 * One inbound queue, one cycle at a time.
 *
 * @example
 * ```ts ignore
 * const loop = new CognitiveLoop(ports);
 * loop.enqueue(bytes, link, "control"); // dispatched after what is already queued
 * ```
 */
export class CognitiveLoop {
  readonly #ports: LoopPorts;
  readonly #queue: _Item[] = [];
  #pumping: Promise<void> | undefined;
  #running = false;
  #cycle = 0;

  /**
   * Creates the loop.
   *
   * @param ports What it needs from the agent.
   */
  constructor(ports: LoopPorts) {
    this.#ports = ports;
  }

  /** Messages waiting. */
  get depth(): number {
    return this.#queue.length;
  }

  /**
   * Queues one inbound message.
   *
   * @param bytes The message.
   * @param link The session it came on.
   * @param channel The channel.
   * @param origin For a relayed envelope: its origin (the signer), the session's peer being the relay.
   */
  enqueue(bytes: Uint8Array, link: SessionLink, channel: ChannelKind, origin?: string): void {
    if (this.#ports.stopped()) return;
    this.#queue.push({ bytes, link, channel, origin });
    this.#ports.metrics.gauge("agent_queue_depth", this.#queue.length, {});
    if (!this.#running) {
      this.#running = true;
      this.#pumping = this.#pump();
    }
  }

  /** Drops what is queued and waits for the running cycle. */
  async stop(): Promise<void> {
    this.#queue.length = 0;
    await this.#pumping;
  }

  async #pump(): Promise<void> {
    for (;;) {
      // Checked and cleared in one step with no await in between, so a message
      // enqueued while the pump finishes is never left behind.
      if (this.#queue.length === 0 || this.#ports.stopped()) {
        this.#running = false;
        return;
      }
      const item = this.#queue.shift()!;
      try {
        await this.#once(item);
      } catch (err) {
        this.#ports.telemetry.emit("agent.error", {
          where: "cycle",
          error: err instanceof Error ? err.message : String(err),
        }, { severity: "error", peer: item.link.peer });
      }
    }
  }

  async #once({ bytes, link, channel, origin }: _Item): Promise<void> {
    const p = this.#ports;
    if (
      origin === undefined &&
      p.outbox.relay?.frame(bytes, { peer: link.peer, session: link.session.id, channel }) === true
    ) return;
    // A relayed envelope is signed by its origin; the session's peer only carried it.
    const peer = origin ?? link.peer;
    const info: CycleInfo = { cycle: ++this.#cycle, peer, channel };
    p.hooks.call("beforeCycle", info);
    const result = await p.router.dispatch(bytes, {
      peer,
      session: link.session.id,
      ...(origin === undefined ? {} : { relay: link.peer }),
    });
    if (result.envelope !== undefined) p.name(peer, result.envelope.sender.agent_id);
    p.committed(result.effects);
    await p.outbox.send(peer, result.replies);
    for (const effect of result.effects) {
      if (effect.type === "trustChanged" && effect.entry.changed) {
        p.hooks.call("trustChange", effect.entry);
      }
    }
    await this.#consequences(peer, result.effects);
    p.settled(peer);
    p.hooks.call("afterCycle", info, result);
  }

  /** What the runtimes decided, carried out: intents, the person's state, deliveries, fetches. */
  async #consequences(peer: string, effects: readonly Effect[]): Promise<void> {
    const p = this.#ports;
    for (const effect of effects) {
      switch (effect.type) {
        case "intentReceived":
          p.intents.reached({
            source: "peer",
            from: peer,
            msgId: effect.msgId,
            goal: effect.goal,
            topic: effect.topic,
            priority: effect.priority,
            context: effect.context,
            decision: effect.decision,
          });
          break;
        case "humanState":
          p.hooks.call("humanState", peer, effect.human);
          break;
        case "deliver": {
          const d = effect.delivery;
          if (d.kind !== "intent") break;
          const intent: AgentIntent = {
            source: "person",
            from: peer,
            msgId: d.msgId,
            goal: d.goal,
            topic: d.topic,
            priority: d.priority,
          };
          p.intents.reached(intent);
          await p.intents.propagate(intent);
          break;
        }
        case "fetch":
          p.fetch(effect.request, peer);
          break;
      }
    }
  }
}
