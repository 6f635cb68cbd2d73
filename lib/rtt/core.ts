/**
 * Internal: the I/O driver of one native node, shared by the node, its
 * sessions and its channels. Not exported from `mod.ts`.
 *
 * The native core is sans-I/O (see `docs/rtt.md`): this driver owns every
 * socket (through a {@linkcode ByteNetwork}: Deno's TCP for `rtt`,
 * in-process pipes for `memory`), reads each connection in one loop into a
 * reused buffer and feeds the bytes in, writes what the core has to send
 * (one `write` per batch of TLS records), keeps one timer at the core's next
 * deadline, and turns the core's event records into typed events. Every
 * native call is synchronous; nothing runs on another thread.
 *
 * Keep-alive: like any open Deno socket, an open connection keeps the
 * process alive (so a peer's last frames are still read). Listeners and the
 * timer are `unref`'d while nothing is awaited, so a node that only listens
 * does not keep the process alive, and `ref`'d while something is (accept,
 * receive, connect, flush, a blocked send, a session waiting to resume).
 *
 * @module
 */

import { type NativeSymbols, Status } from "./ffi.ts";
import { decodeNativeEvents, type NativeEvent } from "./events.ts";
import { errorFromStatus } from "./errors.ts";
import { RTTDisconnectedError } from "../transport/errors.ts";
import { HookDispatcher } from "../transport/hooks.ts";
import type { ResolvedRttNodeOptions } from "./options.ts";
import type { ByteListener, ByteNetwork, ByteStream } from "./network.ts";
import { type Clock, sleep, type TimerHandle } from "../ports/mod.ts";

/** The native symbols the driver calls. */
export type CoreSymbols = NativeSymbols;

/** An operation waiting for its completion event. */
interface PendingOp {
  session: bigint;
  resolve(event: NativeEvent): void;
  reject(error: Error): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Smallest and largest event poll buffer. */
const POLL_BUFFER_MIN = 64 * 1024;
const POLL_BUFFER_MAX = 16 * 1024 * 1024;
/** How late a timer may run: the native ACK deferral (2 ms). */
const SCHEDULE_SLACK_MS = 2;
/** A poll that leaves less than this free in the buffer may have left events behind. */
const POLL_FULL_MARGIN = 8 * 1024;
/** Per-connection read buffer (reused for every read). */
const READ_BUFFER = 64 * 1024;
/**
 * A connection whose reads fill its buffer (a bulk flow) gets a larger one,
 * up to this size, so a bulk stream takes a quarter of the reads and
 * crossings; an idle connection keeps the small one.
 */
const READ_BUFFER_MAX = 256 * 1024;
/** Bit 30 of `web4_rtt_conn_transmit`'s result: events are queued. */
const TRANSMIT_EVENTS = 1 << 30;
/** Bit 29 of `web4_rtt_conn_transmit`'s result: more output waits after the batch. */
const TRANSMIT_MORE_OUTPUT = 1 << 29;
/** Bit 30 of `web4_rtt_node_next_transmit`'s result: more connections wait. */
const TRANSMIT_MORE = 1 << 30;
/** Bit 28 of `web4_rtt_node_transmit`'s result: more connections wait. */
const TRANSMIT_MORE_CONNS = 1 << 28;
/** Bit 30 of `web4_rtt_conn_input_poll`'s result: a connection has output. */
const INPUT_TRANSMIT = 1 << 30;
/** Bit 29 of `web4_rtt_conn_input_poll`'s result: events are left to poll. */
const INPUT_MORE_EVENTS = 1 << 29;
/** Per-connection write buffer (one batch of TLS records per write). */
const WRITE_BUFFER = 256 * 1024;

/**
 * Encodes a string as UTF-8 bytes for a `(pointer, length)` argument.
 *
 * @param s The string.
 * @returns Its bytes.
 */
export function utf8(s: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(s);
}

/** The intrinsic `byteLength` getter: a length no own property can fake. */
const _byteLength = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype),
  "byteLength",
)!.get! as (this: Uint8Array) => number;

/**
 * The real length of a byte array (never an overridable property).
 *
 * @param bytes The bytes.
 * @returns Their length.
 */
export function byteLengthOf(bytes: Uint8Array): number {
  return _byteLength.call(bytes);
}

/**
 * The remote host of an accepted stream (the key of the per-address
 * limits), or "" when the stream has none (in-process pipes).
 *
 * @param stream The stream.
 * @returns The host, at most 256 characters.
 */
export function remoteHost(stream: ByteStream): string {
  const addr = (stream as { remoteAddr?: unknown }).remoteAddr;
  if (addr === null || typeof addr !== "object") return "";
  const host = (addr as { hostname?: unknown }).hostname;
  return typeof host === "string" ? host.slice(0, 256) : "";
}

/** One connection: its stream and buffers. */
interface ConnIo {
  id: number;
  stream: ByteStream;
  out: Uint8Array<ArrayBuffer>;
  writing: boolean;
  /** The core has more output after the batch being written. */
  more: boolean;
  /** The core asked for a writer while a write was in flight. */
  again: boolean;
  closing: boolean;
  ended: boolean;
}

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
  /** Where each dialing session reconnects to. */
  readonly dialAddresses: Map<bigint, { hostname: string; port: number }> = new Map();

  #freed = false;
  #onError: (error: unknown) => void;
  #busy = 0;
  #ops = new Map<string, PendingOp>();
  #pollBuf = new Uint8Array(POLL_BUFFER_MIN);
  #conns = new Map<number, ConnIo>();
  #listeners = new Set<ByteListener>();
  #tasks = new Set<Promise<void>>();
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #pumping = false;
  #pumpAgain = false;
  /** Connections with a write in flight (the fused transmit needs none). */
  #writing = 0;
  /** A spare write buffer, swapped with a connection's by the fused transmit. */
  #spareOut = new Uint8Array(WRITE_BUFFER);
  /** `web4_rtt_node_transmit`'s `out_conn`. */
  #transmitConn = new Uint32Array(1);
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
  }

  /** Whether {@linkcode free} ran. */
  get freed(): boolean {
    return this.#freed;
  }

  /** Open connections (diagnostics and tests). */
  get connectionCount(): number {
    return this.#conns.size;
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
   * Calls a native "copy JSON into my buffer, return its full length"
   * function, growing the buffer when needed.
   *
   * @param call The native call.
   * @returns The parsed object, or the negative status.
   */
  readJson(
    call: (buf: Uint8Array<ArrayBuffer>, cap: number) => number,
  ): Record<string, unknown> | number {
    let buf = new Uint8Array(1024);
    let len = call(buf, buf.length);
    if (len > buf.length) {
      buf = new Uint8Array(len);
      len = call(buf, buf.length);
    }
    if (len < 0) return len;
    const parsed = JSON.parse(decoder.decode(buf.subarray(0, Math.min(len, buf.length))));
    return parsed !== null && typeof parsed === "object" ? parsed : {};
  }

  /**
   * Marks that something is awaited (keeps the process alive) until the
   * returned function is called.
   *
   * @returns Releases the hold (safe to call twice).
   */
  hold(): () => void {
    if (this.#freed) return () => {};
    this.#busy++;
    if (this.#busy === 1 && !this.#refd) {
      // While something is awaited the owning node must stay reachable, or
      // its FinalizationRegistry entry could free the native node under the
      // wait (the awaiting code may hold only a promise).
      this.#refd = true;
      this.#pinned = this.ownerRef?.deref();
      this.#setRef(true);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#busy--;
      if (this.#busy === 0 && this.#refd) {
        this.#refd = false;
        this.#pinned = undefined;
        this.#setRef(false);
      }
    };
  }

  #refd = false;

  /** The owning node, set by it; pinned strongly while something is awaited. */
  ownerRef: WeakRef<object> | undefined;
  #pinned: object | undefined;

  #setRef(on: boolean): void {
    for (const l of this.#listeners) on ? l.ref() : l.unref();
    if (this.#timer !== undefined) this.clock.ref(this.#timer, on);
  }

  #track(p: Promise<void>): void {
    const t = p.catch((error) => this.#onError(error)).finally(() => this.#tasks.delete(t));
    this.#tasks.add(t);
  }

  // ----- sockets -----

  /**
   * Listens and accepts inbound connections until {@linkcode free}.
   *
   * @param hostname The host.
   * @param port The port (0 picks one).
   * @returns The bound port.
   */
  async listen(hostname: string, port: number): Promise<number> {
    const listener = await this.network.listen(hostname, port);
    if (this.#freed) {
      listener.close();
      throw new RTTDisconnectedError("SESSION_CLOSED", "The node was shut down while listening");
    }
    this.#refd ? listener.ref() : listener.unref();
    this.#listeners.add(listener);
    this.#track(this.#acceptLoop(listener));
    return listener.port;
  }

  async #acceptLoop(listener: ByteListener): Promise<void> {
    while (!this.#freed && this.#listeners.has(listener)) {
      let stream: ByteStream;
      try {
        stream = await listener.accept();
      } catch {
        if (this.#freed || !this.#listeners.has(listener)) return;
        await sleep(this.clock, 20);
        continue;
      }
      if (this.#freed) {
        stream.close();
        return;
      }
      const addr = utf8(remoteHost(stream));
      const id = this.symbols.web4_rtt_conn_accept_from(
        this.handle,
        this.clock.monotonic(),
        addr,
        addr.length,
      );
      if (id <= 0) {
        stream.close();
        continue;
      }
      this.attach(stream, id);
      this.pump();
    }
  }

  /**
   * Starts an outbound connection for a new session: the stream is already
   * connected; the TLS handshake and HELLO run from here.
   *
   * @param stream The connected stream.
   * @param fingerprint The pinned fingerprint.
   * @param timeoutMs The handshake deadline.
   * @returns The connection id (the connect's operation id).
   */
  startConnect(stream: ByteStream, fingerprint: string, timeoutMs: number): number {
    const fp = utf8(fingerprint);
    const id = this.symbols.web4_rtt_conn_connect(
      this.handle,
      fp,
      fp.length,
      timeoutMs,
      this.clock.monotonic(),
    );
    if (id <= 0) {
      stream.close();
      throw errorFromStatus(id, {
        operation: "connect from",
        peer: fingerprint,
        detail: this.lastError(),
      });
    }
    this.attach(stream, id);
    return id;
  }

  /**
   * Abandons connection `id` (a cancelled connect): its socket is closed.
   *
   * @param id The connection id.
   */
  abandon(id: number): void {
    const io = this.#conns.get(id);
    if (io !== undefined) this.#ended(io);
  }

  /**
   * Takes over a connected stream as connection `id` and starts reading it.
   *
   * @param stream The stream.
   * @param id The native connection id.
   */
  attach(stream: ByteStream, id: number): void {
    const io: ConnIo = {
      id,
      stream,
      out: new Uint8Array(WRITE_BUFFER),
      writing: false,
      more: false,
      again: false,
      closing: false,
      ended: false,
    };
    this.#conns.set(id, io);
    this.#track(this.#readLoop(io));
  }

  async #readLoop(io: ConnIo): Promise<void> {
    let buf = new Uint8Array(READ_BUFFER);
    while (!io.ended) {
      let n: number | null;
      try {
        n = await io.stream.read(buf);
      } catch {
        n = null;
      }
      if (io.ended || this.#freed) return;
      if (n === null) {
        this.#ended(io);
        return;
      }
      // Bytes in and the events they caused out, in one call; the pump
      // dispatches the events already copied into the poll buffer.
      const now = this.clock.monotonic();
      const r = this.symbols.web4_rtt_conn_input_poll(
        this.handle,
        io.id,
        buf,
        0,
        n,
        now,
        this.#pollBuf,
        this.#pollBuf.length,
      );
      if (r < 0) {
        this.pump();
      } else {
        const flags = ((r & INPUT_TRANSMIT) !== 0 ? 2 : 0) |
          ((r & INPUT_MORE_EVENTS) !== 0 ? 1 : 0);
        this.pump(flags, r & ~(INPUT_TRANSMIT | INPUT_MORE_EVENTS), now);
      }
      // A full read: more is waiting, so read more at a time (the bytes were fed above).
      if (n === buf.length && buf.length < READ_BUFFER_MAX) buf = new Uint8Array(buf.length * 2);
    }
  }

  /** Writes what connection `io` has to send, batch after batch, until it has nothing. */
  #startWrite(io: ConnIo): void {
    if (io.ended) return;
    if (io.writing) {
      // The core marked the connection busy again while a write is in
      // flight: transmit once it completes.
      io.again = true;
      return;
    }
    this.#setWriting(io, true);
    this.#writeNext(io);
  }

  #setWriting(io: ConnIo, on: boolean): void {
    if (io.writing !== on) this.#writing += on ? 1 : -1;
    io.writing = on;
  }

  #writeNext(io: ConnIo): void {
    const r = io.ended || this.#freed ? 0 : this.symbols.web4_rtt_conn_transmit(
      this.handle,
      io.id,
      io.out,
      io.out.length,
      this.#now(),
    );
    this.#transmitted(io, r);
  }

  /** Writes the batch `web4_rtt_conn_transmit` (or `node_transmit`) put in `io.out`. */
  #transmitted(io: ConnIo, r: number): void {
    io.again = false;
    // Bit 30: preparing the batch queued events (WRITABLE, REKEY, a close).
    if (r > 0 && (r & TRANSMIT_EVENTS) !== 0) this.schedulePump();
    // Bit 29: more output waits after this batch (else the core already
    // ended the busy state, and new output will ask for a writer).
    io.more = r > 0 && (r & TRANSMIT_MORE_OUTPUT) !== 0;
    const n = r > 0 ? r & ~(TRANSMIT_EVENTS | TRANSMIT_MORE_OUTPUT | TRANSMIT_MORE_CONNS) : r;
    if (n <= 0) {
      this.#setWriting(io, false);
      if (io.closing) this.#ended(io);
      return;
    }
    this.#writeFrom(io, 0, n);
  }

  /** A batch was written: transmit again only if the core has more. */
  #written(io: ConnIo): void {
    if (io.more || io.again || io.closing) {
      this.#writeNext(io);
    } else {
      this.#setWriting(io, false);
    }
  }

  #writeFrom(io: ConnIo, off: number, n: number): void {
    io.stream.write(io.out.subarray(off, n)).then(
      (w) => off + w < n ? this.#writeFrom(io, off + w, n) : this.#written(io),
      () => {
        this.#setWriting(io, false);
        this.#ended(io);
      },
    );
  }

  /** The stream of `io` ended (or is closed by us): tells the core. */
  #ended(io: ConnIo): void {
    if (io.ended) return;
    io.ended = true;
    this.#conns.delete(io.id);
    try {
      // The pending read must complete (with an error) for its loop to end.
      io.stream.ref();
      io.stream.close();
    } catch {
      // Already closed.
    }
    if (this.#freed) return;
    this.symbols.web4_rtt_conn_closed(this.handle, io.id, this.clock.monotonic());
    this.pump();
  }

  #dial(session: bigint): void {
    const address = this.dialAddresses.get(session);
    if (address === undefined) {
      this.symbols.web4_rtt_dial_failed(this.handle, session, this.clock.monotonic());
      return;
    }
    this.#track(
      this.network.connect(address.hostname, address.port).then(
        (stream) => {
          if (this.#freed) {
            stream.close();
            return;
          }
          const id = this.symbols.web4_rtt_conn_resume(
            this.handle,
            session,
            this.clock.monotonic(),
          );
          if (id <= 0) {
            stream.close();
          } else {
            this.attach(stream, id);
          }
          this.pump();
        },
        () => {
          if (this.#freed) return;
          this.symbols.web4_rtt_dial_failed(this.handle, session, this.clock.monotonic());
          this.pump();
        },
      ),
    );
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
      if (polled > 0) this.#dispatchBatch(polled);
      do {
        this.#pumpAgain = false;
        // The status bits, unless the call that led here returned them.
        const flags = first >= 0 ? first : this.symbols.web4_rtt_node_status(this.handle);
        first = -1;
        if (flags < 0) return;
        if (flags & 1) this.#drainEvents();
        if ((flags & 2) !== 0 || this.#transmitRequested) {
          this.#transmitRequested = false;
          // No write in flight: pick and fill in one call.
          const rest = this.#writing === 0 ? this.#transmitFused() : true;
          for (let more = rest; more;) {
            const r = this.symbols.web4_rtt_node_next_transmit(this.handle);
            // Bit 30: more connections wait after this one.
            more = r > 0 && (r & TRANSMIT_MORE) !== 0;
            const id = r > 0 ? r & ~TRANSMIT_MORE : 0;
            if (id <= 0) break;
            const io = this.#conns.get(id);
            if (io !== undefined) {
              this.#startWrite(io);
            } else {
              // No socket (never attached): let the core drop the output.
              this.#discardOutput(id);
            }
          }
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
   * With no write in flight, takes the next connections' batches with
   * `web4_rtt_node_transmit` (one call instead of `node_next_transmit` and
   * `conn_transmit`), each into the spare buffer, which becomes the
   * connection's, until a connection is left writing or none waits.
   *
   * @returns Whether connections still wait (taken one call at a time,
   * since a write is now in flight).
   */
  #transmitFused(): boolean {
    while (this.#writing === 0 && !this.#freed) {
      const r = this.symbols.web4_rtt_node_transmit(
        this.handle,
        this.#spareOut,
        this.#spareOut.length,
        this.#now(),
        this.#transmitConn,
      );
      const id = this.#transmitConn[0]!;
      if (r < 0 || id === 0) return false;
      const io = this.#conns.get(id);
      if (io === undefined) {
        // No socket (never attached): let the core drop the output.
        if ((r & TRANSMIT_MORE_OUTPUT) !== 0) this.#discardOutput(id);
      } else {
        const out = io.out;
        io.out = this.#spareOut;
        this.#spareOut = out;
        this.#setWriting(io, true);
        this.#transmitted(io, r);
      }
      if ((r & TRANSMIT_MORE_CONNS) === 0) return false;
    }
    return !this.#freed;
  }

  /** Drains connection `id`'s output into nothing (it has no socket). */
  #discardOutput(id: number): void {
    let r: number;
    do {
      r = this.symbols.web4_rtt_conn_transmit(
        this.handle,
        id,
        this.#pollBuf,
        this.#pollBuf.length,
        0,
      );
    } while (r > 0 && (r & ~(TRANSMIT_EVENTS | TRANSMIT_MORE_OUTPUT)) > 0);
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

  /** Re-arms the timer; `now` is the pump's time when it read one (-1: none). */
  #schedule(now: number): void {
    if (this.#freed) return;
    // A timer due within the deferral slack will ask again when it fires:
    // no deadline can need it sooner than that (a timer up to 2 ms late is
    // within every deadline's tolerance), so skip the call.
    if (
      this.#timer !== undefined &&
      this.#timerAt <= (now >= 0 ? now : this.clock.monotonic()) + SCHEDULE_SLACK_MS
    ) {
      return;
    }
    const at = this.symbols.web4_rtt_node_next_deadline(this.handle);
    if (at < 0) return;
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    if (this.#timer !== undefined) this.clock.clear(this.#timer);
    this.#timerAt = at;
    const timer = this.clock.setTimeout(
      () => this.#onTimer(),
      Math.max(0, Math.ceil(at - this.clock.monotonic())),
    );
    this.#timer = timer;
    if (!this.#refd) this.clock.ref(timer, false);
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
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
      decodeNativeEvents(this.#pollBuf, n, this.#dispatch);
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

  #onNativeEvent(event: NativeEvent): void {
    switch (event.type) {
      case "dial":
        this.#dial(event.session);
        return;
      case "close_conn": {
        const io = this.#conns.get(event.conn);
        if (io === undefined) {
          this.symbols.web4_rtt_conn_closed(this.handle, event.conn, this.clock.monotonic());
          return;
        }
        io.closing = true;
        if (!io.writing) this.#startWrite(io);
        return;
      }
      default:
        this.onEvent(event);
    }
  }

  // ----- operations -----

  /**
   * Waits for the completion event of an operation.
   *
   * @param key `connect:<conn>` or `flush:<op>`.
   * @param session The session it belongs to (0n for connects).
   * @returns The completion event.
   */
  waitOp(key: string, session: bigint): Promise<NativeEvent> {
    let release: () => void = () => {};
    const promise = new Promise<NativeEvent>((resolve, reject) => {
      this.#ops.set(key, {
        session,
        resolve: (r) => {
          release();
          resolve(r);
        },
        reject: (e) => {
          release();
          reject(e);
        },
      });
    });
    release = this.hold();
    return promise;
  }

  /**
   * Removes and returns the operation waiting under `key`, if any.
   *
   * @param key The operation key.
   * @returns Its callbacks.
   */
  takeOp(key: string): PendingOp | undefined {
    const op = this.#ops.get(key);
    if (op !== undefined) this.#ops.delete(key);
    return op;
  }

  /**
   * Rejects every operation of `session` (or of every session, for `undefined`).
   *
   * @param session The session handle, or `undefined` for all.
   * @param error Makes the error for each.
   */
  failOps(session: bigint | undefined, error: () => Error): void {
    for (const [key, op] of [...this.#ops]) {
      if (session !== undefined && op.session !== session) continue;
      this.#ops.delete(key);
      op.reject(error());
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
    this.#timer = undefined;
    this.failOps(
      undefined,
      () =>
        new RTTDisconnectedError(
          "SESSION_CLOSED",
          "The node was shut down before the operation completed",
          { reason: "shutdown" },
        ),
    );
    for (const l of this.#listeners) {
      l.ref();
      l.close();
    }
    this.#listeners.clear();
    for (const io of [...this.#conns.values()]) this.#ended(io);
    this.symbols.web4_rtt_node_free(this.handle);
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }
}

/**
 * The calling thread's last native error text.
 *
 * @param symbols The native symbols.
 * @returns The text.
 */
export function lastErrorOf(symbols: CoreSymbols): string {
  let buf = new Uint8Array(256);
  let len = symbols.web4_rtt_last_error(buf, buf.length);
  if (len > buf.length) {
    buf = new Uint8Array(len);
    len = symbols.web4_rtt_last_error(buf, buf.length);
  }
  return decoder.decode(buf.subarray(0, Math.min(len, buf.length)));
}
