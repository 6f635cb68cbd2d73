/**
 * The invariants the simulator checks as it runs (besides the per-channel
 * ones in `streams.ts`): trust raised only on the evidence the spec
 * requires, a blacklisted peer never served, no two honest nodes accepting
 * contradicting facts, and every bounded piece of state within its bound.
 *
 * @module
 */

import type { AgentEvents } from "../agent/mod.ts";
import type { MeshLimits } from "../mesh/mod.ts";
import { type CountQuotaName, DEFAULT_BYTE_QUOTAS, DEFAULT_QUOTAS } from "../store/mod.ts";
import type { SimEvent } from "./log.ts";
import { checkLipAccepted } from "./lip.ts";
import type { Streams } from "./streams.ts";
import type { World } from "./world.ts";

/** A broken invariant. */
export interface Violation {
  /** Which (`lost`, `duplicated`, `reordered`, `trust`, `served`, `consensus`, `bound`). */
  kind: string;
  /** What, in words. */
  detail: string;
  /** The step it broke at. */
  step: number;
  /** Virtual ms. */
  t: number;
}

const _COUNT_QUOTAS: readonly CountQuotaName[] = ["claims", "lip_queue", "evidence", "replay"];

const _RANK: Record<string, number> = {
  blacklisted: 0,
  untrusted: 1,
  restricted: 1,
  unknown: 1,
  probing: 2,
  trusted: 3,
};

/**
 * The checks, fed by the world's typed events and a periodic look at the
 * bounded state.
 *
 * @example
 * ```ts ignore
 * const inv = new Invariants(5, note, () => log.last(), () => step, () => clock.monotonic());
 * inv.fail("lost", "0>1 state #3");
 * inv.violations.length; // 1
 * ```
 *
 * @internal
 */
export class Invariants {
  /** Violations (the run stops at the first). */
  readonly violations: Violation[] = [];
  /** The last events at the first violation. */
  snapshot: SimEvent[] | undefined;
  /** LIP claims honest nodes accepted (each checked against the acceptance rule). */
  lipAccepted = 0;
  readonly #note: (kind: string, detail: string) => void;
  readonly #last: () => SimEvent[];
  readonly #step: () => number;
  readonly #t: () => number;
  /** Accepted value per subject, per honest node's view (subject -> value canon). */
  readonly #accepted = new Map<string, { value: string; node: number }>();
  /** Per node, the peers it blacklisted. */
  readonly #blacklisted: Set<string>[];
  #world: World | undefined;

  /**
   * Creates it.
   *
   * @param nodes Node count.
   * @param note Logs an event.
   * @param last The log's last events.
   * @param step The current step.
   * @param t The current virtual time.
   */
  constructor(
    nodes: number,
    note: (kind: string, detail: string) => void,
    last: () => SimEvent[],
    step: () => number,
    t: () => number,
  ) {
    this.#note = note;
    this.#last = last;
    this.#step = step;
    this.#t = t;
    this.#blacklisted = Array.from({ length: nodes }, () => new Set());
  }

  /** The world whose nodes are checked. */
  setWorld(world: World): void {
    this.#world = world;
  }

  /**
   * Records a violation (and the events that led to it, on the first).
   *
   * @param kind Which invariant.
   * @param detail What.
   */
  fail(kind: string, detail: string): void {
    this.#note("VIOLATION", `${kind} ${detail}`);
    if (this.violations.length === 0) this.snapshot = this.#last();
    this.violations.push({ kind, detail, step: this.#step(), t: this.#t() });
  }

  /**
   * One typed event of node `i`'s agent.
   *
   * @param world The world.
   * @param i The node.
   * @param name The event.
   * @param e Its payload.
   * @param streams The application streams (a session ended for good excuses its messages).
   */
  agentEvent<K extends keyof AgentEvents>(
    world: World,
    i: number,
    name: K,
    e: AgentEvents[K],
    streams: Streams,
  ): void {
    const me = world.nodes[i]!;
    const name8 = (fp: string) => {
      const j = world.indexOf(fp);
      return j < 0 ? fp.slice(0, 8) : `n${j}`;
    };
    switch (name) {
      case "peerUp": {
        const x = e as AgentEvents["peerUp"];
        this.#note("peerUp", `n${i}-${name8(x.peer)} ${x.session} ${x.via}`);
        break;
      }
      case "peerDown": {
        const x = e as AgentEvents["peerDown"];
        this.#note("peerDown", `n${i}-${name8(x.peer)} ${x.session} final=${x.final}`);
        const j = world.indexOf(x.peer);
        if (x.final && j >= 0) streams.sessionEnded(i, j, x.session);
        break;
      }
      case "trustChanged": {
        const { entry } = e as AgentEvents["trustChanged"];
        if (!entry.changed) break;
        this.#note(
          "trust",
          `n${i}: ${name8(entry.subject)} ${entry.from}->${entry.to} ${entry.event}`,
        );
        if (entry.to === "blacklisted") this.#blacklisted[i]!.add(entry.subject);
        const up = (_RANK[entry.to] ?? 1) > (_RANK[entry.from] ?? 1);
        if (!up || me.liar) break;
        const j = world.indexOf(entry.subject);
        const decided = entry.actor !== undefined;
        if (entry.from === "blacklisted" && !decided) {
          this.fail(
            "trust",
            `n${i} raised ${name8(entry.subject)} out of blacklisted by ${entry.event}`,
          );
        } else if (entry.to === "trusted" && !decided && entry.evidence.length === 0) {
          this.fail(
            "trust",
            `n${i} trusted ${name8(entry.subject)} without evidence (${entry.event})`,
          );
        } else if (entry.to === "trusted" && j >= 0 && world.nodes[j]!.liar && !decided) {
          this.fail("trust", `n${i} trusted the liar n${j} (${entry.event})`);
        }
        if (entry.to !== "blacklisted") this.#blacklisted[i]!.delete(entry.subject);
        break;
      }
      case "claimChanged": {
        const x = e as AgentEvents["claimChanged"];
        this.#note("claim", `n${i} ${x.origin} ${x.claim.slice(0, 8)} ${x.status}`);
        if (x.status !== "accepted" || me.liar) break;
        if (x.origin === "lip") {
          this.lipAccepted++;
          const wrong = checkLipAccepted(world, i, x.claim);
          if (wrong !== undefined) this.fail("lip", wrong);
          break;
        }
        const claim = me.node?.agent.store.claim(x.claim);
        if (claim?.subject === undefined || claim.valueCanon === undefined) break;
        const had = this.#accepted.get(claim.subject);
        if (had === undefined) {
          this.#accepted.set(claim.subject, { value: claim.valueCanon, node: i });
        } else if (had.value !== claim.valueCanon) {
          this.fail(
            "consensus",
            `n${i} accepted ${claim.subject}=${claim.valueCanon}, n${had.node} ${had.value}`,
          );
        }
        break;
      }
      case "afterCycle": {
        const x = e as AgentEvents["afterCycle"];
        if (!this.#blacklisted[i]!.has(x.peer) || x.result.status !== "handled") break;
        const sanctioned = x.result.effects.some((f) =>
          f.type === "trustChanged" && f.entry.subject === x.peer
        );
        const served = x.result.replies.some((r) => r.envelope.type !== "ERROR");
        if (!sanctioned && served) {
          this.fail("served", `n${i} answered blacklisted ${name8(x.peer)} (${x.result.type})`);
        }
        break;
      }
      case "error": {
        const x = e as AgentEvents["error"];
        this.#note("error", `n${i} ${x.where} ${x.error.slice(0, 80)}`);
        break;
      }
    }
  }

  /**
   * Every node's bounded state against its bounds (mesh state, inbound shares).
   *
   * @param world The world.
   * @param limits The mesh's bounds.
   */
  bounds(world: World, limits: MeshLimits): void {
    // A crash frees what the process held: its native node (and its store, closed at once).
    const held = world.unreleased(1_000);
    if (held.length > 0) {
      this.fail("bound", `crashed ${held.join(", ")} still holds its native node`);
    }
    for (const n of world.nodes) {
      const node = n.node;
      if (node === undefined) continue;
      const s = node.stateSizes();
      const over: string[] = [];
      if (s.seenIds > limits.seenIds) over.push(`seenIds ${s.seenIds}>${limits.seenIds}`);
      if (s.linkNodes > limits.linkNodes) over.push(`linkNodes ${s.linkNodes}`);
      if (s.pendingAdverts > limits.pendingAdverts) over.push(`pendingAdverts ${s.pendingAdverts}`);
      if (s.copies > limits.copies) over.push(`copies ${s.copies}`);
      if (s.heldBytes > limits.heldBytes) over.push(`heldBytes ${s.heldBytes}`);
      if (s.evidenceBytes > limits.evidenceBytes) over.push(`evidenceBytes ${s.evidenceBytes}`);
      if (s.pendingBytes > limits.pendingBytesTotal) over.push(`pendingBytes ${s.pendingBytes}`);
      const store = node.agent.store;
      for (const m of world.nodes) {
        if (m === n) continue;
        const fp = m.identity.fingerprint;
        const u = node.agent.inbound(fp);
        if (u !== undefined && u.held > u.share) {
          over.push(`inbound n${m.index} ${u.held}>${u.share}`);
        }
        // The store's per-peer bounds (issue 17): counts and the trusted byte quota.
        for (const q of _COUNT_QUOTAS) {
          const used = store.usage(fp, q);
          if (used > DEFAULT_QUOTAS[q]) over.push(`store ${q} n${m.index} ${used}`);
        }
        const bytes = store.usage(fp, "bytes");
        if (bytes > DEFAULT_BYTE_QUOTAS.trusted) over.push(`store bytes n${m.index} ${bytes}`);
      }
      const total = store.totalBytes();
      if (total > DEFAULT_BYTE_QUOTAS.total) over.push(`store total ${total}`);
      // The audit stream: each trust level within its budget.
      const audit = n.audit?.stats();
      for (const [level, s] of Object.entries(audit?.levels ?? {})) {
        if (s.entries > s.budget.entries || s.bytes > s.budget.bytes) {
          over.push(`audit ${level} ${s.entries} entries ${s.bytes} bytes`);
        }
      }
      if (over.length > 0) this.fail("bound", `n${n.index} ${over.join(", ")}`);
    }
  }
}
