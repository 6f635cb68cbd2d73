/**
 * The store's schema as an ordered list of migrations. `PRAGMA user_version`
 * holds the version applied; `schema_migrations` records when each
 * migration ran. A migration is only ever appended, never edited.
 *
 * @module
 */

/** One schema migration. */
export interface Migration {
  /** The version the database has after it (1, 2, ...). */
  version: number;
  /** A short name. */
  name: string;
  /** The SQL, run in one transaction with the version bump. */
  sql: string;
}

/** Per-peer usage counters kept by triggers, read for the quota checks. */
const _usageTrigger = (table: string, column: string, quota: string): string => `
CREATE TRIGGER ${table}_usage_ins AFTER INSERT ON ${table} BEGIN
  INSERT INTO quota_usage(peer, quota, n) VALUES (NEW.${column}, '${quota}', 1)
    ON CONFLICT(peer, quota) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER ${table}_usage_del AFTER DELETE ON ${table} BEGIN
  UPDATE quota_usage SET n = n - 1 WHERE peer = OLD.${column} AND quota = '${quota}';
END;`;

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial",
    sql: `
CREATE TABLE schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_ms INTEGER NOT NULL
);
CREATE TABLE quota_usage (
  peer TEXT NOT NULL,
  quota TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (peer, quota)
) WITHOUT ROWID;

CREATE TABLE trust (
  machine TEXT NOT NULL CHECK (machine IN ('cip', 'hcp')),
  subject TEXT NOT NULL,
  state TEXT NOT NULL,
  since_ms INTEGER NOT NULL,
  cooldown_until_ms INTEGER NOT NULL,
  malice_count INTEGER NOT NULL,
  strikes_json TEXT NOT NULL,
  PRIMARY KEY (machine, subject)
) WITHOUT ROWID;
CREATE TABLE trust_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  machine TEXT NOT NULL CHECK (machine IN ('cip', 'hcp')),
  subject TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  event TEXT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  changed INTEGER NOT NULL CHECK (changed IN (0, 1)),
  reason TEXT NOT NULL,
  actor TEXT
);
CREATE INDEX trust_log_subject ON trust_log (subject, id);
CREATE INDEX trust_log_ignored ON trust_log (changed, at_ms);
CREATE TABLE trust_evidence (
  log_id INTEGER NOT NULL REFERENCES trust_log (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  msg_id TEXT NOT NULL,
  PRIMARY KEY (log_id, seq)
) WITHOUT ROWID;
${_usageTrigger("trust_log", "subject", "evidence")}

CREATE TABLE claims (
  id TEXT PRIMARY KEY,
  peer TEXT NOT NULL,
  domain TEXT NOT NULL,
  subject TEXT,
  value_canon TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'disputed', 'rejected')),
  reason TEXT NOT NULL,
  fact_json TEXT NOT NULL,
  trace_json TEXT NOT NULL,
  links_json TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE INDEX claims_peer ON claims (peer, status, created_ms);
CREATE INDEX claims_subject ON claims (domain, subject) WHERE subject IS NOT NULL;
${_usageTrigger("claims", "peer", "claims")}
CREATE TABLE claim_votes (
  claim_id TEXT NOT NULL REFERENCES claims (id) ON DELETE CASCADE,
  peer TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('confirm', 'reject', 'challenge')),
  msg_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  confidence REAL NOT NULL,
  counted INTEGER NOT NULL CHECK (counted IN (0, 1)),
  at_ms INTEGER NOT NULL,
  PRIMARY KEY (claim_id, peer, kind)
);
${_usageTrigger("claim_votes", "peer", "claims")}

CREATE TABLE causal_facts (
  id TEXT PRIMARY KEY,
  origin TEXT NOT NULL CHECK (origin IN ('cip', 'lip')),
  domain TEXT NOT NULL,
  subject TEXT,
  value_canon TEXT,
  fact_json TEXT NOT NULL,
  accepted_ms INTEGER NOT NULL
);
CREATE INDEX causal_subject ON causal_facts (domain, subject) WHERE subject IS NOT NULL;
CREATE TABLE causal_links (
  from_id TEXT NOT NULL REFERENCES causal_facts (id) ON DELETE CASCADE,
  relation TEXT NOT NULL,
  ref TEXT NOT NULL,
  PRIMARY KEY (from_id, relation, ref)
) WITHOUT ROWID;
CREATE INDEX causal_links_ref ON causal_links (ref);

CREATE TABLE decisions (
  decision_id TEXT NOT NULL,
  peer TEXT NOT NULL,
  msg_id TEXT NOT NULL,
  choice TEXT NOT NULL,
  outcome TEXT NOT NULL,
  context_json TEXT,
  trace_json TEXT NOT NULL,
  retrospective TEXT,
  at_ms INTEGER NOT NULL,
  PRIMARY KEY (decision_id, peer)
);
${_usageTrigger("decisions", "peer", "claims")}

CREATE TABLE presence (
  peer TEXT PRIMARY KEY,
  presence TEXT NOT NULL,
  lri INTEGER NOT NULL CHECK (lri BETWEEN 0 AND 100),
  peer_view TEXT,
  kernel_json TEXT NOT NULL,
  intent TEXT,
  updated_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE handshakes (
  peer TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('initiator', 'responder')),
  stage TEXT NOT NULL CHECK (stage IN ('hello_sent', 'hello_answered', 'verified')),
  our_nonce TEXT NOT NULL,
  our_challenge TEXT NOT NULL,
  our_hello_id TEXT NOT NULL,
  their_nonce TEXT,
  their_hello_id TEXT,
  started_ms INTEGER NOT NULL,
  deadline_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE persons (
  person TEXT PRIMARY KEY,
  record_json TEXT NOT NULL,
  updated_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE lip_queue (
  id TEXT PRIMARY KEY,
  peer TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'disputed', 'rejected')),
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  record_json TEXT NOT NULL
);
CREATE INDEX lip_queue_status ON lip_queue (status, created_ms);
${_usageTrigger("lip_queue", "peer", "lip_queue")}
CREATE TABLE lip_sources (
  uri TEXT PRIMARY KEY,
  tier TEXT NOT NULL CHECK (tier IN ('unknown', 'low', 'medium', 'high', 'blocked')),
  accurate INTEGER NOT NULL,
  inaccurate INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE replay (
  sender TEXT NOT NULL,
  msg_id TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  PRIMARY KEY (sender, msg_id)
) WITHOUT ROWID;
CREATE INDEX replay_ts ON replay (ts_ms);
${_usageTrigger("replay", "sender", "replay")}
`,
  },
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]!.version;
