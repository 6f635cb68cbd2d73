/**
 * LIP claims in the simulation: a web answered from the simulation (a
 * fetcher port per node; no real network), the honest nodes' judge and the
 * liar's, the claims workload (an honest node fetches a page and shares it,
 * its neighbours verify it and vouch to each other; the liar shares made-up
 * readings and vouches for them), and the LIP acceptance invariant of
 * `docs/protocols.md` section 4: an honest node accepts a claim only from a
 * source of tier `medium` or above, or with at least two corroborators it
 * trusts at that moment (never the liar), and never a false reading.
 *
 * @module
 */

import type { FetchedDocument, LipFetcher, LipJudge } from "../lip/mod.ts";
import { LipFetchError, textDocument } from "../lip/mod.ts";
import type { FetchRequest } from "../runtime/mod.ts";
import type { Clock } from "../ports/mod.ts";
import { randomInt, type RandomSource } from "../ports/mod.ts";
import type { SimClock } from "./clock.ts";
import type { World } from "./world.ts";

/** The sources of the simulated web: `agency` is `medium` at honest nodes, `rumor` `blocked`. */
const _HONEST_SOURCES = ["https://agency.example", "https://lab.example"] as const;
const _LIAR_SOURCES = ["https://rumor.example", "https://blog.example"] as const;

/** The source tiers an honest node's operator set. */
export const SIM_SOURCE_TIERS: Readonly<Record<string, "medium" | "blocked">> = {
  "https://agency.example": "medium",
  "https://rumor.example": "blocked",
};

const _PAGE = /^https:\/\/([a-z]+)\.example\/station(\d+)\/sample(\d+)$/;
const _READING = /Nitrate at station (\d+) is (\d+) mg\/l/;

/**
 * The page a URL serves: honest sources state the true reading, the liar's
 * sources (and the liar's own fetcher, whatever the URL) a false one.
 *
 * @param url The page.
 * @param readings The true readings (subject -> value).
 * @param lies Whether this fetcher makes readings up.
 * @returns The text, or `undefined` for a page that does not exist.
 */
function _page(url: string, readings: ReadonlyMap<string, number>, lies: boolean) {
  const m = _PAGE.exec(url);
  if (m === null) return undefined;
  const truth = readings.get(`station${m[2]}.nitrate`);
  if (truth === undefined) return undefined;
  const made = lies || _LIAR_SOURCES.some((s) => url.startsWith(`${s}/`));
  const value = made ? truth + 30 : truth;
  return `Sample ${m[3]}: Nitrate at station ${m[2]} is ${value} mg/l (sampled and measured).`;
}

/**
 * A node's fetcher: answers from the simulated web at the node's own
 * (skewed) wall time; nothing leaves the process.
 *
 * @param clock The node's clock.
 * @param readings The true readings.
 * @param lies Whether this is the liar's fetcher (every page made up).
 * @returns The fetcher port.
 */
export function simFetcher(
  clock: Clock,
  readings: ReadonlyMap<string, number>,
  lies: boolean,
): LipFetcher {
  return {
    fetch(request: FetchRequest): Promise<FetchedDocument> {
      const text = _page(request.query, readings, lies);
      if (text === undefined) {
        return Promise.reject(
          new LipFetchError("http_status", `No page at ${request.query} in the simulated web`, {
            url: request.query,
          }),
        );
      }
      return Promise.resolve(textDocument(text, {
        url: request.query,
        finalUrl: request.query,
        redirects: [],
        status: 200,
        contentType: "text/plain",
        retrievedAt: new Date(clock.now()).toISOString(),
        topics: [],
      }));
    },
  };
}

/**
 * The honest operator's judge: a page is corroborated when its reading is
 * the true one, disputed otherwise. The liar's judge says yes to anything.
 *
 * @param readings The true readings.
 * @param liar Whether it is the liar's.
 * @returns The judge port.
 */
export function simJudge(readings: ReadonlyMap<string, number>, liar: boolean): LipJudge {
  if (liar) return () => ({ verdict: "corroborate", reason: "says yes to anything" });
  return ({ document }) => {
    const m = _READING.exec(document.text);
    const truth = m === null ? undefined : readings.get(`station${m[1]}.nitrate`);
    if (m === null || truth === undefined) return { verdict: "abstain", reason: "no reading" };
    return Number(m[2]) === truth
      ? { verdict: "corroborate", reason: `matches the station's ${truth} mg/l` }
      : { verdict: "dispute", reason: `says ${m[2]} mg/l, the station says ${truth}` };
  };
}

/**
 * The LIP claims workload: every `everyMs` a random running node fetches a
 * page and shares the evidence with its running neighbours; 1 to 3 virtual
 * seconds later each of them that queued it checks it with its own judge
 * (`verifyEvidence`) and vouches to the fetcher and the others that got it.
 *
 * @internal
 */
export class LipWorkload {
  /** Fetches started. */
  fetches = 0;
  /** Checks started (`verifyEvidence`). */
  checks = 0;
  readonly #world: World;
  readonly #clock: SimClock;
  readonly #rnd: RandomSource;
  readonly #note: (kind: string, detail: string) => void;
  #timer: number | undefined;

  /**
   * Creates it.
   *
   * @param world The world.
   * @param clock The simulation clock.
   * @param rnd The run's random stream.
   * @param note Logs an event.
   */
  constructor(
    world: World,
    clock: SimClock,
    rnd: RandomSource,
    note: (kind: string, detail: string) => void,
  ) {
    this.#world = world;
    this.#clock = clock;
    this.#rnd = rnd;
    this.#note = note;
  }

  /**
   * Starts fetching.
   *
   * @param everyMs Virtual ms between fetches.
   */
  start(everyMs: number): void {
    this.#timer = this.#clock.setInterval(() => this.#fetch(), everyMs);
  }

  /** Stops. */
  stop(): void {
    this.#clock.clear(this.#timer);
  }

  #fetch(): void {
    const w = this.#world;
    const up = w.nodes.filter((n) => n.node !== undefined);
    if (up.length < 2) return;
    const n = up[randomInt(this.#rnd, up.length)]!;
    const sources = n.liar ? _LIAR_SOURCES : _HONEST_SOURCES;
    const source = sources[randomInt(this.#rnd, sources.length)]!;
    const url = `${source}/station${randomInt(this.#rnd, w.readings.size)}/sample${this.fetches}`;
    const peers = up.filter((m) => m !== n && w.linked(n.index, m.index));
    const delays = peers.map(() => 1_000 + randomInt(this.#rnd, 2_000));
    const node = n.node!;
    this.fetches++;
    this.#note("lip-fetch", `n${n.index} ${url} share ${peers.map((m) => m.name).join(",")}`);
    node.agent.fetch(url, { share: peers.map((m) => m.identity.fingerprint) }).then(
      ({ claims }) => {
        const claim = claims[0];
        if (claim === undefined) return;
        this.#note("lip-shared", `n${n.index} ${claim.slice(0, 8)}`);
        peers.forEach((m, k) => {
          this.#clock.setTimeout(() => this.#check(m.index, claim, n.index, peers), delays[k]!);
        });
        // The liar vouches for its own made-up claims too (it does not count: it is not trusted).
        if (n.liar) this.#check(n.index, claim, n.index, peers);
      },
      (err: Error) => this.#note("lip-fetch-failed", `n${n.index} ${err.name}`),
    );
  }

  #check(i: number, claim: string, from: number, peers: readonly { index: number }[]): void {
    const w = this.#world;
    const node = w.nodes[i]!.node;
    if (node === undefined || node.agent.store.lipItem(claim) === undefined) return;
    const to = [from, ...peers.map((p) => p.index)].filter((k) => k !== i)
      .filter((k) => w.nodes[k]!.node !== undefined).map((k) => w.fp(k));
    this.checks++;
    node.agent.verifyEvidence(claim, { to }).then(
      (r) => this.#note("lip-check", `n${i} ${claim.slice(0, 8)} verified=${r.verified}`),
      (err: Error) => this.#note("lip-check-failed", `n${i} ${claim.slice(0, 8)} ${err.name}`),
    );
  }
}

/**
 * The LIP acceptance invariant at honest node `i` for a claim it just
 * accepted: a true reading, and a source of tier `medium` or above or two
 * corroborators trusted now (the liar never among them).
 *
 * @param world The world.
 * @param i The node that accepted.
 * @param claim The claim id.
 * @returns What is wrong, or `undefined`.
 * @internal
 */
export function checkLipAccepted(world: World, i: number, claim: string): string | undefined {
  const n = world.nodes[i]!;
  const agent = n.node?.agent;
  if (agent === undefined || n.liar) return undefined;
  const item = agent.store.lipItem(claim);
  if (item === undefined) return `n${i} accepted ${claim.slice(0, 8)}, not in its queue`;
  const m = _READING.exec(JSON.stringify(item.claim));
  const truth = m === null ? undefined : world.readings.get(`station${m[1]}.nitrate`);
  if (m !== null && Number(m[2]) !== truth) {
    return `n${i} accepted a false reading (${m[2]} mg/l at station ${
      m[1]
    }) from ${item.sourceUri}`;
  }
  const tier = agent.lip.tierOf(item.sourceUri, agent);
  if (["medium", "high"].includes(tier) || ["medium", "high"].includes(item.tier)) return undefined;
  const trusted = item.corroborators.filter((fp) => agent.router.trust.peer(fp) === "trusted");
  const liar = item.corroborators.find((fp) => world.nodes[world.indexOf(fp)]?.liar === true);
  if (liar !== undefined) return `n${i} counted the liar as a corroborator of ${claim.slice(0, 8)}`;
  if (trusted.length < 2) {
    return `n${i} accepted ${
      claim.slice(0, 8)
    } from a ${tier} source (${item.sourceUri}) with ${trusted.length} trusted corroborator(s)`;
  }
  return undefined;
}
