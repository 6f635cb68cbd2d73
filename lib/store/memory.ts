/**
 * Causal and decision memory: the `causal_facts`, `causal_links` and
 * `decisions` tables, written by `causal.add` and `decision.add`.
 * Internal to the store.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { fromJson, optional, type Row, setDefined, Statement, toJson } from "./rows.ts";
import type { CausalFact, CausalLink, DecisionRecord } from "./types.ts";
import type { WriteContext, Writers } from "./writers.ts";

/**
 * Accepted facts with their links, and shared decisions. A fact is added
 * once (a second add of the same id keeps the first); a decision counts
 * against its peer's `claims` quota and replaces the same peer's earlier
 * one of the same `decisionId`.
 */
export class MemoryTables {
  /** The writers of `causal.add` and `decision.add`. */
  readonly writers: Writers<"causal.add" | "decision.add"> = {
    "causal.add": (change) => this.addFact(change.fact, change.links),
    "decision.add": (change, context) => this.addDecision(change.decision, context),
  };
  readonly #insertFact: Statement;
  readonly #insertLink: Statement;
  readonly #upsertDecision: Statement;
  readonly #fact: Statement;
  readonly #factsAbout: Statement;
  readonly #factsIn: Statement;
  readonly #linksFrom: Statement;
  readonly #linksTo: Statement;
  readonly #decision: Statement;

  /**
   * Prepares the tables' statements.
   *
   * @param db The migrated connection.
   */
  constructor(db: DatabaseSync) {
    this.#insertFact = new Statement(
      db,
      `INSERT INTO causal_facts (id, origin, domain, subject, value_canon, fact_json, accepted_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    );
    this.#insertLink = new Statement(
      db,
      "INSERT INTO causal_links (from_id, relation, ref) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    );
    this.#upsertDecision = new Statement(
      db,
      `INSERT INTO decisions (decision_id, peer, msg_id, choice, outcome, context_json, trace_json,
         retrospective, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (decision_id, peer) DO UPDATE SET msg_id = excluded.msg_id,
         choice = excluded.choice, outcome = excluded.outcome, context_json = excluded.context_json,
         trace_json = excluded.trace_json, retrospective = excluded.retrospective, at_ms = excluded.at_ms`,
    );
    this.#fact = new Statement(db, "SELECT * FROM causal_facts WHERE id = ?");
    this.#factsAbout = new Statement(
      db,
      "SELECT * FROM causal_facts WHERE domain = ? AND subject = ? ORDER BY accepted_ms, id",
    );
    this.#factsIn = new Statement(
      db,
      "SELECT * FROM causal_facts WHERE domain = ? ORDER BY accepted_ms DESC, id LIMIT ?",
    );
    this.#linksFrom = new Statement(
      db,
      "SELECT * FROM causal_links WHERE from_id = ? ORDER BY relation, ref",
    );
    this.#linksTo = new Statement(
      db,
      "SELECT * FROM causal_links WHERE ref = ? ORDER BY from_id, relation",
    );
    this.#decision = new Statement(
      db,
      "SELECT * FROM decisions WHERE decision_id = ? ORDER BY at_ms LIMIT 1",
    );
  }

  /**
   * Adds an accepted fact (kept as first added) and its links.
   *
   * @param fact The fact.
   * @param links Its links; each `from` must be a fact in memory (foreign key).
   */
  addFact(fact: CausalFact, links: readonly CausalLink[]): void {
    this.#insertFact.run(
      fact.id,
      fact.origin,
      fact.fact.domain,
      fact.subject ?? null,
      fact.valueCanon ?? null,
      toJson(fact.fact),
      fact.acceptedMs,
    );
    for (const link of links) this.#insertLink.run(link.from, link.relation, link.ref);
  }

  /**
   * Adds or replaces a peer's decision; marks the peer's `claims` quota.
   *
   * @param decision The decision.
   * @param context Where the quota is marked.
   */
  addDecision(decision: DecisionRecord, context: WriteContext): void {
    this.#upsertDecision.run(
      decision.decisionId,
      decision.peer,
      decision.msgId,
      decision.choice,
      decision.outcome,
      decision.context === undefined ? null : toJson(decision.context),
      toJson(decision.trace),
      decision.retrospective ?? null,
      decision.atMs,
    );
    context.touch(decision.peer, "claims");
  }

  /**
   * An accepted fact by id.
   *
   * @param id The fact's id.
   * @returns The fact, or `undefined`.
   */
  fact(id: string): CausalFact | undefined {
    const r = this.#fact.get(id) as Row | undefined;
    return r === undefined ? undefined : _fact(r);
  }

  /**
   * Accepted facts about a domain and subject, oldest first.
   *
   * @param domain The fact's domain.
   * @param subject The fact's `context.subject`.
   * @returns The facts.
   */
  factsAbout(domain: string, subject: string): CausalFact[] {
    return (this.#factsAbout.all(domain, subject) as Row[]).map(_fact);
  }

  /**
   * The newest accepted facts of a domain, at most `limit`.
   *
   * @param domain The facts' domain.
   * @param limit How many at most.
   * @returns The facts, newest first.
   */
  factsIn(domain: string, limit: number): CausalFact[] {
    return (this.#factsIn.all(domain, limit) as Row[]).map(_fact);
  }

  /**
   * Links from a fact, or pointing at `id` when `direction` is `"to"`.
   *
   * @param id The fact (or reference).
   * @param direction Which end `id` is.
   * @returns The links.
   */
  links(id: string, direction: "from" | "to" = "from"): CausalLink[] {
    const statement = direction === "from" ? this.#linksFrom : this.#linksTo;
    return (statement.all(id) as Row[]).map((r) => ({
      from: r.from_id as string,
      relation: r.relation as string,
      ref: r.ref as string,
    }));
  }

  /**
   * A decision by its id (the earliest stored, if several peers shared one).
   *
   * @param decisionId The trace's `decision_id`.
   * @returns The decision, or `undefined`.
   */
  decision(decisionId: string): DecisionRecord | undefined {
    const r = this.#decision.get(decisionId) as Row | undefined;
    if (r === undefined) return undefined;
    const decision: DecisionRecord = {
      decisionId,
      peer: r.peer as string,
      msgId: r.msg_id as string,
      choice: r.choice as string,
      outcome: r.outcome as string,
      trace: fromJson(r.trace_json),
      atMs: Number(r.at_ms),
    };
    setDefined(decision, "context", r.context_json === null ? undefined : fromJson(r.context_json));
    return setDefined(decision, "retrospective", optional<string>(r.retrospective));
  }
}

function _fact(r: Row): CausalFact {
  const fact: CausalFact = {
    id: r.id as string,
    origin: r.origin as CausalFact["origin"],
    fact: fromJson(r.fact_json),
    acceptedMs: Number(r.accepted_ms),
  };
  setDefined(fact, "subject", optional<string>(r.subject));
  return setDefined(fact, "valueCanon", optional<string>(r.value_canon));
}
