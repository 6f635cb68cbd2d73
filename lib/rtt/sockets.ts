/**
 * Internal: the sockets of one native node, driven by its {@linkcode NodeCore}
 * (`core.ts`): listeners and their accept loops, outbound and resumed
 * connections, one read loop per connection feeding the core, and the write
 * path (one `write` per batch of TLS records, a spare buffer swapped in by
 * the fused transmit). Not exported from `mod.ts`.
 *
 * @module
 */

import type { NativeSymbols } from "./ffi.ts";
import { errorFromStatus } from "./errors.ts";
import { RTTDisconnectedError } from "../transport/errors.ts";
import type { ByteListener, ByteNetwork, ByteStream } from "./network.ts";
import { remoteHost } from "./network.ts";
import { lastErrorOf, utf8 } from "./args.ts";
import { type Clock, sleep } from "../ports/mod.ts";

/**
 * A connection's first read buffer (reused for every read): a handshake
 * flight or a small message fits it. Buffers start small because every
 * connection pays for them at set-up (the allocation, its zeroing and the
 * garbage collections their external memory brings) and most connections
 * never move bulk.
 */
const READ_BUFFER = 16 * 1024;
/**
 * A connection whose reads fill its buffer (a bulk flow) gets one twice as
 * large, up to this size, so a bulk stream takes few reads and crossings;
 * an idle connection keeps the small one.
 */
const READ_BUFFER_MAX = 256 * 1024;
/** A connection's first write buffer (one batch of TLS records per write). */
const WRITE_BUFFER_MIN = 16 * 1024;
/**
 * The largest write buffer: a connection whose batches fill its buffer while
 * more output waits (a bulk flow) gets one twice as large, up to this size;
 * the node's spare buffer of the fused transmit has this size.
 */
const WRITE_BUFFER = 256 * 1024;
/** Bit 30 of `web4_rtt_conn_transmit`'s result: events are queued. */
const TRANSMIT_EVENTS = 1 << 30;
/** Bit 29 of `web4_rtt_conn_transmit`'s result: more output waits after the batch. */
const TRANSMIT_MORE_OUTPUT = 1 << 29;
/** Bit 28 of `web4_rtt_node_transmit`'s result: more connections wait. */
const TRANSMIT_MORE_CONNS = 1 << 28;
/** Bit 30 of `web4_rtt_conn_input_poll`'s result: a connection has output. */
const INPUT_TRANSMIT = 1 << 30;
/** Bit 29 of `web4_rtt_conn_input_poll`'s result: events are left to poll. */
const INPUT_MORE_EVENTS = 1 << 29;

/** What the sockets need from the driver that owns them. */
export interface SocketsPorts {
  /** The native symbols. */
  readonly symbols: NativeSymbols;
  /** The node handle. */
  readonly handle: bigint;
  /** The node's time and timers. */
  readonly clock: Clock;
  /** Where sockets come from. */
  readonly network: ByteNetwork;
  /** Whether the native node was freed. */
  freed(): boolean;
  /** Whether the listeners are ref'd now (a new listener follows). */
  refd(): boolean;
  /** A connection ended (it was removed from the open ones). */
  connectionEnded(): void;
  /** The event poll buffer: a read's events are copied into it. */
  pollBuf(): Uint8Array<ArrayBuffer>;
  /** The time for a native call (read once per pump). */
  now(): number;
  /** Moves what the core produced (see `NodeCore.pump`). */
  pump(known?: number, polled?: number, now?: number): void;
  /** Pumps once at the end of the current task. */
  schedulePump(flags?: number): void;
  /** Keeps a task until the node is freed; what it throws is reported. */
  track(p: Promise<void>): void;
}

/** One connection: its stream and buffers. */
interface ConnIo {
  id: number;
  stream: ByteStream;
  out: Uint8Array<ArrayBuffer>;
  /**
   * The buffer of the batch being written: `out`, or the node's spare
   * buffer a small fused batch is written from (lent: no fused transmit
   * runs while a write is in flight).
   */
  batch: Uint8Array<ArrayBuffer>;
  /** The batch's length and how much of it was written. */
  batchEnd: number;
  batchAt: number;
  /** The write's completion handlers (made once per connection, not per write). */
  onWrite: (n: number) => void;
  onWriteError: () => void;
  writing: boolean;
  /** The core has more output after the batch being written. */
  more: boolean;
  /** The batch being written filled `out` while more waited: grow it after. */
  grow: boolean;
  /** The core asked for a writer while a write was in flight. */
  again: boolean;
  closing: boolean;
  ended: boolean;
}

/** The listeners and connections of one native node. */
export class Sockets {
  #ports: SocketsPorts;
  #conns = new Map<number, ConnIo>();
  #listeners = new Set<ByteListener>();
  /** Connections with a write in flight (the fused transmit needs none). */
  #writing = 0;
  /** A spare write buffer, swapped with a connection's by the fused transmit. */
  #spareOut = new Uint8Array(WRITE_BUFFER);
  /** `web4_rtt_node_transmit`'s `out_conn`. */
  #transmitConn = new Uint32Array(1);

  /** @param ports What the driver lends. */
  constructor(ports: SocketsPorts) {
    this.#ports = ports;
  }

  /** Open connections. */
  get size(): number {
    return this.#conns.size;
  }

  /** Connections with a write in flight. */
  get writing(): number {
    return this.#writing;
  }

  /**
   * Refs or unrefs every listener (with the driver's keep-alive).
   *
   * @param on Whether to keep the process alive.
   */
  setRef(on: boolean): void {
    for (const l of this.#listeners) on ? l.ref() : l.unref();
  }

  /**
   * Listens and accepts inbound connections until the node is freed.
   *
   * @param hostname The host.
   * @param port The port (0 picks one).
   * @returns The bound port.
   */
  async listen(hostname: string, port: number): Promise<number> {
    const listener = await this.#ports.network.listen(hostname, port);
    if (this.#ports.freed()) {
      listener.close();
      throw new RTTDisconnectedError("SESSION_CLOSED", "The node was shut down while listening");
    }
    this.#ports.refd() ? listener.ref() : listener.unref();
    this.#listeners.add(listener);
    this.#ports.track(this.#acceptLoop(listener));
    return listener.port;
  }

  async #acceptLoop(listener: ByteListener): Promise<void> {
    const { symbols, handle, clock } = this.#ports;
    while (!this.#ports.freed() && this.#listeners.has(listener)) {
      let stream: ByteStream;
      try {
        stream = await listener.accept();
      } catch {
        if (this.#ports.freed() || !this.#listeners.has(listener)) return;
        await sleep(clock, 20);
        continue;
      }
      if (this.#ports.freed()) {
        stream.close();
        return;
      }
      const addr = utf8(remoteHost(stream));
      const id = symbols.web4_rtt_conn_accept_from(handle, clock.monotonic(), addr, addr.length);
      if (id <= 0) {
        stream.close();
        continue;
      }
      this.attach(stream, id);
      this.#ports.pump();
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
    const { symbols, handle, clock } = this.#ports;
    const fp = utf8(fingerprint);
    const id = symbols.web4_rtt_conn_connect(handle, fp, fp.length, timeoutMs, clock.monotonic());
    if (id <= 0) {
      stream.close();
      throw errorFromStatus(id, {
        operation: "connect from",
        peer: fingerprint,
        detail: lastErrorOf(symbols),
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
    const out = new Uint8Array(WRITE_BUFFER_MIN);
    const io: ConnIo = {
      id,
      stream,
      out,
      batch: out,
      batchEnd: 0,
      batchAt: 0,
      onWrite: (n) => {
        io.batchAt += n;
        if (io.batchAt < io.batchEnd) this.#writeBatch(io);
        else this.#written(io);
      },
      onWriteError: () => {
        this.#setWriting(io, false);
        this.#ended(io);
      },
      writing: false,
      more: false,
      grow: false,
      again: false,
      closing: false,
      ended: false,
    };
    this.#conns.set(id, io);
    this.#ports.track(this.#readLoop(io));
  }

  /**
   * Reconnects a dialing session to its address (the core asked to dial).
   *
   * @param session The session handle.
   * @param address Where it dials, if known (else the dial fails at once).
   */
  dial(session: bigint, address: { hostname: string; port: number } | undefined): void {
    const { symbols, handle, clock } = this.#ports;
    if (address === undefined) {
      symbols.web4_rtt_dial_failed(handle, session, clock.monotonic());
      return;
    }
    this.#ports.track(
      this.#ports.network.connect(address.hostname, address.port).then(
        (stream) => {
          if (this.#ports.freed()) {
            stream.close();
            return;
          }
          const id = symbols.web4_rtt_conn_resume(handle, session, clock.monotonic());
          if (id <= 0) {
            stream.close();
          } else {
            this.attach(stream, id);
          }
          this.#ports.pump();
        },
        () => {
          if (this.#ports.freed()) return;
          symbols.web4_rtt_dial_failed(handle, session, clock.monotonic());
          this.#ports.pump();
        },
      ),
    );
  }

  /**
   * The core closes connection `id`: its output is written first, then its
   * socket is closed (one without a socket is reported closed at once).
   *
   * @param id The connection id.
   */
  close(id: number): void {
    const io = this.#conns.get(id);
    if (io === undefined) {
      this.#ports.symbols.web4_rtt_conn_closed(
        this.#ports.handle,
        id,
        this.#ports.clock.monotonic(),
      );
      return;
    }
    io.closing = true;
    if (!io.writing) this.#startWrite(io);
  }

  /** Closes every listener and connection (the node is being freed). */
  closeAll(): void {
    for (const l of this.#listeners) {
      l.ref();
      l.close();
    }
    this.#listeners.clear();
    for (const io of [...this.#conns.values()]) this.#ended(io);
  }

  async #readLoop(io: ConnIo): Promise<void> {
    const { symbols, handle, clock } = this.#ports;
    let buf = new Uint8Array(READ_BUFFER);
    while (!io.ended) {
      let n: number | null;
      try {
        n = await io.stream.read(buf);
      } catch {
        n = null;
      }
      if (io.ended || this.#ports.freed()) return;
      if (n === null) {
        this.#ended(io);
        return;
      }
      // Bytes in and the events they caused out, in one call; the pump
      // dispatches the events already copied into the poll buffer.
      const now = clock.monotonic();
      const poll = this.#ports.pollBuf();
      const r = symbols.web4_rtt_conn_input_poll(handle, io.id, buf, 0, n, now, poll, poll.length);
      if (r < 0) {
        this.#ports.pump();
      } else {
        const flags = ((r & INPUT_TRANSMIT) !== 0 ? 2 : 0) |
          ((r & INPUT_MORE_EVENTS) !== 0 ? 1 : 0);
        this.#ports.pump(flags, r & ~(INPUT_TRANSMIT | INPUT_MORE_EVENTS), now);
      }
      // A full read: more is waiting, so read more at a time (the bytes were fed above).
      if (n === buf.length && buf.length < READ_BUFFER_MAX) buf = new Uint8Array(buf.length * 2);
    }
  }

  /**
   * Connection `id` has output (`web4_rtt_node_next_transmit` named it):
   * written, or drained into nothing when it has no socket.
   *
   * @param id The connection id.
   */
  transmit(id: number): void {
    const io = this.#conns.get(id);
    if (io !== undefined) {
      this.#startWrite(io);
    } else {
      // No socket (never attached): let the core drop the output.
      this.#discardOutput(id);
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
    const r = io.ended || this.#ports.freed() ? 0 : this.#ports.symbols.web4_rtt_conn_transmit(
      this.#ports.handle,
      io.id,
      io.out,
      io.out.length,
      this.#ports.now(),
    );
    this.#transmitted(io, r);
  }

  /**
   * Writes the batch `web4_rtt_conn_transmit` (or `node_transmit`) put in
   * `batch` (`io.out` unless a small fused batch is written from the spare).
   */
  #transmitted(io: ConnIo, r: number, batch = io.out): void {
    io.again = false;
    // Bit 30: preparing the batch queued events (WRITABLE, REKEY, a close).
    if (r > 0 && (r & TRANSMIT_EVENTS) !== 0) this.#ports.schedulePump();
    // Bit 29: more output waits after this batch (else the core already
    // ended the busy state, and new output will ask for a writer).
    io.more = r > 0 && (r & TRANSMIT_MORE_OUTPUT) !== 0;
    const n = r > 0 ? r & ~(TRANSMIT_EVENTS | TRANSMIT_MORE_OUTPUT | TRANSMIT_MORE_CONNS) : r;
    if (n <= 0) {
      this.#setWriting(io, false);
      if (io.closing) this.#ended(io);
      return;
    }
    io.grow = io.more && n === io.out.length && io.out.length < WRITE_BUFFER;
    io.batch = batch;
    io.batchAt = 0;
    io.batchEnd = n;
    this.#writeBatch(io);
  }

  /** A batch was written: transmit again only if the core has more. */
  #written(io: ConnIo): void {
    io.batch = io.out; // A lent spare goes back.
    // Grown only now: the write in flight read from the old buffer.
    if (io.grow) io.out = new Uint8Array(io.out.length * 2);
    io.grow = false;
    if (io.more || io.again || io.closing) {
      this.#writeNext(io);
    } else {
      this.#setWriting(io, false);
    }
  }

  #writeBatch(io: ConnIo): void {
    io.stream.write(io.batch.subarray(io.batchAt, io.batchEnd)).then(io.onWrite, io.onWriteError);
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
    if (this.#ports.freed()) return;
    this.#ports.connectionEnded();
    this.#ports.symbols.web4_rtt_conn_closed(
      this.#ports.handle,
      io.id,
      this.#ports.clock.monotonic(),
    );
    this.#ports.pump();
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
  transmitFused(): boolean {
    const { symbols, handle } = this.#ports;
    while (this.#writing === 0 && !this.#ports.freed()) {
      const r = symbols.web4_rtt_node_transmit(
        handle,
        this.#spareOut,
        this.#spareOut.length,
        this.#ports.now(),
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
        const n = r & ~(TRANSMIT_EVENTS | TRANSMIT_MORE_OUTPUT | TRANSMIT_MORE_CONNS);
        let batch = this.#spareOut;
        if (out.length >= this.#spareOut.length) {
          // A full-size buffer: the two are swapped, nothing copied.
          io.out = this.#spareOut;
          this.#spareOut = out;
        } else if (n <= out.length) {
          // A small batch (a handshake flight, a reply): written from the
          // spare, which stays the node's (no fused transmit runs while
          // this write is in flight, and the connection's next batch goes
          // into its own buffer), nothing copied.
        } else {
          // A batch larger than the connection's buffer: it takes the
          // spare (it grows) and the node makes a new spare.
          io.out = this.#spareOut;
          this.#spareOut = new Uint8Array(WRITE_BUFFER);
          batch = io.out;
        }
        this.#setWriting(io, true);
        this.#transmitted(io, r, batch);
      }
      if ((r & TRANSMIT_MORE_CONNS) === 0) return false;
    }
    return !this.#ports.freed();
  }

  /** Drains connection `id`'s output into nothing (it has no socket). */
  #discardOutput(id: number): void {
    const poll = this.#ports.pollBuf();
    let r: number;
    do {
      r = this.#ports.symbols.web4_rtt_conn_transmit(
        this.#ports.handle,
        id,
        poll,
        poll.length,
        0,
      );
    } while (r > 0 && (r & ~(TRANSMIT_EVENTS | TRANSMIT_MORE_OUTPUT)) > 0);
  }
}
