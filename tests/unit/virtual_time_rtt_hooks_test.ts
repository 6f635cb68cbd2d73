/**
 * The virtual-clock twin of rtt_attack_test.ts's "a peer withholding ACKs
 * ... dies at ackTimeoutMs" (issue 18 item 6): the same native core on the
 * `memory` backend with a `ManualClock`, the attacker's ACKs withheld
 * through the test hooks. Needs a library built with them (`deno task
 * build:native:hooks`); `deno task test:deno` runs this file with
 * `WEB4_RTT_LIB=./target/hooks/release`.
 *
 * What it pins down: the victim samples its ACK watch at every heartbeat
 * ping (and at the watch's own deadline), and ends the session `ack_timeout`
 * at exactly `ackTimeoutMs` + 1 ms after the last sample at which nothing was
 * outstanding or an ACK had arrived. So data sent just before a sample dies
 * up to one heartbeat interval sooner than `ackTimeoutMs` after it was sent
 * (docs/rtt.md says "data unacknowledged this long"): the second test shows
 * that bound, and fails if the watch starts counting from the send instead.
 */

import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { seededRandom } from "../../lib/ports/mod.ts";
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";
import { VirtualTime } from "../helpers/virtual_time.ts";

const [idVictim, idAttacker] = await Promise.all([Identity.generate(), Identity.generate()]);

/** The instant the victim's session ends `ack_timeout` when it sends data at `sendAt`. */
async function ackTimeoutAt(sendAt: number): Promise<number | undefined> {
  using vt = new VirtualTime();
  const network = new MemoryNetwork({ clock: vt.clock });
  const victim = await memory({
    network,
    heartbeatIntervalMs: 1000,
    heartbeatTimeoutMs: 5000,
    ackTimeoutMs: 1500,
  })({ identity: idVictim, random: seededRandom(2) });
  const attacker = await memory({ network, testHooks: true })({
    identity: idAttacker,
    random: seededRandom(3),
  });
  try {
    let closed: { at: number; reason: string | undefined } | undefined;
    victim.onEvent((e) => {
      if (e.type === "session_close") closed = { at: vt.now, reason: e.reason };
    });
    const { port } = await victim.listen({ hostname: "victim", port: 0 });
    const [toVictim, fromAttacker] = await Promise.all([
      attacker.connect({ hostname: "victim", port, fingerprint: idVictim.fingerprint }),
      victim.accept(),
    ]);
    toVictim.testInject({ no_acks: true }); // pongs still flow: only ACKs stop
    const tx = await fromAttacker.openChannel("state");
    await vt.runUntil(sendAt);
    for (let i = 0; i < 10; i++) await tx.send(new Uint8Array(1000));
    await vt.runUntil(sendAt + 5000);
    assert.equal(closed?.reason, "ack_timeout");
    return closed?.at;
  } finally {
    const stop = Promise.all([
      attacker.shutdown({ deadlineMs: 100 }),
      victim.shutdown({ deadlineMs: 100 }),
    ]);
    await vt.runFor(1000);
    await stop;
  }
}

Deno.test("ACK timeout (virtual): data sent at 250 and never acknowledged ends the session at exactly 2501 (the watch started at the 1000 sample)", async () => {
  assert.equal(await ackTimeoutAt(250), 2501);
  assert.equal(await ackTimeoutAt(999), 2501);
});

Deno.test("ACK timeout (virtual): the watch counts from the last clean sample, not from the send: data sent at 1999 dies at 2501, at 2001 at 3501", async () => {
  // 1999 -> 2501 is 502 ms after the send, less than ackTimeoutMs (1500): at most one
  // heartbeat interval early, never late.
  assert.equal(await ackTimeoutAt(1999), 2501);
  assert.equal(await ackTimeoutAt(2001), 3501);
});
