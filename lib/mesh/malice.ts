/**
 * The mesh's malice reports: a node that blacklists a proposer floods a
 * signed report carrying the proposer's own signed, contradicting claims;
 * a receiver lowers its trust only as the rules allow (a trusted reporter,
 * evidence that verifies against the subject's key, the judgement of
 * `judgeMalice` in `lib/cip/malice.ts`, and no manual override of the
 * owner newer than every contradicting claim), and logs the report either
 * way. The signed proposals kept as evidence are bounded in bytes.
 *
 * @module
 */

import type { Agent } from "../agent/mod.ts";
import { judgeMalice, knowableOf } from "../cip/malice.ts";
import type { Knowable } from "../cip/mod.ts";
import { canonicalize, type Envelope, verifyEnvelope } from "../envelope/mod.ts";
import { outcome } from "../runtime/mod.ts";
import { TrustBatch } from "../trust/mod.ts";
import type { MeshDrops } from "./drops.ts";
import { FRAME_FIELD_BOUNDS, type MaliceFrame, signControl } from "./frame.ts";
import { leastTrustedOldest, type MeshLimits } from "./limits.ts";
import type { Links } from "./links.ts";
import type { RandomSource } from "../ports/mod.ts";

/** What {@linkcode MaliceWatch} needs from the node. */
export interface MalicePorts {
  /** Where frame ids, msg_ids and decision ids come from. */
  readonly random: RandomSource;
  /** The node's agent (its ledger, trust, knowledge, identity). */
  readonly agent: Pick<
    Agent,
    "fingerprint" | "identity" | "store" | "router" | "apply" | "telemetry"
  >;
  /** Flooding. */
  readonly links: Pick<Links, "flood">;
  /** The clock in ms. */
  readonly now: () => number;
  /** The bounds (`evidenceBytes`, `evidenceBytesPerOrigin`, `controlFrameBytes`). */
  readonly limits: Pick<
    MeshLimits,
    "evidenceBytes" | "evidenceBytesPerOrigin" | "controlFrameBytes"
  >;
  /** Drops, counted. */
  readonly drops: MeshDrops;
  /** How much this node trusts an origin (`trustRank`). */
  rank(origin: string): number;
  /** Remembers a frame this node signed (so its echo is a duplicate). */
  signed(frame: MaliceFrame): void;
  /** Runs work in the node's one chain. */
  track(work: Promise<void>): void;
}

/** Subjects reported by this node, remembered. */
const _MAX_REPORTED = 1024;
const _enc = new TextEncoder();

/**
 * Malice reports of one node: sent and received.
 *
 * @example
 * ```ts ignore
 * const malice = new MaliceWatch(ports);
 * malice.proposal(envelope); // kept as evidence; reported if its signer is blacklisted
 * await malice.received(reporter, subject, evidence);
 * ```
 */
export class MaliceWatch {
  readonly #ports: MalicePorts;
  readonly #raw = new Map<string, { text: string; proposer: string; bytes: number }>();
  readonly #bytesOf = new Map<string, number>();
  #bytes = 0;
  readonly #reported = new Set<string>();

  /**
   * Creates the room.
   *
   * @param ports What it needs from the node.
   */
  constructor(ports: MalicePorts) {
    this.#ports = ports;
  }

  /** Bytes of signed proposals kept as evidence. */
  get evidenceBytes(): number {
    return this.#bytes;
  }

  /**
   * A `FACT_PROPOSE` was dispatched here: its signed text is kept (evidence
   * for a report) within the bounds; a proposer blacklisted here is reported.
   *
   * @param env The verified proposal.
   */
  proposal(env: Envelope): void {
    const proposer = env.sender.fingerprint;
    this.#keep(env.msg_id, proposer, canonicalize(env));
    if (this.#ports.agent.router.trust.peer(proposer) === "blacklisted") {
      this.#ports.track(this.#report(proposer));
    }
  }

  /** Keeps a proposal's text; past a bound the least trusted proposer's oldest goes first. */
  #keep(id: string, proposer: string, text: string): void {
    const { limits, rank, drops } = this.#ports;
    const bytes = _enc.encode(text).length;
    if (bytes > limits.evidenceBytesPerOrigin) {
      drops.drop("evidence_full", { origin: proposer, msgId: id, detail: "proposal too large" });
      return;
    }
    for (;;) {
      const candidates = (this.#bytesOf.get(proposer) ?? 0) + bytes > limits.evidenceBytesPerOrigin
        ? this.#entries(proposer)
        : this.#bytes + bytes > limits.evidenceBytes
        ? this.#entries()
        : undefined;
      if (candidates === undefined) break;
      const victim = leastTrustedOldest(candidates, rank);
      const v = victim === undefined ? undefined : this.#raw.get(victim);
      if (v === undefined || rank(v.proposer) > rank(proposer)) {
        drops.drop("evidence_full", { origin: proposer, msgId: id, detail: "proposal not kept" });
        return;
      }
      drops.drop("evidence_full", { origin: v.proposer, msgId: victim!, detail: "oldest dropped" });
      this.#forget(victim!);
    }
    this.#raw.set(id, { text, proposer, bytes });
    this.#bytesOf.set(proposer, (this.#bytesOf.get(proposer) ?? 0) + bytes);
    this.#bytes += bytes;
  }

  /** Kept proposals (of one proposer), oldest first, with their proposer. */
  *#entries(only?: string): Generator<readonly [string, string]> {
    for (const [k, v] of this.#raw) {
      if (only === undefined || v.proposer === only) yield [k, v.proposer] as const;
    }
  }

  #forget(id: string): void {
    const e = this.#raw.get(id);
    if (e === undefined) return;
    this.#raw.delete(id);
    this.#bytes -= e.bytes;
    const left = (this.#bytesOf.get(e.proposer) ?? 0) - e.bytes;
    if (left <= 0) this.#bytesOf.delete(e.proposer);
    else this.#bytesOf.set(e.proposer, left);
  }

  /** Floods a signed malice report: the liar's own contradicting, signed claims. */
  async #report(subject: string): Promise<void> {
    const { agent, links, now, limits } = this.#ports;
    if (this.#reported.has(subject)) return;
    this.#reported.add(subject);
    if (this.#reported.size > _MAX_REPORTED) {
      this.#reported.delete(this.#reported.values().next().value!);
    }
    // The newest disputed claims whose texts fit one control frame.
    let room = limits.controlFrameBytes - 4096;
    const evidence: string[] = [];
    for (const c of agent.store.claimsBy(subject, "disputed").reverse()) {
      const text = this.#raw.get(c.id)?.text;
      if (text === undefined) continue;
      const cost = JSON.stringify(text).length;
      if (cost > room || evidence.length >= FRAME_FIELD_BOUNDS.evidence) break;
      room -= cost;
      evidence.unshift(text);
    }
    if (evidence.length === 0) return;
    const frame = await signControl(
      agent.identity,
      { kind: "malice", subject, evidence },
      now(),
      this.#ports.random,
    );
    this.#ports.signed(frame as MaliceFrame);
    links.flood(frame);
    agent.telemetry.emit("mesh.malice_report", {
      subject,
      reporter: agent.fingerprint,
      applied: "sent",
      reason: `${evidence.length} signed claims`,
    }, { peer: subject });
  }

  /**
   * A malice report arrived (fresh and verified). It lowers trust only as
   * the rules allow: the reporter must be trusted, the evidence must be the
   * subject's own valid signatures (their age unchecked), and then two of its
   * claims contradicting each other are proven malice (`blacklisted`), one
   * contradicting what this node accepted is a conflict; after the owner's
   * manual override of the subject, only a contradiction with a claim signed
   * after the override counts.
   *
   * @param reporter The report's signer.
   * @param subject The reported node.
   * @param evidence Its signed `FACT_PROPOSE` envelopes.
   */
  async received(reporter: string, subject: string, evidence: readonly string[]): Promise<void> {
    const { agent, now } = this.#ports;
    const log = (applied: string, reason: string) =>
      agent.telemetry.emit("mesh.malice_report", { subject, reporter, applied, reason }, {
        severity: applied === "none" ? "info" : "warn",
        peer: subject,
      });
    if (subject === agent.fingerprint) return log("none", "about this node");
    const reporterTrust = agent.router.trust.peer(reporter);
    if (reporterTrust !== "trusted") {
      return log("none", `reporter is ${reporterTrust}, not trusted`);
    }
    const claims: Knowable[] = [];
    const signedAt = new Map<string, number>();
    for (const text of evidence.slice(0, FRAME_FIELD_BOUNDS.evidence)) {
      try {
        const env = await verifyEnvelope(text, {
          expectedSender: subject,
          expectedReceiver: reporter,
          maxSkewMs: Number.MAX_SAFE_INTEGER,
          now: () => new Date(this.#ports.now()),
        });
        if (env.type !== "FACT_PROPOSE") continue;
        claims.push(knowableOf(env.msg_id, env.payload));
        signedAt.set(env.msg_id, Date.parse(env.timestamp));
      } catch {
        return log("none", "evidence does not verify against the subject's key");
      }
    }
    const accepted = (domain: string, s: string) => agent.store.causalFactsAbout(domain, s);
    const overrideMs = this.#overrideMs(subject);
    const verdict = judgeMalice(
      claims,
      accepted,
      overrideMs === undefined
        ? {}
        : { counts: (k) => (signedAt.get(k.id) ?? -Infinity) > overrideMs },
    );
    if (verdict === "none") {
      if (overrideMs !== undefined && judgeMalice(claims, accepted) !== "none") {
        return log(
          "none",
          `the owner's override of ${
            new Date(overrideMs).toISOString()
          } stands: every contradicting claim was signed before it`,
        );
      }
      return log("none", "evidence shows no contradiction");
    }
    const batch = new TrustBatch(agent.router.trust, now());
    batch.apply("cip", subject, {
      type: verdict,
      evidence: claims.map((f) => f.id),
      note: `malice report by ${reporter}`,
    });
    await agent.apply(outcome("handled", { changes: batch.changes }), {
      peer: subject,
    });
    log(verdict, `${claims.length} signed claims verified`);
  }

  /** When the owner last lifted a blacklisting of `subject` by a manual override. */
  #overrideMs(subject: string): number | undefined {
    const log = this.#ports.agent.store.trustLog(subject, { machine: "cip" });
    for (let i = log.length - 1; i >= 0; i--) {
      const e = log[i]!;
      if (e.event === "manual_override" && e.changed) return e.atMs;
    }
    return undefined;
  }
}
