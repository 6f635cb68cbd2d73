/**
 * The mesh's relay: the agent's envelopes for nodes without a session are
 * wrapped in relay frames and sent to the route's first hop, or held until
 * a route appears inside the delivery window; inbound relay frames are
 * checked (loops, blocked origins, admission, hop limit, duplicates, the
 * inner envelope's signature) and delivered here or forwarded within the
 * origin's share of the next hop's rate. Held frames are bounded in bytes.
 *
 * @module
 */

import type { Agent, ChannelKind } from "../agent/mod.ts";
import { type Envelope, verifyEnvelope } from "../envelope/mod.ts";
import type { OutboundEnvelope } from "../router/mod.ts";
import { newMsgId, outcome, replySpec } from "../runtime/mod.ts";
import type { MeshDrops } from "./drops.ts";
import { encodeFrame, type MeshChannel, type RelayFrame } from "./frame.ts";
import { type HeldFrame, HeldFrames } from "./held.ts";
import { type MeshLimits, trustRank } from "./limits.ts";
import type { Links } from "./links.ts";
import type { SeenCache } from "./seen.ts";
import type { ForwardShares } from "./shares.ts";
import type { RandomSource } from "../ports/mod.ts";

/** A message this node originated that could not be delivered (the local `ERROR`). */
export interface MeshDeliveryError {
  /** The undelivered envelope's msg_id. */
  inReplyTo: string;
  /** `expired` (left the window while held) or `undeliverable`. */
  code: "expired" | "undeliverable";
  /** Why. */
  reason: string;
  /** Where it was going. */
  destination: string;
}

/** What {@linkcode MeshRelay} needs from the node. */
export interface RelayPorts {
  /** Where frame ids, msg_ids and decision ids come from. */
  readonly random: RandomSource;
  /** The node's agent. */
  readonly agent: Pick<
    Agent,
    | "fingerprint"
    | "sendFrame"
    | "deliverRelayed"
    | "metrics"
    | "telemetry"
    | "router"
    | "apply"
    | "cip"
    | "stopped"
  >;
  /** Routes. */
  readonly links: Pick<Links, "route" | "reachable" | "isBlocked">;
  /** Ids seen (against loops and duplicates). */
  readonly seen: SeenCache;
  /** Relays a frame may still go through when it leaves its origin. */
  readonly hopLimit: number;
  /** The delivery window around an envelope's timestamp. */
  readonly windowMs: number;
  /** The clock in ms. */
  readonly now: () => number;
  /** The bounds. */
  readonly limits: Pick<MeshLimits, "heldBytes" | "heldBytesPerDestination">;
  /** Drops, counted. */
  readonly drops: MeshDrops;
  /** Shares of each next hop's rate for the frames of other origins. */
  readonly shares: ForwardShares;
  /** Whether an origin may reach this node (allow-list, introductions, neighbours). */
  deliverable(origin: string): boolean;
  /** Whether this node admits an origin at all (it forwards only admitted origins' frames). */
  admitted(origin: string): boolean;
  /** How much this node trusts an origin (`trustRank`). */
  rank(origin: string): number;
  /** The seen-id bound of an origin, and whether it may use the reserved share. */
  seenLimit(origin: string): { limit: number; privileged: boolean };
  /** A relay frame for this node is about to go to the router (which charges the delivering peer). */
  delivering(peer: string): void;
  /** Runs work in the node's one chain. */
  track(work: Promise<void>): void;
}

const _enc = new TextEncoder();
const _dec = new TextDecoder();

/**
 * Forwarding and holding of relay frames.
 *
 * @example
 * ```ts ignore
 * const relay = new MeshRelay(ports);
 * await relay.send(fp, out); // wrapped, routed or held
 * relay.sweep(); // retries held frames, expires those outside the window
 * ```
 */
export class MeshRelay {
  readonly #ports: RelayPorts;
  readonly #held: HeldFrames;
  readonly #errors: MeshDeliveryError[] = [];
  readonly #errorListeners = new Set<(e: MeshDeliveryError) => void>();

  /**
   * Creates the relay.
   *
   * @param ports What it needs from the node.
   */
  constructor(ports: RelayPorts) {
    this.#ports = ports;
    this.#held = new HeldFrames({
      total: ports.limits.heldBytes,
      perDestination: ports.limits.heldBytesPerDestination,
    });
  }

  /** How many messages are held for lack of a route. */
  get heldCount(): number {
    return this.#held.count;
  }

  /** Bytes of the messages held for lack of a route. */
  get heldBytes(): number {
    return this.#held.bytes;
  }

  /** The local `ERROR`s for messages this node originated and could not deliver. */
  get errors(): readonly MeshDeliveryError[] {
    return this.#errors;
  }

  /**
   * Listens for local delivery errors.
   *
   * @param fn Called for each.
   * @returns Its unregister function.
   */
  onDeliveryError(fn: (e: MeshDeliveryError) => void): () => void {
    this.#errorListeners.add(fn);
    return () => this.#errorListeners.delete(fn);
  }

  /**
   * The agent's envelopes for a node without a session: wrapped, routed or held.
   *
   * @param fp The destination.
   * @param out The signed envelopes.
   * @returns `false` when the node cannot be reached through the mesh at all.
   */
  async send(fp: string, out: readonly OutboundEnvelope[]): Promise<boolean> {
    const { agent, links, hopLimit } = this.#ports;
    if (!links.reachable(fp)) return false;
    const self = agent.fingerprint;
    for (const o of out) {
      const frame: RelayFrame = {
        mesh: "1.0",
        kind: "relay",
        origin: self,
        destination: fp,
        hop_limit: hopLimit,
        hops: [self],
        channel: o.channel as MeshChannel,
        envelope: _dec.decode(o.bytes),
      };
      const next = links.route(fp)?.[0];
      if (next === undefined) {
        this.#hold(frame, o.envelope);
        continue;
      }
      await this.#forward(next, frame, o.envelope.msg_id);
    }
    return true;
  }

  #hold(frame: RelayFrame, envelope: Pick<Envelope, "msg_id" | "timestamp">, peer?: string): void {
    const { agent, rank, drops } = this.#ports;
    const h: HeldFrame = {
      frame,
      msgId: envelope.msg_id,
      timestampMs: Date.parse(envelope.timestamp),
      bytes: frame.envelope.length + 512 + frame.hops.length * 67,
    };
    const dropped = this.#held.add(h, rank);
    for (const d of dropped) {
      drops.drop("held_full", {
        origin: d.frame.origin,
        msgId: d.msgId,
        peer,
        detail: d === h ? "not held" : "oldest held frame of the least trusted origin dropped",
      });
      if (d.frame.origin === agent.fingerprint) {
        this.#deliveryError({
          inReplyTo: d.msgId,
          code: "undeliverable",
          reason: "no route, and the held messages are over their bound",
          destination: d.frame.destination,
        });
      }
    }
    agent.metrics.gauge("web4_mesh_held_frames", this.#held.count, {});
    if (dropped.includes(h)) return;
    agent.telemetry.emit("mesh.held", {
      msg_id: envelope.msg_id,
      destination: frame.destination,
    }, { severity: "warn", peer: frame.destination });
  }

  async #forward(next: string, frame: RelayFrame, msgId: string, peer?: string): Promise<void> {
    const { agent, shares, now, drops, rank } = this.#ports;
    const trusted = rank(frame.origin) >= trustRank("trusted");
    if (frame.origin !== agent.fingerprint && !shares.take(next, frame.origin, now(), trusted)) {
      drops.drop("forward_share", { origin: frame.origin, msgId, peer: next });
      return;
    }
    try {
      await agent.sendFrame(next, frame.channel, encodeFrame(frame));
      agent.metrics.counter("web4_mesh_forwarded_total", 1, {
        role: frame.origin === agent.fingerprint ? "origin" : "relay",
      });
      agent.telemetry.emit("mesh.forwarded", {
        origin: frame.origin,
        destination: frame.destination,
        next_hop: next,
        hops: frame.hops.length,
        msg_id: msgId,
      }, { severity: "debug", peer: next });
    } catch {
      // The session went away between routing and sending: hold it.
      this.#hold(frame, JSON.parse(frame.envelope) as Envelope, peer);
    }
  }

  /**
   * Retries held messages that have a route now and expires those outside
   * the window (local `ERROR` `expired`, or a signed one to the origin).
   */
  sweep(): void {
    const { agent, links, now, windowMs, track } = this.#ports;
    const nowMs = now();
    for (const h of this.#held.list()) {
      if (Math.abs(nowMs - h.timestampMs) > windowMs) {
        this.#held.remove(h);
        agent.metrics.counter("web4_mesh_expired_total", 1, {});
        const reason = `held without a route until it left the ${windowMs / 1000} s window`;
        if (h.frame.origin === agent.fingerprint) {
          this.#deliveryError({
            inReplyTo: h.msgId,
            code: "expired",
            reason,
            destination: h.frame.destination,
          });
        } else {
          const inner = JSON.parse(h.frame.envelope) as Envelope;
          track(this.#undeliverable(h.frame, inner, reason, "expired"));
        }
        continue;
      }
      // A relay never sends a held frame back along its hop list.
      const next = links.route(h.frame.destination, h.frame.hops)?.[0];
      if (next === undefined) continue;
      this.#held.remove(h);
      track(this.#forward(next, h.frame, h.msgId));
    }
    agent.metrics.gauge("web4_mesh_held_frames", this.#held.count, {});
  }

  /**
   * A relay that cannot deliver answers the origin with a signed `ERROR`:
   * `undeliverable` (the destination cannot be reached at all) or `expired`
   * (held until it left the window).
   */
  async #undeliverable(
    frame: RelayFrame,
    envelope: Pick<Envelope, "msg_id" | "type" | "sender">,
    why: string,
    code: "undeliverable" | "expired" = "undeliverable",
  ): Promise<void> {
    const { agent, links } = this.#ports;
    if (code === "undeliverable") {
      this.#ports.drops.drop("no_route", { origin: frame.origin, msgId: envelope.msg_id });
    }
    if (envelope.type === "ERROR" || frame.origin === agent.fingerprint) return;
    const spec = replySpec("cip", "ERROR", {
      msg_id: newMsgId(this.#ports.random),
      receiver: { agent_id: envelope.sender.agent_id, fingerprint: frame.origin },
      payload: {
        in_reply_to: envelope.msg_id,
        code,
        reason: `Relay ${agent.fingerprint} could not deliver to ${frame.destination}: ${why}`,
      },
    });
    const out = await agent.apply(outcome("handled", { replies: [spec] }), { peer: frame.origin });
    if (links.route(frame.origin)?.[0] !== undefined) await this.send(frame.origin, out);
  }

  /**
   * An inbound relay frame: delivered here, forwarded, held, or dropped.
   * Checked in this order: loop, blocked origin, (for this node: admission,
   * then the router), admission, hop limit, duplicate, the inner envelope's
   * signature (a bad one sanctions the delivering neighbour), the seen-id
   * bound, then the route.
   *
   * @param frame The frame.
   * @param from The neighbour that delivered it, and the channel.
   */
  async relayed(frame: RelayFrame, from: { peer: string; channel: ChannelKind }): Promise<void> {
    const { agent, links, seen, now, windowMs, drops } = this.#ports;
    const self = agent.fingerprint;
    const peer = from.peer;
    let msgId: string | null = null;
    try {
      const id = (JSON.parse(frame.envelope) as { msg_id?: unknown }).msg_id;
      if (typeof id === "string") msgId = id;
    } catch { /* verified below */ }
    const origin = frame.origin;
    if (frame.hops.includes(self)) return drops.drop("loop", { origin, msgId, peer });
    if (agent.router.trust.peer(origin) === "blacklisted" || links.isBlocked(origin)) {
      return drops.drop("blocked_origin", { origin, msgId, peer });
    }
    if (frame.destination === self) {
      if (!this.#ports.deliverable(origin)) {
        return drops.drop("not_admitted", { origin, msgId, peer });
      }
      agent.metrics.counter("web4_mesh_delivered_total", 1, {});
      agent.telemetry.emit("mesh.delivered", {
        origin,
        hops: frame.hops.length,
        msg_id: msgId ?? "",
      }, { severity: "debug", peer });
      // The router verifies it, refuses replays (its persisted window) and charges the peer.
      this.#ports.delivering(peer);
      agent.deliverRelayed(_enc.encode(frame.envelope), origin, from);
      return;
    }
    if (!this.#ports.admitted(origin)) return drops.drop("not_admitted", { origin, msgId, peer });
    if (frame.hop_limit <= 0) return drops.hopExpired(frame, peer);
    const key = `${origin}/${msgId}`;
    const nowMs = now();
    if (msgId !== null && seen.has(key, nowMs)) {
      return drops.drop("duplicate", { origin, msgId, peer });
    }
    // Verify before forwarding: a bad inner envelope sanctions the relay that delivered it.
    let envelope: Envelope;
    try {
      envelope = await verifyEnvelope(frame.envelope, {
        expectedSender: origin,
        expectedReceiver: frame.destination,
        now: () => new Date(now()),
        maxSkewMs: windowMs,
      });
    } catch (err) {
      await this.#sanction(peer, err, msgId, frame);
      return;
    }
    const verdict = seen.add(key, {
      origin,
      untilMs: Date.parse(envelope.timestamp) + windowMs,
      nowMs: now(),
      ...this.#ports.seenLimit(origin),
    });
    if (verdict === "duplicate") return drops.drop("duplicate", { origin, msgId, peer });
    if (verdict === "full") return drops.drop("seen_full", { origin, msgId, peer });
    const next = links.route(frame.destination, frame.hops)?.[0];
    const onward: RelayFrame = {
      ...frame,
      hop_limit: frame.hop_limit - 1,
      hops: [...frame.hops, self],
    };
    if (next === undefined) {
      // Reachable in principle (known, not blocked): held here until a route appears or the
      // window closes (within the held bounds); otherwise the origin is told at once.
      if (links.reachable(frame.destination)) this.#hold(onward, envelope, peer);
      else await this.#undeliverable(onward, envelope, "no route");
      return;
    }
    await this.#forward(next, onward, envelope.msg_id, peer);
  }

  async #sanction(
    relay: string,
    err: unknown,
    msgId: string | null,
    frame: RelayFrame,
  ): Promise<void> {
    const { agent } = this.#ports;
    agent.metrics.counter("web4_mesh_dropped_total", 1, { reason: "tampered" });
    const o = agent.cip.verificationFailed(err, agent.router.context(relay), msgId ?? undefined);
    await agent.apply(o, { peer: relay });
    agent.telemetry.emit("mesh.tampered", {
      origin: frame.origin,
      destination: frame.destination,
      error: err instanceof Error ? err.message : String(err),
    }, { severity: "warn", peer: relay });
  }

  #deliveryError(e: MeshDeliveryError): void {
    this.#errors.push(e);
    if (this.#errors.length > 1024) this.#errors.shift();
    this.#ports.agent.telemetry.emit("mesh.error", {
      in_reply_to: e.inReplyTo,
      code: e.code,
      reason: e.reason,
    }, { severity: "warn", peer: e.destination });
    for (const fn of this.#errorListeners) fn(e);
  }
}
