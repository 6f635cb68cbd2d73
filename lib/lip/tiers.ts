/**
 * Source trust tiers (`unknown | low | medium | high | blocked`) and how
 * they move with provenance quality, corroboration by trusted peers and
 * historical accuracy.
 *
 * The rule (documented in `docs/lip.md`): each source (keyed by its URL's
 * origin) keeps three counts: evidence seen with good provenance, claims
 * accepted with at least one trusted corroborator (`corroborated`), and
 * claims refuted after a dispute (`refuted`). With
 * `score = corroborated - 2 * refuted`:
 *
 * | condition                                  | tier    |
 * | ------------------------------------------ | ------- |
 * | pinned by the owner                        | the pin |
 * | score <= -4                                | blocked |
 * | score < 0                                  | low     |
 * | score >= 8 and nothing refuted             | high    |
 * | score >= 3                                 | medium  |
 * | any good provenance or corroboration       | low     |
 * | otherwise                                  | unknown |
 *
 * Provenance alone never lifts a source above `low`, and a claim accepted
 * only because its source is `medium` or better does not count as
 * corroborated, so a source cannot raise itself; only trusted peers can.
 *
 * @module
 */

import type { FreeForm, SourceTrustTier } from "../envelope/mod.ts";

/** How good an evidence's provenance is. */
export type ProvenanceQuality = "good" | "poor" | "missing";

/** Options of {@linkcode provenanceQuality}. */
export interface ProvenanceOptions {
  /** Evidence retrieved longer ago than this is `poor`. @default {604800000} (7 days) */
  maxAgeMs?: number | undefined;
  /** How far in the future `retrieved_at` may lie (clock skew). @default {120000} */
  maxSkewMs?: number | undefined;
}

/**
 * Grades an evidence's provenance: `missing` without evidence items or with
 * an unreadable or future `retrieved_at` (beyond the skew), `poor` when it
 * was retrieved longer ago than `maxAgeMs`, `good` otherwise.
 *
 * @param evidence The `LIP_EVIDENCE` payload's `evidence`.
 * @param retrievedAt The `source.retrieved_at`.
 * @param nowMs The current time in ms.
 * @param options Age and skew bounds.
 * @returns The grade.
 *
 * @example
 * ```ts
 * import { provenanceQuality } from "./tiers.ts";
 * import assert from "node:assert/strict";
 *
 * const now = Date.parse("2026-11-28T10:00:00Z");
 * assert.equal(provenanceQuality([{ sha256: "..." }], "2026-11-28T09:59:00Z", now), "good");
 * assert.equal(provenanceQuality([], "2026-11-28T09:59:00Z", now), "missing");
 * assert.equal(provenanceQuality(["page"], "2026-11-28T11:00:00Z", now), "missing");
 * assert.equal(provenanceQuality(["page"], "2026-01-01T00:00:00Z", now), "poor");
 * ```
 */
export function provenanceQuality(
  evidence: readonly FreeForm[],
  retrievedAt: string,
  nowMs: number,
  options: ProvenanceOptions = {},
): ProvenanceQuality {
  const at = Date.parse(retrievedAt);
  if (evidence.length === 0 || Number.isNaN(at)) return "missing";
  if (at > nowMs + (options.maxSkewMs ?? 120_000)) return "missing";
  if (nowMs - at > (options.maxAgeMs ?? 7 * 24 * 3600_000)) return "poor";
  return "good";
}

const _RANK: Readonly<Record<SourceTrustTier, number>> = {
  blocked: -1,
  unknown: 0,
  low: 1,
  medium: 2,
  high: 3,
};

/**
 * Whether a tier is at least another (`blocked` is below everything).
 *
 * @param tier The tier to test.
 * @param min The lowest acceptable tier.
 * @returns `true` when `tier` >= `min`.
 *
 * @example
 * ```ts
 * import { tierAtLeast } from "./tiers.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(tierAtLeast("high", "medium"));
 * assert.ok(!tierAtLeast("low", "medium"));
 * assert.ok(!tierAtLeast("blocked", "unknown"));
 * ```
 */
export function tierAtLeast(tier: SourceTrustTier, min: SourceTrustTier): boolean {
  return _RANK[tier] >= _RANK[min];
}

/**
 * The key a source's tier is kept under: the origin of an http(s) URL
 * (`https://example.org`), the whole URI otherwise.
 *
 * @param uri The `source.uri`.
 * @returns The key.
 *
 * @example
 * ```ts
 * import { sourceKey } from "./tiers.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(sourceKey("https://Example.org/a/b?c"), "https://example.org");
 * assert.equal(sourceKey("urn:isbn:0451450523"), "urn:isbn:0451450523");
 * ```
 */
export function sourceKey(uri: string): string {
  try {
    const origin = new URL(uri).origin;
    return origin === "null" ? uri : origin;
  } catch {
    return uri;
  }
}

/** What this agent knows about one source (JSON-serializable; the store keeps it). */
export interface SourceRecord {
  /** The source key (see {@linkcode sourceKey}). */
  readonly key: string;
  /** Its current tier. */
  readonly tier: SourceTrustTier;
  /** Whether the owner pinned the tier (then nothing moves it). */
  readonly pinned: boolean;
  /** Evidence seen from it with good provenance. */
  readonly goodProvenance: number;
  /** Its claims accepted with at least one trusted corroborator. */
  readonly corroborated: number;
  /** Its claims refuted after a dispute. */
  readonly refuted: number;
  /** When the record last changed (ms). */
  readonly updatedAtMs: number;
}

/** Something that moves a source's tier. */
export type SourceEvent =
  | { readonly kind: "provenance"; readonly quality: ProvenanceQuality }
  | { readonly kind: "corroborated" }
  | { readonly kind: "refuted" }
  | { readonly kind: "pinned"; readonly tier: SourceTrustTier }
  | { readonly kind: "unpinned" };

/**
 * A source seen for the first time: `unknown`, or the owner's pin.
 *
 * @param key The source key.
 * @param nowMs The current time in ms.
 * @param pin A tier the owner configured for it, if any.
 * @returns The record.
 *
 * @example
 * ```ts
 * import { newSource } from "./tiers.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(newSource("https://a.example", 0).tier, "unknown");
 * assert.equal(newSource("https://spam.example", 0, "blocked").tier, "blocked");
 * ```
 */
export function newSource(key: string, nowMs: number, pin?: SourceTrustTier): SourceRecord {
  return {
    key,
    tier: pin ?? "unknown",
    pinned: pin !== undefined,
    goodProvenance: 0,
    corroborated: 0,
    refuted: 0,
    updatedAtMs: nowMs,
  };
}

/**
 * The tier the counts earn (the table in this module's documentation),
 * ignoring any pin.
 *
 * @param counts The source's counts.
 * @returns The earned tier.
 *
 * @example
 * ```ts
 * import { earnedTier } from "./tiers.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(earnedTier({ goodProvenance: 0, corroborated: 0, refuted: 0 }), "unknown");
 * assert.equal(earnedTier({ goodProvenance: 5, corroborated: 0, refuted: 0 }), "low");
 * assert.equal(earnedTier({ goodProvenance: 0, corroborated: 3, refuted: 0 }), "medium");
 * assert.equal(earnedTier({ goodProvenance: 0, corroborated: 8, refuted: 0 }), "high");
 * assert.equal(earnedTier({ goodProvenance: 0, corroborated: 9, refuted: 1 }), "medium");
 * assert.equal(earnedTier({ goodProvenance: 0, corroborated: 0, refuted: 2 }), "blocked");
 * ```
 */
export function earnedTier(
  counts: Pick<SourceRecord, "goodProvenance" | "corroborated" | "refuted">,
): SourceTrustTier {
  const score = counts.corroborated - 2 * counts.refuted;
  if (score <= -4) return "blocked";
  if (score < 0) return "low";
  if (score >= 8 && counts.refuted === 0) return "high";
  if (score >= 3) return "medium";
  if (counts.goodProvenance > 0 || counts.corroborated > 0) return "low";
  return "unknown";
}

/**
 * Applies one event to a source record and recomputes its tier (unless it
 * is pinned).
 *
 * @param source The record.
 * @param event What happened.
 * @param nowMs The current time in ms.
 * @returns The new record.
 *
 * @example A source earning its way to medium
 * ```ts
 * import { applySourceEvent, newSource } from "./tiers.ts";
 * import assert from "node:assert/strict";
 *
 * let s = newSource("https://a.example", 0);
 * s = applySourceEvent(s, { kind: "provenance", quality: "good" }, 1);
 * assert.equal(s.tier, "low");
 * for (let i = 0; i < 3; i++) s = applySourceEvent(s, { kind: "corroborated" }, 2);
 * assert.equal(s.tier, "medium");
 * s = applySourceEvent(s, { kind: "refuted" }, 3);
 * assert.equal(s.tier, "low");
 * ```
 */
export function applySourceEvent(
  source: SourceRecord,
  event: SourceEvent,
  nowMs: number,
): SourceRecord {
  let next: SourceRecord;
  switch (event.kind) {
    case "provenance":
      next = event.quality === "good"
        ? { ...source, goodProvenance: source.goodProvenance + 1 }
        : source;
      break;
    case "corroborated":
      next = { ...source, corroborated: source.corroborated + 1 };
      break;
    case "refuted":
      next = { ...source, refuted: source.refuted + 1 };
      break;
    case "pinned":
      return { ...source, tier: event.tier, pinned: true, updatedAtMs: nowMs };
    case "unpinned":
      next = { ...source, pinned: false };
      break;
  }
  return {
    ...next,
    tier: next.pinned ? next.tier : earnedTier(next),
    updatedAtMs: nowMs,
  };
}
