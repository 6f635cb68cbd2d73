/**
 * The mesh: agents that route for each other. `MeshNode` wraps an `Agent`
 * with a peer table, link-state routes through trusted neighbours, relay
 * frames whose inner envelopes stay signed end to end, signed introductions
 * and malice reports, and one vote per node for every fact.
 *
 * @example A line of three: a reaches c through b, signed end to end
 * ```ts
 * import { MeshCluster } from "@web4/runtime/mesh";
 * import assert from "node:assert/strict";
 *
 * // Three nodes on a fresh in-memory network (pass `transport: rtt()` for TCP).
 * await using mesh = await MeshCluster.create({ names: ["a", "b", "c"], edges: [["a", "b"], ["b", "c"]] });
 * await mesh.linkAll();
 * const a = mesh.get("a");
 * assert.deepEqual(a.route(mesh.fp("c")), [mesh.fp("b"), mesh.fp("c")]);
 * await a.meet(mesh.fp("c"), "c"); // the CIP handshake, relayed by b
 * assert.ok(a.verifiedNodes().includes(mesh.fp("c")));
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
  type LinksFrame,
  type MaliceFrame,
  type MeshChannel,
  type MeshFrame,
  type RelayFrame,
  type SignedBase,
} from "./frame.ts";
export { MeshNode } from "./node.ts";
export type { MeshOptions, MeshPeer, MeshStateSizes } from "./types.ts";
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
