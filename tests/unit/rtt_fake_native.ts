/**
 * Test helper: a scripted stand-in for the native `web4_rtt` symbols, so the
 * TypeScript side of the binding (event dispatch, hooks, receive credit,
 * blocking sends, flush, shutdown) can be tested without the library. It
 * follows the ABI of docs/rtt.md: the test pushes event records and inbound
 * messages, the fake answers calls and records them.
 *
 * @module
 */

import type { CoreSymbols } from "../../lib/rtt/core.ts";
import { encodeEventRecords, type EventRecord } from "../../lib/rtt/events.ts";
import { EventKind, Status } from "../../lib/rtt/ffi.ts";

/** One fake channel. */
export interface FakeChannel {
  kind: string;
  policy: string;
  /** Messages waiting for `recv` (inbound). */
  inbound: Uint8Array[];
  /** Messages in the fake send queue (outbound). */
  sent: Uint8Array[];
  /** Every message ever accepted, in order. */
  accepted: Uint8Array[];
  /** Outbound capacity before WOULD_BLOCK / QUEUE_FULL. */
  capacity: number;
  peerClosed: boolean;
  localClosed: boolean;
  /** Pending blocking sends. */
  blocked: { data: Uint8Array; resolve: (status: number) => void }[];
}

/** One fake session. */
export interface FakeSession {
  channels: Map<number, FakeChannel>;
  closed: boolean;
  released: boolean;
}

/** The fake and its controls. */
export class FakeNative {
  events: EventRecord[] = [];
  calls: string[] = [];
  config: Record<string, unknown> | undefined;
  sessions = new Map<bigint, FakeSession>();
  nextOp = 100n;
  freed = 0;
  waits = 0;
  recvCalls = 0;
  lastError = "";
  /** When set, the next `node_poll` returns these bytes as they are (malformed on purpose). */
  rawPoll: Uint8Array | undefined;
  /** When set, `channel_flush` queues FLUSHED inside the call (nothing outstanding). */
  flushImmediately = false;
  #waiters: (() => void)[] = [];

  /** Queues an event record and wakes `node_wait`. */
  push(kind: number, fields: Partial<Omit<EventRecord, "kind">> = {}): void {
    this.events.push({
      kind,
      session: fields.session ?? 0n,
      op: fields.op ?? 0n,
      value: fields.value ?? 0n,
      payload: fields.payload,
    });
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Adds a session known to the fake (as ACCEPTED/CONNECTED would). */
  addSession(handle: bigint): FakeSession {
    const s: FakeSession = { channels: new Map(), closed: false, released: false };
    this.sessions.set(handle, s);
    return s;
  }

  /** A channel of a session by kind. */
  channel(session: bigint, kind: string): FakeChannel {
    for (const c of this.sessions.get(session)!.channels.values()) if (c.kind === kind) return c;
    throw new Error(`No fake channel ${kind}`);
  }

  /** Frees room in a channel: completes the oldest blocked send. */
  unblock(session: bigint, kind: string, status: number = Status.OK): void {
    const c = this.channel(session, kind);
    const b = c.blocked.shift();
    if (b === undefined) throw new Error("Nothing blocked");
    if (status === Status.OK) {
      c.sent.push(b.data.slice());
      c.accepted.push(b.data.slice());
    }
    b.resolve(status);
  }

  /** The symbols object. */
  symbols(): CoreSymbols {
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    const json = (buf: Uint8Array, len: bigint) =>
      JSON.parse(dec.decode((buf as Uint8Array).subarray(0, Number(len))));
    const copyOut = (s: string, buf: Uint8Array, cap: bigint) => {
      const b = enc.encode(s);
      buf.set(b.subarray(0, Math.min(b.length, Number(cap))));
      return b.length;
    };
    const fns = {
      web4_rtt_abi_version: () => 2,
      web4_rtt_version: (buf: Uint8Array, cap: bigint) => BigInt(copyOut("fake", buf, cap)),
      web4_rtt_last_error: (buf: Uint8Array, cap: bigint) =>
        BigInt(copyOut(this.lastError, buf, cap)),
      web4_rtt_key_fingerprint: () => Status.OK,
      web4_rtt_node_create: (buf: Uint8Array, len: bigint, out: BigUint64Array) => {
        this.config = json(buf, len);
        out[0] = 1n;
        return Status.OK;
      },
      web4_rtt_node_free: () => {
        this.freed++;
        for (const w of this.#waiters.splice(0)) w();
        return this.freed === 1 ? Status.OK : Status.UNKNOWN_HANDLE;
      },
      web4_rtt_node_listen: (
        _n: bigint,
        host: Uint8Array,
        len: bigint,
        port: number,
        out: Uint16Array,
      ) => {
        this.calls.push(`listen ${dec.decode(host.subarray(0, Number(len)))}:${port}`);
        out[0] = port === 0 ? 40000 : port;
        return Status.OK;
      },
      web4_rtt_node_connect: (_n: bigint, buf: Uint8Array, len: bigint, out: BigUint64Array) => {
        const j = json(buf, len);
        this.calls.push(`connect ${j.host}:${j.port} ${j.fingerprint} ${j.timeout_ms}`);
        out[0] = this.nextOp++;
        return Status.OK;
      },
      web4_rtt_node_cancel: (_n: bigint, op: bigint) => {
        this.calls.push(`cancel ${op}`);
        this.push(EventKind.CONNECT_FAILED, {
          op,
          payload: { code: "CANCELLED", message: "cancelled" },
        });
        return Status.OK;
      },
      web4_rtt_node_set_waker: () => Status.OK,
      web4_rtt_node_wait: (_n: bigint, timeout: number) => {
        this.waits++;
        if (this.events.length > 0 || this.freed > 0) return Promise.resolve(1);
        return new Promise<number>((resolve) => {
          const t = setTimeout(() => {
            const i = this.#waiters.indexOf(wake);
            if (i >= 0) this.#waiters.splice(i, 1);
            resolve(0);
          }, timeout);
          const wake = () => {
            clearTimeout(t);
            resolve(1);
          };
          this.#waiters.push(wake);
        });
      },
      web4_rtt_node_poll: (_n: bigint, buf: Uint8Array, cap: bigint) => {
        if (this.rawPoll !== undefined) {
          const raw = this.rawPoll;
          this.rawPoll = undefined;
          buf.set(raw);
          return BigInt(raw.length);
        }
        let n = 0;
        let bytes = new Uint8Array(0);
        while (n < this.events.length) {
          const next = encodeEventRecords(this.events.slice(0, n + 1));
          if (next.length > Number(cap)) break;
          bytes = next;
          n++;
        }
        if (n === 0 && this.events.length > 0) return BigInt(Status.BUFFER_TOO_SMALL);
        this.events.splice(0, n);
        buf.set(bytes);
        return BigInt(bytes.length);
      },
      web4_rtt_node_metrics: (_n: bigint, buf: Uint8Array, cap: bigint) =>
        BigInt(copyOut(JSON.stringify({ sessions: this.sessions.size, bytes_in: 7 }), buf, cap)),
      web4_rtt_session_info: () => 0n,
      web4_rtt_session_stats: (s: bigint, buf: Uint8Array, cap: bigint) => {
        const fs = this.sessions.get(s);
        if (fs === undefined || fs.released) return BigInt(Status.UNKNOWN_HANDLE);
        let sent = 0;
        for (const c of fs.channels.values()) sent += c.sent.length;
        return BigInt(copyOut(JSON.stringify({ messages_out: sent, attempted: sent }), buf, cap));
      },
      web4_rtt_session_open_channel: (
        s: bigint,
        buf: Uint8Array,
        len: bigint,
        out: Uint32Array,
      ) => {
        const fs = this.sessions.get(s);
        if (fs === undefined || fs.released) return Status.UNKNOWN_HANDLE;
        if (fs.closed) return Status.SESSION_CLOSED;
        const j = json(buf, len);
        for (const [id, c] of fs.channels) {
          if (c.kind === j.kind) {
            out[0] = id;
            return Status.OK;
          }
        }
        if (fs.channels.size >= Number(this.config?.["max_channels"] ?? 64)) {
          this.lastError = "limit reached";
          return Status.TOO_MANY_CHANNELS;
        }
        const id = fs.channels.size + 1;
        fs.channels.set(id, {
          kind: j.kind,
          policy: j.backpressure_policy ?? String(this.config?.["backpressure_policy"]),
          inbound: [],
          sent: [],
          accepted: [],
          capacity: Number(j.max_queue ?? this.config?.["max_queue"] ?? 1024),
          peerClosed: false,
          localClosed: false,
          blocked: [],
        });
        out[0] = id;
        return Status.OK;
      },
      web4_rtt_session_close: (s: bigint) => {
        const fs = this.sessions.get(s);
        if (fs === undefined || fs.closed) return Status.SESSION_CLOSED;
        fs.closed = true;
        this.calls.push(`close ${s}`);
        this.push(EventKind.SESSION_CLOSE, { session: s, payload: { reason: "manual" } });
        return Status.OK;
      },
      web4_rtt_session_release: (s: bigint) => {
        const fs = this.sessions.get(s);
        if (fs === undefined) return Status.UNKNOWN_HANDLE;
        fs.released = true;
        this.calls.push(`release ${s}`);
        return Status.OK;
      },
      web4_rtt_channel_send: (s: bigint, ch: number, data: Uint8Array) => {
        const fs = this.sessions.get(s);
        if (fs === undefined || fs.released) return Status.UNKNOWN_HANDLE;
        if (fs.closed) return Status.SESSION_CLOSED;
        const c = fs.channels.get(ch)!;
        if (c.localClosed) return Status.CHANNEL_CLOSED;
        if (c.sent.length >= c.capacity || c.blocked.length > 0) {
          if (c.policy === "block") return Status.WOULD_BLOCK;
          if (c.policy === "error") return Status.QUEUE_FULL;
          if (c.policy === "drop_newest") return Status.OK;
          c.sent.shift();
        }
        c.sent.push(data.slice());
        c.accepted.push(data.slice());
        return Status.OK;
      },
      web4_rtt_channel_send_blocking: (s: bigint, ch: number, data: Uint8Array) => {
        const c = this.sessions.get(s)!.channels.get(ch)!;
        return new Promise<number>((resolve) => c.blocked.push({ data, resolve }));
      },
      web4_rtt_channel_recv: (
        s: bigint,
        ch: number,
        buf: Uint8Array,
        cap: bigint,
        needed: BigUint64Array,
      ) => {
        this.recvCalls++;
        const fs = this.sessions.get(s);
        if (fs === undefined || fs.released) return BigInt(Status.UNKNOWN_HANDLE);
        const c = fs.channels.get(ch)!;
        let at = 0;
        const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
        while (c.inbound.length > 0) {
          const m = c.inbound[0]!;
          if (at + 4 + m.length > Number(cap)) {
            if (at === 0) needed[0] = BigInt(m.length + 4);
            break;
          }
          view.setUint32(at, m.length, true);
          buf.set(m, at + 4);
          at += 4 + m.length;
          c.inbound.shift();
        }
        if (at === 0 && c.inbound.length === 0 && c.peerClosed) {
          return BigInt(Status.CHANNEL_CLOSED);
        }
        return BigInt(at);
      },
      web4_rtt_channel_flush: (s: bigint, _ch: number, out: BigUint64Array) => {
        out[0] = this.nextOp++;
        if (this.flushImmediately) this.push(EventKind.FLUSHED, { session: s, op: out[0] });
        return Status.OK;
      },
      web4_rtt_channel_stats: (s: bigint, ch: number, buf: Uint8Array, cap: bigint) => {
        const fs = this.sessions.get(s);
        if (fs === undefined || fs.released) return BigInt(Status.UNKNOWN_HANDLE);
        const c = fs.channels.get(ch)!;
        return BigInt(
          copyOut(
            JSON.stringify({ enqueued: c.sent.length, max_queue_len: c.sent.length }),
            buf,
            cap,
          ),
        );
      },
      web4_rtt_channel_close: (s: bigint, ch: number) => {
        const c = this.sessions.get(s)!.channels.get(ch)!;
        c.localClosed = true;
        return Status.OK;
      },
      web4_rtt_test_inject: () => Status.INVALID_ARGUMENT,
    };
    return fns as unknown as CoreSymbols;
  }
}
