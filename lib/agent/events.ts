/**
 * The agent's hooks: registration by name, and calls that a throwing hook
 * cannot break (it is reported as `agent.hook_error`).
 *
 * @module
 */

import type { HumanState } from "../envelope/mod.ts";
import type { StampingTelemetry } from "../observability/mod.ts";
import type { DispatchResult } from "../router/mod.ts";
import type { TrustLogEntry } from "../store/mod.ts";
import type { AgentIntent } from "./intents.ts";
import type { ChannelKind } from "./link.ts";

/** One cognitive cycle: one inbound message. */
export interface CycleInfo {
  /** The cycle number, from 1. */
  cycle: number;
  /** The authenticated peer the message came from. */
  peer: string;
  /** The channel it arrived on. */
  channel: ChannelKind;
}

/** A claim changing state in the ledger or the LIP queue. */
export interface AgentFact {
  /** `cip` (claim ledger) or `lip` (deferred-acceptance queue). */
  origin: "cip" | "lip";
  /** The claim id. */
  claim: string;
  /** Its new status. */
  status: string;
  /** Why. */
  reason: string;
}

/** The cognitive-cycle hooks. A throwing hook is reported (`agent.hook_error`) and never breaks the loop. */
export interface AgentHooks {
  /** Before each cycle. */
  beforeCycle(info: CycleInfo): void;
  /** After each cycle, with the dispatch result. */
  afterCycle(info: CycleInfo, result: DispatchResult): void;
  /** An intent reached the loop (a peer's INTENT, or the person's consented HCP_INTENT). */
  intent(intent: AgentIntent): void;
  /** A claim changed state (pending, accepted, disputed, rejected). */
  fact(fact: AgentFact): void;
  /** The person's human-state vector arrived. */
  humanState(person: string, human: HumanState): void;
  /** A trust transition (peer or person), as it was logged. */
  trustChange(transition: TrustLogEntry): void;
}

/** The name of a cognitive-cycle hook. */
export type AgentHookName = keyof AgentHooks;

/**
 * The hooks of one agent.
 *
 * @example
 * ```ts ignore
 * const hooks = new Hooks(telemetry);
 * const off = hooks.on("intent", (i) => console.log(i.topic));
 * hooks.call("intent", intent);
 * off();
 * ```
 */
export class Hooks {
  readonly #hooks = new Map<AgentHookName, Set<(...args: never[]) => void>>();
  readonly #telemetry: StampingTelemetry;

  /**
   * Creates the registry.
   *
   * @param telemetry Where a throwing hook is reported.
   */
  constructor(telemetry: StampingTelemetry) {
    this.#telemetry = telemetry;
  }

  /**
   * Adds a hook.
   *
   * @param name The hook's name.
   * @param fn The hook.
   * @returns Its unregister function.
   */
  on<K extends AgentHookName>(name: K, fn: AgentHooks[K]): () => void {
    let set = this.#hooks.get(name);
    if (set === undefined) this.#hooks.set(name, set = new Set());
    set.add(fn as never);
    return () => set.delete(fn as never);
  }

  /**
   * Calls every hook of a name; one that throws is reported and the others still run.
   *
   * @param name The hook's name.
   * @param args Its arguments.
   */
  call<K extends AgentHookName>(name: K, ...args: Parameters<AgentHooks[K]>): void {
    for (const fn of this.#hooks.get(name) ?? []) {
      try {
        (fn as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.#telemetry.emit("agent.hook_error", {
          hook: name,
          error: err instanceof Error ? err.message : String(err),
        }, { severity: "error" });
      }
    }
  }
}
