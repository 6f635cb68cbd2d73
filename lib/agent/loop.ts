/**
 * The cognitive loop: every inbound message of every session joins one
 * queue and is dispatched in arrival order, one at a time, through the
 * router; its replies go back, its committed effects become events, and
 * the work the runtimes handed to the agent (the person's intent to
 * propagate, a fetch to run) follows.
 *
 * @module
 */

import type { ProtocolRouter } from "../router/mod.ts";
import type { Effect, FetchRequest } from "../runtime/mod.ts";
import type { CycleInfo, Emit } from "./events.ts";
import type { Intents } from "./intents.ts";
import type { ChannelKind, SessionLink } from "./link.ts";
import type { Outbox } from "./outbox.ts";

/** What the {@linkcode CognitiveLoop} needs from the agent. */
export interface LoopPorts {
  /** The router every message goes through. */
  readonly router: Pick<ProtocolRouter, "dispatch">;
  /** How replies leave; its relay is offered every frame first. */
  readonly outbox: Pick<Outbox, "send" | "relay">;
  /** Intents reaching the loop, answers to ours. */
  readonly intents: Pick<Intents, "reached" | "propagate" | "closed">;
  /** Where cycles, answers and failures are reported. */
  readonly emit: Emit;
  /** The queue-depth gauge. */
  gauge(depth: number): void;
  /** Remembers the agent id a peer goes by. */
  name(fp: string, agentId: string): void;
  /** Reports committed effects as events. */
  committed(effects: readonly Effect[]): void;
  /** Runs a fetch a peer asked for. */
  fetch(request: FetchRequest, peer: string): void;
  /** After each cycle (waiters re-check their conditions). */
  settled(): void;
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
    this.#ports.gauge(this.#queue.length);
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
        this.#ports.emit("error", {
          where: "cycle",
          error: err instanceof Error ? err.message : String(err),
          peer: item.link.peer,
        });
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
    p.emit("beforeCycle", info);
    const result = await p.router.dispatch(bytes, {
      peer,
      session: link.session.id,
      ...(origin === undefined ? {} : { relay: link.peer }),
    });
    const env = result.envelope;
    if (env !== undefined) p.name(peer, env.sender.agent_id);
    await p.outbox.send(peer, result.replies);
    p.committed(result.effects);
    if (result.status === "handled" && env?.type === "INTENT") {
      const answer = env.payload;
      if (answer.in_reply_to !== undefined) {
        p.intents.closed(answer.in_reply_to);
        p.emit("intentAnswered", {
          peer,
          inReplyTo: answer.in_reply_to,
          decision: answer.decision,
        });
      }
    }
    for (const effect of result.effects) {
      if (effect.type === "deliver" && effect.delivery.kind === "intent") {
        const d = effect.delivery;
        await p.intents.propagate({
          source: "person",
          from: peer,
          msgId: d.msgId,
          goal: d.goal,
          topic: d.topic,
          priority: d.priority,
        });
      } else if (effect.type === "fetch") p.fetch(effect.request, peer);
    }
    p.settled();
    p.emit("afterCycle", { ...info, result });
  }
}
