/**
 * What the mesh drops, counted and reported: every drop counts
 * `web4_mesh_dropped_total{reason}`; a `mesh.dropped` event says why. Drops a
 * flood causes (over a rate, a share or a bound, stale, too large) are
 * reported at most once a second per reason and neighbour, with how many
 * were dropped meanwhile, so a flood cannot make the node log a flood.
 *
 * @module
 */

import type { Agent } from "../agent/mod.ts";
import type { MESH_DROP_REASONS } from "../observability/mod.ts";

/**
 * Why a frame, or an entry of the mesh's state, was dropped.
 *
 * - `invalid_frame`, `oversize`: not a frame, or larger than its bound (before parsing).
 * - `loop`, `duplicate`: the hop list names this node, or the id was seen in its window
 *   (no hops left is `mesh.hop_expired`, counted as `web4_mesh_hop_expired_total`).
 * - `blocked_origin`, `not_admitted`, `bad_signature`, `stale` (`at` outside +/-120 s),
 *   `no_route`.
 * - `rate_limited`: over the delivering neighbour's rate limit; `forward_share`: over an
 *   origin's share of the next hop's limit; `pending_full`: the neighbour's frames waiting
 *   to be handled are over its bytes.
 * - `seen_full`, `links_full`, `adverts_full`, `copies_full`, `held_full`, `evidence_full`:
 *   a bound of the mesh's state (`MeshLimits`) refused or evicted it.
 */
export type DropReason = typeof MESH_DROP_REASONS[number];

/** Drops a flood causes: reported once a second per reason and neighbour. */
const _COALESCED = new Set<DropReason>([
  "oversize",
  "stale",
  "rate_limited",
  "forward_share",
  "pending_full",
  "seen_full",
  "links_full",
  "adverts_full",
  "copies_full",
  "held_full",
  "evidence_full",
]);

/** Report keys remembered (the least recent forgotten first). */
const _MAX_KEYS = 1024;

/** One drop. */
export interface Drop {
  /** Its origin or signer, when known. */
  origin?: string | null | undefined;
  /** The inner envelope's msg_id, when known. */
  msgId?: string | null | undefined;
  /** The neighbour that delivered it. */
  peer?: string | undefined;
  /** More detail. */
  detail?: string | undefined;
}

/**
 * Counts and reports drops.
 *
 * @example
 * ```ts ignore
 * const drops = new MeshDrops(agent, () => Date.now());
 * drops.drop("rate_limited", { peer }); // counted; reported at most once a second per peer
 * ```
 */
export class MeshDrops {
  readonly #agent: Pick<Agent, "metrics" | "telemetry">;
  readonly #now: () => number;
  readonly #reported = new Map<string, { atMs: number; quiet: number }>();

  /**
   * Creates the reporter.
   *
   * @param agent Where counters and events go.
   * @param now The clock (ms).
   */
  constructor(agent: Pick<Agent, "metrics" | "telemetry">, now: () => number) {
    this.#agent = agent;
    this.#now = now;
  }

  /**
   * Counts a drop and reports it (coalesced for flood reasons).
   *
   * @param reason Why.
   * @param d What was dropped.
   */
  drop(reason: DropReason, d: Drop = {}): void {
    const agent = this.#agent;
    agent.metrics.counter("web4_mesh_dropped_total", 1, { reason });
    let detail = d.detail;
    if (_COALESCED.has(reason)) {
      const quiet = this.#quiet(`${reason}\n${d.peer ?? ""}`);
      if (quiet === undefined) return;
      if (quiet > 0) {
        detail = `${detail === undefined ? "" : `${detail}; `}${quiet} more since the last report`;
      }
    }
    agent.telemetry.emit("mesh.dropped", {
      reason,
      origin: d.origin ?? null,
      msg_id: d.msgId ?? null,
      ...(detail === undefined ? {} : { detail }),
    }, {
      severity: reason === "duplicate" ? "debug" : "warn",
      ...(d.peer === undefined ? {} : { peer: d.peer }),
    });
  }

  /**
   * A relay frame for another node arrived with no hops left: counted
   * (`web4_mesh_hop_expired_total`), reported once a second per neighbour.
   *
   * @param frame Its origin, destination and hop count.
   * @param peer The neighbour that delivered it.
   */
  hopExpired(
    frame: { origin: string; destination: string; hops: readonly string[] },
    peer: string,
  ): void {
    this.#agent.metrics.counter("web4_mesh_hop_expired_total", 1, {});
    if (this.#quiet(`hop_expired\n${peer}`) === undefined) return;
    this.#agent.telemetry.emit("mesh.hop_expired", {
      origin: frame.origin,
      destination: frame.destination,
      hops: frame.hops.length,
    }, { severity: "warn", peer });
  }

  /** `undefined`: reported less than a second ago (counted quietly); else how many were quiet. */
  #quiet(key: string): number | undefined {
    const nowMs = this.#now();
    const last = this.#reported.get(key);
    if (last !== undefined && nowMs - last.atMs < 1000 && nowMs >= last.atMs) {
      last.quiet += 1;
      return undefined;
    }
    this.#reported.delete(key);
    this.#reported.set(key, { atMs: nowMs, quiet: 0 });
    if (this.#reported.size > _MAX_KEYS) {
      this.#reported.delete(this.#reported.keys().next().value!);
    }
    return last?.quiet ?? 0;
  }
}
