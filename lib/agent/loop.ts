/**
 * The cognitive loop: every inbound message of every session joins one
 * queue, once its peer's inbound share has room for it, and is dispatched
 * in arrival order, one at a time, through the router; its replies go back
 * (without the loop waiting for them), its committed effects become
 * events, and the work the runtimes handed to the agent (the person's
 * intent to propagate, a fetch to run) follows in the background. A
 * message's bytes stay counted in its peer's share until its replies have
 * left, so a peer that does not take its answers stops being read instead
 * of stalling the loop.
 *
 * @module
 */

import type { DispatchResult, Inbound, ProtocolRouter } from "../router/mod.ts";
import type { Effect, FetchRequest } from "../runtime/mod.ts";
import type { CycleInfo, Emit } from "./events.ts";
import type { Admission, InboundShares } from "./inbound.ts";
import type { Intents } from "./intents.ts";
import type { ChannelKind, SessionLink } from "./link.ts";
import type { Outbox } from "./outbox.ts";

/** What the {@linkcode CognitiveLoop} needs from the agent. */
export interface LoopPorts {
  /** The router every message goes through (and that refuses one larger than its peer's share). */
  readonly router: Pick<ProtocolRouter, "dispatch" | "refuse">;
  /** The peers' inbound shares. */
  readonly inbound: Pick<InboundShares, "admit" | "stop">;
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
  /** Tracks work the loop does not wait for (the agent waits for it when it stops). */
  background(work: Promise<unknown>): void;
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
  /** Frees the message's bytes in its peer's share. */
  release(): void;
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
   * Queues one inbound message, charged to the share of the session's peer
   * (for a relayed envelope, the relay): at once when it fits, else once it
   * does. A message larger than the share is refused: answered with the
   * protocol's error (`quota`), never queued.
   *
   * @param bytes The message.
   * @param link The session it came on.
   * @param channel The channel.
   * @param origin For a relayed envelope: its origin (the signer), the session's peer being the relay.
   * @returns Nothing when it was queued or refused at once, else a promise that settles when it was.
   */
  enqueue(
    bytes: Uint8Array,
    link: SessionLink,
    channel: ChannelKind,
    origin?: string,
  ): Promise<void> | undefined {
    if (this.#ports.stopped()) return;
    const admission = this.#ports.inbound.admit(link.peer, bytes.length, link.session.id);
    const queue = (a: Admission) => this.#queued(a, { bytes, link, channel, origin });
    if (admission instanceof Promise) return admission.then(queue);
    queue(admission);
  }

  #queued(admission: Admission, item: Omit<_Item, "release">): void {
    if (admission === "stopped") return;
    if (admission === "too_large") {
      this.#background("refuse", item.origin ?? item.link.peer, () => this.#refuse(item));
      return;
    }
    if (this.#ports.stopped()) return admission.release();
    this.#queue.push({ ...item, release: admission.release });
    this.#ports.gauge(this.#queue.length);
    if (!this.#running) {
      this.#running = true;
      this.#pumping = this.#pump();
    }
  }

  /** Runs work the loop does not wait for; a failure is reported as `error` (`where`). */
  #background(where: string, peer: string, work: () => Promise<unknown>): void {
    this.#ports.background(
      work().catch((err) => {
        this.#ports.emit("error", {
          where,
          error: err instanceof Error ? err.message : String(err),
          peer,
        });
      }),
    );
  }

  /** Answers a message larger than its peer's share with the protocol's error (`quota`). */
  async #refuse({ bytes, link, origin }: Omit<_Item, "release">): Promise<void> {
    const peer = origin ?? link.peer;
    const result = await this.#ports.router.refuse(
      bytes,
      this.#inbound(link, origin),
      `A message of ${bytes.length} bytes is larger than what ${link.peer} may have held here`,
    );
    await this.#ports.outbox.send(peer, result.replies);
  }

  #inbound(link: SessionLink, origin: string | undefined): Inbound {
    return {
      peer: origin ?? link.peer,
      session: link.session.id,
      ...(origin === undefined ? {} : { relay: link.peer }),
    };
  }

  /** Drops what is queued (freeing its shares) and waits for the running cycle. */
  async stop(): Promise<void> {
    this.#ports.inbound.stop();
    for (const item of this.#queue.splice(0)) item.release();
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
      this.#ports.gauge(this.#queue.length);
      let sending: Promise<void> | undefined;
      try {
        // Wrapped: an async function's returned promise would be awaited with it.
        sending = (await this.#once(item))?.sending;
      } catch (err) {
        this.#ports.emit("error", {
          where: "cycle",
          error: err instanceof Error ? err.message : String(err),
          peer: item.link.peer,
        });
      } finally {
        // The bytes stay in the peer's share until its replies left.
        if (sending === undefined) item.release();
        else void sending.finally(item.release);
      }
    }
  }

  /** One cycle; returns the send of its replies, which the loop does not wait for. */
  async #once(
    { bytes, link, channel, origin }: _Item,
  ): Promise<{ sending: Promise<void> } | undefined> {
    const p = this.#ports;
    if (
      origin === undefined &&
      p.outbox.relay?.frame(bytes, { peer: link.peer, session: link.session.id, channel }) === true
    ) return;
    // A relayed envelope is signed by its origin; the session's peer only carried it.
    const peer = origin ?? link.peer;
    const info: CycleInfo = { cycle: ++this.#cycle, peer, channel };
    p.emit("beforeCycle", info);
    const result: DispatchResult = await p.router.dispatch(bytes, this.#inbound(link, origin));
    const env = result.envelope;
    if (env !== undefined) p.name(peer, env.sender.agent_id);
    // Replies leave in order on the peer's lane; the next cycle does not wait for them.
    const sending = p.outbox.send(peer, result.replies);
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
        this.#background("propagate", peer, () =>
          p.intents.propagate({
            source: "person",
            from: peer,
            msgId: d.msgId,
            goal: d.goal,
            topic: d.topic,
            priority: d.priority,
          }));
      } else if (effect.type === "fetch") p.fetch(effect.request, peer);
    }
    // Listeners of afterCycle run first, so a waiting condition that reads what they count
    // is re-checked after them (a condition checked before the last cycle's listeners ran
    // would wait for a cycle that never comes).
    p.emit("afterCycle", { ...info, result });
    p.settled();
    return { sending };
  }
}
