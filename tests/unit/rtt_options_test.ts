import assert from "node:assert/strict";
import {
  checkChannelKind,
  nodeConfigJson,
  NUMERIC_OPTIONS,
  resolveNodeOptions,
  type RttNodeOptions,
} from "../../lib/rtt/options.ts";
import { RttNode } from "../../lib/rtt/node.ts";

const identity = { fingerprint: "a".repeat(64), toPkcs8Pem: () => Promise.resolve("PEM") };

Deno.test("resolveNodeOptions fills in the documented defaults", () => {
  const r = resolveNodeOptions({ identity });
  assert.deepEqual(
    {
      heartbeatIntervalMs: r.heartbeatIntervalMs,
      heartbeatTimeoutMs: r.heartbeatTimeoutMs,
      resumeWindowMs: r.resumeWindowMs,
      reconnectInitialDelayMs: r.reconnectInitialDelayMs,
      reconnectMaxDelayMs: r.reconnectMaxDelayMs,
      maxQueue: r.maxQueue,
      maxQueueBytes: r.maxQueueBytes,
      backpressurePolicy: r.backpressurePolicy,
      blockTimeoutMs: r.blockTimeoutMs,
      maxMessageBytes: r.maxMessageBytes,
      maxChannels: r.maxChannels,
      maxSessions: r.maxSessions,
      maxPendingHandshakes: r.maxPendingHandshakes,
      handshakeTimeoutMs: r.handshakeTimeoutMs,
      rekeyAfterBytes: r.rekeyAfterBytes,
      rekeyAfterMs: r.rekeyAfterMs,
      allowPeers: r.allowPeers,
    },
    {
      heartbeatIntervalMs: 1000,
      heartbeatTimeoutMs: 5000,
      resumeWindowMs: 30000,
      reconnectInitialDelayMs: 20,
      reconnectMaxDelayMs: 2000,
      maxQueue: 1024,
      maxQueueBytes: 8 * 1024 * 1024,
      backpressurePolicy: "block",
      blockTimeoutMs: 30000,
      maxMessageBytes: 16 * 1024 * 1024,
      maxChannels: 64,
      maxSessions: 256,
      maxPendingHandshakes: 64,
      handshakeTimeoutMs: 5000,
      rekeyAfterBytes: 1024 * 1024 * 1024,
      rekeyAfterMs: 600000,
      allowPeers: "any",
    },
  );
  assert.equal(r.testHooks, false);
});

Deno.test("resolveNodeOptions throws RangeError naming the option for every out-of-range number", () => {
  for (const [key, spec] of Object.entries(NUMERIC_OPTIONS)) {
    for (const bad of [spec.min - 1, spec.max + 1, 1.5, Number.NaN, Infinity]) {
      assert.throws(
        () => resolveNodeOptions({ identity, [key]: bad } as RttNodeOptions),
        (err: unknown) => err instanceof RangeError && err.message.includes(key),
        `${key}=${bad}`,
      );
    }
    assert.throws(
      () => resolveNodeOptions({ identity, [key]: "10" } as unknown as RttNodeOptions),
      TypeError,
    );
  }
});

Deno.test("resolveNodeOptions accepts 0 for resumeWindowMs (resumption disabled)", () => {
  assert.equal(resolveNodeOptions({ identity, resumeWindowMs: 0 }).resumeWindowMs, 0);
});

Deno.test("resolveNodeOptions refuses a reconnect max delay below the initial delay", () => {
  assert.throws(
    () => resolveNodeOptions({ identity, reconnectInitialDelayMs: 500, reconnectMaxDelayMs: 100 }),
    RangeError,
  );
});

Deno.test("resolveNodeOptions checks the policy, allowPeers and identity", () => {
  assert.throws(
    () => resolveNodeOptions({ identity, backpressurePolicy: "drop" as "block" }),
    (e: unknown) => e instanceof RangeError && /backpressurePolicy/.test(e.message),
  );
  assert.throws(() => resolveNodeOptions({ identity, allowPeers: ["abc"] }), RangeError);
  assert.throws(
    () => resolveNodeOptions({ identity, allowPeers: "none" as "any" }),
    TypeError,
  );
  assert.throws(() => resolveNodeOptions({} as RttNodeOptions), TypeError);
  assert.deepEqual(
    resolveNodeOptions({ identity, allowPeers: ["B".repeat(64)] }).allowPeers,
    ["b".repeat(64)],
  );
});

Deno.test("RttNode.create rejects bad options with RangeError before loading the library", async () => {
  await assert.rejects(() => RttNode.create({ identity, maxQueue: 0 }), RangeError);
  await assert.rejects(() => RttNode.create({ identity, heartbeatIntervalMs: -1 }), RangeError);
  await assert.rejects(
    () => RttNode.create({ identity, backpressurePolicy: "never" as "block" }),
    RangeError,
  );
});

Deno.test("nodeConfigJson uses the snake_case keys of docs/rtt.md", () => {
  const json = nodeConfigJson(resolveNodeOptions({ identity, testHooks: true }), "PEM");
  assert.deepEqual(Object.keys(json).sort(), [
    "ack_timeout_ms",
    "allow_peers",
    "backpressure_policy",
    "block_timeout_ms",
    "client_hello_timeout_ms",
    "handshake_timeout_ms",
    "heartbeat_interval_ms",
    "heartbeat_timeout_ms",
    "id_seed",
    "key_pem",
    "max_channels",
    "max_message_bytes",
    "max_node_receive_bytes",
    "max_pending_handshakes",
    "max_pending_handshakes_per_address",
    "max_queue",
    "max_queue_bytes",
    "max_session_receive_bytes",
    "max_sessions",
    "max_sessions_per_address",
    "max_sessions_per_peer",
    "max_unacked_bytes",
    "reconnect_initial_delay_ms",
    "reconnect_max_attempts",
    "reconnect_max_delay_ms",
    "rekey_after_bytes",
    "rekey_after_ms",
    "replay_flood_limit",
    "replay_flood_window_ms",
    "replay_report_interval_ms",
    "resume_window_ms",
    "test_hooks",
    "unopened_window_bytes",
    "unopened_window_msgs",
  ]);
  assert.equal(json["test_hooks"], true);
});

Deno.test("checkChannelKind accepts the three kinds and custom names of 1-64 [a-z0-9._-]", () => {
  for (const k of ["control", "state", "knowledge", "a", "x".repeat(64), "my.chan-1_2"]) {
    assert.equal(checkChannelKind(k), k);
  }
  for (const k of ["", "x".repeat(65), "Upper", "with space", "ü"]) {
    assert.throws(() => checkChannelKind(k), RangeError, k);
  }
  assert.throws(() => checkChannelKind(3), TypeError);
});
