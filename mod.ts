/**
 * web4-runtime: authenticated, trust-aware messaging between AI agents and
 * the people they act for.
 *
 * This entry holds what an agent author needs first: {@linkcode Agent}, its
 * options and typed events, {@linkcode Identity}, the person's client
 * {@linkcode HcpClient}, the default transport factory {@linkcode rtt}, and
 * the errors an agent's caller catches, all of them {@linkcode Web4Error}s.
 * Every layer underneath has a subpath of its own: `@web4/runtime/envelope`,
 * `/identity`, `/transport` (the contract), `/rtt`, `/store`, `/trust`,
 * `/runtime` (the runtime contract and its effects), `/cip`, `/hcp`, `/lip`,
 * `/router`, `/agent`, `/mesh`, `/observability`, `/errors`, and `/testing`
 * (the in-memory transport with its faults, a fixed load source, a memory
 * sink).
 *
 * Importing any entry never opens the native transport library; that happens
 * on the first transport made, which then needs `--allow-ffi` for the
 * library's folder.
 *
 * @example Two agents and a person on the in-memory transport
 * ```ts
 * import { Agent, HcpClient, Identity } from "@web4/runtime";
 * import { FixedLoadSource, memory, MemoryNetwork } from "@web4/runtime/testing";
 * import assert from "node:assert/strict";
 *
 * const network = new MemoryNetwork(); // rtt() instead: the same agents over TLS 1.3 on TCP
 * const [ia, ib, ada] = await Promise.all([
 *   Identity.generate({ agentId: "alpha" }),
 *   Identity.generate({ agentId: "beta" }),
 *   Identity.generate({ agentId: "ada" }),
 * ]);
 * const common = {
 *   mission: "verify water quality facts",
 *   store: ":memory:",
 *   transport: memory({ network }),
 *   load: new FixedLoadSource({ cpu: 0.1 }),
 *   loadIntervalMs: 0,
 * };
 * await using alpha = await Agent.create({ ...common, identity: ia, person: ada.fingerprint });
 * await using beta = await Agent.create({ ...common, identity: ib, trustAnchors: [ia.fingerprint] });
 *
 * // Agent to agent: the transport session, then the CIP handshake (HELLO, HELLO, VERIFY).
 * const atBeta = await beta.listen({ hostname: "beta", port: 1 });
 * const peer = await alpha.connect({ ...atBeta, fingerprint: ib.fingerprint });
 * assert.equal(peer.verified, true);
 *
 * // The person speaks HCP to alpha; her consented intent reaches beta's loop as a CIP INTENT.
 * await using me = await HcpClient.create({ identity: ada, name: "Ada", transport: memory({ network }) });
 * const atAlpha = await alpha.listen({ hostname: "alpha", port: 1 });
 * await me.connect({ ...atAlpha, fingerprint: ia.fingerprint }); // changes nothing
 * await me.hello({ consent: "granted" }); // her explicit choice: the only way consent changes
 * const reached = beta.next("intent");
 * await me.intent({ goal: "request", topic: "topic:water" });
 * const intent = await reached;
 * assert.deepEqual([intent.source, intent.from, intent.topic], ["peer", ia.fingerprint, "topic:water"]);
 * ```
 *
 * @module
 */

export {
  Agent,
  AgentError,
  type AgentErrorCode,
  type AgentEventName,
  type AgentEvents,
  type AgentIntent,
  type AgentListener,
  type AgentListeners,
  type AgentOptions,
  type DeclaredIntent,
  HcpClient,
  type HcpClientOptions,
  type HcpConnectOptions,
  type HcpGoal,
  type PeerInfo,
  type PersonMessageType,
  type SendResult,
  type Trace,
  type VoteOptions,
} from "./lib/agent/mod.ts";
export {
  type GenerateIdentityOptions,
  Identity,
  IdentityError,
  type IdentityErrorCode,
  type IdentityOptions,
} from "./lib/identity/mod.ts";
export { type Clock, type RandomSource } from "./lib/ports/mod.ts";
export {
  NativeLibraryError,
  type NativeLibraryErrorCode,
  rtt,
  type RttOptions,
} from "./lib/rtt/mod.ts";
export {
  RTTHandshakeError,
  type RTTHandshakeErrorCode,
  type TransportAddress,
  type TransportSource,
} from "./lib/transport/mod.ts";
export { LipFetchError, type LipFetchErrorCode } from "./lib/lip/mod.ts";
export { Web4Error, type Web4ErrorOptions } from "./lib/errors/mod.ts";
