/**
 * The agent's presence: its load read from a {@linkcode LoadSource}, the
 * one rule {@linkcode presenceOf}, and the `STATE_UPDATE`s that tell
 * verified peers when presence changed or lri moved by `lriStep`.
 *
 * @module
 */

import type { MetricsRegistry } from "../observability/mod.ts";
import { type LocalLoad, replySpec } from "../runtime/mod.ts";
import type { TrustView } from "../trust/mod.ts";
import type { Emit } from "./events.ts";
import { type LoadSource, presenceOf } from "./load.ts";
import type { Outbox } from "./outbox.ts";
import type { Clock, TimerHandle } from "../ports/mod.ts";

/** What {@linkcode PresenceTracker} needs from the agent. */
export interface PresencePorts {
  /** Where the machine's load is read. */
  readonly source: LoadSource;
  /** Inbound messages that count as a full queue. */
  readonly queueCapacity: number;
  /** Least lri change peers are told of. */
  readonly lriStep: number;
  /** How often the load is read; 0 only on {@linkcode PresenceTracker.refresh}. */
  readonly intervalMs: number;
  /** The timer of the load reads. */
  readonly clock: Clock;
  /** Bytes the inbound queue holds now and what all peers together may hold. */
  inboundBytes(): { held: number; capacity: number };
  /** The inbound queue's depth now. */
  queueDepth(): number;
  /** Intents this agent declared that await an answer now. */
  openIntents(): number;
  /** Where presence changes are reported (`presence`). */
  readonly emit: Emit;
  /** Where the lri gauge goes. */
  readonly metrics: MetricsRegistry;
  /** How this agent sees a peer (the `ltppeerstate` it tells). */
  readonly trust: Pick<TrustView, "peer">;
  /** How `STATE_UPDATE`s leave. */
  readonly outbox: Pick<Outbox, "address" | "reply" | "commitAndSend">;
  /** Tracks background sends the agent waits for when it stops. */
  track(work: Promise<unknown>): void;
  /** Whether the agent stopped. */
  stopped(): boolean;
}

/**
 * Reads the load, decides what peers hear, and tells them.
 *
 * @example
 * ```ts ignore
 * const presence = new PresenceTracker(ports);
 * presence.verified(peer); // peer hears our STATE_UPDATEs from now on
 * await presence.refresh(); // reads now; tells peers on a change of presence or lri >= lriStep
 * ```
 */
export class PresenceTracker {
  readonly #ports: PresencePorts;
  readonly #announced = new Set<string>();
  #load: LocalLoad;
  #sent: LocalLoad;
  #timer: TimerHandle | undefined;
  #lagMs = 0;
  #tick = 0;

  /**
   * Creates the tracker, reads the load once and starts the load timer.
   *
   * @param ports What it needs from the agent.
   */
  constructor(ports: PresencePorts) {
    this.#ports = ports;
    this.#load = this.#read();
    this.#sent = this.#load;
    this.#tick = ports.clock.monotonic();
    if (ports.intervalMs > 0) {
      this.#timer = ports.clock.setInterval(() => this.#onTick(), ports.intervalMs);
    }
  }

  /** A load tick: how late it ran (the event loop's lag), then a refresh. */
  #onTick(): void {
    const t = this.#ports.clock.monotonic();
    this.#lagMs = Math.max(0, t - this.#tick - this.#ports.intervalMs);
    this.#tick = t;
    this.refresh();
  }

  /** The agent's current presence and lri. */
  get load(): LocalLoad {
    return this.#load;
  }

  #read(): LocalLoad {
    const { held, capacity } = this.#ports.inboundBytes();
    const own = { inboundBytes: held, inboundCapacity: capacity, lagMs: this.#lagMs };
    return presenceOf(this.#ports.source.read(own), {
      queueDepth: this.#ports.queueDepth(),
      queueCapacity: this.#ports.queueCapacity,
      openIntents: this.#ports.openIntents(),
    });
  }

  /**
   * Reads the load now and, when presence changed or lri moved by at least
   * `lriStep` since peers were last told, sends a `STATE_UPDATE` to every
   * verified peer.
   *
   * @returns The sends' completion.
   */
  async refresh(): Promise<void> {
    if (this.#ports.stopped()) return;
    const next = this.#read();
    const prev = this.#sent;
    this.#load = next; // local decisions always use the latest reading
    this.#ports.metrics.gauge("web4_agent_lri", next.lri, {});
    if (prev.presence === next.presence && Math.abs(prev.lri - next.lri) < this.#ports.lriStep) {
      return;
    }
    this.#sent = next;
    this.#ports.emit("presence", {
      presence: next.presence,
      lri: next.lri,
      previous: prev.presence,
    });
    const all = Promise.all([...this.#announced].map((fp) => this.#tell(fp).catch(() => {})));
    this.#ports.track(all);
    await all;
  }

  /**
   * A verified peer hears our `STATE_UPDATE`s from now on (the first one,
   * handshake step 5, is the CIP runtime's reply at verification).
   *
   * @param fp The peer.
   */
  verified(fp: string): void {
    this.#announced.add(fp);
  }

  /**
   * Whether a peer already hears our `STATE_UPDATE`s.
   *
   * @param fp The peer.
   * @returns Whether it does.
   */
  hears(fp: string): boolean {
    return this.#announced.has(fp);
  }

  /**
   * A peer's session ended: it hears nothing until verified again.
   *
   * @param fp The peer.
   */
  forget(fp: string): void {
    this.#announced.delete(fp);
  }

  async #tell(fp: string): Promise<void> {
    const { outbox, trust } = this.#ports;
    const load = this.#load;
    await outbox.commitAndSend(
      fp,
      outbox.reply(replySpec("cip", "STATE_UPDATE", {
        ...outbox.address(fp),
        payload: { presence: load.presence, lri: load.lri, ltppeerstate: trust.peer(fp) },
        state: { presence: load.presence, lri: load.lri, kernel_signals: [] },
      })),
    );
  }

  /** Stops the load timer. */
  stop(): void {
    if (this.#timer !== undefined) this.#ports.clock.clear(this.#timer);
    this.#timer = undefined;
  }
}
