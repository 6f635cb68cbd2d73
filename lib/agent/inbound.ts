/**
 * The agent's inbound byte shares: what each peer may have read from its
 * sessions and not yet done with (queued for the loop, being dispatched,
 * or waiting for its replies to leave), bounded by the peer's budget
 * level, and what all peers together may hold, with a reserve for the
 * `trusted` level (the person, anchors, trusted peers).
 *
 * A peer whose share is full is not read: its sessions' read loops wait
 * for room, so its messages stay in the transport, whose receive budget
 * the agent sets from the same share (`TransportSession.setBudget`), and
 * the sender is stopped by credit. Other peers keep being read and
 * served.
 *
 * @module
 */

import type { MetricsRegistry } from "../observability/mod.ts";
import type { ByteLevel } from "../store/mod.ts";
import type { Emit } from "./events.ts";

const MiB = 1024 * 1024;

/**
 * The inbound byte budget (see each field). Every field is bytes; a peer's
 * level is the router's `levelOf` (`trusted`: the person, the agent itself,
 * peers trusted now; `probing`: everyone else).
 */
export interface InboundBudget {
  /**
   * What one `probing` peer may hold read and not yet done with; also its
   * sessions' transport receive budget, and the largest message it may
   * send (a larger one is refused). @default {1048576} (1 MiB)
   */
  probing: number;
  /** The same for a `trusted` peer. @default {8388608} (8 MiB) */
  trusted: number;
  /** What all peers together may hold. @default {67108864} (64 MiB) */
  total: number;
  /**
   * The part of `total` that `probing` peers together may not take, kept
   * for `trusted` ones. @default {33554432} (32 MiB)
   */
  reserved: number;
}

/** The default inbound budget. */
export const DEFAULT_INBOUND_BUDGET: Readonly<InboundBudget> = Object.freeze({
  probing: MiB,
  trusted: 8 * MiB,
  total: 64 * MiB,
  reserved: 32 * MiB,
});

/** What one peer holds of its inbound share. */
export interface InboundUsage {
  /** The peer. */
  peer: string;
  /** Its budget level. */
  level: ByteLevel;
  /** Its share in bytes (its level's budget). */
  share: number;
  /** Bytes read from it and not yet done with (queued, dispatching, or awaiting their replies' send). */
  held: number;
  /** Bytes read from it that wait for room before they are queued (at most one message per channel, plus relayed envelopes). */
  waiting: number;
  /** Whether its sessions' reading is paused (its share, or its level's part of the total, is full). */
  paused: boolean;
  /** Bytes its session holds received and unread in the transport (bounded by its receive budget, the same share). */
  transportHeld: number;
}

/** How a read message fared: admitted (release it once done with), refused as larger than the share, or the agent stopped. */
export type Admission = { release: () => void } | "too_large" | "stopped";

/** What {@linkcode InboundShares} needs from the agent. */
export interface InboundPorts {
  /** A peer's budget level now. */
  levelOf(peer: string): ByteLevel;
  /** Where `inboundPaused` and `inboundRefused` go. */
  readonly emit: Emit;
  /** Gauge `agent_inbound_bytes`, counters `agent_inbound_paused_total`, `agent_inbound_refused_total`. */
  readonly metrics: Pick<MetricsRegistry, "gauge" | "counter">;
}

interface _Waiting {
  size: number;
  settle(admission: Admission): void;
}

class _Ledger {
  held = 0;
  waitingBytes = 0;
  readonly waiting: _Waiting[] = [];
  readonly rooms: (() => void)[] = [];
  paused = false;
  /** Its last session ended: dropped once it holds nothing. */
  gone = false;
  constructor(readonly peer: string, public level: ByteLevel, public share: number) {}
}

/**
 * Checks an inbound budget and fills in the defaults.
 *
 * @param budget The fields given.
 * @returns The budget in force.
 * @throws {RangeError} For a share or total that is not a positive safe
 *   integer, or a `reserved` that is negative or not below `total`.
 *
 * @example
 * ```ts
 * import { inboundBudget } from "./inbound.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(inboundBudget({ probing: 65536 }).trusted, 8 * 1024 * 1024);
 * assert.throws(() => inboundBudget({ probing: 0 }), RangeError);
 * ```
 */
export function inboundBudget(budget: Partial<InboundBudget> = {}): Readonly<InboundBudget> {
  const b = { ...DEFAULT_INBOUND_BUDGET, ...budget };
  for (const name of ["probing", "trusted", "total"] as const) {
    if (!(Number.isSafeInteger(b[name]) && b[name] >= 1)) {
      throw new RangeError(`Expected inbound.${name} to be a positive integer, got ${b[name]}`);
    }
  }
  if (!(Number.isSafeInteger(b.reserved) && b.reserved >= 0 && b.reserved < b.total)) {
    throw new RangeError(
      `Expected inbound.reserved to be an integer from 0 to below inbound.total (${b.total}), got ${b.reserved}`,
    );
  }
  return Object.freeze(b);
}

/**
 * The inbound shares of every peer of one agent.
 *
 * @example
 * ```ts
 * import { InboundShares } from "./inbound.ts";
 * import { MetricsRegistry } from "../observability/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const shares = new InboundShares({ probing: 100 }, {
 *   levelOf: () => "probing",
 *   emit: () => {},
 *   metrics: new MetricsRegistry(),
 * });
 * const first = shares.admit("peer", 60);
 * assert.ok(typeof first === "object" && "release" in first);
 * assert.equal(shares.room("peer"), undefined); // 60 of 100: read on
 * const second = shares.admit("peer", 60); // does not fit: waits for room
 * assert.ok(second instanceof Promise);
 * assert.equal(shares.usage("peer")?.paused, true);
 * assert.equal(shares.admit("peer", 101), "too_large");
 * first.release();
 * const admitted = await second;
 * assert.ok(typeof admitted === "object");
 * assert.equal(shares.usage("peer")?.held, 60);
 * ```
 */
export class InboundShares {
  /** The budget in force. */
  readonly budget: Readonly<InboundBudget>;
  readonly #ports: InboundPorts;
  readonly #ledgers = new Map<string, _Ledger>();
  /** Ledgers with messages waiting or readers waiting for room, in the order they are served. */
  readonly #blocked = new Set<_Ledger>();
  #held = { probing: 0, trusted: 0 };
  #stopped = false;

  /**
   * Creates the shares.
   *
   * @param budget The budget; missing fields take {@linkcode DEFAULT_INBOUND_BUDGET}.
   * @param ports What it needs from the agent.
   * @throws {RangeError} For an invalid budget (see {@linkcode inboundBudget}).
   */
  constructor(budget: Partial<InboundBudget>, ports: InboundPorts) {
    this.budget = inboundBudget(budget);
    this.#ports = ports;
  }

  /**
   * The share of a level.
   *
   * @param level The level.
   * @returns Its bytes.
   */
  shareOf(level: ByteLevel): number {
    return level === "trusted" ? this.budget.trusted : this.budget.probing;
  }

  /**
   * What a peer holds now.
   *
   * @param peer The peer.
   * @returns Its usage, or `undefined` if it never sent anything.
   */
  usage(peer: string): Omit<InboundUsage, "transportHeld"> | undefined {
    const l = this.#ledgers.get(peer);
    if (l === undefined) return undefined;
    return {
      peer,
      level: l.level,
      share: l.share,
      held: l.held,
      waiting: l.waitingBytes,
      paused: l.paused,
    };
  }

  /** Bytes held by every peer together (read and not yet done with). */
  get held(): number {
    return this.#held.probing + this.#held.trusted;
  }

  /**
   * Whether a peer's sessions may read: `undefined` when they may now, else
   * a promise that resolves once they may (or the agent stopped).
   *
   * @param peer The peer.
   * @returns Nothing, or when to read.
   */
  room(peer: string): Promise<void> | undefined {
    const l = this.#ledger(peer);
    if (this.#stopped || this.#hasRoom(l)) {
      l.paused = false;
      return undefined;
    }
    this.#pause(l);
    return new Promise<void>((resolve) => {
      l.rooms.push(resolve);
      this.#blocked.add(l);
    });
  }

  /**
   * Takes a message read from a peer into its share: at once when it fits,
   * else once it does (in order, behind the peer's earlier messages). A
   * message larger than the share is refused (`too_large`: counted and
   * reported as `inboundRefused`).
   *
   * @param peer The peer whose session it was read from.
   * @param size Its bytes.
   * @param session The session, for the report.
   * @returns The admission (or a promise of it).
   */
  admit(peer: string, size: number, session = ""): Admission | Promise<Admission> {
    if (this.#stopped) return "stopped";
    const l = this.#ledger(peer);
    if (size > l.share) {
      this.#ports.metrics.counter("web4_agent_inbound_refused_total", 1, { reason: "too_large" });
      this.#ports.emit("inboundRefused", {
        peer,
        session,
        by: "agent",
        bytes: size,
        share: l.share,
      });
      return "too_large";
    }
    if (l.waiting.length === 0 && this.#fits(l, size)) return this.#take(l, size);
    this.#pause(l);
    l.waitingBytes += size;
    this.#blocked.add(l);
    return new Promise<Admission>((settle) => l.waiting.push({ size, settle }));
  }

  /**
   * Counts a message the transport refused (the session closed with
   * `message_too_large`) and reports it as `inboundRefused`.
   *
   * @param peer The peer.
   * @param session Its session.
   */
  refusedByTransport(peer: string, session: string): void {
    const share = this.#ledgers.get(peer)?.share ?? this.shareOf(this.#ports.levelOf(peer));
    this.#ports.metrics.counter("web4_agent_inbound_refused_total", 1, {
      reason: "message_too_large",
    });
    this.#ports.emit("inboundRefused", { peer, session, by: "transport", bytes: undefined, share });
  }

  /**
   * Re-reads a peer's level (after a trust change): a promotion raises its
   * share at once, a demotion lowers it without dropping what it holds
   * (reading waits until it is under the new share).
   *
   * @param peer The peer.
   * @returns Its level and share now.
   */
  retune(peer: string): { level: ByteLevel; share: number } {
    const level = this.#ports.levelOf(peer);
    const l = this.#ledgers.get(peer);
    if (l !== undefined && l.level !== level) {
      this.#held[l.level] -= l.held;
      this.#held[level] += l.held;
      l.level = level;
      l.share = this.shareOf(level);
      this.#serve();
    }
    return { level, share: this.shareOf(level) };
  }

  /**
   * Forgets a peer whose last session ended, once it holds nothing (at
   * once, or when its last message is released), so throw-away keys leave
   * nothing behind.
   *
   * @param peer The peer.
   */
  forget(peer: string): void {
    const l = this.#ledgers.get(peer);
    if (l === undefined) return;
    l.gone = true;
    this.#drop(l);
  }

  #drop(l: _Ledger): void {
    if (l.gone && l.held === 0 && l.waiting.length === 0 && l.rooms.length === 0) {
      if (this.#ledgers.get(l.peer) === l) this.#ledgers.delete(l.peer);
      this.#blocked.delete(l);
    }
  }

  /** The agent stops: every waiting reader and message is let go (`stopped`). */
  stop(): void {
    this.#stopped = true;
    for (const l of this.#ledgers.values()) {
      for (const w of l.waiting.splice(0)) w.settle("stopped");
      l.waitingBytes = 0;
      for (const wake of l.rooms.splice(0)) wake();
    }
    this.#blocked.clear();
  }

  #ledger(peer: string): _Ledger {
    let l = this.#ledgers.get(peer);
    if (l !== undefined) l.gone = false;
    else {
      const level = this.#ports.levelOf(peer);
      l = new _Ledger(peer, level, this.shareOf(level));
      this.#ledgers.set(peer, l);
    }
    return l;
  }

  /** Whether the peer, and its level's part of the total, can take `size` more bytes. */
  #fits(l: _Ledger, size: number): boolean {
    // A peer holding nothing always gets one message within its share: what
    // it waits on is then the total, which other peers' releases free.
    if (l.held > 0 && l.held + size > l.share) return false;
    const { total, reserved } = this.budget;
    const all = this.held;
    if (all > 0 && all + size > total) return false;
    return l.level === "trusted" || this.#held.probing === 0 ||
      this.#held.probing + size <= total - reserved;
  }

  #hasRoom(l: _Ledger): boolean {
    if (l.waiting.length > 0 || l.held >= l.share) return false;
    const { total, reserved } = this.budget;
    if (this.held >= total) return false;
    return l.level === "trusted" || this.#held.probing < total - reserved;
  }

  #take(l: _Ledger, size: number): Admission {
    l.held += size;
    this.#held[l.level] += size;
    this.#gauge();
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        l.held -= size;
        this.#held[l.level] -= size;
        this.#gauge();
        this.#serve();
        if (l.paused && this.#hasRoom(l)) l.paused = false;
        this.#drop(l);
      },
    };
  }

  #pause(l: _Ledger): void {
    if (l.paused) return;
    l.paused = true;
    this.#ports.metrics.counter("web4_agent_inbound_paused_total", 1, { level: l.level });
    this.#ports.emit("inboundPaused", {
      peer: l.peer,
      level: l.level,
      share: l.share,
      held: l.held,
    });
  }

  /** Admits waiting messages that fit now and wakes readers that have room, peer by peer in turn. */
  #serve(): void {
    if (this.#stopped) return;
    for (const l of [...this.#blocked]) {
      while (l.waiting.length > 0 && this.#fits(l, l.waiting[0]!.size)) {
        const w = l.waiting.shift()!;
        l.waitingBytes -= w.size;
        w.settle(this.#take(l, w.size));
      }
      if (this.#hasRoom(l)) {
        l.paused = false;
        for (const wake of l.rooms.splice(0)) wake();
      }
      this.#blocked.delete(l);
      // Served peers go to the back of the line; a peer still blocked stays in it.
      if (l.waiting.length > 0 || l.rooms.length > 0) this.#blocked.add(l);
    }
  }

  #gauge(): void {
    this.#ports.metrics.gauge("web4_agent_inbound_held_bytes", this.held, {});
  }
}
