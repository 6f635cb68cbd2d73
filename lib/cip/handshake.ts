/**
 * The CIP handshake room: HELLO, the answering HELLO, VERIFY, the trust
 * gate and the first STATE_UPDATE; an `ERROR` that answers our HELLO; and
 * the sanction rule for envelopes that fail verification. Each function
 * takes one {@linkcode Turn} and returns its outcome.
 *
 * @module
 */

import {
  type CipEnvelope,
  type EnvelopeReceiver,
  FingerprintMismatchError,
  SignatureMismatchError,
  TrustViolationError,
} from "../envelope/mod.ts";
import { verifyEd25519 } from "../identity/mod.ts";
import { newMsgId, type Outcome } from "../runtime/mod.ts";
import type { HandshakeRecord } from "../store/mod.ts";
import { challengeResponseBytes } from "./knowledge_rules.ts";
import type { CipSettings, Turn } from "./turn.ts";

const _PROTOCOL = "cip/1.0";

/**
 * The peer's handshake, unless it has expired (time-based: applied when read).
 *
 * @param turn The turn.
 * @returns The live handshake record, if any.
 */
export function liveHandshake(turn: Turn): HandshakeRecord | undefined {
  const record = turn.ctx.store.handshake(turn.ctx.peer);
  if (record === undefined) return undefined;
  if (record.stage !== "verified" && turn.nowMs > record.deadlineMs) return undefined;
  return record;
}

/**
 * Opens a handshake with `ctx.peer` (see `CipRuntime.open`).
 *
 * @param turn The turn.
 * @param receiver The peer's receiver block.
 * @param settings The runtime's settings.
 * @returns `handled` with the HELLO, `refused` or `ignored`.
 */
export function openHandshake(
  turn: Turn,
  receiver: EnvelopeReceiver,
  settings: CipSettings,
): Outcome {
  const { ctx } = turn;
  if (turn.peerTrust === "blacklisted") {
    return turn.done("refused", { code: "blacklisted", reason: `Peer ${ctx.peer} is blacklisted` });
  }
  const current = liveHandshake(turn);
  if (current !== undefined && current.stage !== "verified") {
    return turn.done("ignored", {
      code: "handshake_in_progress",
      reason: `A handshake with ${ctx.peer} is ${current.stage}`,
    });
  }
  _sendHello(turn, receiver, undefined, settings);
  turn.effect({ type: "handshakeProgress", peer: ctx.peer, step: "hello_sent" });
  return turn.done("handled");
}

/**
 * The sanction rule (see `CipRuntime.verificationFailed`).
 *
 * @param turn The turn (its `ctx.peer` is the session's peer).
 * @param error What `verifyEnvelope` threw.
 * @param msgId The envelope's `msg_id`, if known.
 * @returns `refused` with the trust changes, or `ignored`.
 */
export function sanctionVerification(turn: Turn, error: unknown, msgId?: string): Outcome {
  const evidence = msgId === undefined ? [] : [msgId];
  if (error instanceof SignatureMismatchError) {
    turn.trustEvent("invalid_signature", evidence, error.message);
    return turn.done("refused", { code: "bad_signature", reason: error.message });
  }
  if (
    error instanceof FingerprintMismatchError ||
    (error instanceof TrustViolationError && error.path.startsWith("/sender"))
  ) {
    turn.trustEvent("fingerprint_mismatch", evidence, error.message);
    return turn.done("refused", { code: "fingerprint_mismatch", reason: error.message });
  }
  const reason = error instanceof Error ? error.message : String(error);
  turn.effect({ type: "verificationIgnored", peer: turn.ctx.peer, reason });
  return turn.done("ignored", { code: "invalid_envelope", reason });
}

/**
 * A `HELLO`: an opening one is answered (the lower fingerprint's opening
 * wins a simultaneous open); an answering one must answer our live HELLO
 * with a valid challenge response, and is followed by VERIFY and the gate.
 *
 * @param turn The turn.
 * @param envelope The HELLO.
 * @param settings The runtime's settings.
 * @returns The outcome.
 */
export async function handleHello(
  turn: Turn,
  envelope: CipEnvelope<"HELLO">,
  settings: CipSettings,
): Promise<Outcome> {
  const { ctx } = turn;
  const p = envelope.payload;
  const receiver = { agent_id: envelope.sender.agent_id, fingerprint: ctx.peer };
  if (!p.protocols.includes(_PROTOCOL)) {
    return turn.done("refused", {
      code: "unsupported_protocol",
      reason: `HELLO offers ${JSON.stringify(p.protocols)}, not "${_PROTOCOL}"`,
    });
  }
  const current = liveHandshake(turn);
  if (p.in_reply_to === undefined) {
    // An opening HELLO. If we opened too, the lower fingerprint's opening wins.
    if (current?.stage === "hello_sent" && ctx.self.fingerprint < ctx.peer) {
      turn.effect({ type: "handshakeProgress", peer: ctx.peer, step: "simultaneous_open" });
      return turn.done("ignored", {
        code: "simultaneous_open",
        reason: "Both sides opened; the lower fingerprint's HELLO is answered",
      });
    }
    const response = await _respond(turn, p.challenge);
    _sendHello(turn, receiver, {
      challengeResponse: response,
      inReplyTo: envelope.msg_id,
      theirNonce: p.session_nonce,
    }, settings);
    turn.effect({ type: "handshakeProgress", peer: ctx.peer, step: "hello_answered" });
    return turn.done("handled");
  }
  // An answering HELLO: it must answer our live HELLO.
  if (
    current === undefined || current.role !== "initiator" || current.stage !== "hello_sent" ||
    current.ourHelloId !== p.in_reply_to
  ) {
    const stored = ctx.store.handshake(ctx.peer);
    const expired = stored !== undefined && stored.ourHelloId === p.in_reply_to &&
      stored.stage === "hello_sent";
    return _fail(
      turn,
      envelope,
      expired ? "handshake_timeout" : "unexpected_hello",
      expired
        ? `The handshake with ${ctx.peer} timed out`
        : `HELLO answers ${p.in_reply_to}, not our open HELLO`,
      expired ? "clear" : "keep",
    );
  }
  if (!(await _responseValid(turn, envelope, current.ourChallenge, p.challenge_response))) {
    return _fail(
      turn,
      envelope,
      "bad_challenge_response",
      "The answering HELLO's challenge response does not verify",
      "sanction",
    );
  }
  const response = await _respond(turn, p.challenge);
  turn.reply({
    protocol: "cip",
    type: "VERIFY",
    msg_id: newMsgId(ctx.random),
    receiver,
    payload: {
      challenge_response: response,
      in_reply_to: envelope.msg_id,
      session_nonces: [current.ourNonce, p.session_nonce],
    },
  });
  _gate(turn, envelope, { ...current, theirNonce: p.session_nonce, theirHelloId: envelope.msg_id });
  return turn.done("handled");
}

/**
 * A `VERIFY`: it must answer the HELLO we answered, with this handshake's
 * nonces and a valid challenge response; then the gate.
 *
 * @param turn The turn.
 * @param envelope The VERIFY.
 * @returns The outcome.
 */
export async function handleVerify(turn: Turn, envelope: CipEnvelope<"VERIFY">): Promise<Outcome> {
  const p = envelope.payload;
  const current = liveHandshake(turn);
  if (
    current === undefined || current.role !== "responder" || current.stage !== "hello_answered" ||
    current.ourHelloId !== p.in_reply_to
  ) {
    return _fail(
      turn,
      envelope,
      "unexpected_verify",
      `VERIFY answers ${p.in_reply_to}, not our open HELLO`,
      "keep",
    );
  }
  if (p.session_nonces[0] !== current.theirNonce || p.session_nonces[1] !== current.ourNonce) {
    return _fail(
      turn,
      envelope,
      "nonce_mismatch",
      "VERIFY's session_nonces are not this handshake's",
      "clear",
    );
  }
  if (!(await _responseValid(turn, envelope, current.ourChallenge, p.challenge_response))) {
    return _fail(
      turn,
      envelope,
      "bad_challenge_response",
      "VERIFY's challenge response does not verify",
      "sanction",
    );
  }
  _gate(turn, envelope, current);
  return turn.done("handled");
}

/**
 * A CIP `ERROR` from the peer: reported as `errorReceived`; one that answers
 * our open HELLO ends that handshake.
 *
 * @param turn The turn.
 * @param envelope The ERROR.
 * @returns `handled`.
 */
export function handleError(turn: Turn, envelope: CipEnvelope<"ERROR">): Outcome {
  const p = envelope.payload;
  const current = turn.ctx.store.handshake(turn.ctx.peer);
  if (
    current !== undefined && current.stage !== "verified" && current.ourHelloId === p.in_reply_to
  ) {
    turn.changes.push({ kind: "handshake.clear", peer: turn.ctx.peer });
  }
  turn.effect({
    type: "errorReceived",
    protocol: "cip",
    peer: turn.ctx.peer,
    msgId: envelope.msg_id,
    inReplyTo: p.in_reply_to,
    code: p.code,
    reason: p.reason,
    ...(p.retry_after_ms === undefined ? {} : { retryAfterMs: p.retry_after_ms }),
  });
  return turn.done("handled");
}

function _sendHello(
  turn: Turn,
  receiver: EnvelopeReceiver,
  answer: { challengeResponse: string; inReplyTo: string; theirNonce: string } | undefined,
  settings: CipSettings,
): void {
  const { ctx } = turn;
  const nonce = ctx.random(16).slice(0, 16).toBase64();
  const challenge = ctx.random(32).slice(0, 32).toBase64();
  const msgId = newMsgId(ctx.random);
  const payload = {
    protocols: [_PROTOCOL],
    capabilities: [...settings.capabilities],
    session_nonce: nonce,
    challenge,
    features: { ...settings.features },
    ...(answer === undefined
      ? {}
      : { challenge_response: answer.challengeResponse, in_reply_to: answer.inReplyTo }),
  };
  turn.reply({ protocol: "cip", type: "HELLO", msg_id: msgId, receiver, payload });
  const record: HandshakeRecord = {
    peer: ctx.peer,
    role: answer === undefined ? "initiator" : "responder",
    stage: answer === undefined ? "hello_sent" : "hello_answered",
    ourNonce: nonce,
    ourChallenge: challenge,
    ourHelloId: msgId,
    startedMs: turn.nowMs,
    deadlineMs: turn.nowMs + settings.handshakeTimeoutMs,
  };
  if (answer !== undefined) {
    record.theirNonce = answer.theirNonce;
    record.theirHelloId = answer.inReplyTo;
  }
  turn.changes.push({ kind: "handshake.set", record });
}

async function _respond(turn: Turn, challenge: string): Promise<string> {
  const { self, peer } = turn.ctx;
  return (await self.sign(challengeResponseBytes(peer, self.fingerprint, challenge))).toBase64();
}

async function _responseValid(
  turn: Turn,
  envelope: CipEnvelope,
  ourChallenge: string,
  response: string | undefined,
): Promise<boolean> {
  if (response === undefined) return false;
  // The payload schema has checked that it is base64 of 64 bytes.
  const signature = Uint8Array.fromBase64(response);
  const data = challengeResponseBytes(turn.ctx.self.fingerprint, turn.ctx.peer, ourChallenge);
  return await verifyEd25519(Uint8Array.fromBase64(envelope.sender.pubkey), data, signature);
}

/** A failed handshake: sanction a bad response, forget the handshake if it was ours, refuse. */
function _fail(
  turn: Turn,
  envelope: CipEnvelope,
  code: string,
  reason: string,
  effect: "keep" | "clear" | "sanction",
): Outcome {
  // An envelope that answers nothing we sent leaves the live handshake alone.
  if (effect === "sanction") turn.trustEvent("invalid_signature", [envelope.msg_id], reason);
  if (effect !== "keep") turn.changes.push({ kind: "handshake.clear", peer: turn.ctx.peer });
  turn.effect({ type: "handshakeFailed", peer: turn.ctx.peer, code, msgId: envelope.msg_id });
  return turn.done("refused", { code, reason });
}

/** After a valid exchange: the trust gate, then the first STATE_UPDATE. */
function _gate(turn: Turn, envelope: CipEnvelope, record: HandshakeRecord): void {
  turn.trustEvent("valid_handshake", [envelope.msg_id]);
  turn.changes.push({ kind: "handshake.set", record: { ...record, stage: "verified" } });
  turn.effect({ type: "handshakeVerified", peer: turn.ctx.peer, trust: turn.peerTrust });
  turn.reply({
    protocol: "cip",
    type: "STATE_UPDATE",
    msg_id: newMsgId(turn.ctx.random),
    receiver: { agent_id: envelope.sender.agent_id, fingerprint: turn.ctx.peer },
    payload: {
      presence: turn.ctx.load.presence,
      lri: turn.ctx.load.lri,
      ltppeerstate: turn.peerTrust,
    },
  });
}
