/**
 * Test helpers shared by the RTT integration tests: a connected pair of nodes
 * on 127.0.0.1 (and, re-exported from `wait.ts`, the bounded waits).
 *
 * @module
 */

import type { Identity } from "../../lib/identity/mod.ts";
import { RttNode, type RttNodeOptions, type RttSession } from "../../lib/rtt/mod.ts";

/** The loopback host every RTT test uses. */
export const HOST = "127.0.0.1";

export { waitFor, within } from "./wait.ts";

/** A server and a client node with one session between them. */
export interface RttPair extends AsyncDisposable {
  /** The listening node (identity `serverIdentity`). */
  server: RttNode;
  /** The dialing node. */
  client: RttNode;
  /** The client's session (dialed, pinned to the server's fingerprint). */
  outbound: RttSession;
  /** The server's session (accepted). */
  inbound: RttSession;
  /** The server's bound port. */
  port: number;
}

/** Options of {@linkcode rttPair}. */
export interface RttPairOptions {
  /** Extra options for the server node. */
  server?: Partial<RttNodeOptions>;
  /** Extra options for the client node. */
  client?: Partial<RttNodeOptions>;
}

/**
 * Starts two nodes, listens on an ephemeral loopback port and connects them.
 * Disposing the pair shuts both nodes down.
 *
 * @param serverIdentity The server's identity (the client pins its fingerprint).
 * @param clientIdentity The client's identity.
 * @param options Extra node options per side.
 * @returns The connected pair.
 */
export async function rttPair(
  serverIdentity: Identity,
  clientIdentity: Identity,
  options: RttPairOptions = {},
): Promise<RttPair> {
  const server = await RttNode.create({ ...options.server, identity: serverIdentity });
  const client = await RttNode.create({ ...options.client, identity: clientIdentity });
  const { port } = await server.listen({ hostname: HOST, port: 0 });
  const [outbound, inbound] = await Promise.all([
    client.connect({ hostname: HOST, port, fingerprint: serverIdentity.fingerprint }),
    server.accept(),
  ]);
  return {
    server,
    client,
    outbound,
    inbound,
    port,
    async [Symbol.asyncDispose]() {
      await client.shutdown();
      await server.shutdown();
    },
  };
}
