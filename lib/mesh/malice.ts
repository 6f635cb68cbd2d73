/**
 * The mesh's malice reports: a node that blacklists a proposer floods a
 * signed report carrying the proposer's own signed, contradicting claims;
 * a receiver lowers its trust only as the rules allow (a trusted reporter,
 * evidence that verifies against the subject's key, and the judgement of
 * `judgeMalice` in `lib/cip/malice.ts`), and logs the report either way.
 *
 * @module
 */

import type { Agent } from "../agent/mod.ts";
import { judgeMalice, knowableOf } from "../cip/malice.ts";
import type { Knowable } from "../cip/mod.ts";
import { canonicalize, type Envelope, verifyEnvelope } from "../envelope/mod.ts";
import { outcome } from "../runtime/mod.ts";
import { TrustBatch } from "../trust/mod.ts";
import { signControl } from "./frame.ts";
import type { Links } from "./links.ts";
import type { SeenCache } from "./routes.ts";

/** What {@linkcode MaliceWatch} needs from the node. */
export interface MalicePorts {
  /** The node's agent (its ledger, trust, knowledge, identity). */
  readonly agent: Pick<
    Agent,
    "fingerprint" | "identity" | "store" | "router" | "apply" | "telemetry"
  >;
  /** Flooding. */
  readonly links: Pick<Links, "flood">;
  /** Frame ids seen. */
  readonly seen: SeenCache;
  /** The clock in ms. */
  readonly now: () => number;
  /** Runs work in the node's one chain. */
  track(work: Promise<void>): void;
}

/** Reports read at most this many pieces of evidence. */
const _MAX_EVIDENCE = 8;
/** Signed proposals kept as evidence. */
const _MAX_KEPT = 1024;

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
  readonly #raw = new Map<string, string>();
  readonly #reported = new Set<string>();

  /**
   * Creates the room.
   *
   * @param ports What it needs from the node.
   */
  constructor(ports: MalicePorts) {
    this.#ports = ports;
  }

  /**
   * A `FACT_PROPOSE` was dispatched here: its signed text is kept (evidence
   * for a report); a proposer blacklisted here is reported.
   *
   * @param env The verified proposal.
   */
  proposal(env: Envelope): void {
    this.#raw.set(env.msg_id, canonicalize(env));
    if (this.#raw.size > _MAX_KEPT) this.#raw.delete(this.#raw.keys().next().value!);
    const proposer = env.sender.fingerprint;
    if (this.#ports.agent.router.trust.peer(proposer) === "blacklisted") {
      this.#ports.track(this.#report(proposer));
    }
  }

  /** Floods a signed malice report: the liar's own contradicting, signed claims. */
  async #report(subject: string): Promise<void> {
    const { agent, seen, links, now } = this.#ports;
    if (this.#reported.has(subject)) return;
    this.#reported.add(subject);
    const evidence = agent.store.claimsBy(subject, "disputed")
      .map((c) => this.#raw.get(c.id))
      .filter((e): e is string => e !== undefined);
    if (evidence.length === 0) return;
    const frame = await signControl(agent.identity, { kind: "malice", subject, evidence }, now());
    seen.add(frame.id);
    links.flood(frame);
    agent.telemetry.emit("mesh.malice_report", {
      subject,
      reporter: agent.fingerprint,
      applied: "sent",
      reason: `${evidence.length} signed claims`,
    }, { peer: subject });
  }

  /**
   * A malice report arrived. It lowers trust only as the rules allow: the
   * reporter must be trusted, the evidence must be the subject's own valid
   * signatures, and then two of its claims contradicting each other are
   * proven malice (`blacklisted`), one contradicting what this node accepted
   * is a conflict.
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
    for (const text of evidence.slice(0, _MAX_EVIDENCE)) {
      try {
        const env = await verifyEnvelope(text, {
          expectedSender: subject,
          expectedReceiver: reporter,
          maxSkewMs: Number.MAX_SAFE_INTEGER,
        });
        if (env.type !== "FACT_PROPOSE") continue;
        claims.push(knowableOf(env.msg_id, env.payload));
      } catch {
        return log("none", "evidence does not verify against the subject's key");
      }
    }
    const verdict = judgeMalice(claims, (domain, s) => agent.store.causalFactsAbout(domain, s));
    if (verdict === "none") return log("none", "evidence shows no contradiction");
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
}
