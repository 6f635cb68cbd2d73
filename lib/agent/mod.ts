/**
 * The AgentLoop: {@linkcode Agent} composes an identity, a transport (an
 * instance or a typed factory), the store, trust, the CIP/HCP/LIP runtimes, the router and
 * telemetry; {@linkcode HcpClient} is the person's side of HCP. Presence and
 * lri come from an injectable {@linkcode LoadSource}; mission drift is
 * scored by the documented {@linkcode DriftDetector}.
 *
 * @example
 * ```ts
 * import { DriftDetector, presenceOf } from "@web4/runtime/agent";
 * import assert from "node:assert/strict";
 *
 * assert.equal(presenceOf({ cpu: 0.9, memory: 0 }, { queueDepth: 0, queueCapacity: 10, openIntents: 0 }).presence, "overloaded");
 * assert.equal(new DriftDetector("water quality").observe("topic:water").drifting, false);
 * ```
 *
 * @module
 */

export { Agent } from "./agent.ts";
export type { AgentOptions } from "./options.ts";
export type {
  AgentEventName,
  AgentEvents,
  AgentListener,
  AgentListeners,
  CycleInfo,
} from "./events.ts";
export type { AgentIntent, CipGoal, Priority } from "./intents.ts";
export type { DeclaredIntent, PersonMessageType, Trace, VoteOptions } from "./actions.ts";
export {
  DEFAULT_INBOUND_BUDGET,
  type InboundBudget,
  inboundBudget,
  type InboundUsage,
} from "./inbound.ts";
export type { SendResult } from "./outbox.ts";
export type { EvidenceCheck } from "./lip_actions.ts";
export type { AgentRelay } from "./relay.ts";
export type { PeerInfo } from "./sessions.ts";
export {
  HcpClient,
  type HcpClientOptions,
  type HcpConnectOptions,
  type HcpGoal,
  type HcpHelloOptions,
} from "./person.ts";
export { AgentError, type AgentErrorCode } from "./errors.ts";
export {
  type Activity,
  ENGAGED_LRI,
  FixedLoadSource,
  type LoadReading,
  type LoadSource,
  OVERLOADED_LRI,
  ownLoadSource,
  type OwnPressure,
  presenceOf,
  systemLoadSource,
} from "./load.ts";
export {
  alignment,
  DriftDetector,
  type DriftOptions,
  type DriftVerdict,
  missionWords,
} from "./drift.ts";
export { CHANNEL_KINDS, type ChannelKind, type LinkHandlers, SessionLink } from "./link.ts";
