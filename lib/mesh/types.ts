/**
 * The options of `MeshNode.create` ({@linkcode MeshOptions}) and what a node
 * reports of itself ({@linkcode MeshPeer}, {@linkcode MeshStateSizes}).
 *
 * @module
 */
import type { AgentOptions } from "../agent/mod.ts";
import type { PeerTrust } from "../envelope/mod.ts";
import type { TransportAddress } from "../transport/mod.ts";
import type { Judge } from "./judge.ts";
import type { MeshLimits } from "./limits.ts";

/** Options of `MeshNode.create`: the agent's, plus the mesh's. */
export interface MeshOptions extends AgentOptions {
  /**
   * Who may reach this node through the mesh: `"any"`, or fingerprints (then
   * a trusted peer's introduction admits more). Direct neighbours are always
   * admitted. @default {"any"}
   */
  allowPeers?: "any" | readonly string[] | undefined;
  /** Relays a frame may still go through when it leaves its origin. @default {9} */
  hopLimit?: number | undefined;
  /** The least trust a neighbour needs to relay for us. @default {"trusted"} */
  relayTrust?: "trusted" | "probing" | undefined;
  /**
   * How a pending claim from another node is judged; a confirmation is sent
   * only when the judge verified the fact (e.g. `checkingJudge`, against the
   * node's own accepted knowledge or its operator's readings).
   * @default {none: the node abstains (it never confirms what it did not check)}
   */
  judge?: Judge | undefined;
  /** The bounds of the mesh's state, rates and frames. @default {DEFAULT_MESH_LIMITS} */
  limits?: Partial<MeshLimits> | undefined;
  /** How often held messages are retried or expired, ms (0: only on link changes and `MeshNode.sweep`). @default {500} */
  sweepMs?: number | undefined;
  /**
   * The delivery window around an envelope's timestamp, and the freshness
   * window of control frames (`at`). @default {120000}
   */
  windowMs?: number | undefined;
}

/** How much state a node holds now (each within its bound of {@linkcode MeshLimits}). */
export interface MeshStateSizes {
  /** Frame ids in the seen cache. */
  seenIds: number;
  /** Nodes in the link table (this one included). */
  linkNodes: number;
  /** Advertisements waiting for their signer's admission. */
  pendingAdverts: number;
  /** Copies maps. */
  copies: number;
  /** Relay frames held for lack of a route. */
  held: number;
  /** Their bytes. */
  heldBytes: number;
  /** Bytes of signed proposals kept as malice evidence. */
  evidenceBytes: number;
  /** Bytes of inbound mesh frames waiting to be handled. */
  pendingBytes: number;
}

/** One row of the peer table. */
export interface MeshPeer {
  /** Fingerprint. */
  fingerprint: string;
  /** Agent id, when known. */
  agentId: string;
  /** The dial address of a direct neighbour. */
  address?: TransportAddress | undefined;
  /** `up` (live session), `down` (session lost), `relayed` (reached through the mesh), `none`. */
  link: "up" | "down" | "relayed" | "none";
  /** This node's trust in it. */
  trust: PeerTrust;
  /** The current route (first hop first), when not a live neighbour. */
  route?: string[] | undefined;
  /** Blocked by the owner. */
  blocked: boolean;
}
