/**
 * The gateway's tasks, per client, bounded in count: at most `maxOpen`
 * tasks not yet terminal (working, input-required) and at most `maxKept`
 * in all (the oldest terminal one makes room). A task not terminal after
 * `ttlMs` expires (`TASK_STATE_FAILED`, "expired"), applied when the table
 * is read, on the clock the gateway is given. A client sees only its own
 * tasks.
 *
 * @module
 */

import { A2aRpcError, type TaskState, TERMINAL_STATES } from "./protocol.ts";

/** A task of one client. */
export interface GatewayTask {
  /** The A2A task id. */
  id: string;
  /** Its conversation. */
  contextId: string;
  /** The client's name. */
  client: string;
  /** The topic asked about (`kind:value`). */
  topic: string;
  /** The state. */
  state: TaskState;
  /** The answer or the reason of the state. */
  statusText: string;
  /** The answer, once completed. */
  answer: string | undefined;
  /** The CIP `INTENT` it became, if sent. */
  msgId: string | undefined;
  /** When it was made (ms). */
  createdMs: number;
  /** When its state last changed (ms). */
  updatedMs: number;
}

/** Bounds of the table. */
export interface TaskLimits {
  /** Tasks not terminal one client may hold. @default {8} */
  maxOpen: number;
  /** Tasks one client may hold in all (terminal ones are evicted oldest first). @default {64} */
  maxKept: number;
  /** How long a task may stay not terminal (ms). @default {3600000} */
  ttlMs: number;
}

/** The default bounds. */
export const DEFAULT_TASK_LIMITS: Readonly<TaskLimits> = Object.freeze({
  maxOpen: 8,
  maxKept: 64,
  ttlMs: 3_600_000,
});

/** A task's state changed: what the gateway reports (`a2a.task`). */
export type TaskChanged = (task: GatewayTask, method: string) => void;

/** The tasks of every client. */
export class TaskTable {
  readonly #limits: TaskLimits;
  readonly #now: () => number;
  readonly #changed: TaskChanged;
  readonly #byClient = new Map<string, Map<string, GatewayTask>>();

  /**
   * @param now The clock (ms since the epoch).
   * @param changed Called on every state change.
   * @param limits Bounds ({@linkcode DEFAULT_TASK_LIMITS}).
   * @throws {RangeError} If a bound is not a positive integer.
   */
  constructor(now: () => number, changed: TaskChanged, limits: Partial<TaskLimits> = {}) {
    this.#limits = { ...DEFAULT_TASK_LIMITS, ...limits };
    for (const [k, v] of Object.entries(this.#limits)) {
      if (!(Number.isSafeInteger(v) && v >= 1)) {
        throw new RangeError(`Expected task limit ${k} to be a positive integer, got ${v}`);
      }
    }
    if (this.#limits.maxKept < this.#limits.maxOpen) {
      throw new RangeError("Expected maxKept to be at least maxOpen");
    }
    this.#now = now;
    this.#changed = changed;
  }

  /** The bounds in force. */
  get limits(): Readonly<TaskLimits> {
    return this.#limits;
  }

  #tasks(client: string): Map<string, GatewayTask> {
    let m = this.#byClient.get(client);
    if (m === undefined) this.#byClient.set(client, m = new Map());
    return m;
  }

  /** Expires a client's overdue tasks (applied whenever the table is read). */
  #expire(client: string, method: string): void {
    const now = this.#now();
    for (const t of this.#tasks(client).values()) {
      if (!TERMINAL_STATES.has(t.state) && now - t.createdMs >= this.#limits.ttlMs) {
        this.set(t, "TASK_STATE_FAILED", `expired: not settled within ${this.#limits.ttlMs} ms`, {
          method,
        });
      }
    }
  }

  /**
   * Makes room for a new task of `client`, or refuses.
   *
   * @param client The client's name.
   * @throws {A2aRpcError} `QUOTA` when the client holds `maxOpen` open tasks.
   */
  reserve(client: string): void {
    this.#expire(client, "SendMessage");
    const tasks = this.#tasks(client);
    const open = [...tasks.values()].filter((t) => !TERMINAL_STATES.has(t.state));
    if (open.length >= this.#limits.maxOpen) {
      throw new A2aRpcError(
        "QUOTA",
        `Client holds ${open.length} open tasks, the most it may (they settle or expire within ${this.#limits.ttlMs} ms)`,
        { open: open.length, maxOpen: this.#limits.maxOpen },
      );
    }
    while (tasks.size >= this.#limits.maxKept) {
      const oldest = [...tasks.values()].filter((t) => TERMINAL_STATES.has(t.state))
        .sort((a, b) => a.updatedMs - b.updatedMs)[0];
      if (oldest === undefined) break;
      tasks.delete(oldest.id);
    }
  }

  /**
   * Adds a task (after {@linkcode TaskTable.reserve}).
   *
   * @param task The task.
   */
  add(task: GatewayTask): void {
    this.#tasks(task.client).set(task.id, task);
    this.#changed(task, "SendMessage");
  }

  /**
   * A client's task.
   *
   * @param client The client's name.
   * @param id The task id.
   * @param method The method reading it (for the expiry's event).
   * @returns The task.
   * @throws {A2aRpcError} `TASK_NOT_FOUND` for another client's or an unknown id.
   */
  get(client: string, id: string, method: string): GatewayTask {
    this.#expire(client, method);
    const task = this.#tasks(client).get(id);
    if (task === undefined) {
      throw new A2aRpcError("TASK_NOT_FOUND", `Task not found: ${id.slice(0, 64)}`);
    }
    return task;
  }

  /**
   * Moves a task (a terminal task never moves).
   *
   * @param task The task.
   * @param state The new state.
   * @param statusText The answer or the reason.
   * @param options The answer, the method that moved it.
   * @returns Whether it moved.
   */
  set(
    task: GatewayTask,
    state: TaskState,
    statusText: string,
    options: { answer?: string; method: string },
  ): boolean {
    if (TERMINAL_STATES.has(task.state)) return false;
    if (task.state === state && task.statusText === statusText) return false;
    task.state = state;
    task.statusText = statusText;
    task.answer = options.answer;
    task.updatedMs = this.#now();
    this.#changed(task, options.method);
    return true;
  }

  /**
   * Every task waiting for the person's consent (`TASK_STATE_INPUT_REQUIRED`), of every client.
   *
   * @returns The tasks.
   */
  waiting(): GatewayTask[] {
    return [...this.#byClient.values()].flatMap((m) =>
      [...m.values()].filter((t) => t.state === "TASK_STATE_INPUT_REQUIRED")
    );
  }

  /**
   * How many tasks a client holds (open ones and in all).
   *
   * @param client The client's name.
   * @returns The counts.
   */
  count(client: string): { open: number; kept: number } {
    const tasks = [...this.#tasks(client).values()];
    return {
      open: tasks.filter((t) => !TERMINAL_STATES.has(t.state)).length,
      kept: tasks.length,
    };
  }
}
