/**
 * The CIP room of presence and intents: a peer's `STATE_UPDATE`, a peer's
 * `INTENT` (answered `accept`, or `defer` when either side is overloaded),
 * an answer to one of ours, and the intents we declare.
 *
 * @module
 */

import type { CipEnvelope, EnvelopeReceiver, IntentPayload } from "../envelope/mod.ts";
import { isOverloaded, newMsgId, type Outcome } from "../runtime/mod.ts";
import type { CipSettings, Turn } from "./turn.ts";

/**
 * Declares an intent to `ctx.peer` (see `CipRuntime.intent`).
 *
 * @param turn The turn.
 * @param receiver The peer's receiver block.
 * @param intent Goal, topic, priority, optional context.
 * @param settings The runtime's settings.
 * @returns `handled` with the INTENT, or `deferred` (`peer_overloaded`).
 */
export function declareIntent(
  turn: Turn,
  receiver: EnvelopeReceiver,
  intent: Omit<IntentPayload, "in_reply_to" | "decision">,
  settings: CipSettings,
): Outcome {
  const { ctx } = turn;
  const presence = ctx.store.presence(ctx.peer);
  if (presence !== undefined && isOverloaded(presence, ctx.config)) {
    return turn.done("deferred", {
      code: "peer_overloaded",
      reason: `Peer ${ctx.peer} is overloaded (${presence.presence}, lri ${presence.lri})`,
      retryAfterMs: settings.deferRetryMs,
    });
  }
  turn.reply({
    protocol: "cip",
    type: "INTENT",
    msg_id: newMsgId(ctx.random),
    receiver,
    payload: { ...intent },
  });
  return turn.done("handled");
}

/**
 * A peer's `STATE_UPDATE`: its presence, load and view of us, recorded.
 *
 * @param turn The turn.
 * @param envelope The STATE_UPDATE.
 * @returns `handled`.
 */
export function handleStateUpdate(turn: Turn, envelope: CipEnvelope<"STATE_UPDATE">): Outcome {
  const p = envelope.payload;
  turn.changes.push({
    kind: "presence.set",
    record: {
      peer: turn.ctx.peer,
      presence: p.presence,
      lri: p.lri,
      peerView: p.ltppeerstate,
      kernelSignals: [...(p.kernel_signals ?? [])],
      updatedMs: turn.nowMs,
      ...(p.intent === undefined ? {} : { intent: p.intent }),
    },
  });
  turn.effect({
    type: "presenceReceived",
    peer: turn.ctx.peer,
    presence: p.presence,
    lri: p.lri,
    peerView: p.ltppeerstate,
  });
  return turn.done("handled");
}

/**
 * A peer's `INTENT`: an answer to one of ours is reported; a new one is
 * answered `accept`, or `defer` when the peer (its last presence) or we are
 * overloaded, and reported as `intentReceived` with that decision.
 *
 * @param turn The turn.
 * @param envelope The INTENT.
 * @param settings The runtime's settings.
 * @returns `handled`, or `deferred` (`overloaded`, `peer_overloaded`).
 */
export function handleIntent(
  turn: Turn,
  envelope: CipEnvelope<"INTENT">,
  settings: CipSettings,
): Outcome {
  const { ctx } = turn;
  const p = envelope.payload;
  if (p.in_reply_to !== undefined) {
    turn.effect({
      type: "intentAnswered",
      peer: ctx.peer,
      inReplyTo: p.in_reply_to,
      decision: p.decision,
      topic: p.topic,
    });
    return turn.done("handled");
  }
  const theirs = envelope.state ?? ctx.store.presence(ctx.peer);
  const peerBusy = theirs !== undefined && isOverloaded(theirs, ctx.config);
  const weBusy = isOverloaded(ctx.load, ctx.config);
  const decision = peerBusy || weBusy ? "defer" : "accept";
  turn.reply({
    protocol: "cip",
    type: "INTENT",
    msg_id: newMsgId(ctx.random),
    receiver: { agent_id: envelope.sender.agent_id, fingerprint: ctx.peer },
    payload: {
      goal: p.goal,
      topic: p.topic,
      priority: p.priority,
      in_reply_to: envelope.msg_id,
      decision,
    },
  });
  turn.effect({
    type: "intentReceived",
    peer: ctx.peer,
    msgId: envelope.msg_id,
    goal: p.goal,
    topic: p.topic,
    priority: p.priority,
    context: p.context,
    decision,
  });
  if (decision === "accept") return turn.done("handled");
  return turn.done("deferred", {
    code: weBusy ? "overloaded" : "peer_overloaded",
    reason: weBusy ? "We are overloaded" : `Peer ${ctx.peer} is overloaded`,
    retryAfterMs: settings.deferRetryMs,
  });
}
