/**
 * Lifecycle hooks: registration, and a dispatcher that runs every user
 * callback of a node one at a time, in event order, never re-entrantly.
 *
 * A callback that causes another lifecycle event (or registers an open-hook
 * on an open session) from inside a callback gets that call queued behind
 * the current one instead of recursing. A callback that throws is reported
 * to the error handler; it cannot stop the other callbacks or the transport,
 * since the session's state has already changed when its callbacks run.
 *
 * @module
 */

/** The lifecycle events of a session. */
export type SessionEventType =
  | "session_open"
  | "session_close"
  | "heartbeat_timeout"
  | "connection_lost";

/** What a lifecycle hook receives. */
export interface SessionHookEvent {
  /** The session's id. */
  sessionId: string;
  /** Why the session closed or the connection was lost. */
  reason?: string;
  /** For `session_open`: whether this open resumed the session on a new connection. */
  resumed?: boolean;
  /** Reconnects of this session so far. */
  reconnects?: number;
  /**
   * For `session_close`: the detail, e.g. the peer's refusal
   * (`PROTOCOL_ERROR\n...` from its CLOSE) or the limit we enforced.
   */
  message?: string;
}

/** A lifecycle hook. Its return value is ignored. */
export type SessionHook = (event: SessionHookEvent) => void;

/**
 * Runs callbacks one at a time, in the order they were queued. Shared by a
 * node and all its sessions, so the order across sessions is the native
 * event order.
 */
export class HookDispatcher {
  #queue: (() => void)[] = [];
  #running = false;
  #onError: (error: unknown) => void;

  /**
   * Creates a dispatcher.
   *
   * @param onError Receives whatever a callback throws.
   */
  constructor(onError: (error: unknown) => void) {
    this.#onError = onError;
  }

  /**
   * Runs `fn` now when no callback is running, otherwise after the running
   * one and everything queued before it.
   *
   * @param fn The callback.
   */
  run(fn: () => void): void {
    this.#queue.push(fn);
    if (this.#running) return;
    this.#running = true;
    try {
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
        try {
          next();
        } catch (error) {
          try {
            this.#onError(error);
          } catch {
            // An error handler that throws must not break dispatch either.
          }
        }
      }
    } finally {
      this.#running = false;
    }
  }
}

/**
 * The hooks of one session, by event type. Registration is a set per type
 * (registering the same function twice keeps one registration).
 */
export class SessionHooks {
  #hooks = new Map<SessionEventType, Set<SessionHook>>();
  #dispatcher: HookDispatcher;
  #openEvent: () => SessionHookEvent | undefined;

  /**
   * Creates the registry.
   *
   * @param dispatcher The node's dispatcher.
   * @param openEvent Returns the event an open-hook registered now gets at
   * once, or `undefined` when the session is not open.
   */
  constructor(dispatcher: HookDispatcher, openEvent: () => SessionHookEvent | undefined) {
    this.#dispatcher = dispatcher;
    this.#openEvent = openEvent;
  }

  /**
   * Registers `fn` for `type`. An open-hook registered on an open session is
   * called at once (queued behind the running callback, if any).
   *
   * @param type The event type.
   * @param fn The hook.
   * @returns A function that unregisters it (safe to call twice).
   * @throws {TypeError} When `fn` is not a function.
   */
  on(type: SessionEventType, fn: SessionHook): () => void {
    if (typeof fn !== "function") {
      throw new TypeError(`A ${type} hook must be a function, got ${typeof fn}`);
    }
    let set = this.#hooks.get(type);
    if (set === undefined) this.#hooks.set(type, set = new Set());
    set.add(fn);
    if (type === "session_open") {
      const event = this.#openEvent();
      if (event !== undefined) {
        this.#dispatcher.run(() => {
          if (this.#hooks.get(type)?.has(fn)) fn({ ...event });
        });
      }
    }
    return () => this.off(type, fn);
  }

  /**
   * Unregisters `fn` for `type`; a hook not yet called for a queued event
   * is not called for it.
   *
   * @param type The event type.
   * @param fn The hook.
   */
  off(type: SessionEventType, fn: SessionHook): void {
    this.#hooks.get(type)?.delete(fn);
  }

  /** Unregisters every hook. */
  clear(): void {
    this.#hooks.clear();
  }

  /**
   * Number of hooks registered for `type`.
   *
   * @param type The event type.
   * @returns The count.
   */
  count(type: SessionEventType): number {
    return this.#hooks.get(type)?.size ?? 0;
  }

  /**
   * Delivers an event to the hooks registered for its type when its turn
   * comes. Each hook gets its own copy of the event.
   *
   * @param type The event type.
   * @param event The event.
   */
  emit(type: SessionEventType, event: SessionHookEvent): void {
    this.#dispatcher.run(() => {
      const set = this.#hooks.get(type);
      if (set === undefined) return;
      for (const fn of [...set]) {
        // Each hook is its own task, so one that throws does not skip the
        // others; one unregistered meanwhile is not called.
        this.#dispatcher.run(() => {
          if (set.has(fn)) fn({ ...event });
        });
      }
    });
  }
}
