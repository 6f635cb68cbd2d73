/**
 * The person of node 0: an `HcpClient` on the same memory network, with its
 * own seeded stream and a clock view at its agent's offset. Drawn from the
 * seed every few virtual seconds, one action at a time: an intent on a topic,
 * or a change of consent (limited to a drawn scope, granted, revoked). The
 * consent invariant: an intent the agent propagates to peers was allowed by
 * the consent the person had set when sending it, by one set after it, or by
 * the one just before it (a change and the next intent may be read in either
 * order); an intent the person never sent is never propagated.
 *
 * @module
 */

import { HcpClient } from "../agent/mod.ts";
import type { Identity } from "../identity/mod.ts";
import { randomInt, type RandomSource, seededRandom } from "../ports/mod.ts";
import { memory } from "../rtt/mod.ts";
import { NodeClock, type SimClock } from "./clock.ts";
import type { World } from "./world.ts";

/** The topics the person speaks of. */
const _TOPICS = ["topic:water", "topic:air", "topic:soil"] as const;

interface _Consent {
  consent: "granted" | "limited" | "revoked";
  scope: readonly string[];
}

function _allows(c: _Consent, topic: string): boolean {
  if (c.consent === "revoked") return false;
  if (c.consent === "granted") return true;
  const kind = topic.split(":")[0];
  return c.scope.includes(topic) || c.scope.includes(`${kind}:*`);
}

/**
 * Drives the person of node 0 and checks what its agent propagates.
 *
 * @internal
 */
export class PersonDriver {
  /** Actions taken (intents and consent changes). */
  actions = 0;
  readonly #world: World;
  readonly #clock: SimClock;
  readonly #rnd: RandomSource;
  readonly #identity: Identity;
  readonly #note: (kind: string, detail: string) => void;
  readonly #fail: (kind: string, detail: string) => void;
  readonly #seed: number;
  #client: HcpClient | undefined;
  #busy = false;
  #generation = 0;
  #timer: number | undefined;
  /** Every consent the person set, in order. */
  readonly #consents: _Consent[] = [{ consent: "limited", scope: ["topic:water"] }];
  /** Intents sent and not yet propagated (or refused): the consent index in force, the topic. */
  readonly #intents: { at: number; topic: string }[] = [];

  /**
   * Creates it.
   *
   * @param world The world (node 0 enrolled this person).
   * @param identity The person's key.
   * @param clock The simulation clock.
   * @param seed The run's seed.
   * @param rnd The run's random stream.
   * @param note Logs an event.
   * @param fail Records a violation.
   */
  constructor(
    world: World,
    identity: Identity,
    clock: SimClock,
    seed: number,
    rnd: RandomSource,
    note: (kind: string, detail: string) => void,
    fail: (kind: string, detail: string) => void,
  ) {
    this.#world = world;
    this.#identity = identity;
    this.#clock = clock;
    this.#seed = seed;
    this.#rnd = rnd;
    this.#note = note;
    this.#fail = fail;
  }

  /** Starts acting every 5 virtual s. */
  start(): void {
    this.#timer = this.#clock.setInterval(() => void this.#act(), 5_000);
  }

  /** Stops acting. */
  stop(): void {
    this.#clock.clear(this.#timer);
  }

  /** Closes the person's client. */
  async close(): Promise<void> {
    await this.#client?.close();
  }

  /**
   * Node 0 propagated a person's intent to peers.
   *
   * @param hcpMsgId The person's intent.
   * @param topic Its topic.
   * @param sent The peers it went to.
   */
  propagated(hcpMsgId: string, topic: string, sent: readonly string[]): void {
    this.#note("propagated", `${hcpMsgId.slice(0, 8)} ${topic} to ${sent.length}`);
    // The msg_id is known to the person only once its send resolved, which may be after the
    // agent propagated it: intents are matched by topic, oldest first.
    const k = this.#intents.findIndex((x) => x.topic === topic);
    const sentAt = k < 0 ? undefined : this.#intents.splice(k, 1)[0];
    if (sentAt === undefined) {
      this.#fail("consent", `propagated ${hcpMsgId} the person never sent`);
      return;
    }
    // The consent in force when it was sent, any set after it, and the one before it (a
    // change and the next intent may be read in either order).
    const ok = this.#consents.slice(Math.max(0, sentAt.at - 1)).some((c) => _allows(c, topic));
    if (!ok && sent.length > 0) {
      this.#fail("consent", `intent ${topic} reached ${sent.length} peer(s) outside the consent`);
    }
    if (sent.includes(this.#identity.fingerprint)) {
      this.#fail("consent", `the person's own intent was sent back to the person`);
    }
  }

  /** Keeps the consent history bounded: indices of remembered intents move with it. */
  #rebase(): void {
    const drop = this.#consents.length - 500;
    this.#consents.splice(0, drop);
    for (const v of this.#intents) v.at = Math.max(0, v.at - drop);
  }

  async #connect(): Promise<HcpClient | undefined> {
    const w = this.#world;
    const agent = w.nodes[0]!;
    if (agent.node === undefined) return undefined;
    if (this.#client !== undefined && agent.node.agent.peer(this.#identity.fingerprint)) {
      return this.#client;
    }
    const old = this.#client;
    this.#client = undefined;
    await old?.close();
    const client = await HcpClient.create({
      identity: this.#identity,
      name: "Ada",
      transport: memory({ network: w.network }),
      clock: new NodeClock(this.#clock, agent.clock.offset),
      random: seededRandom(this.#seed * 1000 + 500 + ++this.#generation),
    });
    const record = await client.connect({
      hostname: agent.name,
      port: 1,
      fingerprint: agent.identity.fingerprint,
      agentId: agent.name,
    });
    this.#client = client;
    this.#note("person", `connected (agent holds ${record.human?.consent ?? "none"})`);
    if (record.human === null) {
      const c = this.#consents.at(-1)!;
      await client.hello({ consent: c.consent, consentScope: [...c.scope] });
    }
    return client;
  }

  async #act(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const client = await this.#connect();
      if (client === undefined) return;
      const r = randomInt(this.#rnd, 10);
      this.actions++;
      if (r < 6) {
        const topic = _TOPICS[randomInt(this.#rnd, _TOPICS.length)]!;
        const at = this.#consents.length - 1;
        const current = this.#consents[at]!;
        this.#note("person", `intent ${topic} under ${current.consent}`);
        // An intent the agent refuses (revoked, out of scope) is the agent's to refuse.
        this.#intents.push({ at, topic });
        if (this.#intents.length > 1_000) this.#intents.shift();
        await client.intent({ goal: "request", topic });
      } else {
        const next: _Consent = r < 8
          ? {
            consent: "limited",
            scope: _TOPICS.filter(() => randomInt(this.#rnd, 2) === 0),
          }
          : r < 9
          ? { consent: "revoked", scope: this.#consents.at(-1)!.scope }
          : { consent: "granted", scope: this.#consents.at(-1)!.scope };
        this.#note("person", `consent ${next.consent} ${next.scope.join(",")}`);
        if (next.consent === "revoked") await client.revokeConsent();
        else await client.hello({ consent: next.consent, consentScope: [...next.scope] });
        this.#consents.push(next);
        if (this.#consents.length > 1_000) this.#rebase();
      }
    } catch (err) {
      this.#note("person-failed", err instanceof Error ? err.name : String(err));
    } finally {
      this.#busy = false;
    }
  }
}
