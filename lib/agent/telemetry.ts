/**
 * The agent's telemetry renderer: what the transport reports, as v1.0
 * events (`rtt.*`) and counters.
 *
 * @module
 */

import type { StampingTelemetry } from "../observability/mod.ts";
import type { TransportEvent } from "../transport/mod.ts";

/**
 * Renders transport events as `rtt.*` events; replays are coalesced to one
 * event per session and channel per second, with the count.
 *
 * @example
 * ```ts ignore
 * const render = new TransportRenderer(telemetry, Date.now);
 * transport.onEvent((e) => render.event(e));
 * ```
 */
export class TransportRenderer {
  readonly #telemetry: StampingTelemetry;
  readonly #now: () => number;
  readonly #replays = new Map<string, { count: number; lastMs: number }>();

  /**
   * Creates the renderer.
   *
   * @param telemetry Where events go.
   * @param now The clock in ms (replay coalescing).
   */
  constructor(telemetry: StampingTelemetry, now: () => number) {
    this.#telemetry = telemetry;
    this.#now = now;
  }

  /**
   * Renders one transport event.
   *
   * @param e The event.
   */
  event(e: TransportEvent): void {
    const t = this.#telemetry;
    const session = "sessionId" in e ? e.sessionId : undefined;
    const peer = e.peerFingerprint;
    const opts = {
      ...(peer === undefined ? {} : { peer }),
      ...(session === undefined ? {} : { session }),
    };
    switch (e.type) {
      case "session_open":
        t.emit(
          "rtt.session_open",
          { resumed: e.resumed ?? false, reconnects: e.reconnects ?? 0 },
          opts,
        );
        if (e.resumed === true) t.counter("rtt_reconnects_total", 1, {});
        return;
      case "session_close":
        t.emit("rtt.session_close", { reason: e.reason ?? "manual" }, opts);
        return;
      case "heartbeat_timeout":
        t.emit("rtt.heartbeat_timeout", {}, { ...opts, severity: "warn" });
        return;
      case "connection_lost":
        t.emit("rtt.connection_lost", { reason: e.reason ?? "lost" }, {
          ...opts,
          severity: "warn",
        });
        return;
      case "drop":
        t.emit("rtt.backpressure", { channel: e.channel, cause: e.cause, count: e.count }, {
          ...opts,
          severity: "warn",
        });
        t.counter("rtt_dropped_total", e.count, { channel: e.channel });
        return;
      case "replay": {
        const key = `${e.sessionId}/${e.channel}`;
        const nowMs = this.#now();
        const r = this.#replays.get(key) ?? { count: 0, lastMs: -Infinity };
        r.count += 1;
        t.counter("rtt_replays_total", 1, { channel: e.channel });
        if (nowMs - r.lastMs >= 1000) {
          t.emit("rtt.replay", { channel: e.channel, count: r.count }, {
            ...opts,
            severity: "warn",
          });
          r.count = 0;
          r.lastMs = nowMs;
        }
        this.#replays.set(key, r);
        return;
      }
      case "rekey":
        t.emit("rtt.rekey", { rekeys: e.rekeys }, opts);
        return;
      case "verification_failure":
        t.emit("rtt.verification_failure", { code: e.code, message: e.message }, {
          ...opts,
          severity: "warn",
        });
        return;
    }
  }
}
