/**
 * The runtime contract: a protocol runtime takes a verified envelope and a
 * {@linkcode RuntimeContext} and returns an {@linkcode Outcome} (status,
 * store changes, unsigned replies, typed effects). Runtimes are pure; the
 * router commits, signs, returns the effects and renders them as events
 * ({@linkcode renderEffect}). See `README.md` in this folder.
 *
 * @example A minimal runtime
 * ```ts
 * import { outcome, type ProtocolRuntime } from "@web4/runtime/runtime";
 *
 * const echo: ProtocolRuntime<"cip"> = {
 *   protocol: "cip",
 *   types: ["STATE_UPDATE"],
 *   handle: (_env, ctx) =>
 *     outcome("handled", {
 *       changes: [{
 *         kind: "presence.set",
 *         record: { peer: ctx.peer, presence: "focused", lri: 0, kernelSignals: [], updatedMs: ctx.now() },
 *       }],
 *       effects: [{ type: "presenceReceived", peer: ctx.peer, presence: "focused", lri: 0, peerView: "probing" }],
 *     }),
 * };
 * ```
 *
 * @module
 */

export {
  createRuntimeContext,
  DEFAULT_RUNTIME_CONFIG,
  isOverloaded,
  msgIdBytes,
  newMsgId,
  outcome,
  type RuntimeContextOptions,
  selfFromIdentity,
} from "./helpers.ts";
export type {
  LocalLoad,
  Outcome,
  OutcomeStatus,
  ProtocolRuntime,
  ReplySpec,
  RuntimeConfig,
  RuntimeContext,
  SanctionRule,
  SelfInfo,
} from "./types.ts";
export {
  type Delivery,
  type Effect,
  type EffectOf,
  effectsOf,
  type EffectType,
  type FetchRequest,
} from "./effects.ts";
export { type EffectEvent, renderEffect } from "./render.ts";
export { type ReplyParts, replySpec } from "./reply.ts";
