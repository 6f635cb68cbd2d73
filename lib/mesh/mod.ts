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
  type ControlFrame,
  type CopiesFrame,
  decodeFrame,
  encodeFrame,
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
export { MeshNode, type MeshOptions, type MeshPeer } from "./node.ts";
export type { Judge } from "./consensus.ts";
export type { MeshDeliveryError } from "./relay.ts";
export { LinkTable, type RoutePolicy, SeenCache } from "./routes.ts";
export { type ClusterOptions, MeshCluster } from "./cluster.ts";
