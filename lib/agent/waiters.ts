/**
 * Waiting on an agent, for tests, demos and scripts that follow a
 * conversation: a condition re-checked after every cycle, or the next
 * telemetry event that matches. Every wait ends when the agent stops.
 *
 * @module
 */

import type { Web4Event } from "../observability/mod.ts";
import { AgentError } from "./errors.ts";

/**
 * The agent's waiters.
 *
 * @example
 * ```ts ignore
 * const waiters = new Waiters(abort.signal);
 * const done = waiters.until(() => store.claim(id)?.status === "accepted", 10_000);
 * waiters.wake(); // after each cycle
 * ```
 */
export class Waiters {
  readonly #stopped: AbortSignal;
  readonly #checks = new Set<{ check: () => boolean; resolve: () => void }>();
  readonly #events = new Set<
    { match: (e: Web4Event) => boolean; resolve: (e: Web4Event) => void }
  >();

  /**
   * Creates the waiters.
   *
   * @param stopped Aborted when the agent stops: every wait then rejects with `STOPPED`.
   */
  constructor(stopped: AbortSignal) {
    this.#stopped = stopped;
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
        clearTimeout(timer);
        this.#checks.delete(w);
        this.#stopped.removeEventListener("abort", onAbort);
        signal?.removeEventListener("abort", onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      const w = { check, resolve: () => done() };
      const onAbort = () => done(new AgentError("STOPPED", "Stopped while waiting"));
      const timer = setTimeout(
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
      const w = { match: (e: Web4Event) => e.kind === kind && match(e), resolve };
      this.#events.add(w);
      const stop = () => {
        this.#events.delete(w);
        reject(new AgentError("STOPPED", `Stopped while waiting for ${kind}`));
      };
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
    for (const w of [...this.#events]) {
      if (w.match(e)) {
        this.#events.delete(w);
        w.resolve(e);
      }
    }
  }
}
