/**
 * Who may cause a fetch, and how many may run on one account
 * (docs/protocols.md §8, "who may cause a fetch"). A fetch is charged to whoever
 * its URL came from (`FetchRequest.chargedTo`): the requester of a
 * `LIP_FETCH`, the peer whose evidence is fetched again, or this agent for
 * its own. Only this agent, its person and peers `trusted` at that moment
 * may be charged; {@linkcode FetchBudget} bounds how many fetches run at
 * once on each account, so the fetcher's bounds (1 MiB, 10 s each) add up
 * to a bounded whole.
 *
 * @module
 */

import type { PeerTrust } from "../envelope/mod.ts";

/** The account a fetch runs on: this agent or its person (`self`), or a trusted peer. */
export type FetchAccount = "self" | "trusted";

/**
 * The account a fetch charged to someone of this trust runs on, if any:
 * `self` for this agent and its person, `trusted` for a peer trusted now,
 * none (`undefined`: refuse with `not_allowed`) for everyone else.
 *
 * @param trust The trust of whom the fetch is charged to (`"self"` for this agent and its person).
 * @returns The account, or `undefined` when that party may not cause a fetch.
 *
 * @example
 * ```ts
 * import { fetchAccount } from "./policy.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(fetchAccount("self"), "self");
 * assert.equal(fetchAccount("trusted"), "trusted");
 * assert.equal(fetchAccount("probing"), undefined);
 * assert.equal(fetchAccount("blacklisted"), undefined);
 * ```
 */
export function fetchAccount(trust: PeerTrust | "self"): FetchAccount | undefined {
  if (trust === "self") return "self";
  if (trust === "trusted") return "trusted";
  return undefined;
}

/** Options of {@linkcode FetchBudget}. */
export interface FetchBudgetOptions {
  /** Fetches running at once on the agent's own and its person's account. @default {4} */
  self?: number | undefined;
  /** Fetches running at once charged to one trusted peer. @default {2} */
  perPeer?: number | undefined;
  /** Fetches running at once charged to peers, all together (the agent's own keep their room). @default {4} */
  peers?: number | undefined;
}

/** A place in the budget, held while one fetch runs; release it (or `using` it) when done. */
export interface FetchLease extends Disposable {
  /** Gives the place back (twice is harmless). */
  release(): void;
}

/**
 * How many fetches run at once, per account: the agent's own (and its
 * person's) have their own room, so peers can never take it; each trusted
 * peer has a share of the peers' room.
 *
 * @example
 * ```ts
 * import { FetchBudget } from "./policy.ts";
 * import assert from "node:assert/strict";
 *
 * const budget = new FetchBudget({ perPeer: 1, peers: 2 });
 * const a = budget.take("peer-a", "trusted");
 * assert.ok(a !== undefined);
 * assert.equal(budget.take("peer-a", "trusted"), undefined); // its share is in use
 * assert.ok(budget.take("peer-b", "trusted") !== undefined);
 * assert.equal(budget.take("peer-c", "trusted"), undefined); // the peers' room is full
 * assert.ok(budget.take("me", "self") !== undefined); // the agent's own room is not
 * a.release();
 * assert.equal(budget.running("peer-a"), 0);
 * ```
 */
export class FetchBudget {
  readonly #self: number;
  readonly #perPeer: number;
  readonly #peers: number;
  readonly #running = new Map<string, number>();
  #selfRunning = 0;
  #peersRunning = 0;

  /**
   * Creates the budget.
   *
   * @param options The bounds.
   * @throws {RangeError} When a bound is not a positive integer.
   */
  constructor(options: FetchBudgetOptions = {}) {
    this.#self = _positive("self", options.self ?? 4);
    this.#perPeer = _positive("perPeer", options.perPeer ?? 2);
    this.#peers = _positive("peers", options.peers ?? 4);
  }

  /**
   * Fetches running now: charged to `party`, or in all.
   *
   * @param party A fingerprint.
   * @returns The count.
   */
  running(party?: string): number {
    return party === undefined
      ? this.#selfRunning + this.#peersRunning
      : this.#running.get(party) ?? 0;
  }

  /**
   * Takes a place for one fetch charged to `party` on `account`.
   *
   * @param party Whom the fetch is charged to.
   * @param account Its account ({@linkcode fetchAccount}).
   * @returns The lease, or `undefined` when the account is at its bound (`busy`).
   */
  take(party: string, account: FetchAccount): FetchLease | undefined {
    const mine = this.#running.get(party) ?? 0;
    if (
      account === "self" ? this.#selfRunning >= this.#self : (
        mine >= this.#perPeer || this.#peersRunning >= this.#peers
      )
    ) {
      return undefined;
    }
    this.#running.set(party, mine + 1);
    if (account === "self") this.#selfRunning++;
    else this.#peersRunning++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      const left = (this.#running.get(party) ?? 1) - 1;
      if (left === 0) this.#running.delete(party);
      else this.#running.set(party, left);
      if (account === "self") this.#selfRunning--;
      else this.#peersRunning--;
    };
    return { release, [Symbol.dispose]: release };
  }
}

function _positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Expected ${name} to be a positive integer, got ${value}`);
  }
  return value;
}
