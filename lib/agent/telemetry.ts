/**
 * Telemetry as one subscriber of the agent's typed events: it renders them
 * as the v1.0 event contract (`agent.*`, and `rtt.*` for the transport's
 * events) with their counters. Nothing in the agent or the mesh reads
 * these events back to decide anything.
 *
 * @module
 */

import type { StampingTelemetry } from "../observability/mod.ts";
import type { TransportEvent } from "../transport/mod.ts";
import type { AgentEmitter, AgentEventName } from "./events.ts";

/**
 * Subscribes telemetry to an agent's events.
 *
 * @param events The agent's emitter.
 * @param telemetry Where the v1.0 events go.
 * @param options The agent's fingerprint (`dialer: self|peer`), the clock (replay coalescing).
 *
 * @example
 * ```ts
 * import { AgentEmitter } from "./events.ts";
 * import { renderTelemetry } from "./telemetry.ts";
 * import { createTelemetry, MemorySink } from "../observability/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const sink = new MemorySink();
 * const events = new AgentEmitter(() => {});
 * renderTelemetry(events, createTelemetry({ node: "a", sinks: [sink] }), { self: "aa", now: Date.now });
 * events.emit("listening", { hostname: "127.0.0.1", port: 4001 });
 * assert.deepEqual(sink.events("agent.listening")[0]?.data, { hostname: "127.0.0.1", port: 4001 });
 * ```
 */
export function renderTelemetry(
  events: AgentEmitter,
  telemetry: StampingTelemetry,
  options: { self: string; now: () => number },
): void {
  const t = telemetry;
  events.on("started", (e) =>
    t.emit("agent.started", {
      agent_id: e.agentId,
      mission: e.mission,
      transport: e.transport,
      person: e.person ?? null,
    }));
  events.on("listening", (e) => t.emit("agent.listening", { hostname: e.hostname, port: e.port }));
  events.on("stopping", (e) => t.emit("agent.stopping", { sessions: e.sessions }));
  events.on("peerUp", (e) => {
    if (e.via !== "new") return; // a resumed session is rtt.session_open; a duplicate, session_duplicate
    t.emit("agent.peer_connected", {
      dialer: e.dialer === options.self ? "self" : "peer",
      person: e.person,
    }, { peer: e.peer, session: e.session });
  });
  events.on("peerDown", (e) => {
    if (!e.final) return; // a lost connection is rtt.connection_lost
    t.emit("agent.peer_disconnected", { reason: e.reason }, { peer: e.peer, session: e.session });
  });
  events.on(
    "sessionDuplicate",
    (e) =>
      t.emit("agent.session_duplicate", { kept: e.kept, closed: e.closed, reason: "duplicate" }, {
        peer: e.peer,
        session: e.closed,
      }),
  );
  const transport = new _TransportRenderer(t, options.now);
  events.on("transport", (e) => transport.event(e));
  events.on("intent", (i) =>
    t.emit("agent.intent", {
      source: i.source,
      goal: i.goal,
      topic: i.topic,
      priority: i.priority,
      decision: i.decision ?? null,
    }, { peer: i.from }));
  events.on("intentPropagated", (e) =>
    t.emit("agent.intent_propagated", {
      hcp_msg_id: e.hcpMsgId,
      topic: e.topic,
      sent: e.sent,
      deferred: e.deferred,
    }));
  events.on("missionDrift", (e) =>
    t.emit("agent.mission_drift", {
      score: e.score,
      samples: e.samples,
      mission: e.mission,
      last_topic: e.lastTopic,
    }, { severity: "warn" }));
  events.on(
    "presence",
    (e) => t.emit("agent.presence", { presence: e.presence, lri: e.lri, previous: e.previous }),
  );
  events.on(
    "sendHeld",
    (e) => t.emit("agent.send_held", { code: e.code, reason: e.reason }, { peer: e.peer }),
  );
  events.on(
    "undeliverable",
    (e) =>
      t.emit("agent.undeliverable", { count: e.count, types: e.types }, {
        severity: "warn",
        peer: e.peer,
      }),
  );
  events.on(
    "evidenceVerified",
    (e) =>
      t.emit("agent.verify_evidence", { claim: e.claim, verified: e.verified, reason: e.reason }, {
        // A fetch that failed is a warning; different content is an answer.
        severity: e.verified || e.reason === "different_content" ? "info" : "warn",
      }),
  );
  events.on("error", (e) =>
    t.emit("agent.error", { where: e.where, error: e.error }, {
      severity: "error",
      ...(e.peer === undefined ? {} : { peer: e.peer }),
    }));
}

/**
 * Reports a listener that threw (`agent.hook_error`).
 *
 * @param telemetry Where it goes.
 * @param name The event whose listener threw.
 * @param error What it threw.
 */
export function reportListenerError(
  telemetry: StampingTelemetry,
  name: AgentEventName,
  error: unknown,
): void {
  telemetry.emit("agent.hook_error", {
    hook: name,
    error: error instanceof Error ? error.message : String(error),
  }, { severity: "error" });
}

/** Transport events as `rtt.*`; replays coalesced to one event per session and channel per second. */
class _TransportRenderer {
  readonly #t: StampingTelemetry;
  readonly #now: () => number;
  readonly #replays = new Map<string, { count: number; lastMs: number }>();

  constructor(telemetry: StampingTelemetry, now: () => number) {
    this.#t = telemetry;
    this.#now = now;
  }

  event(e: TransportEvent): void {
    const t = this.#t;
    const session = "sessionId" in e ? e.sessionId : undefined;
    const peer = e.peerFingerprint;
    const opts = {
      ...(peer === undefined ? {} : { peer }),
      ...(session === undefined ? {} : { session }),
    };
    const warn = { ...opts, severity: "warn" as const };
    switch (e.type) {
      case "session_open":
        t.emit("rtt.session_open", {
          resumed: e.resumed ?? false,
          reconnects: e.reconnects ?? 0,
        }, opts);
        if (e.resumed === true) t.counter("web4_transport_reconnects_total", 1, {});
        return;
      case "session_close":
        t.emit("rtt.session_close", { reason: e.reason ?? "manual" }, opts);
        return;
      case "heartbeat_timeout":
        t.emit("rtt.heartbeat_timeout", {}, warn);
        return;
      case "connection_lost":
        t.emit("rtt.connection_lost", { reason: e.reason ?? "lost" }, warn);
        return;
      case "drop":
        t.emit("rtt.backpressure", { channel: e.channel, cause: e.cause, count: e.count }, warn);
        t.counter("web4_transport_dropped_messages_total", e.count, {});
        return;
      case "replay": {
        const key = `${e.sessionId}/${e.channel}`;
        const nowMs = this.#now();
        const r = this.#replays.get(key) ?? { count: 0, lastMs: -Infinity };
        r.count += 1;
        t.counter("web4_transport_replays_total", 1, {});
        if (nowMs - r.lastMs >= 1000) {
          t.emit("rtt.replay", { channel: e.channel, count: r.count }, warn);
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
        t.emit("rtt.verification_failure", { code: e.code, message: e.message }, warn);
        return;
    }
  }
}
