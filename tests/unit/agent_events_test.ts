/**
 * The agent's typed events: the emitter (order, no re-entrance, a throwing
 * listener contained) and telemetry as one subscriber that renders them as
 * the v1.0 event contract.
 */
import assert from "node:assert/strict";
import { AgentEmitter, type AgentEventName } from "../../lib/agent/events.ts";
import { renderTelemetry } from "../../lib/agent/telemetry.ts";
import { checkEvents, createTelemetry, MemorySink } from "../../lib/observability/mod.ts";

Deno.test("AgentEmitter calls listeners in registration order, once per function, until unregistered", () => {
  const events = new AgentEmitter(() => {});
  const log: string[] = [];
  const first = (e: { sessions: number }) => log.push(`first ${e.sessions}`);
  events.on("stopping", first);
  events.on("stopping", first); // the same function twice: one registration
  const off = events.on("stopping", (e) => log.push(`second ${e.sessions}`));
  events.emit("stopping", { sessions: 1 });
  off();
  events.emit("stopping", { sessions: 2 });
  events.emit("listening", { hostname: "h", port: 1 }); // no listener: nothing happens
  assert.deepEqual(log, ["first 1", "second 1", "first 2"]);
});

Deno.test("AgentEmitter: an event emitted by a listener runs after every listener of the current one (never re-entrant)", () => {
  const events = new AgentEmitter(() => {});
  const log: string[] = [];
  events.on("stopping", () => {
    log.push("stopping: first");
    events.emit("listening", { hostname: "h", port: 1 });
    log.push("stopping: first returns");
  });
  events.on("stopping", () => log.push("stopping: second"));
  events.on("listening", () => log.push("listening"));
  events.emit("stopping", { sessions: 0 });
  assert.deepEqual(log, [
    "stopping: first",
    "stopping: first returns",
    "stopping: second",
    "listening",
  ]);
});

Deno.test("AgentEmitter: a throwing listener is reported with its event's name and the others still run", () => {
  const failures: [AgentEventName, string][] = [];
  const events = new AgentEmitter((name, err) => failures.push([name, (err as Error).message]));
  const log: string[] = [];
  events.on("listening", () => {
    throw new Error("bug");
  });
  events.on("listening", (e) => log.push(`${e.hostname}:${e.port}`));
  events.emit("listening", { hostname: "h", port: 7 });
  events.emit("listening", { hostname: "h", port: 8 });
  assert.deepEqual(log, ["h:7", "h:8"]);
  assert.deepEqual(failures, [["listening", "bug"], ["listening", "bug"]]);
  assert.throws(() => events.on("listening", 5 as never), TypeError);
});

Deno.test("Telemetry renders the agent's typed events as v1.0 events: kinds, fields and severities of the contract", () => {
  const sink = new MemorySink({ capacity: 100 });
  const events = new AgentEmitter(() => {});
  const self = "a".repeat(64);
  const peer = "b".repeat(64);
  renderTelemetry(events, createTelemetry({ node: "alpha", sinks: [sink] }), {
    self,
    now: () => 0,
  });
  events.emit("started", {
    agentId: "alpha",
    mission: "m",
    transport: "memory",
    person: undefined,
  });
  events.emit("peerUp", { peer, session: "s1", dialer: self, person: false, via: "new" });
  events.emit("peerUp", { peer, session: "s1", dialer: self, person: false, via: "resumed" });
  events.emit("peerDown", { peer, session: "s1", reason: "lost", final: false });
  events.emit("peerDown", { peer, session: "s1", reason: "closed", final: true });
  events.emit("sessionDuplicate", { peer, kept: "s1", closed: "s2" });
  events.emit("intent", {
    source: "peer",
    from: peer,
    msgId: "m1",
    goal: "ask",
    topic: "water",
    priority: "normal",
    decision: "accept",
  });
  events.emit("missionDrift", { score: 0, samples: 3, mission: "m", lastTopic: "gossip" });
  events.emit("evidenceVerified", { claim: "c", verified: false, reason: "timeout" });
  events.emit("evidenceVerified", { claim: "c", verified: false, reason: "different_content" });
  events.emit("error", { where: "send", error: "boom", peer });
  const got = sink.events().map((e) => [e.kind, e.severity, e.peer ?? null, e.data]);
  assert.deepEqual(got, [
    ["agent.started", "info", null, {
      agent_id: "alpha",
      mission: "m",
      transport: "memory",
      person: null,
    }],
    ["agent.peer_connected", "info", peer, { dialer: "self", person: false }],
    ["agent.peer_disconnected", "info", peer, { reason: "closed" }],
    ["agent.session_duplicate", "info", peer, { kept: "s1", closed: "s2", reason: "duplicate" }],
    ["agent.intent", "info", peer, {
      source: "peer",
      goal: "ask",
      topic: "water",
      priority: "normal",
      decision: "accept",
    }],
    ["agent.mission_drift", "warn", null, {
      score: 0,
      samples: 3,
      mission: "m",
      last_topic: "gossip",
    }],
    ["agent.verify_evidence", "warn", null, { claim: "c", verified: false, reason: "timeout" }],
    ["agent.verify_evidence", "info", null, {
      claim: "c",
      verified: false,
      reason: "different_content",
    }],
    ["agent.error", "error", peer, { where: "send", error: "boom" }],
  ]);
  assert.deepEqual(checkEvents(sink.events()), []);
});
