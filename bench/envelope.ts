/**
 * Envelope benchmark: envelopes created and signed per second, and fully
 * verified per second (every step of `verifyEnvelope`, replay guard and
 * session binding included), against bare WebCrypto Ed25519 sign and verify
 * of the same bytes in the same run; and the duplicate-key scan of a wire
 * text against `JSON.parse` of the same text.
 *
 * Run alone: `deno run bench/envelope.ts`.
 *
 * @module
 */

import type { BenchSection } from "./report.ts";
import { formatSections } from "./report.ts";
import { Identity } from "../lib/identity/mod.ts";
import {
  createEnvelope,
  encodeEnvelope,
  envelopeSigningBytes,
  ReplayGuard,
  verifyEnvelope,
} from "../lib/envelope/mod.ts";
import { scanKeys } from "../lib/envelope/json_text.ts";
import { ed25519 } from "../lib/identity/ed25519.ts";

/** Rounds per pair; each round times one slice of each operation. */
const _ROUNDS = 12;
/** Length of one timed slice, in milliseconds. */
const _SLICE_MS = 50;
/** Most operations per slice (bounds the loop even on a fast machine). */
const _MAX_OPS_PER_SLICE = 5_000;
/** Envelopes in flight at once in the pipelined figures. */
const _IN_FLIGHT = 8;
/** Distinct envelopes prepared for the verify phase (each verifies once per guard). */
const _PREPARED = 2_000;

type _Op = (i: number) => Promise<unknown>;

/**
 * Measures two operations in alternating slices, so load from other
 * processes on a shared machine falls on both alike. Shared by the router bench.
 *
 * @returns Operations per second of `a` and of `b`.
 */
export async function pairedRates(a: _Op, b: _Op, inFlight = 1): Promise<[number, number]> {
  for (let i = 0; i < 50; i++) {
    await a(i);
    await b(i);
  }
  const count = [0, 0];
  const time = [0, 0];
  for (let round = 0; round < _ROUNDS; round++) {
    for (const [k, op] of [[0, a], [1, b]] as const) {
      const start = performance.now();
      let n = 0;
      while (n < _MAX_OPS_PER_SLICE && performance.now() - start < _SLICE_MS) {
        if (inFlight === 1) await op(count[k]! + n);
        else await Promise.all(Array.from({ length: inFlight }, (_, j) => op(count[k]! + n + j)));
        n += inFlight;
      }
      time[k]! += performance.now() - start;
      count[k]! += n;
    }
  }
  return [count[0]! / (time[0]! / 1000), count[1]! / (time[1]! / 1000)];
}

/**
 * Measures the envelope figures.
 *
 * @returns The "Envelopes vs bare WebCrypto Ed25519" section.
 */
export async function runEnvelopeBench(): Promise<BenchSection> {
  const alice = await Identity.generate({ agentId: "alice" });
  const bob = await Identity.generate({ agentId: "bob" });
  const receiver = { agent_id: bob.agentId, fingerprint: bob.fingerprint };
  const build = () =>
    createEnvelope("cip", "STATE_UPDATE", {
      identity: alice,
      receiver,
      payload: { presence: "focused", lri: 42, ltppeerstate: "trusted", kernel_signals: ["ok"] },
      state: { presence: "focused", lri: 42 },
      trust: { sender_view: "trusted", receiver_view: "trusted" },
      capabilities: ["state_exchange"],
    });

  // Bare WebCrypto over the same signing bytes, with a key of its own.
  const sample = await build();
  const bytes = envelopeSigningBytes(sample);
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const bareSig = await crypto.subtle.sign("Ed25519", pair.privateKey, bytes);

  const [createRate, bareSignRate] = await pairedRates(
    () => build(),
    () => crypto.subtle.sign("Ed25519", pair.privateKey, bytes),
  );

  const wires: Uint8Array[] = [];
  for (let i = 0; i < _PREPARED; i++) wires.push(encodeEnvelope(await build()));
  let guard = new ReplayGuard();
  const options = {
    replayGuard: guard,
    expectedSender: alice.fingerprint,
    expectedReceiver: bob.fingerprint,
  };
  let verified = 0;
  const verifyOne = () => {
    // Every prepared envelope verifies once per guard; start a new guard
    // when the list wraps around.
    const i = verified++ % _PREPARED;
    if (i === 0) options.replayGuard = guard = new ReplayGuard();
    return verifyEnvelope(wires[i], options);
  };
  const bareVerify = async () => {
    if (!(await crypto.subtle.verify("Ed25519", pair.publicKey, bareSig, bytes))) {
      throw new Error("Bare verification failed");
    }
  };
  const [verifyRate, bareVerifyRate] = await pairedRates(verifyOne, bareVerify);
  // The same against the primitive verification uses (ed25519.ts's engine),
  // so the envelope path's own cost stays visible.
  const engineKey = await ed25519.importPublicKey(
    new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)),
  );
  const sigBytes = new Uint8Array(bareSig);
  const engineVerify = async () => {
    if (engineKey === null || !(await ed25519.verify(engineKey, bytes, sigBytes))) {
      throw new Error("Engine verification failed");
    }
  };
  const [verifyRate2, engineVerifyRate] = await pairedRates(verifyOne, engineVerify);
  const [verifyPipelined, bareVerifyPipelined] = await pairedRates(
    verifyOne,
    bareVerify,
    _IN_FLIGHT,
  );

  // The duplicate-key scan (step 1, for text and bytes) against the
  // JSON.parse it follows, on the same wire text.
  const wireText = new TextDecoder().decode(wires[0]);
  const [scanRate, parseRate] = await pairedRates(
    () => Promise.resolve(scanKeys(wireText)),
    () => Promise.resolve(JSON.parse(wireText)),
  );

  return {
    section: `Envelopes vs bare WebCrypto Ed25519 (${bytes.length}-byte signing input)`,
    rows: [
      {
        name: "create + sign envelope",
        value: createRate,
        unit: "msg/s",
        baseline: "WebCrypto Ed25519 sign",
        baselineValue: bareSignRate,
        ratio: createRate / bareSignRate,
      },
      {
        name: "full verify envelope",
        value: verifyRate,
        unit: "msg/s",
        baseline: "WebCrypto Ed25519 verify",
        baselineValue: bareVerifyRate,
        ratio: verifyRate / bareVerifyRate,
        goal: "ratio >= 0.7",
      },
      {
        name: "full verify envelope",
        value: verifyRate2,
        unit: "msg/s",
        baseline: `bare ${ed25519.name} Ed25519 verify (the engine used)`,
        baselineValue: engineVerifyRate,
        ratio: verifyRate2 / engineVerifyRate,
      },
      {
        name: `full verify, ${_IN_FLIGHT} in flight`,
        value: verifyPipelined,
        unit: "msg/s",
        baseline: `WebCrypto verify, ${_IN_FLIGHT} in flight`,
        baselineValue: bareVerifyPipelined,
        ratio: verifyPipelined / bareVerifyPipelined,
      },
      {
        name: `duplicate-key scan (${wireText.length} chars)`,
        value: scanRate,
        unit: "op/s",
        baseline: "JSON.parse of the same text",
        baselineValue: parseRate,
        ratio: scanRate / parseRate,
      },
    ],
  };
}

if (import.meta.main) {
  console.log(formatSections([await runEnvelopeBench()]));
}
