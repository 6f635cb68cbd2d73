/**
 * RTT, the Rust Transport Tunnel, seen from TypeScript: nodes, sessions and
 * channels over the native library (loaded lazily, on the first node;
 * nothing here touches FFI or registers anything at import time), their
 * typed errors, the permission-scoped networking check, and the typed
 * factories of its two backends: {@linkcode rtt} (Deno TCP) and
 * {@linkcode memory} (the same native core and driver over in-process pipes,
 * with fault injection).
 *
 * @example A session on loopback
 * ```ts
 * import { Identity } from "../identity/mod.ts";
 * import { RttNode } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const server = await RttNode.create({ identity: await Identity.generate() });
 * const client = await RttNode.create({ identity: await Identity.generate() });
 * const { port } = await server.listen({ hostname: "127.0.0.1", port: 0 });
 * const [outbound, session] = await Promise.all([
 *   client.connect({ hostname: "127.0.0.1", port, fingerprint: server.fingerprint }),
 *   server.accept(),
 * ]);
 * const state = await session.openChannel("state");
 * const sender = await outbound.openChannel("state");
 * await sender.send(new Uint8Array(3));
 * await sender.close(); // ends the iteration below once the message is read
 * const lengths: number[] = [];
 * for await (const msg of state) lengths.push(msg.length);
 * assert.deepEqual(lengths, [3]);
 * await client.shutdown();
 * await server.shutdown();
 * ```
 *
 * @module
 */

export {
  LIBRARY_ENV_VAR,
  libraryBesideExecutable,
  libraryFileName,
  NativeLibraryError,
  type NativeLibraryErrorCode,
  type NativeLibraryInfo,
  nativeLibraryInfo,
  resolveLibraryPath,
} from "./native.ts";
export { EXPECTED_ABI_VERSION } from "./ffi.ts";
export { assertNetPermission } from "./permissions.ts";
export { type BackpressurePolicy, type RttNodeOptions, type RttOptions } from "./options.ts";
export { memory, rtt } from "./backends.ts";
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
export { MemoryNetwork, type MemoryOptions } from "./memory.ts";
export type {
  TransportMetrics as RttMetrics,
  TransportStats as RttStats,
} from "../transport/stats.ts";
export {
  type ResolvedTransport,
  resolveTransport,
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
  type SessionEventType,
  type SessionHook,
  type SessionHookEvent,
  type Transport,
  type TransportAcceptOptions,
  type TransportAddress,
  type TransportChannel,
  type TransportChannelOptions,
  type TransportConnectOptions,
  type TransportContext,
  type TransportEvent,
  type TransportFactory,
  type TransportIdentity,
  type TransportMetrics,
  type TransportObserver,
  type TransportReceiveOptions,
  type TransportSession,
  type TransportSessionBudget,
  type TransportSessionCloseOptions,
  type TransportSessionEventBase,
  type TransportSessionState,
  type TransportShutdownOptions,
  type TransportSource,
  type TransportStats,
} from "../transport/mod.ts";
