/**
 * The agent's outbox: how signed envelopes leave. An outcome the agent
 * starts is committed through the router, signed, and sent on the peer's
 * session, or handed to the relay when no connection carries the peer.
 *
 * @module
 */

import type { CipState, EnvelopeReceiver } from "../envelope/mod.ts";
import type { OutboundEnvelope } from "../router/mod.ts";
import { type LocalLoad, newMsgId, type Outcome, outcome, type ReplySpec } from "../runtime/mod.ts";
import type { Emit } from "./events.ts";
import type { AgentRelay } from "./relay.ts";
import type { Sessions } from "./sessions.ts";
import type { RandomSource } from "../ports/mod.ts";

/** The result of sending one message to one peer. */
export interface SendResult {
  /** The peer. */
  peer: string;
  /** `sent`, or `deferred`/`refused` by the runtime (nothing sent). */
  status: "sent" | "deferred" | "refused";
  /** The msg_id sent. */
  msgId?: string | undefined;
  /** Why it was not sent. */
  code?: string | undefined;
}

/** What the {@linkcode Outbox} needs from the agent. */
export interface OutboxPorts {
  /** Where msg_ids come from. */
  readonly random: RandomSource;
  /** The sessions. */
  readonly sessions: Pick<Sessions, "link" | "isOpen" | "isLive" | "agentPeers" | "receiver">;
  /** Where held sends, undeliverable envelopes and send failures are reported. */
  readonly emit: Emit;
  /** Commits an outcome through the router and returns its signed envelopes. */
  commit(o: Outcome, to: { peer: string }): Promise<OutboundEnvelope[]>;
  /** The agent's current presence and lri (the CIP `state` block). */
  load(): LocalLoad;
}

/**
 * How envelopes leave the agent.
 *
 * @example
 * ```ts ignore
 * const [r] = await outbox.each([peer], (fp) =>
 *   outbox.reply(replySpec("cip", "DECISION_SHARE", { ...outbox.address(fp), payload, state: outbox.cipState() })));
 * ```
 */
export class Outbox {
  /** The relay for peers without a live session (the mesh), if attached. */
  relay: AgentRelay | undefined;
  readonly #ports: OutboxPorts;
  /** Per peer, the last send queued: the next one waits for it. */
  readonly #lanes = new Map<string, Promise<void>>();

  /**
   * Creates the outbox.
   *
   * @param ports What it needs from the agent.
   */
  constructor(ports: OutboxPorts) {
    this.#ports = ports;
  }

  /**
   * A fresh msg_id and the receiver block for a peer.
   *
   * @param fp The peer.
   * @returns The `msg_id` and `receiver` parts of a reply spec.
   */
  address(fp: string): { msg_id: string; receiver: EnvelopeReceiver } {
    return {
      msg_id: newMsgId(this.#ports.random),
      receiver: this.#ports.sessions.receiver(fp),
    };
  }

  /**
   * The CIP `state` block from the agent's current load.
   *
   * @returns Presence, lri, no kernel signals.
   */
  cipState(): CipState {
    const load = this.#ports.load();
    return { presence: load.presence, lri: load.lri, kernel_signals: [] };
  }

  /**
   * An outcome that sends one message.
   *
   * @param spec The message.
   * @returns A `handled` outcome with that one reply.
   */
  reply(spec: ReplySpec): Outcome {
    return outcome("handled", { replies: [spec] });
  }

  /**
   * Whether a peer can be sent to: an open session, or a relay route.
   *
   * @param fp The peer.
   * @returns Whether it can.
   */
  reachable(fp: string): boolean {
    return this.#ports.sessions.isOpen(fp) || this.relay?.reachable(fp) === true;
  }

  /**
   * Builds, commits and sends one outcome per peer. A runtime that defers or
   * refuses sends nothing (`sendHeld`); an unreachable peer is
   * `refused` (`not_connected`). The outcomes commit one after the other;
   * the sends go out on each peer's lane at once, so a peer slow to take
   * them delays no other.
   *
   * @param to The peers. @default {every verified agent peer}
   * @param make The outcome for one peer.
   * @returns One result per peer.
   */
  async each(
    to: readonly string[] | undefined,
    make: (fp: string) => Outcome,
  ): Promise<SendResult[]> {
    const results: SendResult[] = [];
    const sends: Promise<void>[] = [];
    for (const fp of to ?? this.#ports.sessions.agentPeers()) {
      if (!this.reachable(fp)) {
        results.push({ peer: fp, status: "refused", code: "not_connected" });
        continue;
      }
      const o = make(fp);
      if (o.status !== "handled") {
        await this.#ports.commit(o, { peer: fp });
        this.#ports.emit("sendHeld", {
          peer: fp,
          code: o.code ?? o.status,
          reason: o.reason ?? "",
        });
        results.push({
          peer: fp,
          status: o.status === "deferred" ? "deferred" : "refused",
          code: o.code,
        });
        continue;
      }
      const out = await this.#ports.commit(o, { peer: fp });
      sends.push(this.send(fp, out));
      results.push({ peer: fp, status: "sent", msgId: out[0]?.envelope.msg_id });
    }
    await Promise.all(sends);
    return results;
  }

  /**
   * Commits one outcome and sends what it signs.
   *
   * @param fp The peer.
   * @param o The outcome.
   */
  async commitAndSend(fp: string, o: Outcome): Promise<void> {
    await this.send(fp, await this.#ports.commit(o, { peer: fp }));
  }

  /**
   * Sends signed envelopes to a peer: on its session, or through the relay
   * when no connection carries it (none, or one still resuming). Every send
   * to one peer goes on that peer's lane, in call order, so sends to a peer
   * slow to take them wait behind each other and never hold up another
   * peer's. Handshake and error traffic (`control`) waits for the peer's
   * acknowledgement, so what follows on other channels never overtakes it.
   * Never rejects: a failure is reported as `error`.
   *
   * @param fp The peer.
   * @param out The envelopes, in order.
   * @returns Once they left (or failed).
   */
  send(fp: string, out: readonly OutboundEnvelope[]): Promise<void> {
    if (out.length === 0) return Promise.resolve();
    const before = this.#lanes.get(fp);
    const lane = before === undefined
      ? this.#sendNow(fp, out)
      : before.then(() => this.#sendNow(fp, out));
    this.#lanes.set(fp, lane);
    void lane.then(() => {
      if (this.#lanes.get(fp) === lane) this.#lanes.delete(fp);
    });
    return lane;
  }

  async #sendNow(fp: string, out: readonly OutboundEnvelope[]): Promise<void> {
    const { sessions, emit } = this.#ports;
    try {
      if (!sessions.isLive(fp) && await this.relay?.send(fp, out) === true) return;
    } catch (err) {
      emit("error", {
        where: "send",
        error: err instanceof Error ? err.message : String(err),
        peer: fp,
      });
      return;
    }
    const link = sessions.link(fp);
    if (link === undefined || !link.open) {
      emit("undeliverable", {
        peer: fp,
        count: out.length,
        types: out.map((o) => o.envelope.type),
      });
      return;
    }
    for (const o of out) {
      try {
        await link.send(o.channel, o.bytes, { ack: o.channel === "control" });
      } catch (err) {
        emit("error", {
          where: "send",
          error: err instanceof Error ? err.message : String(err),
          peer: fp,
        });
      }
    }
  }
}
