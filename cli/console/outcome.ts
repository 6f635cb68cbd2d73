/**
 * What the agent did with a message the person posted from the console, in
 * the words the page shows: `delivered`, `held` (with its code and reason),
 * `refused`, `dropped`, or `handled`. Read from the agent's typed
 * `afterCycle` event for that message (never from telemetry).
 *
 * @module
 */

import { effectsOf } from "../../lib/runtime/mod.ts";
import type { DispatchResult } from "../../lib/router/mod.ts";
import { clipText } from "./clip.ts";

/** What the agent did with a posted message. */
export interface PostedOutcome {
  /**
   * `delivered`: it reached the agent's loop (an intent allowed by consent);
   * `held`: deferred (`paced` with `retryAfterMs`, `check_in_required`);
   * `refused`: refused by a rule (`consent_revoked`, `consent_mismatch`, ...);
   * `dropped`: not processed (replay, rate limit, bad signature);
   * `handled`: taken, nothing to deliver (a state update, a hello).
   */
  status: "delivered" | "held" | "refused" | "dropped" | "handled";
  /** The rule's code, when held, refused or dropped. */
  code?: string | undefined;
  /** Why (at most 1 KiB). */
  reason?: string | undefined;
  /** When held: when to try again, in ms. */
  retryAfterMs?: number | undefined;
}

/**
 * The outcome of a posted message from the router's result.
 *
 * @param result The dispatch result of the agent's cycle for that message.
 * @returns The outcome.
 */
export function outcomeOf(result: DispatchResult): PostedOutcome {
  const why = {
    ...(result.code === undefined ? {} : { code: result.code }),
    ...(result.reason === undefined ? {} : { reason: clipText(result.reason, 1024) }),
  };
  switch (result.status) {
    case "deferred":
      return {
        status: "held",
        ...why,
        ...(result.retryAfterMs === undefined ? {} : { retryAfterMs: result.retryAfterMs }),
      };
    case "refused":
      return { status: "refused", ...why };
    case "dropped":
      return { status: "dropped", ...why };
    case "handled":
    case "ignored":
      return effectsOf(result.effects, "deliver").length > 0
        ? { status: "delivered" }
        : { status: "handled" };
  }
}
