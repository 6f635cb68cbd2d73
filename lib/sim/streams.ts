/**
 * The workload's numbered application messages and the per-channel
 * invariant: every message delivered exactly once and in order, or its
 * sender told why not (its send was refused, its session ended for good,
 * or the sender itself crashed). A gap inside one session is a loss: RTT
 * resumption is lossless.
 *
 * Wire format of an application frame (claimed before the router, after
 * the agent's inbound shares and its one queue): byte 0 `0xfe`, byte 1 the
 * sender's index, byte 2 the channel (0 state, 1 knowledge), bytes 3-6 the
 * sequence number (u32 LE), then padding.
 *
 * @module
 */

/** The first byte of an application frame (envelopes and mesh frames start with `{`). */
export const APP_MAGIC = 0xfe;

/** The channels application messages use. */
export const APP_CHANNELS = ["state", "knowledge"] as const;

/** A broken per-channel promise. */
export interface StreamViolation {
  /** `lost`, `duplicated` or `reordered`. */
  kind: "lost" | "duplicated" | "reordered";
  /** What, in words. */
  detail: string;
}

interface _Stream {
  next: number;
  last: number;
  /** Messages sent and not yet delivered or excused: seq -> session id at send. */
  outstanding: Map<number, string>;
}

/** Counters of the streams. */
export interface StreamCounts {
  /** Messages the workload sent (send attempted). */
  messages: number;
  /** Delivered exactly once, in order. */
  delivered: number;
  /** Not delivered, the sender told why (refused, session ended, sender crashed). */
  told: number;
  /** Lost without the sender being told. */
  lost: number;
  /** Delivered twice. */
  duplicated: number;
  /** Delivered after a later one. */
  reordered: number;
}

/**
 * Every (sender, receiver, channel) stream of numbered messages.
 *
 * @example
 * ```ts
 * import { Streams } from "@web4/runtime/sim";
 * import assert from "node:assert/strict";
 *
 * const s = new Streams(2);
 * const seq = s.sent(0, 1, 0, "S1");
 * assert.equal(s.received(0, 1, 0, seq, "S1"), undefined);
 * assert.equal(s.received(0, 1, 0, seq, "S1")?.kind, "duplicated");
 * ```
 */
export class Streams {
  readonly #n: number;
  readonly #streams: _Stream[];
  /** The counters so far. */
  readonly counts: StreamCounts = {
    messages: 0,
    delivered: 0,
    told: 0,
    lost: 0,
    duplicated: 0,
    reordered: 0,
  };

  /**
   * Creates it.
   *
   * @param nodes How many nodes.
   */
  constructor(nodes: number) {
    this.#n = nodes;
    this.#streams = Array.from(
      { length: nodes * nodes * APP_CHANNELS.length },
      () => ({ next: 1, last: 0, outstanding: new Map() }),
    );
  }

  #at(from: number, to: number, ch: number): _Stream {
    return this.#streams[(from * this.#n + to) * APP_CHANNELS.length + ch]!;
  }

  /**
   * Numbers a message the sender is about to send on `session`.
   *
   * @returns Its sequence number.
   */
  sent(from: number, to: number, ch: number, session: string): number {
    const s = this.#at(from, to, ch);
    const seq = s.next++;
    s.outstanding.set(seq, session);
    this.counts.messages++;
    return seq;
  }

  /** The sender was told this message will not arrive (its send was refused). */
  refused(from: number, to: number, ch: number, seq: number): void {
    if (this.#at(from, to, ch).outstanding.delete(seq)) this.counts.told++;
  }

  /**
   * The sender's session to `to` ended for good (or the sender crashed,
   * `session` undefined): what it had sent on it and is not delivered is
   * excused.
   */
  sessionEnded(from: number, to: number | undefined, session: string | undefined): void {
    for (let peer = 0; peer < this.#n; peer++) {
      if (to !== undefined && peer !== to) continue;
      for (let ch = 0; ch < APP_CHANNELS.length; ch++) {
        const s = this.#at(from, peer, ch);
        for (const [seq, sid] of s.outstanding) {
          if (session === undefined || sid === session) {
            s.outstanding.delete(seq);
            this.counts.told++;
          }
        }
      }
    }
  }

  /**
   * A message arrived on `session`.
   *
   * @returns The violation it shows, if any.
   */
  received(
    from: number,
    to: number,
    ch: number,
    seq: number,
    session: string,
  ): StreamViolation | undefined {
    const s = this.#at(from, to, ch);
    const name = `${from}>${to} ${APP_CHANNELS[ch]}`;
    if (seq <= s.last) {
      if (s.outstanding.delete(seq)) {
        this.counts.reordered++;
        return { kind: "reordered", detail: `${name} #${seq} after #${s.last}` };
      }
      this.counts.duplicated++;
      return { kind: "duplicated", detail: `${name} #${seq} again (last #${s.last})` };
    }
    let violation: StreamViolation | undefined;
    for (let m = s.last + 1; m < seq; m++) {
      const sid = s.outstanding.get(m);
      if (sid === session) {
        s.outstanding.delete(m);
        this.counts.lost++;
        violation ??= { kind: "lost", detail: `${name} #${m} skipped within session ${sid}` };
      }
    }
    s.outstanding.delete(seq);
    s.last = seq;
    this.counts.delivered++;
    return violation;
  }

  /**
   * The end of a run: whatever is still outstanding was lost untold.
   *
   * @returns The losses.
   */
  finish(): StreamViolation[] {
    const out: StreamViolation[] = [];
    for (let from = 0; from < this.#n; from++) {
      for (let to = 0; to < this.#n; to++) {
        for (let ch = 0; ch < APP_CHANNELS.length; ch++) {
          const s = this.#at(from, to, ch);
          for (const [seq, sid] of s.outstanding) {
            this.counts.lost++;
            out.push({
              kind: "lost",
              detail: `${from}>${to} ${APP_CHANNELS[ch]} #${seq} (session ${sid}) never delivered`,
            });
          }
          s.outstanding.clear();
        }
      }
    }
    return out;
  }

  /** Messages in flight (sent, not delivered, not excused). */
  get inFlight(): number {
    let n = 0;
    for (const s of this.#streams) n += s.outstanding.size;
    return n;
  }
}

/**
 * Encodes an application frame.
 *
 * @param from Sender index.
 * @param ch Channel index.
 * @param seq Sequence number.
 * @param size Total bytes (at least 7).
 * @returns The frame.
 *
 * @example
 * ```ts
 * import { decodeAppFrame, encodeAppFrame } from "@web4/runtime/sim";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeAppFrame(encodeAppFrame(2, 1, 9, 32)), { from: 2, ch: 1, seq: 9 });
 * ```
 */
export function encodeAppFrame(from: number, ch: number, seq: number, size: number): Uint8Array {
  const b = new Uint8Array(Math.max(7, size));
  b[0] = APP_MAGIC;
  b[1] = from;
  b[2] = ch;
  new DataView(b.buffer).setUint32(3, seq, true);
  return b;
}

/**
 * Decodes an application frame.
 *
 * @param b The bytes.
 * @returns Sender, channel and sequence, or `undefined` when it is not one.
 */
export function decodeAppFrame(
  b: Uint8Array,
): { from: number; ch: number; seq: number } | undefined {
  if (b.length < 7 || b[0] !== APP_MAGIC) return undefined;
  return { from: b[1]!, ch: b[2]!, seq: new DataView(b.buffer, b.byteOffset).getUint32(3, true) };
}
