/**
 * Who a node admits: to deliver relayed envelopes to it (the allow-list,
 * introductions, neighbours and nodes its owner met), and to its mesh state
 * at all (link table, control frames, forwarding: only admitted nodes, so a
 * neighbour's throw-away keys take no room); how much it trusts an origin
 * when a bound must drop something; and the seen-id bound of an origin.
 *
 * @module
 */

import type { Agent } from "../agent/mod.ts";
import type { TransportAddress } from "../transport/mod.ts";
import { type MeshLimits, trustRank } from "./limits.ts";
import type { Links } from "./links.ts";

/** What {@linkcode Admission} needs from the node. */
export interface AdmissionPorts {
  /** The node's agent (sessions, trust, handshakes, telemetry). */
  readonly agent: Pick<Agent, "fingerprint" | "peer" | "router" | "store" | "telemetry">;
  /** The bounds (`linkNodes` bounds the nodes introductions admit; the seen-id bounds). */
  readonly limits: Pick<MeshLimits, "linkNodes" | "seenIdsPerOrigin" | "seenIdsPerTrustedOrigin">;
  /** The link table (which nodes are vouched for). */
  readonly links: Pick<Links, "vouched" | "invalidate">;
}

/**
 * Admission of one node.
 *
 * @example
 * ```ts ignore
 * const admission = new Admission(ports, "any");
 * admission.admitted(fp); // may it take room in this node's mesh state?
 * ```
 */
export class Admission {
  readonly #ports: AdmissionPorts;
  readonly #allow: "any" | Set<string>;
  readonly #introduced = new Set<string>();
  /** Dial addresses of direct neighbours. */
  readonly addresses: Map<string, TransportAddress> = new Map();
  /** Agent ids, when known. */
  readonly names: Map<string, string> = new Map();

  /**
   * Creates the room.
   *
   * @param ports What it needs from the node.
   * @param allow The allow-list: `"any"`, or fingerprints.
   */
  constructor(ports: AdmissionPorts, allow: "any" | readonly string[]) {
    this.#ports = ports;
    this.#allow = allow === "any" ? "any" : new Set(allow);
  }

  /**
   * A direct neighbour this node's owner dials.
   *
   * @param fp Its fingerprint.
   * @param address Where.
   * @param agentId Its agent id.
   */
  dialled(fp: string, address: TransportAddress, agentId?: string): void {
    this.addresses.set(fp, address);
    if (agentId !== undefined) this.names.set(fp, agentId);
    this.#ports.links.invalidate();
  }

  /**
   * A node this node's owner asked it to meet: admitted (its answers must get in).
   *
   * @param fp Its fingerprint.
   * @param agentId Its agent id.
   */
  met(fp: string, agentId?: string): void {
    if (agentId !== undefined) this.names.set(fp, agentId);
    if (this.#allow !== "any") this.#allow.add(fp);
  }

  /**
   * Whether an origin may deliver relayed envelopes to this node.
   *
   * @param origin The origin.
   * @returns Whether it may.
   */
  deliverable(origin: string): boolean {
    if (this.#allow === "any") return true;
    return this.#allow.has(origin) || this.addresses.has(origin) ||
      this.#ports.agent.peer(origin) !== undefined;
  }

  /**
   * Whether this node admits `fp` to its mesh state: itself, a neighbour
   * (connected or dialled), a node it met, allow-listed or introduced, a
   * trust anchor or trusted peer, or a node listed by the advertisement of a
   * node trusted enough to relay.
   *
   * @param fp The node.
   * @returns Whether it is admitted.
   */
  admitted(fp: string): boolean {
    const { agent, links } = this.#ports;
    const trust = agent.router.trust;
    return fp === agent.fingerprint || agent.peer(fp) !== undefined || this.addresses.has(fp) ||
      (this.#allow !== "any" && this.#allow.has(fp)) || trust.isAnchor(fp) ||
      trust.peer(fp) === "trusted" || agent.store.handshake(fp)?.stage === "verified" ||
      links.vouched(fp);
  }

  /**
   * How much this node trusts an origin, for the bounds (`trustRank`).
   *
   * @param fp The origin.
   * @returns Its rank.
   */
  rank(fp: string): number {
    const { agent } = this.#ports;
    return fp === agent.fingerprint ? trustRank("self") : trustRank(agent.router.trust.peer(fp));
  }

  /**
   * The seen-id bound of an origin, and whether it may use the reserved share.
   *
   * @param origin The origin.
   * @returns Its bound.
   */
  seenLimit(origin: string): { limit: number; privileged: boolean } {
    const { agent, limits } = this.#ports;
    if (origin === agent.fingerprint) return { limit: Infinity, privileged: true };
    return agent.router.trust.peer(origin) === "trusted"
      ? { limit: limits.seenIdsPerTrustedOrigin, privileged: true }
      : { limit: limits.seenIdsPerOrigin, privileged: false };
  }

  /**
   * A signed introduction arrived. Under an allow-list, a trusted
   * introducer's admits the subject (at most `linkNodes` introduced nodes,
   * the oldest forgotten first); otherwise it is logged and changes nothing.
   *
   * @param introducer The signer.
   * @param subject The introduced node.
   * @param agentId Its agent id.
   */
  introduced(introducer: string, subject: string, agentId: string): void {
    const { agent, limits, links } = this.#ports;
    const trust = agent.router.trust.peer(introducer);
    let admitted = false;
    let reason: string;
    if (this.#allow === "any") reason = "allow-list is any: nothing to admit";
    else if (trust !== "trusted") reason = `introducer is ${trust}, not trusted`;
    else if (this.#allow.has(subject)) reason = "already admitted";
    else {
      this.#allow.add(subject);
      this.names.set(subject, agentId);
      this.#introduced.add(subject);
      if (this.#introduced.size > limits.linkNodes) {
        const oldest = this.#introduced.values().next().value!;
        this.#introduced.delete(oldest);
        this.#allow.delete(oldest);
      }
      links.invalidate();
      admitted = true;
      reason = "admitted: may connect, starts probing after its handshake";
    }
    agent.telemetry.emit("mesh.introduction", { subject, introducer, admitted, reason }, {
      peer: introducer,
    });
  }
}
