/**
 * `web4 loopback`: the smallest end-to-end program that exercises every
 * layer built so far, for real, on 127.0.0.1.
 *
 * Two agents (fresh Ed25519 identities) start RTT nodes; one dials the other
 * with the peer's fingerprint pinned (TLS 1.3, mutual authentication). Over
 * the `state` channel they exchange signed CIP `STATE_UPDATE` envelopes; each
 * side verifies every envelope it receives (signature, schema, timestamp,
 * session binding, replay). Then it shows the failure paths a user meets: a
 * replayed envelope is refused with `ReplayError`, and a dial with a wrong
 * pinned fingerprint fails with `RTTHandshakeError` `FINGERPRINT_MISMATCH`.
 *
 * @module
 */

import {
  createEnvelope,
  encodeEnvelope,
  ReplayError,
  ReplayGuard,
  verifyEnvelope,
} from "../lib/envelope/mod.ts";
import { Identity } from "../lib/identity/mod.ts";
import { quantile } from "../lib/observability/mod.ts";
import { RTTHandshakeError } from "../lib/transport/mod.ts";
import { RttNode } from "../lib/rtt/mod.ts";

/** Options of {@linkcode runLoopback}. */
export interface LoopbackOptions {
  /** Round trips to make. @default 20 */
  rounds?: number;
  /** Where progress lines go. @default console.log */
  log?: (line: string) => void;
}

/** What {@linkcode runLoopback} measured. */
export interface LoopbackResult {
  /** Round trips completed (each one envelope each way, both verified). */
  rounds: number;
  /** Round-trip p50 in microseconds, signing and verification included. */
  p50Us: number;
  /** Round-trip p95 in microseconds. */
  p95Us: number;
  /** Whether the replayed envelope was refused. */
  replayRefused: boolean;
  /** Whether the wrong pin was refused with `FINGERPRINT_MISMATCH`. */
  wrongPinRefused: boolean;
}

/**
 * Runs the loopback exchange.
 *
 * @param options Rounds and logger.
 * @returns The measurements and the outcome of the two failure checks.
 * @throws {Deno.errors.NotCapable} Without `--allow-net=127.0.0.1` or
 * `--allow-ffi` for the native library.
 */
export async function runLoopback(options: LoopbackOptions = {}): Promise<LoopbackResult> {
  const rounds = options.rounds ?? 20;
  const log = options.log ?? console.log;
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new RangeError(`Rounds must be a positive integer, got ${rounds}`);
  }
  const alice = await Identity.generate({ agentId: "alice" });
  const bob = await Identity.generate({ agentId: "bob" });
  await using aliceNode = await RttNode.create({ identity: alice });
  await using bobNode = await RttNode.create({ identity: bob });
  const addr = await bobNode.listen({ hostname: "127.0.0.1", port: 0 });
  log(`bob   ${bob.fingerprint} listening on ${addr.hostname}:${addr.port}`);

  const accepted = bobNode.accept();
  const toBob = await aliceNode.connect({ ...addr, fingerprint: bob.fingerprint });
  const toAlice = await accepted;
  log(`alice ${alice.fingerprint} connected, session ${toBob.id}`);
  log(`      bob sees peer ${toAlice.peerFingerprint} (TLS 1.3, pinned fingerprint)`);

  const aliceState = await toBob.openChannel("state");
  const bobState = await toAlice.openChannel("state");
  const aliceGuard = new ReplayGuard();
  const bobGuard = new ReplayGuard();

  // Bob answers every verified envelope with his own.
  let lastWire: Uint8Array | undefined;
  const bobLoop = (async () => {
    for await (const wire of bobState) {
      const env = await verifyEnvelope(wire, {
        replayGuard: bobGuard,
        expectedSender: toAlice.peerFingerprint,
        expectedReceiver: bob.fingerprint,
      });
      if (env.type !== "STATE_UPDATE") throw new Error(`Unexpected ${env.type}`);
      const reply = await createEnvelope("cip", "STATE_UPDATE", {
        identity: bob,
        receiver: { agent_id: env.sender.agent_id, fingerprint: env.sender.fingerprint },
        payload: { presence: "engaged", lri: 35, ltppeerstate: "probing" },
      });
      await bobState.send(encodeEnvelope(reply));
    }
  })();

  const rtts: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    const env = await createEnvelope("cip", "STATE_UPDATE", {
      identity: alice,
      receiver: { agent_id: bob.agentId, fingerprint: bob.fingerprint },
      payload: { presence: "focused", lri: i % 101, ltppeerstate: "probing" },
    });
    lastWire = encodeEnvelope(env);
    await aliceState.send(lastWire);
    const wire = await aliceState.receive();
    if (wire === null) throw new Error("Bob closed the state channel early");
    await verifyEnvelope(wire, {
      replayGuard: aliceGuard,
      expectedSender: toBob.peerFingerprint,
      expectedReceiver: alice.fingerprint,
    });
    rtts.push((performance.now() - started) * 1000);
  }
  rtts.sort((a, b) => a - b);
  const p50Us = quantile(rtts, 0.5);
  const p95Us = quantile(rtts, 0.95);
  log(
    `${rounds} signed STATE_UPDATE round trips, each envelope verified: ` +
      `p50 ${p50Us.toFixed(0)} us, p95 ${p95Us.toFixed(0)} us`,
  );

  // A replay: bob's guard has seen this envelope already.
  let replayRefused = false;
  try {
    await verifyEnvelope(lastWire!, {
      replayGuard: bobGuard,
      expectedSender: toAlice.peerFingerprint,
    });
  } catch (err) {
    if (!(err instanceof ReplayError)) throw err;
    replayRefused = true;
    log(`replayed envelope refused: ${err.code} (${err.message})`);
  }

  // A wrong pin: a third identity's fingerprint for bob's address.
  let wrongPinRefused = false;
  const mallory = await Identity.generate({ agentId: "mallory" });
  try {
    const s = await aliceNode.connect({ ...addr, fingerprint: mallory.fingerprint });
    await s.close();
  } catch (err) {
    if (!(err instanceof RTTHandshakeError)) throw err;
    wrongPinRefused = err.code === "FINGERPRINT_MISMATCH";
    log(`dial with a wrong pinned fingerprint refused: ${err.code}`);
  }

  const stats = toBob.stats();
  const heartbeat = stats.latencyP50Us > 0
    ? `heartbeat p50 ${stats.latencyP50Us} us`
    : "no heartbeat round trip yet";
  log(
    `alice's session: ${stats.messagesOut} messages out, ${stats.messagesIn} in, ` +
      `${stats.bytesOut} bytes out, ${heartbeat}`,
  );
  await aliceState.close();
  await toBob.close();
  await bobLoop;
  return { rounds, p50Us, p95Us, replayRefused, wrongPinRefused };
}
