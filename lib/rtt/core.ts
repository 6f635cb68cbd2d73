/**
 * Internal: the state shared by a node, its sessions and its channels (the
 * native symbols and node handle, the hook dispatcher, operations waiting
 * for an event) and the wake-up path. Not exported from `mod.ts`.
 *
 * Wake-up path (see `docs/rtt.md`, "Wake-up"): when the process holds
 * unscoped `--allow-ffi`, a `Deno.UnsafeCallback.threadSafe` waker is
 * registered with the library; it is `ref()`ed only while something is
 * awaited (accept, receive, connect, flush, a blocking send), so an idle
 * node does not keep the process alive. With `--allow-ffi` scoped to the
 * library path (the project's own tasks), Deno refuses `UnsafeCallback`, so
 * the node instead loops on the nonblocking `web4_rtt_node_wait` while
 * something is awaited, and polls from an unref'd timer while idle.
 *
 * @module
 */

import { EventKind, type NativeSymbols, Status } from "./ffi.ts";
import { decodeEventRecords, type EventRecord } from "./events.ts";
import { errorFromStatus, RTTDisconnectedError } from "./errors.ts";
import { HookDispatcher } from "./hooks.ts";
import type { ResolvedRttNodeOptions } from "./options.ts";

/** The subset of native symbols the core calls (a fake can stand in for tests). */
export type CoreSymbols = NativeSymbols;

/** An operation waiting for its completion event. */
interface PendingOp {
  session: bigint;
  resolve(record: EventRecord): void;
  reject(error: Error): void;
}

/** How JavaScript learns that native events are queued. */
export type WakeMode = "callback" | "wait";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Smallest and largest event poll buffer. */
const POLL_BUFFER_MIN = 64 * 1024;
const POLL_BUFFER_MAX = 16 * 1024 * 1024;
/** Batches drained per wake-up before yielding to the event loop. */
const MAX_BATCHES_PER_DRAIN = 64;
/** Poll period while idle in `wait` mode (unref'd timer). */
const IDLE_POLL_MS = 25;
/** How long a freed node's callback stays open for a wake-up already in flight. */
const CALLBACK_CLOSE_DELAY_MS = 50;
/** Upper bound of one `web4_rtt_node_wait` call in `wait` mode. */
const WAIT_SLICE_MS = 200;

/**
 * Encodes a string as UTF-8 bytes for a `(pointer, length)` argument.
 *
 * @param s The string.
 * @returns Its bytes.
 */
export function utf8(s: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(s);
}

/** The shared internal state of one native node. */
export class NodeCore {
  /** The native symbols. */
  readonly symbols: CoreSymbols;
  /** The node handle (valid until {@linkcode free}). */
  readonly handle: bigint;
  /** The node's resolved options. */
  readonly options: ResolvedRttNodeOptions;
  /** Runs every user callback one at a time. */
  readonly dispatcher: HookDispatcher;
  /** How this node is woken. */
  readonly wakeMode: WakeMode;
  /** Called with each decoded event record. Set by the node. */
  onRecord: (record: EventRecord) => void = () => {};

  #freed = false;
  #onError: (error: unknown) => void;
  #busy = 0;
  #ops = new Map<bigint, PendingOp>();
  #pollBuf = new Uint8Array(POLL_BUFFER_MIN);
  #draining = false;
  #drainScheduled = false;
  #callback: Deno.UnsafeCallback<{ readonly parameters: []; readonly result: "void" }> | undefined;
  #idleTimer: ReturnType<typeof setInterval> | undefined;
  #waitLoop: Promise<void> | undefined;

  /**
   * Creates the core and starts the wake-up path.
   *
   * @param symbols The native symbols.
   * @param handle The node handle.
   * @param options The resolved options.
   * @param onHookError Receives what a user callback throws.
   * @param wakeMode Which wake-up path to use.
   */
  constructor(
    symbols: CoreSymbols,
    handle: bigint,
    options: ResolvedRttNodeOptions,
    onHookError: (error: unknown) => void,
    wakeMode: WakeMode,
  ) {
    this.symbols = symbols;
    this.handle = handle;
    this.options = options;
    this.dispatcher = new HookDispatcher(onHookError);
    this.#onError = onHookError;
    this.wakeMode = wakeMode;
    if (wakeMode === "callback") {
      // The callback holds the core weakly, so a forgotten node can be
      // collected (its FinalizationRegistry entry then frees it).
      const weak = new WeakRef(this);
      this.#callback = Deno.UnsafeCallback.threadSafe(
        { parameters: [], result: "void" } as const,
        () => weak.deref()?.drain(),
      );
      this.#callback.unref();
      const status = symbols.web4_rtt_node_set_waker(handle, this.#callback.pointer);
      if (status !== Status.OK) {
        this.#callback.close();
        this.#callback = undefined;
        throw errorFromStatus(status, {
          operation: "register the waker of",
          detail: this.lastError(),
        });
      }
    } else {
      const weak = new WeakRef(this);
      const timer = setInterval(() => weak.deref()?.drain(), IDLE_POLL_MS);
      Deno.unrefTimer(timer);
      this.#idleTimer = timer;
    }
    // Anything queued before the waker was registered.
    this.drain();
  }

  /** Whether {@linkcode free} ran. */
  get freed(): boolean {
    return this.#freed;
  }

  /**
   * The calling thread's last native error text.
   *
   * @returns The text, possibly empty.
   */
  lastError(): string {
    let buf = new Uint8Array(256);
    let len = Number(this.symbols.web4_rtt_last_error(buf, BigInt(buf.length)));
    if (len > buf.length) {
      buf = new Uint8Array(len);
      len = Number(this.symbols.web4_rtt_last_error(buf, BigInt(buf.length)));
    }
    return decoder.decode(buf.subarray(0, Math.min(len, buf.length)));
  }

  /**
   * Calls a native "copy JSON into my buffer, return its full length"
   * function, growing the buffer when needed.
   *
   * @param call The native call.
   * @returns The parsed object, or the negative status.
   */
  readJson(
    call: (buf: Uint8Array<ArrayBuffer>, cap: bigint) => number | bigint,
  ): Record<string, unknown> | number {
    let buf = new Uint8Array(1024);
    let len = Number(call(buf, BigInt(buf.length)));
    if (len > buf.length) {
      buf = new Uint8Array(len);
      len = Number(call(buf, BigInt(buf.length)));
    }
    if (len < 0) return len;
    const parsed = JSON.parse(decoder.decode(buf.subarray(0, Math.min(len, buf.length))));
    return parsed !== null && typeof parsed === "object" ? parsed : {};
  }

  /**
   * Marks that something is awaited (keeps the process alive and the wake-up
   * path active) until the returned function is called.
   *
   * @returns Releases the hold (safe to call twice).
   */
  hold(): () => void {
    if (this.#freed) return () => {};
    this.#busy++;
    if (this.#busy === 1) {
      // While something is awaited the owning node must stay reachable, or
      // its FinalizationRegistry entry could free the native node under the
      // wait (the awaiting code may hold only a promise).
      this.#pinned = this.ownerRef?.deref();
      this.#activate();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#busy--;
      if (this.#busy === 0) {
        this.#pinned = undefined;
        this.#deactivate();
      }
    };
  }

  /** The owning node, set by it; pinned strongly while something is awaited. */
  ownerRef: WeakRef<object> | undefined;
  #pinned: object | undefined;

  #activate(): void {
    if (this.#freed) return;
    // Never drain synchronously here: the caller of hold() registers what it
    // waits for (an op, a waiter) right after, and must see the event.
    if (this.#callback !== undefined) {
      this.#callback.ref();
      queueMicrotask(() => this.drain());
    } else if (this.#waitLoop === undefined) {
      this.#waitLoop = Promise.resolve().then(() => this.#runWaitLoop()).finally(() => {
        this.#waitLoop = undefined;
        if (this.#busy > 0 && !this.#freed) this.#activate();
      });
    }
  }

  #deactivate(): void {
    this.#callback?.unref();
  }

  async #runWaitLoop(): Promise<void> {
    while (this.#busy > 0 && !this.#freed) {
      this.drain();
      if (this.#busy === 0 || this.#freed) break;
      const status = await this.symbols.web4_rtt_node_wait(this.handle, WAIT_SLICE_MS);
      if (this.#freed) break;
      if (status < 0) {
        // The node is gone or broken; poll from timers from now on.
        await new Promise((r) => setTimeout(r, IDLE_POLL_MS));
      }
    }
  }

  /**
   * Copies queued events out of the library in batches and dispatches them.
   * Re-entrant calls are ignored; a long backlog continues in a later task.
   */
  drain(): void {
    if (this.#draining || this.#freed) return;
    this.#draining = true;
    try {
      for (let batch = 0; batch < MAX_BATCHES_PER_DRAIN; batch++) {
        const n = Number(
          this.symbols.web4_rtt_node_poll(
            this.handle,
            this.#pollBuf,
            BigInt(this.#pollBuf.length),
          ),
        );
        if (n === 0) return;
        if (n === Status.BUFFER_TOO_SMALL && this.#pollBuf.length < POLL_BUFFER_MAX) {
          this.#pollBuf = new Uint8Array(this.#pollBuf.length * 2);
          continue;
        }
        if (n < 0) return;
        let records: EventRecord[];
        try {
          records = decodeEventRecords(this.#pollBuf, n);
        } catch (error) {
          // A malformed batch (a library bug) is reported, never thrown into
          // a timer or an FFI callback, where it would end the process.
          this.#onError(error);
          continue;
        }
        for (const record of records) {
          try {
            this.onRecord(record);
          } catch (error) {
            this.#onError(error);
          }
        }
        if (this.#freed) return;
      }
      // More is queued: come back after other tasks had their turn.
      if (!this.#drainScheduled) {
        this.#drainScheduled = true;
        setTimeout(() => {
          this.#drainScheduled = false;
          this.drain();
        }, 0);
      }
    } finally {
      this.#draining = false;
    }
  }

  /**
   * Waits for the completion event of operation `op`.
   *
   * @param op The operation id the library returned.
   * @param session The session it belongs to (0n for connects).
   * @returns The completion record (CONNECTED, FLUSHED, ...).
   */
  waitOp(op: bigint, session: bigint): Promise<EventRecord> {
    let release: () => void = () => {};
    const promise = new Promise<EventRecord>((resolve, reject) => {
      this.#ops.set(op, {
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
   * Completes operation `record.op`, if one waits.
   *
   * @param record The completion record.
   * @returns The pending operation's callbacks, removed from the table.
   */
  takeOp(record: EventRecord): PendingOp | undefined {
    const op = this.#ops.get(record.op);
    if (op !== undefined) this.#ops.delete(record.op);
    return op;
  }

  /**
   * Rejects every operation of `session` (or of every session, for `undefined`).
   *
   * @param session The session handle, or `undefined` for all.
   * @param error Makes the error for each.
   */
  failOps(session: bigint | undefined, error: () => Error): void {
    for (const [id, op] of [...this.#ops]) {
      if (session !== undefined && op.session !== session) continue;
      this.#ops.delete(id);
      op.reject(error());
    }
  }

  /**
   * Frees the native node (blocking up to `deadlineMs`) and closes the
   * wake-up path. Safe to call twice; a second call resolves once the first
   * has finished.
   *
   * In `callback` mode the library may answer `WOULD_BLOCK` while a wake-up
   * it started is still queued for this thread (running it needs this
   * thread, so the library cannot wait for it): everything else is already
   * shut down, and the call is repeated after a turn of the event loop until
   * it succeeds. Only then is the callback closed.
   *
   * @param deadlineMs How long the library may spend flushing.
   * @returns A promise that resolves once the native node is gone.
   */
  free(deadlineMs: number): Promise<void> {
    if (this.#freeing !== undefined) return this.#freeing;
    // Last events before the handle goes away.
    this.drain();
    this.#freed = true;
    this.#freeing = this.#freeNative(deadlineMs);
    return this.#freeing;
  }

  #freeing: Promise<void> | undefined;

  async #freeNative(deadlineMs: number): Promise<void> {
    if (this.#idleTimer !== undefined) clearInterval(this.#idleTimer);
    this.failOps(
      undefined,
      () =>
        new RTTDisconnectedError(
          "SESSION_CLOSED",
          "The node was shut down before the operation completed",
          { reason: "shutdown" },
        ),
    );
    let status = this.symbols.web4_rtt_node_free(this.handle, deadlineMs);
    for (let tries = 0; status === Status.WOULD_BLOCK && tries < FREE_RETRY_LIMIT; tries++) {
      // Let the queued wake-up run (drain() sees #freed and returns at once).
      await new Promise((resolve) => setTimeout(resolve, 1));
      status = this.symbols.web4_rtt_node_free(this.handle, 0);
    }
    const callback = this.#callback;
    this.#callback = undefined;
    if (callback !== undefined) {
      callback.unref();
      if (status === Status.WOULD_BLOCK) {
        // The wake-up never ran: closing the callback under it would crash.
        // Leave it open; it is unref'd, so the process can still exit.
        return;
      }
      // A wake-up may still sit in Deno's callback queue: close after it.
      setTimeout(() => callback.close(), CALLBACK_CLOSE_DELAY_MS);
    }
  }
}

/** How many times {@linkcode NodeCore.free} repeats a `WOULD_BLOCK` answer. */
const FREE_RETRY_LIMIT = 5000;

/** Event kinds that complete an operation waiting in {@linkcode NodeCore.waitOp}. */
export const OP_EVENT_KINDS: ReadonlySet<number> = new Set([
  EventKind.CONNECTED,
  EventKind.CONNECT_FAILED,
  EventKind.FLUSHED,
  EventKind.FLUSH_FAILED,
]);
