/**
 * The transport contract shared by every backend: the `Transport`,
 * `TransportSession` and `TransportChannel` interfaces, the session state,
 * one typed `TransportEvent` union, the typed errors, statistics, lifecycle
 * hooks and the registry of backends by name. It imports no backend;
 * `rtt` (native, Deno TCP) and `memory` (the same native core over
 * in-process pipes) register themselves.
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
  TransportEvent,
  TransportFactory,
  TransportObserver,
  TransportOptions,
  TransportReceiveOptions,
  TransportSession,
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
export {
  createTransport,
  registerTransport,
  transportNames,
  unregisterTransport,
} from "./registry.ts";
