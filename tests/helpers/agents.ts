/**
 * Builds agents and a person for the agent tests: identities, fixed load
 * sources (so the machine's load never flips presence), memory sinks, and
 * the event-contract check of every event seen.
 */
import assert from "node:assert/strict";
import {
  Agent,
  type AgentOptions,
  FixedLoadSource,
  HcpClient,
  type HcpHelloOptions,
} from "../../lib/agent/mod.ts";
import type { HumanState } from "../../lib/envelope/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { checkEvents, MemorySink, type Web4Event } from "../../lib/observability/mod.ts";
import type { TransportFactory } from "../../lib/transport/mod.ts";

/** One agent of a test world. */
export interface TestAgent {
  agent: Agent;
  load: FixedLoadSource;
  sink: MemorySink;
  port: number;
  hostname: string;
}

/** Options of {@linkcode world}. */
export interface WorldOptions {
  names: string[];
  /** Every agent's and the person's transport (`rtt()`, `memory({ network })`); on `memory` agents listen on their names. */
  transport: TransportFactory;
  /** Each agent anchors every other agent. @default {true} */
  anchors?: boolean;
  /** Per agent: the names it anchors (overrides `anchors`). */
  anchorsOf?: Record<string, string[]>;
  mission?: string;
  person?:
    | { of: string; name: string; consentScope?: string[]; human?: Partial<HumanState> }
    | undefined;
  stores?: Record<string, string>;
  identities?: Record<string, Identity>;
  extra?: Partial<AgentOptions>;
  /** Per agent: more options (after `extra`). */
  extraOf?: Record<string, Partial<AgentOptions>>;
}

/** A set of agents (and maybe a person), all listening. */
export class World implements AsyncDisposable {
  readonly agents = new Map<string, TestAgent>();
  readonly ids = new Map<string, Identity>();
  person: HcpClient | undefined;
  /** The person's first `HCP_HELLO`: consent, scope and vector. */
  personHello: HcpHelloOptions = {};
  personSink = new MemorySink({ capacity: 10_000 });

  static async create(o: WorldOptions): Promise<World> {
    const w = new World();
    for (const name of [...o.names, ...(o.person ? [o.person.name] : [])]) {
      w.ids.set(name, o.identities?.[name] ?? await Identity.generate({ agentId: name }));
    }
    let i = 0;
    for (const name of o.names) {
      i++;
      await w.start(name, o, i);
    }
    if (o.person !== undefined) {
      w.person = await HcpClient.create({
        identity: w.ids.get(o.person.name)!,
        name: o.person.name,
        transport: o.transport,
        sinks: [w.personSink],
        // The agents' clock, when the world runs on one (virtual-time twins).
        ...(o.extra?.clock === undefined ? {} : { clock: o.extra.clock }),
      });
      // What the person says in their first HCP_HELLO (their explicit choice).
      const { consent = "granted", ...human } = o.person.human ?? {};
      w.personHello = {
        consent,
        consentScope: o.person.consentScope ?? ["topic:*"],
        human: { clarity: 80, pressure: 20, affect: "calm", ...human },
      };
    }
    return w;
  }

  async start(name: string, o: WorldOptions, index = this.agents.size + 1): Promise<TestAgent> {
    const identity = this.ids.get(name)!;
    const others = o.names.filter((n) => n !== name).map((n) => this.ids.get(n)!.fingerprint);
    const load = new FixedLoadSource({ cpu: 0.1, memory: 0.1 });
    const sink = new MemorySink({ capacity: 10_000 });
    const person = o.person?.of === name ? this.ids.get(o.person.name)!.fingerprint : undefined;
    const agent = await Agent.create({
      identity,
      mission: o.mission ?? "verify water quality facts",
      store: o.stores?.[name] ?? ":memory:",
      trustAnchors: o.anchorsOf?.[name] !== undefined
        ? o.anchorsOf[name]!.map((n) => this.ids.get(n)!.fingerprint)
        : o.anchors === false
        ? []
        : others,
      transport: o.transport,
      load,
      loadIntervalMs: 0,
      sinks: [sink],
      person,
      ...o.extra,
      ...o.extraOf?.[name],
    });
    const onMemory = agent.transport.backend === "memory";
    const hostname = onMemory ? name : "127.0.0.1";
    const bound = await agent.listen({ hostname, port: onMemory ? 4000 + index : 0 });
    const t = { agent, load, sink, port: bound.port, hostname };
    this.agents.set(name, t);
    return t;
  }

  get(name: string): TestAgent {
    const a = this.agents.get(name);
    if (a === undefined) throw new Error(`No agent ${name}`);
    return a;
  }

  fp(name: string): string {
    return this.ids.get(name)!.fingerprint;
  }

  /** Connects `from` to `to` (transport session + CIP handshake). */
  async link(from: string, to: string): Promise<void> {
    const t = this.get(to);
    await this.get(from).agent.connect({
      hostname: t.hostname,
      port: t.port,
      fingerprint: this.fp(to),
      agentId: to,
    });
    // The answering side is verified once it has handled the VERIFY.
    const other = t.agent;
    const me = this.fp(from);
    await other.until(() => other.peer(me)?.verified === true);
  }

  /** Every event of every agent and the person so far. */
  events(): Web4Event[] {
    return [
      ...[...this.agents.values()].flatMap((a) => a.sink.events()),
      ...this.personSink.events(),
    ];
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.person?.close();
    await Promise.all([...this.agents.values()].map((a) => a.agent.stop()));
  }
}

/**
 * Asserts every event validates against the event contract v1.0.
 *
 * @param events The events.
 */
export function assertEventContract(events: readonly Web4Event[]): void {
  assert.ok(events.length > 0, "no events");
  const problems = checkEvents(events);
  assert.deepEqual(
    problems.slice(0, 5),
    [],
    `${problems.length} of ${events.length} events break the contract`,
  );
}
