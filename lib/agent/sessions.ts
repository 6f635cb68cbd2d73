/**
 * The agent's sessions: accepting and dialling transport sessions, one
 * {@linkcode SessionLink} per peer (the tie-break when both ends dial at
 * once), the names peers go by, and what the agent knows of each peer.
 * Every session gets its transport budget from its peer's inbound share
 * as soon as it is adopted (and again when the peer's trust moves): the
 * receive budget, and protection from eviction for a `trusted` peer's.
 *
 * @module
 */

import type { StampingTelemetry } from "../observability/mod.ts";
import type { Store } from "../store/mod.ts";
import type {
  Transport,
  TransportAddress,
  TransportEvent,
  TransportSession,
  TransportSessionBudget,
} from "../transport/mod.ts";
import type { TrustView } from "../trust/mod.ts";
import type { Emit } from "./events.ts";
import { type ChannelKind, SessionLink } from "./link.ts";
import type { Clock } from "../ports/mod.ts";

/** How many peers' agent ids the sessions remember (the most recently named). */
export const NAMES_KEPT = 4096;

/** What the agent knows of a connected peer. */
export interface PeerInfo {
  /** The peer's fingerprint. */
  fingerprint: string;
  /** Its agent id (from its envelopes; `"peer"` until one arrived). */
  agentId: string;
  /** Its CIP trust as we see it. */
  trust: string;
  /** Whether the CIP handshake completed. */
  verified: boolean;
  /** Whether this is our enrolled person. */
  person: boolean;
  /** The id of the session that carries it (the same on both ends). */
  session: string;
  /** The fingerprint that dialled that session. */
  dialer: string;
}

/**
 * The one-session-per-pair rule: when a second session with the same peer
 * opens while the first is still open, both ends keep the one dialled by
 * the lower fingerprint (lexicographic), so they agree without talking.
 * When both were dialled by the same side, the fresh one replaces the old.
 *
 * @param self This agent's fingerprint.
 * @param peer The peer's fingerprint.
 * @param current Who dialled the session already held.
 * @param fresh Who dialled the session that just opened.
 * @returns Which session survives.
 *
 * @example
 * ```ts
 * import { keepSession } from "./sessions.ts";
 * import assert from "node:assert/strict";
 *
 * // "a" < "b": a's dial survives on both ends.
 * assert.equal(keepSession("a", "b", { dialer: "b" }, { dialer: "a" }), "fresh");
 * assert.equal(keepSession("b", "a", { dialer: "a" }, { dialer: "b" }), "current");
 * ```
 */
export function keepSession(
  self: string,
  peer: string,
  current: { readonly dialer: string },
  fresh: { readonly dialer: string },
): "current" | "fresh" {
  const lower = self < peer ? self : peer;
  if (current.dialer === lower && fresh.dialer !== lower) return "current";
  return "fresh";
}

/** What {@linkcode Sessions} needs from the agent. */
export interface SessionsPorts {
  /** This agent's fingerprint. */
  readonly self: string;
  /** The agent's clock. */
  readonly clock: Clock;
  /** The enrolled person, if any. */
  readonly person: string | undefined;
  /** The transport. */
  readonly transport: Transport;
  /** Where session events go (`peerUp`, `peerDown`, `sessionDuplicate`, `transport`). */
  readonly emit: Emit;
  /** Where ack-latency samples go. */
  readonly telemetry: StampingTelemetry;
  /** Handshake stages (a peer is `verified` once its handshake is). */
  readonly store: Pick<Store, "handshake">;
  /** Trust as the agent sees it. */
  readonly trust: Pick<TrustView, "peer">;
  /** Aborted when the agent stops: ends the accept loop. */
  readonly signal: AbortSignal;
  /**
   * One inbound message of a session (in arrival order per channel); a
   * promise holds that channel's reading until it settles.
   */
  message(bytes: Uint8Array, link: SessionLink, channel: ChannelKind): void | Promise<void>;
  /** Before each read of a peer's sessions: `undefined`, or when to read (its share is full). */
  room(peer: string): Promise<void> | undefined;
  /** The transport budget of a peer's sessions (from its share and level). */
  budget(peer: string): TransportSessionBudget;
  /** A session closed because a message was larger than its receive budget. */
  tooLarge(peer: string, session: string): void;
  /** A peer's last session ended. */
  gone(peer: string): void;
  /** Tracks background work the agent waits for when it stops. */
  track(work: Promise<unknown>): void;
}

/**
 * The sessions of one agent, at most one per peer.
 *
 * @example
 * ```ts ignore
 * const sessions = new Sessions(ports);
 * await sessions.listen({ hostname: "127.0.0.1", port: 0 });
 * await sessions.dial({ hostname: "127.0.0.1", port, fingerprint: peer });
 * sessions.link(peer)?.send("state", bytes);
 * ```
 */
export class Sessions {
  readonly #ports: SessionsPorts;
  readonly #links = new Map<string, SessionLink>();
  readonly #all = new Set<SessionLink>();
  readonly #names = new Map<string, string>();
  #accepting: Promise<void> | undefined;

  /**
   * Creates the room.
   *
   * @param ports What it needs from the agent.
   */
  constructor(ports: SessionsPorts) {
    this.#ports = ports;
  }

  /**
   * Listens and accepts sessions in the background (once).
   *
   * @param address Where to listen.
   * @returns The bound address.
   */
  async listen(address: TransportAddress): Promise<TransportAddress> {
    const bound = await this.#ports.transport.listen(address);
    this.#accepting ??= this.#acceptLoop();
    return bound;
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#ports.signal.aborted) {
      let session: TransportSession;
      try {
        session = await this.#ports.transport.accept({ signal: this.#ports.signal });
      } catch {
        return;
      }
      this.#ports.track(this.adopt(session, session.peerFingerprint).catch(() => {}));
    }
  }

  /**
   * Dials a peer (the session is pinned to its fingerprint) and adopts the session.
   *
   * @param options Address, fingerprint, a signal.
   */
  async dial(
    options: TransportAddress & { fingerprint: string; signal?: AbortSignal | undefined },
  ): Promise<void> {
    const session = await this.#ports.transport.connect({
      hostname: options.hostname,
      port: options.port,
      fingerprint: options.fingerprint,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    await this.adopt(session, this.#ports.self);
  }

  /**
   * Opens a session's channels and makes it the peer's link, unless a
   * session with that peer is already open and survives the tie-break
   * ({@linkcode keepSession}); the loser closes (`sessionDuplicate`).
   *
   * @param session The transport session.
   * @param dialer Who dialled it.
   */
  async adopt(session: TransportSession, dialer: string): Promise<void> {
    const p = this.#ports;
    // Before any channel opens: credit granted before the budget is not taken back.
    session.setBudget(p.budget(session.peerFingerprint));
    const link = await SessionLink.open(
      session,
      dialer,
      {
        message: (bytes, l, channel) => p.message(bytes, l, channel),
        ended: (l) => this.#ended(l),
        room: (l) => p.room(l.peer),
      },
      p.telemetry,
      p.clock,
    );
    this.#all.add(link);
    const peer = session.peerFingerprint;
    const current = this.#links.get(peer);
    if (current !== undefined && current.open && current.session.id !== session.id) {
      const [keep, drop] = keepSession(p.self, peer, current, link) === "current"
        ? [current, link]
        : [link, current];
      this.#links.set(peer, keep);
      p.emit("sessionDuplicate", { peer, kept: keep.session.id, closed: drop.session.id });
      p.track(drop.close());
      if (keep === link) this.#up(link, "duplicate");
      return;
    }
    this.#links.set(peer, link);
    this.#up(link, "new");
  }

  #up(link: SessionLink, via: "new" | "duplicate" | "resumed"): void {
    const peer = link.peer;
    this.#ports.emit("peerUp", {
      peer,
      session: link.session.id,
      dialer: link.dialer,
      person: peer === this.#ports.person,
      via,
    });
  }

  #ended(link: SessionLink): void {
    this.#all.delete(link);
    if (this.#links.get(link.peer) !== link) return;
    this.#links.delete(link.peer);
    this.#ports.gone(link.peer);
    this.#ports.emit("peerDown", {
      peer: link.peer,
      session: link.session.id,
      reason: link.session.closeReason ?? "closed",
      final: true,
    });
  }

  /**
   * One transport event: passed on (`transport`); a lost or resumed
   * connection of a peer's current session is `peerDown` or `peerUp`.
   *
   * @param e The event.
   */
  observe(e: TransportEvent): void {
    this.#ports.emit("transport", e);
    if (e.type === "session_close" && e.reason === "message_too_large") {
      this.#ports.tooLarge(e.peerFingerprint, e.sessionId);
    }
    if (e.type === "connection_lost" || (e.type === "session_open" && e.resumed === true)) {
      const link = this.#links.get(e.peerFingerprint);
      if (link === undefined || link.session.id !== e.sessionId) return;
      if (e.type === "session_open") return this.#up(link, "resumed");
      this.#ports.emit("peerDown", {
        peer: link.peer,
        session: e.sessionId,
        reason: e.reason ?? "lost",
        final: false,
      });
    }
  }

  /**
   * Applies a peer's budget (after its trust moved) to every session with it.
   *
   * @param fp The peer.
   */
  rebudget(fp: string): void {
    const budget = this.#ports.budget(fp);
    for (const link of this.#all) if (link.peer === fp) link.session.setBudget(budget);
  }

  /**
   * The link that carries a peer, if any (open or not).
   *
   * @param fp The peer.
   * @returns Its link.
   */
  link(fp: string): SessionLink | undefined {
    return this.#links.get(fp);
  }

  /**
   * Whether a peer's link is open (it may be resuming a lost connection).
   *
   * @param fp The peer.
   * @returns Whether it is open.
   */
  isOpen(fp: string): boolean {
    return this.#links.get(fp)?.open === true;
  }

  /**
   * Whether a connection carries the peer's link right now.
   *
   * @param fp The peer.
   * @returns Whether it is live.
   */
  isLive(fp: string): boolean {
    const link = this.#links.get(fp);
    return link !== undefined && link.open && link.session.state === "open";
  }

  /**
   * Remembers the agent id a peer goes by.
   *
   * @param fp The peer.
   * @param agentId Its agent id.
   */
  name(fp: string, agentId: string): void {
    if (this.#names.get(fp) === agentId) return;
    this.#names.delete(fp);
    this.#names.set(fp, agentId);
    // Bounded: throw-away keys cannot grow it; the oldest name goes first.
    if (this.#names.size > NAMES_KEPT) this.#names.delete(this.#names.keys().next().value!);
  }

  /**
   * The receiver block of an envelope to a peer.
   *
   * @param fp The peer.
   * @param unknown The agent id until the peer's is known. @default {"peer"}
   * @returns Its agent id and fingerprint.
   */
  receiver(fp: string, unknown = "peer"): { agent_id: string; fingerprint: string } {
    return { agent_id: this.#names.get(fp) ?? unknown, fingerprint: fp };
  }

  /**
   * One peer as the agent sees it.
   *
   * @param fp The peer.
   * @returns Its info, or `undefined` without a link.
   */
  peer(fp: string): PeerInfo | undefined {
    const link = this.#links.get(fp);
    if (link === undefined) return undefined;
    return {
      fingerprint: fp,
      agentId: this.#names.get(fp) ?? "peer",
      trust: this.#ports.trust.peer(fp),
      verified: this.#ports.store.handshake(fp)?.stage === "verified",
      person: fp === this.#ports.person,
      session: link.session.id,
      dialer: link.dialer,
    };
  }

  /**
   * The peers with a link.
   *
   * @returns What the agent knows of each.
   */
  peers(): PeerInfo[] {
    return [...this.#links.keys()].map((fp) => this.peer(fp)!);
  }

  /**
   * The verified agents among the linked peers (the person excluded).
   *
   * @returns Their fingerprints.
   */
  agentPeers(): string[] {
    return [...this.#links.keys()].filter((fp) =>
      fp !== this.#ports.person && this.#ports.store.handshake(fp)?.stage === "verified"
    );
  }

  /** Sessions open or closing, duplicates included. */
  get size(): number {
    return this.#all.size;
  }

  /**
   * Closes every session and waits for the read loops and the accept loop.
   *
   * @param flushDeadlineMs How long queued messages may take.
   */
  async close(flushDeadlineMs: number): Promise<void> {
    await Promise.allSettled([...this.#all].map((l) => l.close(flushDeadlineMs)));
  }

  /** Resolves once the accept loop ended (after the transport shut down). */
  async accepted(): Promise<void> {
    await this.#accepting;
  }
}
