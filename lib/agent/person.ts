/**
 * The person's side of HCP: an {@linkcode HcpClient} holds a person's key,
 * human-state vector and consent scope, and speaks HCP to its agent over the
 * same transport the agents use. The agent must enroll the client's
 * fingerprint as its person (`Agent.create({ person })`).
 *
 * @module
 */

import {
  createEnvelope,
  encodeEnvelope,
  type Envelope,
  type HcpType,
  type HumanState,
  type PayloadOf,
  ReplayGuard,
  verifyEnvelope,
} from "../envelope/mod.ts";
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

/** Options of {@linkcode HcpClient.create}. */
export interface HcpClientOptions {
  /** The person's identity (its fingerprint is what the agent enrolls). */
  identity: Identity;
  /** The person's name and role, sent in `HCP_HELLO`. */
  name: string;
  /** The person's role. @default {"owner"} */
  role?: string | undefined;
  /** Consent scope entries (`topic:work`, `topic:*`). @default {["topic:*"]} */
  consentScope?: readonly string[] | undefined;
  /** Safety flags (`slow_pacing`, `avoid_conflict`). @default {[]} */
  safetyFlags?: readonly string[] | undefined;
  /** The initial human-state vector. @default {calm, clarity 80, pressure 20, consent granted} */
  human?: Partial<HumanState> | undefined;
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
}

/** The goals of an `HCP_INTENT`. */
export type HcpGoal = "align" | "request" | "clarify" | "decide" | "resolve_conflict";

/**
 * A person talking to their agent over HCP.
 *
 * @example
 * ```ts ignore
 * await using me = await HcpClient.create({ identity: personId, name: "Ada", consentScope: ["topic:water"] });
 * await me.connect({ hostname: "127.0.0.1", port, fingerprint: agent.fingerprint });
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
  readonly #ownsTransport: boolean;
  readonly #guard = new ReplayGuard();
  readonly #taken = new Set<string>();
  readonly #waiters = new Set<
    { match: (e: Envelope) => boolean; resolve: (e: Envelope) => void }
  >();
  #human: HumanState;
  #link: SessionLink | undefined;
  #agent: { agent_id: string; fingerprint: string } | undefined;
  #closed: Promise<void> | undefined;

  private constructor(options: HcpClientOptions, transport: Transport, ownsTransport: boolean) {
    this.identity = options.identity;
    this.#options = options;
    this.transport = transport;
    this.#ownsTransport = ownsTransport;
    this.telemetry = createTelemetry({
      node: options.identity.agentId,
      sinks: options.sinks ?? [],
    });
    this.#human = {
      presence: "focused",
      affect: "calm",
      clarity: 80,
      pressure: 20,
      intent: "work with my agent",
      consent: "granted",
      ...options.human,
    };
  }

  /**
   * Creates the client and (from a factory) its transport endpoint.
   *
   * @param options Identity, name, consent scope, human state, transport.
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
    });
    return new HcpClient(options, transport, owned);
  }

  /** The person's fingerprint (what the agent enrolls). */
  get fingerprint(): string {
    return this.identity.fingerprint;
  }

  /** The current human-state vector. */
  get human(): HumanState {
    return { ...this.#human };
  }

  /**
   * Connects to the agent and introduces the person (`HCP_HELLO` with the
   * consent scope and safety flags).
   *
   * @param options The agent's address, fingerprint and agent id.
   * @returns The HELLO's msg_id.
   */
  async connect(
    options: TransportAddress & { fingerprint: string; agentId?: string },
  ): Promise<string> {
    const session = await this.transport.connect({
      hostname: options.hostname,
      port: options.port,
      fingerprint: options.fingerprint,
    });
    this.#agent = { agent_id: options.agentId ?? "agent", fingerprint: options.fingerprint };
    this.#link = await SessionLink.open(session, this.fingerprint, {
      message: (bytes) => void this.#receive(bytes),
      ended: () => {},
    }, this.telemetry);
    return await this.#send("HCP_HELLO", {
      identity: { name: this.#options.name, role: this.#options.role ?? "owner" },
      consent_scope: [...(this.#options.consentScope ?? ["topic:*"])],
      safety_flags: [...(this.#options.safetyFlags ?? [])],
    });
  }

  /**
   * Tells the agent what the person wants (`HCP_INTENT`).
   *
   * @param intent Goal, topic (`topic:water` or a bare topic), priority.
   * @returns The msg_id.
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
   * affect, presence, consent.
   *
   * @param change The fields to change.
   * @returns The msg_id.
   */
  updateState(change: Partial<Omit<HumanState, "intent">>): Promise<string> {
    this.#human = { ...this.#human, ...change };
    const h = this.#human;
    return this.#send("HCP_STATE_UPDATE", {
      presence: h.presence,
      affect: h.affect,
      clarity: h.clarity,
      pressure: h.pressure,
      consent: h.consent,
    });
  }

  /**
   * Revokes consent: from now on the agent does nothing automated for the person.
   *
   * @returns The msg_id.
   */
  revokeConsent(): Promise<string> {
    return this.updateState({ consent: "revoked" });
  }

  /**
   * Sends feedback (also the answer to a check-in question).
   *
   * @param feedback Text, corrections, satisfaction 0..100.
   * @returns The msg_id.
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

  async #send<T extends HcpType>(type: T, payload: PayloadOf<"hcp", T>): Promise<string> {
    const link = this.#link;
    const agent = this.#agent;
    if (link === undefined || agent === undefined || !link.open) {
      throw new AgentError("NOT_CONNECTED", "The person is not connected to an agent");
    }
    const envelope = await createEnvelope("hcp", type, {
      identity: this.identity,
      receiver: agent,
      payload,
      state: { human: this.#human },
    });
    await link.send(channelOf("hcp", type) as ChannelKind, encodeEnvelope(envelope), { ack: true });
    this.telemetry.emit("person.sent", { type, msg_id: envelope.msg_id }, {
      peer: agent.fingerprint,
    });
    return envelope.msg_id;
  }

  async #receive(bytes: Uint8Array): Promise<void> {
    const agent = this.#agent!;
    let envelope: Envelope;
    try {
      envelope = await verifyEnvelope(bytes, {
        expectedSender: agent.fingerprint,
        expectedReceiver: this.fingerprint,
        replayGuard: this.#guard,
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
