import assert from "node:assert/strict";
import { connectError, errorFromStatus } from "../../lib/rtt/errors.ts";
import {
  RTTBackpressureError,
  RTTDisconnectedError,
  RTTHandshakeError,
  RTTReplayError,
  RTTTransportError,
} from "../../lib/transport/errors.ts";
import { Status } from "../../lib/rtt/ffi.ts";
import { Web4Error } from "../../lib/errors/mod.ts";

const PEER = "c".repeat(64);
const ctx = { operation: "send on", peer: PEER, channel: "state" };

Deno.test("errorFromStatus maps every status of the ABI table to its class and code", () => {
  const table: [number, new (...a: never[]) => Error, string | undefined][] = [
    [Status.INVALID_ARGUMENT, RangeError, undefined],
    [Status.UNKNOWN_HANDLE, RTTDisconnectedError, "SESSION_CLOSED"],
    [Status.QUEUE_FULL, RTTBackpressureError, "QUEUE_FULL"],
    [Status.BLOCK_TIMEOUT, RTTBackpressureError, "BLOCK_TIMEOUT"],
    [Status.MESSAGE_TOO_LARGE, RTTTransportError, "MESSAGE_TOO_LARGE"],
    [Status.TOO_MANY_CHANNELS, RTTTransportError, "TOO_MANY_CHANNELS"],
    [Status.SESSION_CLOSED, RTTDisconnectedError, "SESSION_CLOSED"],
    [Status.CHANNEL_CLOSED, RTTDisconnectedError, "CHANNEL_CLOSED"],
    [Status.IO, RTTTransportError, "IO"],
    [Status.PROTOCOL, RTTTransportError, "PROTOCOL"],
    [Status.INTERNAL, RTTTransportError, "PROTOCOL"],
    [Status.SHUT_DOWN, RTTDisconnectedError, "SESSION_CLOSED"],
    [-99, RTTTransportError, "PROTOCOL"],
  ];
  for (const [status, cls, code] of table) {
    const err = errorFromStatus(status, ctx);
    assert.ok(err instanceof cls, `status ${status} -> ${err.constructor.name}`);
    if (code !== undefined) {
      assert.ok(err instanceof Web4Error);
      assert.equal(err.code, code, `status ${status}`);
    }
    assert.match(err.message, /^[A-Z]/, "messages start with a capital letter");
    assert.match(err.message, /channel "state"/, `status ${status} names the channel`);
    assert.match(err.message, new RegExp(PEER), `status ${status} names the peer`);
  }
  assert.match(errorFromStatus(Status.INTERNAL, ctx).message, /internal/);
});

Deno.test("errorFromStatus carries undelivered count and close reason on disconnected errors", () => {
  const err = errorFromStatus(Status.SESSION_CLOSED, {
    ...ctx,
    undelivered: 1,
    reason: "resume_timeout",
  });
  assert.ok(err instanceof RTTDisconnectedError);
  assert.equal(err.code, "RESUME_TIMEOUT");
  assert.equal(err.undelivered, 1);
  assert.equal(err.reason, "resume_timeout");
  assert.equal(err.channel, "state");
  assert.equal(err.peer, PEER);
});

Deno.test("connectError gives RTTHandshakeError for handshake codes and names the peer", () => {
  for (
    const code of [
      "FINGERPRINT_MISMATCH",
      "PEER_NOT_ALLOWED",
      "TLS_FAILED",
      "HANDSHAKE_TIMEOUT",
      "TOO_MANY_HANDSHAKES",
      "TOO_MANY_SESSIONS",
    ]
  ) {
    const err = connectError(code, "detail", "127.0.0.1:9", PEER);
    assert.ok(err instanceof RTTHandshakeError);
    assert.equal(err.code, code);
    assert.equal(err.peer, PEER);
    assert.match(err.message, new RegExp(PEER));
    assert.match(err.message, /127\.0\.0\.1:9/);
  }
  const io = connectError("IO", "refused", "127.0.0.1:9", PEER);
  assert.ok(io instanceof RTTTransportError);
  assert.equal(io.code, "IO");
  for (const unknown of ["NOPE", "toString", "__proto__", ""]) {
    const err = connectError(unknown, undefined, "127.0.0.1:9", PEER);
    assert.ok(err instanceof RTTTransportError, `${JSON.stringify(unknown)} is no handshake code`);
    assert.equal(err.code, "PROTOCOL");
    assert.match(err.message, /127\.0\.0\.1:9/);
  }
});

Deno.test("RTT error classes extend Web4Error and carry their name", () => {
  const replay = new RTTReplayError('Replayed frame on channel "state"', {
    channel: "state",
    sequence: 5n,
  });
  assert.ok(replay instanceof Web4Error);
  assert.equal(replay.name, "RTTReplayError");
  assert.equal(replay.code, "REPLAY");
  assert.equal(replay.sequence, 5n);
  const d = new RTTDisconnectedError("CHANNEL_CLOSED", 'Channel "x" closed', { undelivered: 2 });
  assert.equal(d.name, "RTTDisconnectedError");
  assert.equal(d.undelivered, 2);
});
