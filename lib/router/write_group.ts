/**
 * The router's write groups: state-changing tasks run one at a time, and
 * the tasks queued while one runs join the same store transaction (up to
 * {@linkcode GROUP_MAX}); none of them settles before the group commits.
 * One commit for many messages is the store's fast path; nothing is
 * answered before it is durable.
 *
 * @module
 */

import type { Store } from "../store/mod.ts";

/** Messages handled in one store transaction at most (one write group). */
export const GROUP_MAX = 64;

/** What the owner of a {@linkcode WriteGroupRunner} hears of its groups. */
export interface GroupHooks {
  /** A group opened. */
  begin(): void;
  /** The group committed (`true`) or was rolled back (`false`). */
  end(committed: boolean): void;
}

interface _Queued {
  task: () => Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
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
  #store: Store;
  #now: () => number;
  #hooks: GroupHooks;

  /**
   * Creates a runner.
   *
   * @param store Where the groups commit.
   * @param now The clock (each group's `nowMs`).
   * @param hooks Told when a group opens and ends.
   */
  constructor(store: Store, now: () => number, hooks: GroupHooks) {
    this.#store = store;
    this.#now = now;
    this.#hooks = hooks;
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
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0) {
        try {
          this.#store.beginGroup({ nowMs: this.#now() });
        } catch (err) {
          for (const item of this.#queue.splice(0)) item.reject(err);
          return;
        }
        this.#hooks.begin();
        const done: { item: _Queued; ok: boolean; value: unknown }[] = [];
        while (this.#queue.length > 0 && done.length < GROUP_MAX) {
          const item = this.#queue.shift()!;
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
