/**
 * Registers the built-in backends into the transport registry: `rtt`
 * (the native core over Deno TCP) and `memory` (the same core over
 * in-process pipes). Registering loads nothing: the native library opens
 * when a transport is created.
 *
 * @module
 */

import { registerTransport } from "../transport/registry.ts";
import { RttNode } from "./node.ts";
import type { RttNodeOptions } from "./options.ts";
import { createMemoryTransport } from "./memory.ts";

registerTransport("rtt", (options) => RttNode.create(options as unknown as RttNodeOptions));
registerTransport("memory", createMemoryTransport);
