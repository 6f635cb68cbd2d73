/**
 * Where the user of a transport (an agent, a person's client) gets it from:
 * a {@linkcode Transport} instance its caller made, or a
 * {@linkcode TransportFactory} it calls with its own identity. One rule
 * decides who shuts a transport down: whoever created it.
 *
 * @module
 */

import type { Transport, TransportContext, TransportFactory } from "./types.ts";

/**
 * A transport to use: an instance (the caller created it, so the caller
 * shuts it down, after its user stopped) or a factory (the user creates the
 * transport with its own context, so the user shuts it down when it stops).
 */
export type TransportSource = Transport | TransportFactory;

/** A transport resolved from a {@linkcode TransportSource}. */
export interface ResolvedTransport {
  /** The transport. */
  readonly transport: Transport;
  /** Whether it was made from a factory here, so its user shuts it down. */
  readonly owned: boolean;
}

/**
 * Resolves a {@linkcode TransportSource} for a user with `context`: a
 * factory is called (the result is `owned`), an instance is taken as it is
 * (not `owned`). Either way the transport must authenticate as the
 * context's identity.
 *
 * @param source An instance or a factory.
 * @param context What the user supplies to a factory (its identity).
 * @returns The transport and whether the user owns it.
 * @throws {TypeError} When `source` is neither a transport nor a function, or a factory resolves to something that is not a transport.
 * @throws {RangeError} When the transport's fingerprint is not the identity's (a transport a factory made is shut down first).
 *
 * @example An instance stays its creator's; a factory's transport is the user's
 * ```ts
 * import { Identity } from "../identity/mod.ts";
 * import { memory, MemoryNetwork } from "@web4/runtime/testing"; // a backend, as a user imports it
 * import { resolveTransport } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const identity = await Identity.generate();
 * const factory = memory({ network: new MemoryNetwork() });
 *
 * const made = await resolveTransport(factory, { identity });
 * assert.equal(made.owned, true); // the user shuts it down
 * assert.equal(made.transport.fingerprint, identity.fingerprint);
 *
 * const given = await resolveTransport(made.transport, { identity });
 * assert.equal(given.owned, false); // its creator shuts it down
 * assert.equal(given.transport, made.transport);
 *
 * const stranger = await Identity.generate();
 * await assert.rejects(resolveTransport(made.transport, { identity: stranger }), RangeError);
 * await made.transport.shutdown();
 * ```
 */
export async function resolveTransport(
  source: TransportSource,
  context: TransportContext,
): Promise<ResolvedTransport> {
  if (typeof source === "function") {
    const transport: unknown = await source(context);
    if (!_isTransport(transport)) {
      throw new TypeError(
        `A transport factory must resolve to a Transport, got ${_describe(transport)}`,
      );
    }
    if (transport.fingerprint !== context.identity.fingerprint) {
      await transport.shutdown().catch(() => {});
      throw _mismatch(transport, context);
    }
    return { transport, owned: true };
  }
  if (!_isTransport(source)) {
    throw new TypeError(
      `A transport must be a Transport or a transport factory, got ${_describe(source)}`,
    );
  }
  if (source.fingerprint !== context.identity.fingerprint) throw _mismatch(source, context);
  return { transport: source, owned: false };
}

function _isTransport(value: unknown): value is Transport {
  if (value === null || typeof value !== "object") return false;
  const t = value as Record<string, unknown>;
  return typeof t.fingerprint === "string" &&
    ["listen", "connect", "accept", "onEvent", "metrics", "shutdown"].every((m) =>
      typeof t[m] === "function"
    );
}

function _describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  return typeof value === "object" ? "an object that is not a Transport" : typeof value;
}

function _mismatch(transport: Transport, context: TransportContext): RangeError {
  return new RangeError(
    `Transport ${transport.backend} authenticates as ${transport.fingerprint}, ` +
      `not as the identity ${context.identity.fingerprint}`,
  );
}
