/**
 * The two trust machines as one pure transition path,
 * {@linkcode applyTrustEvent}: (record, event, context) -> transition.
 *
 * @module
 */

import type { SocialTrust, TrustMachine, TrustRecord, TrustState } from "../store/mod.ts";
import type { PeerTrust } from "../envelope/mod.ts";
import type {
  CipTrustEventType,
  HcpTrustEventType,
  PinnedLevel,
  Transition,
  TrustConfig,
  TrustContext,
  TrustEvent,
} from "./types.ts";

/** The default settings of both machines. */
export const DEFAULT_TRUST_CONFIG: Readonly<TrustConfig> = Object.freeze({
  unverifiableThreshold: 3,
  unverifiableWindowMs: 600_000,
  cooldownMs: 600_000,
  maliceThreshold: 5,
  misunderstandingThreshold: 3,
  misunderstandingWindowMs: 1_800_000,
  anchors: Object.freeze([]) as readonly string[],
  owner: "owner",
  pins: Object.freeze({}),
});

/** Every CIP event type, in the order of the spec's table. */
export const CIP_TRUST_EVENTS: readonly CipTrustEventType[] = Object.freeze([
  "valid_handshake",
  "verified_knowledge",
  "conflict",
  "unverifiable_claim",
  "severe_conflict",
  "malicious_evidence",
  "proven_malice",
  "anomaly",
  "invalid_signature",
  "fingerprint_mismatch",
  "manual_override",
  "anchor_declared",
  "pin_declared",
]);

/** Every HCP event type. */
export const HCP_TRUST_EVENTS: readonly HcpTrustEventType[] = Object.freeze([
  "valid_hello",
  "mutual_validation",
  "misunderstanding",
  "consent_revoked",
  "consent_restored",
]);

/** The CIP peer states. */
export const CIP_TRUST_STATES: readonly PeerTrust[] = Object.freeze([
  "untrusted",
  "probing",
  "trusted",
  "blacklisted",
]);

/** The HCP social-trust states. */
export const HCP_TRUST_STATES: readonly SocialTrust[] = Object.freeze([
  "untrusted",
  "probing",
  "trusted",
  "restricted",
]);

/**
 * Merges settings with {@linkcode DEFAULT_TRUST_CONFIG} and checks them.
 *
 * @param config Partial settings.
 * @returns The full settings.
 * @throws {RangeError} If a threshold is not a positive integer or a
 *   duration not a non-negative finite number.
 *
 * @example
 * ```ts
 * import { trustConfig } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(trustConfig({ cooldownMs: 0 }).unverifiableThreshold, 3);
 * assert.throws(() => trustConfig({ maliceThreshold: 0 }), RangeError);
 * ```
 */
export function trustConfig(config: Partial<TrustConfig> = {}): Readonly<TrustConfig> {
  const merged: TrustConfig = { ...DEFAULT_TRUST_CONFIG, ...config };
  for (
    const key of ["unverifiableThreshold", "maliceThreshold", "misunderstandingThreshold"] as const
  ) {
    if (!(Number.isSafeInteger(merged[key]) && merged[key] >= 1)) {
      throw new RangeError(`Expected trust ${key} to be a positive integer, got ${merged[key]}`);
    }
  }
  for (const key of ["unverifiableWindowMs", "cooldownMs", "misunderstandingWindowMs"] as const) {
    if (!(Number.isFinite(merged[key]) && merged[key] >= 0)) {
      throw new RangeError(`Expected trust ${key} to be a duration >= 0, got ${merged[key]}`);
    }
  }
  for (const [fp, level] of Object.entries(merged.pins)) {
    if (level !== "probing" && level !== "trusted") {
      throw new RangeError(`Expected the pin of ${fp} to be probing or trusted, got ${level}`);
    }
  }
  return Object.freeze({
    ...merged,
    anchors: Object.freeze([...merged.anchors]),
    pins: Object.freeze({ ...merged.pins }),
  });
}

/**
 * The record of a subject nobody has seen: `untrusted`, no cooldown, no counts.
 *
 * @param machine Which machine.
 * @param subject The subject's fingerprint.
 * @param nowMs Now.
 * @returns A fresh record.
 *
 * @example
 * ```ts
 * import { initialTrustRecord } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(initialTrustRecord("cip", "ab".repeat(32), 0).state, "untrusted");
 * ```
 */
export function initialTrustRecord(
  machine: TrustMachine,
  subject: string,
  nowMs: number,
): TrustRecord {
  return {
    machine,
    subject,
    state: "untrusted",
    sinceMs: nowMs,
    cooldownUntilMs: 0,
    maliceCount: 0,
    strikesMs: [],
  };
}

/** What a row of a machine decides: the next state and the reason, plus record edits. */
interface _Step {
  to: TrustState;
  reason: string;
  /** Edits of the record's counters (applied even when the state stays). */
  edit?: Partial<Pick<TrustRecord, "cooldownUntilMs" | "maliceCount" | "strikesMs">>;
}

const _KNOWN: Record<TrustMachine, ReadonlySet<string>> = {
  cip: new Set(CIP_TRUST_EVENTS),
  hcp: new Set(HCP_TRUST_EVENTS),
};
const _STATES: Record<TrustMachine, ReadonlySet<string>> = {
  cip: new Set(CIP_TRUST_STATES),
  hcp: new Set(HCP_TRUST_STATES),
};

function _ignored(state: TrustState, why: string): _Step {
  return { to: state, reason: why };
}

/** Strikes inside the window, plus one now. */
function _strike(record: TrustRecord, nowMs: number, windowMs: number): number[] {
  return [...record.strikesMs.filter((t) => t > nowMs - windowMs), nowMs];
}

/** `untrusted` counts a conflict or unverifiable claim toward malice. */
function _countMalice(record: TrustRecord, event: string, config: TrustConfig): _Step {
  const count = record.maliceCount + 1;
  if (count >= config.maliceThreshold) {
    return {
      to: "blacklisted",
      reason: `${event} while untrusted: malice count ${count} reached ${config.maliceThreshold}`,
      edit: { maliceCount: count },
    };
  }
  return {
    to: "untrusted",
    reason: `${event} while untrusted: counted toward malice (${count}/${config.maliceThreshold})`,
    edit: { maliceCount: count },
  };
}

function _toUntrusted(nowMs: number, config: TrustConfig, reason: string): _Step {
  return {
    to: "untrusted",
    reason: `${reason}; cooldown until ${new Date(nowMs + config.cooldownMs).toISOString()}`,
    edit: { cooldownUntilMs: nowMs + config.cooldownMs, strikesMs: [] },
  };
}

function _cipStep(
  record: TrustRecord,
  event: CipTrustEventType,
  actor: string | undefined,
  nowMs: number,
  config: TrustConfig,
): _Step {
  const s = record.state as PeerTrust;
  if (s === "blacklisted") {
    if (event === "manual_override") {
      return {
        to: "probing",
        reason: `manual override by ${actor}`,
        edit: { maliceCount: 0, cooldownUntilMs: 0, strikesMs: [] },
      };
    }
    return _ignored(s, "blacklisted: only a manual override by a named human applies");
  }
  switch (event) {
    case "fingerprint_mismatch":
      return { to: "blacklisted", reason: "fingerprint mismatch of the authenticated peer" };
    case "proven_malice":
      return { to: "blacklisted", reason: "proven malice" };
    case "valid_handshake":
      if (s !== "untrusted") return _ignored(s, `valid handshake while ${s}: no change`);
      if (nowMs < record.cooldownUntilMs) {
        return _ignored(
          s,
          `valid handshake during cooldown (until ${
            new Date(record.cooldownUntilMs).toISOString()
          })`,
        );
      }
      return { to: "probing", reason: "valid handshake" };
    case "verified_knowledge":
      return s === "probing"
        ? { to: "trusted", reason: "verified knowledge (>= 2 trusted confirmations)" }
        : _ignored(s, `verified knowledge while ${s}: no change`);
    case "conflict":
      if (s === "probing") return _toUntrusted(nowMs, config, "conflict while probing");
      if (s === "untrusted") return _countMalice(record, event, config);
      return _ignored(s, "conflict while trusted: not in the table (anomaly re-verifies)");
    case "unverifiable_claim": {
      if (s === "untrusted") return _countMalice(record, event, config);
      if (s === "trusted") return _ignored(s, "unverifiable claim while trusted: no change");
      const strikes = _strike(record, nowMs, config.unverifiableWindowMs);
      if (strikes.length >= config.unverifiableThreshold) {
        return _toUntrusted(
          nowMs,
          config,
          `repeated unverifiable claims (${strikes.length} within ${config.unverifiableWindowMs} ms)`,
        );
      }
      return {
        to: s,
        reason: `unverifiable claim counted (${strikes.length}/${config.unverifiableThreshold})`,
        edit: { strikesMs: strikes },
      };
    }
    case "severe_conflict":
    case "malicious_evidence":
      return s === "trusted"
        ? { to: "blacklisted", reason: event.replace("_", " ") + " from a trusted peer" }
        : _ignored(s, `${event} while ${s}: not in the table`);
    case "anomaly":
      return s === "trusted"
        ? { to: "probing", reason: "temporary anomaly: re-verify" }
        : _ignored(s, `anomaly while ${s}: no change`);
    case "invalid_signature":
      return s === "untrusted"
        ? _ignored(s, "invalid signature while untrusted: no change")
        : _toUntrusted(nowMs, config, `invalid signature while ${s}`);
    case "manual_override":
      return _ignored(s, `manual override by ${actor} while ${s}: only lifts a blacklisting`);
    case "anchor_declared":
      return s === "untrusted"
        ? { to: "trusted", reason: `trust anchor declared by ${actor}` }
        : _ignored(s, `trust anchor declared while ${s}: the machine keeps its state`);
    case "pin_declared":
      return _ignored(s, "pin declared for a peer the configuration does not pin: no change");
  }
}

/** The owner's pin of a subject, if any (own properties only). */
function _pinOf(config: TrustConfig, subject: string): PinnedLevel | undefined {
  return Object.hasOwn(config.pins, subject) ? config.pins[subject] : undefined;
}

/** A pinned peer: `pin_declared` sets its level; every other event is ignored. */
function _pinnedStep(
  record: TrustRecord,
  event: CipTrustEventType,
  actor: string | undefined,
  pin: PinnedLevel,
): _Step {
  if (event === "pin_declared") {
    return record.state === pin ? _ignored(pin, `pinned at ${pin} by ${actor}: already there`) : {
      to: pin,
      reason: `pinned at ${pin} by ${actor}`,
      edit: { maliceCount: 0, cooldownUntilMs: 0, strikesMs: [] },
    };
  }
  return _ignored(record.state, `${event} while pinned at ${record.state} by the owner: no change`);
}

function _hcpStep(
  record: TrustRecord,
  event: HcpTrustEventType,
  nowMs: number,
  config: TrustConfig,
): _Step {
  const s = record.state as SocialTrust;
  switch (event) {
    case "consent_revoked":
      return s === "restricted"
        ? _ignored(s, "consent revoked while restricted: no change")
        : { to: "restricted", reason: "consent revoked", edit: { strikesMs: [] } };
    case "consent_restored":
      return s === "restricted"
        ? { to: "probing", reason: "consent restored: re-establish" }
        : _ignored(s, `consent restored while ${s}: no change`);
    case "valid_hello":
      return s === "untrusted"
        ? { to: "probing", reason: "valid HCP_HELLO from the enrolled person" }
        : _ignored(s, `valid hello while ${s}: no change`);
    case "mutual_validation":
      return s === "probing"
        ? { to: "trusted", reason: "mutual validation", edit: { strikesMs: [] } }
        : _ignored(s, `mutual validation while ${s}: no change`);
    case "misunderstanding": {
      if (s !== "trusted" && s !== "probing") {
        return _ignored(s, `misunderstanding while ${s}: no change`);
      }
      const strikes = _strike(record, nowMs, config.misunderstandingWindowMs);
      if (s === "trusted" && strikes.length >= config.misunderstandingThreshold) {
        return {
          to: "probing",
          reason:
            `repeated misunderstanding (${strikes.length} within ${config.misunderstandingWindowMs} ms)`,
          edit: { strikesMs: [] },
        };
      }
      return {
        to: s,
        reason: `misunderstanding counted (${strikes.length}/${config.misunderstandingThreshold})`,
        edit: { strikesMs: strikes },
      };
    }
  }
}

/**
 * The one transition path of both machines: applies `event` to `record` at
 * `ctx.nowMs` and returns what happened. Pure: nothing is stored or
 * emitted; {@linkcode transitionChanges} and {@linkcode transitionEvent}
 * turn the result into store changes and a telemetry event.
 *
 * A (state, event) pair outside the table leaves the state unchanged and
 * comes back with `changed: false` and the reason it was ignored; counted
 * events (unverifiable claims, misunderstandings, malice while untrusted)
 * also come back unchanged but with the updated counters in `record`.
 *
 * @param record The subject's current record ({@linkcode initialTrustRecord} if none).
 * @param event What happened.
 * @param ctx Now and the settings.
 * @returns The transition.
 * @throws {TypeError} If the event type is not one of the record's machine,
 *   the record's state is not one of its machine, or a `manual_override` or
 *   `anchor_declared` has no named `actor`.
 *
 * @example A valid handshake moves an unknown peer to probing
 * ```ts
 * import { applyTrustEvent, initialTrustRecord } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const peer = "ab".repeat(32);
 * const t = applyTrustEvent(initialTrustRecord("cip", peer, 0), { type: "valid_handshake", evidence: ["m-1"] }, { nowMs: 1 });
 * assert.deepEqual([t.from, t.to, t.changed], ["untrusted", "probing", true]);
 * const again = applyTrustEvent(t.record, { type: "valid_handshake" }, { nowMs: 2 });
 * assert.equal(again.changed, false);
 * ```
 */
export function applyTrustEvent(
  record: TrustRecord,
  event: TrustEvent,
  ctx: TrustContext,
): Transition {
  const { machine } = record;
  if (!_KNOWN[machine]?.has(event.type)) {
    throw new TypeError(
      `Unknown ${String(machine).toUpperCase()} trust event ${JSON.stringify(event.type)}`,
    );
  }
  if (!_STATES[machine].has(record.state)) {
    throw new TypeError(
      `Trust record of ${record.subject} has state ${
        JSON.stringify(record.state)
      }, not a ${machine.toUpperCase()} state`,
    );
  }
  const actor = event.actor;
  if (
    (event.type === "manual_override" || event.type === "anchor_declared" ||
      event.type === "pin_declared") &&
    (typeof actor !== "string" || actor.trim() === "")
  ) {
    throw new TypeError(`A ${event.type} needs a named human actor, got ${JSON.stringify(actor)}`);
  }
  const config = ctx.config === undefined ? DEFAULT_TRUST_CONFIG : trustConfig(ctx.config);
  const nowMs = ctx.nowMs;
  const pin = machine === "cip" ? _pinOf(config, record.subject) : undefined;
  const step = pin !== undefined
    ? _pinnedStep(record, event.type as CipTrustEventType, actor, pin)
    : machine === "cip"
    ? _cipStep(record, event.type as CipTrustEventType, actor, nowMs, config)
    : _hcpStep(record, event.type as HcpTrustEventType, nowMs, config);
  const changed = step.to !== record.state;
  const next: TrustRecord = {
    ...record,
    ...step.edit,
    state: step.to,
    sinceMs: changed ? nowMs : record.sinceMs,
  };
  const reason = event.note === undefined ? step.reason : `${step.reason}: ${event.note}`;
  const transition: Transition = {
    machine,
    subject: record.subject,
    event: event.type,
    from: record.state,
    to: step.to,
    changed,
    reason,
    evidence: [...(event.evidence ?? [])],
    atMs: nowMs,
    record: next,
  };
  if (actor !== undefined) transition.actor = actor;
  return transition;
}
