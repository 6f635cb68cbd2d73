/**
 * The person's side of HCP: an {@linkcode HcpClient} holds a person's key
 * and speaks HCP to its agent over the same transport the agents use. The
 * agent must enroll the client's fingerprint as its person
 * (`Agent.create({ person })`).
 *
 * The person decides, not the client (docs/protocols.md §8): the client has no
 * consent of its own. It learns what the agent holds when it connects (the
 * agent tells its person its {@linkcode ConsentRecord}), sends that state with
 * every message, and changes consent only when told to
 * ({@linkcode HcpClient.hello}, {@linkcode HcpClient.updateState},
 * {@linkcode HcpClient.revokeConsent}). Connecting changes nothing.
 *
 * @module
 */

import {
  type Consent,
  createEnvelope,
  encodeEnvelope,
  type Envelope,
  type HcpType,
  type HumanState,
  type PayloadOf,
  ReplayGuard,
  verifyEnvelope,
} from "../envelope/mod.ts";
import { NEUTRAL_HUMAN_STATE } from "../hcp/human_state.ts";
import { type ConsentRecord, readConsentRecord } from "../hcp/record.ts";
import type { Identity } from "../identity/mod.ts";
import { createTelemetry, type EventSink, type StampingTelemetry } from "../observability/mod.ts";
import { channelOf } from "../router/mod.ts";
import { rtt } from "../rtt/mod.ts";
import {
  resolveTransport,
  type Transport,
  type TransportAddress,
  type TransportSource,
} from "../transport/mod.ts";
import { AgentError } from "./errors.ts";
import { type ChannelKind, SessionLink } from "./link.ts";
import {
  type Clock,
  type RandomSource,
  randomUuid,
  systemClock,
  systemRandom,
} from "../ports/mod.ts";

/** Options of {@linkcode HcpClient.create}. */
export interface HcpClientOptions {
  /** The person's identity (its fingerprint is what the agent enrolls). */
  identity: Identity;
  /** The person's name and role, sent in `HCP_HELLO`. */
  name: string;
  /** The person's role. @default {"owner"} */
  role?: string | undefined;
  /**
   * The transport: a factory (`rtt(options)`, `memory({ network })`), which
   * the client calls with the person's identity and shuts down on
   * {@linkcode HcpClient.close}; or a `Transport` instance for that
   * identity, which stays yours to shut down after the client closed.
   * @default {rtt()}
   */
  transport?: TransportSource | undefined;
  /** Event sinks (the person's events: `person.sent`, `person.received`). */
  sinks?: readonly EventSink[] | undefined;
  /** The client's clock (envelope times, waits, the transport). @default {systemClock} */
  clock?: Clock | undefined;
  /** The client's random source (msg_ids, the transport). @default {systemRandom} */
  random?: RandomSource | undefined;
}

/** Options of {@linkcode HcpClient.connect}. */
export interface HcpConnectOptions extends TransportAddress {
  /** The agent's fingerprint. */
  fingerprint: string;
  /** The agent's `agent_id`. @default {"agent"} */
  agentId?: string | undefined;
  /**
   * How long to wait for the agent to tell its record.
   * @default {10000}
   */
  timeoutMs?: number | undefined;
  /** Aborts the wait. */
  signal?: AbortSignal | undefined;
}

/**
 * What {@linkcode HcpClient.hello} says: the person's explicit choice. What
 * is not given is taken from the agent's record, never from a default.
 */
export interface HcpHelloOptions {
  /** The consent; required while the agent holds none. @default {the record's} */
  consent?: Consent | undefined;
  /** Consent scope entries (`topic:work`, `topic:*`). @default {the record's} */
  consentScope?: readonly string[] | undefined;
  /** Safety flags (`slow_pacing`, `avoid_conflict`). @default {the record's} */
  safetyFlags?: readonly string[] | undefined;
  /** The rest of the vector (affect, pressure, clarity, presence, intent). @default {the record's} */
  human?: Partial<Omit<HumanState, "consent">> | undefined;
}

/** How many unanswered consent changes the client remembers, to put back a refused one. */
const _PENDING_CHANGES = 32;

/** The goals of an `HCP_INTENT`. */
export type HcpGoal = "align" | "request" | "clarify" | "decide" | "resolve_conflict";

/**
 * A person talking to their agent over HCP. It sends the agent's current
 * human state with every message (the record the agent told it on
 * {@linkcode HcpClient.connect}, and what the person changed since); consent
 * changes only by {@linkcode HcpClient.hello}, {@linkcode HcpClient.updateState}
 * and {@linkcode HcpClient.revokeConsent}.
 *
 * @example
 * ```ts ignore
 * await using me = await HcpClient.create({ identity: personId, name: "Ada" });
 * const record = await me.connect({ hostname: "127.0.0.1", port, fingerprint: agent.fingerprint });
 * if (record.human === null) await me.hello({ consent: "limited", consentScope: ["topic:water"] });
 * await me.intent({ goal: "request", topic: "topic:water", priority: "high" });
 * await me.revokeConsent();
 * const refusal = await me.next((e) => e.type === "HCP_ERROR");
 * ```
 */
export class HcpClient implements AsyncDisposable {
  /** The person's identity. */
  readonly identity: Identity;
  /** The person's telemetry. */
  readonly telemetry: StampingTelemetry;
  /** The transport. */
  readonly transport: Transport;
  /** Every verified envelope the agent sent, in order. */
  readonly received: Envelope[] = [];
  readonly #options: HcpClientOptions;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #ownsTransport: boolean;
  readonly #guard = new ReplayGuard();
  readonly #taken = new Set<string>();
  readonly #waiters = new Set<
    { match: (e: Envelope) => boolean; resolve: (e: Envelope) => void }
  >();
  /** The record before each consent message still unanswered, by msg_id (restored on refusal). */
  readonly #before = new Map<string, ConsentRecord>();
  #record: ConsentRecord | undefined;
  #link: SessionLink | undefined;
  #agent: { agent_id: string; fingerprint: string } | undefined;
  #closed: Promise<void> | undefined;

  private constructor(options: HcpClientOptions, transport: Transport, ownsTransport: boolean) {
    this.identity = options.identity;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.transport = transport;
    this.#ownsTransport = ownsTransport;
    this.telemetry = createTelemetry({
      node: options.identity.agentId,
      sinks: options.sinks ?? [],
      now: () => this.#clock.now(),
      newId: () => randomUuid(this.#random),
    });
  }

  /**
   * Creates the client and (from a factory) its transport endpoint.
   *
   * @param options Identity, name, role, transport, sinks.
   * @returns The client (not yet connected).
   * @throws {TypeError} For a missing identity, an empty name, or a transport that is neither a `Transport` nor a factory.
   * @throws {RangeError} For a transport that does not authenticate as the identity.
   */
  static async create(options: HcpClientOptions): Promise<HcpClient> {
    if (options?.identity === undefined) throw new TypeError("HcpClient needs an identity");
    if (typeof options.name !== "string" || options.name.trim() === "") {
      throw new TypeError(
        `HcpClient name must be a non-empty string, got ${JSON.stringify(options.name)}`,
      );
    }
    const { transport, owned } = await resolveTransport(options.transport ?? rtt(), {
      identity: options.identity,
      clock: options.clock,
      random: options.random,
    });
    return new HcpClient(options, transport, owned);
  }

  /** The person's fingerprint (what the agent enrolls). */
  get fingerprint(): string {
    return this.identity.fingerprint;
  }

  /**
   * What the agent holds of the person, as this client knows it: told by
   * the agent on connect, then moved by what the person changed (and put
   * back when the agent refused the change). `undefined` before connect.
   */
  get record(): ConsentRecord | undefined {
    return this.#record;
  }

  /** The human-state vector the client sends: the agent's record (`null` when it holds none). */
  get human(): HumanState | null {
    const h = this.#record?.human;
    return h === undefined || h === null ? null : { ...h };
  }

  /**
   * Connects to the agent and waits until the agent told the person what it
   * holds (its {@linkcode ConsentRecord}). Sends nothing: connecting never
   * changes consent.
   *
   * @param options The agent's address, fingerprint and agent id; the wait's bound.
   * @returns The agent's record of the person.
   * @throws {AgentError} `TIMEOUT` when the agent did not tell its record in time.
   */
  async connect(options: HcpConnectOptions): Promise<ConsentRecord> {
    const session = await this.transport.connect({
      hostname: options.hostname,
      port: options.port,
      fingerprint: options.fingerprint,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    this.#agent = { agent_id: options.agentId ?? "agent", fingerprint: options.fingerprint };
    this.#record = undefined;
    const opening = new AbortController();
    const signal = options.signal === undefined
      ? opening.signal
      : AbortSignal.any([options.signal, opening.signal]);
    const told = this.#wait(
      (e) => e.type === "HCP_CONTEXT" && readConsentRecord(e.payload) !== null,
      options.timeoutMs ?? 10_000,
      signal,
    );
    told.catch(() => {}); // awaited below, once the link is open
    try {
      this.#link = await SessionLink.open(
        session,
        this.fingerprint,
        {
          message: (bytes) => void this.#receive(bytes),
          ended: () => {},
        },
        this.telemetry,
        this.#clock,
      );
    } catch (err) {
      opening.abort(err);
      throw err;
    }
    await told;
    return this.#record!;
  }

  /**
   * Introduces the person (`HCP_HELLO`): identity, consent, scope and
   * safety flags, by the person's explicit choice. What is not given is the
   * agent's record; while the agent holds no consent, `consent` is required.
   *
   * @param options Consent, scope, flags, the rest of the vector.
   * @returns The msg_id.
   * @throws {TypeError} When no consent is given and the agent holds none.
   * @throws {AgentError} `NOT_CONNECTED`.
   */
  async hello(options: HcpHelloOptions = {}): Promise<string> {
    const record = this.#connected();
    const consent = options.consent ?? record.human?.consent;
    if (consent === undefined) {
      throw new TypeError(
        "The agent holds no consent of this person yet: hello() needs an explicit consent",
      );
    }
    const human = { ...(record.human ?? NEUTRAL_HUMAN_STATE), ...options.human, consent };
    const scope = [...(options.consentScope ?? record.consentScope)];
    const flags = [...(options.safetyFlags ?? record.safetyFlags)];
    return await this.#change("HCP_HELLO", {
      identity: { name: this.#options.name, role: this.#options.role ?? "owner" },
      consent_scope: scope,
      safety_flags: flags,
    }, { human, consentScope: scope, safetyFlags: flags });
  }

  /**
   * Tells the agent what the person wants (`HCP_INTENT`), with the agent's
   * current human state.
   *
   * @param intent Goal, topic (`topic:water` or a bare topic), priority.
   * @returns The msg_id.
   * @throws {AgentError} `NOT_CONNECTED`; `REFUSED` while the agent holds no consent.
   */
  intent(
    intent: { goal: HcpGoal; topic: string; priority?: "low" | "normal" | "high" },
  ): Promise<string> {
    return this.#send("HCP_INTENT", {
      goal: intent.goal,
      topic: intent.topic,
      priority: intent.priority ?? "normal",
    });
  }

  /**
   * Updates the human-state vector (`HCP_STATE_UPDATE`): pressure, clarity,
   * affect, presence, consent. The rest stays as the agent holds it; while
   * the agent holds no consent, `change.consent` is required.
   *
   * @param change The fields to change.
   * @returns The msg_id.
   * @throws {TypeError} When no consent is given and the agent holds none.
   * @throws {AgentError} `NOT_CONNECTED`.
   */
  async updateState(change: Partial<Omit<HumanState, "intent">>): Promise<string> {
    const record = this.#connected();
    if (record.human === null && change.consent === undefined) {
      throw new TypeError(
        "The agent holds no consent of this person yet: updateState() needs an explicit consent",
      );
    }
    const h: HumanState = { ...(record.human ?? NEUTRAL_HUMAN_STATE), ...change } as HumanState;
    return await this.#change("HCP_STATE_UPDATE", {
      presence: h.presence,
      affect: h.affect,
      clarity: h.clarity,
      pressure: h.pressure,
      consent: h.consent,
    }, { ...record, human: h });
  }

  /**
   * Revokes consent: from now on the agent does nothing automated for the person.
   *
   * @returns The msg_id.
   * @throws {AgentError} `NOT_CONNECTED`.
   */
  revokeConsent(): Promise<string> {
    return this.updateState({ consent: "revoked" });
  }

  /**
   * Sends feedback (also the answer to a check-in question).
   *
   * @param feedback Text, corrections, satisfaction 0..100.
   * @returns The msg_id.
   * @throws {AgentError} `NOT_CONNECTED`; `REFUSED` while the agent holds no consent.
   */
  feedback(
    feedback: { feedback: string; corrections?: string[]; satisfaction: number },
  ): Promise<string> {
    return this.#send("HCP_FEEDBACK", { corrections: [], ...feedback });
  }

  /**
   * Resolves with the next envelope from the agent that matches (including
   * one that already arrived and was not taken).
   *
   * @param match The condition.
   * @returns The envelope.
   */
  next(match: (e: Envelope) => boolean): Promise<Envelope> {
    const ready = this.received.find((e) => !this.#taken.has(e.msg_id) && match(e));
    if (ready !== undefined) {
      this.#taken.add(ready.msg_id);
      return Promise.resolve(ready);
    }
    return new Promise((resolve) => this.#waiters.add({ match, resolve }));
  }

  /** The agent's record, once connected and told. */
  #connected(): ConsentRecord {
    const record = this.#record;
    if (this.#link === undefined || !this.#link.open || record === undefined) {
      throw new AgentError("NOT_CONNECTED", "The person is not connected to an agent");
    }
    return record;
  }

  /** Sends a consent message and takes its state as the record (put back if refused). */
  async #change<T extends "HCP_HELLO" | "HCP_STATE_UPDATE">(
    type: T,
    payload: PayloadOf<"hcp", T>,
    next: ConsentRecord,
  ): Promise<string> {
    const before = this.#connected();
    return await this.#sign(type, payload, next.human!, (id) => {
      this.#before.set(id, before);
      // Only the latest changes can still be refused in flight.
      for (const old of this.#before.keys()) {
        if (this.#before.size <= _PENDING_CHANGES) break;
        this.#before.delete(old);
      }
      this.#record = next;
    });
  }

  /** Sends a message that may not change consent, with the agent's record. */
  async #send<T extends Exclude<HcpType, "HCP_HELLO" | "HCP_STATE_UPDATE">>(
    type: T,
    payload: PayloadOf<"hcp", T>,
  ): Promise<string> {
    const human = this.#connected().human;
    if (human === null) {
      throw new AgentError(
        "REFUSED",
        `The agent holds no consent of this person yet: ${type} not sent (hello({ consent }) first)`,
      );
    }
    return await this.#sign(type, payload, human);
  }

  async #sign<T extends HcpType>(
    type: T,
    payload: PayloadOf<"hcp", T>,
    human: HumanState,
    sending?: (msgId: string) => void,
  ): Promise<string> {
    const link = this.#link;
    const agent = this.#agent;
    if (link === undefined || agent === undefined || !link.open) {
      throw new AgentError("NOT_CONNECTED", "The person is not connected to an agent");
    }
    const envelope = await createEnvelope("hcp", type, {
      identity: this.identity,
      receiver: agent,
      payload,
      state: { human: { ...human } },
      clock: () => new Date(this.#clock.now()),
      random: this.#random,
    });
    sending?.(envelope.msg_id);
    await link.send(channelOf("hcp", type) as ChannelKind, encodeEnvelope(envelope), { ack: true });
    this.telemetry.emit("person.sent", { type, msg_id: envelope.msg_id }, {
      peer: agent.fingerprint,
    });
    return envelope.msg_id;
  }

  /** What the agent's envelope says of its record: its told record, or a refused change. */
  #learn(envelope: Envelope): void {
    if (envelope.type === "HCP_CONTEXT") {
      const told = readConsentRecord(envelope.payload);
      if (told !== null) this.#record = told;
      return;
    }
    if (envelope.type !== "HCP_ERROR") return;
    const before = this.#before.get(envelope.payload.in_reply_to);
    if (before !== undefined) {
      this.#record = before; // the change was refused: the agent still holds what it held
    } else if (envelope.payload.code === "consent_mismatch" && this.#record?.human != null) {
      // Someone else (the person elsewhere) changed it: the refusal echoes the record.
      const human = (envelope.state as { human?: HumanState }).human;
      if (human !== undefined) this.#record = { ...this.#record, human: { ...human } };
    }
  }

  /** Waits for an envelope from the agent (one already received and not taken counts). */
  #wait(
    match: (e: Envelope) => boolean,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Envelope> {
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (e: Envelope) => {
          this.#clock.clear(timer);
          signal?.removeEventListener("abort", abort);
          resolve(e);
        },
      };
      const fail = (err: unknown) => {
        this.#waiters.delete(waiter);
        this.#clock.clear(timer);
        signal?.removeEventListener("abort", abort);
        reject(err);
      };
      const abort = () => fail(signal?.reason ?? new AgentError("TIMEOUT", "Aborted"));
      const timer = this.#clock.setTimeout(
        () =>
          fail(
            new AgentError("TIMEOUT", `The agent did not tell its record within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      signal?.addEventListener("abort", abort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  async #receive(bytes: Uint8Array): Promise<void> {
    const agent = this.#agent!;
    let envelope: Envelope;
    try {
      envelope = await verifyEnvelope(bytes, {
        expectedSender: agent.fingerprint,
        expectedReceiver: this.fingerprint,
        replayGuard: this.#guard,
        now: () => new Date(this.#clock.now()),
      });
    } catch (err) {
      this.telemetry.emit("person.refused", {
        reason: err instanceof Error ? err.message : String(err),
      }, {
        severity: "warn",
        peer: agent.fingerprint,
      });
      return;
    }
    if (envelope.sender.agent_id !== agent.agent_id) {
      this.#agent = { ...agent, agent_id: envelope.sender.agent_id };
    }
    this.#learn(envelope);
    this.received.push(envelope);
    this.telemetry.emit("person.received", {
      type: envelope.type,
      msg_id: envelope.msg_id,
      code: envelope.type === "HCP_ERROR" ? envelope.payload.code : null,
    }, { peer: agent.fingerprint, ...(envelope.type === "HCP_ERROR" ? { severity: "warn" } : {}) });
    for (const w of [...this.#waiters]) {
      if (w.match(envelope)) {
        this.#waiters.delete(w);
        this.#taken.add(envelope.msg_id);
        w.resolve(envelope);
        return;
      }
    }
  }

  /**
   * Closes the session, and the transport when the client made it (from a
   * factory). Safe to call twice.
   *
   * @returns Once released.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#link?.close(200);
      if (this.#ownsTransport) await this.transport.shutdown({ deadlineMs: 200 }).catch(() => {});
    })();
    return this.#closed;
  }

  /** Same as {@linkcode HcpClient.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
