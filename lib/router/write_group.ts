/**
 * The router's write groups: state-changing tasks run one at a time, and
 * the tasks queued while one runs join the same store transaction (up to
 * `maxMessages`); none of them settles before the group commits. One
 * commit for many messages is the store's fast path; nothing is answered
 * before it is durable.
 *
 * **The batching delay.** A group whose queue is empty may stay open a
 * little longer, at most `delayMs` (default 2 ms, at most 50), but only
 * while messages the router has already received are still on their way
 * to it (being verified: announced with {@linkcode WriteGroupRunner.expect}).
 * It never waits for messages that have not arrived, so a lone message is
 * committed at once: the delay costs latency only to messages that gain a
 * shared commit by it.
 *
 * @module
 */

import type { Store } from "../store/mod.ts";
import { sleep, systemClock } from "../ports/mod.ts";

/** Messages handled in one store transaction at most (one write group), by default. */
export const GROUP_MAX = 64;

/** The default batching delay, in milliseconds. */
export const GROUP_DELAY_MS = 2;

/** Bounds of the {@linkcode WriteGroupOptions}: `[least, most]`. */
export const WRITE_GROUP_LIMITS: Readonly<{
  maxMessages: readonly [number, number];
  delayMs: readonly [number, number];
}> = Object.freeze({ maxMessages: [1, 1024], delayMs: [0, 50] });

/** Options of the router's write groups (`RouterOptions.writeGroups`). */
export interface WriteGroupOptions {
  /**
   * Most messages handled in one store transaction (1-1024).
   *
   * @default {64}
   */
  maxMessages?: number | undefined;
  /**
   * Longest a group stays open, in milliseconds (0-50), waiting for
   * messages already received and still being verified; 0 commits as soon
   * as the queue is empty.
   *
   * @default {2}
   */
  delayMs?: number | undefined;
  /**
   * The timer the delay is measured with: settles after `ms`, or at once
   * when `signal` aborts (then its timer must be gone).
   *
   * @default {a `setTimeout`}
   */
  wait?: ((ms: number, signal: AbortSignal) => Promise<void>) | undefined;
}

/** What the owner of a {@linkcode WriteGroupRunner} hears of its groups. */
export interface GroupHooks {
  /** A group opened. */
  begin(): void;
  /** The group committed (`true`) or was rolled back (`false`). */
  end(committed: boolean): void;
}

/** A task announced before it is ready (see {@linkcode WriteGroupRunner.expect}). */
export interface WriteTicket {
  /** Queues the announced task (the announcement ends). */
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Withdraws the announcement if the task was not queued; safe to call again. */
  cancel(): void;
}

interface _Queued {
  task: () => Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Why a group's wait was cut short (the reason its timer's signal aborts with). */
const _ENDED = "write group wait ended";

function _setTimeoutWait(ms: number, signal: AbortSignal): Promise<void> {
  // An abort ends the wait early (resolves): the caller checks the signal.
  return sleep(systemClock, ms, signal).catch(() => {});
}

function _bounded(name: keyof typeof WRITE_GROUP_LIMITS, value: number): number {
  const [least, most] = WRITE_GROUP_LIMITS[name];
  if (!(Number.isInteger(value) && value >= least && value <= most)) {
    throw new RangeError(
      `Expected writeGroups.${name} to be an integer in ${least}..${most}, got ${value}`,
    );
  }
  return value;
}

/**
 * Runs state-changing tasks one at a time, in write groups of one store
 * transaction each: a task's promise settles only once its group has
 * committed (or, if the commit fails, rejects with the store's error, for
 * every task of the group).
 */
export class WriteGroupRunner {
  #queue: _Queued[] = [];
  #draining = false;
  #store: Pick<Store, "beginGroup" | "endGroup">;
  #now: () => number;
  #hooks: GroupHooks;
  #max: number;
  #delayMs: number;
  #wait: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Tasks announced and not yet queued (nor withdrawn). */
  #expected = 0;
  /** Wakes a group waiting for an announced task. */
  #wake: (() => void) | null = null;

  /**
   * Creates a runner.
   *
   * @param store Where the groups commit.
   * @param now The clock (each group's `nowMs`, and its delay).
   * @param hooks Told when a group opens and ends.
   * @param options Group size, batching delay and its timer.
   * @throws {RangeError} If `maxMessages` or `delayMs` is out of its bounds.
   */
  constructor(
    store: Pick<Store, "beginGroup" | "endGroup">,
    now: () => number,
    hooks: GroupHooks,
    options: WriteGroupOptions = {},
  ) {
    this.#store = store;
    this.#now = now;
    this.#hooks = hooks;
    this.#max = _bounded("maxMessages", options.maxMessages ?? GROUP_MAX);
    this.#delayMs = _bounded("delayMs", options.delayMs ?? GROUP_DELAY_MS);
    this.#wait = options.wait ?? _setTimeoutWait;
  }

  /**
   * Announces a task that will be queued soon (a message being verified),
   * so that an open group may wait for it, within the batching delay.
   *
   * @returns The ticket: `run` the task with it, or `cancel` it.
   */
  expect(): WriteTicket {
    this.#expected++;
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      this.#expected--;
      this.#wake?.();
    };
    return {
      run: (task) => {
        close();
        return this.run(task);
      },
      cancel: close,
    };
  }

  /**
   * Queues a task; it runs inside the current or the next write group.
   *
   * @param task The task (its store commits join the group's transaction).
   * @returns The task's value, once its group has committed.
   */
  run<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ task, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#draining) void this.#drain();
      else this.#wake?.();
    });
  }

  /** Waits, at most `ms`, for a task to be queued or withdrawn; `false` when the time ran out. */
  async #arrival(ms: number): Promise<boolean> {
    const timer = new AbortController();
    let arrived = false;
    try {
      await new Promise<void>((resolve) => {
        this.#wake = () => {
          arrived = true;
          resolve();
        };
        this.#wait(ms, timer.signal).then(() => resolve(), () => resolve());
      });
    } finally {
      this.#wake = null;
      // A reason of our own: without one, each abort builds a DOMException.
      timer.abort(_ENDED);
    }
    return arrived;
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0) {
        const opened = this.#now();
        try {
          this.#store.beginGroup({ nowMs: opened });
        } catch (err) {
          for (const item of this.#queue.splice(0)) item.reject(err);
          return;
        }
        this.#hooks.begin();
        const done: { item: _Queued; ok: boolean; value: unknown }[] = [];
        while (done.length < this.#max) {
          const item = this.#queue.shift();
          if (item === undefined) {
            // The batching delay: only for messages already on their way.
            const left = this.#delayMs - (this.#now() - opened);
            if (this.#expected === 0 || !(left > 0) || !(await this.#arrival(left))) break;
            continue;
          }
          try {
            done.push({ item, ok: true, value: await item.task() });
          } catch (err) {
            done.push({ item, ok: false, value: err });
          }
        }
        let failure: unknown;
        try {
          this.#store.endGroup();
        } catch (err) {
          failure = err ?? new Error("Store commit failed");
        }
        this.#hooks.end(failure === undefined);
        for (const { item, ok, value } of done) {
          if (failure !== undefined) item.reject(failure);
          else if (ok) item.resolve(value);
          else item.reject(value);
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}
