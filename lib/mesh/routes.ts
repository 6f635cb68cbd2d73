/**
 * Link state and routes: every node floods its live, verified neighbours
 * (signed `links` frames); each node keeps the newest advertisement per
 * signer and computes shortest paths over the links both ends advertise.
 * Pure: no I/O, no clock. The table's bounds (which nodes, how many) are
 * the caller's (`links.ts`); a path costs O(nodes + links) of the table.
 *
 * @module
 */

/** What a node may route through, in this node's own view. */
export interface RoutePolicy {
  /** A relaying next hop must be one of these (live sessions to peers trusted enough to relay). */
  firstHops: ReadonlySet<string>;
  /** Live neighbours: a destination among them is sent to directly, whatever its trust. */
  neighbours?: ReadonlySet<string> | undefined;
  /**
   * Whether a node may relay on the path (this node's view: trusted enough, not
   * blocked); a node that may not is still reachable as a destination. @default {every node}
   */
  canRelay?: ((fp: string) => boolean) | undefined;
  /** Never route through these (blocked or blacklisted), as a relay or as a first hop. */
  avoid: ReadonlySet<string>;
}

/**
 * The newest link-state advertisement of each node, and shortest paths.
 *
 * @example
 * ```ts
 * import { LinkTable } from "./routes.ts";
 * import assert from "node:assert/strict";
 *
 * const t = new LinkTable("a");
 * t.update("a", 1, ["b"]);
 * t.update("b", 1, ["a", "c"]);
 * t.update("c", 1, ["b"]);
 * const policy = { firstHops: new Set(["b"]), avoid: new Set<string>() };
 * assert.deepEqual(t.path("c", policy), ["b", "c"]);
 * assert.equal(t.path("c", { ...policy, avoid: new Set(["b"]) }), undefined);
 * // b may be reached, but not relay through (this node does not trust it enough):
 * const strict = { ...policy, canRelay: (fp: string) => fp !== "b" };
 * assert.deepEqual(t.path("b", strict), ["b"]);
 * assert.equal(t.path("c", { ...strict, firstHops: new Set<string>() }), undefined);
 * ```
 */
export class LinkTable {
  readonly #self: string;
  readonly #adverts = new Map<string, { seq: number; neighbours: Set<string>; sorted: string[] }>();

  /**
   * Creates an empty table.
   *
   * @param self This node's fingerprint.
   */
  constructor(self: string) {
    this.#self = self;
  }

  /**
   * Records an advertisement if it is newer than the one held.
   *
   * @param node The signer.
   * @param seq Its sequence number.
   * @param neighbours Its advertised neighbours.
   * @returns `true` when it replaced an older one (flood it on).
   */
  update(node: string, seq: number, neighbours: readonly string[]): boolean {
    const held = this.#adverts.get(node);
    if (held !== undefined && held.seq >= seq) return false;
    const set = new Set(neighbours);
    this.#adverts.set(node, { seq, neighbours: set, sorted: [...set].sort() });
    return true;
  }

  /**
   * Forgets a node's advertisement.
   *
   * @param node The node.
   * @returns Whether it had one.
   */
  remove(node: string): boolean {
    return this.#adverts.delete(node);
  }

  /**
   * Whether a node has an advertisement here.
   *
   * @param node The node.
   * @returns Whether it has.
   */
  has(node: string): boolean {
    return this.#adverts.has(node);
  }

  /**
   * The neighbours a node advertises.
   *
   * @param node The node.
   * @returns Its neighbours, sorted (empty without an advertisement).
   */
  neighboursOf(node: string): readonly string[] {
    return this.#adverts.get(node)?.sorted ?? [];
  }

  /** How many nodes have an advertisement. */
  get size(): number {
    return this.#adverts.size;
  }

  /** Every node with an advertisement. */
  nodes(): string[] {
    return [...this.#adverts.keys()];
  }

  /**
   * The links both ends advertise (each pair once, sorted).
   *
   * @returns Pairs `[a, b]` with `a < b`.
   */
  links(): [string, string][] {
    const out: [string, string][] = [];
    for (const [a, ad] of this.#adverts) {
      for (const b of ad.neighbours) {
        if (a < b && this.#adverts.get(b)?.neighbours.has(a) === true) out.push([a, b]);
      }
    }
    return out.sort((x, y) => (x[0] + x[1]).localeCompare(y[0] + y[1]));
  }

  /**
   * The shortest path from this node to `destination` (breadth first, ties by
   * fingerprint so every run picks the same), first hop first.
   *
   * @param destination The node to reach.
   * @param policy Allowed first hops and nodes to avoid.
   * @returns The hops after this node, ending with `destination`; `undefined` without a route.
   */
  path(destination: string, policy: RoutePolicy): string[] | undefined {
    if (policy.avoid.has(destination)) return undefined;
    if (policy.neighbours?.has(destination) === true) return [destination];
    const prev = new Map<string, string>();
    let frontier = [...policy.firstHops].filter((n) => !policy.avoid.has(n)).sort();
    for (const n of frontier) prev.set(n, this.#self);
    const seen = new Set([this.#self, ...frontier]);
    while (frontier.length > 0) {
      if (seen.has(destination) && prev.has(destination)) break;
      const next: string[] = [];
      for (const n of frontier) {
        const ad = this.#adverts.get(n);
        if (ad === undefined) continue;
        for (const m of ad.sorted) {
          if (seen.has(m) || policy.avoid.has(m)) continue;
          if (this.#adverts.get(m)?.neighbours.has(n) !== true) continue; // both ends
          seen.add(m);
          prev.set(m, n);
          if (m !== destination && (policy.canRelay?.(m) ?? true)) next.push(m);
        }
      }
      frontier = next;
    }
    if (!prev.has(destination)) return undefined;
    const path = [destination];
    for (let n = prev.get(destination)!; n !== this.#self; n = prev.get(n)!) path.unshift(n);
    return path;
  }
}
