/**
 * Source trust tiers (`unknown | low | medium | high | blocked`) and how
 * they move (docs/protocols.md §4 and §8, "source tiers").
 *
 * The rule (documented in `docs/lip.md`): each source (keyed by its URL's
 * origin) keeps two counts in its store record: `accurate` (its claims a
 * named human accepted after a dispute) and `inaccurate` (its claims
 * refuted after a dispute, by a trusted majority or a human). Corroboration
 * by peers that fetched the source again proves only that the source said
 * it, so it never counts as accuracy. With
 * `score = accurate - 2 * inaccurate`:
 *
 * | condition                                        | tier    |
 * | ------------------------------------------------ | ------- |
 * | pinned by the owner (configuration)              | the pin |
 * | score <= -4                                      | blocked |
 * | score < 0                                        | low     |
 * | good provenance seen, or anything accurate       | low     |
 * | an A2A agent (`a2a+` key) without a record       | low     |
 * | otherwise                                        | unknown |
 *
 * Automatic changes move a source only between `unknown`, `low` and
 * `blocked`: `medium` and `high` come only from the owner's pins, so no
 * peer, however trusted, can make a source's claims acceptable on its tier
 * alone. A record a former rule raised above `low` counts as `low`.
 *
 * @module
 */

import type { FreeForm, SourceTrustTier } from "../envelope/mod.ts";
import type { LipSourceRecord } from "../store/mod.ts";
import { readA2aUri } from "./a2a.ts";

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
 * (`https://example.org`), the agent of an A2A URI without its question
 * (`a2a+https://agent.example`, `lib/lip/a2a.ts`), the whole URI otherwise.
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
 * assert.equal(sourceKey("a2a+https://Agent.example/?q=why"), "a2a+https://agent.example");
 * assert.equal(sourceKey("urn:isbn:0451450523"), "urn:isbn:0451450523");
 * ```
 */
export function sourceKey(uri: string): string {
  try {
    const agent = readA2aUri(uri);
    if (agent !== undefined) return agent.key;
  } catch { /* not one the fetcher would ask: keyed as a whole below */ }
  try {
    const origin = new URL(uri).origin;
    return origin === "null" ? uri : origin;
  } catch {
    return uri;
  }
}

/** Something that moves a source's tier. */
export type SourceEvent = "good_provenance" | "accurate" | "inaccurate";

/**
 * A source seen for the first time: `unknown`, with no track record.
 *
 * @param key The source key (see {@linkcode sourceKey}).
 * @param nowMs The current time in ms.
 * @returns The record.
 *
 * @example
 * ```ts
 * import { newSource } from "./tiers.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(newSource("https://a.example", 0), {
 *   uri: "https://a.example", tier: "unknown", accurate: 0, inaccurate: 0, updatedMs: 0,
 * });
 * ```
 */
export function newSource(key: string, nowMs: number): LipSourceRecord {
  return { uri: key, tier: "unknown", accurate: 0, inaccurate: 0, updatedMs: nowMs };
}

/**
 * The tier a track record earns (the table in this module's documentation):
 * never above `low`.
 *
 * @param counts The source's `accurate` and `inaccurate` counts.
 * @param provenanceSeen Whether evidence with good provenance came from it (from a trusted peer or this agent).
 * @returns The earned tier.
 *
 * @example
 * ```ts
 * import { earnedTier } from "./tiers.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(earnedTier({ accurate: 0, inaccurate: 0 }, false), "unknown");
 * assert.equal(earnedTier({ accurate: 0, inaccurate: 0 }, true), "low");
 * assert.equal(earnedTier({ accurate: 50, inaccurate: 0 }, true), "low"); // medium only from the owner
 * assert.equal(earnedTier({ accurate: 0, inaccurate: 1 }, true), "low");
 * assert.equal(earnedTier({ accurate: 0, inaccurate: 2 }, true), "blocked");
 * ```
 */
export function earnedTier(
  counts: Pick<LipSourceRecord, "accurate" | "inaccurate">,
  provenanceSeen: boolean,
): SourceTrustTier {
  const score = counts.accurate - 2 * counts.inaccurate;
  if (score <= -4) return "blocked";
  if (score < 0) return "low";
  if (provenanceSeen || counts.accurate > 0) return "low";
  return "unknown";
}

/**
 * Applies one event to a source record and recomputes its earned tier.
 *
 * @param source The record ({@linkcode newSource} for a new source).
 * @param event What happened.
 * @param nowMs The current time in ms.
 * @returns The new record.
 *
 * @example Provenance lifts a source to low and no further; refutations block it
 * ```ts
 * import { applySourceEvent, newSource } from "./tiers.ts";
 * import assert from "node:assert/strict";
 *
 * let s = applySourceEvent(newSource("https://a.example", 0), "good_provenance", 1);
 * assert.equal(s.tier, "low");
 * for (let i = 0; i < 10; i++) s = applySourceEvent(s, "accurate", 2);
 * assert.equal(s.tier, "low");
 * for (let i = 0; i < 7; i++) s = applySourceEvent(s, "inaccurate", 3);
 * assert.equal(s.tier, "blocked");
 * ```
 */
export function applySourceEvent(
  source: LipSourceRecord,
  event: SourceEvent,
  nowMs: number,
): LipSourceRecord {
  const next = {
    ...source,
    accurate: source.accurate + (event === "accurate" ? 1 : 0),
    inaccurate: source.inaccurate + (event === "inaccurate" ? 1 : 0),
    updatedMs: nowMs,
  };
  const seen = source.tier !== "unknown" || event === "good_provenance";
  return { ...next, tier: earnedTier(next, seen) };
}

/**
 * The tier in force for a source: the owner's pin if one is configured,
 * else the earned tier of its record (without one: `low` for an A2A agent,
 * whose answers come in its own name from an address that was checked,
 * `unknown` for anything else), never above `low` (a record a former rule
 * raised higher counts as `low`). Either way its claims wait for
 * corroboration: only `medium` and above accept on the tier alone.
 *
 * @param key The source key.
 * @param record Its store record, if any.
 * @param pins Tiers the owner configured, by source key.
 * @returns The tier.
 *
 * @example
 * ```ts
 * import { tierInForce } from "./tiers.ts";
 * import assert from "node:assert/strict";
 *
 * const pins = { "https://spam.example": "blocked", "https://lab.example": "high" } as const;
 * assert.equal(tierInForce("https://spam.example", undefined, pins), "blocked");
 * assert.equal(tierInForce("https://lab.example", undefined, pins), "high");
 * assert.equal(tierInForce("https://a.example", undefined, pins), "unknown");
 * assert.equal(tierInForce("a2a+https://agent.example", undefined, pins), "low");
 * const old = { uri: "https://b.example", tier: "medium", accurate: 3, inaccurate: 0, updatedMs: 0 } as const;
 * assert.equal(tierInForce("https://b.example", old, pins), "low");
 * ```
 */
export function tierInForce(
  key: string,
  record: LipSourceRecord | undefined,
  pins: Readonly<Record<string, SourceTrustTier>> = {},
): SourceTrustTier {
  if (Object.hasOwn(pins, key)) return pins[key]!;
  const tier = record?.tier ?? (key.startsWith("a2a+") ? "low" : "unknown");
  return tier === "medium" || tier === "high" ? "low" : tier;
}
