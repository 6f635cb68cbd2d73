/**
 * Mission-drift detection: the agent's recent intents scored against its
 * declared mission by a deterministic, documented scorer.
 *
 * @module
 */

/** Words that say nothing about a topic. */
const _STOP: ReadonlySet<string> = new Set([
  "the",
  "and",
  "for",
  "with",
  "from",
  "into",
  "about",
  "that",
  "this",
  "our",
  "your",
  "their",
  "are",
  "was",
  "were",
  "will",
  "can",
  "all",
  "any",
  "per",
  "via",
  "its",
]);

/**
 * The words of a text that carry meaning: lowercase runs of letters and
 * digits of at least 3 characters, minus a short stop list, with a plural
 * `s` dropped (`facts` -> `fact`).
 *
 * @param text Any text (a mission, an intent topic such as `topic:water-quality`).
 * @returns The distinct words, sorted.
 *
 * @example
 * ```ts
 * import { missionWords } from "./drift.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(missionWords("Verify facts about water quality"), ["fact", "quality", "verify", "water"]);
 * ```
 */
export function missionWords(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.toLowerCase().matchAll(/[a-z0-9]+/g)) {
    let w = m[0];
    if (w.length < 3 || _STOP.has(w)) continue;
    if (w.length > 3 && w.endsWith("s") && !w.endsWith("ss")) w = w.slice(0, -1);
    out.add(w);
  }
  return [...out].sort();
}

/**
 * The default scorer: the share of an intent's words that the mission
 * contains (`|intent ∩ mission| / |intent|`), in `0..1`; an intent with no
 * meaningful word scores 0.
 *
 * @param mission The mission's words ({@linkcode missionWords}).
 * @param intent The intent's text (topic, goal, context).
 * @returns The alignment score.
 *
 * @example
 * ```ts
 * import { alignment, missionWords } from "./drift.ts";
 * import assert from "node:assert/strict";
 *
 * const mission = missionWords("water quality monitoring");
 * assert.equal(alignment(mission, "topic:water-quality"), 1);
 * assert.equal(alignment(mission, "topic:stock-prices"), 0);
 * ```
 */
export function alignment(mission: readonly string[], intent: string): number {
  const words = missionWords(intent.replace(/^[a-z]+:/, ""));
  if (words.length === 0) return 0;
  const set = new Set(mission);
  return words.filter((w) => set.has(w)).length / words.length;
}

/** Options of {@linkcode DriftDetector}. */
export interface DriftOptions {
  /** How many recent intents are scored. @default {8} */
  window?: number;
  /** Intents needed before a verdict. @default {3} */
  minSamples?: number;
  /** Mean alignment below which the agent drifts. @default {0.34} */
  threshold?: number;
  /** The scorer. @default {alignment} */
  scorer?: (mission: readonly string[], intent: string) => number;
}

/** One verdict of {@linkcode DriftDetector.observe}. */
export interface DriftVerdict {
  /** Mean alignment over the window. */
  score: number;
  /** Intents in the window. */
  samples: number;
  /** Whether the mean is below the threshold (with enough samples). */
  drifting: boolean;
  /** Whether this observation moved the agent into drift (edge, not level). */
  entered: boolean;
}

/**
 * Keeps the last `window` intents and their alignment with the mission;
 * the agent is drifting when, with at least `minSamples` intents, their
 * mean alignment is below `threshold`. Pure and deterministic.
 *
 * @example
 * ```ts
 * import { DriftDetector } from "./drift.ts";
 * import assert from "node:assert/strict";
 *
 * const d = new DriftDetector("water quality monitoring", { minSamples: 2 });
 * assert.equal(d.observe("topic:water-quality").drifting, false);
 * d.observe("topic:celebrity-gossip");
 * const v = d.observe("topic:stock-prices");
 * assert.equal(v.drifting, true);
 * assert.equal(v.entered, true);
 * ```
 */
export class DriftDetector {
  /** The mission's words. */
  readonly mission: readonly string[];
  readonly #window: number;
  readonly #min: number;
  readonly #threshold: number;
  readonly #scorer: (mission: readonly string[], intent: string) => number;
  readonly #scores: number[] = [];
  #drifting = false;

  /**
   * Creates the detector.
   *
   * @param mission The declared mission.
   * @param options Window, minimum samples, threshold, scorer.
   * @throws {RangeError} For a window or minimum below 1, or a threshold outside 0..1.
   */
  constructor(mission: string, options: DriftOptions = {}) {
    this.mission = missionWords(mission);
    this.#window = options.window ?? 8;
    this.#min = options.minSamples ?? 3;
    this.#threshold = options.threshold ?? 0.34;
    this.#scorer = options.scorer ?? alignment;
    if (!(Number.isInteger(this.#window) && this.#window >= 1)) {
      throw new RangeError(`Drift window must be an integer >= 1, got ${this.#window}`);
    }
    if (!(Number.isInteger(this.#min) && this.#min >= 1 && this.#min <= this.#window)) {
      throw new RangeError(`Drift minSamples must be 1..window, got ${this.#min}`);
    }
    if (!(this.#threshold >= 0 && this.#threshold <= 1)) {
      throw new RangeError(`Drift threshold must be in 0..1, got ${this.#threshold}`);
    }
  }

  /** Whether the agent is drifting now. */
  get drifting(): boolean {
    return this.#drifting;
  }

  /**
   * Scores one more intent.
   *
   * @param intent The intent's text.
   * @returns The verdict over the window.
   */
  observe(intent: string): DriftVerdict {
    this.#scores.push(Math.min(1, Math.max(0, this.#scorer(this.mission, intent))));
    if (this.#scores.length > this.#window) this.#scores.shift();
    const samples = this.#scores.length;
    const score = this.#scores.reduce((a, b) => a + b, 0) / samples;
    const drifting = samples >= this.#min && score < this.#threshold;
    const entered = drifting && !this.#drifting;
    this.#drifting = drifting;
    return { score: Math.round(score * 1000) / 1000, samples, drifting, entered };
  }
}
