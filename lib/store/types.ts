/**
 * The store's vocabulary: the records it keeps, the typed changes a runtime
 * may ask for ({@linkcode StoreChange}), and the two interfaces, a read-only
 * {@linkcode StoreView} (what runtimes get) and the {@linkcode Store} (what
 * the router commits to).
 *
 * Times are milliseconds since the epoch (`...Ms`); fingerprints are the
 * 64-hex-digit lowercase form; JSON columns hold JSON values.
 *
 * @module
 */

import type { StoreError } from "./errors.ts";
import type { Page, PageQuery } from "./page.ts";
import type {
  DmpTrace,
  Fact,
  FreeForm,
  HumanState,
  JsonObject,
  PeerTrust,
  Presence,
  ReplayEntry,
  SourceTrustTier,
} from "../envelope/mod.ts";

/** Which trust machine a record belongs to: CIP peer trust or HCP social trust. */
export type TrustMachine = "cip" | "hcp";

/** Social trust of one human relation (HCP). */
export type SocialTrust = "untrusted" | "probing" | "trusted" | "restricted";

/** A state of either trust machine. */
export type TrustState = PeerTrust | SocialTrust;

/**
 * The current trust of one subject (a CIP peer or an HCP person) with the
 * counters its machine needs between events.
 */
export interface TrustRecord {
  /** Which machine. */
  machine: TrustMachine;
  /** The peer's or person's fingerprint. */
  subject: string;
  /** The current state. */
  state: TrustState;
  /** When the current state was entered. */
  sinceMs: number;
  /** Until when a return to `probing` is refused (CIP); 0 when none. */
  cooldownUntilMs: number;
  /** Conflicts and unverifiable claims counted while `untrusted` (CIP). */
  maliceCount: number;
  /**
   * Times of recent strikes inside the machine's window: unverifiable
   * claims (CIP) or misunderstandings (HCP), oldest first.
   */
  strikesMs: number[];
}

/**
 * One entry of the trust log: a transition, or an event the machine
 * ignored or only counted (`changed: false`).
 */
export interface TrustLogEntry {
  /** Which machine. */
  machine: TrustMachine;
  /** The peer's or person's fingerprint (always the authenticated one). */
  subject: string;
  /** When. */
  atMs: number;
  /** What happened (`valid_handshake`, `consent_revoked`, ...). */
  event: string;
  /** State before. */
  from: TrustState;
  /** State after (equal to `from` when ignored). */
  to: TrustState;
  /** Whether the state changed. */
  changed: boolean;
  /** Why, in words a reader of the log understands. */
  reason: string;
  /** The named human who decided (manual override, anchors). */
  actor?: string | undefined;
  /** `msg_id`s of the envelopes that are the evidence (may be empty). */
  evidence: string[];
}

/** A logged trust entry as read back, with its row id. */
export interface StoredTrustLogEntry extends TrustLogEntry {
  /** Row id, increasing with time. */
  id: number;
}

/** Status of a claim in the CIP claim ledger or the LIP queue. */
export type ClaimStatus = "pending" | "accepted" | "disputed" | "rejected";

/** One claim of the CIP claim ledger (a received `FACT_PROPOSE`). */
export interface ClaimRecord {
  /** The `FACT_PROPOSE` `msg_id`. */
  id: string;
  /** The authenticated peer that proposed it. */
  peer: string;
  /** The fact as proposed. */
  fact: Fact;
  /** Its DMP trace. */
  trace: DmpTrace;
  /** Its causal links (may be empty). */
  links: FreeForm[];
  /** `fact.context.subject`, when the fact names one. */
  subject?: string | undefined;
  /** RFC 8785 canonical JSON of `fact.context.value`, when a subject is named. */
  valueCanon?: string | undefined;
  /** Where it stands. */
  status: ClaimStatus;
  /** Why it stands there (`contradicts_accepted`, `untrusted_source`, ...). */
  reason: string;
  /** When it was received. */
  createdMs: number;
  /** When its status last changed. */
  updatedMs: number;
}

/** What a vote on a claim says. */
export type VoteKind = "confirm" | "reject" | "challenge";

/** One `FACT_CONFIRM`, `FACT_REJECT` or `FACT_CHALLENGE` on a claim. */
export interface ClaimVote {
  /** The claim (`fact_ref`). */
  claimId: string;
  /** The authenticated peer that voted. */
  peer: string;
  /** The vote's `msg_id`. */
  msgId: string;
  /** What it says. */
  kind: VoteKind;
  /** A challenge's reason, or a confirmation's notes (may be empty). */
  reason: string;
  /** The voter's confidence, 0..1 (1 for challenges). */
  confidence: number;
  /** Whether the voter was `trusted` when the vote arrived (only those count). */
  counted: boolean;
  /** When. */
  atMs: number;
}

/** One accepted fact of causal memory. */
export interface CausalFact {
  /** Its id: the `FACT_PROPOSE` `msg_id` or the LIP claim id. */
  id: string;
  /** Where it came from. */
  origin: "cip" | "lip";
  /** The fact. */
  fact: Fact;
  /** `fact.context.subject`, if named. */
  subject?: string | undefined;
  /** Canonical JSON of `fact.context.value`, if a subject is named. */
  valueCanon?: string | undefined;
  /** When it was accepted. */
  acceptedMs: number;
}

/** One link of causal memory: `from` -[relation]-> `ref`. */
export interface CausalLink {
  /** The accepted fact the link belongs to. */
  from: string;
  /** The relation (`causes`, `supports`, `contradicts`, ...). */
  relation: string;
  /** What it points at (a msg_id or another reference). */
  ref: string;
}

/** One entry of decision memory (a `DECISION_SHARE` or a DMP trace). */
export interface DecisionRecord {
  /** The trace's `decision_id`. */
  decisionId: string;
  /** The authenticated peer that shared it. */
  peer: string;
  /** The envelope's `msg_id`. */
  msgId: string;
  /** The decision's choice. */
  choice: string;
  /** Its outcome. */
  outcome: string;
  /** Its context, if any. */
  context?: FreeForm | undefined;
  /** The trace. */
  trace: DmpTrace;
  /** The retrospective, if any. */
  retrospective?: string | undefined;
  /** When it was stored. */
  atMs: number;
}

/** A CIP peer's last reported presence and load (from `STATE_UPDATE` or the `state` block). */
export interface PresenceRecord {
  /** The authenticated peer. */
  peer: string;
  /** Its presence. */
  presence: Presence;
  /** Its load index, 0..100. */
  lri: number;
  /** Its reported view of us (`ltppeerstate`), if it sent one. */
  peerView?: PeerTrust | undefined;
  /** Kernel signals (may be empty). */
  kernelSignals: string[];
  /** Its current intent, if any. */
  intent?: string | undefined;
  /** When the report arrived. */
  updatedMs: number;
}

/** Where a CIP handshake with one peer stands. */
export type HandshakeStage = "hello_sent" | "hello_answered" | "verified";

/** The per-peer CIP handshake state. */
export interface HandshakeRecord {
  /** The authenticated peer. */
  peer: string;
  /** Who opened: we (`initiator`) or they (`responder`: we answered). */
  role: "initiator" | "responder";
  /** Where it stands. */
  stage: HandshakeStage;
  /** Our `session_nonce` (base64). */
  ourNonce: string;
  /** Our `challenge` (base64). */
  ourChallenge: string;
  /** The `msg_id` of our HELLO. */
  ourHelloId: string;
  /** Their `session_nonce`, once known. */
  theirNonce?: string | undefined;
  /** The `msg_id` of their HELLO, once known. */
  theirHelloId?: string | undefined;
  /** When it started. */
  startedMs: number;
  /** When an unfinished handshake expires. */
  deadlineMs: number;
}

/** The enrolled person of HCP and what the agent knows about them. */
export interface PersonRecord {
  /** The person's fingerprint. */
  person: string;
  /** Name and role from `HCP_HELLO`, once known. */
  identity?: { name: string; role: string } | undefined;
  /** Consent. */
  consent: "granted" | "limited" | "revoked";
  /** `kind:value` entries from `HCP_HELLO`. */
  consentScope: string[];
  /** Safety flags from `HCP_HELLO`. */
  safetyFlags: string[];
  /** The last human-state vector, if any. */
  humanState?: HumanState | undefined;
  /** Whether an explicit check-in is required before the next action. */
  checkInRequired: boolean;
  /** Runtime-specific extra state (HCP owns its keys). */
  data: JsonObject;
  /** When last updated. */
  updatedMs: number;
}

/** One item of the LIP deferred-acceptance queue. */
export interface LipQueueItem {
  /** The item's id (chosen by the LIP runtime, unique). */
  id: string;
  /** The authenticated peer (or person) that delivered it. */
  peer: string;
  /** The `LIP_EVIDENCE` `msg_id`. */
  msgId: string;
  /** The source's URI. */
  sourceUri: string;
  /** The tier the source had when the item was queued. */
  tier: SourceTrustTier;
  /** The source's `retrieved_at` (RFC 3339). */
  retrievedAt: string;
  /** The claim. */
  claim: FreeForm;
  /** Evidence for it. */
  evidence: FreeForm[];
  /** Confidence, 0..1. */
  confidence: number;
  /** Queue status. */
  status: ClaimStatus;
  /** Why (`low_trust`, `expired`, `corroborated`, ...). */
  reason: string;
  /** Fingerprints of trusted peers that corroborated it. */
  corroborators: string[];
  /** Fingerprints of trusted peers that disputed it (`LIP_CONFLICT`, `LIP_REJECT`). */
  disputers?: string[] | undefined;
  /** When it was queued. */
  createdMs: number;
  /** When a pending item expires (as rejected). */
  expiresMs: number;
  /** When last changed. */
  updatedMs: number;
}

/** The trust tier of one internet source and its track record. */
export interface LipSourceRecord {
  /** The source (an origin or URI, as the LIP runtime keys it). */
  uri: string;
  /** Its current tier. */
  tier: SourceTrustTier;
  /** Claims from it later accepted. */
  accurate: number;
  /** Claims from it later rejected or disputed. */
  inaccurate: number;
  /** When last changed. */
  updatedMs: number;
}

/**
 * One state change a runtime (or the router) asks for. A list of them is
 * applied by {@linkcode Store.commit} in one transaction: all or nothing.
 */
export type StoreChange =
  /** Upserts a subject's trust record. */
  | { kind: "trust.state"; record: TrustRecord }
  /** Appends a transition (or ignored event) and its evidence rows. */
  | { kind: "trust.log"; entry: TrustLogEntry }
  /** Inserts a new claim or replaces an existing one (same `id`). */
  | { kind: "claim.upsert"; claim: ClaimRecord }
  /** Records a vote; a second vote of the same kind by the same peer replaces it. */
  | { kind: "claim.vote"; vote: ClaimVote }
  /** Adds an accepted fact and its links to causal memory. */
  | { kind: "causal.add"; fact: CausalFact; links: CausalLink[] }
  /** Adds a decision to decision memory (same `decisionId` and peer: replaced). */
  | { kind: "decision.add"; decision: DecisionRecord }
  /** Sets a peer's presence and load. */
  | { kind: "presence.set"; record: PresenceRecord }
  /** Sets a peer's handshake state. */
  | { kind: "handshake.set"; record: HandshakeRecord }
  /** Forgets a peer's handshake state. */
  | { kind: "handshake.clear"; peer: string }
  /** Upserts the person record. */
  | { kind: "person.upsert"; person: PersonRecord }
  /** Inserts or replaces a LIP queue item. */
  | { kind: "lip.upsert"; item: LipQueueItem }
  /** Upserts a LIP source's tier and record. */
  | { kind: "lip.source"; source: LipSourceRecord }
  /** Remembers a replay-guard pair (the envelope layer's `ReplayEntry`). */
  | { kind: "replay.add"; entry: ReplayEntry };

/** The kind names of {@linkcode StoreChange}. */
export type StoreChangeKind = StoreChange["kind"];

/** The per-peer count quotas, by what they bound (see {@linkcode StoreQuotas}). */
export type CountQuotaName = "claims" | "lip_queue" | "evidence" | "replay";

/**
 * Every quota, by what it bounds: the count quotas, a peer's stored
 * `bytes`, and the store's total (`node_bytes`; see {@linkcode ByteQuotas}).
 */
export type QuotaName = CountQuotaName | "bytes" | "node_bytes";

/**
 * The byte-quota level a commit is charged at: `trusted` for the person,
 * the agent itself and peers `trusted` at that moment (anchors included),
 * `probing` for everyone else (`untrusted` and `probing` peers).
 */
export type ByteLevel = "probing" | "trusted";

/**
 * The store's byte quotas. A row costs its encoded size (the octets of its
 * columns, as SQLite stores them: UTF-8 text, numbers as their decimal
 * text) plus a fixed 192 bytes per row (`ROW_OVERHEAD_BYTES`: the b-tree cell, its
 * index entries and page slack), and counts against the peer it
 * belongs to (a claim's proposer, a vote's voter, a replay pair's sender, a
 * trust-log entry's subject, ...); accepted knowledge and source tiers count
 * only toward the total. A commit charged to a peer
 * ({@linkcode CommitOptions.charge}) is refused, with nothing written, when
 * the peer is already at its limit or the total at its cap, or when what it
 * adds would take either over.
 */
export interface ByteQuotas {
  /** Bytes one peer charged at level `probing` may hold. @default {1048576} (1 MiB) */
  probing: number;
  /** Bytes one peer charged at level `trusted` may hold. @default {67108864} (64 MiB) */
  trusted: number;
  /** Bytes the whole store may hold (every peer's and the node's own rows). @default {1073741824} (1 GiB) */
  total: number;
  /**
   * Bytes of `total` kept for level `trusted` (the person, anchors, trusted
   * peers): a `probing` commit may not take the total above
   * `total - reserved`, so strangers together can never fill the rest.
   * @default {536870912} (512 MiB)
   */
  reserved: number;
}

/** Who a commit is charged to, for the byte quotas. */
export interface ByteCharge {
  /** The peer whose message the commit carries (its data is what grows). */
  peer: string;
  /** The level of its byte quota. */
  level: ByteLevel;
}

/** Per-peer count limits of the store (see each field); bytes are in {@linkcode ByteQuotas}. */
export interface StoreQuotas {
  /** Claims, votes and decisions stored per peer. @default {10000} */
  claims: number;
  /** LIP queue items per delivering peer. @default {10000} */
  lip_queue: number;
  /**
   * Trust log entries per subject. Over it, the oldest ignored entries
   * are dropped first (retention); only if transitions alone fill it is
   * the commit refused. @default {10000}
   */
  evidence: number;
  /** Remembered replay pairs per sender. @default {100000} */
  replay: number;
}

/** Options of the trust log's retention. */
export interface RetentionPolicy {
  /**
   * Ignored (non-changing) trust log entries older than this are deleted at
   * the next commit touching the log. @default {604800000} (7 days)
   */
  ignoredMaxAgeMs: number;
  /**
   * Replay pairs whose envelope time is older than this before now are
   * deleted: they can no longer pass the timestamp check anyway.
   * @default {240000}
   */
  replayWindowMs: number;
}

/** Filter of {@linkcode StoreView.trustLog}. */
export interface TrustLogQuery {
  /** Only this machine. */
  machine?: TrustMachine | undefined;
  /** Only entries at or after this time. */
  sinceMs?: number | undefined;
  /** The most entries returned (newest kept). @default {1000} */
  limit?: number | undefined;
}

/** Read access to everything the store holds: what runtimes are given. */
export interface StoreView {
  /** A subject's trust record, if one exists. */
  trust(machine: TrustMachine, subject: string): TrustRecord | undefined;
  /** A subject's trust log, oldest first. */
  trustLog(subject: string, query?: TrustLogQuery): StoredTrustLogEntry[];
  /** A claim by its id. */
  claim(id: string): ClaimRecord | undefined;
  /** Claims proposed by a peer, optionally of one status, oldest first. */
  claimsBy(peer: string, status?: ClaimStatus): ClaimRecord[];
  /** Claims about a domain and subject, oldest first. */
  claimsAbout(domain: string, subject: string): ClaimRecord[];
  /** Votes on a claim, oldest first. */
  votes(claimId: string): ClaimVote[];
  /** An accepted fact by id. */
  causalFact(id: string): CausalFact | undefined;
  /** Accepted facts about a domain and subject. */
  causalFactsAbout(domain: string, subject: string): CausalFact[];
  /**
   * The newest accepted facts of a domain, at most `limit` (1..1000, default 20).
   *
   * @throws {RangeError} If `limit` is out of range.
   */
  causalFactsIn(domain: string, limit?: number): CausalFact[];
  /** Links of causal memory from a fact, or pointing at `ref` when `direction` is `"to"`. */
  causalLinks(id: string, direction?: "from" | "to"): CausalLink[];
  /** A decision by its id. */
  decision(decisionId: string): DecisionRecord | undefined;
  /** A peer's presence and load, if reported. */
  presence(peer: string): PresenceRecord | undefined;
  /** A peer's handshake state, if any. */
  handshake(peer: string): HandshakeRecord | undefined;
  /** The person record, if enrolled. */
  person(person: string): PersonRecord | undefined;
  /** A LIP queue item. */
  lipItem(id: string): LipQueueItem | undefined;
  /** LIP queue items of one status (oldest first), at most `limit`. */
  lipItems(status: ClaimStatus, limit?: number): LipQueueItem[];
  /**
   * One page of the claims of one status, in the order they were first
   * stored (all peers). Throws `RangeError` for a limit outside 1..1000 or
   * a cursor that is not one.
   */
  claimsPage(status: ClaimStatus, query: PageQuery): Page<ClaimRecord>;
  /**
   * One page of the LIP queue items of one status, in the order they were
   * first queued. Throws `RangeError` like {@linkcode StoreView.claimsPage}.
   */
  lipItemsPage(status: ClaimStatus, query: PageQuery): Page<LipQueueItem>;
  /** A LIP source's record. */
  lipSource(uri: string): LipSourceRecord | undefined;
  /** Remembered replay pairs with envelope time at or after `sinceMs`, oldest first. */
  replayEntries(sinceMs: number): ReplayEntry[];
  /**
   * How much of a quota a peer uses now: rows for the count quotas, bytes
   * for `bytes`; for `node_bytes`, the store's total (whatever `peer`).
   */
  usage(peer: string, quota: QuotaName): number;
  /** The bytes the whole store counts now (see {@linkcode ByteQuotas}). */
  totalBytes(): number;
}

/** Options of {@linkcode Store.commit}. */
export interface CommitOptions {
  /** The time retention is measured from. @default {the store's clock} */
  nowMs?: number | undefined;
  /**
   * The peer whose message this commit carries and its level: its byte
   * quota and the store's total are checked (before anything is written,
   * and again after), and an over-quota commit throws
   * `QuotaExceededError` with nothing stored. Without it, bytes are counted
   * but refuse nothing (the agent's own outcomes, sanctions). For
   * `commitBatch`, every list is charged to it.
   */
  charge?: ByteCharge | undefined;
}

/** What a commit did. */
export interface CommitResult {
  /** Changes applied. */
  applied: number;
  /** Old trust-log entries and replay pairs removed by retention. */
  pruned: number;
}

/**
 * The agent's state: a {@linkcode StoreView} plus the one way to change it.
 */
export interface Store extends StoreView, Disposable {
  /** The schema version of the open database. */
  readonly schemaVersion: number;
  /** The per-peer count quotas in force. */
  readonly quotas: Readonly<StoreQuotas>;
  /** The byte quotas in force. */
  readonly byteQuotas: Readonly<ByteQuotas>;
  /** The WAL file's bound in bytes: checkpointed past it, truncated back to it. */
  readonly walBytes: number;
  /**
   * Applies every change in one transaction, checks the quotas, and
   * commits; on any error nothing of `changes` is stored (time-based
   * retention of old ignored log entries and replay pairs may still run).
   *
   * @throws {QuotaExceededError} If a peer would go over a quota.
   * @throws {StoreError} If the store is closed or a change is invalid.
   */
  commit(changes: readonly StoreChange[], options?: CommitOptions): CommitResult;
  /**
   * Group commit: several change lists (one per message) in one
   * transaction, each all or nothing on its own; a refused list's error is
   * returned in its place and the others commit.
   *
   * @throws {StoreError} If the store is closed.
   */
  commitBatch(
    batches: readonly (readonly StoreChange[])[],
    options?: CommitOptions,
  ): (CommitResult | StoreError)[];
  /** Whether a write group is open. */
  readonly inGroup: boolean;
  /**
   * Opens a write group: later `commit`s share one transaction (each list
   * all or nothing on its own) and become durable together at `endGroup`.
   *
   * @throws {StoreError} If the store is closed or a group is already open.
   */
  beginGroup(options?: CommitOptions): void;
  /**
   * Commits the open group.
   *
   * @throws {StoreError} If no group is open; the database's error if the commit fails.
   */
  endGroup(): void;
  /**
   * Rolls the open group back.
   *
   * @throws {StoreError} If no group is open.
   */
  abortGroup(): void;
  /** `PRAGMA integrity_check`: `"ok"` or the problems found. */
  integrityCheck(): string;
  /** Closes the database; safe to call twice. */
  close(): void;
}
