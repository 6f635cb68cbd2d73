/**
 * Shared fixture of the HCP and LIP runtime tests: an injected clock and
 * random source, real identities and signatures, a real SQLite store, and
 * the router's part (verify, run the runtime, commit, sign the replies) in
 * a few lines.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  createEnvelope,
  type Envelope,
  type EnvelopeOf,
  type HumanState,
  type MessageType,
  type PayloadOf,
  type Protocol,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import {
  createRuntimeContext,
  type Delivery,
  effectsOf,
  type FetchRequest,
  msgIdBytes,
  type Outcome,
  type RuntimeConfig,
  type RuntimeContext,
  selfFromIdentity,
} from "../../lib/runtime/mod.ts";
import { openStore, type Store } from "../../lib/store/mod.ts";
import { createTrustView, declareAnchors, type TrustConfig } from "../../lib/trust/mod.ts";

/** 2026-11-28T10:00:00Z. */
export const T0 = Date.parse("2026-11-28T10:00:00.000Z");

/** A calm, clear, consenting person. */
export const CALM: HumanState = {
  presence: "focused",
  affect: "calm",
  clarity: 80,
  pressure: 20,
  intent: "plan the week",
  consent: "granted",
};

/** What an outcome hands to the agent loop (its one `deliver` effect), if anything. */
export function deliveryOf(o: Pick<Outcome, "effects">): Delivery | undefined {
  const delivered = effectsOf(o.effects, "deliver");
  assert.ok(delivered.length <= 1, "at most one delivery per envelope");
  return delivered[0]?.delivery;
}

/** The fetch an outcome asks for (its one `fetch` effect), if any. */
export function fetchOf(o: Pick<Outcome, "effects">): FetchRequest | undefined {
  const fetches = effectsOf(o.effects, "fetch");
  assert.ok(fetches.length <= 1, "at most one fetch per envelope");
  return fetches[0]?.request;
}

/** A settable clock. */
export class Clock {
  /** Now, in ms. */
  now = T0;
  /** Moves the clock on. */
  advance(ms: number): void {
    this.now += ms;
  }
}

/** A deterministic random source: a counter spread over the bytes. */
export function counterRandom(seed = 1): (n: number) => Uint8Array {
  let i = seed;
  return (n) => {
    const out = new Uint8Array(n);
    for (let k = 0; k < n; k++) out[k] = (i * 131 + k * 17) & 0xff;
    i++;
    return out;
  };
}

/** The parties of a test. */
export interface Parties {
  agent: Identity;
  person: Identity;
  stranger: Identity;
  peerA: Identity;
  peerB: Identity;
  peerC: Identity;
}

let _parties: Promise<Parties> | undefined;

/** The same identities for every test of a run. */
export function parties(): Promise<Parties> {
  _parties ??= (async () => ({
    agent: await Identity.generate({ agentId: "agent" }),
    person: await Identity.generate({ agentId: "ada" }),
    stranger: await Identity.generate({ agentId: "mallory" }),
    peerA: await Identity.generate({ agentId: "peer-a" }),
    peerB: await Identity.generate({ agentId: "peer-b" }),
    peerC: await Identity.generate({ agentId: "peer-c" }),
  }))();
  return _parties;
}

/** Options of {@linkcode World}. */
export interface WorldOptions {
  /** A database file instead of `:memory:`. */
  path?: string;
  /** Trust settings (anchors). */
  trust?: Partial<TrustConfig>;
  /** Runtime settings (`person`, `overloadLri`). */
  config?: Partial<RuntimeConfig>;
}

/** A store, a clock and the parties: the router's side of the tests. */
export class World implements Disposable {
  readonly clock = new Clock();
  readonly random = counterRandom();
  readonly store: Store;
  load = { presence: "focused" as const, lri: 10 } as RuntimeContext["load"];

  constructor(readonly p: Parties, readonly options: WorldOptions = {}) {
    this.store = openStore(options.path ?? ":memory:", { now: () => this.clock.now });
  }

  /** Commits the declared trust anchors (`options.trust.anchors`): they start trusted. */
  declareAnchors(): void {
    const view = createTrustView(this.store, this.options.trust, () => this.clock.now);
    this.store.commit(declareAnchors(view, this.store, this.clock.now).changes);
  }

  /** A context for one dispatch, as the router builds it. */
  ctx(peer: Identity | string): RuntimeContext {
    return createRuntimeContext({
      self: selfFromIdentity(this.p.agent),
      peer: typeof peer === "string" ? peer : peer.fingerprint,
      store: this.store,
      trustConfig: this.options.trust,
      now: () => this.clock.now,
      random: this.random,
      load: this.load,
      config: { person: this.p.person.fingerprint, ...this.options.config },
    });
  }

  /** A signed, verified envelope from `from` to the agent, at the clock's time. */
  async envelope<P extends Protocol, T extends MessageType<P>>(
    protocol: P,
    type: T,
    from: Identity,
    payload: PayloadOf<P, T>,
    blocks: { state?: unknown; source?: unknown } = {},
  ): Promise<EnvelopeOf<P, T>> {
    const env = await createEnvelope(protocol, type, {
      identity: from,
      receiver: { agent_id: this.p.agent.agentId, fingerprint: this.p.agent.fingerprint },
      payload,
      ...(blocks as Record<string, never>),
      clock: () => new Date(this.clock.now),
    });
    return await verifyEnvelope(env, {
      now: () => new Date(this.clock.now),
      expectedSender: from.fingerprint,
      expectedReceiver: this.p.agent.fingerprint,
    }) as EnvelopeOf<P, T>;
  }

  /** Commits an outcome's changes as the router does, and signs its replies. */
  async commit<O extends Outcome>(o: O): Promise<O & { signed: Envelope[] }> {
    this.store.commit(o.changes, { nowMs: this.clock.now });
    const signed: Envelope[] = [];
    // The router's signing step, typed loosely: a ReplySpec is any (protocol, type) pair.
    const create = createEnvelope as unknown as (
      protocol: string,
      type: string,
      options: Record<string, unknown>,
    ) => Promise<Envelope>;
    for (const spec of o.replies) {
      const { protocol, type, msg_id: _msgId, ...blocks } = spec;
      const env = await create(protocol, type, {
        ...blocks,
        identity: this.p.agent,
        random: () => msgIdBytes(spec.msg_id),
        clock: () => new Date(this.clock.now),
      });
      assert.equal(env.msg_id, spec.msg_id);
      signed.push(env);
    }
    return { ...o, signed };
  }

  [Symbol.dispose](): void {
    this.store.close();
  }
}
