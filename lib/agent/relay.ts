/**
 * The seam between the agent and a relay for peers it has no session with
 * (the mesh, `lib/mesh/`). The agent never imports the mesh: the mesh
 * attaches itself through this interface.
 *
 * @module
 */

import type { OutboundEnvelope } from "../router/mod.ts";
import type { ChannelKind } from "./link.ts";

/**
 * A relay for peers the agent has no session with (the mesh, `lib/mesh/`,
 * attaches one with `Agent.setRelay`). The agent never imports it: it only
 * asks it to claim frames that are not envelopes, to say whether a peer is
 * reachable, and to carry signed envelopes to such a peer.
 */
export interface AgentRelay {
  /**
   * Offered every inbound frame from a session before the router sees it;
   * `true` claims it (a relay frame: the relay forwards it or hands the inner
   * envelope back with `Agent.deliverRelayed`).
   */
  frame(bytes: Uint8Array, from: { peer: string; session: string; channel: ChannelKind }): boolean;
  /** Whether `fp`, with no session to it, can be reached through the relay. */
  reachable(fp: string): boolean;
  /** Carries signed envelopes to `fp` (no session to it); `false` when it cannot. */
  send(fp: string, out: readonly OutboundEnvelope[]): Promise<boolean>;
}
