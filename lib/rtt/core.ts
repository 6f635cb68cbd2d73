/**
 * Internal: the I/O driver of one native node, shared by the node, its
 * sessions and its channels. Not exported from `mod.ts`.
 *
 * The native core is sans-I/O (see `docs/rtt.md`): this driver owns every
 * socket (through a {@linkcode ByteNetwork}: Deno's TCP for `rtt`,
 * in-process pipes for `memory`; the sockets themselves, their read loops
 * and the write path are `sockets.ts`), pumps what the core produced (events
 * to their owners, output to the sockets), keeps one timer at the core's
 * next deadline, and turns the core's event records into typed events;
 * operations waiting for their completion are `ops.ts`. Every native call is
 * synchronous; nothing runs on another thread.
 *
 * Keep-alive: like any open Deno socket, an open connection keeps the
 * process alive (so a peer's last frames are still read). Listeners and the
 * timer are `unref`'d while nothing is awaited, so a node that only listens
 * does not keep the process alive, and `ref`'d while something is (accept,
 * receive, connect, flush, a blocked send, a session waiting to resume).
 *
 * @module
 */

import { EventKind, type NativeSymbols, Status } from "./ffi.ts";
import {
  type ChannelEventSink,
  decodeNativeEvents,
  hasEventRecord,
  type NativeEvent,
} from "./events.ts";
import { RTTDisconnectedError } from "../transport/errors.ts";
import { HookDispatcher } from "../transport/hooks.ts";
import type { ResolvedRttNodeOptions } from "./options.ts";
import type { ByteNetwork } from "./network.ts";
import { lastErrorOf } from "./args.ts";
import { PendingOps } from "./ops.ts";
import { Sockets } from "./sockets.ts";
import type { Clock, TimerHandle } from "../ports/mod.ts";

/** The native symbols the driver calls. */
export type CoreSymbols = NativeSymbols;

/** Smallest and largest event poll buffer. */
const POLL_BUFFER_MIN = 64 * 1024;
const POLL_BUFFER_MAX = 16 * 1024 * 1024;
/** How late a timer may run: the native ACK deferral (2 ms). */
const SCHEDULE_SLACK_MS = 2;
/** A poll that leaves less than this free in the buffer may have left events behind. */
const POLL_FULL_MARGIN = 8 * 1024;
/** Bit 30 of `web4_rtt_node_next_transmit`'s result: more connections wait. */
const TRANSMIT_MORE = 1 << 30;

/** The driver of one native node. */
export class NodeCore {
  /** The native symbols. */
  /** The node's time and timers (monotonic ms for the native core). */
  readonly clock: Clock;
  readonly symbols: CoreSymbols;
  /** The node handle (valid until {@linkcode free}). */
  readonly handle: bigint;
  /** The node's resolved options. */
  readonly options: ResolvedRttNodeOptions;
  /** Runs every user callback one at a time. */
  readonly dispatcher: HookDispatcher;
  /** Where sockets come from. */
  readonly network: ByteNetwork;
  /** Called with each typed event the driver does not handle itself. Set by the node. */
  onEvent: (event: NativeEvent) => void = () => {};
  /**
   * Called with each READABLE (`writable` false) and WRITABLE event, as its
   * fields (one per message: no event object). Set by the node.
   */
  onChannelEvent: ChannelEventSink = () => {};
  /** Where each dialing session reconnects to. */
  readonly dialAddresses: Map<bigint, { hostname: string; port: number }> = new Map();

  #freed = false;
  #onError: (error: unknown) => void;
  #busy = 0;
  #pollBuf = new Uint8Array(POLL_BUFFER_MIN);
  #tasks = new Set<Promise<void>>();
  /** The timer at the core's next deadline (as last asked). */
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  /**
   * A later timer kept armed when an earlier deadline came, rather than
   * cleared: a deadline that moves earlier for a moment (a deferred ACK or
   * credit, ~2 ms, while the heartbeat's stays) comes back to it once the
   * earlier one has passed, so it is not armed again every few milliseconds.
   */
  #farTimer: TimerHandle | undefined;
  #farAt = Infinity;
  /** The near timer fired since the last re-arm (the far one is then checked). */
  #fired = false;
  #pumping = false;
  #pumpAgain = false;
  /** The time read once per pump (-1: not read yet); see {@linkcode #now}. */
  #pumpNow = -1;

  /**
   * Creates the driver.
   *
   * @param symbols The native symbols.
   * @param handle The node handle.
   * @param options The resolved options.
   * @param onHookError Receives what a user callback throws.
   * @param network Where sockets come from.
   * @param clock The node's time and timers.
   */
  constructor(
    symbols: CoreSymbols,
    handle: bigint,
    options: ResolvedRttNodeOptions,
    onHookError: (error: unknown) => void,
    network: ByteNetwork,
    clock: Clock,
  ) {
    this.clock = clock;
    this.symbols = symbols;
    this.handle = handle;
    this.options = options;
    this.dispatcher = new HookDispatcher(onHookError);
    this.#onError = onHookError;
    this.network = network;
    this.#lazyUnref = network.streamsKeepAlive === true;
    this.ops = new PendingOps(() => this.hold());
    this.sockets = new Sockets({
      symbols,
      handle,
      clock,
      network,
      freed: () => this.#freed,
      refd: () => this.#refApplied,
      connectionEnded: () => this.#connectionEnded(),
      pollBuf: () => this.#pollBuf,
      now: () => this.#now(),
      pump: (known, polled, now) => this.pump(known, polled, now),
      schedulePump: (flags) => this.schedulePump(flags),
      track: (p) => this.#track(p),
    });
  }

  /** Operations waiting for their completion events (connects, flushes). */
  readonly ops: PendingOps;
  /** The node's listeners and connections: accept, connect, dial, read, write. */
  readonly sockets: Sockets;

  /** Whether {@linkcode free} ran. */
  get freed(): boolean {
    return this.#freed;
  }

  /** Open connections (diagnostics and tests). */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /**
   * The calling thread's last native error text.
   *
   * @returns The text, possibly empty.
   */
  lastError(): string {
    return lastErrorOf(this.symbols);
  }

  /**
   * Marks that something is awaited (keeps the process alive) until the
   * returned function is called.
   *
   * @returns Releases the hold (safe to call twice).
   */
  hold(): () => void {
    if (!this.acquire()) return () => {};
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.releaseHold();
    };
  }

  /**
   * {@linkcode hold} without a release function (a receive waits once per
   * message): the caller must call {@linkcode releaseHold} exactly once
   * when this returned true.
   *
   * @returns Whether a hold was taken (false once the node is freed).
   */
  acquire(): boolean {
    if (this.#freed) return false;
    this.#busy++;
    if (this.#busy === 1 && !this.#refd) {
      // While something is awaited the owning node must stay reachable, or
      // its FinalizationRegistry entry could free the native node under the
      // wait (the awaiting code may hold only a promise).
      this.#refd = true;
      this.#pinned = this.ownerRef?.deref();
      if (!this.#refApplied) this.#setRef(true);
    }
    return true;
  }

  /** Ends a hold taken with {@linkcode acquire}. */
  releaseHold(): void {
    this.#busy--;
    if (this.#busy === 0 && this.#refd) {
      this.#refd = false;
      this.#pinned = undefined;
      // While a connection whose stream keeps the process alive is open,
      // the listeners' and the timer's ref changes nothing: it is dropped
      // when the last such connection ends (`#connectionEnded`), or taken
      // back by the next hold, so a receive per message does not toggle
      // them twice (a timer's ref and a listener's are ops).
      if (!this.#lazyUnref || this.sockets.size === 0) this.#setRef(false);
    }
  }

  /** Something is awaited (the process is kept alive). */
  #refd = false;
  /** Whether the listeners and the timer are ref'd now (lags `#refd` while connections are open). */
  #refApplied = false;
  /** Whether open streams keep the process alive, so an unref may wait for the last one. */
  #lazyUnref: boolean;

  /** A connection ended: the ref a hold no longer needs is dropped with the last one. */
  #connectionEnded(): void {
    if (!this.#refd && this.#refApplied && this.sockets.size === 0) this.#setRef(false);
  }

  /** The owning node, set by it; pinned strongly while something is awaited. */
  ownerRef: WeakRef<object> | undefined;
  #pinned: object | undefined;

  #setRef(on: boolean): void {
    this.#refApplied = on;
    this.sockets.setRef(on);
    if (this.#timer !== undefined) this.clock.ref(this.#timer, on);
    if (this.#farTimer !== undefined) this.clock.ref(this.#farTimer, on);
  }

  #track(p: Promise<void>): void {
    const t = p.catch((error) => this.#onError(error)).finally(() => this.#tasks.delete(t));
    this.#tasks.add(t);
  }

  // ----- the pump -----

  /**
   * Moves what the core produced: events to their owners, output to the
   * sockets; then re-arms the timer. Called after every native call that
   * can produce either. Re-entrant calls (from a callback) are folded into
   * the running one.
   *
   * @param known The status bits, when the caller has them (from
   * `conn_input_poll` or `node_timeout`); otherwise they are asked for.
   * @param polled Event bytes `conn_input_poll` already copied into the
   * poll buffer, dispatched first.
   * @param now The time, when the caller just read it (-1: read when needed).
   */
  pump(known = -1, polled = 0, now = -1): void {
    if (this.#freed) return;
    if (this.#pumping) {
      // Not reached with polled events: the read loop never runs inside a pump.
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    this.#pumpNow = now;
    try {
      let first = known;
      if (polled > 0) {
        // An inbound session was accepted: its ACCEPT (the output of the
        // same input) is written before the session's JavaScript side is
        // built, so the peer's connect completes while we build it. Any
        // output the dispatch adds goes out in the loop below, as always.
        if (
          known >= 0 && (known & 2) !== 0 &&
          hasEventRecord(this.#pollBuf, polled, EventKind.ACCEPTED)
        ) {
          this.#transmitAll();
        }
        this.#dispatchBatch(polled);
      }
      do {
        this.#pumpAgain = false;
        // The status bits, unless the call that led here returned them.
        const flags = first >= 0 ? first : this.symbols.web4_rtt_node_status(this.handle);
        first = -1;
        if (flags < 0) return;
        if (flags & 1) this.#drainEvents();
        if ((flags & 2) !== 0 || this.#transmitRequested) {
          this.#transmitRequested = false;
          this.#transmitAll();
        }
        // Every native call made while handling events or writing asks for
        // its own pump (folded into this loop, or a microtask), and a batch
        // of events that filled the poll buffer sets #pumpAgain.
      } while (this.#pumpAgain && !this.#freed);
    } finally {
      this.#pumping = false;
    }
    const read = this.#pumpNow;
    this.#pumpNow = -1;
    this.#schedule(read);
  }

  /** Hands every connection's pending output to its socket. */
  #transmitAll(): void {
    // No write in flight: pick and fill in one call.
    const rest = this.sockets.writing === 0 ? this.sockets.transmitFused() : true;
    for (let more = rest; more;) {
      const r = this.symbols.web4_rtt_node_next_transmit(this.handle);
      // Bit 30: more connections wait after this one.
      more = r > 0 && (r & TRANSMIT_MORE) !== 0;
      const id = r > 0 ? r & ~TRANSMIT_MORE : 0;
      if (id <= 0) break;
      this.sockets.transmit(id);
    }
  }

  /**
   * The time for a native call: read once per pump (the calls of one pump
   * happen within microseconds; `performance.now()` costs ~100 ns), fresh
   * outside a pump.
   *
   * @returns Monotonic milliseconds.
   */
  #now(): number {
    if (!this.#pumping) return this.clock.monotonic();
    if (this.#pumpNow < 0) this.#pumpNow = this.clock.monotonic();
    return this.#pumpNow;
  }

  /**
   * A call reported that a connection has output (reading returned credit
   * due at once): transmit in the running pump, or pump soon.
   */
  outputPending(): void {
    if (this.#pumping) this.#transmitRequested = true;
    else this.schedulePump(2);
  }

  #transmitRequested = false;

  /**
   * Pumps once at the end of the current task (several API calls in a row
   * share one pump, so their frames share one write).
   *
   * @param flags The status bits the call returned, if it did (they save
   * the pump a status call); -1 when unknown.
   */
  schedulePump(flags = -1): void {
    this.#pendingFlags = flags < 0 || this.#pendingFlags < 0 ? -1 : this.#pendingFlags | flags;
    if (this.#pumpScheduled || this.#freed) return;
    this.#pumpScheduled = true;
    queueMicrotask(this.#scheduledPump);
  }

  #pumpScheduled = false;
  #pendingFlags = 0;
  #scheduledPump = (): void => {
    this.#pumpScheduled = false;
    const flags = this.#pendingFlags;
    this.#pendingFlags = 0;
    this.pump(flags);
  };

  /**
   * Re-arms the timer when the core's next deadline is earlier than every
   * armed timer; `now` is the pump's time when it read one (-1: none).
   */
  #schedule(now: number): void {
    if (this.#freed) return;
    const fired = this.#fired;
    this.#fired = false;
    // The earliest armed timer (the far one is always later than the other).
    let armedAt = this.#timer !== undefined ? this.#timerAt : this.#farAt;
    // A timer due within the deferral slack will ask again when it fires:
    // no deadline can need it sooner than that (a timer up to 2 ms late is
    // within every deadline's tolerance), so skip the call.
    if (armedAt <= (now >= 0 ? now : this.clock.monotonic()) + SCHEDULE_SLACK_MS) return;
    const at = this.symbols.web4_rtt_node_next_deadline(this.handle);
    if (fired && this.#farTimer !== undefined && at !== this.#farAt) {
      // The earlier deadline passed and the core's next one is not the far
      // timer's: that deadline moved or went (a lost connection's
      // heartbeat), so the far timer would wake the node for nothing.
      this.clock.clear(this.#farTimer);
      this.#farTimer = undefined;
      this.#farAt = Infinity;
      armedAt = this.#timerAt;
    }
    if (at < 0 || armedAt <= at) return;
    if (this.#timer !== undefined) {
      // Kept as the far timer (the previous far one is the latest: cleared).
      if (this.#farTimer !== undefined) this.clock.clear(this.#farTimer);
      this.#farTimer = this.#timer;
      this.#farAt = this.#timerAt;
    }
    this.#timerAt = at;
    const timer: TimerHandle = this.clock.setTimeout(
      () => this.#onTimer(timer),
      Math.max(0, Math.ceil(at - (now >= 0 ? now : this.clock.monotonic()))),
    );
    this.#timer = timer;
    if (!this.#refApplied) this.clock.ref(timer, false);
  }

  /** Timer `timer` fired (either slot): the core handles what is due, then the pump re-arms. */
  #onTimer(timer: TimerHandle): void {
    if (timer === this.#timer) {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#fired = true;
    } else if (timer === this.#farTimer) {
      this.#farTimer = undefined;
      this.#farAt = Infinity;
    }
    if (this.#freed) return;
    const now = this.clock.monotonic();
    this.pump(this.symbols.web4_rtt_node_timeout(this.handle, now), 0, now);
  }

  /** One batch of events (the pump loops while the core reports more). */
  #drainEvents(): void {
    for (;;) {
      const n = this.symbols.web4_rtt_node_poll(this.handle, this.#pollBuf, this.#pollBuf.length);
      if (n === 0) return;
      if (n === Status.BUFFER_TOO_SMALL && this.#pollBuf.length < POLL_BUFFER_MAX) {
        this.#pollBuf = new Uint8Array(this.#pollBuf.length * 2);
        continue;
      }
      if (n < 0) return;
      // Records are small: a batch that did not nearly fill the buffer took
      // every queued event.
      if (n > this.#pollBuf.length - POLL_FULL_MARGIN) this.#pumpAgain = true;
      this.#dispatchBatch(n);
      return;
    }
  }

  /** Decodes and dispatches the `n` bytes of event records in the poll buffer. */
  #dispatchBatch(n: number): void {
    try {
      decodeNativeEvents(this.#pollBuf, n, this.#dispatch, this.#dispatchChannel);
    } catch (error) {
      // A malformed batch (a library bug) is reported, never thrown into
      // a socket loop or a timer.
      this.#onError(error);
    }
  }

  #dispatch = (event: NativeEvent): void => {
    if (this.#freed) return;
    try {
      this.#onNativeEvent(event);
    } catch (error) {
      this.#onError(error);
    }
  };

  #dispatchChannel: ChannelEventSink = (session, channel, writable) => {
    if (this.#freed) return;
    try {
      this.onChannelEvent(session, channel, writable);
    } catch (error) {
      this.#onError(error);
    }
  };

  #onNativeEvent(event: NativeEvent): void {
    switch (event.type) {
      case "dial":
        this.sockets.dial(event.session, this.dialAddresses.get(event.session));
        return;
      case "close_conn":
        this.sockets.close(event.conn);
        return;
      default:
        this.onEvent(event);
    }
  }

  /**
   * Ends every remaining session (`shutdown`), delivers the last events,
   * closes every socket and listener, and frees the native node. Safe to
   * call twice.
   *
   * @returns Resolves once every socket loop has ended.
   */
  free(): Promise<void> {
    if (this.#freeing !== undefined) return this.#freeing;
    // The pending reads and accepts must complete (with an error) before the
    // process may exit: keep them ref'd while they unwind.
    this.#setRef(true);
    if (this.symbols.web4_rtt_node_shutdown(this.handle) === Status.OK) this.pump();
    this.#freed = true;
    this.#freeing = this.#freeAll();
    return this.#freeing;
  }

  #freeing: Promise<void> | undefined;

  async #freeAll(): Promise<void> {
    if (this.#timer !== undefined) this.clock.clear(this.#timer);
    if (this.#farTimer !== undefined) this.clock.clear(this.#farTimer);
    this.#timer = undefined;
    this.#farTimer = undefined;
    this.ops.fail(
      undefined,
      () =>
        new RTTDisconnectedError(
          "SESSION_CLOSED",
          "The node was shut down before the operation completed",
          { reason: "shutdown" },
        ),
    );
    this.sockets.closeAll();
    this.symbols.web4_rtt_node_free(this.handle);
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }
}
