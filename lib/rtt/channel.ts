/**
 * `RttChannel`: one logical channel of an RTT session.
 *
 * @module
 */

import { Status } from "./ffi.ts";
import type { NodeCore } from "./core.ts";
import { byteLengthOf, readNativeJson } from "./args.ts";
import type { NativeEvent } from "./events.ts";
import { ChannelInbox } from "./inbox.ts";
import { errorFromStatus } from "./errors.ts";
import {
  RTTBackpressureError,
  RTTDisconnectedError,
  RTTTransportError,
} from "../transport/errors.ts";
import { emptyStats, toStats, type TransportStats as RttStats } from "../transport/stats.ts";
import type {
  TransportChannel,
  TransportChannelOptions,
  TransportReceiveOptions,
} from "../transport/types.ts";

/** Options of `session.openChannel` (the contract's {@linkcode TransportChannelOptions}). */
export type RttChannelOptions = TransportChannelOptions;

/** Options of {@linkcode RttChannel.receive}. */
export type ReceiveOptions = TransportReceiveOptions;

/** What a channel needs to know about its session. Internal. */
export interface SessionLink {
  /** The node core. */
  readonly core: NodeCore;
  /** The session handle. */
  readonly handle: bigint;
  /** The peer's fingerprint. */
  readonly peer: string;
  /**
   * The node that owns the session, held strongly so that a node whose
   * sessions or channels are still referenced is never collected (its
   * FinalizationRegistry entry would free the native node under them).
   */
  readonly owner: object;
  /** `undefined` while the session is usable, else its close reason. */
  closedReason(): string | undefined;
  /** Whether the native handle was released (no more native calls). */
  released(): boolean;
}

/** An iterator result of the end of a channel (shared: it is never mutated by the protocol). */
const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/** What a waiter settles with: a message or `null` (`receive()`), or an iterator result. */
type Settled = Uint8Array<ArrayBuffer> | null | IteratorResult<Uint8Array<ArrayBuffer>>;

/** One async iterator's state: whether it ended (a `null`, an error, or `return()`). */
interface IterState {
  ended: boolean;
}

/**
 * A `receive()` (or an iterator's `next()`) waiting for a message. It holds
 * the node's keep-alive (`acquire`) until it is settled or aborted. An
 * iterator's waiter settles with the iterator result itself, so a `for
 * await` costs one promise per message, not two.
 */
class Waiter {
  resolve!: (value: Settled) => void;
  reject!: (error: unknown) => void;
  readonly promise: Promise<Settled>;
  /** The caller's signal and its listener, when one was given. */
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  /** Whether this waiter took a hold (released once, when it is detached). */
  held: boolean;
  /** The iterator this waiter serves (`undefined`: a plain `receive()`). */
  readonly iter: IterState | undefined;

  constructor(core: NodeCore, iter: IterState | undefined) {
    this.promise = new Promise<Settled>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.held = core.acquire();
    this.iter = iter;
  }

  /** Detaches from the signal and releases the hold (before settling). */
  detach(core: NodeCore): void {
    if (this.onAbort !== undefined) this.signal?.removeEventListener("abort", this.onAbort);
    if (this.held) {
      this.held = false;
      core.releaseHold();
    }
  }

  /** Settles with a message, or the end (`null`). */
  settle(msg: Uint8Array<ArrayBuffer> | null): void {
    const iter = this.iter;
    if (iter === undefined) {
      this.resolve(msg);
    } else if (msg === null || iter.ended) {
      iter.ended = true;
      this.resolve(DONE);
    } else {
      this.resolve({ done: false, value: msg });
    }
  }

  /** Rejects (an iterator ends with it). */
  fail(error: unknown): void {
    if (this.iter !== undefined) this.iter.ended = true;
    this.reject(error);
  }
}

/** What `send` returns once queued: one settled promise, shared (nothing to allocate). */
const QUEUED: Promise<void> = Promise.resolve();

/** Statuses whose typed error already says everything the native text would. */
const _SELF_EXPLAINING: ReadonlySet<number> = new Set([
  Status.CHANNEL_CLOSED,
  Status.SESSION_CLOSED,
  Status.UNKNOWN_HANDLE,
  Status.SHUT_DOWN,
  Status.QUEUE_FULL,
  Status.BLOCK_TIMEOUT,
]);

let _create: (link: SessionLink, id: number, kind: string, blockTimeoutMs: number) => RttChannel;
let _event: (channel: RttChannel, event: NativeEvent) => void;
let _channelEvent: (channel: RttChannel, writable: boolean) => void;
let _sessionClosed: (channel: RttChannel) => void;

/**
 * Internal constructor and event entry points, for `session.ts`.
 *
 * @returns The functions.
 */
export function channelInternals(): {
  create: typeof _create;
  event: typeof _event;
  channelEvent: typeof _channelEvent;
  sessionClosed: typeof _sessionClosed;
} {
  // One object (this runs for every READABLE event).
  return _internals ??= {
    create: _create,
    event: _event,
    channelEvent: _channelEvent,
    sessionClosed: _sessionClosed,
  };
}

let _internals: ReturnType<typeof channelInternals> | undefined;

/**
 * One logical channel of a session: ordered, flow-controlled messages in
 * both directions. Made by `session.openChannel(kind)`; both sides opening
 * the same kind hold the same channel.
 *
 * @example One message each way
 * ```ts
 * import { Identity } from "../identity/mod.ts";
 * import { memory, MemoryNetwork } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const network = new MemoryNetwork();
 * const [ia, ib] = await Promise.all([Identity.generate(), Identity.generate()]);
 * await using a = await memory({ network })({ identity: ia });
 * await using b = await memory({ network })({ identity: ib });
 * const { port } = await a.listen({ hostname: "a", port: 0 });
 * const [session, peer] = await Promise.all([
 *   b.connect({ hostname: "a", port, fingerprint: ia.fingerprint }),
 *   a.accept(),
 * ]);
 * const ch = await session.openChannel("state");
 * const other = await peer.openChannel("state");
 * await ch.send(new TextEncoder().encode("hello"));
 * assert.equal(new TextDecoder().decode((await other.receive())!), "hello");
 * await other.close();
 * assert.equal(await ch.receive(), null); // null once the peer closed its side
 * ```
 */
export class RttChannel implements TransportChannel, AsyncIterable<Uint8Array<ArrayBuffer>> {
  /** The channel kind (`control`, `state`, `knowledge` or a custom name). */
  readonly kind: string;
  #link: SessionLink;
  #id: number;
  #blockTimeoutMs: number;
  /** The receive side: messages read ahead from the library. */
  #in: ChannelInbox;
  #waiters: Waiter[] = [];
  #localClosed = false;
  /** Settles after the last send that had to wait (a blocked one, or one queued behind it); read only while `#waiting > 0`. */
  #blockedTail: Promise<void> | undefined;
  /**
   * Sends that had to wait and have not settled yet. The gate for queueing
   * behind them: it drops before a waiting send's promise settles, so the
   * caller's next send goes straight to the library once none waits (a
   * settled tail read as "still blocked" kept every later send on the
   * slow path: a copy and a promise chain per message).
   */
  #waiting = 0;
  #lastStats: RttStats | undefined;
  #roomWaiters: (() => void)[] = [];

  static {
    _create = (link, id, kind, blockTimeoutMs) => new RttChannel(link, id, kind, blockTimeoutMs);
    _event = (channel, event) => channel.#onEvent(event);
    _channelEvent = (channel, writable) => {
      if (writable) {
        channel.#wakeSenders();
      } else {
        channel.#in.readable();
        channel.#serve();
      }
    };
    _sessionClosed = (channel) => channel.#onSessionClosed();
  }

  private constructor(link: SessionLink, id: number, kind: string, blockTimeoutMs: number) {
    this.#link = link;
    this.#id = id;
    this.kind = kind;
    this.#blockTimeoutMs = blockTimeoutMs;
    this.#in = new ChannelInbox(link, id, (status, op, n) => this.#error(status, op, n));
  }

  /** The channel id within its session (native, for diagnostics). */
  get id(): number {
    return this.#id;
  }

  /** Whether `close()` was called on this side. */
  get closed(): boolean {
    return this.#localClosed;
  }

  /**
   * Queues a message. Resolves once it is in the send queue; what a full
   * queue does depends on the channel's policy: `block` waits for room (up
   * to `blockTimeoutMs`), `error` rejects, the `drop_*` policies resolve and
   * count the drop. Messages of one channel arrive in the order their
   * `send` calls were made.
   *
   * @param data The message (copied; the buffer may be reused once this resolves).
   * @returns Resolves when queued.
   * @throws {TypeError} When `data` is not a `Uint8Array`.
   * @throws {RTTTransportError} `MESSAGE_TOO_LARGE` above `maxMessageBytes`.
   * @throws {RTTBackpressureError} `QUEUE_FULL` (policy `error`), `BLOCK_TIMEOUT` (policy `block`).
   * @throws {RTTDisconnectedError} `CHANNEL_CLOSED`/`SESSION_CLOSED`/`RESUME_TIMEOUT`
   * when the channel or session is closed (`undelivered` 1: this message).
   */
  send(data: Uint8Array): Promise<void> {
    try {
      this.#checkSendable(data);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#waiting > 0) {
      // A blocked send is in flight: keep the order by queueing behind it.
      const copy = data.slice();
      return this.#chain(this.#blockedTail!.then(() => this.#sendNow(copy, true)));
    }
    const status = this.#trySend(data);
    if (status === Status.OK) return QUEUED;
    if (status !== Status.WOULD_BLOCK) return Promise.reject(this.#error(status, "send on", 1));
    return this.#chain(this.#sendBlocking(data.slice()));
  }

  #chain(p: Promise<void>): Promise<void> {
    this.#waiting++;
    const settled = p.finally(() => this.#waiting--);
    // Read only while a send waits (`#waiting > 0`): a settled tail is left in place.
    this.#blockedTail = settled.then(() => {}, () => {});
    return settled;
  }

  #checkSendable(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`Channel "${this.kind}" can only send a Uint8Array, got ${typeof data}`);
    }
    if (this.#localClosed) throw this.#error(Status.CHANNEL_CLOSED, "send on", 1);
    if (this.#link.closedReason() !== undefined) {
      throw this.#error(Status.SESSION_CLOSED, "send on", 1);
    }
    const max = this.#link.core.options.maxMessageBytes;
    const length = byteLengthOf(data);
    if (length > max) {
      throw new RTTTransportError(
        "MESSAGE_TOO_LARGE",
        `Message of ${length} bytes is larger than maxMessageBytes (${max}) on channel "${this.kind}" of the session with peer ${this.#link.peer}`,
        { peer: this.#link.peer, channel: this.kind },
      );
    }
  }

  #trySend(data: Uint8Array, retry = false): number {
    if (this.#link.released()) return Status.SESSION_CLOSED;
    // FFI buffers must be backed by a plain ArrayBuffer (not a SharedArrayBuffer).
    const bytes = data.buffer instanceof ArrayBuffer
      ? data as Uint8Array<ArrayBuffer>
      : data.slice();
    // The length comes from the intrinsic getter, never from a property the
    // caller could have redefined (it bounds what the library reads).
    const { core, handle } = this.#link;
    const status =
      (retry ? core.symbols.web4_rtt_channel_retry_send : core.symbols.web4_rtt_channel_send)(
        core.handle,
        handle,
        this.#id,
        bytes,
        0,
        byteLengthOf(bytes),
      );
    // `channel_send` returns the status bits (>= 0) on success.
    if (status >= 0) {
      core.schedulePump(retry ? -1 : status);
      return Status.OK;
    }
    return status;
  }

  async #sendNow(data: Uint8Array<ArrayBuffer>, recheck: boolean): Promise<void> {
    if (recheck) this.#checkSendable(data);
    const status = this.#trySend(data);
    if (status === Status.OK) return;
    if (status !== Status.WOULD_BLOCK) throw this.#error(status, "send on", 1);
    await this.#sendBlocking(data);
  }

  /** Policy `block`: waits for room (WRITABLE) and retries, up to the block timeout. */
  async #sendBlocking(data: Uint8Array<ArrayBuffer>): Promise<void> {
    const release = this.#link.core.hold();
    const clock = this.#link.core.clock;
    const deadline = clock.monotonic() + this.#blockTimeoutMs;
    try {
      for (;;) {
        const left = deadline - clock.monotonic();
        if (left <= 0) break;
        const woke = await new Promise<boolean>((resolve) => {
          const timer = clock.setTimeout(() => {
            const i = this.#roomWaiters.indexOf(wake);
            if (i >= 0) this.#roomWaiters.splice(i, 1);
            resolve(false);
          }, Math.ceil(left));
          const wake = () => {
            clock.clear(timer);
            resolve(true);
          };
          this.#roomWaiters.push(wake);
        });
        if (this.#link.closedReason() !== undefined || this.#link.released()) {
          throw this.#error(Status.SESSION_CLOSED, "send on", 1);
        }
        const status = this.#trySend(data, true);
        if (status === Status.OK) return;
        if (status !== Status.WOULD_BLOCK) throw this.#error(status, "send on", 1);
        if (!woke) break;
      }
      const { core, handle } = this.#link;
      if (!this.#link.released()) {
        core.symbols.web4_rtt_channel_block_timeout(core.handle, handle, this.#id);
      }
      throw new RTTBackpressureError(
        "BLOCK_TIMEOUT",
        `Send queue of channel "${this.kind}" of the session with peer ${this.#link.peer} stayed full for ${this.#blockTimeoutMs} ms (policy "block")`,
        { peer: this.#link.peer, channel: this.kind },
      );
    } finally {
      release();
    }
  }

  /**
   * Resolves when every message sent so far is acknowledged by the peer.
   *
   * @returns Resolves when flushed.
   * @throws {RTTDisconnectedError} When the session ends first; `undelivered`
   * counts the messages that will not arrive.
   */
  async flush(): Promise<void> {
    if (this.#waiting > 0) await this.#blockedTail;
    if (this.#link.closedReason() !== undefined || this.#link.released()) {
      throw this.#error(Status.SESSION_CLOSED, "flush", 0);
    }
    const { core, handle } = this.#link;
    const op = core.symbols.web4_rtt_channel_flush(core.handle, handle, this.#id);
    if (op <= 0) throw this.#error(op, "flush", 0);
    const done = core.ops.wait(`flush:${op}`, handle);
    core.pump();
    const event = await done;
    if (event.type === "flush_failed") {
      const reason = this.#link.closedReason() ?? event.reason;
      throw new RTTDisconnectedError(
        reason === "resume_timeout" ? "RESUME_TIMEOUT" : "SESSION_CLOSED",
        `Flush of channel "${this.kind}" of the session with peer ${this.#link.peer} failed: ` +
          `${event.undelivered} message(s) undelivered (${reason})`,
        {
          peer: this.#link.peer,
          channel: this.kind,
          undelivered: event.undelivered,
          reason,
        },
      );
    }
  }

  /**
   * The next message, or `null` once the peer closed the channel (or the
   * session closed cleanly) and everything was read. Pulls from the library
   * only as the application reads, so the peer's credit (and memory) stays
   * bounded.
   *
   * @param options `signal` aborts the wait.
   * @returns The message or `null`.
   * @throws {RTTDisconnectedError} When the session ended abnormally
   * (`RESUME_TIMEOUT`, `SESSION_CLOSED` with another reason than a clean close).
   */
  receive(options: ReceiveOptions = {}): Promise<Uint8Array<ArrayBuffer> | null> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#waiters.length === 0) {
      try {
        const msg = this.#in.next();
        if (msg !== undefined) return Promise.resolve(msg);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const waiter = new Waiter(this.#link.core, undefined);
    if (signal !== undefined) {
      waiter.signal = signal;
      waiter.onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        waiter.detach(this.#link.core);
        waiter.reject(signal.reason);
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
    }
    this.#waiters.push(waiter);
    return waiter.promise as Promise<Uint8Array<ArrayBuffer> | null>;
  }

  /**
   * Iterates over received messages until the channel ends (`receive()`
   * returning `null`).
   *
   * @returns An async iterator of messages.
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>> {
    // A plain iterator (no async generator), whose waiting `next()` is
    // settled with its result directly: one promise per message.
    const state: IterState = { ended: false };
    return {
      next: () => this.#next(state),
      return: () => {
        state.ended = true;
        return Promise.resolve(DONE);
      },
    };
  }

  /** An iterator's `next()`: `receive()` settling with the iterator result. */
  #next(state: IterState): Promise<IteratorResult<Uint8Array<ArrayBuffer>>> {
    if (state.ended) return Promise.resolve(DONE);
    if (this.#waiters.length === 0) {
      try {
        const msg = this.#in.next();
        if (msg === null) state.ended = true;
        if (msg !== undefined) {
          return Promise.resolve(msg === null ? DONE : { done: false, value: msg });
        }
      } catch (error) {
        state.ended = true;
        return Promise.reject(error);
      }
    }
    const waiter = new Waiter(this.#link.core, state);
    this.#waiters.push(waiter);
    return waiter.promise as Promise<IteratorResult<Uint8Array<ArrayBuffer>>>;
  }

  /**
   * Half-closes our side: what is queued is still delivered, then the
   * peer's `receive()` returns `null`. Receiving continues until the peer
   * closes its side. Safe to call twice.
   *
   * @returns Resolves when the close is queued.
   */
  close(): Promise<void> {
    if (this.#localClosed) return Promise.resolve();
    this.#localClosed = true;
    if (this.#link.released() || this.#link.closedReason() !== undefined) return Promise.resolve();
    const { core, handle } = this.#link;
    const status = core.symbols.web4_rtt_channel_close(core.handle, handle, this.#id);
    if (status === Status.OK) core.schedulePump();
    if (
      status !== Status.OK && status !== Status.CHANNEL_CLOSED &&
      status !== Status.SESSION_CLOSED && status !== Status.UNKNOWN_HANDLE &&
      status !== Status.SHUT_DOWN
    ) {
      return Promise.reject(this.#error(status, "close", 0));
    }
    return Promise.resolve();
  }

  /**
   * This channel's queue and traffic statistics (a snapshot taken at close
   * once the session is gone).
   *
   * @returns A plain object with camelCase keys.
   */
  stats(): RttStats {
    if (this.#link.released()) return { ...(this.#lastStats ?? emptyStats()) };
    const { core, handle } = this.#link;
    const raw = readNativeJson((buf, cap) =>
      core.symbols.web4_rtt_channel_stats(core.handle, handle, this.#id, buf, cap)
    );
    if (typeof raw === "number") return { ...(this.#lastStats ?? emptyStats()) };
    this.#lastStats = toStats(raw);
    return { ...this.#lastStats };
  }

  /** Messages read ahead from the library and not yet returned by `receive()`. */
  get buffered(): number {
    return this.#in.buffered;
  }

  #error(status: number, operation: string, undelivered: number): Error {
    return errorFromStatus(status, {
      operation,
      peer: this.#link.peer,
      channel: this.kind,
      undelivered,
      reason: this.#link.closedReason(),
      // The native text adds nothing to these; for the others it says why.
      detail: _SELF_EXPLAINING.has(status) ? undefined : this.#link.core.lastError(),
    });
  }

  #serve(): void {
    while (this.#waiters.length > 0) {
      let msg: Uint8Array<ArrayBuffer> | null | undefined;
      try {
        msg = this.#in.next();
      } catch (error) {
        for (const w of this.#waiters.splice(0)) {
          w.detach(this.#link.core);
          w.fail(error);
        }
        return;
      }
      if (msg === undefined) return;
      const w = this.#waiters.shift()!;
      w.detach(this.#link.core);
      w.settle(msg);
    }
  }

  #onEvent(event: NativeEvent): void {
    if (event.type === "readable") {
      this.#in.readable();
      this.#serve();
    } else if (event.type === "writable") this.#wakeSenders();
  }

  #wakeSenders(): void {
    for (const wake of this.#roomWaiters.splice(0)) wake();
  }

  #onSessionClosed(): void {
    // Take what the library still holds for us (bounded by the channel's
    // credit) before the session handle is released.
    if (!this.#link.released()) {
      try {
        this.stats();
        const inbox = this.#in;
        while (!inbox.peerClosed && !inbox.sessionEnded && inbox.pull()) { /* keep pulling */ }
      } catch {
        // The session is gone; whatever could not be read is lost with it.
      }
    }
    this.#in.sessionEnded = true;
    this.#serve();
    this.#wakeSenders();
  }
}
