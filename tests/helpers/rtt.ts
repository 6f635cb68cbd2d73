/**
 * Test helpers shared by the RTT integration tests: a bounded wait and a
 * connected pair of nodes on 127.0.0.1.
 *
 * @module
 */

import type { Identity } from "../../lib/identity/mod.ts";
import { RttNode, type RttNodeOptions, type RttSession } from "../../lib/rtt/mod.ts";

/** The loopback host every RTT test uses. */
export const HOST = "127.0.0.1";

/**
 * Awaits `p`, failing (instead of hanging the suite) when it does not settle
 * within `ms`. A liveness bound, not a timing assertion.
 *
 * @param ms Milliseconds to wait at most.
 * @param what What is awaited, for the error message.
 * @param p The promise.
 * @returns What `p` resolves to.
 */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `cond` every 10 ms until it holds, failing when it still does not
 * after `timeoutMs`. For state that settles asynchronously (counters,
 * events); a liveness bound, not a timing assertion.
 *
 * @param what What is awaited, for the error message.
 * @param cond The condition.
 * @param timeoutMs Milliseconds to wait at most.
 */
export async function waitFor(
  what: string,
  cond: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

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
