/**
 * RTT, the Rust Transport Tunnel, seen from TypeScript: nodes, sessions and
 * channels over the native library (loaded lazily, on the first node;
 * nothing here touches FFI or registers anything at import time), the
 * permission-scoped networking check, the typed factories of its two
 * backends, {@linkcode rtt} (Deno TCP) and {@linkcode memory} (the same
 * native core and driver over in-process pipes, with fault injection), and
 * where the library comes from ({@linkcode NativeLibraryError}, the prebuilt
 * download). The contract these implement, with the transport errors, is
 * `@web4/runtime/transport`.
 *
 * @example A session on loopback
 * ```ts
 * import { Identity } from "@web4/runtime";
 * import { RttNode } from "@web4/runtime/rtt";
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
export {
  defaultCacheDir,
  DOWNLOAD_URL_ENV_VAR,
  ensurePrebuiltLibrary,
  type EnsurePrebuiltOptions,
  platformKey,
  PREBUILT_MANIFEST,
  type PrebuiltFile,
  type PrebuiltManifest,
} from "./prebuilt.ts";
export { assertNetPermission } from "./permissions.ts";
export type { RttNodeOptions, RttOptions } from "./options.ts";
export { memory, rtt } from "./backends.ts";
export type {
  RttAcceptOptions,
  RttAddress,
  RttConnectOptions,
  RttShutdownOptions,
} from "./options.ts";
export { RttNode } from "./node.ts";
export type { RttNodeObserver } from "./observers.ts";
// RttNodeObserver, RttSessionState, SessionCloseOptions, RttChannelOptions and ReceiveOptions are
// type aliases of the transport contract's names that RttNode's own signatures still use.
export { RttSession, type RttSessionState, type SessionCloseOptions } from "./session.ts";
export { type ReceiveOptions, RttChannel, type RttChannelOptions } from "./channel.ts";
export { MemoryNetwork, type MemoryOptions } from "./memory.ts";
