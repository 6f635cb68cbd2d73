/**
 * Internal: what an `RttNode`'s observers see ({@linkcode RttNodeObserver},
 * `RttNode.onEvent`): every session's lifecycle, drops, replays and rekeys,
 * and refused inbound handshakes, each observer called through the node's
 * hook dispatcher (one at a time; a throwing observer cannot break
 * dispatch). Not exported from `mod.ts` (the two types are).
 *
 * @module
 */

import { RTTReplayError } from "../transport/errors.ts";
import type { HookDispatcher } from "../transport/hooks.ts";
import type { TransportEvent, TransportObserver } from "../transport/types.ts";
import type { SessionNotice } from "./session.ts";

/** An event seen by {@linkcode RttNode.onEvent}: the transport contract's {@linkcode TransportEvent}. */
export type RttNodeEvent = TransportEvent;

/** Observer of {@linkcode RttNode.onEvent}. */
export type RttNodeObserver = TransportObserver;

/** The observers of one node. */
export class NodeObservers {
  #observers = new Set<RttNodeObserver>();
  #dispatcher: HookDispatcher;

  /** @param dispatcher Runs every user callback one at a time. */
  constructor(dispatcher: HookDispatcher) {
    this.#dispatcher = dispatcher;
  }

  /**
   * Adds an observer.
   *
   * @param fn The observer.
   * @returns Unregisters it.
   * @throws {TypeError} When `fn` is not a function.
   */
  add(fn: RttNodeObserver): () => void {
    if (typeof fn !== "function") {
      throw new TypeError(`An event observer must be a function, got ${typeof fn}`);
    }
    this.#observers.add(fn);
    return () => {
      this.#observers.delete(fn);
    };
  }

  /**
   * Shows an event to every observer (one removed meanwhile is skipped).
   *
   * @param event The event.
   */
  observe(event: RttNodeEvent): void {
    this.#dispatcher.run(() => {
      for (const fn of [...this.#observers]) {
        this.#dispatcher.run(() => {
          if (this.#observers.has(fn)) fn(event);
        });
      }
    });
  }
}

/**
 * What a session's notice shows the node's observers: its lifecycle event,
 * or a drop, a replay (with its {@linkcode RTTReplayError}) or a rekey;
 * nothing for the other native events.
 *
 * @param notice What the session reported.
 * @returns The event, or `undefined`.
 */
export function noticeEvent(notice: SessionNotice): RttNodeEvent | undefined {
  if (notice.kind === "lifecycle") return notice.event;
  const { event, session } = notice;
  const base = { sessionId: session.id, peerFingerprint: session.peerFingerprint };
  switch (event.type) {
    case "drop":
      return {
        type: "drop",
        ...base,
        channel: event.channel,
        cause: event.cause,
        count: event.count,
      };
    case "replay":
      return {
        type: "replay",
        ...base,
        channel: event.channel,
        sequence: event.sequence,
        count: event.count,
        error: new RTTReplayError(
          `${event.count} replayed frame(s) (last sequence ${event.sequence}) on channel "${event.channel}" of the session with peer ${session.peerFingerprint} dropped`,
          { peer: session.peerFingerprint, channel: event.channel, sequence: event.sequence },
        ),
      };
    case "rekey":
      return { type: "rekey", ...base, rekeys: event.rekeys };
  }
  return undefined;
}
