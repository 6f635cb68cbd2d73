/**
 * The registry of transport backends by name. It imports no backend: each
 * backend registers itself (`lib/rtt/backends.ts` registers `rtt` and
 * `memory` when the package is imported; nothing is loaded until a
 * transport is created).
 *
 * @module
 */

import type { Transport, TransportFactory, TransportOptions } from "./types.ts";

const registry = new Map<string, TransportFactory>();

/**
 * Registers (or replaces) a backend under `name`.
 *
 * @param name The backend name, 1-64 characters `[a-z0-9._-]`.
 * @param factory Creates a transport from options.
 * @throws {RangeError} For an invalid name.
 * @throws {TypeError} When `factory` is not a function.
 */
export function registerTransport(name: string, factory: TransportFactory): void {
  if (typeof name !== "string" || !/^[a-z0-9._-]{1,64}$/.test(name)) {
    throw new RangeError(
      `Transport name must be 1-64 characters of [a-z0-9._-], got ${JSON.stringify(name)}`,
    );
  }
  if (typeof factory !== "function") {
    throw new TypeError(`Transport factory for "${name}" must be a function`);
  }
  registry.set(name, factory);
}

/**
 * Removes a backend.
 *
 * @param name The backend name.
 * @returns Whether it was registered.
 */
export function unregisterTransport(name: string): boolean {
  return registry.delete(name);
}

/**
 * The registered backend names, sorted.
 *
 * @returns The names.
 */
export function transportNames(): string[] {
  return [...registry.keys()].sort();
}

/**
 * Creates a transport of the backend `name`.
 *
 * @param name A registered backend (`"rtt"`, `"memory"`, or your own).
 * @param options The backend's options.
 * @returns The transport.
 * @throws {RangeError} When no backend has that name.
 *
 * @example Backends are factories registered by name
 * ```ts
 * import {
 *   createTransport,
 *   registerTransport,
 *   transportNames,
 *   unregisterTransport,
 * } from "./registry.ts";
 * import assert from "node:assert/strict";
 *
 * // A backend that only refuses, to show the plumbing (lib/rtt registers the real ones).
 * registerTransport("refusing", () => Promise.reject(new Error("refusing backend: no network")));
 * assert.ok(transportNames().includes("refusing"));
 * await assert.rejects(createTransport("refusing", {}), /no network/);
 * await assert.rejects(createTransport("no-such-backend", {}), RangeError);
 * assert.equal(unregisterTransport("refusing"), true);
 * ```
 */
export function createTransport(name: string, options: TransportOptions): Promise<Transport> {
  const factory = registry.get(name);
  if (factory === undefined) {
    return Promise.reject(
      new RangeError(
        `No transport backend named ${JSON.stringify(name)}; registered: ${
          transportNames().join(", ")
        }`,
      ),
    );
  }
  return factory(options);
}
