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
 * @example Code written against the contract runs on any backend
 * ```ts
 * import { Identity } from "@web4/runtime";
 * import { RTTHandshakeError, type TransportFactory, type TransportSession } from "@web4/runtime/transport";
 * import { memory, MemoryNetwork } from "@web4/runtime/testing";
 * import assert from "node:assert/strict";
 *
 * async function say(session: TransportSession, text: string): Promise<void> {
 *   const channel = await session.openChannel("state");
 *   await channel.send(new TextEncoder().encode(text));
 * }
 * async function hear(session: TransportSession): Promise<string> {
 *   const channel = await session.openChannel("state");
 *   return new TextDecoder().decode((await channel.receive())!);
 * }
 *
 * const factory: TransportFactory = memory({ network: new MemoryNetwork() }); // or rtt(), or yours
 * const [ia, ib] = await Promise.all([Identity.generate(), Identity.generate()]);
 * await using a = await factory({ identity: ia });
 * await using b = await factory({ identity: ib });
 * const { port } = await b.listen({ hostname: "b", port: 0 });
 * // Sessions are pinned to the peer's fingerprint: a wrong pin is a typed refusal.
 * await assert.rejects(
 *   a.connect({ hostname: "b", port, fingerprint: ia.fingerprint }),
 *   (e) => e instanceof RTTHandshakeError && e.code === "FINGERPRINT_MISMATCH",
 * );
 * const [toB, fromA] = await Promise.all([
 *   a.connect({ hostname: "b", port, fingerprint: ib.fingerprint }),
 *   b.accept(),
 * ]);
 * await say(toB, "hello");
 * assert.equal(await hear(fromA), "hello");
 * ```
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
