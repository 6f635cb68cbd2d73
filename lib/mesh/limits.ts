/**
 * The mesh's bounds: every piece of state a neighbour can make a node keep
 * (docs/protocols.md section 8, "bounded mesh state" and "rate") has a limit
 * here, with its default, and past a limit the least trusted origin's
 * oldest entry is dropped, or the new entry refused, and counted.
 *
 * @module
 */

import type { PeerTrust } from "../envelope/mod.ts";

/** The bounds of one mesh node. Every field has a default ({@linkcode DEFAULT_MESH_LIMITS}). */
export interface MeshLimits {
  /** Frame ids remembered in their window, in total (a new frame is refused at the bound). @default {16384} */
  seenIds: number;
  /** Of those, per origin (signer of a control frame, origin of a relay frame). @default {1024} */
  seenIdsPerOrigin: number;
  /** Per trusted origin. @default {4096} */
  seenIdsPerTrustedOrigin: number;
  /** The share of `seenIds` that only trusted origins (and this node) may fill. @default {0.25} */
  seenTrustedReserve: number;
  /** Nodes in the link table (admitted nodes only). @default {128} */
  linkNodes: number;
  /** Neighbours one advertisement may list (a longer one is refused). @default {32} */
  linkNeighbours: number;
  /** Advertisements kept while their signer is not admitted yet (oldest dropped). @default {64} */
  pendingAdverts: number;
  /** How often a node re-advertises its links, ms (fresh `at` for the +/-120 s check). @default {60000} */
  advertiseMs: number;
  /** An advertisement not renewed for this long is forgotten, ms. @default {180000} */
  advertTtlMs: number;
  /** Copies maps kept (one per proposed fact). @default {1024} */
  copies: number;
  /** Copies maps kept per proposer. @default {64} */
  copiesPerOrigin: number;
  /** Entries of one copies map (a longer one is refused). @default {64} */
  copiesEntries: number;
  /** Bytes of held relay frames, in total. @default {8388608} */
  heldBytes: number;
  /** Bytes of held relay frames per destination. @default {1048576} */
  heldBytesPerDestination: number;
  /** Bytes of signed proposals kept as malice evidence, in total. @default {4194304} */
  evidenceBytes: number;
  /** Bytes of signed proposals kept per proposer. @default {262144} */
  evidenceBytesPerOrigin: number;
  /** Bytes of inbound mesh frames waiting to be handled, per neighbour. @default {1048576} */
  pendingBytes: number;
  /** Per trusted neighbour. @default {8388608} */
  pendingBytesTrusted: number;
  /** In total. @default {33554432} */
  pendingBytesTotal: number;
  /** Bytes of one control frame (a larger one is refused before parsing). @default {262144} */
  controlFrameBytes: number;
  /** Bytes of one relay frame (a larger one is refused before parsing). @default {2162688} */
  relayFrameBytes: number;
  /**
   * The share of the next hop's rate limit the forwarded frames of one origin
   * this node does not trust may use (this node's own limit stands for the
   * next hop's). @default {0.25}
   */
  forwardShare: number;
  /**
   * The share all forwarded frames together may use (a trusted origin's are
   * held only to this; the rest is this node's own). @default {0.75}
   */
  forwardTotalShare: number;
}

/** The default bounds. */
export const DEFAULT_MESH_LIMITS: Readonly<MeshLimits> = Object.freeze({
  seenIds: 16_384,
  seenIdsPerOrigin: 1024,
  seenIdsPerTrustedOrigin: 4096,
  seenTrustedReserve: 0.25,
  linkNodes: 128,
  linkNeighbours: 32,
  pendingAdverts: 64,
  advertiseMs: 60_000,
  advertTtlMs: 180_000,
  copies: 1024,
  copiesPerOrigin: 64,
  copiesEntries: 64,
  heldBytes: 8 * 1024 * 1024,
  heldBytesPerDestination: 1024 * 1024,
  evidenceBytes: 4 * 1024 * 1024,
  evidenceBytesPerOrigin: 256 * 1024,
  pendingBytes: 1024 * 1024,
  pendingBytesTrusted: 8 * 1024 * 1024,
  pendingBytesTotal: 32 * 1024 * 1024,
  controlFrameBytes: 256 * 1024,
  relayFrameBytes: 2 * 1024 * 1024 + 64 * 1024,
  forwardShare: 0.25,
  forwardTotalShare: 0.75,
});

const _SHARES = new Set<keyof MeshLimits>([
  "seenTrustedReserve",
  "forwardShare",
  "forwardTotalShare",
]);

/**
 * The bounds with defaults filled in, checked.
 *
 * @param limits Bounds to change.
 * @returns Every bound.
 * @throws {RangeError} For a bound that is not a positive integer (a share: not in (0, 1]),
 *   naming it.
 *
 * @example
 * ```ts
 * import { meshLimits } from "./limits.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(meshLimits({ linkNodes: 16 }).linkNodes, 16);
 * assert.equal(meshLimits().seenIds, 16_384);
 * assert.throws(() => meshLimits({ heldBytes: 0 }), RangeError);
 * ```
 */
export function meshLimits(limits: Partial<MeshLimits> = {}): MeshLimits {
  const out: MeshLimits = { ...DEFAULT_MESH_LIMITS };
  for (const [name, value] of Object.entries(limits) as [keyof MeshLimits, number][]) {
    if (value !== undefined) out[name] = value;
  }
  for (const [name, value] of Object.entries(out) as [keyof MeshLimits, number][]) {
    const ok = _SHARES.has(name) ? value > 0 && value <= 1 : Number.isInteger(value) && value > 0;
    if (!ok) {
      throw new RangeError(
        `Mesh limit ${name} must be ${
          _SHARES.has(name) ? "a share in (0, 1]" : "a positive integer"
        }, got ${value}`,
      );
    }
  }
  return out;
}

const _RANK: Record<PeerTrust, number> = { blacklisted: 0, untrusted: 1, probing: 2, trusted: 3 };

/**
 * How much a node trusts an origin, as a number (higher keeps its entries
 * longer): blacklisted 0, untrusted 1, probing 2, trusted 3, this node 4.
 *
 * @param trust The origin's trust, or `"self"`.
 * @returns Its rank.
 *
 * @example
 * ```ts
 * import { trustRank } from "./limits.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(trustRank("probing") < trustRank("trusted"));
 * assert.equal(trustRank("self"), 4);
 * ```
 */
export function trustRank(trust: PeerTrust | "self"): number {
  return trust === "self" ? 4 : _RANK[trust];
}

/**
 * The entry to drop when a bound is reached: the oldest entry of the least
 * trusted origin (entries in age order, oldest first).
 *
 * @param entries Keys and their origins, oldest first.
 * @param rank An origin's rank ({@linkcode trustRank}).
 * @returns The key to drop, `undefined` when there is none.
 *
 * @example
 * ```ts
 * import { leastTrustedOldest } from "./limits.ts";
 * import assert from "node:assert/strict";
 *
 * const rank = (o: string) => (o === "stranger" ? 2 : 3);
 * const entries: [string, string][] = [["k1", "friend"], ["k2", "stranger"], ["k3", "stranger"]];
 * assert.equal(leastTrustedOldest(entries, rank), "k2");
 * ```
 */
export function leastTrustedOldest<K>(
  entries: Iterable<readonly [K, string]>,
  rank: (origin: string) => number,
): K | undefined {
  const ranks = new Map<string, number>();
  let best: K | undefined;
  let bestRank = Infinity;
  for (const [key, origin] of entries) {
    let r = ranks.get(origin);
    if (r === undefined) {
      r = rank(origin);
      ranks.set(origin, r);
    }
    if (r < bestRank) {
      best = key;
      bestRank = r;
    }
  }
  return best;
}
