/**
 * The mesh's relay: the agent's envelopes for nodes without a session are
 * wrapped in relay frames and sent to the route's first hop, or held until
 * a route appears inside the delivery window; inbound relay frames are
 * checked (loops, duplicates, blocked origins, admission, hop limit, the
 * inner envelope's signature) and delivered here or forwarded.
 *
 * @module
 */

import type { Agent, ChannelKind } from "../agent/mod.ts";
import { type Envelope, verifyEnvelope } from "../envelope/mod.ts";
import type { OutboundEnvelope } from "../router/mod.ts";
import { newMsgId, outcome, replySpec } from "../runtime/mod.ts";
import { encodeFrame, type MeshChannel, type RelayFrame } from "./frame.ts";
import type { Links } from "./links.ts";
import type { SeenCache } from "./routes.ts";

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
  /** Whether an origin may reach this node (allow-list, introductions, neighbours). */
  admitted(origin: string): boolean;
  /** Runs work in the node's one chain. */
  track(work: Promise<void>): void;
}

interface _Held {
  frame: RelayFrame;
  msgId: string;
  timestampMs: number;
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
  readonly #held: _Held[] = [];
  readonly #errors: MeshDeliveryError[] = [];
  readonly #errorListeners = new Set<(e: MeshDeliveryError) => void>();

  /**
   * Creates the relay.
   *
   * @param ports What it needs from the node.
   */
  constructor(ports: RelayPorts) {
    this.#ports = ports;
  }

  /** How many messages are held for lack of a route. */
  get heldCount(): number {
    return this.#held.length;
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
    const { agent, links, seen, hopLimit } = this.#ports;
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
      seen.add(`${self}/${o.envelope.msg_id}`);
      const next = links.route(fp)?.[0];
      if (next === undefined) {
        this.#hold(frame, o.envelope);
        continue;
      }
      await this.#forward(next, frame, o.envelope.msg_id);
    }
    return true;
  }

  #hold(frame: RelayFrame, envelope: Pick<Envelope, "msg_id" | "timestamp">): void {
    const { agent } = this.#ports;
    this.#held.push({ frame, msgId: envelope.msg_id, timestampMs: Date.parse(envelope.timestamp) });
    agent.metrics.gauge("mesh_held", this.#held.length, {});
    agent.telemetry.emit("mesh.held", {
      msg_id: envelope.msg_id,
      destination: frame.destination,
    }, { severity: "warn", peer: frame.destination });
  }

  async #forward(next: string, frame: RelayFrame, msgId: string): Promise<void> {
    const { agent } = this.#ports;
    try {
      await agent.sendFrame(next, frame.channel, encodeFrame(frame));
      agent.metrics.counter("mesh_forwarded_total", 1, {
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
      this.#hold(frame, JSON.parse(frame.envelope) as Envelope);
    }
  }

  /**
   * Retries held messages that have a route now and expires those outside
   * the window (local `ERROR` `expired`, or a signed one to the origin).
   */
  sweep(): void {
    const { agent, links, now, windowMs, track } = this.#ports;
    const nowMs = now();
    for (const h of [...this.#held]) {
      if (Math.abs(nowMs - h.timestampMs) > windowMs) {
        this.#held.splice(this.#held.indexOf(h), 1);
        agent.metrics.counter("mesh_expired_total", 1, {});
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
      this.#held.splice(this.#held.indexOf(h), 1);
      track(this.#forward(next, h.frame, h.msgId));
    }
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
    if (code === "undeliverable") this.dropped("no_route", frame.origin, envelope.msg_id);
    if (envelope.type === "ERROR" || frame.origin === agent.fingerprint) return;
    const spec = replySpec("cip", "ERROR", {
      msg_id: newMsgId((n) => crypto.getRandomValues(new Uint8Array(n))),
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
   *
   * @param frame The frame.
   * @param from The neighbour that delivered it, and the channel.
   */
  async relayed(frame: RelayFrame, from: { peer: string; channel: ChannelKind }): Promise<void> {
    const { agent, links, seen, now, windowMs } = this.#ports;
    const self = agent.fingerprint;
    let msgId: string | null = null;
    try {
      msgId = String((JSON.parse(frame.envelope) as { msg_id?: unknown }).msg_id);
    } catch { /* verified below */ }
    if (frame.hops.includes(self)) return this.dropped("loop", frame.origin, msgId, from.peer);
    if (!seen.add(`${frame.origin}/${msgId}`)) {
      return this.dropped("duplicate", frame.origin, msgId, from.peer);
    }
    if (agent.router.trust.peer(frame.origin) === "blacklisted" || links.isBlocked(frame.origin)) {
      return this.dropped("blocked_origin", frame.origin, msgId, from.peer);
    }
    if (frame.destination === self) {
      if (!this.#ports.admitted(frame.origin)) {
        return this.dropped("not_admitted", frame.origin, msgId, from.peer);
      }
      agent.metrics.counter("mesh_delivered_total", 1, {});
      agent.telemetry.emit("mesh.delivered", {
        origin: frame.origin,
        hops: frame.hops.length,
        msg_id: msgId ?? "",
      }, { severity: "debug", peer: from.peer });
      agent.deliverRelayed(_enc.encode(frame.envelope), frame.origin, from);
      return;
    }
    if (frame.hop_limit <= 0) {
      agent.metrics.counter("mesh_hop_expired_total", 1, {});
      agent.telemetry.emit("mesh.hop_expired", {
        origin: frame.origin,
        destination: frame.destination,
        hops: frame.hops.length,
      }, { severity: "warn", peer: from.peer });
      return;
    }
    // Verify before forwarding: a bad inner envelope sanctions the relay that delivered it.
    let envelope: Envelope;
    try {
      envelope = await verifyEnvelope(frame.envelope, {
        expectedSender: frame.origin,
        expectedReceiver: frame.destination,
        now: () => new Date(now()),
        maxSkewMs: windowMs,
      });
    } catch (err) {
      await this.#sanction(from.peer, err, msgId, frame);
      return;
    }
    const next = links.route(frame.destination, frame.hops)?.[0];
    const onward: RelayFrame = {
      ...frame,
      hop_limit: frame.hop_limit - 1,
      hops: [...frame.hops, self],
    };
    if (next === undefined) {
      // Reachable in principle (known, not blocked): held here until a route appears or the
      // window closes; otherwise the origin is told at once.
      if (links.reachable(frame.destination)) this.#hold(onward, envelope);
      else await this.#undeliverable(onward, envelope, "no route");
      return;
    }
    await this.#forward(next, onward, envelope.msg_id);
  }

  async #sanction(
    relay: string,
    err: unknown,
    msgId: string | null,
    frame: RelayFrame,
  ): Promise<void> {
    const { agent } = this.#ports;
    agent.metrics.counter("mesh_dropped_total", 1, { reason: "tampered" });
    const o = agent.cip.verificationFailed(err, agent.router.context(relay), msgId ?? undefined);
    await agent.apply(o, { peer: relay });
    agent.telemetry.emit("mesh.tampered", {
      origin: frame.origin,
      destination: frame.destination,
      error: err instanceof Error ? err.message : String(err),
    }, { severity: "warn", peer: relay });
  }

  /**
   * Counts and reports a dropped frame (`mesh.dropped`).
   *
   * @param reason Why (`loop`, `duplicate`, `blocked_origin`, `not_admitted`, ...).
   * @param origin Its origin or signer, when known.
   * @param msgId The inner envelope's msg_id, when known.
   * @param peer The neighbour that delivered it.
   * @param detail More detail.
   */
  dropped(
    reason: string,
    origin: string | null,
    msgId: string | null,
    peer?: string,
    detail?: string,
  ): void {
    const { agent } = this.#ports;
    agent.metrics.counter("mesh_dropped_total", 1, { reason });
    agent.telemetry.emit("mesh.dropped", {
      reason,
      origin,
      msg_id: msgId,
      ...(detail === undefined ? {} : { detail }),
    }, {
      severity: reason === "duplicate" ? "debug" : "warn",
      ...(peer === undefined ? {} : { peer }),
    });
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
