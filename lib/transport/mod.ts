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

export * from "./types.ts";
export * from "./errors.ts";
export type { TransportMetrics, TransportStats } from "./stats.ts";
export type { SessionEventType, SessionHook, SessionHookEvent } from "./hooks.ts";
export {
  createTransport,
  registerTransport,
  transportNames,
  unregisterTransport,
} from "./registry.ts";
