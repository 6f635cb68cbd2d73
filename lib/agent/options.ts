/**
 * The options of `Agent.create`.
 *
 * @module
 */

import type { CipRuntimeOptions } from "../cip/mod.ts";
import type { HcpRuntimeOptions } from "../hcp/mod.ts";
import type { Identity } from "../identity/mod.ts";
import type { FetchBudgetOptions, LipFetcher, LipJudge, LipRuntimeOptions } from "../lip/mod.ts";
import type { EventSink, MetricsMirror } from "../observability/mod.ts";
import type { Store, StoreOptions } from "../store/mod.ts";
import type { PinnedLevel } from "../trust/mod.ts";
import type { RateLimitOptions } from "../router/mod.ts";
import type { TransportSource } from "../transport/mod.ts";
import type { DriftOptions } from "./drift.ts";
import type { AgentListeners } from "./events.ts";
import type { InboundBudget } from "./inbound.ts";
import type { AgentIntent } from "./intents.ts";
import type { LoadSource } from "./load.ts";
import type { PeerInfo } from "./sessions.ts";
import type { Clock, RandomSource } from "../ports/mod.ts";

/** Options of `Agent.create`. */
export interface AgentOptions {
  /** The agent's identity: TLS certificate key and envelope signer. */
  identity: Identity;
  /** The declared mission, in words (mission drift is scored against it). */
  mission: string;
  /** The store, or the path of its SQLite file (`":memory:"` for none); a path is opened and closed by the agent. */
  store: string | Store;
  /**
   * Options of the store the agent opens from a path (count and byte quotas,
   * WAL bound, retention); a `Store` given keeps its own.
   * @default {the store's defaults: 1 MiB per probing peer, 64 MiB per trusted peer, 1 GiB in total, 512 MiB of it reserved for trusted peers}
   */
  storeOptions?: StoreOptions | undefined;
  /**
   * Per-peer inbound byte shares by budget level, and what all peers
   * together may hold with the reserve of the `trusted` level; a peer's
   * share is also its sessions' transport receive budget.
   * @default {{ probing: 1 MiB, trusted: 8 MiB, total: 64 MiB, reserved: 32 MiB }}
   */
  inbound?: Partial<InboundBudget> | undefined;
  /** The enrolled person's fingerprint (HCP is accepted only from it). */
  person?: string | undefined;
  /** Peers the owner declares trusted from the start. @default {[]} */
  trustAnchors?: readonly string[] | undefined;
  /**
   * Peers the owner pins at a level (fingerprint -> `probing` or `trusted`):
   * they start there and no trust event moves them (lib/trust,
   * `TrustConfig.pins`). The A2A gateway pins each A2A client's key.
   * @default {{}}
   */
  trustPins?: Readonly<Record<string, PinnedLevel>> | undefined;
  /**
   * The router's per-peer rate limit (`burst`, `perSecond`, `maxPeers`), or
   * `false` for none.
   * @default {{ burst: 200, perSecond: 100, maxPeers: 4096 }}
   */
  rateLimit?: RateLimitOptions | false | undefined;
  /**
   * The transport: a factory (`rtt(options)`, `memory({ network })`, your
   * own), which the agent calls with its identity and shuts down when it
   * stops; or a `Transport` instance for this identity, which stays yours:
   * the agent closes its sessions and stops accepting, and you shut the
   * transport down after the agent stopped. @default {rtt()}
   */
  transport?: TransportSource | undefined;
  /**
   * Where the load is read: the agent's own pressure (inbound queue bytes,
   * event-loop lag) by default; `systemLoadSource()` for the host's load
   * average and memory, `FixedLoadSource` for a fixed index.
   * @default {ownLoadSource()}
   */
  load?: LoadSource | undefined;
  /** How often load is read (and a changed presence sent); 0 reads it only on `Agent.refreshLoad`. @default {1000} */
  loadIntervalMs?: number | undefined;
  /** Least lri change peers are told of (a presence change is always told). @default {5} */
  lriStep?: number | undefined;
  /** Inbound messages that count as a full queue (lri 100). @default {256} */
  queueCapacity?: number | undefined;
  /** Event sinks (console, file, memory). @default {[]} */
  sinks?: readonly EventSink[] | undefined;
  /** Mirror of every metric sample (e.g. `otelMirror()`). */
  metricsMirror?: MetricsMirror | undefined;
  /** Event listeners from the start (before `started`), also addable with `Agent.on`. */
  listeners?: AgentListeners | undefined;
  /** Mission-drift window and threshold. */
  drift?: DriftOptions | undefined;
  /** Which peers a person's consented intent goes to. @default {every verified peer that is probing or trusted} */
  relevantPeers?: ((intent: AgentIntent, peers: readonly PeerInfo[]) => string[]) | undefined;
  /** The LIP fetcher. @default {new HttpFetcher()} (globally reachable addresses only) */
  fetcher?: LipFetcher | undefined;
  /** How many fetches run at once: the agent's own, per trusted peer, all peers. @default {4, 2, 4} */
  fetchBudget?: FetchBudgetOptions | undefined;
  /**
   * The judge that verifies a LIP claim before the agent corroborates it
   * (`verifyEvidence`). There is no default: without one the agent abstains.
   */
  lipJudge?: LipJudge | undefined;
  /** CIP runtime options. */
  cip?: CipRuntimeOptions | undefined;
  /** HCP runtime options. */
  hcp?: HcpRuntimeOptions | undefined;
  /** LIP runtime options. */
  lip?: LipRuntimeOptions | undefined;
  /** How long `connect` waits for the CIP handshake. @default {10000} */
  handshakeTimeoutMs?: number | undefined;
  /**
   * The clock: wall time (envelopes, records), monotonic time and timers,
   * passed down to every layer (store, router, transport, rooms).
   * @default {systemClock}
   */
  clock?: Clock | undefined;
  /**
   * The random source: msg_ids, decision ids, the transport's session-id
   * seed; a seeded one makes a run repeatable.
   * @default {systemRandom}
   */
  random?: RandomSource | undefined;
  /** Aborting it stops the agent. */
  signal?: AbortSignal | undefined;
}
