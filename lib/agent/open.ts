/**
 * Internal: what `Agent.create` checks and opens before the agent exists:
 * the identity and the mission (non-empty, at most `SCHEMA_LIMITS.textBytes`
 * UTF-8 bytes), the store (a path is opened, and then the agent's to
 * close), and the transport (a factory is called with the identity, and
 * then the agent's to shut down); a transport that fails closes the store
 * it opened.
 *
 * @module
 */

import { SCHEMA_LIMITS } from "../envelope/mod.ts";
import { utf8ByteLength } from "../observability/mod.ts";
import { openStore, type Store } from "../store/mod.ts";
import { rtt } from "../rtt/mod.ts";
import { resolveTransport, type Transport } from "../transport/mod.ts";
import type { AgentOptions } from "./options.ts";
import { systemClock } from "../ports/mod.ts";

/** The store and the transport of a new agent, and which of them it owns. */
export interface AgentParts {
  /** The store. */
  store: Store;
  /** Whether the agent opened it (from a path) and closes it. */
  ownsStore: boolean;
  /** The transport. */
  transport: Transport;
  /** Whether the agent made it (from a factory) and shuts it down. */
  ownsTransport: boolean;
}

/**
 * Checks the options and opens the store and the transport.
 *
 * @param options The options of `Agent.create`.
 * @returns The parts.
 * @throws {TypeError} For a missing identity, an empty mission, or a transport that is neither a `Transport` nor a factory.
 * @throws {RangeError} For a mission over 1,024 UTF-8 bytes, or a transport that does not authenticate as the identity.
 */
export async function openAgentParts(options: AgentOptions): Promise<AgentParts> {
  if (options?.identity === undefined) throw new TypeError("Agent.create needs an identity");
  if (typeof options.mission !== "string" || options.mission.trim() === "") {
    throw new TypeError(
      `Agent mission must be a non-empty string, got ${JSON.stringify(options.mission)}`,
    );
  }
  const missionBytes = utf8ByteLength(options.mission);
  if (missionBytes > SCHEMA_LIMITS.textBytes) {
    throw new RangeError(
      `Agent mission must be at most ${SCHEMA_LIMITS.textBytes} UTF-8 bytes, got ${missionBytes}`,
    );
  }
  const clock = options.clock ?? systemClock;
  const ownsStore = typeof options.store === "string";
  const store = typeof options.store === "string"
    ? openStore(options.store, {
      now: () => clock.now(),
      ...options.storeOptions,
    })
    : options.store;
  let resolved;
  try {
    resolved = await resolveTransport(options.transport ?? rtt(), {
      identity: options.identity,
      clock: options.clock,
      random: options.random,
    });
  } catch (err) {
    if (ownsStore) store[Symbol.dispose]();
    throw err;
  }
  return { store, ownsStore, transport: resolved.transport, ownsTransport: resolved.owned };
}
