/**
 * From transitions to store changes and telemetry events, a read view of
 * trust over a store, a batch that chains several events in one outcome,
 * and the declaration of trust anchors.
 *
 * @module
 */

import type { PeerTrust } from "../envelope/mod.ts";
import type { EventData, TrustLevel } from "../observability/mod.ts";
import type {
  SocialTrust,
  StoreChange,
  StoreView,
  TrustLogEntry,
  TrustMachine,
  TrustRecord,
} from "../store/mod.ts";
import { applyTrustEvent, initialTrustRecord, trustConfig } from "./fsm.ts";
import type {
  Transition,
  TrustConfig,
  TrustEvent,
  TrustTelemetryEvent,
  TrustView,
} from "./types.ts";
import { systemClock } from "../ports/mod.ts";

/**
 * The store changes that record a transition: the subject's record and one
 * trust-log entry (with its evidence rows), to be committed together.
 *
 * @param t A transition from {@linkcode applyTrustEvent}.
 * @returns `[trust.state, trust.log]`.
 *
 * @example
 * ```ts
 * import { applyTrustEvent, initialTrustRecord, transitionChanges } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const t = applyTrustEvent(initialTrustRecord("hcp", "ab".repeat(32), 0), { type: "valid_hello" }, { nowMs: 5 });
 * assert.deepEqual(transitionChanges(t).map((c) => c.kind), ["trust.state", "trust.log"]);
 * ```
 */
export function transitionChanges(t: Transition): StoreChange[] {
  const { record, ...entry } = t;
  return [{ kind: "trust.state", record }, {
    kind: "trust.log",
    entry: { ...entry, evidence: [...entry.evidence] },
  }];
}

/** The log fields an event carries (not the record, the subject or the time). */
function _logData(t: TrustLogEntry): EventData {
  return {
    machine: t.machine,
    event: t.event,
    from: t.from,
    to: t.to,
    reason: t.reason,
    evidence: [...t.evidence],
    ...(t.actor === undefined ? {} : { actor: t.actor }),
  };
}

const _SANCTIONS = new Set(["untrusted", "blacklisted", "restricted"]);

/**
 * The telemetry event of a transition, or of a trust-log entry as
 * committed: `trust.transition` (severity `warn` for a move to untrusted,
 * blacklisted or restricted, else `info`) or `trust.ignored` (severity
 * `debug`).
 *
 * @param t A transition, or its log entry.
 * @returns The event to emit.
 *
 * @example
 * ```ts
 * import { applyTrustEvent, initialTrustRecord, transitionEvent } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const t = applyTrustEvent(initialTrustRecord("cip", "ab".repeat(32), 0), { type: "fingerprint_mismatch" }, { nowMs: 5 });
 * assert.equal(transitionEvent(t).severity, "warn");
 * ```
 */
export function transitionEvent(t: TrustLogEntry): TrustTelemetryEvent {
  return {
    kind: t.changed ? "trust.transition" : "trust.ignored",
    severity: t.changed ? (_SANCTIONS.has(t.to) ? "warn" : "info") : "debug",
    peer: t.subject,
    data: _logData(t),
  };
}

/**
 * A {@linkcode TrustView} over a store: unknown subjects read as a fresh
 * `untrusted` record.
 *
 * @param store Read access to the store.
 * @param config Trust settings (anchors, thresholds).
 * @param nowMs Clock for fresh records. @default {systemClock.now}
 * @returns The view.
 *
 * @example
 * ```ts
 * import { createTrustView } from "./mod.ts";
 * import { openStore } from "../store/mod.ts";
 * import assert from "node:assert/strict";
 *
 * using store = openStore(":memory:");
 * const view = createTrustView(store, { anchors: ["ab".repeat(32)] });
 * assert.equal(view.peer("cd".repeat(32)), "untrusted");
 * assert.ok(view.isAnchor("ab".repeat(32)));
 * ```
 */
export function createTrustView(
  store: StoreView,
  config: Partial<TrustConfig> = {},
  nowMs: () => number = systemClock.now,
): TrustView {
  const settings = trustConfig(config);
  const anchors = new Set(settings.anchors);
  const record = (machine: TrustMachine, subject: string): TrustRecord =>
    store.trust(machine, subject) ?? initialTrustRecord(machine, subject, nowMs());
  return {
    config: settings,
    record,
    peer: (fp) => record("cip", fp).state as PeerTrust,
    person: (fp) => record("hcp", fp).state as SocialTrust,
    isAnchor: (fp) => anchors.has(fp),
    pinnedAt: (fp) => Object.hasOwn(settings.pins, fp) ? settings.pins[fp] : undefined,
  };
}

/**
 * The trust level of a fingerprint, as retention reserves room for it
 * (the audit stream, the event log's shares; docs/protocols.md §8): `self`,
 * the enrolled `person`, an `anchor` the owner declared, a peer `trusted`
 * now, else a `stranger` (untrusted, probing, blacklisted, unknown).
 *
 * @param view The trust view (its anchors and the peers' current state).
 * @param fingerprint The party.
 * @param parties This agent's own fingerprint and its enrolled person.
 * @returns Its level.
 *
 * @example
 * ```ts
 * import { createTrustView, trustLevelOf } from "./mod.ts";
 * import { openStore } from "../store/mod.ts";
 * import assert from "node:assert/strict";
 *
 * using store = openStore(":memory:");
 * const [me, ada, anchor, other] = ["aa", "bb", "cc", "dd"].map((h) => h.repeat(32));
 * const view = createTrustView(store, { anchors: [anchor!] });
 * const parties = { self: me!, person: ada };
 * assert.equal(trustLevelOf(view, me!, parties), "self");
 * assert.equal(trustLevelOf(view, ada!, parties), "person");
 * assert.equal(trustLevelOf(view, anchor!, parties), "anchor");
 * assert.equal(trustLevelOf(view, other!, parties), "stranger");
 * ```
 */
export function trustLevelOf(
  view: TrustView,
  fingerprint: string,
  parties: { self: string; person?: string | undefined },
): TrustLevel {
  if (fingerprint === parties.self) return "self";
  if (fingerprint === parties.person) return "person";
  if (view.isAnchor(fingerprint)) return "anchor";
  return view.peer(fingerprint) === "trusted" ? "trusted" : "stranger";
}

/**
 * Applies several trust events within one outcome, each seeing the records
 * the earlier ones produced, and collects their store changes and
 * telemetry events.
 *
 * @example A handshake, then a fingerprint mismatch, in one batch
 * ```ts
 * import { TrustBatch, createTrustView } from "./mod.ts";
 * import { openStore } from "../store/mod.ts";
 * import assert from "node:assert/strict";
 *
 * using store = openStore(":memory:");
 * const peer = "ab".repeat(32);
 * const batch = new TrustBatch(createTrustView(store), 1_000);
 * batch.apply("cip", peer, { type: "valid_handshake" });
 * batch.apply("cip", peer, { type: "fingerprint_mismatch" });
 * assert.equal(batch.state("cip", peer), "blacklisted");
 * store.commit(batch.changes);
 * assert.deepEqual(store.trustLog(peer).map((e) => e.to), ["probing", "blacklisted"]);
 * ```
 */
export class TrustBatch {
  /** The store changes so far, in order. */
  readonly changes: StoreChange[] = [];
  /** The telemetry events so far, in order. */
  readonly events: TrustTelemetryEvent[] = [];
  /** The transitions so far, in order. */
  readonly transitions: Transition[] = [];
  readonly #view: TrustView;
  readonly #nowMs: number;
  readonly #pending = new Map<string, TrustRecord>();

  /**
   * Starts an empty batch.
   *
   * @param view Where current records come from.
   * @param nowMs The time every event of the batch is applied at.
   */
  constructor(view: TrustView, nowMs: number) {
    this.#view = view;
    this.#nowMs = nowMs;
  }

  /**
   * The subject's record as the batch has it now.
   *
   * @param machine Which machine.
   * @param subject The subject.
   * @returns Its record.
   */
  record(machine: TrustMachine, subject: string): TrustRecord {
    return this.#pending.get(`${machine}\n${subject}`) ?? this.#view.record(machine, subject);
  }

  /**
   * The subject's state as the batch has it now.
   *
   * @param machine Which machine.
   * @param subject The subject.
   * @returns Its state.
   */
  state(machine: TrustMachine, subject: string): TrustRecord["state"] {
    return this.record(machine, subject).state;
  }

  /**
   * Applies one event to one subject and records the result.
   *
   * @param machine Which machine.
   * @param subject The authenticated subject (never a fingerprint an envelope claims).
   * @param event What happened.
   * @returns The transition.
   * @throws {TypeError} As {@linkcode applyTrustEvent}.
   */
  apply(machine: TrustMachine, subject: string, event: TrustEvent): Transition {
    const t = applyTrustEvent(this.record(machine, subject), event, {
      nowMs: this.#nowMs,
      config: this.#view.config,
    });
    this.#pending.set(`${machine}\n${subject}`, t.record);
    this.transitions.push(t);
    this.changes.push(...transitionChanges(t));
    this.events.push(transitionEvent(t));
    return t;
  }
}

/**
 * The changes that declare the configured anchors and pins: each anchor
 * without a trust record starts `trusted`, logged with the owner as human
 * actor. An anchor that already has a record keeps it (the machine governs
 * it from then on; a blacklisted anchor needs a manual override). Each
 * pinned peer not at its pinned level is set there (`pin_declared`, the
 * owner as actor), whatever its record said; no other event moves it.
 *
 * @param view The trust view (its config names the anchors and the owner).
 * @param store Read access, to see which anchors have records.
 * @param nowMs Now.
 * @returns The batch holding the changes and events (empty if nothing to do).
 *
 * @example
 * ```ts
 * import { createTrustView, declareAnchors } from "./mod.ts";
 * import { openStore } from "../store/mod.ts";
 * import assert from "node:assert/strict";
 *
 * using store = openStore(":memory:");
 * const anchor = "ab".repeat(32);
 * const view = createTrustView(store, { anchors: [anchor], owner: "Ada" });
 * store.commit(declareAnchors(view, store, 0).changes);
 * assert.equal(view.peer(anchor), "trusted");
 * assert.equal(store.trustLog(anchor)[0]?.actor, "Ada");
 * assert.equal(declareAnchors(view, store, 1).changes.length, 0);
 * ```
 */
export function declareAnchors(view: TrustView, store: StoreView, nowMs: number): TrustBatch {
  const batch = new TrustBatch(view, nowMs);
  for (const anchor of view.config.anchors) {
    if (store.trust("cip", anchor) !== undefined) continue;
    batch.apply("cip", anchor, {
      type: "anchor_declared",
      actor: view.config.owner,
      note: "declared in the agent's configuration",
    });
  }
  for (const [fp, level] of Object.entries(view.config.pins)) {
    if (store.trust("cip", fp)?.state === level) continue;
    batch.apply("cip", fp, {
      type: "pin_declared",
      actor: view.config.owner,
      note: "pinned in the agent's configuration",
    });
  }
  return batch;
}
