/**
 * Typed errors of the HCP runtime. Each `code` is also the `code` of the
 * `HCP_ERROR` the runtime sends to the person, so one vocabulary names a
 * refusal in the code and on the wire.
 *
 * @module
 */

import type { Consent, HcpType } from "../envelope/mod.ts";
import { Web4Error, type Web4ErrorOptions } from "../errors/mod.ts";

/**
 * Why HCP refused a message or an automated action.
 *
 * - `not_person`: the envelope's sender is not the agent's enrolled person.
 * - `no_consent`: nothing is known yet about the person's consent.
 * - `consent_revoked`: the person revoked consent; nothing automated happens.
 * - `out_of_scope`: consent is `limited` and the topic is outside `consent_scope`.
 * - `restricted` / `untrusted`: the social trust of the relation forbids automated actions.
 * - `decision_incomplete`: an `HCP_DECISION` lacks a rationale or alternatives.
 * - `invalid_topic`: a topic is not a `kind:value` string.
 * - `consent_mismatch`: a message that may not change consent (anything but
 *   `HCP_HELLO` and `HCP_STATE_UPDATE`) carries a consent other than the
 *   agent's record; it is refused and changes nothing.
 */
export type HcpErrorCode =
  | "not_person"
  | "no_consent"
  | "consent_revoked"
  | "out_of_scope"
  | "restricted"
  | "untrusted"
  | "decision_incomplete"
  | "invalid_topic"
  | "consent_mismatch";

/** Options of {@linkcode HcpError}. */
export interface HcpErrorOptions extends Web4ErrorOptions {
  /** The topic of the refused action, when there is one. */
  topic?: string | undefined;
}

/**
 * Base class of the HCP runtime's errors; `code` is the wire code of the
 * matching `HCP_ERROR`.
 *
 * @example Telling a consent refusal apart
 * ```ts
 * import { HcpConsentError, HcpError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new HcpConsentError("consent_revoked", 'Consent is revoked: "topic:work" refused', {
 *   topic: "topic:work",
 * });
 * assert.ok(err instanceof HcpError);
 * assert.equal(err.code, "consent_revoked");
 * assert.equal(err.topic, "topic:work");
 * ```
 */
export class HcpError extends Web4Error<HcpErrorCode, HcpErrorOptions> {
  /** The topic of the refused action, if any. */
  declare readonly topic: string | undefined;
}

/**
 * Code `not_person`: an HCP envelope from someone other than the enrolled person.
 *
 * @example
 * ```ts
 * import { HcpPersonError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new HcpPersonError("cd".repeat(32), "ab".repeat(32));
 * assert.equal(err.code, "not_person");
 * assert.match(err.message, /cdcd/);
 * ```
 */
export class HcpPersonError extends HcpError {
  /** Always `"not_person"`. */
  declare readonly code: "not_person";
  /** The fingerprint the envelope came from. */
  readonly sender: string;
  /** The enrolled person's fingerprint (`null` when none is enrolled). */
  readonly person: string | null;

  /**
   * Creates an error.
   *
   * @param sender The fingerprint the envelope came from.
   * @param person The enrolled person's fingerprint, or `null`.
   */
  constructor(sender: string, person: string | null) {
    super(
      "not_person",
      person === null
        ? `HCP envelope from ${sender} refused: this agent has no enrolled person`
        : `HCP envelope from ${sender} refused: only the enrolled person ${person} may use HCP`,
    );
    this.sender = sender;
    this.person = person;
  }
}

/**
 * Codes `no_consent`, `consent_revoked`, `out_of_scope`: consent forbids the action.
 *
 * @example
 * ```ts
 * import { HcpConsentError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new HcpConsentError("out_of_scope", 'Action "topic:health" is outside the scope', {
 *   topic: "topic:health",
 * });
 * assert.equal(err.topic, "topic:health");
 * ```
 */
export class HcpConsentError extends HcpError {
  /** Which consent rule refused. */
  declare readonly code: "no_consent" | "consent_revoked" | "out_of_scope";

  /**
   * Creates an error.
   *
   * @param code Which consent rule refused.
   * @param message Human-readable message naming the topic.
   * @param options `topic` and `cause`.
   */
  constructor(code: HcpConsentError["code"], message: string, options?: HcpErrorOptions) {
    super(code, message, options);
  }
}

/**
 * Codes `restricted`, `untrusted`: the relation's social trust forbids the action.
 *
 * @example
 * ```ts
 * import { HcpSocialTrustError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new HcpSocialTrustError("restricted", "Relation is restricted").code, "restricted");
 * ```
 */
export class HcpSocialTrustError extends HcpError {
  /** The social trust state that refused. */
  declare readonly code: "restricted" | "untrusted";

  /**
   * Creates an error.
   *
   * @param code The social trust state that refused.
   * @param message Human-readable message naming the topic.
   * @param options `topic` and `cause`.
   */
  constructor(code: HcpSocialTrustError["code"], message: string, options?: HcpErrorOptions) {
    super(code, message, options);
  }
}

/**
 * Code `decision_incomplete`: an `HCP_DECISION` without a rationale or alternatives.
 *
 * @example
 * ```ts
 * import { HcpDecisionError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new HcpDecisionError("alternatives", 'HCP_DECISION "Ship" lists no alternatives');
 * assert.equal(err.field, "alternatives");
 * ```
 */
export class HcpDecisionError extends HcpError {
  /** Always `"decision_incomplete"`. */
  declare readonly code: "decision_incomplete";
  /** The missing field: `"rationale"` or `"alternatives"`. */
  readonly field: "rationale" | "alternatives";

  /**
   * Creates an error.
   *
   * @param field The missing field.
   * @param message Human-readable message naming the decision.
   */
  constructor(field: "rationale" | "alternatives", message: string) {
    super("decision_incomplete", message);
    this.field = field;
  }
}

/**
 * Code `consent_mismatch`: an HCP message of a type that may not change
 * consent (docs/protocols.md §8, "the person decides": only `HCP_HELLO` and
 * `HCP_STATE_UPDATE` do) carries a `state.human.consent` other than the
 * one the agent holds. The message is refused and changes nothing, so a
 * page or client that sends defaults cannot give consent by accident.
 *
 * @example
 * ```ts
 * import { HcpConsentMismatchError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new HcpConsentMismatchError("HCP_INTENT", "granted", "revoked");
 * assert.equal(err.code, "consent_mismatch");
 * assert.deepEqual([err.carried, err.recorded], ["granted", "revoked"]);
 * assert.match(err.message, /HCP_INTENT carries consent "granted"/);
 * ```
 */
export class HcpConsentMismatchError extends HcpError {
  /** Always `"consent_mismatch"`. */
  declare readonly code: "consent_mismatch";
  /** The refused message's type. */
  readonly messageType: HcpType;
  /** The consent the message carried. */
  readonly carried: Consent;
  /** The consent the agent holds (`null`: none yet). */
  readonly recorded: Consent | null;

  /**
   * Creates an error.
   *
   * @param messageType The refused message's type.
   * @param carried The consent it carried.
   * @param recorded The consent the agent holds, `null` when none.
   */
  constructor(messageType: HcpType, carried: Consent, recorded: Consent | null) {
    super(
      "consent_mismatch",
      recorded === null
        ? `${messageType} carries consent ${
          JSON.stringify(carried)
        }, but the agent holds no consent of yours yet: only HCP_HELLO or HCP_STATE_UPDATE set it`
        : `${messageType} carries consent ${JSON.stringify(carried)}, but the agent holds ${
          JSON.stringify(recorded)
        }: only HCP_HELLO or HCP_STATE_UPDATE change consent`,
    );
    this.messageType = messageType;
    this.carried = carried;
    this.recorded = recorded;
  }
}
