import assert from "node:assert/strict";
import {
  decodeEventRecords,
  decodeMessageRecords,
  encodeEventRecords,
  type EventRecord,
  hasEventRecord,
} from "../../lib/rtt/events.ts";
import { RTTTransportError } from "../../lib/transport/errors.ts";
import { EventKind } from "../../lib/rtt/ffi.ts";

function header(kind: number, payloadLen: number, session: bigint, op: bigint, value: bigint) {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  v.setUint32(0, kind, true);
  v.setUint32(4, payloadLen, true);
  v.setBigUint64(8, session, true);
  v.setBigUint64(16, op, true);
  v.setBigInt64(24, value, true);
  return b;
}

Deno.test("decodeEventRecords reads hand-made records with payload and padding", () => {
  const payload = new TextEncoder().encode('{"reason":"manual"}'); // 19 bytes -> pad to 24
  const buf = new Uint8Array(32 + 24 + 32);
  buf.set(header(EventKind.SESSION_CLOSE, payload.length, 9n, 0n, 3n), 0);
  buf.set(payload, 32);
  buf.set(header(EventKind.READABLE, 0, 9n, 4n, 0n), 56);
  const records = decodeEventRecords(buf, buf.length);
  assert.deepEqual(records, [
    { kind: 7, session: 9n, op: 0n, value: 3n, payload: { reason: "manual" } },
    { kind: 8, session: 9n, op: 4n, value: 0n, payload: undefined },
  ]);
});

Deno.test("hasEventRecord finds a kind behind padded payloads and never reads past the length", () => {
  const records: EventRecord[] = [
    { kind: EventKind.READABLE, session: 1n, op: 2n, value: 0n, payload: undefined },
    { kind: EventKind.SESSION_CLOSE, session: 1n, op: 0n, value: 0n, payload: { reason: "x" } },
    { kind: EventKind.ACCEPTED, session: 3n, op: 0n, value: 0n, payload: { id: "a", peer: "b" } },
  ];
  const bytes = encodeEventRecords(records);
  assert.equal(hasEventRecord(bytes, bytes.length, EventKind.ACCEPTED), true);
  assert.equal(hasEventRecord(bytes, bytes.length, EventKind.CONNECTED), false);
  // The ACCEPTED record lies beyond the first two: a shorter length does not see it.
  const firstTwo = encodeEventRecords(records.slice(0, 2)).length;
  assert.equal(hasEventRecord(bytes, firstTwo, EventKind.ACCEPTED), false);
  // Malformed lengths and truncated headers are "not there", never a throw.
  assert.equal(hasEventRecord(bytes, bytes.length + 1, EventKind.ACCEPTED), false);
  assert.equal(hasEventRecord(bytes, -1, EventKind.READABLE), false);
  assert.equal(hasEventRecord(bytes, 31, EventKind.READABLE), false);
  const huge = header(EventKind.READABLE, 0xffff_ffff, 1n, 0n, 0n);
  assert.equal(hasEventRecord(huge, huge.length, EventKind.ACCEPTED), false);
});

Deno.test("decodeEventRecords reads u64 handles above 2^53 and negative values exactly", () => {
  const buf = header(EventKind.DROP, 0, 0xffff_ffff_ffff_fff0n, 2n ** 60n, -5n);
  const [r] = decodeEventRecords(buf, 32);
  assert.equal(r?.session, 0xffff_ffff_ffff_fff0n);
  assert.equal(r?.op, 2n ** 60n);
  assert.equal(r?.value, -5n);
});

Deno.test("decodeEventRecords only reads the written length of the buffer", () => {
  const buf = new Uint8Array(256).fill(0xff);
  buf.set(header(EventKind.WRITABLE, 0, 1n, 1n, 0n), 0);
  assert.equal(decodeEventRecords(buf, 32).length, 1);
  assert.deepEqual(decodeEventRecords(buf, 0), []);
});

Deno.test("decodeEventRecords refuses truncated headers, overlong payloads and bad JSON", () => {
  const ok = header(EventKind.READABLE, 0, 1n, 1n, 0n);
  assert.throws(() => decodeEventRecords(ok, 31), RTTTransportError);
  const long = new Uint8Array(40);
  long.set(header(EventKind.ACCEPTED, 100, 1n, 0n, 0n));
  assert.throws(
    () => decodeEventRecords(long, 40),
    (e: unknown) => e instanceof RTTTransportError && e.code === "PROTOCOL",
  );
  const bad = new Uint8Array(40);
  bad.set(header(EventKind.ACCEPTED, 3, 1n, 0n, 0n));
  bad.set(new TextEncoder().encode("{{{"), 32);
  assert.throws(() => decodeEventRecords(bad, 40), RTTTransportError);
  const arr = new Uint8Array(40);
  arr.set(header(EventKind.ACCEPTED, 2, 1n, 0n, 0n));
  arr.set(new TextEncoder().encode("[]"), 32);
  assert.throws(() => decodeEventRecords(arr, 40), RTTTransportError);
  assert.throws(() => decodeEventRecords(ok, 64), RTTTransportError);
});

Deno.test("encodeEventRecords and decodeEventRecords round-trip random records", () => {
  for (let round = 0; round < 200; round++) {
    const records: EventRecord[] = [];
    const n = 1 + Math.floor(Math.random() * 5);
    for (let i = 0; i < n; i++) {
      const withPayload = Math.random() < 0.5;
      records.push({
        kind: 1 + Math.floor(Math.random() * 15),
        session: BigInt(Math.floor(Math.random() * 2 ** 40)),
        op: BigInt(Math.floor(Math.random() * 2 ** 40)),
        value: BigInt(Math.floor(Math.random() * 2 ** 40) - 2 ** 39),
        payload: withPayload ? { s: "x".repeat(Math.floor(Math.random() * 20)), n: i } : undefined,
      });
    }
    const bytes = encodeEventRecords(records);
    assert.equal(bytes.length % 8, 0);
    assert.deepEqual(decodeEventRecords(bytes, bytes.length), records);
  }
});

Deno.test("decodeMessageRecords splits [u32 len][bytes] records into separate copies", () => {
  const buf = new Uint8Array(4 + 3 + 4 + 0 + 4 + 2);
  const v = new DataView(buf.buffer);
  v.setUint32(0, 3, true);
  buf.set([1, 2, 3], 4);
  v.setUint32(7, 0, true);
  v.setUint32(11, 2, true);
  buf.set([9, 8], 15);
  const msgs = decodeMessageRecords(buf, buf.length);
  assert.deepEqual(msgs.map((m) => [...m]), [[1, 2, 3], [], [9, 8]]);
  buf[4] = 77;
  assert.equal(msgs[0]![0], 1, "messages are copies, not views of the buffer");
  assert.throws(() => decodeMessageRecords(buf, 16), RTTTransportError);
});
