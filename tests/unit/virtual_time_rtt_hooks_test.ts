/**
 * The virtual-clock twin of rtt_attack_test.ts's "a peer withholding ACKs
 * ... dies at ackTimeoutMs" (issue 18 item 6): the same native core on the
 * `memory` backend with a `ManualClock`, the attacker's ACKs withheld
 * through the test hooks. Needs a library built with them (`deno task
 * build:native:hooks`); `deno task test:deno` runs this file with
 * `WEB4_RTT_LIB=./target/hooks/release`.
 *
 * What it pins down: the victim ends the session `ack_timeout` when the
 * oldest data it wrote on the connection has waited `ackTimeoutMs` without an
 * ACK, at exactly that instant: the core's deadline is "after" the timeout
 * (1 us past it), which the driver's millisecond timer reaches at the next
 * whole millisecond, so data sent at `t` ends the session at `t +
 * ackTimeoutMs + 1`, wherever `t` falls between heartbeats (before the fix
 * the watch counted from the last heartbeat sample: up to one interval early
 * or late).
 */

import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { seededRandom } from "../../lib/ports/mod.ts";
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";
import { VirtualTime } from "../helpers/virtual_time.ts";

const ACK_TIMEOUT_MS = 1500;
const [idVictim, idAttacker] = await Promise.all([Identity.generate(), Identity.generate()]);

/** The instant the victim's session ends `ack_timeout` when it sends data at `sendAt`. */
async function ackTimeoutAt(sendAt: number): Promise<number | undefined> {
  using vt = new VirtualTime();
  const network = new MemoryNetwork({ clock: vt.clock });
  const victim = await memory({
    network,
    heartbeatIntervalMs: 1000,
    heartbeatTimeoutMs: 5000,
    ackTimeoutMs: ACK_TIMEOUT_MS,
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

Deno.test("ACK timeout (virtual): data sent at t and never acknowledged ends the session at exactly t + ackTimeoutMs + 1", async () => {
  for (const t of [250, 999, 1000, 1001]) {
    assert.equal(await ackTimeoutAt(t), t + ACK_TIMEOUT_MS + 1, `sent at ${t}`);
  }
});

Deno.test("ACK timeout (virtual): heartbeats answered in between change nothing: data sent at 1999 ends at 3500, at 2001 at 3502", async () => {
  // The pongs of the heartbeats at 2000 and 3000 prove the peer alive; only
  // the unacknowledged data's age counts (before the fix: 2501 and 3501).
  assert.equal(await ackTimeoutAt(1999), 1999 + ACK_TIMEOUT_MS + 1);
  assert.equal(await ackTimeoutAt(2001), 2001 + ACK_TIMEOUT_MS + 1);
});
