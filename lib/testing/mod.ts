/**
 * What tests of an agent need, in one import: the `memory` transport
 * factory and its {@linkcode MemoryNetwork} (the same native core as `rtt`,
 * over in-process pipes, with faults: `dropConnection`, `cut`, `partition`,
 * `stall`, `delay`, `heal`), a {@linkcode FixedLoadSource} so presence does
 * not depend on the machine, and a {@linkcode MemorySink} to read what the
 * agent reported.
 *
 * This module only re-exports: each name lives in its own subpath
 * (`@web4/runtime/rtt`, `@web4/runtime/agent`,
 * `@web4/runtime/observability`), where its full documentation is. The
 * memory backend needs `--allow-ffi` for the native library, and no
 * network permission.
 *
 * @example A dropped connection: the session resumes, the agent says so in typed events
 * ```ts
 * import { Agent, Identity } from "@web4/runtime";
 * import { FixedLoadSource, memory, MemoryNetwork } from "@web4/runtime/testing";
 * import assert from "node:assert/strict";
 *
 * const network = new MemoryNetwork();
 * const common = {
 *   mission: "verify water quality facts",
 *   store: ":memory:",
 *   transport: memory({ network }),
 *   load: new FixedLoadSource({ cpu: 0.1 }),
 *   loadIntervalMs: 0,
 * };
 * const [ia, ib] = await Promise.all([Identity.generate(), Identity.generate()]);
 * await using a = await Agent.create({ ...common, identity: ia });
 * await using b = await Agent.create({ ...common, identity: ib });
 * const at = await b.listen({ hostname: "b", port: 1 });
 * await a.connect({ ...at, fingerprint: ib.fingerprint });
 *
 * const down = a.next("peerDown");
 * const up = a.next("peerUp", (e) => e.via === "resumed");
 * network.dropConnection(a.transport, b.transport);
 * assert.equal((await down).final, false); // the connection is gone, not the session
 * assert.equal((await up).peer, ib.fingerprint);
 * ```
 *
 * @module
 */

export { memory, MemoryNetwork, type MemoryOptions } from "../rtt/mod.ts";
export { FixedLoadSource } from "../agent/mod.ts";
export { MemorySink } from "../observability/mod.ts";
