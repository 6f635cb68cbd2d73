/**
 * The mesh: agents that route for each other. `MeshNode` wraps an `Agent`
 * with a peer table, link-state routes through trusted neighbours, relay
 * frames whose inner envelopes stay signed end to end, signed introductions
 * and malice reports, and one vote per node for every fact.
 *
 * @example
 * ```ts ignore
 * import { MeshNode } from "@web4/runtime";
 * const node = await MeshNode.create({ identity, mission: "m", store: ":memory:", trustAnchors: [b] });
 * await node.listen({ hostname: "127.0.0.1", port: 0 });
 * ```
 *
 * @module
 */
export { MeshError, type MeshErrorCode } from "./errors.ts";
export {
  type ControlBody,
  type ControlFrame,
  type CopiesFrame,
  decodeFrame,
  encodeFrame,
  FRAME_FIELD_BOUNDS,
  type FrameBounds,
  type IntroduceFrame,
  isMeshFrame,
  type LinksFrame,
  type MaliceFrame,
  type MeshChannel,
  type MeshFrame,
  type RelayFrame,
  signControl,
  type SignedBase,
  verifyControl,
} from "./frame.ts";
export { MeshNode, type MeshOptions, type MeshPeer, type MeshStateSizes } from "./node.ts";
export {
  checkingJudge,
  type CheckingJudgeOptions,
  type Judge,
  type JudgeContext,
  type JudgeVerdict,
} from "./judge.ts";
export { DEFAULT_MESH_LIMITS, type MeshLimits, meshLimits } from "./limits.ts";
export type { DropReason } from "./drops.ts";
export type { MeshDeliveryError } from "./relay.ts";
export { LinkTable, type RoutePolicy } from "./routes.ts";
export { SeenCache, type SeenCacheOptions, type SeenEntry, type SeenVerdict } from "./seen.ts";
export { type ClusterOptions, MeshCluster } from "./cluster.ts";
