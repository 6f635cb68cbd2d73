/**
 * Internal: what the router signs. Each reply spec a runtime returned is
 * signed with the agent's identity, keeping the msg_id the runtime chose,
 * and sent on its message type's channel kind; a refused message is
 * answered with its protocol's error envelope (never in answer to an
 * error). Signed only once the message's transaction has committed.
 *
 * @module
 */

import { createEnvelope, encodeEnvelope } from "../envelope/mod.ts";
import { NEUTRAL_HUMAN_STATE } from "../hcp/mod.ts";
import type { Identity } from "../identity/mod.ts";
import { msgIdBytes, newMsgId, type ReplySpec } from "../runtime/mod.ts";
import type { Store } from "../store/mod.ts";
import { channelOf } from "./channels.ts";
import { type Header, refusalReply } from "./refusals.ts";
import type { Pending } from "./results.ts";
import type { DispatchResult, Inbound, OutboundEnvelope } from "./types.ts";

/** What the replies need from their router. */
export interface RepliesPorts {
  /** Signs every reply. */
  readonly identity: Identity;
  /** The capabilities the envelopes announce. */
  readonly capabilities: string[];
  /** The router's clock (ms since the epoch). */
  readonly now: () => number;
  /** The router's random source (the msg_id of an error answer). */
  readonly random: (n: number) => Uint8Array;
  /** Where the person's human state is read (an HCP error answer carries it). */
  readonly store: Store;
}

/** Signs the router's replies and its answers to refusals. */
export class Replies {
  readonly #ports: RepliesPorts;

  /** @param ports What the router lends. */
  constructor(ports: RepliesPorts) {
    this.#ports = ports;
  }

  /**
   * Signs one reply spec with the identity, keeping the msg_id the runtime chose.
   *
   * @param spec The unsigned reply.
   * @returns The signed envelope, its bytes and its channel.
   */
  async sign(spec: ReplySpec): Promise<OutboundEnvelope> {
    const envelope = await createEnvelope(spec.protocol, spec.type as never, {
      identity: this.#ports.identity,
      receiver: spec.receiver,
      payload: spec.payload as never,
      ...(spec.state === undefined ? {} : { state: spec.state as never }),
      ...(spec.trust === undefined ? {} : { trust: spec.trust }),
      ...(spec.source === undefined ? {} : { source: spec.source }),
      capabilities: this.#ports.capabilities,
      clock: () => new Date(this.#ports.now()),
      random: () => msgIdBytes(spec.msg_id),
    });
    return {
      envelope,
      bytes: encodeEnvelope(envelope),
      channel: channelOf(spec.protocol, spec.type),
    };
  }

  /**
   * Signs what a committed message answers: the runtime's replies, then the refusal's.
   *
   * @param pending The result and what it waits for.
   * @returns The result, its signed replies in `replies`.
   */
  async finish(pending: Pending): Promise<DispatchResult> {
    const { result, replies, answer } = pending;
    for (const spec of replies) result.replies.push(await this.sign(spec));
    if (answer !== null) await this.#answer(result, answer.header, answer.from);
    return result;
  }

  /** Appends the protocol's signed error envelope to `result.replies`, unless the message was one. */
  async #answer(result: DispatchResult, header: Header, from: Inbound): Promise<void> {
    const spec = refusalReply(
      header,
      result,
      from.peer,
      newMsgId(this.#ports.random),
      () => this.#ports.store.person(from.peer)?.humanState ?? NEUTRAL_HUMAN_STATE,
    );
    if (spec !== undefined) result.replies.push(await this.sign(spec));
  }
}
