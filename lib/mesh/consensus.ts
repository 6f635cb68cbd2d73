/**
 * The mesh's consensus: a fact is proposed to every node (one signed copy
 * each) with a signed map of the copies, and every node whose judge
 * verified a claim sends its vote to every other node's copy, so each node
 * counts every confirmation. A vote that overtakes its copy is sent again.
 * Copies maps are bounded in total and per proposer (`MeshLimits`).
 *
 * @module
 */

import type { Agent, Trace } from "../agent/mod.ts";
import type { FactProposePayload } from "../envelope/mod.ts";
import type { MeshDrops } from "./drops.ts";
import { type CopiesFrame, signControl } from "./frame.ts";
import type { Judge } from "./judge.ts";
import { leastTrustedOldest, type MeshLimits } from "./limits.ts";
import type { Links } from "./links.ts";
import { type Clock, type RandomSource, randomUuid, type TimerHandle } from "../ports/mod.ts";

/** What {@linkcode Consensus} needs from the node. */
export interface ConsensusPorts {
  /** Where frame ids, msg_ids and decision ids come from. */
  readonly random: RandomSource;
  /** The timers of vote retries. */
  readonly clock: Clock;
  /** The node's agent (its ledger, votes, proposals, identity). */
  readonly agent: Pick<
    Agent,
    "fingerprint" | "identity" | "store" | "vote" | "proposeFact" | "telemetry" | "stopped"
  >;
  /** How a pending claim is judged; without a judge the node abstains. */
  readonly judge: Judge | undefined;
  /** Flooding. */
  readonly links: Pick<Links, "flood">;
  /** The clock in ms. */
  readonly now: () => number;
  /** The bounds (`copies`, `copiesPerOrigin`). */
  readonly limits: Pick<MeshLimits, "copies" | "copiesPerOrigin">;
  /** Drops, counted. */
  readonly drops: MeshDrops;
  /** How much this node trusts an origin (`trustRank`). */
  rank(origin: string): number;
  /** Remembers a frame this node signed (so its echo is a duplicate). */
  signed(frame: CopiesFrame): void;
  /** Runs work in the node's one chain. */
  track(work: Promise<void>): void;
}

type _Vote = "confirm" | "challenge";

const _VOTE_RETRIES = 5;
const _VOTE_RETRY_MS = 50;
/** Judged claims remembered (so a claim is voted on once), and votes waiting for their copies map. */
const _MAX_VOTED = 4096;
const _MAX_WAITING = 1024;

/** A copies map's key: its proposer and decision id (a map counts only from the proposer). */
const _key = (origin: string, decisionId: string) => `${origin}\n${decisionId}`;

/**
 * Proposals, copies maps and votes of one node.
 *
 * @example
 * ```ts ignore
 * const consensus = new Consensus(ports);
 * const copies = await consensus.propose(fact, trace, to); // node -> msg_id
 * consensus.claimChanged(claim, "pending"); // judged; voted once the copies map is known
 * ```
 */
export class Consensus {
  readonly #ports: ConsensusPorts;
  readonly #copies = new Map<string, { origin: string; copies: Record<string, string> }>();
  readonly #perOrigin = new Map<string, number>();
  readonly #votes = new Map<string, { claim: string; vote: _Vote }>();
  readonly #voted = new Set<string>();
  readonly #sent = new Map<string, { fp: string; ref: string; vote: _Vote; tries: number }>();
  readonly #retryTimers = new Set<TimerHandle>();

  /**
   * Creates the room.
   *
   * @param ports What it needs from the node.
   */
  constructor(ports: ConsensusPorts) {
    this.#ports = ports;
  }

  /**
   * Proposes a fact to nodes (one signed copy each), then floods the signed
   * map of copies.
   *
   * @param fact The fact.
   * @param trace Its DMP trace.
   * @param to The nodes.
   * @returns The copies: node -> msg_id.
   */
  async propose(
    fact: FactProposePayload["fact"],
    trace: Trace,
    to: readonly string[],
  ): Promise<Record<string, string>> {
    const { agent, links, now } = this.#ports;
    const decisionId = trace.decision_id ?? randomUuid(this.#ports.random);
    const results = await agent.proposeFact(fact, { ...trace, decision_id: decisionId }, { to });
    const copies: Record<string, string> = {};
    for (const r of results) if (r.msgId !== undefined) copies[r.peer] = r.msgId;
    const frame = await signControl(
      agent.identity,
      {
        kind: "copies",
        decision_id: decisionId,
        copies,
      },
      now(),
      this.#ports.random,
    ) as CopiesFrame;
    this.#ports.signed(frame);
    links.flood(frame);
    return copies;
  }

  /** Copies maps held. */
  get size(): number {
    return this.#copies.size;
  }

  /**
   * A claim of the CIP ledger changed: a pending claim from another node is
   * judged (no judge: the node abstains); one disputed for contradicting
   * accepted knowledge is challenged.
   *
   * @param claimId The claim.
   * @param status Its new status.
   */
  claimChanged(claimId: string, status: string): void {
    const { agent, judge, track } = this.#ports;
    if (this.#voted.has(claimId)) return;
    const claim = agent.store.claim(claimId);
    if (claim === undefined || claim.peer === agent.fingerprint) return;
    let vote: _Vote | "abstain";
    if (status === "pending") {
      vote = judge === undefined ? "abstain" : judge(claim.fact, claim.peer, {
        accepted: (domain, subject) => agent.store.causalFactsAbout(domain, subject),
      });
    } else if (status === "disputed" && claim.reason.startsWith("contradicts_")) {
      vote = "challenge";
    } else return;
    if (vote === "abstain") return;
    this.#voted.add(claimId);
    if (this.#voted.size > _MAX_VOTED) this.#voted.delete(this.#voted.values().next().value!);
    const key = _key(claim.peer, claim.trace.decision_id);
    this.#votes.set(key, { claim: claimId, vote });
    if (this.#votes.size > _MAX_WAITING) this.#votes.delete(this.#votes.keys().next().value!);
    track(this.#cast(key));
  }

  /**
   * A proposer's signed map of copies arrived: kept within the bounds (past
   * one, the least trusted proposer's oldest map is dropped, or this one
   * refused, and counted); votes waiting for it go out.
   *
   * @param frame The verified `copies` frame.
   * @param peer The neighbour that delivered it.
   * @returns Once the votes are sent.
   */
  copiesArrived(frame: CopiesFrame, peer?: string): Promise<void> {
    const key = _key(frame.signer, frame.decision_id);
    if (!this.#keep(key, frame.signer, peer)) return Promise.resolve();
    this.#copies.set(key, { origin: frame.signer, copies: frame.copies });
    this.#perOrigin.set(frame.signer, (this.#perOrigin.get(frame.signer) ?? 0) + 1);
    return this.#cast(key);
  }

  /** Makes room for one more map of `origin`; `false` when this one is the one to refuse. */
  #keep(key: string, origin: string, peer: string | undefined): boolean {
    const { limits, rank, drops } = this.#ports;
    if (this.#copies.has(key)) this.#forget(key); // a newer map of the same fact replaces it
    for (;;) {
      const full = (this.#perOrigin.get(origin) ?? 0) >= limits.copiesPerOrigin
        ? this.#entries(origin)
        : this.#copies.size >= limits.copies
        ? this.#entries()
        : undefined;
      if (full === undefined) return true;
      const victim = leastTrustedOldest(full, rank);
      if (victim === undefined || rank(this.#copies.get(victim)!.origin) > rank(origin)) {
        drops.drop("copies_full", { origin, peer, detail: "copies map refused" });
        return false;
      }
      drops.drop("copies_full", {
        origin: this.#copies.get(victim)!.origin,
        peer,
        detail: "oldest copies map of the least trusted proposer dropped",
      });
      this.#forget(victim);
    }
  }

  /** Copies maps (of one proposer), oldest first, with their proposer. */
  *#entries(only?: string): Generator<readonly [string, string]> {
    for (const [k, v] of this.#copies) {
      if (only === undefined || v.origin === only) yield [k, v.origin] as const;
    }
  }

  #forget(key: string): void {
    const held = this.#copies.get(key);
    if (held === undefined) return;
    this.#copies.delete(key);
    const n = (this.#perOrigin.get(held.origin) ?? 1) - 1;
    if (n <= 0) this.#perOrigin.delete(held.origin);
    else this.#perOrigin.set(held.origin, n);
  }

  async #cast(key: string): Promise<void> {
    const { agent } = this.#ports;
    const mine = this.#votes.get(key);
    const map = this.#copies.get(key);
    if (mine === undefined || map === undefined) return;
    const proposer = agent.store.claim(mine.claim)?.peer;
    if (proposer !== map.origin) return; // a copies map counts only from the proposer itself
    this.#votes.delete(key);
    const decisionId = key.slice(key.indexOf("\n") + 1);
    const targets = Object.entries(map.copies).filter(([fp]) =>
      fp !== agent.fingerprint && fp !== map.origin &&
      agent.store.handshake(fp)?.stage === "verified"
    );
    for (const [fp, ref] of targets) await this.#vote(fp, ref, mine.vote, 0);
    agent.telemetry.emit("mesh.vote", {
      claim: mine.claim,
      decision_id: decisionId,
      vote: mine.vote,
      to: targets.length,
    }, { peer: map.origin });
  }

  /**
   * One vote. A copy may travel a longer path than a vote about it, so a
   * vote answered `unknown_fact` is sent again a little later (a few times).
   */
  async #vote(fp: string, ref: string, vote: _Vote, tries: number): Promise<void> {
    const r = await this.#ports.agent.vote(fp, ref, { vote });
    if (r.msgId !== undefined && tries < _VOTE_RETRIES) {
      this.#sent.set(r.msgId, { fp, ref, vote, tries: tries + 1 });
      if (this.#sent.size > 4096) this.#sent.delete(this.#sent.keys().next().value!);
    }
  }

  /**
   * A peer refused one of our messages: a vote refused as `unknown_fact` is
   * sent again later.
   *
   * @param inReplyTo The refused message's msg_id.
   * @param code The error code.
   */
  refused(inReplyTo: string, code: string): void {
    if (code !== "unknown_fact") return;
    const v = this.#sent.get(inReplyTo);
    if (v === undefined) return;
    this.#sent.delete(inReplyTo);
    const timer = this.#ports.clock.setTimeout(() => {
      this.#retryTimers.delete(timer);
      if (!this.#ports.agent.stopped) {
        this.#ports.track(this.#vote(v.fp, v.ref, v.vote, v.tries));
      }
    }, _VOTE_RETRY_MS * v.tries);
    this.#retryTimers.add(timer);
  }

  /** Cancels pending vote retries. */
  stop(): void {
    for (const t of this.#retryTimers) this.#ports.clock.clear(t);
    this.#retryTimers.clear();
  }
}
