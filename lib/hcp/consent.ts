/**
 * Consent scopes (docs/protocols.md §3, decision "consent scope"): entries are
 * `kind:value` strings; an automated action carries a topic (`topic:work`)
 * and is inside the scope when the scope lists it exactly or lists its kind
 * with `*` (`topic:*`). And who may change consent (§8, "the person
 * decides"): only `HCP_HELLO` and `HCP_STATE_UPDATE`.
 *
 * @module
 */

import type { Consent, HcpType } from "../envelope/mod.ts";
import { HcpConsentMismatchError, HcpError } from "./errors.ts";

/**
 * The HCP types that may change the person's consent (docs/protocols.md §8):
 * `HCP_HELLO` and `HCP_STATE_UPDATE`, sent by the person's explicit action.
 * Every other type must carry the consent the agent holds.
 */
export const CONSENT_TYPES: readonly HcpType[] = Object.freeze(["HCP_HELLO", "HCP_STATE_UPDATE"]);

/**
 * Checks the consent an HCP message carries against the agent's record:
 * a message of a type in {@linkcode CONSENT_TYPES} may carry any consent (it
 * is how consent changes); any other must carry exactly the recorded one,
 * and with nothing recorded yet none is exact.
 *
 * @param type The message's type.
 * @param carried Its `state.human.consent`.
 * @param recorded The consent the agent holds, `null` when none.
 * @throws {HcpConsentMismatchError} Code `consent_mismatch`, naming both.
 *
 * @example
 * ```ts
 * import { checkConsentCarried } from "./consent.ts";
 * import assert from "node:assert/strict";
 *
 * checkConsentCarried("HCP_STATE_UPDATE", "granted", "revoked"); // how consent changes
 * checkConsentCarried("HCP_INTENT", "revoked", "revoked");
 * assert.throws(() => checkConsentCarried("HCP_INTENT", "granted", "revoked"), {
 *   code: "consent_mismatch",
 * });
 * assert.throws(() => checkConsentCarried("HCP_FEEDBACK", "limited", null), {
 *   code: "consent_mismatch",
 * });
 * ```
 */
export function checkConsentCarried(
  type: HcpType,
  carried: Consent,
  recorded: Consent | null,
): void {
  if (CONSENT_TYPES.includes(type) || carried === recorded) return;
  throw new HcpConsentMismatchError(type, carried, recorded);
}

/** A parsed `kind:value` string. */
export interface ScopeEntry {
  /** The part before the first `:`. */
  readonly kind: string;
  /** The part after it; `"*"` in a scope entry means any value of the kind. */
  readonly value: string;
}

const _KIND = /^[A-Za-z0-9_.-]+$/;

/**
 * Parses a `kind:value` string: `kind` is letters, digits, `_`, `.` or `-`;
 * `value` is everything after the first `:`, non-empty, without white space
 * at either end.
 *
 * @param text The string, e.g. `"topic:work"`.
 * @returns The kind and value, or `null` when `text` is not of that form.
 *
 * @example
 * ```ts
 * import { parseScopeEntry } from "./consent.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseScopeEntry("topic:work"), { kind: "topic", value: "work" });
 * assert.deepEqual(parseScopeEntry("url:https://example.org"), { kind: "url", value: "https://example.org" });
 * assert.equal(parseScopeEntry("work"), null);
 * ```
 */
export function parseScopeEntry(text: string): ScopeEntry | null {
  const at = text.indexOf(":");
  if (at <= 0) return null;
  const kind = text.slice(0, at);
  const value = text.slice(at + 1);
  if (!_KIND.test(kind) || value.length === 0 || value.trim() !== value) return null;
  return { kind, value };
}

/**
 * Checks every entry of a `consent_scope`.
 *
 * @param scope The entries, as an `HCP_HELLO` carries them.
 * @returns The same entries, in order.
 * @throws {HcpError} Code `invalid_topic`, naming the first entry that is not `kind:value`.
 *
 * @example
 * ```ts
 * import { checkConsentScope } from "./consent.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(checkConsentScope(["topic:work", "topic:*"]), ["topic:work", "topic:*"]);
 * assert.throws(() => checkConsentScope(["work"]), { code: "invalid_topic" });
 * ```
 */
export function checkConsentScope(scope: readonly string[]): string[] {
  for (const entry of scope) {
    if (parseScopeEntry(entry) === null) {
      throw new HcpError(
        "invalid_topic",
        `Consent scope entry ${JSON.stringify(entry)} is not a "kind:value" string`,
      );
    }
  }
  return [...scope];
}

/**
 * The topic of an automated action as a `kind:value` string. A bare word
 * (an `HCP_INTENT`'s `topic` such as `"work"`) is read as `topic:<word>`.
 *
 * @param topic `"topic:work"` or `"work"`.
 * @returns The `kind:value` form.
 * @throws {HcpError} Code `invalid_topic` when `topic` has a `:` but is not
 *   `kind:value`, is empty, or has the wildcard value `*`.
 *
 * @example
 * ```ts
 * import { actionTopic } from "./consent.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(actionTopic("work"), "topic:work");
 * assert.equal(actionTopic("calendar:today"), "calendar:today");
 * assert.throws(() => actionTopic("topic:*"), { code: "invalid_topic" });
 * ```
 */
export function actionTopic(topic: string): string {
  const text = topic.includes(":") ? topic : `topic:${topic}`;
  const entry = parseScopeEntry(text);
  if (entry === null || entry.value === "*") {
    throw new HcpError(
      "invalid_topic",
      `Action topic ${JSON.stringify(topic)} is not a "kind:value" string with a concrete value`,
      { topic },
    );
  }
  return text;
}

/**
 * Whether an action topic is inside a consent scope: the scope lists the
 * topic exactly, or lists its kind with `*`. Scope entries that are not
 * `kind:value` never match.
 *
 * @param scope The person's `consent_scope`.
 * @param topic The action's topic, `kind:value` (see {@linkcode actionTopic}).
 * @returns `true` when the action is inside the scope.
 *
 * @example
 * ```ts
 * import { inConsentScope } from "./consent.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(inConsentScope(["topic:work"], "topic:work"));
 * assert.ok(inConsentScope(["topic:*"], "topic:health"));
 * assert.ok(!inConsentScope(["topic:work"], "topic:health"));
 * assert.ok(!inConsentScope(["topic:*"], "calendar:today"));
 * ```
 */
export function inConsentScope(scope: readonly string[], topic: string): boolean {
  const wanted = parseScopeEntry(topic);
  if (wanted === null) return false;
  for (const entry of scope) {
    const e = parseScopeEntry(entry);
    if (e === null || e.kind !== wanted.kind) continue;
    if (e.value === "*" || e.value === wanted.value) return true;
  }
  return false;
}
