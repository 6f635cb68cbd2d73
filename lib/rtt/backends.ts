/**
 * The two backends as typed transport factories: {@linkcode rtt} (the
 * native core over Deno TCP) and {@linkcode memory} (the same core and
 * driver over the in-process pipes of a `MemoryNetwork`). A factory checks
 * its options when it is made and creates an endpoint when its user (an
 * agent, a person's client) calls it with its identity; nothing is loaded or
 * registered on import, and the native library opens on the first call.
 *
 * @module
 */

import type { TransportContext, TransportFactory } from "../transport/types.ts";
import { createMemoryNode, type MemoryOptions, resolveMemoryOptions } from "./memory.ts";
import { RttNode } from "./node.ts";
import { resolveRttOptions, type RttOptions } from "./options.ts";

/**
 * The `rtt` backend: a factory of {@linkcode RttNode}s over Deno TCP (TLS 1.3
 * between pinned fingerprints). It is the default transport of an `Agent`
 * and an `HcpClient`.
 *
 * @param options The node's limits and policies; see {@linkcode RttOptions}. @default {{}}
 * @returns A factory; each call creates a node for the caller's identity (loading the native library on first use).
 * @throws {TypeError} When an option has the wrong type (at once, before any library is loaded).
 * @throws {RangeError} When an option is out of range (at once, likewise).
 *
 * @example Options are checked when the factory is made; a node is made per identity
 * ```ts
 * import { Identity } from "../identity/mod.ts";
 * import { rtt } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => rtt({ heartbeatIntervalMs: 1 }), RangeError); // no library was needed
 *
 * const transport = rtt({ heartbeatIntervalMs: 200, allowPeers: "any" });
 * const [a, b] = await Promise.all([Identity.generate(), Identity.generate()]);
 * await using server = await transport({ identity: a });
 * await using client = await transport({ identity: b });
 * assert.equal(server.backend, "rtt");
 * const { port } = await server.listen({ hostname: "127.0.0.1", port: 0 });
 * const [outbound, inbound] = await Promise.all([
 *   client.connect({ hostname: "127.0.0.1", port, fingerprint: a.fingerprint }),
 *   server.accept(),
 * ]);
 * assert.equal(inbound.peerFingerprint, b.fingerprint);
 * assert.equal(outbound.id, inbound.id);
 * ```
 */
export function rtt(options: RttOptions = {}): TransportFactory<RttNode> {
  resolveRttOptions(options);
  const own = { ...options };
  return (context: TransportContext) =>
    RttNode.create({
      ...own,
      identity: context.identity,
      clock: context.clock,
      random: context.random,
    });
}

/**
 * The `memory` backend: a factory of {@linkcode RttNode}s (backend
 * `"memory"`) whose streams are pipes of `options.network`, with the
 * network's fault injection. Needs `--allow-ffi` (the same native core) but
 * no network permission.
 *
 * @param options The network and the node's limits and policies; see {@linkcode MemoryOptions}.
 * @returns A factory; each call creates a node for the caller's identity on that network.
 * @throws {TypeError} When `network` is not a `MemoryNetwork` or an option has the wrong type (at once).
 * @throws {RangeError} When an option is out of range (at once).
 *
 * @example Two agents on one in-process network
 * ```ts
 * import { Agent } from "@web4/runtime"; // the agent, as a user imports it
 * import { FixedLoadSource } from "@web4/runtime/testing";
 * import { Identity } from "../identity/mod.ts";
 * import { memory, MemoryNetwork } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const network = new MemoryNetwork();
 * const common = {
 *   mission: "verify water quality facts",
 *   store: ":memory:",
 *   transport: memory({ network }), // each agent makes its own node with its identity
 *   load: new FixedLoadSource({ cpu: 0.1 }),
 *   loadIntervalMs: 0,
 * };
 * const [ia, ib] = await Promise.all([Identity.generate(), Identity.generate()]);
 * await using a = await Agent.create({ ...common, identity: ia });
 * await using b = await Agent.create({ ...common, identity: ib, trustAnchors: [ia.fingerprint] });
 * assert.equal(a.transport.backend, "memory");
 * const at = await b.listen({ hostname: "b", port: 1 });
 * const peer = await a.connect({ ...at, fingerprint: ib.fingerprint });
 * assert.equal(peer.verified, true);
 * ```
 */
export function memory(options: MemoryOptions): TransportFactory<RttNode> {
  const resolved = resolveMemoryOptions(options);
  const own = { ...options };
  return (context: TransportContext) => createMemoryNode(own, resolved, context);
}
