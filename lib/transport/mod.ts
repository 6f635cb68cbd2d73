/**
 * The transport contract shared by every backend: the `Transport`,
 * `TransportSession` and `TransportChannel` interfaces, the session state,
 * one typed `TransportEvent` union, the typed errors, statistics, lifecycle
 * hooks, and how a user gets its transport: a {@linkcode TransportSource}
 * (an instance or a typed {@linkcode TransportFactory}) resolved by
 * {@linkcode resolveTransport}. It imports no backend; `lib/rtt/` exports
 * the factories of its two, `rtt(options)` (native, Deno TCP) and
 * `memory(options)` (the same native core over in-process pipes).
 *
 * @module
 */

export type {
  BackpressurePolicy,
  Transport,
  TransportAcceptOptions,
  TransportAddress,
  TransportChannel,
  TransportChannelOptions,
  TransportConnectOptions,
  TransportContext,
  TransportEvent,
  TransportFactory,
  TransportIdentity,
  TransportObserver,
  TransportReceiveOptions,
  TransportSession,
  TransportSessionBudget,
  TransportSessionCloseOptions,
  TransportSessionEventBase,
  TransportSessionState,
  TransportShutdownOptions,
} from "./types.ts";
export {
  RTTBackpressureError,
  type RTTBackpressureErrorCode,
  RTTDisconnectedError,
  type RTTDisconnectedErrorCode,
  type RTTDisconnectedErrorOptions,
  type RttErrorOptions,
  RTTHandshakeError,
  type RTTHandshakeErrorCode,
  RTTReplayError,
  type RTTReplayErrorOptions,
  RTTTransportError,
  type RTTTransportErrorCode,
} from "./errors.ts";
export type { TransportMetrics, TransportStats } from "./stats.ts";
export type { SessionEventType, SessionHook, SessionHookEvent } from "./hooks.ts";
export { type ResolvedTransport, resolveTransport, type TransportSource } from "./source.ts";
