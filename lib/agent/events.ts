/**
 * The agent's typed events: what the agent decided and saw, as data. Events
 * come from the router's committed effects, the transport's session events
 * and the agent's own rooms; never from telemetry. Telemetry is one
 * subscriber among others (`telemetry.ts` renders the v1.0 events).
 *
 * Listeners run synchronously, one event at a time and never re-entrantly
 * (an event emitted by a listener runs after the current one), on the
 * transport's `HookDispatcher`; a listener that throws is reported as
 * `agent.hook_error` and cannot break the agent or the other listeners.
 *
 * @module
 */

import type { HumanState } from "../envelope/mod.ts";
import type { DispatchResult } from "../router/mod.ts";
import type { EffectOf } from "../runtime/mod.ts";
import type { ByteLevel } from "../store/mod.ts";
import { HookDispatcher } from "../transport/hooks.ts";
import type { TransportAddress, TransportEvent } from "../transport/mod.ts";
import type { AgentIntent } from "./intents.ts";
import type { ChannelKind } from "./link.ts";

/** One cognitive cycle: one inbound message. */
export interface CycleInfo {
  /** The cycle number, from 1. */
  cycle: number;
  /** The authenticated peer the message came from. */
  peer: string;
  /** The channel it arrived on. */
  channel: ChannelKind;
}

/** Every event of an agent, by name, with its payload. */
export interface AgentEvents {
  /** The agent started. */
  started: { agentId: string; mission: string; transport: string; person: string | undefined };
  /** The agent listens at this address. */
  listening: TransportAddress;
  /** The agent is stopping (sessions still open). */
  stopping: { sessions: number };
  /**
   * A connection carries the peer: a session adopted as the peer's (`new`,
   * or one that replaced a `duplicate`), or its session `resumed` on a new
   * connection.
   */
  peerUp: {
    peer: string;
    session: string;
    dialer: string;
    person: boolean;
    via: "new" | "duplicate" | "resumed";
  };
  /**
   * No connection carries the peer: the connection was lost (`final: false`,
   * the session may resume) or the peer's session ended (`final: true`).
   */
  peerDown: { peer: string; session: string; reason: string; final: boolean };
  /** Two sessions with one peer: `kept` survives the tie-break, `closed` closes. */
  sessionDuplicate: { peer: string; kept: string; closed: string };
  /** Anything the transport reports (sessions, drops, replays, rekeys, refused handshakes). */
  transport: TransportEvent;
  /** A CIP handshake with the peer verified (either side). */
  handshakeVerified: EffectOf<"handshakeVerified">;
  /** A claim of the CIP ledger or the LIP queue changed status (committed). */
  claimChanged: EffectOf<"claimChanged">;
  /** A trust machine moved (committed; peers and the person). */
  trustChanged: EffectOf<"trustChanged">;
  /** A peer answered one of our messages with a protocol error. */
  errorReceived: EffectOf<"errorReceived">;
  /** An intent reached the loop: a peer's CIP `INTENT`, or the person's consented `HCP_INTENT`. */
  intent: AgentIntent;
  /** A peer answered one of our intents. */
  intentAnswered: { peer: string; inReplyTo: string; decision: "accept" | "defer" | undefined };
  /** The person's consented intent went to the relevant peers as a CIP `INTENT`. */
  intentPropagated: { hcpMsgId: string; topic: string; sent: string[]; deferred: string[] };
  /** The person's human-state vector arrived with an accepted HCP envelope. */
  humanState: { person: string; human: HumanState };
  /** The agent's intents drifted from its mission (an edge: entering drift). */
  missionDrift: { score: number; samples: number; mission: string; lastTopic: string };
  /** Peers were told of a change of presence or lri. */
  presence: { presence: string; lri: number; previous: string };
  /** A runtime deferred or refused a message the agent started: nothing was sent. */
  sendHeld: { peer: string; code: string; reason: string };
  /** Signed envelopes had nowhere to go (no session, no relay). */
  undeliverable: { peer: string; count: number; types: string[] };
  /** A peer's LIP evidence was fetched again and compared. */
  evidenceVerified: { claim: string; verified: boolean; reason: string };
  /**
   * A peer's inbound share (or its level's part of the total) is full: its
   * sessions are not read until what it holds is done with, so the
   * transport stops it through credit (an edge: once per pause).
   */
  inboundPaused: { peer: string; level: ByteLevel; share: number; held: number };
  /**
   * A message larger than its peer's inbound share was refused: by the agent
   * (`by: "agent"`, never queued, answered with `quota`), or by the
   * transport (`by: "transport"`: the session closed with
   * `message_too_large`, its size unknown).
   */
  inboundRefused: {
    peer: string;
    session: string;
    by: "agent" | "transport";
    bytes: number | undefined;
    share: number;
  };
  /** Before each cycle. */
  beforeCycle: CycleInfo;
  /** After each cycle, with the dispatch result. */
  afterCycle: CycleInfo & { result: DispatchResult };
  /** Something failed inside the agent (a cycle, a send, a fetch); the agent goes on. */
  error: { where: string; error: string; peer?: string | undefined };
}

/** The name of an agent event. */
export type AgentEventName = keyof AgentEvents;

/** A listener of one agent event. Its return value is ignored. */
export type AgentListener<K extends AgentEventName> = (event: AgentEvents[K]) => void;

/** Listeners by event name (e.g. `AgentOptions.listeners`). */
export type AgentListeners = { [K in AgentEventName]?: AgentListener<K> };

/** Emits one agent event. */
export type Emit = <K extends AgentEventName>(name: K, event: AgentEvents[K]) => void;

/**
 * The agent's typed event emitter.
 *
 * @example
 * ```ts
 * import { AgentEmitter } from "./events.ts";
 * import assert from "node:assert/strict";
 *
 * const failures: string[] = [];
 * const events = new AgentEmitter((name, err) => failures.push(`${name}: ${err}`));
 * const seen: string[] = [];
 * events.on("stopping", () => {
 *   throw new Error("listener bug");
 * });
 * const off = events.on("stopping", (e) => seen.push(`stopping ${e.sessions}`));
 * events.emit("stopping", { sessions: 2 });
 * off();
 * events.emit("stopping", { sessions: 0 });
 * assert.deepEqual(seen, ["stopping 2"]);
 * assert.deepEqual(failures, ["stopping: Error: listener bug", "stopping: Error: listener bug"]);
 * ```
 */
export class AgentEmitter {
  readonly #listeners = new Map<AgentEventName, Set<(event: never) => void>>();
  readonly #dispatcher: HookDispatcher;
  readonly #failed: (name: AgentEventName, error: unknown) => void;

  /**
   * Creates the emitter.
   *
   * @param failed Receives what a listener throws, with the event's name.
   */
  constructor(failed: (name: AgentEventName, error: unknown) => void) {
    this.#failed = failed;
    this.#dispatcher = new HookDispatcher((error) => failed("error", error));
  }

  /**
   * Adds a listener (the same function twice is one registration).
   *
   * @param name The event.
   * @param fn The listener.
   * @returns Its unregister function.
   * @throws {TypeError} When `fn` is not a function.
   */
  on<K extends AgentEventName>(name: K, fn: AgentListener<K>): () => void {
    if (typeof fn !== "function") {
      throw new TypeError(`A ${name} listener must be a function, got ${typeof fn}`);
    }
    let set = this.#listeners.get(name);
    if (set === undefined) this.#listeners.set(name, set = new Set());
    set.add(fn as (event: never) => void);
    return () => set.delete(fn as (event: never) => void);
  }

  /**
   * Whether an event has listeners.
   *
   * @param name The event.
   * @returns Whether any listens.
   */
  has(name: AgentEventName): boolean {
    return (this.#listeners.get(name)?.size ?? 0) > 0;
  }

  /**
   * Calls every listener of an event, in registration order; one that
   * throws is reported and the others still run.
   *
   * @param name The event.
   * @param event Its payload.
   */
  emit<K extends AgentEventName>(name: K, event: AgentEvents[K]): void {
    const set = this.#listeners.get(name);
    if (set === undefined || set.size === 0) return;
    const listeners = [...set] as AgentListener<K>[];
    this.#dispatcher.run(() => {
      for (const fn of listeners) {
        try {
          fn(event);
        } catch (err) {
          this.#failed(name, err);
        }
      }
    });
  }
}
