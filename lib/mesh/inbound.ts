/**
 * Inbound mesh frames: every frame a session delivers is charged to the
 * session peer's rate limit (the router's buckets, so one peer has one limit
 * for everything it sends) and its bytes to the peer's pending share, before
 * it is parsed; then frames are handled one at a time, in arrival order.
 * Control frames are checked cheapest first and refused (never forwarded)
 * when stale, from a signer not admitted, duplicate, badly signed, or over
 * the seen-id bound; relay frames go to the relay (`relay.ts`).
 *
 * @module
 */

import type { Agent, ChannelKind } from "../agent/mod.ts";
import type { Admission } from "./admission.ts";
import type { Consensus } from "./consensus.ts";
import type { MeshDrops } from "./drops.ts";
import { MeshError } from "./errors.ts";
import { type ControlFrame, decodeFrame, isMeshFrame, verifyControl } from "./frame.ts";
import type { MeshLimits } from "./limits.ts";
import type { Links } from "./links.ts";
import type { MaliceWatch } from "./malice.ts";
import type { MeshRelay } from "./relay.ts";
import type { SeenCache } from "./seen.ts";
import { PendingBytes } from "./shares.ts";

/** What {@linkcode InboundFrames} needs from the node. */
export interface InboundPorts {
  /** The node's agent (its rate limit and trust). */
  readonly agent: Pick<Agent, "fingerprint" | "router" | "stopped">;
  /** The bounds. */
  readonly limits: MeshLimits;
  /** The freshness window of control frames (`at`), ms. */
  readonly windowMs: number;
  /** The clock in ms. */
  readonly now: () => number;
  /** Ids seen. */
  readonly seen: SeenCache;
  /** Drops, counted. */
  readonly drops: MeshDrops;
  /** Who is admitted. */
  readonly admission: Admission;
  /** The rooms frames go to. */
  readonly links: Links;
  /** Relay frames. */
  readonly relay: Pick<MeshRelay, "relayed">;
  /** Copies maps. */
  readonly consensus: Pick<Consensus, "copiesArrived">;
  /** Malice reports. */
  readonly malice: Pick<MaliceWatch, "received">;
  /** Whether the node is stopping. */
  stopping(): boolean;
  /** Runs work in the node's one chain, after what is queued. */
  enqueue(work: () => Promise<void>): void;
}

/**
 * Inbound frames of one node.
 *
 * @example
 * ```ts ignore
 * const inbound = new InboundFrames(ports);
 * inbound.frame(bytes, { peer, session, channel }); // true: a mesh frame, claimed
 * ```
 */
export class InboundFrames {
  readonly #ports: InboundPorts;
  readonly #pending: PendingBytes;

  /**
   * Creates the room.
   *
   * @param ports What it needs from the node.
   */
  constructor(ports: InboundPorts) {
    this.#ports = ports;
    this.#pending = new PendingBytes(ports.limits.pendingBytesTotal);
  }

  /** Bytes of frames waiting to be handled. */
  get pendingBytes(): number {
    return this.#pending.bytes;
  }

  /**
   * A frame from a session: claimed if it is a mesh frame, charged, queued.
   *
   * @param bytes What the session delivered.
   * @param from The session's peer and the channel.
   * @returns Whether it was a mesh frame (claimed, whatever became of it).
   */
  frame(bytes: Uint8Array, from: { peer: string; session: string; channel: ChannelKind }): boolean {
    if (!isMeshFrame(bytes)) return false;
    const { agent, limits, drops, now } = this.#ports;
    if (this.#ports.stopping()) return true; // claimed and ignored: the node is stopping
    const peer = from.peer;
    const rate = agent.router.rateLimiter?.take(peer, now());
    if (rate !== undefined && !rate.allowed) {
      drops.drop("rate_limited", { peer });
      return true;
    }
    const limit = agent.router.trust.peer(peer) === "trusted"
      ? limits.pendingBytesTrusted
      : limits.pendingBytes;
    if (!this.#pending.take(peer, bytes.length, limit)) {
      drops.drop("pending_full", { peer, detail: `${bytes.length} bytes` });
      return true;
    }
    this.#ports.enqueue(() =>
      this.#inbound(bytes, from).finally(() => this.#pending.release(peer, bytes.length))
    );
    return true;
  }

  async #inbound(bytes: Uint8Array, from: { peer: string; channel: ChannelKind }): Promise<void> {
    const { agent, limits, drops, relay } = this.#ports;
    if (agent.stopped || this.#ports.stopping()) return;
    let frame;
    try {
      frame = decodeFrame(bytes, limits);
    } catch (err) {
      const tooLarge = err instanceof MeshError && err.code === "TOO_LARGE";
      drops.drop(tooLarge ? "oversize" : "invalid_frame", {
        peer: from.peer,
        detail: (err as Error).message,
      });
      return;
    }
    if (frame.kind === "relay") await relay.relayed(frame, from);
    else await this.control(frame, from.peer);
  }

  /**
   * A control frame, checked in this order (cheap checks first; nothing
   * refused is forwarded): its own echo, freshness of `at`, a blacklisted
   * signer, admission (an advertisement of a signer not admitted yet is
   * kept a while), a duplicate id, the signature, the seen-id bound; then
   * handled and flooded on.
   *
   * @param frame The frame.
   * @param from The neighbour that delivered it.
   */
  async control(frame: ControlFrame, from: string): Promise<void> {
    const { agent, now, windowMs, drops, admission, links, seen } = this.#ports;
    const signer = frame.signer;
    if (signer === agent.fingerprint) return;
    const nowMs = now();
    if (Math.abs(nowMs - frame.at) > windowMs) {
      return drops.drop("stale", {
        origin: signer,
        peer: from,
        detail: `${frame.kind} signed ${Math.round((nowMs - frame.at) / 1000)} s ago`,
      });
    }
    if (agent.router.trust.peer(signer) === "blacklisted") {
      links.shun(signer);
      return drops.drop("blocked_origin", { origin: signer, peer: from });
    }
    if (!admission.admitted(signer)) {
      if (frame.kind === "links") return links.hold(frame, from);
      return drops.drop("not_admitted", { origin: signer, peer: from, detail: frame.kind });
    }
    const key = `${signer}/${frame.id}`;
    if (seen.has(key, nowMs)) return drops.drop("duplicate", { origin: signer, peer: from });
    try {
      await verifyControl(frame);
    } catch (err) {
      return drops.drop("bad_signature", {
        origin: signer,
        peer: from,
        detail: (err as Error).message,
      });
    }
    const verdict = seen.add(key, {
      origin: signer,
      untilMs: frame.at + windowMs,
      nowMs: now(),
      ...admission.seenLimit(signer),
    });
    if (verdict === "duplicate") return drops.drop("duplicate", { origin: signer, peer: from });
    if (verdict === "full") return drops.drop("seen_full", { origin: signer, peer: from });
    switch (frame.kind) {
      case "links":
        if (!links.received(frame, from)) return;
        links.flood(frame, from);
        // It may vouch for nodes whose advertisements arrived first.
        for (const waiting of links.admittedNow()) await this.control(waiting, from);
        return;
      case "introduce":
        links.flood(frame, from);
        return admission.introduced(signer, frame.subject, frame.agent_id);
      case "copies":
        links.flood(frame, from);
        return await this.#ports.consensus.copiesArrived(frame, from);
      case "malice":
        links.flood(frame, from);
        return await this.#ports.malice.received(signer, frame.subject, frame.evidence);
    }
  }

  /** Held advertisements whose signer is admitted now (trust or neighbours changed) are handled. */
  recheck(): void {
    for (const waiting of this.#ports.links.admittedNow()) {
      this.#ports.enqueue(() => this.control(waiting, this.#ports.agent.fingerprint));
    }
  }

  /**
   * A frame this node signed: its id is seen (its echo is a duplicate).
   *
   * @param frame The frame.
   */
  signed(frame: ControlFrame): void {
    this.#ports.seen.add(`${frame.signer}/${frame.id}`, {
      origin: frame.signer,
      untilMs: frame.at + this.#ports.windowMs,
      nowMs: this.#ports.now(),
      privileged: true,
    });
  }
}
