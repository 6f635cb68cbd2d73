/**
 * Internal: how the router turns a message away, by its row of the refusal
 * table (`REFUSALS`): the sanction rule's changes committed for the
 * session's peer when the row says so, the result, the row's event, and the
 * protocol's error answer when the row refuses (signed after the commit).
 *
 * @module
 */

import type { Effect, RuntimeContext } from "../runtime/mod.ts";
import type { Store } from "../store/mod.ts";
import type { RouterEvents } from "./events.ts";
import { committedEffects } from "./events.ts";
import {
  type Header,
  type Refusal,
  refusalEventData,
  type RefusalReason,
  REFUSALS,
  type TurnAway,
} from "./refusals.ts";
import type { Replies } from "./replies.ts";
import { dispatchResult, type Pending } from "./results.ts";
import type { RouteTable } from "./routes.ts";
import type { DispatchResult, Inbound } from "./types.ts";
import type { WriteGroupRunner } from "./write_group.ts";

/** What turning messages away needs from the router. */
export interface TurnAwayPorts {
  /** Where a sanction is committed. */
  readonly store: Store;
  /** The router's clock (ms since the epoch). */
  readonly now: () => number;
  /** Runs a sanction in a write group. */
  readonly runner: WriteGroupRunner;
  /** The sanction rule. */
  readonly routes: RouteTable;
  /** Renders committed effects and emits the row's event. */
  readonly events: RouterEvents;
  /** Signs the answer. */
  readonly replies: Replies;
  /** The runtime context of a party (for the sanction rule). */
  context(peer: string, session?: string): RuntimeContext;
}

/** Turns messages away by their row of the refusal table. */
export class TurnAways {
  readonly #ports: TurnAwayPorts;

  /** @param ports What the router lends. */
  constructor(ports: TurnAwayPorts) {
    this.#ports = ports;
  }

  /**
   * Turns a message away by its row of the refusal table: sanctions the
   * session's peer if the row says so, builds the result, answers it with
   * the protocol's error type if refused, and emits the row's event.
   *
   * @param why The row.
   * @param header What is known of the message.
   * @param from Its party.
   * @param parts The reason, and what else the result carries.
   * @returns The result, its signed answer in `replies`.
   */
  async turnAway(
    why: RefusalReason,
    header: Header,
    from: Inbound,
    parts: TurnAway,
  ): Promise<DispatchResult> {
    return await this.#ports.replies.finish(await this.refuse(why, header, from, parts));
  }

  /**
   * {@linkcode TurnAways.turnAway} but the answer: signed by `Replies.finish` (after the commit).
   *
   * @param why The row.
   * @param header What is known of the message.
   * @param from Its party.
   * @param parts The reason, and what else the result carries.
   * @returns The result and the answer it waits for.
   */
  async refuse(
    why: RefusalReason,
    header: Header,
    from: Inbound,
    parts: TurnAway,
  ): Promise<Pending> {
    const row: Refusal = REFUSALS[why];
    const effects = row.sanction
      ? await this.#ports.runner.run(() =>
        Promise.resolve(this.#sanction(parts.error, header, from))
      )
      : [];
    const result = dispatchResult(row.action === "drop" ? "dropped" : "refused", header, {
      code: row.code,
      reason: parts.reason,
      retryAfterMs: parts.retryAfterMs,
      envelope: parts.envelope,
      error: parts.error,
      effects,
    });
    if (row.event !== null) {
      const named = row.names === "session" ? from.relay ?? from.peer : from.peer;
      this.#ports.events.emit(
        row.event,
        refusalEventData(row, header, parts.detail),
        row.severity,
        named,
        from,
      );
    }
    return { result, replies: [], answer: row.action === "refuse" ? { header, from } : null };
  }

  /** Commits the sanction rule's changes for the session's peer; returns the committed effects. */
  #sanction(error: unknown, header: Header, from: Inbound): Effect[] {
    const rule = this.#ports.routes.sanctions;
    if (rule === undefined) return [];
    const sanctioned = from.relay ?? from.peer;
    const result = rule(error, this.#ports.context(sanctioned, from.session), header.msgId);
    this.#ports.store.commit(result.changes, { nowMs: this.#ports.now() });
    const effects = committedEffects(result);
    this.#ports.events.render(effects, sanctioned, from);
    return effects;
  }
}
