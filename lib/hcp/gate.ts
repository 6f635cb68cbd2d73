/**
 * The action gate: "may the agent perform an automated action on topic X
 * now?" One pure function over the person's state, the relation's social
 * trust and the clock, so the HCP runtime (for an incoming `HCP_INTENT`) and
 * the agent (before acting on its own) apply the same rules in the same
 * order.
 *
 * @module
 */

import type { SocialTrust } from "../store/mod.ts";
import { actionTopic, inConsentScope } from "./consent.ts";
import { HcpConsentError, HcpSocialTrustError } from "./errors.ts";
import { type CheckIn, pacingApplies, type PersonState } from "./human_state.ts";

/** Default pause between two automated actions while pacing applies: 30 s. */
export const DEFAULT_PACING_DELAY_MS = 30_000;

/** Options of {@linkcode gateAction}. */
export interface GateOptions {
  /**
   * While pacing applies, the least time between two automated actions, and
   * between the start of pacing and the first one.
   *
   * @default {30000}
   */
  pacingDelayMs?: number | undefined;
}

/**
 * The gate's answer.
 *
 * - `allowed`: act now (then record the action, see `recordAction`).
 * - `refused`: do not act; `error` says which rule (`no_consent`,
 *   `consent_revoked`, `out_of_scope`, `restricted`, `untrusted`).
 * - `paced`: do not act before `retryAfterMs` from now (code `paced`).
 * - `check_in`: ask the person first (code `check_in_required`); the
 *   person's `HCP_FEEDBACK` answers it.
 */
export type ActionVerdict =
  | { readonly verdict: "allowed"; readonly topic: string }
  | {
    readonly verdict: "refused";
    readonly topic: string;
    readonly code: HcpConsentError["code"] | HcpSocialTrustError["code"];
    readonly reason: string;
    readonly error: HcpConsentError | HcpSocialTrustError;
  }
  | {
    readonly verdict: "paced";
    readonly topic: string;
    readonly code: "paced";
    readonly reason: string;
    readonly retryAfterMs: number;
  }
  | {
    readonly verdict: "check_in";
    readonly topic: string;
    readonly code: "check_in_required";
    readonly reason: string;
    readonly checkIn: CheckIn;
  };

function _refused(
  topic: string,
  error: HcpConsentError | HcpSocialTrustError,
): ActionVerdict {
  return { verdict: "refused", topic, code: error.code, reason: error.message, error };
}

/**
 * Decides whether an automated action on `topic` may happen now. The rules,
 * first match wins:
 *
 * 1. no human-state vector known yet -> refused `no_consent`;
 * 2. consent `revoked` -> refused `consent_revoked` (nothing automated happens);
 * 3. social trust `restricted` -> refused `restricted`; `untrusted` (no
 *    relation yet) -> refused `untrusted`;
 * 4. consent `limited` and the topic outside `consent_scope` -> refused `out_of_scope`;
 * 5. an open check-in (affect anxious or tense) -> `check_in`;
 * 6. pacing applies (pressure >= 80, clarity <= 30, or `slow_pacing`) and
 *    less than `pacingDelayMs` has passed since the later of the start of
 *    pacing and the last action -> `paced` with the time left;
 * 7. otherwise `allowed`.
 *
 * @param state The person's state (`null` if HCP knows no person yet).
 * @param socialTrust The relation's social trust.
 * @param topic The action's topic (`"topic:work"`, or a bare `"work"`).
 * @param nowMs The current time in ms.
 * @param options The pacing delay.
 * @returns The verdict.
 * @throws {HcpError} Code `invalid_topic` when `topic` is not a valid topic.
 * @throws {RangeError} When `pacingDelayMs` is negative or not finite.
 *
 * @example
 * ```ts
 * import { gateAction } from "./gate.ts";
 * import { applyHumanVector, initialPersonState } from "./human_state.ts";
 * import assert from "node:assert/strict";
 *
 * const human = { presence: "focused", affect: "calm", clarity: 80, pressure: 20, intent: "x", consent: "limited" } as const;
 * const { state } = applyHumanVector(initialPersonState("ab".repeat(32), 0), human, "m1", 0);
 * const scoped = { ...state, consentScope: ["topic:work"] };
 * assert.equal(gateAction(scoped, "trusted", "topic:work", 10).verdict, "allowed");
 * const v = gateAction(scoped, "trusted", "topic:health", 10);
 * assert.equal(v.verdict === "refused" && v.code, "out_of_scope");
 * ```
 */
export function gateAction(
  state: PersonState | null,
  socialTrust: SocialTrust,
  topic: string,
  nowMs: number,
  options: GateOptions = {},
): ActionVerdict {
  const delay = options.pacingDelayMs ?? DEFAULT_PACING_DELAY_MS;
  if (!Number.isFinite(delay) || delay < 0) {
    throw new RangeError(`Expected pacingDelayMs to be a finite number >= 0, got ${delay}`);
  }
  const t = actionTopic(topic);
  const human = state?.human ?? null;
  if (state === null || human === null) {
    return _refused(
      t,
      new HcpConsentError(
        "no_consent",
        `Action ${JSON.stringify(t)} refused: the person's consent is not known yet`,
        { topic: t },
      ),
    );
  }
  if (human.consent === "revoked") {
    return _refused(
      t,
      new HcpConsentError(
        "consent_revoked",
        `Action ${JSON.stringify(t)} refused: the person revoked consent`,
        { topic: t },
      ),
    );
  }
  if (socialTrust === "restricted" || socialTrust === "untrusted") {
    return _refused(
      t,
      new HcpSocialTrustError(
        socialTrust,
        `Action ${JSON.stringify(t)} refused: the relation's social trust is ${socialTrust}`,
        { topic: t },
      ),
    );
  }
  if (human.consent === "limited" && !inConsentScope(state.consentScope, t)) {
    return _refused(
      t,
      new HcpConsentError(
        "out_of_scope",
        `Action ${JSON.stringify(t)} refused: consent is limited to ${
          JSON.stringify(state.consentScope)
        }`,
        { topic: t },
      ),
    );
  }
  if (state.checkIn !== null) {
    return {
      verdict: "check_in",
      topic: t,
      code: "check_in_required",
      reason: `Action ${
        JSON.stringify(t)
      } waits: the person is ${state.checkIn.affect}; check in first (HCP_FEEDBACK answers)`,
      checkIn: state.checkIn,
    };
  }
  if (pacingApplies(human, state.safetyFlags)) {
    const since = Math.max(state.pacedSinceMs ?? nowMs, state.lastActionAtMs ?? -Infinity);
    const left = since + delay - nowMs;
    if (left > 0) {
      return {
        verdict: "paced",
        topic: t,
        code: "paced",
        reason: `Action ${
          JSON.stringify(t)
        } paced: pressure ${human.pressure}, clarity ${human.clarity}; retry in ${left} ms`,
        retryAfterMs: left,
      };
    }
  }
  return { verdict: "allowed", topic: t };
}
