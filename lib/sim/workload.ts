/**
 * The workload drawn from the seed: numbered application messages on the
 * agents' sessions (state and knowledge channels, raw frames claimed before
 * the router), and signed protocol envelopes through the router: intents to
 * random peers, facts proposed by honest nodes on their true readings, and
 * the liar's false readings of the same subjects.
 *
 * @module
 */

import { randomInt, type RandomSource } from "../ports/mod.ts";
import type { SimClock } from "./clock.ts";
import type { World } from "./world.ts";

/** Options of {@linkcode Workload}. */
export interface WorkloadOptions {
  /** Application messages per node per virtual second. */
  rate: number;
  /** Sends one application message (numbered and checked by the caller). */
  send(from: number, to: number, ch: number, size: number): void;
  /** Virtual ms between intents (one node, one peer). @default {2000} */
  intentMs?: number | undefined;
  /** Virtual ms between facts. @default {30000} */
  factMs?: number | undefined;
}

const _TICK_MS = 100;
const _SUBJECTS = 8;

/**
 * Drives the workload on the simulation clock.
 *
 * @example
 * ```ts ignore
 * const w = new Workload(world, clock, random, note, { rate: 6, send });
 * w.start();
 * ```
 */
export class Workload {
  /** The true reading of each subject (what honest judges check against). */
  static readonly readings: ReadonlyMap<string, number> = new Map(
    Array.from({ length: _SUBJECTS }, (_, k) => [`station${k}.nitrate`, 10 + k]),
  );
  /** Signed envelopes started (intents and facts). */
  signed = 0;
  readonly #world: World;
  readonly #clock: SimClock;
  readonly #rnd: RandomSource;
  readonly #note: (kind: string, detail: string) => void;
  readonly #o: WorkloadOptions;
  readonly #timers: number[] = [];
  readonly #acc: number[];
  readonly #rr: number[];

  /**
   * Creates it.
   *
   * @param world The world.
   * @param clock The simulation clock.
   * @param rnd The workload's random stream.
   * @param note Logs an event.
   * @param o Rates and the sender.
   */
  constructor(
    world: World,
    clock: SimClock,
    rnd: RandomSource,
    note: (kind: string, detail: string) => void,
    o: WorkloadOptions,
  ) {
    this.#world = world;
    this.#clock = clock;
    this.#rnd = rnd;
    this.#note = note;
    this.#o = o;
    this.#acc = world.nodes.map(() => 0);
    this.#rr = world.nodes.map(() => 0);
  }

  /** Starts the timers. */
  start(): void {
    const c = this.#clock;
    this.#timers.push(c.setInterval(() => this.#tick(), _TICK_MS));
    this.#timers.push(c.setInterval(() => this.#intent(), this.#o.intentMs ?? 2_000));
    this.#timers.push(c.setInterval(() => this.#fact(), this.#o.factMs ?? 30_000));
  }

  /** Stops them. */
  stop(): void {
    for (const t of this.#timers.splice(0)) this.#clock.clear(t);
  }

  #tick(): void {
    const w = this.#world;
    const per = (this.#o.rate * _TICK_MS) / 1000;
    for (const n of w.nodes) {
      if (n.node === undefined) continue;
      this.#acc[n.index]! += per;
      const peers = w.nodes.filter((m) => m !== n && w.linked(n.index, m.index));
      while (this.#acc[n.index]! >= 1 && peers.length > 0) {
        this.#acc[n.index]! -= 1;
        const k = this.#rr[n.index]!++;
        const to = peers[k % peers.length]!.index;
        const ch = Math.floor(k / peers.length) % 2;
        this.#o.send(n.index, to, ch, 16 + randomInt(this.#rnd, 240));
      }
    }
  }

  #running(): number[] {
    return this.#world.nodes.filter((n) => n.node !== undefined).map((n) => n.index);
  }

  #intent(): void {
    const up = this.#running();
    if (up.length < 2) return;
    const i = up[randomInt(this.#rnd, up.length)]!;
    let j = up[randomInt(this.#rnd, up.length)]!;
    if (j === i) j = up[(up.indexOf(i) + 1) % up.length]!;
    const node = this.#world.nodes[i]!.node!;
    const topic = `station${randomInt(this.#rnd, _SUBJECTS)} nitrate`;
    this.signed++;
    this.#note("intent", `n${i}>n${j} ${topic}`);
    node.agent.declareIntent({ goal: "ask", topic }, { to: [this.#world.fp(j)] }).catch(
      (err: Error) => this.#note("intent-failed", `n${i}>n${j} ${err.name}`),
    );
  }

  #fact(): void {
    const w = this.#world;
    const up = this.#running();
    if (up.length === 0) return;
    const i = up[randomInt(this.#rnd, up.length)]!;
    const n = w.nodes[i]!;
    const k = randomInt(this.#rnd, _SUBJECTS);
    const subject = `station${k}.nitrate`;
    const truth = Workload.readings.get(subject)!;
    const value = n.liar ? truth + 30 + randomInt(this.#rnd, 10) : truth;
    this.signed++;
    this.#note("fact", `n${i} ${subject}=${value}`);
    n.node!.proposeFact({
      statement: `Nitrate at station ${k} is ${value} mg/l`,
      domain: "water",
      confidence: 0.9,
      sources: [`https://example.org/station${k}`],
      context: { subject, value },
    }, { steps: ["sampled and measured"], evidence: [`lab report ${k}`] }).catch(
      (err: Error) => this.#note("fact-failed", `n${i} ${err.name}`),
    );
  }
}
