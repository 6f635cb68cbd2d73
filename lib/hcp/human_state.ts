/**
 * The person's state as HCP keeps it: the last human-state vector, the
 * consent scope and safety flags from `HCP_HELLO`, the open check-in and the
 * pacing clock. Pure functions from one state to the next; the runtime turns
 * each new state into a store change.
 *
 * @module
 */

import type { Affect, HumanState, JsonObject } from "../envelope/mod.ts";
import type { PersonRecord } from "../store/mod.ts";

/** Pressure at or above which the agent must slow down (docs/protocols.md §3). */
export const PACING_PRESSURE = 80;
/** Clarity at or below which the agent must slow down (docs/protocols.md §3). */
export const PACING_CLARITY = 30;
/** The `HCP_HELLO` safety flag that keeps pacing on whatever the vector says. */
export const SLOW_PACING_FLAG = "slow_pacing";
/**
 * Lowest `satisfaction` of an `HCP_FEEDBACK` that answers an open check-in
 * with "go on"; below it the check-in stays open.
 */
export const CHECK_IN_GO_ON = 50;

/**
 * The human state the agent assumes of a person it has heard nothing from:
 * focused, neutral affect, middling clarity and pressure, unknown intent,
 * limited consent. An `HCP_ERROR` or an agent's HCP envelope echoes it until
 * the person's first vector arrives.
 *
 * @example
 * ```ts
 * import { NEUTRAL_HUMAN_STATE } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(NEUTRAL_HUMAN_STATE.consent, "limited");
 * assert.ok(Object.isFrozen(NEUTRAL_HUMAN_STATE));
 * ```
 */
export const NEUTRAL_HUMAN_STATE: Readonly<HumanState> = Object.freeze({
  presence: "focused",
  affect: "neutral",
  clarity: 50,
  pressure: 50,
  intent: "unknown",
  consent: "limited",
});

/** Affects that require an explicit check-in before the next automated action. */
export type CheckInAffect = Extract<Affect, "anxious" | "tense">;

/**
 * Whether an affect requires a check-in.
 *
 * @param affect The person's affect.
 * @returns `true` for `anxious` and `tense`.
 *
 * @example
 * ```ts
 * import { needsCheckIn } from "./human_state.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(needsCheckIn("anxious"));
 * assert.ok(!needsCheckIn("calm"));
 * ```
 */
export function needsCheckIn(affect: Affect): affect is CheckInAffect {
  return affect === "anxious" || affect === "tense";
}

/** A check-in the agent owes the person before its next automated action. */
export interface CheckIn {
  /** When it opened, in ms since the epoch. */
  readonly openedAtMs: number;
  /** The affect that opened it. */
  readonly affect: CheckInAffect;
  /** The `msg_id` of the envelope that carried that affect. */
  readonly openedBy: string;
  /** When the agent asked the person (ms), `null` until it did. */
  readonly askedAtMs: number | null;
}

/** What HCP keeps about the enrolled person (JSON-serializable). */
export interface PersonState {
  /** The person's fingerprint. */
  readonly person: string;
  /** The `agent_id` the person's envelopes carry (replies are addressed to it). */
  readonly agentId: string;
  /** The last human-state vector received, `null` before the first. */
  readonly human: HumanState | null;
  /** `consent_scope` of the last `HCP_HELLO` (empty before one). */
  readonly consentScope: readonly string[];
  /** `safety_flags` of the last `HCP_HELLO`. */
  readonly safetyFlags: readonly string[];
  /** `identity` of the last `HCP_HELLO`, `null` before one. */
  readonly identity: { readonly name: string; readonly role: string } | null;
  /** The open check-in, if any. */
  readonly checkIn: CheckIn | null;
  /** Since when pacing applies (ms), `null` when it does not. */
  readonly pacedSinceMs: number | null;
  /** When the last automated action was allowed (ms), `null` before the first. */
  readonly lastActionAtMs: number | null;
  /** When this state last changed (ms). */
  readonly updatedAtMs: number;
}

/**
 * The state of a person HCP has heard nothing from yet.
 *
 * @param person The person's fingerprint.
 * @param nowMs The current time in ms.
 * @param agentId The `agent_id` of the person's envelopes. @default {"person"}
 * @returns An empty state (no vector, no scope, no check-in).
 *
 * @example
 * ```ts
 * import { initialPersonState } from "./human_state.ts";
 * import assert from "node:assert/strict";
 *
 * const s = initialPersonState("ab".repeat(32), 0);
 * assert.equal(s.human, null);
 * assert.deepEqual(s.consentScope, []);
 * ```
 */
export function initialPersonState(person: string, nowMs: number, agentId = "person"): PersonState {
  return {
    person,
    agentId,
    human: null,
    consentScope: [],
    safetyFlags: [],
    identity: null,
    checkIn: null,
    pacedSinceMs: null,
    lastActionAtMs: null,
    updatedAtMs: nowMs,
  };
}

/**
 * Whether pacing applies: pressure >= 80, clarity <= 30, or the person's
 * `slow_pacing` safety flag.
 *
 * @param human The human-state vector (`null`: nothing known, no pacing).
 * @param safetyFlags The person's safety flags.
 * @returns `true` when the agent must slow down.
 *
 * @example
 * ```ts
 * import { pacingApplies } from "./human_state.ts";
 * import assert from "node:assert/strict";
 *
 * const v = { presence: "focused", affect: "calm", clarity: 70, pressure: 85, intent: "x", consent: "granted" } as const;
 * assert.ok(pacingApplies(v, []));
 * assert.ok(!pacingApplies({ ...v, pressure: 79 }, []));
 * assert.ok(pacingApplies({ ...v, pressure: 10, clarity: 30 }, []));
 * assert.ok(pacingApplies({ ...v, pressure: 10 }, ["slow_pacing"]));
 * ```
 */
export function pacingApplies(human: HumanState | null, safetyFlags: readonly string[]): boolean {
  if (safetyFlags.includes(SLOW_PACING_FLAG)) return true;
  if (human === null) return false;
  return human.pressure >= PACING_PRESSURE || human.clarity <= PACING_CLARITY;
}

/** Something a state update changed that the runtime reports or hands to the trust layer. */
export type PersonNote =
  | {
    readonly kind: "consent_changed";
    readonly from: HumanState["consent"] | null;
    readonly to: HumanState["consent"];
  }
  | { readonly kind: "check_in_opened"; readonly affect: CheckInAffect }
  | { readonly kind: "check_in_answered"; readonly goOn: boolean }
  | { readonly kind: "pacing_started" }
  | { readonly kind: "pacing_ended" };

/** A new person state and what changed. */
export interface PersonUpdate {
  /** The state after the update. */
  readonly state: PersonState;
  /** What changed, in order. */
  readonly notes: readonly PersonNote[];
}

function _withPacing(
  prev: PersonState,
  next: PersonState,
  nowMs: number,
  notes: PersonNote[],
): PersonState {
  const was = prev.pacedSinceMs !== null;
  const is = pacingApplies(next.human, next.safetyFlags);
  if (is === was) return next;
  notes.push({ kind: is ? "pacing_started" : "pacing_ended" });
  return { ...next, pacedSinceMs: is ? nowMs : null };
}

/**
 * Applies a human-state vector (an envelope's `state.human`, or an
 * `HCP_STATE_UPDATE` merged into it) to the person's state.
 *
 * Rules: consent becomes the vector's consent; pacing starts when pressure
 * reaches 80 or clarity falls to 30 (and ends when neither holds); a
 * check-in opens when the affect *becomes* anxious or tense (from another
 * affect, or from nothing), so a person who stays anxious is not asked
 * again after answering; an open check-in stays open until answered.
 *
 * @param state The person's state.
 * @param human The new vector.
 * @param msgId The `msg_id` of the envelope carrying it.
 * @param nowMs The current time in ms.
 * @returns The new state and what changed.
 *
 * @example A tense, pressed person
 * ```ts
 * import { applyHumanVector, initialPersonState } from "./human_state.ts";
 * import assert from "node:assert/strict";
 *
 * const s0 = initialPersonState("ab".repeat(32), 0);
 * const { state, notes } = applyHumanVector(s0, {
 *   presence: "focused", affect: "tense", clarity: 60, pressure: 90, intent: "ship", consent: "granted",
 * }, "m1", 1000);
 * assert.equal(state.checkIn?.affect, "tense");
 * assert.equal(state.pacedSinceMs, 1000);
 * assert.deepEqual(notes.map((n) => n.kind), ["consent_changed", "check_in_opened", "pacing_started"]);
 * ```
 */
export function applyHumanVector(
  state: PersonState,
  human: HumanState,
  msgId: string,
  nowMs: number,
): PersonUpdate {
  const notes: PersonNote[] = [];
  const before = state.human;
  if (before?.consent !== human.consent) {
    notes.push({ kind: "consent_changed", from: before?.consent ?? null, to: human.consent });
  }
  let checkIn = state.checkIn;
  if (checkIn === null && needsCheckIn(human.affect) && before?.affect !== human.affect) {
    checkIn = { openedAtMs: nowMs, affect: human.affect, openedBy: msgId, askedAtMs: null };
    notes.push({ kind: "check_in_opened", affect: human.affect });
  }
  const next = _withPacing(
    state,
    { ...state, human: { ...human }, checkIn, updatedAtMs: nowMs },
    nowMs,
    notes,
  );
  return { state: next, notes };
}

/**
 * Records an `HCP_HELLO`: the person's identity, consent scope and safety
 * flags replace the previous ones (pacing is re-evaluated, since
 * `slow_pacing` may have come or gone).
 *
 * @param state The person's state.
 * @param hello The `HCP_HELLO` payload (scope already checked).
 * @param nowMs The current time in ms.
 * @returns The new state and what changed.
 *
 * @example
 * ```ts
 * import { applyHello, initialPersonState } from "./human_state.ts";
 * import assert from "node:assert/strict";
 *
 * const { state, notes } = applyHello(initialPersonState("ab".repeat(32), 0), {
 *   identity: { name: "Ada", role: "owner" },
 *   consent_scope: ["topic:work"],
 *   safety_flags: ["slow_pacing"],
 * }, 5);
 * assert.deepEqual(state.consentScope, ["topic:work"]);
 * assert.equal(state.pacedSinceMs, 5);
 * assert.deepEqual(notes, [{ kind: "pacing_started" }]);
 * ```
 */
export function applyHello(
  state: PersonState,
  hello: {
    readonly identity: { readonly name: string; readonly role: string };
    readonly consent_scope: readonly string[];
    readonly safety_flags: readonly string[];
  },
  nowMs: number,
): PersonUpdate {
  const notes: PersonNote[] = [];
  const next = _withPacing(
    state,
    {
      ...state,
      identity: { name: hello.identity.name, role: hello.identity.role },
      consentScope: [...hello.consent_scope],
      safetyFlags: [...hello.safety_flags],
      updatedAtMs: nowMs,
    },
    nowMs,
    notes,
  );
  return { state: next, notes };
}

/**
 * Answers the open check-in with an `HCP_FEEDBACK`: `satisfaction` >= 50
 * means "go on" and closes it; below 50 means "not yet" and leaves it open
 * (the agent may ask again, and still may not act). Without an open
 * check-in nothing changes.
 *
 * @param state The person's state.
 * @param satisfaction The feedback's `satisfaction` (0..100).
 * @param nowMs The current time in ms.
 * @returns The new state and what changed (empty when no check-in was open).
 *
 * @example
 * ```ts
 * import { answerCheckIn, type PersonState } from "./human_state.ts";
 * import assert from "node:assert/strict";
 *
 * const open = { checkIn: { openedAtMs: 0, affect: "anxious", openedBy: "m1", askedAtMs: null } } as unknown as PersonState;
 * assert.equal(answerCheckIn(open, 30, 1).state.checkIn?.affect, "anxious");
 * assert.equal(answerCheckIn(open, 80, 1).state.checkIn, null);
 * ```
 */
export function answerCheckIn(
  state: PersonState,
  satisfaction: number,
  nowMs: number,
): PersonUpdate {
  if (state.checkIn === null) return { state, notes: [] };
  const goOn = satisfaction >= CHECK_IN_GO_ON;
  return {
    state: goOn ? { ...state, checkIn: null, updatedAtMs: nowMs } : state,
    notes: [{ kind: "check_in_answered", goOn }],
  };
}

/**
 * Records that an automated action was allowed now (the pacing clock).
 *
 * @param state The person's state.
 * @param nowMs The current time in ms.
 * @returns The new state.
 *
 * @example
 * ```ts
 * import { initialPersonState, recordAction } from "./human_state.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(recordAction(initialPersonState("ab".repeat(32), 0), 42).lastActionAtMs, 42);
 * ```
 */
export function recordAction(state: PersonState, nowMs: number): PersonState {
  return { ...state, lastActionAtMs: nowMs, updatedAtMs: nowMs };
}

/**
 * Records that the agent asked the person to check in.
 *
 * @param state The person's state (with an open check-in; otherwise returned unchanged).
 * @param nowMs The current time in ms.
 * @returns The new state.
 *
 * @example
 * ```ts
 * import { markCheckInAsked, type PersonState } from "./human_state.ts";
 * import assert from "node:assert/strict";
 *
 * const open = { checkIn: { openedAtMs: 0, affect: "tense", openedBy: "m1", askedAtMs: null } } as unknown as PersonState;
 * assert.equal(markCheckInAsked(open, 7).checkIn?.askedAtMs, 7);
 * ```
 */
export function markCheckInAsked(state: PersonState, nowMs: number): PersonState {
  if (state.checkIn === null) return state;
  return { ...state, checkIn: { ...state.checkIn, askedAtMs: nowMs }, updatedAtMs: nowMs };
}

function _num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function _checkIn(v: unknown): CheckIn | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const openedAtMs = _num(o.openedAtMs);
  if (openedAtMs === null || (o.affect !== "anxious" && o.affect !== "tense")) return null;
  return {
    openedAtMs,
    affect: o.affect,
    openedBy: typeof o.openedBy === "string" ? o.openedBy : "",
    askedAtMs: _num(o.askedAtMs),
  };
}

/**
 * Reads the person's state from the store's record (HCP keeps the check-in,
 * the pacing clock and the person's `agent_id` in the record's `data`).
 *
 * @param record The stored record, or `undefined` if none.
 * @param person The person's fingerprint.
 * @param nowMs The current time in ms (for a new state).
 * @returns The state.
 *
 * @example Round trip through the store's record
 * ```ts
 * import { applyHumanVector, initialPersonState, personRecordOf, personStateOf } from "./human_state.ts";
 * import assert from "node:assert/strict";
 *
 * const fp = "ab".repeat(32);
 * const { state } = applyHumanVector(initialPersonState(fp, 0, "ada"), {
 *   presence: "focused", affect: "anxious", clarity: 20, pressure: 10, intent: "x", consent: "granted",
 * }, "m1", 5);
 * assert.deepEqual(personStateOf(personRecordOf(state), fp, 9), state);
 * assert.equal(personStateOf(undefined, fp, 9).human, null);
 * ```
 */
export function personStateOf(
  record: PersonRecord | undefined,
  person: string,
  nowMs: number,
): PersonState {
  if (record === undefined) return initialPersonState(person, nowMs);
  const data = record.data;
  return {
    person: record.person,
    agentId: typeof data.agentId === "string" ? data.agentId : "person",
    human: record.humanState === undefined ? null : { ...record.humanState },
    consentScope: [...record.consentScope],
    safetyFlags: [...record.safetyFlags],
    identity: record.identity === undefined ? null : { ...record.identity },
    checkIn: _checkIn(data.checkIn),
    pacedSinceMs: _num(data.pacedSinceMs),
    lastActionAtMs: _num(data.lastActionAtMs),
    updatedAtMs: record.updatedMs,
  };
}

/**
 * The store's record of a person state (for a `person.upsert` change).
 *
 * @param state The state; its vector must be known (every HCP envelope carries one).
 * @returns The record.
 * @throws {TypeError} When no human-state vector is known yet.
 *
 * @example
 * ```ts
 * import { initialPersonState, personRecordOf } from "./human_state.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => personRecordOf(initialPersonState("ab".repeat(32), 0)), TypeError);
 * ```
 */
export function personRecordOf(state: PersonState): PersonRecord {
  if (state.human === null) {
    throw new TypeError(`Person ${state.person} has no human-state vector to store yet`);
  }
  const data: JsonObject = {
    agentId: state.agentId,
    checkIn: state.checkIn === null ? null : { ...state.checkIn },
    pacedSinceMs: state.pacedSinceMs,
    lastActionAtMs: state.lastActionAtMs,
  };
  const record: PersonRecord = {
    person: state.person,
    consent: state.human.consent,
    consentScope: [...state.consentScope],
    safetyFlags: [...state.safetyFlags],
    humanState: { ...state.human },
    checkInRequired: state.checkIn !== null,
    data,
    updatedMs: state.updatedAtMs,
  };
  if (state.identity !== null) record.identity = { ...state.identity };
  return record;
}
