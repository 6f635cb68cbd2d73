/**
 * The router's route table: one runtime per (protocol, type), and the one
 * sanction rule for envelopes that fail verification, named explicitly in
 * the router's options or declared by one registered runtime
 * (`ProtocolRuntime.sanctions`).
 *
 * @module
 */

import type { Protocol } from "../envelope/mod.ts";
import { MESSAGE_TYPES, PROTOCOLS } from "../envelope/protocols.ts";
import type { SanctionRule } from "../runtime/mod.ts";
import { RoutingError } from "./errors.ts";
import type { AnyProtocolRuntime } from "./types.ts";

/** The routes of one router and its sanction rule. */
export class RouteTable {
  #routes = new Map<string, AnyProtocolRuntime>();
  #sanctions: SanctionRule | undefined;
  readonly #explicit: boolean;

  /**
   * Creates an empty table.
   *
   * @param sanctions The sanction rule named by the caller; when given, no
   *   runtime's declared rule replaces it.
   */
  constructor(sanctions?: SanctionRule) {
    this.#sanctions = sanctions;
    this.#explicit = sanctions !== undefined;
  }

  /** The sanction rule in force, if any. */
  get sanctions(): SanctionRule | undefined {
    return this.#sanctions;
  }

  /**
   * Adds a runtime: one route per message type it lists, and its sanction
   * rule if it declares one (unless the caller named one).
   *
   * @param runtime The runtime.
   * @throws {RoutingError} `DUPLICATE_ROUTE` when a type already has a
   *   route, or when it declares a sanction rule and another registered
   *   runtime already did (nothing of it is registered then); `UNKNOWN_TYPE`
   *   for a type the protocol does not have.
   */
  register(runtime: AnyProtocolRuntime): void {
    const keys: string[] = [];
    for (const type of runtime.types as readonly string[]) {
      if (!(MESSAGE_TYPES[runtime.protocol] as readonly string[]).includes(type)) {
        throw new RoutingError(
          "UNKNOWN_TYPE",
          `Runtime for ${runtime.protocol} lists "${type}", which is not a ${runtime.protocol} message type`,
          { protocol: runtime.protocol, type },
        );
      }
      const key = `${runtime.protocol}/${type}`;
      if (this.#routes.has(key) || keys.includes(key)) {
        throw new RoutingError(
          "DUPLICATE_ROUTE",
          `A route for ${runtime.protocol} ${type} is already registered`,
          { protocol: runtime.protocol, type },
        );
      }
      keys.push(key);
    }
    const declared = this.#explicit ? undefined : runtime.sanctions;
    if (declared !== undefined && this.#sanctions !== undefined) {
      throw new RoutingError(
        "DUPLICATE_ROUTE",
        `A sanction rule for envelopes that fail verification is already registered; the ${runtime.protocol} runtime declares another`,
        { protocol: runtime.protocol },
      );
    }
    if (declared !== undefined) this.#sanctions = declared;
    for (const key of keys) this.#routes.set(key, runtime);
  }

  /**
   * The runtime a message type is routed to.
   *
   * @param protocol The protocol.
   * @param type The message type.
   * @returns The runtime, if the type has a route.
   */
  get(protocol: Protocol, type: string): AnyProtocolRuntime | undefined {
    return this.#routes.get(`${protocol}/${type}`);
  }

  /**
   * The registered routes, as `protocol/TYPE` strings.
   *
   * @returns The route keys, sorted.
   */
  keys(): string[] {
    return [...this.#routes.keys()].sort();
  }

  /**
   * The message types of the three protocols that have no route yet.
   *
   * @returns `protocol/TYPE` strings; empty when every type is routed.
   */
  missing(): string[] {
    const missing: string[] = [];
    for (const protocol of PROTOCOLS) {
      for (const type of MESSAGE_TYPES[protocol]) {
        if (!this.#routes.has(`${protocol}/${type}`)) missing.push(`${protocol}/${type}`);
      }
    }
    return missing;
  }
}
