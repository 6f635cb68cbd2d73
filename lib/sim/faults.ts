/**
 * Faults drawn from the seed: connection resets, cuts, stalls, delays,
 * partitions (each an episode healed at the next draw) and crash restarts
 * (no flush; back with the same key and database a few virtual seconds
 * later, then it dials its neighbours again). A link lost for good is
 * dialled again by the lower index, as an operator's supervisor would.
 *
 * @module
 */

import { randomInt, type RandomSource } from "../ports/mod.ts";
import type { SimClock } from "./clock.ts";
import type { World } from "./world.ts";

/** A fault the plan draws. */
export type FaultKind = "reset" | "cut" | "stall" | "delay" | "partition" | "crash";

/** Every fault kind. */
export const FAULT_KINDS: readonly FaultKind[] = [
  "reset",
  "cut",
  "stall",
  "delay",
  "partition",
  "crash",
];

const _WEIGHT: Record<FaultKind, number> = {
  reset: 30,
  cut: 15,
  stall: 15,
  delay: 20,
  partition: 15,
  crash: 3,
};

/** The largest injected delay, ms (the skew stays below the window minus this). */
export const MAX_DELAY_MS = 2_000;

/** Options of {@linkcode FaultPlan}. */
export interface FaultOptions {
  /** The kinds drawn. */
  kinds: readonly FaultKind[];
  /** Mean virtual ms between draws (uniform in [mean/2, 3 mean/2]). */
  meanMs: number;
  /** Node `i` crashed (its sent messages are excused). */
  onCrash(i: number): void;
}

/**
 * Injects faults on the simulation clock.
 *
 * @example
 * ```ts ignore
 * const plan = new FaultPlan(world, clock, random, note, { kinds: FAULT_KINDS, meanMs: 5000, onCrash });
 * plan.start(86_400_000);
 * ```
 */
export class FaultPlan {
  /** Faults injected (heals not counted). */
  count = 0;
  /** By kind. */
  readonly byKind: Record<string, number> = {};
  readonly #world: World;
  readonly #clock: SimClock;
  readonly #rnd: RandomSource;
  readonly #note: (kind: string, detail: string) => void;
  readonly #o: FaultOptions;
  #timer: number | undefined;
  #maintain: number | undefined;
  #episode = false;
  readonly #down = new Set<number>();
  readonly #dialing = new Set<string>();
  #stopped = false;

  /**
   * Creates it.
   *
   * @param world The world.
   * @param clock The simulation clock.
   * @param rnd The plan's random stream.
   * @param note Logs an event.
   * @param o Kinds and rate.
   */
  constructor(
    world: World,
    clock: SimClock,
    rnd: RandomSource,
    note: (kind: string, detail: string) => void,
    o: FaultOptions,
  ) {
    this.#world = world;
    this.#clock = clock;
    this.#rnd = rnd;
    this.#note = note;
    this.#o = o;
  }

  /** Starts drawing faults, and the link supervisor. */
  start(_durationMs: number): void {
    this.#maintain = this.#clock.setInterval(() => this.#relink(), 2_000);
    if (this.#o.kinds.length === 0) return;
    this.#schedule();
  }

  /** Stops drawing. */
  stop(): void {
    this.#stopped = true;
    this.#clock.clear(this.#timer);
  }

  /** Heals everything and restarts the crashed nodes (the end of a run). */
  async healAll(): Promise<void> {
    this.#world.network.heal();
    this.#episode = false;
    for (const i of [...this.#down]) await this.#restart(i);
    this.#relink();
  }

  #schedule(): void {
    const m = this.#o.meanMs;
    const next = Math.floor(m / 2) + randomInt(this.#rnd, Math.max(1, m));
    this.#timer = this.#clock.setTimeout(() => this.#draw(), next);
  }

  #pick(): FaultKind {
    const kinds = this.#o.kinds;
    const total = kinds.reduce((s, k) => s + _WEIGHT[k], 0);
    let r = randomInt(this.#rnd, total);
    for (const k of kinds) {
      r -= _WEIGHT[k];
      if (r < 0) return k;
    }
    return kinds[0]!;
  }

  #edge(): [number, number] {
    const w = this.#world;
    const n = w.nodes.length;
    for (;;) {
      const i = randomInt(this.#rnd, n), j = randomInt(this.#rnd, n);
      if (i !== j && w.linked(i, j)) return [i, j];
    }
  }

  #draw(): void {
    if (this.#stopped) return;
    const w = this.#world;
    if (this.#episode) {
      w.network.heal();
      this.#episode = false;
      this.#note("heal", "");
    }
    const kind = this.#pick();
    const [i, j] = this.#edge();
    const t = (k: number) => w.nodes[k]!.node?.agent.transport;
    const a = t(i), b = t(j);
    let detail = `n${i} n${j}`;
    if (kind === "crash") {
      if (this.#down.size === 0 && w.nodes[i]!.node !== undefined) {
        w.crash(i);
        this.#down.add(i);
        this.#o.onCrash(i);
        const back = 2_000 + randomInt(this.#rnd, 8_000);
        detail = `n${i} for ${back}ms`;
        this.#clock.setTimeout(() => void this.#restart(i), back);
      } else detail = "skipped";
    } else if (a !== undefined && b !== undefined) {
      if (kind === "reset") w.network.dropConnection(a, b);
      else if (kind === "cut") w.network.cut(a, b);
      else if (kind === "stall") w.network.stall(a, b);
      else if (kind === "delay") {
        const ms = 1 + randomInt(this.#rnd, MAX_DELAY_MS);
        w.network.delay(a, b, ms);
        detail += ` ${ms}ms`;
      } else if (kind === "partition") {
        const group = w.nodes.filter((n) => n.node !== undefined && randomInt(this.#rnd, 2) === 0);
        w.network.partition(group.map((n) => n.node!.agent.transport));
        detail = group.map((n) => n.name).join(",");
      }
      this.#episode = kind !== "reset";
    } else detail = "skipped";
    this.count++;
    this.byKind[kind] = (this.byKind[kind] ?? 0) + 1;
    this.#note("fault", `${kind} ${detail}`);
    this.#schedule();
  }

  async #restart(i: number): Promise<void> {
    if (!this.#down.delete(i)) return;
    this.#note("restart", `n${i}`);
    await this.#world.restart(i);
    this.#relink();
  }

  /** Dials every edge that has no session at either end (the lower index dials). */
  #relink(): void {
    const w = this.#world;
    for (let i = 0; i < w.nodes.length; i++) {
      for (let j = i + 1; j < w.nodes.length; j++) {
        if (!w.linked(i, j)) continue;
        const a = w.nodes[i]!.node, b = w.nodes[j]!.node;
        if (a === undefined || b === undefined) continue;
        if (w.session(i, j) !== undefined || w.session(j, i) !== undefined) continue;
        const key = `${i}-${j}`;
        if (this.#dialing.has(key)) continue;
        this.#dialing.add(key);
        this.#note("dial", `n${i} n${j}`);
        w.dial(i, j).then(
          () => this.#note("dialed", `n${i} n${j}`),
          (err: Error) => this.#note("dial-failed", `n${i} n${j} ${err.name}`),
        ).finally(() => this.#dialing.delete(key));
      }
    }
  }

  /** Stops the supervisor too. */
  dispose(): void {
    this.stop();
    this.#clock.clear(this.#maintain);
  }
}
