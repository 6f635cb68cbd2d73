/**
 * The mapping between A2A tasks and web4's rules. An A2A client is never
 * the person: each message becomes a signed CIP `INTENT` from the client's
 * own peer key (`./peer.ts`), pinned by the operator at a trust level that
 * no trust event moves. The served agent's decision becomes the task's
 * state:
 *
 * - refused (`ERROR`: `paced`, `untrusted`, `quota`, ...) -> `TASK_STATE_REJECTED`, with the reason;
 * - deferred (overloaded, not reachable, no answer yet) -> `TASK_STATE_WORKING`, with the reason;
 * - accepted, on a topic the operator does not share -> `TASK_STATE_REJECTED`;
 * - accepted, on a shared topic the person's consent does not cover now ->
 *   `TASK_STATE_INPUT_REQUIRED` ("waits for the person's consent"), checked
 *   again when the person's consent or state arrives and whenever the task
 *   is read, until it expires (`./tasks.ts`);
 * - accepted, shared and consented -> `TASK_STATE_COMPLETED` with an answer
 *   drawn only from the agent's accepted knowledge (causal memory).
 *
 * Every state change is an `a2a.task` event in the agent's event log.
 *
 * @module
 */

import type { Agent } from "../../lib/agent/mod.ts";
import { actionTopic, inConsentScope } from "../../lib/hcp/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import {
  type Clock,
  type RandomSource,
  randomUuid,
  systemClock,
  systemRandom,
} from "../../lib/ports/mod.ts";
import type { TransportSource } from "../../lib/transport/mod.ts";
import type { PinnedLevel } from "../../lib/trust/mod.ts";
import type { A2aClientSpec } from "./clients.ts";
import { A2aPeer, type PeerDecision, type ServedAgent } from "./peer.ts";
import {
  type A2aCall,
  A2aRpcError,
  parseSentMessage,
  taskIdOf,
  TERMINAL_STATES,
} from "./protocol.ts";
import { type GatewayTask, type TaskLimits, TaskTable } from "./tasks.ts";

/** One admitted client with its peer key. */
export interface GatewayClient extends A2aClientSpec {
  /** The client's peer identity (held by the gateway, pinned by the agent). */
  identity: Identity;
}

/** Domain separation of the clients' key derivation (version 1). */
const _CLIENT_KEY_LABEL = "web4 a2a client key v1\n";

/**
 * Makes a peer identity for each client, derived from the served agent's
 * own key and the client's name: the Ed25519 seed is HMAC-SHA-256 of the
 * name under the agent's PKCS#8 key text. So a client keeps its key (and
 * the agent its one trust record for it) across restarts and token
 * changes, and nobody without the agent's key file can derive it: a token
 * admits its holder to the gateway, never to the client's peer key.
 *
 * @param clients The admitted clients.
 * @param agent The served agent's identity (its key must be extractable,
 *   as a key file's is).
 * @returns The clients with their identities.
 * @throws {IdentityError} If the agent's key is not extractable.
 */
export async function clientIdentities(
  clients: readonly A2aClientSpec[],
  agent: Identity,
): Promise<GatewayClient[]> {
  const secret = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(await agent.toPkcs8Pem()),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return await Promise.all(clients.map(async (c) => {
    const seed = new Uint8Array(
      await crypto.subtle.sign(
        "HMAC",
        secret,
        new TextEncoder().encode(_CLIENT_KEY_LABEL + c.name),
      ),
    );
    // A source that gives exactly the derived seed, once.
    let drawn = false;
    const random: RandomSource = (n) => {
      if (drawn || n !== seed.length) {
        throw new RangeError(`A client key seed is drawn once, as ${seed.length} bytes`);
      }
      drawn = true;
      return seed.slice();
    };
    const identity = await Identity.generate({ agentId: `a2a-${c.name}`, random });
    seed.fill(0);
    return { ...c, identity };
  }));
}

/**
 * The trust pins that make each client's key a peer at the level its
 * operator fixed (`Agent.create({ trustPins })`).
 *
 * @param clients The clients with their identities.
 * @returns Fingerprint -> level.
 */
export function clientPins(
  clients: readonly GatewayClient[],
): Record<string, PinnedLevel> {
  return Object.fromEntries(clients.map((c) => [c.identity.fingerprint, c.level]));
}

/** Options of {@linkcode A2aGateway}. */
export interface GatewayOptions {
  /** The admitted clients with their identities. */
  clients: readonly GatewayClient[];
  /** The served agent now and where it listens (`serve` restarts it when a person enrols). */
  served: () => { agent: Agent; address: { hostname: string; port: number } };
  /** The `kind:value` topics (or `kind:*`) the operator shares with A2A clients. */
  shared: readonly string[];
  /** The peers' transport (default RTT). */
  transport?: TransportSource | undefined;
  /** The clock of the tasks (their times and expiry; the peers keep the real clock). @default {systemClock} */
  clock?: Clock | undefined;
  /** The random source (task ids). @default {systemRandom} */
  random?: RandomSource | undefined;
  /** Task bounds per client. */
  limits?: Partial<TaskLimits> | undefined;
  /** How long a peer waits for the agent's answer (ms). @default {10000} */
  answerTimeoutMs?: number | undefined;
}

/** The most accepted facts an answer quotes. */
const _ANSWER_FACTS = 5;
/** The most UTF-8 characters of an answer. */
const _ANSWER_CHARS = 4096;

function _dialable(hostname: string): string {
  if (hostname === "0.0.0.0") return "127.0.0.1";
  if (hostname === "::" || hostname === "[::]") return "::1";
  return hostname;
}

/** The A2A side of a served agent: tasks, peers, and the mapping. */
export class A2aGateway implements AsyncDisposable {
  /** The tasks of every client. */
  readonly tasks: TaskTable;
  readonly #options: GatewayOptions;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #peers = new Map<string, Promise<A2aPeer>>();
  readonly #byName: Map<string, GatewayClient>;
  #stopped = false;
  #watched: Agent | undefined;
  readonly #followers = new Map<string, Set<(task: GatewayTask) => void>>();
  #unwatch: (() => void) | undefined;

  /**
   * @param options Clients, the served agent, shared topics, clock, limits.
   */
  constructor(options: GatewayOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#byName = new Map(options.clients.map((c) => [c.name, c]));
    this.tasks = new TaskTable(
      () => this.#clock.now(),
      (task, method) => {
        this.#report(task, method);
        for (const fn of this.#followers.get(task.id) ?? []) fn(task);
      },
      options.limits,
    );
  }

  #report(task: GatewayTask, method: string): void {
    const client = this.#byName.get(task.client);
    const { agent } = this.#options.served();
    if (agent.stopped) return;
    agent.telemetry.emit("a2a.task", {
      task: task.id,
      client: task.client,
      method,
      state: task.state,
      topic: task.topic,
      reason: task.statusText.slice(0, 512),
      ...(task.msgId === undefined ? {} : { msg_id: task.msgId }),
    }, {
      ...(client === undefined ? {} : { peer: client.identity.fingerprint }),
      severity: task.state === "TASK_STATE_REJECTED" ? "warn" : "info",
    });
  }

  #served(): ServedAgent {
    const { agent, address } = this.#options.served();
    return {
      fingerprint: agent.fingerprint,
      hostname: _dialable(address.hostname),
      port: address.port,
    };
  }

  #peer(client: GatewayClient): Promise<A2aPeer> {
    let p = this.#peers.get(client.name);
    if (p === undefined) {
      p = A2aPeer.create({
        identity: client.identity,
        served: () => this.#served(),
        transport: this.#options.transport,
        answerTimeoutMs: this.#options.answerTimeoutMs,
      });
      this.#peers.set(client.name, p);
      p.catch(() => this.#peers.delete(client.name));
    }
    return p;
  }

  /**
   * Follows the served agent's person: when their consent or state arrives
   * (`humanState`), the tasks waiting for consent are checked at once, so a
   * task completes (and is logged) when the person consents, not when it is
   * next read. Re-attached when `serve` restarted the agent.
   */
  #watch(): void {
    const { agent } = this.#options.served();
    if (agent === this.#watched) return;
    this.#unwatch?.();
    this.#watched = agent;
    this.#unwatch = agent.on("humanState", () => {
      for (const task of this.tasks.waiting()) this.#settle(task, "consent");
    });
  }

  /**
   * Runs one JSON-RPC call of a client: the task it made, read or canceled
   * (the server renders it, or streams it).
   *
   * @param call The parsed call.
   * @param client The authenticated client.
   * @returns The task.
   * @throws {A2aRpcError} For the client (invalid params, task not found,
   *   not cancelable, quota, ...).
   */
  async run(call: A2aCall, client: GatewayClient): Promise<GatewayTask> {
    if (this.#stopped) throw new A2aRpcError("INTERNAL_ERROR", "The gateway is stopping");
    this.#watch();
    switch (call.method) {
      case "SendMessage":
      case "SendStreamingMessage":
        return await this.#send(call, client);
      case "GetTask": {
        const task = this.tasks.get(client.name, taskIdOf(call.params), "GetTask");
        this.#recheck(task, "GetTask");
        return task;
      }
      case "CancelTask": {
        const task = this.tasks.get(client.name, taskIdOf(call.params), "CancelTask");
        if (TERMINAL_STATES.has(task.state)) {
          throw new A2aRpcError(
            "TASK_NOT_CANCELABLE",
            `Task ${task.id} is ${task.state}: it cannot be canceled`,
          );
        }
        this.tasks.set(task, "TASK_STATE_CANCELED", "canceled by the client", {
          method: "CancelTask",
        });
        return task;
      }
    }
  }

  /**
   * Follows one task's changes (a stream).
   *
   * @param id The task id.
   * @param fn Called after each change.
   * @returns Its unregister function.
   */
  follow(id: string, fn: (task: GatewayTask) => void): () => void {
    let set = this.#followers.get(id);
    if (set === undefined) this.#followers.set(id, set = new Set());
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.#followers.delete(id);
    };
  }

  async #send(call: A2aCall, client: GatewayClient): Promise<GatewayTask> {
    const message = parseSentMessage(call.params);
    if (message.taskId !== undefined) {
      // A message on an existing task: the task, checked again (nothing new is asked).
      const task = this.tasks.get(client.name, message.taskId, "SendMessage");
      this.#recheck(task, "SendMessage");
      return task;
    }
    let topic: string;
    try {
      topic = actionTopic(message.topic);
    } catch {
      throw new A2aRpcError(
        "INVALID_PARAMS",
        `The topic ${JSON.stringify(message.topic.slice(0, 64))} is not a word or a "kind:value"`,
      );
    }
    this.tasks.reserve(client.name);
    const now = this.#clock.now();
    const task: GatewayTask = {
      id: randomUuid(this.#random),
      contextId: message.contextId ?? randomUuid(this.#random),
      client: client.name,
      topic,
      state: "TASK_STATE_SUBMITTED",
      statusText: "sent to the agent as an intent",
      answer: undefined,
      msgId: undefined,
      createdMs: now,
      updatedMs: now,
    };
    this.tasks.add(task);
    let decision: PeerDecision;
    try {
      decision = await (await this.#peer(client)).ask(topic);
    } catch (err) {
      decision = { kind: "defer", msgId: undefined, reason: `not sent: ${(err as Error).message}` };
    }
    task.msgId = decision.msgId;
    if (decision.kind === "refused") {
      this.tasks.set(
        task,
        "TASK_STATE_REJECTED",
        `refused by the agent: ${decision.code}: ${decision.reason}`,
        { method: "SendMessage" },
      );
    } else if (decision.kind === "defer") {
      this.tasks.set(task, "TASK_STATE_WORKING", `deferred: ${decision.reason}`, {
        method: "SendMessage",
      });
    } else if (!inConsentScope(this.#options.shared, topic)) {
      this.tasks.set(
        task,
        "TASK_STATE_REJECTED",
        `the operator does not share ${topic} with A2A clients`,
        { method: "SendMessage" },
      );
    } else {
      this.#settle(task, "SendMessage");
    }
    return task;
  }

  /** An accepted, shared task: answered if the person's consent covers it, else waiting. */
  #settle(task: GatewayTask, method: string): void {
    const waiting = this.#consentMissing(task.topic);
    if (waiting !== undefined) {
      this.tasks.set(
        task,
        "TASK_STATE_INPUT_REQUIRED",
        `waits for the person's consent: ${waiting}`,
        {
          method,
        },
      );
      return;
    }
    const answer = this.#answer(task.topic);
    this.tasks.set(task, "TASK_STATE_COMPLETED", answer, { answer, method });
  }

  /** Re-checks a task waiting for the person's consent (applied when it is read). */
  #recheck(task: GatewayTask, method: string): void {
    if (task.state === "TASK_STATE_INPUT_REQUIRED") this.#settle(task, method);
  }

  /** Why the person's consent does not cover `topic` now, or `undefined` when it does. */
  #consentMissing(topic: string): string | undefined {
    const { agent } = this.#options.served();
    const person = agent.person;
    if (person === undefined) return "no person is enrolled";
    const record = agent.store.person(person);
    if (record === undefined || record.humanState === undefined) {
      return "the person has not given consent yet";
    }
    if (record.consent === "revoked") return "the person revoked consent";
    if (!inConsentScope(record.consentScope, topic)) {
      return `${topic} is outside the person's consent scope`;
    }
    return undefined;
  }

  /** The answer: the agent's newest accepted facts of the topic's domain, nothing else. */
  #answer(topic: string): string {
    const domain = topic.slice(topic.indexOf(":") + 1);
    const facts = this.#options.served().agent.store.causalFactsIn(domain, _ANSWER_FACTS);
    if (facts.length === 0) return `No accepted knowledge on ${topic} yet.`;
    const lines = facts.map((f) =>
      `- ${f.fact.statement} (confidence ${f.fact.confidence}, accepted ${
        new Date(f.acceptedMs).toISOString()
      })`
    );
    return `Accepted knowledge on ${topic}:\n${lines.join("\n")}`.slice(0, _ANSWER_CHARS);
  }

  /**
   * The client's peer fingerprint (for tests and the operator's lines).
   *
   * @param name The client's name.
   * @returns Its fingerprint, if admitted.
   */
  fingerprintOf(name: string): string | undefined {
    return this.#byName.get(name)?.identity.fingerprint;
  }

  /**
   * A client's peer, once its first message made it (to inspect what the
   * peer knows of the agent, e.g. the agent's presence).
   *
   * @param name The client's name.
   * @returns The peer, or `undefined` before its first message.
   */
  peerOf(name: string): Promise<A2aPeer> | undefined {
    return this.#peers.get(name);
  }

  /** Stops every peer. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#stopped = true;
    this.#unwatch?.();
    const peers = [...this.#peers.values()];
    this.#peers.clear();
    await Promise.allSettled(peers.map(async (p) => await (await p)[Symbol.asyncDispose]()));
  }
}
