/**
 * Internal: operations waiting for their completion event from the native
 * core (a connect, a flush), keyed `connect:<conn>` or `flush:<op>`, each
 * belonging to a session so a session's end rejects its own. Not exported
 * from `mod.ts`.
 *
 * @module
 */

import type { NativeEvent } from "./events.ts";

/** An operation waiting for its completion event. */
export interface PendingOp {
  /** The session it belongs to (0n for connects). */
  session: bigint;
  /** Completes it with its event. */
  resolve(event: NativeEvent): void;
  /** Fails it. */
  reject(error: Error): void;
}

/** The operations of one node waiting for their completion events. */
export class PendingOps {
  #ops = new Map<string, PendingOp>();
  #hold: () => () => void;

  /**
   * @param hold Keeps the process alive while an operation waits; returns its release.
   */
  constructor(hold: () => () => void) {
    this.#hold = hold;
  }

  /**
   * Waits for the completion event of an operation.
   *
   * @param key `connect:<conn>` or `flush:<op>`.
   * @param session The session it belongs to (0n for connects).
   * @returns The completion event.
   */
  wait(key: string, session: bigint): Promise<NativeEvent> {
    let release: () => void = () => {};
    const promise = new Promise<NativeEvent>((resolve, reject) => {
      this.#ops.set(key, {
        session,
        resolve: (r) => {
          release();
          resolve(r);
        },
        reject: (e) => {
          release();
          reject(e);
        },
      });
    });
    release = this.#hold();
    return promise;
  }

  /**
   * Removes and returns the operation waiting under `key`, if any.
   *
   * @param key The operation key.
   * @returns Its callbacks.
   */
  take(key: string): PendingOp | undefined {
    const op = this.#ops.get(key);
    if (op !== undefined) this.#ops.delete(key);
    return op;
  }

  /**
   * Rejects every operation of `session` (or of every session, for `undefined`).
   *
   * @param session The session handle, or `undefined` for all.
   * @param error Makes the error for each.
   */
  fail(session: bigint | undefined, error: () => Error): void {
    for (const [key, op] of [...this.#ops]) {
      if (session !== undefined && op.session !== session) continue;
      this.#ops.delete(key);
      op.reject(error());
    }
  }
}
