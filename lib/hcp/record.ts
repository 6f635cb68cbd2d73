/**
 * What the agent holds of its person's consent, as the person's side sees
 * it: the last human-state vector (consent included; `null` before the
 * first), and the scope and safety flags of the last `HCP_HELLO`. The
 * agent tells its person this record when the person's session opens (an
 * `HCP_CONTEXT` whose `context.consent_record` carries it), so a client or
 * a console sends the agent's current state and never defaults
 * (docs/protocols.md §8, "the person decides"); {@linkcode describeConsent}
 * says it in words.
 *
 * @module
 */

import type { Consent, HcpContextPayload, HumanState, JsonObject } from "../envelope/mod.ts";
import type { PersonRecord } from "../store/mod.ts";

/** What the agent holds of its person's consent. */
export interface ConsentRecord {
  /** The last human-state vector, `null` when the person has not told the agent yet. */
  readonly human: HumanState | null;
  /** `consent_scope` of the last `HCP_HELLO` (empty before one). */
  readonly consentScope: readonly string[];
  /** `safety_flags` of the last `HCP_HELLO`. */
  readonly safetyFlags: readonly string[];
}

/** The key of `HCP_CONTEXT.context` under which the agent tells its person the record. */
export const CONSENT_RECORD_KEY = "consent_record";

/**
 * The consent record of a stored person record.
 *
 * @param record The store's person record, `undefined` when none.
 * @returns The record (no vector, no scope when none is stored).
 *
 * @example
 * ```ts
 * import { consentRecordOf } from "./record.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(consentRecordOf(undefined), { human: null, consentScope: [], safetyFlags: [] });
 * ```
 */
export function consentRecordOf(record: PersonRecord | undefined): ConsentRecord {
  return {
    human: record?.humanState === undefined ? null : { ...record.humanState },
    consentScope: [...(record?.consentScope ?? [])],
    safetyFlags: [...(record?.safetyFlags ?? [])],
  };
}

/**
 * The `HCP_CONTEXT` payload by which the agent tells its person the record.
 *
 * @param record The record.
 * @returns The payload (`context.consent_record`).
 *
 * @example Round trip
 * ```ts
 * import { consentRecordContext, readConsentRecord } from "./record.ts";
 * import assert from "node:assert/strict";
 *
 * const record = { human: null, consentScope: ["topic:water"], safetyFlags: [] };
 * assert.deepEqual(readConsentRecord(consentRecordContext(record)), record);
 * ```
 */
export function consentRecordContext(record: ConsentRecord): HcpContextPayload {
  const context: JsonObject = {
    [CONSENT_RECORD_KEY]: {
      human: record.human === null ? null : { ...record.human },
      consent_scope: [...record.consentScope],
      safety_flags: [...record.safetyFlags],
    },
  };
  return { context, constraints: [], shared_history: [] };
}

const _CONSENTS: readonly unknown[] = ["granted", "limited", "revoked"];
const _AFFECTS: readonly unknown[] = ["calm", "tense", "anxious", "energized", "neutral"];
const _PRESENCES: readonly unknown[] = ["focused", "diffuse", "engaged", "overloaded"];

function _percent(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= 100;
}

function _strings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === "string");
}

function _human(v: unknown): HumanState | undefined {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
  const h = v as Record<string, unknown>;
  if (
    !_PRESENCES.includes(h.presence) || !_AFFECTS.includes(h.affect) || !_percent(h.clarity) ||
    !_percent(h.pressure) || typeof h.intent !== "string" || !_CONSENTS.includes(h.consent)
  ) {
    return undefined;
  }
  return {
    presence: h.presence as HumanState["presence"],
    affect: h.affect as HumanState["affect"],
    clarity: h.clarity,
    pressure: h.pressure,
    intent: h.intent,
    consent: h.consent as Consent,
  };
}

/**
 * Reads the consent record from an `HCP_CONTEXT` payload the agent sent.
 *
 * @param payload The payload (of a verified envelope from the agent).
 * @returns The record, or `null` when the payload does not carry one (or a malformed one).
 *
 * @example
 * ```ts
 * import { readConsentRecord } from "./record.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(readConsentRecord({ context: "a note", constraints: [], shared_history: [] }), null);
 * ```
 */
export function readConsentRecord(payload: unknown): ConsentRecord | null {
  if (payload === null || typeof payload !== "object") return null;
  const context = (payload as { context?: unknown }).context;
  if (context === null || typeof context !== "object" || Array.isArray(context)) return null;
  const r = (context as Record<string, unknown>)[CONSENT_RECORD_KEY];
  if (r === null || typeof r !== "object" || Array.isArray(r)) return null;
  const o = r as Record<string, unknown>;
  const human = o.human === null ? null : _human(o.human);
  if (human === undefined || !_strings(o.consent_scope) || !_strings(o.safety_flags)) return null;
  return { human, consentScope: [...o.consent_scope], safetyFlags: [...o.safety_flags] };
}

/**
 * The person's consent in words, as a console shows it.
 *
 * @param consent The consent the agent holds, `null` when none.
 * @param scope The consent scope (read when `limited`).
 * @returns One sentence.
 *
 * @example
 * ```ts
 * import { describeConsent } from "./record.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(describeConsent("revoked", []), /^You revoked consent/);
 * assert.match(describeConsent("limited", ["topic:water"]), /topic:water/);
 * assert.match(describeConsent(null, []), /not told your agent/);
 * ```
 */
export function describeConsent(consent: Consent | null, scope: readonly string[]): string {
  switch (consent) {
    case null:
      return "You have not told your agent your consent yet: it does nothing automated for you.";
    case "granted":
      return "You granted consent: your agent may act for you on any topic.";
    case "limited":
      return scope.length === 0
        ? "You limited consent to no topic: your agent does nothing automated for you."
        : `You limited consent to ${scope.join(", ")}: your agent acts for you only there.`;
    case "revoked":
      return "You revoked consent: your agent does nothing automated for you.";
  }
}
