/**
 * RTT, the Rust Transport Tunnel, seen from TypeScript: nodes, sessions and
 * channels over the native library (loaded lazily, on the first
 * `RttNode.create`; nothing here touches FFI at import time), their typed
 * errors, the permission-scoped networking check, and the
 * transport-agnostic facade with its `rtt` and `memory` backends.
 *
 * @example A session on loopback
 * ```ts ignore
 * import { Identity, RttNode } from "@web4/runtime";
 *
 * const server = await RttNode.create({ identity: await Identity.generate() });
 * const { port } = await server.listen({ hostname: "127.0.0.1", port: 0 });
 * // ... a peer connects with { hostname: "127.0.0.1", port, fingerprint: server.fingerprint }
 * const session = await server.accept();
 * const state = await session.openChannel("state");
 * for await (const msg of state) console.log(msg.length);
 * await server.shutdown();
 * ```
 *
 * @module
 */

export {
  LIBRARY_ENV_VAR,
  libraryFileName,
  NativeLibraryError,
  type NativeLibraryInfo,
  nativeLibraryInfo,
  resolveLibraryPath,
} from "./native.ts";
export { EXPECTED_ABI_VERSION } from "./ffi.ts";
export { assertNetPermission } from "./permissions.ts";
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
export { type BackpressurePolicy, type RttIdentity, type RttNodeOptions } from "./options.ts";
export {
  type RttAcceptOptions,
  type RttAddress,
  type RttConnectOptions,
  RttNode,
  type RttNodeEvent,
  type RttNodeObserver,
  type RttShutdownOptions,
} from "./node.ts";
export { RttSession, type RttSessionState, type SessionCloseOptions } from "./session.ts";
export { type ReceiveOptions, RttChannel, type RttChannelOptions } from "./channel.ts";
export type { SessionEventType, SessionHook, SessionHookEvent } from "./hooks.ts";
export type { RttMetrics, RttStats } from "./stats.ts";
export {
  createTransport,
  registerTransport,
  type Transport,
  type TransportAddress,
  type TransportChannel,
  type TransportChannelOptions,
  type TransportConnectOptions,
  type TransportFactory,
  transportNames,
  type TransportOptions,
  type TransportSession,
  unregisterTransport,
} from "./transport.ts";
export {
  defaultMemoryNetwork,
  type DropConnectionOptions,
  MemoryNetwork,
  MemoryTransport,
  type MemoryTransportEvent,
  type MemoryTransportOptions,
} from "./memory.ts";
