/**
 * What the router reports: the effects it commits (the runtime's, then one
 * `trustChanged` per trust-log entry) and their rendering as v1.0 events,
 * held back while a write group is open and emitted once it commits.
 * Telemetry only observes. A committed trust transition also counts in
 * `web4_trust_transitions_total{from,to}`.
 *
 * @module
 */

import type { EventData, Severity, Telemetry } from "../observability/mod.ts";
import { type Effect, type Outcome, renderEffect } from "../runtime/mod.ts";
import type { StoreChange } from "../store/mod.ts";
import type { Inbound } from "./types.ts";

/**
 * One `trustChanged` per trust-log entry among committed changes.
 *
 * @param changes Committed store changes.
 * @returns The effects, in order.
 */
export function trustEffects(changes: readonly StoreChange[]): Effect[] {
  const effects: Effect[] = [];
  for (const change of changes) {
    if (change.kind === "trust.log") effects.push({ type: "trustChanged", entry: change.entry });
  }
  return effects;
}

/**
 * What an outcome commits: its effects, then one `trustChanged` per
 * trust-log entry among its changes.
 *
 * @param outcome A committed outcome.
 * @returns The effects, in order.
 */
export function committedEffects(outcome: Outcome): Effect[] {
  return [...outcome.effects, ...trustEffects(outcome.changes)];
}

/**
 * The router's telemetry: events stamped with the peer and session, held
 * while a write group is open (so nothing of a group that fails to commit
 * is reported) and emitted once it commits.
 */
export class RouterEvents {
  /** Events held back while a write group is open. */
  #held: (() => void)[] | undefined;

  /**
   * Creates the reporter.
   *
   * @param telemetry Where events go.
   */
  constructor(readonly telemetry: Telemetry) {}

  /** A write group opened: hold events until it ends. */
  hold(): void {
    this.#held = [];
  }

  /**
   * The write group ended: emit what was held if it committed, else drop it.
   *
   * @param committed Whether the group committed.
   */
  release(committed: boolean): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    if (committed) { for (const emit of held) emit(); }
  }

  /**
   * Emits (or holds) one event.
   *
   * @param kind The event kind.
   * @param data Its fields.
   * @param severity How much it matters.
   * @param peer The peer it names.
   * @param from Where the message came from (its session).
   */
  emit(
    kind: string,
    data: EventData,
    severity: Severity | undefined,
    peer: string,
    from: Inbound,
  ): void {
    const emit = () =>
      this.telemetry.emit(kind, data, {
        ...(severity === undefined ? {} : { severity }),
        peer,
        ...(from.session === undefined ? {} : { session: from.session }),
      });
    if (this.#held === undefined) emit();
    else this.#held.push(emit);
  }

  /**
   * Emits (or holds) the v1.0 event of each committed effect.
   *
   * @param effects Committed effects.
   * @param peer The peer an event names when its effect names none.
   * @param from Where the message came from (its session).
   */
  render(effects: readonly Effect[], peer: string, from: Inbound): void {
    for (const effect of effects) {
      if (effect.type === "trustChanged" && effect.entry.changed) {
        const { from: left, to: entered } = effect.entry;
        const count = () =>
          this.telemetry.counter("web4_trust_transitions_total", 1, { from: left, to: entered });
        if (this.#held === undefined) count();
        else this.#held.push(count);
      }
      const e = renderEffect(effect);
      if (e !== null) this.emit(e.kind, e.data, e.severity, e.peer ?? peer, from);
    }
  }
}
