/**
 * The person's console as a transport session. The page signs HCP
 * envelopes in the browser and posts them; the {@linkcode ConsoleBridge}
 * feeds them to the agent through a {@linkcode TransportSession} whose
 * authenticated fingerprint is the enrolled person's (authenticated by the
 * console's token), so the agent's router verifies them like any envelope
 * and binds their sender to the person. What the agent sends on that session
 * goes to the page's event stream.
 *
 * {@linkcode withConsole} wraps a transport (RTT) so that `accept()` also
 * yields the console's session: `web4 serve` makes the agent's transport,
 * wraps it, and passes the wrapper to `Agent.create({ transport })` (an
 * instance: the CLI shuts it down after the agent stopped).
 *
 * @module
 */

import type {
  SessionHook,
  Transport,
  TransportAcceptOptions,
  TransportAddress,
  TransportChannel,
  TransportConnectOptions,
  TransportMetrics,
  TransportObserver,
  TransportReceiveOptions,
  TransportSession,
  TransportSessionBudget,
  TransportSessionState,
  TransportShutdownOptions,
  TransportStats,
} from "../../lib/transport/mod.ts";

function _zeroStats(): TransportStats {
  return {
    attempted: 0,
    enqueued: 0,
    droppedOldest: 0,
    droppedNewest: 0,
    dropped: 0,
    blocked: 0,
    errors: 0,
    overflowEvents: 0,
    maxQueueLen: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    reconnects: 0,
    replays: 0,
    rekeys: 0,
    verificationFailures: 0,
    latencyP50Us: 0,
    latencyP95Us: 0,
    receiveBytesHeld: 0,
  };
}

/** One channel of the console session: inbound from the page, outbound to its stream. */
class _ConsoleChannel implements TransportChannel {
  readonly kind: string;
  readonly #session: ConsoleSession;
  readonly #inbox: Uint8Array[] = [];
  readonly #readers: ((m: Uint8Array | null) => void)[] = [];
  readonly #stats = _zeroStats();
  #closed = false;

  constructor(kind: string, session: ConsoleSession) {
    this.kind = kind;
    this.#session = session;
  }

  push(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#stats.messagesIn += 1;
    this.#stats.bytesIn += bytes.length;
    const reader = this.#readers.shift();
    if (reader !== undefined) reader(bytes);
    else this.#inbox.push(bytes);
  }

  // deno-lint-ignore require-await
  async send(data: Uint8Array): Promise<void> {
    if (this.#closed || this.#session.state === "closed") throw new Error("Console session closed");
    this.#stats.attempted += 1;
    this.#stats.messagesOut += 1;
    this.#stats.bytesOut += data.length;
    this.#session.deliver(this.kind, data);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  receive(options: TransportReceiveOptions = {}): Promise<Uint8Array | null> {
    const next = this.#inbox.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#readers.push(resolve);
      options.signal?.addEventListener("abort", () => resolve(null), { once: true });
    });
  }

  // deno-lint-ignore require-await
  async close(): Promise<void> {
    this.#closed = true;
    for (const r of this.#readers.splice(0)) r(null);
  }

  stats(): TransportStats {
    return { ...this.#stats };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const m = await this.receive();
      if (m === null) return;
      yield m;
    }
  }
}

/** The console's session with the agent, authenticated as the enrolled person. */
export class ConsoleSession implements TransportSession {
  /** The session id (`console-N`). */
  readonly id: string;
  /** The enrolled person's fingerprint. */
  readonly peerFingerprint: string;
  readonly #channels = new Map<string, _ConsoleChannel>();
  readonly #out: (channel: string, bytes: Uint8Array) => void;
  readonly #closeHooks = new Set<SessionHook>();
  #state: TransportSessionState = "open";
  #closeReason: string | undefined;

  /**
   * Creates the session.
   *
   * @param id The session id.
   * @param person The enrolled person's fingerprint.
   * @param out Where the agent's messages go (the page's stream).
   */
  constructor(id: string, person: string, out: (channel: string, bytes: Uint8Array) => void) {
    this.id = id;
    this.peerFingerprint = person;
    this.#out = out;
  }

  /** `open` or `closed`. */
  get state(): TransportSessionState {
    return this.#state;
  }

  /** Why it closed. */
  get closeReason(): string | undefined {
    return this.#closeReason;
  }

  /**
   * Feeds one message from the page to the agent.
   *
   * @param channel The channel kind (`control`, `state`, `knowledge`).
   * @param bytes The envelope's bytes, as the page signed them.
   * @returns Whether the channel is open.
   */
  push(channel: string, bytes: Uint8Array): boolean {
    if (this.#state === "closed") return false;
    // Made on first use, so a message posted before the agent opened the
    // channel waits in it rather than being lost.
    this.#channel(channel).push(bytes);
    return true;
  }

  #channel(kind: string): _ConsoleChannel {
    let ch = this.#channels.get(kind);
    if (ch === undefined) this.#channels.set(kind, ch = new _ConsoleChannel(kind, this));
    return ch;
  }

  /**
   * Sends one of the agent's messages to the page.
   *
   * @param channel The channel kind.
   * @param bytes The bytes.
   */
  deliver(channel: string, bytes: Uint8Array): void {
    this.#out(channel, bytes);
  }

  /** {@inheritDoc TransportSession.openChannel} */
  // deno-lint-ignore require-await
  async openChannel(kind: string): Promise<TransportChannel> {
    return this.#channel(kind);
  }

  /** {@inheritDoc TransportSession.close} */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#closeReason ??= "manual";
    await Promise.all([...this.#channels.values()].map((c) => c.close()));
    for (const fn of this.#closeHooks) {
      try {
        fn({ sessionId: this.id, reason: this.#closeReason });
      } catch { /* a hook cannot break closing */ }
    }
  }

  /** {@inheritDoc TransportSession.stats} */
  stats(): TransportStats {
    const s = _zeroStats();
    for (const ch of this.#channels.values()) {
      const c = ch.stats();
      for (const k of Object.keys(s) as (keyof TransportStats)[]) {
        if (!k.startsWith("latency")) s[k] += c[k];
      }
    }
    return s;
  }

  /**
   * Has no effect: the console session is the enrolled person's, in
   * process, and holds only what the page posted (bounded by the console's
   * own request limits); it is never evicted.
   */
  setBudget(_budget: TransportSessionBudget): void {}

  /** Not used by the console session (it opens once). */
  onSessionOpen(_fn: SessionHook): () => void {
    return () => {};
  }
  /** Called when the session closes. */
  onSessionClose(fn: SessionHook): () => void {
    this.#closeHooks.add(fn);
    return () => this.#closeHooks.delete(fn);
  }
  /** The console session has no heartbeat. */
  onHeartbeatTimeout(_fn: SessionHook): () => void {
    return () => {};
  }
  /** Nothing to remove. */
  offSessionOpen(_fn: SessionHook): void {}
  /** Removes a close hook. */
  offSessionClose(fn: SessionHook): void {
    this.#closeHooks.delete(fn);
  }
  /** Nothing to remove. */
  offHeartbeatTimeout(_fn: SessionHook): void {}
  /** Removes every hook. */
  clearSessionHooks(): void {
    this.#closeHooks.clear();
  }
  /** Same as {@linkcode ConsoleSession.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Hands console sessions to the agent's accept loop and forwards what the
 * agent sends on them to listeners (the page's event streams).
 */
export class ConsoleBridge {
  readonly #pending: ConsoleSession[] = [];
  readonly #acceptors: ((s: ConsoleSession) => void)[] = [];
  readonly #listeners = new Set<(channel: string, bytes: Uint8Array) => void>();
  #session: ConsoleSession | undefined;
  #count = 0;

  /**
   * The open console session for `person`, made (and handed to the agent)
   * when there is none.
   *
   * @param person The enrolled person's fingerprint.
   * @returns The session.
   */
  sessionFor(person: string): ConsoleSession {
    const current = this.#session;
    if (current !== undefined && current.state !== "closed" && current.peerFingerprint === person) {
      return current;
    }
    if (current !== undefined) void current.close();
    const session = new ConsoleSession(
      `console-${++this.#count}`,
      person,
      (channel, bytes) => {
        for (const fn of this.#listeners) fn(channel, bytes);
      },
    );
    this.#session = session;
    const acceptor = this.#acceptors.shift();
    if (acceptor !== undefined) acceptor(session);
    else this.#pending.push(session);
    return session;
  }

  /** Forgets the current session (the agent restarted; the next post makes a new one). */
  reset(): void {
    this.#session = undefined;
    this.#pending.length = 0;
  }

  /**
   * Listens to what the agent sends to the console.
   *
   * @param fn The listener.
   * @returns Its unregister function.
   */
  onMessage(fn: (channel: string, bytes: Uint8Array) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * The next console session (for the wrapped transport's accept).
   *
   * @param signal Aborts the wait.
   * @returns The session.
   */
  next(signal?: AbortSignal): Promise<ConsoleSession> {
    const ready = this.#pending.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const fn = (s: ConsoleSession) => resolve(s);
      this.#acceptors.push(fn);
      signal?.addEventListener("abort", () => {
        const i = this.#acceptors.indexOf(fn);
        if (i >= 0) this.#acceptors.splice(i, 1);
        reject(signal.reason ?? new Error("aborted"));
      }, { once: true });
    });
  }
}

/**
 * Wraps a transport so that its `accept()` also yields the console's
 * sessions; everything else goes to `inner`, and shutting the wrapper down
 * stops its pending accepts and shuts `inner` down.
 *
 * @param inner The transport (RTT).
 * @param bridge The console bridge.
 * @returns The wrapped transport (same fingerprint as `inner`).
 */
export function withConsole(inner: Transport, bridge: ConsoleBridge): Transport {
  const stop = new AbortController();
  return {
    get backend() {
      return `${inner.backend}+console`;
    },
    get fingerprint() {
      return inner.fingerprint;
    },
    listen: (address: TransportAddress) => inner.listen(address),
    connect: (options: TransportConnectOptions) => inner.connect(options),
    async accept(options: TransportAcceptOptions = {}): Promise<TransportSession> {
      const local = new AbortController();
      const abort = () => local.abort();
      options.signal?.addEventListener("abort", abort, { once: true });
      stop.signal.addEventListener("abort", abort, { once: true });
      try {
        return await Promise.race([
          inner.accept({ signal: local.signal }),
          bridge.next(local.signal),
        ]);
      } finally {
        local.abort();
        options.signal?.removeEventListener("abort", abort);
        stop.signal.removeEventListener("abort", abort);
      }
    },
    onEvent: (fn: TransportObserver) => inner.onEvent(fn),
    metrics: (): TransportMetrics => inner.metrics(),
    async shutdown(options?: TransportShutdownOptions): Promise<void> {
      stop.abort();
      await inner.shutdown(options);
    },
    [Symbol.asyncDispose]() {
      return this.shutdown();
    },
  };
}
