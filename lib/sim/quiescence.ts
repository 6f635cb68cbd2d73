/**
 * Determinism: the two things that can complete outside the simulator's
 * control are WebCrypto operations (they run on other threads) and the
 * microtasks they and the timers start. {@linkcode CryptoSerialiser} hands
 * WebCrypto results back one at a time, in request order, so completion
 * order is request order; {@linkcode Quiescence} detects the moment nothing is
 * runnable: no crypto in flight and the microtask queue drained (one turn of
 * the event loop: an immediate, which runs only once it is empty; Deno
 * resolves many async ops and `MessagePort` messages eagerly, as microtasks,
 * so they prove nothing). The scheduler moves
 * virtual time only then.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** The WebCrypto methods the stack calls (identity, envelope, the native library's digest). */
const _METHODS = ["sign", "verify", "digest", "importKey", "exportKey"] as const;

interface _Job {
  /** Settles the caller's promise, once the operation finished. */
  result: (() => void) | undefined;
  done: PromiseWithResolvers<unknown>;
}

/**
 * Serialises `crypto.subtle`'s completions while installed: each call
 * starts at once, and results are handed back one at a time, in request
 * order, each at a quiet moment (an immediate). Signatures stay real
 * Ed25519; only the order is fixed.
 *
 * @example
 * ```ts
 * import { CryptoSerialiser } from "@web4/runtime/sim";
 * import assert from "node:assert/strict";
 *
 * using serial = CryptoSerialiser.install();
 * const order: number[] = [];
 * const data = new Uint8Array(8);
 * await Promise.all([1, 2, 3].map((i) =>
 *   crypto.subtle.digest("SHA-256", data).then(() => order.push(i))
 * ));
 * assert.deepEqual(order, [1, 2, 3]);
 * assert.equal(serial.operations, 3);
 * ```
 */
export class CryptoSerialiser implements Disposable {
  readonly #queue: _Job[] = [];
  #busy = false;
  #delivering = false;
  #idle: PromiseWithResolvers<void> | undefined;
  #ops = 0;
  #completed = 0;
  readonly #restore: (() => void)[] = [];

  private constructor() {}

  /**
   * Wraps `crypto.subtle`'s methods until disposed.
   *
   * @returns The serialiser.
   */
  static install(): CryptoSerialiser {
    const s = new CryptoSerialiser();
    const subtle = crypto.subtle;
    for (const name of _METHODS) {
      const original: unknown = subtle[name];
      if (typeof original !== "function") continue;
      Object.defineProperty(subtle, name, {
        configurable: true,
        writable: true,
        value: (...args: unknown[]) => s.#enqueue(() => Reflect.apply(original, subtle, args)),
      });
      s.#restore.push(() => Reflect.deleteProperty(subtle, name));
    }
    return s;
  }

  /** Whether an operation is queued or running. */
  get busy(): boolean {
    return this.#busy;
  }

  /** Operations run so far. */
  get operations(): number {
    return this.#ops;
  }

  /** Operations completed so far (settled). */
  get completed(): number {
    return this.#completed;
  }

  /**
   * Resolves once nothing is queued or running.
   *
   * @returns A promise.
   */
  idle(): Promise<void> {
    if (!this.#busy) return Promise.resolve();
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }

  #enqueue(run: () => unknown): Promise<unknown> {
    const done = Promise.withResolvers<unknown>();
    // The operation starts at once (the crypto threads work while this one does), but its
    // result is handed back in request order, each at a quiet moment: what the stack sees is
    // the same as if the operations ran one after the other.
    this.#ops++;
    let p: Promise<unknown>;
    try {
      p = Promise.resolve(run());
    } catch (err) {
      p = Promise.reject(err);
    }
    const job: _Job = { result: undefined, done };
    p.then(
      (v) => this.#ready(job, () => done.resolve(v)),
      (err) => this.#ready(job, () => done.reject(err)),
    );
    this.#queue.push(job);
    this.#busy = true;
    return done.promise;
  }

  /** A job's operation finished: hand back every finished one at the head, in order. */
  #ready(job: _Job, settle: () => void): void {
    job.result = settle;
    this.#deliverHead();
  }

  #deliverHead(): void {
    if (this.#delivering) return;
    const head = this.#queue[0];
    if (head?.result === undefined) return;
    this.#delivering = true;
    // The result is handed back only at a quiet moment: an immediate runs once the microtask
    // queue is empty, whether the operation finished on another thread later or eagerly, in
    // the middle of other work (Deno polls async ops once when they start).
    setImmediate(() => {
      this.#queue.shift();
      this.#completed++;
      this.#delivering = false;
      head.result!();
      if (this.#queue.length === 0) {
        this.#busy = false;
        const idle = this.#idle;
        this.#idle = undefined;
        idle?.resolve();
      } else this.#deliverHead();
    });
  }

  /** Puts the original methods back. */
  [Symbol.dispose](): void {
    for (const r of this.#restore.splice(0)) r();
  }
}

/**
 * Detects quiescence: {@linkcode Quiescence.settle} resolves once no crypto
 * operation is queued or running and one full turn of the event loop passed
 * (a macrotask runs only when the microtask queue is empty). The turn is a
 * `setImmediate` (node:timers): a macrotask that moves no time, virtual or
 * real (a `setTimeout(0)` is clamped to milliseconds and is a real timer).
 *
 * @example
 * ```ts
 * import { CryptoSerialiser, Quiescence } from "@web4/runtime/sim";
 * import assert from "node:assert/strict";
 *
 * using serial = CryptoSerialiser.install();
 * using q = new Quiescence(serial);
 * let done = false;
 * void crypto.subtle.digest("SHA-256", new Uint8Array(1)).then(() => Promise.resolve()).then(() => done = true);
 * await q.settle();
 * assert.ok(done);
 * ```
 */
export class Quiescence implements Disposable {
  readonly #crypto: CryptoSerialiser;
  #turns = 0;

  /**
   * Creates it.
   *
   * @param serialiser The crypto serialiser whose work counts as in flight.
   */
  constructor(serialiser: CryptoSerialiser) {
    this.#crypto = serialiser;
  }

  /** Event-loop turns taken so far. */
  get turns(): number {
    return this.#turns;
  }

  /**
   * Resolves when nothing is runnable.
   *
   * @returns A promise.
   */
  async settle(): Promise<void> {
    for (;;) {
      const before = this.#crypto.completed;
      await this.#turn();
      if (this.#crypto.busy) {
        await this.#crypto.idle();
        continue;
      }
      // An operation that completed in the same batch of the event loop as
      // the turn's message may still have continuations queued behind it:
      // only a turn during which nothing completed proves quiescence.
      if (this.#crypto.completed === before) return;
    }
  }

  #turn(): Promise<void> {
    this.#turns++;
    return new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Nothing to release (kept so a run can `using` it). */
  [Symbol.dispose](): void {}
}
