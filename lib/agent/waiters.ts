/**
 * Waiting on an agent, for tests, demos and scripts that follow a
 * conversation: the next typed event that matches, a condition re-checked
 * after every cycle, or (to observe telemetry itself) the next v1.0 event
 * of a kind. Every wait ends when the agent stops.
 *
 * @module
 */

import type { Web4Event } from "../observability/mod.ts";
import { AgentError } from "./errors.ts";
import type { AgentEmitter, AgentEventName, AgentEvents } from "./events.ts";
import type { Clock } from "../ports/mod.ts";

/**
 * The agent's waiters.
 *
 * @example
 * ```ts ignore
 * const waiters = new Waiters(abort.signal, events);
 * const answer = waiters.next("intentAnswered", (a) => a.inReplyTo === msgId, 10_000);
 * const done = waiters.until(() => store.claim(id)?.status === "accepted", 10_000);
 * waiters.wake(); // after each cycle
 * ```
 */
export class Waiters {
  readonly #clock: Clock;
  readonly #stopped: AbortSignal;
  readonly #events: AgentEmitter;
  readonly #checks = new Set<{ check: () => boolean; resolve: () => void }>();
  readonly #telemetry = new Set<
    { match: (e: Web4Event) => boolean; resolve: (e: Web4Event) => void }
  >();

  /**
   * Creates the waiters.
   *
   * @param stopped Aborted when the agent stops: every wait then rejects with `STOPPED`.
   * @param events The agent's typed events.
   * @param clock The timers of the time bounds.
   */
  constructor(stopped: AbortSignal, events: AgentEmitter, clock: Clock) {
    this.#clock = clock;
    this.#stopped = stopped;
    this.#events = events;
  }

  /**
   * Waits for the next typed event of a name that matches.
   *
   * @param name The event.
   * @param match Further condition on it.
   * @param timeoutMs How long at most.
   * @param signal Aborts the wait.
   * @returns The event.
   * @throws {AgentError} `TIMEOUT`, or `STOPPED` when the agent stops or the signal aborts first.
   */
  next<K extends AgentEventName>(
    name: K,
    match: (event: AgentEvents[K]) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<AgentEvents[K]> {
    return new Promise((resolve, reject) => {
      const done = (err: Error | undefined, event?: AgentEvents[K]) => {
        off();
        this.#clock.clear(timer);
        this.#stopped.removeEventListener("abort", onAbort);
        signal?.removeEventListener("abort", onAbort);
        if (err === undefined) resolve(event!);
        else reject(err);
      };
      const off = this.#events.on(name, (event) => {
        if (match(event)) done(undefined, event);
      });
      const onAbort = () => done(new AgentError("STOPPED", `Stopped while waiting for ${name}`));
      const timer = this.#clock.setTimeout(
        () => done(new AgentError("TIMEOUT", `No ${name} event within ${timeoutMs} ms`)),
        timeoutMs,
      );
      if (this.#stopped.aborted || signal?.aborted === true) return onAbort();
      this.#stopped.addEventListener("abort", onAbort, { once: true });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Waits until a condition holds; it is checked now and at every {@linkcode Waiters.wake}.
   *
   * @param check The condition.
   * @param timeoutMs How long at most.
   * @param signal Aborts the wait.
   * @throws {AgentError} `TIMEOUT` or `STOPPED`.
   */
  until(check: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        this.#clock.clear(timer);
        this.#checks.delete(w);
        this.#stopped.removeEventListener("abort", onAbort);
        signal?.removeEventListener("abort", onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      const w = { check, resolve: () => done() };
      const onAbort = () => done(new AgentError("STOPPED", "Stopped while waiting"));
      const timer = this.#clock.setTimeout(
        () => done(new AgentError("TIMEOUT", `Condition not met within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#checks.add(w);
      this.#stopped.addEventListener("abort", onAbort, { once: true });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Re-checks every waiting condition. */
  wake(): void {
    for (const w of [...this.#checks]) if (w.check()) w.resolve();
  }

  /**
   * Waits for the next telemetry event of a kind that matches.
   *
   * @param kind The event kind.
   * @param match Further condition on the event.
   * @param signal Aborts the wait.
   * @returns The event.
   * @throws {AgentError} `STOPPED` when the agent stops or the signal aborts first.
   */
  nextEvent(
    kind: string,
    match: (e: Web4Event) => boolean,
    signal?: AbortSignal,
  ): Promise<Web4Event> {
    return new Promise((resolve, reject) => {
      const stop = () => {
        this.#telemetry.delete(w);
        reject(new AgentError("STOPPED", `Stopped while waiting for ${kind}`));
      };
      const w = {
        match: (e: Web4Event) => e.kind === kind && match(e),
        resolve: (e: Web4Event) => {
          this.#stopped.removeEventListener("abort", stop);
          signal?.removeEventListener("abort", stop);
          resolve(e);
        },
      };
      this.#telemetry.add(w);
      this.#stopped.addEventListener("abort", stop, { once: true });
      signal?.addEventListener("abort", stop, { once: true });
    });
  }

  /**
   * Hands one telemetry event to the waiting `nextEvent` calls.
   *
   * @param e The event.
   */
  observe(e: Web4Event): void {
    for (const w of [...this.#telemetry]) {
      if (w.match(e)) {
        this.#telemetry.delete(w);
        w.resolve(e);
      }
    }
  }
}
