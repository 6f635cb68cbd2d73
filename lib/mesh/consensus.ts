/**
 * The mesh's consensus: a fact is proposed to every node (one signed copy
 * each) with a signed map of the copies, and every node that judges a
 * claim sends its vote to every other node's copy, so each node counts
 * every confirmation. A vote that overtakes its copy is sent again.
 *
 * @module
 */

import type { Agent, Trace } from "../agent/mod.ts";
import type { FactProposePayload } from "../envelope/mod.ts";
import { type CopiesFrame, signControl } from "./frame.ts";
import type { Links } from "./links.ts";
import type { SeenCache } from "./routes.ts";

/** How a node judges a fact it received: confirm it, challenge it, or say nothing. */
export type Judge = (fact: FactProposePayload["fact"], proposer: string) =>
  | "confirm"
  | "challenge"
  | "abstain";

/** What {@linkcode Consensus} needs from the node. */
export interface ConsensusPorts {
  /** The node's agent (its ledger, votes, proposals, identity). */
  readonly agent: Pick<
    Agent,
    "fingerprint" | "identity" | "store" | "vote" | "proposeFact" | "telemetry" | "stopped"
  >;
  /** How a pending claim is judged. */
  readonly judge: Judge;
  /** Flooding. */
  readonly links: Pick<Links, "flood">;
  /** Frame ids seen. */
  readonly seen: SeenCache;
  /** The clock in ms. */
  readonly now: () => number;
  /** Runs work in the node's one chain. */
  track(work: Promise<void>): void;
}

type _Vote = "confirm" | "challenge";

const _VOTE_RETRIES = 5;
const _VOTE_RETRY_MS = 50;

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
  readonly #votes = new Map<string, { claim: string; vote: _Vote }>();
  readonly #voted = new Set<string>();
  readonly #sent = new Map<string, { fp: string; ref: string; vote: _Vote; tries: number }>();
  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();

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
    const { agent, seen, links, now } = this.#ports;
    const decisionId = trace.decision_id ?? crypto.randomUUID();
    const results = await agent.proposeFact(fact, { ...trace, decision_id: decisionId }, { to });
    const copies: Record<string, string> = {};
    for (const r of results) if (r.msgId !== undefined) copies[r.peer] = r.msgId;
    const frame = await signControl(agent.identity, {
      kind: "copies",
      decision_id: decisionId,
      copies,
    }, now());
    seen.add(frame.id);
    links.flood(frame);
    return copies;
  }

  /**
   * A claim of the CIP ledger changed: a pending claim from another node is
   * judged; one disputed for contradicting accepted knowledge is challenged.
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
    if (status === "pending") vote = judge(claim.fact, claim.peer);
    else if (status === "disputed" && claim.reason.startsWith("contradicts_")) vote = "challenge";
    else return;
    if (vote === "abstain") return;
    this.#voted.add(claimId);
    this.#votes.set(claim.trace.decision_id, { claim: claimId, vote });
    track(this.#cast(claim.trace.decision_id));
  }

  /**
   * A proposer's signed map of copies arrived: votes waiting for it go out.
   *
   * @param frame The verified `copies` frame.
   * @returns Once the votes are sent.
   */
  copiesArrived(frame: CopiesFrame): Promise<void> {
    this.#copies.set(frame.decision_id, { origin: frame.signer, copies: frame.copies });
    return this.#cast(frame.decision_id);
  }

  async #cast(decisionId: string): Promise<void> {
    const { agent } = this.#ports;
    const mine = this.#votes.get(decisionId);
    const map = this.#copies.get(decisionId);
    if (mine === undefined || map === undefined) return;
    const proposer = agent.store.claim(mine.claim)?.peer;
    if (proposer !== map.origin) return; // a copies map counts only from the proposer itself
    this.#votes.delete(decisionId);
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
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      if (!this.#ports.agent.stopped) {
        this.#ports.track(this.#vote(v.fp, v.ref, v.vote, v.tries));
      }
    }, _VOTE_RETRY_MS * v.tries);
    this.#retryTimers.add(timer);
  }

  /** Cancels pending vote retries. */
  stop(): void {
    for (const t of this.#retryTimers) clearTimeout(t);
    this.#retryTimers.clear();
  }
}
