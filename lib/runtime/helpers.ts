/**
 * Small helpers of the runtime contract: building outcomes, choosing and
 * reusing msg_ids, the overload rule, and the `self` of an `Identity`.
 *
 * @module
 */

import type { Identity } from "../identity/mod.ts";
import { noopTelemetry, type Telemetry } from "../observability/mod.ts";
import type { StoreView } from "../store/mod.ts";
import { createTrustView, type TrustConfig, type TrustView } from "../trust/mod.ts";
import type {
  LocalLoad,
  Outcome,
  OutcomeStatus,
  RuntimeConfig,
  RuntimeContext,
  SelfInfo,
} from "./types.ts";
import { randomUuid, systemClock, systemRandom } from "../ports/mod.ts";

/** The default {@linkcode RuntimeConfig}. */
export const DEFAULT_RUNTIME_CONFIG: Readonly<RuntimeConfig> = Object.freeze({ overloadLri: 80 });

/**
 * Builds an outcome; missing lists are empty.
 *
 * @param status What happened.
 * @param parts Code, reason, retry delay, changes, replies, effects.
 * @returns The outcome.
 *
 * @example
 * ```ts
 * import { outcome } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const o = outcome("refused", { code: "untrusted", reason: "Peer is untrusted" });
 * assert.deepEqual(o.changes, []);
 * assert.deepEqual(o.effects, []);
 * assert.equal(o.code, "untrusted");
 * ```
 */
export function outcome(
  status: OutcomeStatus,
  parts: Partial<Omit<Outcome, "status">> = {},
): Outcome {
  const result: Outcome = {
    status,
    changes: parts.changes ?? [],
    replies: parts.replies ?? [],
    effects: parts.effects ?? [],
  };
  if (parts.code !== undefined) result.code = parts.code;
  if (parts.reason !== undefined) result.reason = parts.reason;
  if (parts.retryAfterMs !== undefined) result.retryAfterMs = parts.retryAfterMs;
  return result;
}

function _uuid(bytes: Uint8Array): string {
  const id = bytes.slice(0, 16);
  id[6] = (id[6]! & 0x0f) | 0x40;
  id[8] = (id[8]! & 0x3f) | 0x80;
  const hex = id.toHex();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

/**
 * A fresh UUID v4 from a random source, for a reply's `msg_id`.
 *
 * @param random The random source (`ctx.random`).
 * @returns The UUID.
 * @throws {TypeError} If `random(16)` returns fewer than 16 bytes.
 *
 * @example
 * ```ts
 * import { newMsgId } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(newMsgId((n) => new Uint8Array(n)), "00000000-0000-4000-8000-000000000000");
 * ```
 */
export function newMsgId(random: (n: number) => Uint8Array): string {
  return randomUuid(random);
}

const _UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * The 16 bytes of a UUID v4: give `() => msgIdBytes(spec.msg_id)` as
 * `createEnvelope`'s `random` so the signed envelope carries the msg_id the
 * runtime chose.
 *
 * @param msgId A lowercase UUID v4.
 * @returns Its bytes.
 * @throws {TypeError} If `msgId` is not a lowercase UUID v4.
 *
 * @example The router signs a reply with the runtime's msg_id
 * ```ts
 * import { msgIdBytes, newMsgId } from "./mod.ts";
 * import { createEnvelope } from "../envelope/mod.ts";
 * import { Identity } from "../identity/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const me = await Identity.generate({ agentId: "me" });
 * const msgId = newMsgId((n) => crypto.getRandomValues(new Uint8Array(n)));
 * const env = await createEnvelope("cip", "STATE_UPDATE", {
 *   identity: me,
 *   receiver: { agent_id: "me", fingerprint: me.fingerprint },
 *   payload: { presence: "focused", lri: 10, ltppeerstate: "probing" },
 *   random: () => msgIdBytes(msgId),
 * });
 * assert.equal(env.msg_id, msgId);
 * ```
 */
export function msgIdBytes(msgId: string): Uint8Array {
  if (typeof msgId !== "string" || !_UUID_V4.test(msgId)) {
    throw new TypeError(`Expected a lowercase UUID v4 msg_id, got ${JSON.stringify(msgId)}`);
  }
  return Uint8Array.fromHex(msgId.replaceAll("-", ""));
}

/**
 * The overload rule: presence `overloaded`, or `lri` at or above
 * `config.overloadLri`.
 *
 * @param load A party's presence and load.
 * @param config The runtime settings.
 * @returns Whether the party is overloaded.
 *
 * @example
 * ```ts
 * import { isOverloaded } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isOverloaded({ presence: "focused", lri: 95 }, { overloadLri: 80 }));
 * assert.ok(!isOverloaded({ presence: "diffuse", lri: 10 }, { overloadLri: 80 }));
 * ```
 */
export function isOverloaded(load: LocalLoad, config: Pick<RuntimeConfig, "overloadLri">): boolean {
  return load.presence === "overloaded" || load.lri >= config.overloadLri;
}

/**
 * The {@linkcode SelfInfo} of an identity.
 *
 * @param identity Our identity.
 * @param capabilities Our capabilities. @default {[]}
 * @returns The self info, signing with the identity's key.
 *
 * @example
 * ```ts
 * import { selfFromIdentity } from "./mod.ts";
 * import { Identity } from "../identity/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const me = await Identity.generate({ agentId: "me" });
 * const self = selfFromIdentity(me, ["state_exchange"]);
 * assert.equal(self.fingerprint, me.fingerprint);
 * assert.equal((await self.sign(new Uint8Array([1]))).length, 64);
 * ```
 */
export function selfFromIdentity(
  identity: Identity,
  capabilities: readonly string[] = [],
): SelfInfo {
  return {
    agentId: identity.agentId,
    fingerprint: identity.fingerprint,
    pubkey: identity.publicKeyBase64,
    capabilities: [...capabilities],
    sign: (data) => identity.sign(data),
  };
}

/** Options of {@linkcode createRuntimeContext}. */
export interface RuntimeContextOptions {
  /** Who we are. */
  self: SelfInfo;
  /** The authenticated peer or person. */
  peer: string;
  /** Read access to the store. */
  store: StoreView;
  /** Trust view; built from `store` and `trustConfig` when omitted. */
  trust?: TrustView | undefined;
  /** Trust settings for the view built when `trust` is omitted. */
  trustConfig?: Partial<TrustConfig> | undefined;
  /** The transport session id. */
  session?: string | undefined;
  /** Clock in milliseconds. @default {systemClock.now} */
  now?: (() => number) | undefined;
  /** Random source. @default {systemRandom} */
  random?: ((n: number) => Uint8Array) | undefined;
  /** Our load. @default {{ presence: "focused", lri: 0 }} */
  load?: LocalLoad | undefined;
  /** Telemetry. @default {noopTelemetry} */
  telemetry?: Telemetry | undefined;
  /** Runtime settings; missing fields take {@linkcode DEFAULT_RUNTIME_CONFIG}. */
  config?: Partial<RuntimeConfig> | undefined;
}

/**
 * Builds a {@linkcode RuntimeContext} with defaults for what is not given.
 *
 * @param options The parts of the context.
 * @returns The context.
 *
 * @example
 * ```ts
 * import { createRuntimeContext, selfFromIdentity } from "./mod.ts";
 * import { Identity } from "../identity/mod.ts";
 * import { openStore } from "../store/mod.ts";
 * import assert from "node:assert/strict";
 *
 * using store = openStore(":memory:");
 * const me = await Identity.generate({ agentId: "me" });
 * const ctx = createRuntimeContext({ self: selfFromIdentity(me), peer: "ab".repeat(32), store, now: () => 42 });
 * assert.equal(ctx.now(), 42);
 * assert.equal(ctx.trust.peer(ctx.peer), "untrusted");
 * ```
 */
export function createRuntimeContext(options: RuntimeContextOptions): RuntimeContext {
  const now = options.now ?? systemClock.now;
  const ctx: RuntimeContext = {
    self: options.self,
    peer: options.peer,
    now,
    random: options.random ?? systemRandom,
    store: options.store,
    trust: options.trust ?? createTrustView(options.store, options.trustConfig, now),
    load: options.load ?? { presence: "focused", lri: 0 },
    telemetry: options.telemetry ?? noopTelemetry,
    config: Object.freeze({ ...DEFAULT_RUNTIME_CONFIG, ...options.config }),
  };
  if (options.session !== undefined) ctx.session = options.session;
  return ctx;
}
