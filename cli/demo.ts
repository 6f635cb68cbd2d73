/**
 * The milestone demo, as a function: three agents (each its own RTT node
 * and port on 127.0.0.1, each declaring the other two as trust anchors) and
 * a person, through the whole story: RTT and CIP handshakes, presence,
 * intents (one deferred for overload), the person's intent through consent
 * to the other agents, a LIP fetch from a local page accepted on two trusted
 * corroborations (each agent's fetcher lists that page's origin and nothing
 * else on loopback; beta and gamma corroborate only because their judge, a
 * rule of their operator, finds the page's nitrate reading equal to their
 * own lab's), a fact waiting for its second trusted confirmation, and a
 * refusal after consent is revoked. Every event goes to `onEvent` as it
 * happens; the result is the summary.
 *
 * The agents read their load from injected sources, so the story is the
 * same on any machine (one agent is made overloaded on purpose).
 *
 * @module
 */

import { Agent, FixedLoadSource, HcpClient } from "../lib/agent/mod.ts";
import { Identity } from "../lib/identity/mod.ts";
import { Web4Error } from "../lib/errors/mod.ts";
import { HttpFetcher, type LipJudge } from "../lib/lip/mod.ts";
import { MetricsRegistry, type Web4Event } from "../lib/observability/mod.ts";
import { rtt } from "../lib/rtt/mod.ts";
import type { TransportFactory } from "../lib/transport/mod.ts";

/** Options of {@linkcode runDemo}. */
export interface DemoOptions {
  /** Receives every event of every agent and of the person, as it happens. */
  onEvent?: (event: Web4Event, names: ReadonlyMap<string, string>) => void;
  /** Receives the story's narration lines. */
  onStep?: (line: string) => void;
  /** The transport factory of every agent and the person (each owns what it makes). @default {rtt()} */
  transport?: TransportFactory;
}

/** One failed expectation of the story. Code `DEMO_STEP_FAILED`. */
export class DemoError extends Web4Error<"DEMO_STEP_FAILED"> {
  /**
   * Creates the error.
   *
   * @param message What did not happen.
   */
  constructor(message: string) {
    super("DEMO_STEP_FAILED", message);
  }
}

/** The demo's summary. */
export interface DemoSummary {
  /** Per agent: how it sees each peer (`name: state`). */
  trust: Record<string, Record<string, string>>;
  /** Per agent: CIP claims by status. */
  claims: Record<string, Record<string, number>>;
  /** Per agent: LIP claims by status. */
  lip: Record<string, Record<string, number>>;
  /** Per agent: facts in causal memory (accepted knowledge). */
  facts: Record<string, number>;
  /** Messages dispatched by all routers, by protocol. */
  messages: Record<string, number>;
  /** Events emitted. */
  events: number;
  /** Transport round trip (send to acknowledgement) over all agents, in ms. */
  latency: { p50: number; p95: number; count: number };
}

const NAMES = ["alpha", "beta", "gamma"] as const;
const PAGE = "Lake Aral water samples of 2026 show nitrate at 12 mg/l.";
/** What beta's and gamma's own lab measured, in mg/l. */
const LAB_NITRATE = 12;

/**
 * The judge of beta and gamma, a rule of their operator: a page's nitrate
 * reading is corroborated when it equals the lab's own, disputed when it
 * differs, and left alone when the page gives none.
 */
const labJudge: LipJudge = ({ document }) => {
  const m = /nitrate at ([0-9]+(?:\.[0-9]+)?) mg\/l/.exec(document.text);
  if (m === null) return { verdict: "abstain", reason: "the page gives no nitrate reading" };
  const value = Number(m[1]);
  return value === LAB_NITRATE
    ? { verdict: "corroborate", reason: `nitrate ${value} mg/l matches our lab's reading` }
    : { verdict: "dispute", reason: `nitrate ${value} mg/l, our lab measured ${LAB_NITRATE}` };
};

function _expect(ok: boolean, what: string): void {
  if (!ok) throw new DemoError(what);
}

/**
 * Runs the story.
 *
 * @param options Where events and steps go.
 * @returns The summary.
 * @throws {DemoError} When a step of the story does not happen.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const step = options.onStep ?? (() => {});
  const transport = options.transport ?? rtt();
  const names = new Map<string, string>();
  const ids = new Map<string, Identity>();
  for (const n of [...NAMES, "ada"]) {
    const id = await Identity.generate({ agentId: n });
    ids.set(n, id);
    names.set(id.fingerprint, n);
  }
  let events = 0;
  const sink = {
    write: (e: Web4Event) => {
      events++;
      options.onEvent?.(e, names);
    },
  };
  const fp = (n: string) => ids.get(n)!.fingerprint;
  // Every agent's samples also land here, so quantiles are pooled exactly.
  const pooled = new MetricsRegistry();

  await using page = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(PAGE, { headers: { "content-type": "text/plain" } }),
  );
  const origin = `http://127.0.0.1:${page.addr.port}`;
  const url = `${origin}/aral-2026`;

  const agents = new Map<string, { agent: Agent; load: FixedLoadSource; port: number }>();
  let person: HcpClient | undefined;
  try {
    step("Three agents start, each on its own RTT node and port, each anchoring the other two");
    for (const n of NAMES) {
      const load = new FixedLoadSource({ cpu: 0.12, memory: 0.3 });
      const agent = await Agent.create({
        identity: ids.get(n)!,
        mission: "verify water quality facts for the Aral basin",
        store: ":memory:",
        trustAnchors: NAMES.filter((m) => m !== n).map(fp),
        person: n === "alpha" ? fp("ada") : undefined,
        transport,
        load,
        loadIntervalMs: 0,
        sinks: [sink],
        metricsMirror: pooled,
        // The page's origin is the one exception to "globally reachable addresses only".
        fetcher: new HttpFetcher({ allowOrigins: [origin] }),
        lipJudge: n === "alpha" ? undefined : labJudge,
      });
      const { port } = await agent.listen({ hostname: "127.0.0.1", port: 0 });
      agents.set(n, { agent, load, port });
    }
    const get = (n: string) => agents.get(n)!;
    const link = async (from: string, to: string) => {
      await get(from).agent.connect({
        hostname: "127.0.0.1",
        port: get(to).port,
        fingerprint: fp(to),
        agentId: to,
      });
      // The answering side is verified once it has handled the VERIFY.
      const other = get(to).agent;
      await other.until(() => other.peer(fp(from))?.verified === true);
    };

    step("RTT handshakes (TLS 1.3, pinned fingerprints), then CIP HELLO / HELLO / VERIFY");
    await link("alpha", "beta");
    await link("alpha", "gamma");
    await link("beta", "gamma");
    for (const n of NAMES) {
      _expect(
        get(n).agent.peers().every((p) => p.verified),
        `${n}: a CIP handshake did not verify`,
      );
    }
    const alpha = get("alpha").agent;
    await alpha.until(() => NAMES.slice(1).every((n) => alpha.store.presence(fp(n)) !== undefined));

    step("alpha declares an intent to beta: accepted");
    const answer = alpha.next("intentAnswered");
    await alpha.declareIntent({ goal: "ask", topic: "aral water nitrate" }, { to: [fp("beta")] });
    _expect((await answer).decision === "accept", "beta did not accept alpha's intent");

    step("gamma becomes overloaded (injected load): alpha's intent to gamma is deferred");
    get("gamma").load.set({ cpu: 0.96 });
    await get("gamma").agent.refreshLoad();
    await alpha.until(() => alpha.store.presence(fp("gamma"))?.presence === "overloaded");
    const [held] = await alpha.declareIntent({ goal: "ask", topic: "aral water" }, {
      to: [fp("gamma")],
    });
    _expect(held?.status === "deferred", "alpha's intent to an overloaded gamma was not deferred");
    get("gamma").load.set({ cpu: 0.12 });
    await get("gamma").agent.refreshLoad();
    await alpha.until(() => alpha.store.presence(fp("gamma"))?.presence !== "overloaded");

    step("ada (a person, own key) connects to alpha over RTT and says HCP_HELLO");
    person = await HcpClient.create({
      identity: ids.get("ada")!,
      name: "Ada",
      transport,
      sinks: [sink],
    });
    await person.connect({
      hostname: "127.0.0.1",
      port: get("alpha").port,
      fingerprint: fp("alpha"),
      agentId: "alpha",
    });
    await person.hello({ consent: "limited", consentScope: ["topic:water"] });

    step("ada's HCP_INTENT passes consent and reaches beta's and gamma's loops as a CIP INTENT");
    const atBeta = get("beta").agent.next("intent", (i) => i.topic === "topic:water");
    const atGamma = get("gamma").agent.next("intent", (i) => i.topic === "topic:water");
    await person.intent({ goal: "request", topic: "topic:water", priority: "high" });
    await Promise.all([atBeta, atGamma]);

    step(
      "alpha fetches a page (LIP): the evidence waits pending; beta and gamma re-fetch it, their judge compares it with their lab's reading, and they corroborate",
    );
    const { claims: [claim] } = await alpha.fetch(url);
    _expect(claim !== undefined, "the fetch gave no claim");
    _expect(alpha.store.lipItem(claim!)?.status === "pending", "the fetched claim is not pending");
    for (const n of ["beta", "gamma"]) {
      const a = get(n).agent;
      await a.until(() => a.store.lipItem(claim!) !== undefined);
      const checked = await a.verifyEvidence(claim!);
      _expect(checked.verified, `${n} did not corroborate the page (${checked.reason})`);
    }
    await alpha.until(() => alpha.store.lipItem(claim!)?.status === "accepted");
    _expect(
      alpha.store.causalFact(claim!) !== undefined,
      "accepted evidence is not in causal memory",
    );

    step("beta proposes a fact to alpha; gamma confirms it: one trusted confirmation of two");
    const gamma = get("gamma").agent;
    gamma.on("intent", (i) => {
      const ctx = i.context as { fact_ref?: string } | undefined;
      if (i.goal === "verify_knowledge" && typeof ctx?.fact_ref === "string") {
        void gamma.vote(i.from, ctx.fact_ref, { notes: "matches our samples" });
      }
    });
    const [proposed] = await get("beta").agent.proposeFact(
      {
        statement: "Aral nitrate was 12 mg/l in 2026",
        domain: "water",
        confidence: 0.8,
        sources: [url],
        context: { subject: "aral.nitrate.2026", value: 12 },
      },
      { steps: ["read the 2026 samples", "compared with the lab report"], evidence: [url] },
      { to: [fp("alpha")] },
    );
    const fact = proposed?.msgId;
    _expect(fact !== undefined, "beta's proposal was not sent");
    await alpha.until(() => alpha.store.claim(fact!) !== undefined);
    await alpha.askToVerify(fact!);
    await alpha.until(() => alpha.store.votes(fact!).length === 1);
    _expect(
      alpha.store.claim(fact!)?.status === "pending",
      "a fact was accepted on one confirmation",
    );
    _expect(alpha.store.causalFact(fact!) === undefined, "a pending fact reached causal memory");

    step("ada revokes consent: her next intent is refused with HCP_ERROR consent_revoked");
    await person.revokeConsent();
    const refusal = person.next((e) => e.type === "HCP_ERROR");
    await person.intent({ goal: "request", topic: "topic:water" });
    const err = await refusal;
    _expect(
      err.type === "HCP_ERROR" && err.payload.code === "consent_revoked",
      "the revoked intent was not refused",
    );

    return _summary([...agents].map(([n, x]) => [n, x.agent] as const), names, events, pooled);
  } finally {
    await person?.close();
    await Promise.all([...agents.values()].map((x) => x.agent.stop()));
  }
}

function _summary(
  agents: readonly (readonly [string, Agent])[],
  names: ReadonlyMap<string, string>,
  events: number,
  pooled: MetricsRegistry,
): DemoSummary {
  const summary: DemoSummary = {
    trust: {},
    claims: {},
    lip: {},
    facts: {},
    messages: {},
    events,
    latency: { p50: 0, p95: 0, count: 0 },
  };
  for (const [n, agent] of agents) {
    const trust: Record<string, string> = {};
    const claims: Record<string, number> = {};
    const lip: Record<string, number> = {};
    let facts = 0;
    for (const [peer, name] of names) {
      if (peer === agent.fingerprint) continue;
      if (peer === agent.person) trust[name] = `person:${agent.router.trust.person(peer)}`;
      else if (name !== "ada") trust[name] = agent.router.trust.peer(peer);
      for (const c of agent.store.claimsBy(peer)) {
        claims[c.status] = (claims[c.status] ?? 0) + 1;
        if (agent.store.causalFact(c.id) !== undefined) facts++;
      }
    }
    for (const status of ["pending", "accepted", "disputed", "rejected"] as const) {
      const items = agent.store.lipItems(status);
      if (items.length > 0) lip[status] = items.length;
      if (status === "accepted") {
        facts += items.filter((i) => agent.store.causalFact(i.id) !== undefined).length;
      }
    }
    summary.trust[n] = trust;
    summary.claims[n] = claims;
    summary.lip[n] = lip;
    summary.facts[n] = facts;
  }
  const snap = pooled.snapshot();
  for (const [key, value] of Object.entries(snap.counters)) {
    const m = /^web4_router_messages_total\{.*protocol="([a-z]+)"/.exec(key);
    if (m !== null) summary.messages[m[1]!] = (summary.messages[m[1]!] ?? 0) + value;
  }
  const ack = snap.histograms["web4_transport_ack_seconds"];
  if (ack !== undefined) {
    const r = (seconds: number) => Math.round(seconds * 1e6) / 1000; // milliseconds
    summary.latency = { p50: r(ack.p50), p95: r(ack.p95), count: ack.count };
  }
  return summary;
}
