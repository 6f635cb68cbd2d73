/**
 * A transport wrapped for attack tests: a real transport whose sessions'
 * reads or budgets the test changes (a peer that stops reading, a
 * transport that ignores receive budgets), everything else passed through.
 *
 * @module
 */

import type {
  Transport,
  TransportChannel,
  TransportReceiveOptions,
  TransportSession,
  TransportSessionBudget,
} from "../../lib/transport/mod.ts";

/** What the wrapper changes. */
export interface WrapOptions {
  /** Once set, `receive()` never returns a message again (it returns `null` when the session closes). */
  deaf?: { on: boolean };
  /** Sessions ignore `setBudget` (a transport without receive budgets). */
  ignoreBudgets?: boolean;
}

/**
 * Wraps a transport.
 *
 * @param inner The real transport.
 * @param options What to change.
 * @returns The wrapped transport (shutting it down shuts the real one down).
 */
export function wrapTransport(inner: Transport, options: WrapOptions): Transport {
  const never = (session: TransportSession) =>
    new Promise<null>((resolve) => {
      session.onSessionClose(() => resolve(null));
    });
  const channel = (session: TransportSession, ch: TransportChannel): TransportChannel => ({
    kind: ch.kind,
    send: (d) => ch.send(d),
    flush: () => ch.flush(),
    receive: (o?: TransportReceiveOptions) =>
      options.deaf?.on === true ? never(session) : ch.receive(o),
    close: () => ch.close(),
    stats: () => ch.stats(),
    [Symbol.asyncIterator]: () => ch[Symbol.asyncIterator](),
  });
  const wrap = (s: TransportSession): TransportSession => ({
    get id() {
      return s.id;
    },
    get peerFingerprint() {
      return s.peerFingerprint;
    },
    get state() {
      return s.state;
    },
    get closeReason() {
      return s.closeReason;
    },
    openChannel: async (kind, o) => channel(s, await s.openChannel(kind, o)),
    close: (o) => s.close(o),
    stats: () => s.stats(),
    setBudget: (b: TransportSessionBudget) => {
      if (options.ignoreBudgets !== true) s.setBudget(b);
    },
    onSessionOpen: (fn) => s.onSessionOpen(fn),
    onSessionClose: (fn) => s.onSessionClose(fn),
    onHeartbeatTimeout: (fn) => s.onHeartbeatTimeout(fn),
    offSessionOpen: (fn) => s.offSessionOpen(fn),
    offSessionClose: (fn) => s.offSessionClose(fn),
    offHeartbeatTimeout: (fn) => s.offHeartbeatTimeout(fn),
    clearSessionHooks: () => s.clearSessionHooks(),
    [Symbol.asyncDispose]: () => s[Symbol.asyncDispose](),
  });
  return {
    backend: inner.backend,
    fingerprint: inner.fingerprint,
    listen: (a) => inner.listen(a),
    connect: async (o) => wrap(await inner.connect(o)),
    accept: async (o) => wrap(await inner.accept(o)),
    onEvent: (fn) => inner.onEvent(fn),
    metrics: () => inner.metrics(),
    shutdown: (o) => inner.shutdown(o),
    [Symbol.asyncDispose]: () => inner[Symbol.asyncDispose](),
  };
}
