/**
 * The CIP ledger room: facts proposed (the claim ledger), votes on them,
 * their acceptance into causal memory, and decisions shared (decision
 * memory), under the spec's acceptance rules.
 *
 * @module
 */

import { type CipEnvelope, truncateText } from "../envelope/mod.ts";
import { isOverloaded, newMsgId, type Outcome } from "../runtime/mod.ts";
import type { ClaimRecord, ClaimStatus } from "../store/mod.ts";
import {
  causalLinksOf,
  conflicts,
  factSubject,
  type Knowable,
  traceProblem,
} from "./knowledge_rules.ts";
import type { CipSettings, Turn } from "./turn.ts";

/**
 * Re-evaluates one pending claim (see `CipRuntime.settle`).
 *
 * @param turn The turn.
 * @param claimId The claim.
 * @param settings The runtime's settings.
 * @returns `handled`, `deferred` or `ignored`.
 */
export function settleClaim(turn: Turn, claimId: string, settings: CipSettings): Outcome {
  const claim = turn.ctx.store.claim(claimId);
  if (claim === undefined || claim.status !== "pending") {
    return turn.done("ignored", { code: "not_pending", reason: `No pending claim ${claimId}` });
  }
  const status = _evaluate(turn, claim, settings);
  return status === "pending"
    ? turn.done("deferred", { code: "pending", reason: `Claim ${claimId} stays pending` })
    : turn.done("handled");
}

/** A claim of the ledger changed status: the effect (the store change is the caller's). */
function _changed(turn: Turn, claim: ClaimRecord, status: ClaimStatus, reason: string): void {
  turn.effect({
    type: "claimChanged",
    origin: "cip",
    claim: claim.id,
    status,
    reason,
    peer: claim.peer,
  });
}

/** The claims and accepted facts a new claim conflicts with. */
function _conflictsOf(
  turn: Turn,
  claim: ClaimRecord,
): { accepted: string[]; own: ClaimRecord[]; others: ClaimRecord[] } {
  const { store } = turn.ctx;
  const me: Knowable = { ...claim, contradicts: _contradicts(claim) };
  const accepted = new Set<string>();
  const facts = [
    ...(claim.subject === undefined
      ? []
      : store.causalFactsAbout(claim.fact.domain, claim.subject)),
    ...me.contradicts.map((ref) => store.causalFact(ref)),
    ...store.causalLinks(claim.id, "to").filter((l) => l.relation === "contradicts")
      .map((l) => store.causalFact(l.from)),
  ];
  for (const f of facts) {
    if (f === undefined) continue;
    const links = store.causalLinks(f.id).filter((l) => l.relation === "contradicts").map((l) =>
      l.ref
    );
    if (conflicts(me, { ...f, contradicts: links })) accepted.add(f.id);
  }
  const seen = new Set<string>();
  const own: ClaimRecord[] = [];
  const others: ClaimRecord[] = [];
  const candidates = [
    ...(claim.subject === undefined ? [] : store.claimsAbout(claim.fact.domain, claim.subject)),
    ...me.contradicts.map((ref) => store.claim(ref)),
  ];
  for (const c of candidates) {
    if (c === undefined || seen.has(c.id) || accepted.has(c.id)) continue;
    seen.add(c.id);
    if (!conflicts(me, { ...c, contradicts: _contradicts(c) })) continue;
    if (c.peer === claim.peer) own.push(c);
    else if (c.status === "pending") others.push(c); // a disputed claim has already lost
  }
  return { accepted: [...accepted], own, others };
}

function _setStatus(
  turn: Turn,
  claim: ClaimRecord,
  status: ClaimStatus,
  reason: string,
): ClaimRecord {
  const next = { ...claim, status, reason, updatedMs: turn.nowMs };
  turn.changes.push({ kind: "claim.upsert", claim: next });
  _changed(turn, claim, status, reason);
  return next;
}

function _challenge(turn: Turn, envelope: CipEnvelope, notes: string) {
  turn.reply({
    protocol: "cip",
    type: "FACT_CHALLENGE",
    msg_id: newMsgId(turn.ctx.random),
    receiver: { agent_id: envelope.sender.agent_id, fingerprint: turn.ctx.peer },
    payload: { fact_ref: envelope.msg_id, reason: "conflict", notes: truncateText(notes) },
  });
}

/**
 * A peer's `FACT_PROPOSE`: checked against its DMP trace, then against the
 * ledger and causal memory. Proven malice (two signed claims of its own
 * that contradict each other, or a second lie against accepted knowledge)
 * disputes it and sanctions the peer; an untrusted peer's claim is
 * rejected; a conflict with accepted knowledge or a rival claim disputes it;
 * otherwise it waits, pending, for trusted confirmations.
 *
 * @param turn The turn.
 * @param envelope The FACT_PROPOSE.
 * @returns The outcome.
 */
export function handlePropose(turn: Turn, envelope: CipEnvelope<"FACT_PROPOSE">): Outcome {
  const { ctx } = turn;
  const p = envelope.payload;
  if (ctx.store.claim(envelope.msg_id) !== undefined) {
    return turn.done("ignored", {
      code: "duplicate",
      reason: `Claim ${envelope.msg_id} is known`,
    });
  }
  const named = factSubject(p.fact);
  const claim: ClaimRecord = {
    id: envelope.msg_id,
    peer: ctx.peer,
    fact: p.fact,
    trace: p.dmp_trace,
    links: [...(p.causal_links ?? [])],
    status: "pending",
    reason: "awaiting trusted confirmations",
    createdMs: turn.nowMs,
    updatedMs: turn.nowMs,
    ...(named === undefined ? {} : { subject: named.subject, valueCanon: named.valueCanon }),
  };
  const evidence = [envelope.msg_id];
  const problem = traceProblem(p.dmp_trace, p.fact) ??
    _reusedDecision(turn, p.dmp_trace.decision_id);
  if (problem !== null) {
    turn.changes.push({
      kind: "claim.upsert",
      claim: { ...claim, status: "rejected", reason: `inconsistent_trace: ${problem}` },
    });
    turn.trustEvent("unverifiable_claim", evidence, problem);
    _changed(turn, claim, "rejected", problem);
    return turn.done("refused", { code: "inconsistent_trace", reason: `DMP trace: ${problem}` });
  }
  const found = _conflictsOf(turn, claim);
  const state = turn.peerTrust;
  const priorLies = ctx.store.claimsBy(ctx.peer, "disputed").filter((c) =>
    c.reason.startsWith("contradicts_accepted")
  );
  // Proven malice: two signed, mutually contradicting claims; or a second
  // claim contradicting accepted knowledge after the first was disputed.
  if (found.own.length > 0 || (found.accepted.length > 0 && priorLies.length > 0)) {
    const refs = found.own.length > 0 ? found.own.map((c) => c.id) : priorLies.map((c) => c.id);
    const why = found.own.length > 0 ? "contradicts_own_claim" : "contradicts_accepted";
    turn.changes.push({
      kind: "claim.upsert",
      claim: {
        ...claim,
        status: "disputed",
        reason: `${why}: ${[...found.accepted, ...refs].join(",")}`,
      },
    });
    for (const own of found.own) {
      if (own.status !== "disputed") {
        _setStatus(turn, own, "disputed", `contradicted_by_own_claim: ${claim.id}`);
      }
    }
    turn.trustEvent("proven_malice", [...evidence, ...refs], why);
    _challenge(
      turn,
      envelope,
      `${why.replaceAll("_", " ")} ${[...found.accepted, ...refs].join(", ")}`,
    );
    return turn.done("handled", { code: "disputed", reason: why });
  }
  if (state === "untrusted") {
    turn.changes.push({
      kind: "claim.upsert",
      claim: { ...claim, status: "rejected", reason: "untrusted_source" },
    });
    const conflicting = found.accepted.length + found.others.length > 0;
    if (conflicting) {
      turn.trustEvent("conflict", evidence, "claim from an untrusted peer conflicts");
    }
    return turn.done("refused", { code: "untrusted", reason: `Peer ${ctx.peer} is untrusted` });
  }
  if (found.accepted.length > 0) {
    turn.changes.push({
      kind: "claim.upsert",
      claim: {
        ...claim,
        status: "disputed",
        reason: `contradicts_accepted: ${found.accepted.join(",")}`,
      },
    });
    turn.trustEvent(
      state === "trusted" ? "severe_conflict" : "conflict",
      evidence,
      `contradicts accepted ${found.accepted.join(", ")}`,
    );
    _challenge(
      turn,
      envelope,
      `contradicts accepted knowledge ${found.accepted.join(", ")}`,
    );
    _changed(turn, claim, "disputed", "contradicts_accepted");
    return turn.done("handled", { code: "disputed", reason: "contradicts accepted knowledge" });
  }
  const trustedRivals = found.others.filter((c) => turn.trust.state("cip", c.peer) === "trusted");
  if (trustedRivals.length > 0 || (state === "trusted" && found.others.length > 0)) {
    const rivals = found.others.map((c) => c.id);
    turn.changes.push({
      kind: "claim.upsert",
      claim: { ...claim, status: "disputed", reason: `conflicts_with: ${rivals.join(",")}` },
    });
    for (const rival of found.others) {
      if (rival.status === "pending") {
        _setStatus(turn, rival, "disputed", `conflicts_with: ${claim.id}`);
      }
    }
    if (trustedRivals.length > 0 && state === "probing") {
      turn.trustEvent(
        "conflict",
        evidence,
        `conflicts with trusted claims ${trustedRivals.map((c) => c.id).join(", ")}`,
      );
    }
    _changed(turn, claim, "disputed", "conflicts_with");
    return turn.done("handled", { code: "disputed", reason: "conflicts with another claim" });
  }
  turn.changes.push({ kind: "claim.upsert", claim });
  _changed(turn, claim, "pending", claim.reason);
  return turn.done("handled");
}

/** A decision id already shared by another peer: the trace is not this peer's. */
function _reusedDecision(turn: Turn, decisionId: string): string | null {
  const known = turn.ctx.store.decision(decisionId);
  return known !== undefined && known.peer !== turn.ctx.peer
    ? `decision_id ${decisionId} belongs to another peer's trace`
    : null;
}

/**
 * Applies the acceptance rules to a pending claim with its votes
 * (including those of this turn): returns its status after.
 */
function _evaluate(
  turn: Turn,
  claim: ClaimRecord,
  settings: CipSettings,
  extra?: { peer: string; kind: string; counted: boolean },
): ClaimStatus {
  const { ctx } = turn;
  const confirmers = new Set(
    ctx.store.votes(claim.id).filter((v) =>
      v.kind === "confirm" && v.counted && v.peer !== claim.peer
    )
      .map((v) => v.peer),
  );
  if (extra !== undefined && extra.kind === "confirm" && extra.counted) {
    confirmers.add(extra.peer);
  }
  if (confirmers.size < settings.confirmationsNeeded) return "pending";
  const proposer = turn.trust.state("cip", claim.peer);
  if (proposer === "untrusted" || proposer === "blacklisted") {
    _setStatus(turn, claim, "rejected", "untrusted_source");
    return "rejected";
  }
  if (isOverloaded(ctx.load, ctx.config)) {
    _changed(turn, claim, "pending", "local_overload");
    return "pending";
  }
  const found = _conflictsOf(turn, claim);
  if (found.accepted.length > 0) {
    _setStatus(turn, claim, "disputed", `contradicts_accepted: ${found.accepted.join(",")}`);
    return "disputed";
  }
  _setStatus(turn, claim, "accepted", `confirmed by ${confirmers.size} trusted peers`);
  turn.changes.push({
    kind: "causal.add",
    fact: {
      id: claim.id,
      origin: "cip",
      fact: claim.fact,
      acceptedMs: turn.nowMs,
      ...(claim.subject === undefined
        ? {}
        : { subject: claim.subject, valueCanon: claim.valueCanon }),
    },
    links: causalLinksOf(claim.id, claim.links),
  });
  // Verified knowledge: the proposer's claim met the bar (a reward, not a sanction).
  turn.trustEvent("verified_knowledge", [claim.id, ...confirmers], undefined, claim.peer);
  return "accepted";
}

/**
 * A peer's vote (`FACT_CONFIRM`, `FACT_REJECT`, `FACT_CHALLENGE`): recorded;
 * it counts only from a trusted peer, never on its own claim. A counted
 * confirmation re-evaluates the claim; a counted rejection (or a
 * `conflict` challenge) disputes it.
 *
 * @param turn The turn.
 * @param envelope The vote.
 * @param settings The runtime's settings.
 * @returns The outcome.
 */
export function handleVote(
  turn: Turn,
  envelope: CipEnvelope<"FACT_CONFIRM" | "FACT_REJECT" | "FACT_CHALLENGE">,
  settings: CipSettings,
): Outcome {
  const { ctx } = turn;
  const p = envelope.payload;
  const claim = ctx.store.claim(p.fact_ref);
  if (claim === undefined) {
    return turn.done("refused", {
      code: "unknown_fact",
      reason: `No claim ${p.fact_ref} in the ledger`,
    });
  }
  if (claim.peer === ctx.peer) {
    turn.effect({
      type: "voteReceived",
      peer: ctx.peer,
      claim: claim.id,
      vote: envelope.type,
      counted: false,
      why: "own_claim",
    });
    return turn.done("ignored", {
      code: "own_claim",
      reason: "A peer's vote on its own claim never counts",
    });
  }
  const kind = envelope.type === "FACT_CONFIRM"
    ? "confirm"
    : envelope.type === "FACT_REJECT"
    ? "reject"
    : "challenge";
  const counted = turn.peerTrust === "trusted";
  const reason = "reason" in p ? p.reason : p.notes ?? "";
  const confidence = "confidence" in p ? p.confidence : 1;
  turn.changes.push({
    kind: "claim.vote",
    vote: {
      claimId: claim.id,
      peer: ctx.peer,
      msgId: envelope.msg_id,
      kind,
      reason,
      confidence,
      counted,
      atMs: turn.nowMs,
    },
  });
  turn.effect({
    type: "voteReceived",
    peer: ctx.peer,
    claim: claim.id,
    vote: envelope.type,
    counted,
  });
  if (claim.status !== "pending" || !counted) return turn.done("handled");
  if (kind === "confirm") {
    const status = _evaluate(turn, claim, settings, { peer: ctx.peer, kind, counted });
    if (status === "pending" && isOverloaded(ctx.load, ctx.config)) {
      return turn.done("deferred", {
        code: "overloaded",
        reason: "Local overload: the claim stays pending",
        retryAfterMs: settings.deferRetryMs,
      });
    }
    return turn.done("handled");
  }
  if (kind === "reject" || (kind === "challenge" && "reason" in p && p.reason === "conflict")) {
    _setStatus(turn, claim, "disputed", `${kind}ed_by_trusted: ${envelope.msg_id}`);
  }
  return turn.done("handled");
}

/**
 * A peer's `DECISION_SHARE`: its DMP trace checked, then the decision kept
 * in decision memory.
 *
 * @param turn The turn.
 * @param envelope The DECISION_SHARE.
 * @returns `handled`, or `refused` (`inconsistent_trace`).
 */
export function handleDecision(turn: Turn, envelope: CipEnvelope<"DECISION_SHARE">): Outcome {
  const { ctx } = turn;
  const p = envelope.payload;
  const problem = traceProblem(p.dmp_trace) ??
    _reusedDecision(turn, p.dmp_trace.decision_id);
  if (problem !== null) {
    turn.trustEvent("unverifiable_claim", [envelope.msg_id], problem);
    return turn.done("refused", { code: "inconsistent_trace", reason: `DMP trace: ${problem}` });
  }
  turn.changes.push({
    kind: "decision.add",
    decision: {
      decisionId: p.dmp_trace.decision_id,
      peer: ctx.peer,
      msgId: envelope.msg_id,
      choice: p.decision.choice,
      outcome: p.decision.outcome,
      trace: p.dmp_trace,
      atMs: turn.nowMs,
      ...(p.decision.context === undefined ? {} : { context: p.decision.context }),
      ...(p.retrospective === undefined ? {} : { retrospective: p.retrospective }),
    },
  });
  turn.effect({
    type: "decisionShared",
    peer: ctx.peer,
    decisionId: p.dmp_trace.decision_id,
    choice: p.decision.choice,
  });
  return turn.done("handled");
}

function _contradicts(
  claim: { id: string; links: readonly ClaimRecord["links"][number][] },
): string[] {
  return causalLinksOf(claim.id, claim.links).filter((l) => l.relation === "contradicts").map((l) =>
    l.ref
  );
}
