/**
 * The store's schema as an ordered list of migrations. `PRAGMA user_version`
 * holds the version applied; `schema_migrations` records when each
 * migration ran. A migration is only ever appended, never edited.
 *
 * @module
 */

import { COUNT_FUNCTION } from "./counters.ts";

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

/**
 * What a stored row costs beyond its columns' octets, in the byte quotas:
 * the b-tree cell (header, pointer, rowid), its index entries and page
 * slack. Measured on SQLite 3.53 with 4 KiB pages: a replay pair (108
 * octets) takes ~263 bytes of file, a small claim (~320 octets) ~490
 * bytes; 192 keeps the counted size at or above that, and a large row
 * (overflow pages, 4 bytes of header per 4 KiB) costs about its octets.
 */
export const ROW_OVERHEAD_BYTES = 192;

/** Where the byte quota of a table's rows is counted. */
interface _Counted {
  /** The table. */
  table: string;
  /** Its text columns: their octets count. */
  text: readonly string[];
  /** How many integer and real columns it has: 8 bytes each. */
  numbers: number;
  /** The column naming the peer the row belongs to; none: the node's own (the total only). */
  peer?: string;
  /** Whether its rows are updated in place (an upsert's `DO UPDATE`): a trigger counts the change. */
  updated?: boolean;
}

/** The encoded size of a row (`NEW`, `OLD`, or a table alias) in the byte quotas. */
const _rowBytes = (ref: string, c: Pick<_Counted, "text" | "numbers">): string =>
  `(${ROW_OVERHEAD_BYTES + 8 * c.numbers} + ${
    c.text.map((col) => `ifnull(octet_length(${ref}.${col}), 0)`).join(" + ")
  })`;

/** The node-wide row of the byte counters (`quota_usage.peer`; fingerprints are hex). */
const _NODE = "'*'";

/** Adds `bytes` to the peer's counter (if any) and to the node's total. */
const _addBytes = (peer: string | undefined, bytes: string): string =>
  `INSERT INTO quota_usage(peer, quota, n) SELECT p.who, 'bytes', b.n
    FROM (SELECT ${bytes} AS n) b,
      (${peer === undefined ? "" : `SELECT ${peer} AS who UNION ALL `}SELECT ${_NODE} AS who) p
    WHERE true ON CONFLICT(peer, quota) DO UPDATE SET n = n + excluded.n;`;

/** Takes `bytes` off the peer's counter (if any) and the node's total. */
const _subBytes = (peer: string | undefined, bytes: string): string =>
  `UPDATE quota_usage SET n = n - ${bytes} WHERE quota = 'bytes' AND peer IN (${
    peer === undefined ? _NODE : `${peer}, ${_NODE}`
  });`;

/** Triggers keeping a table's byte counters, and the counters of the rows it holds already. */
const _byteCounters = (c: _Counted): string => {
  const { table, peer } = c;
  const at = (ref: string) => peer === undefined ? undefined : `${ref}.${peer}`;
  const add = _addBytes(at("NEW"), _rowBytes("NEW", c));
  const sub = _subBytes(at("OLD"), _rowBytes("OLD", c));
  const current = _rowBytes("r", c);
  return `
CREATE TRIGGER ${table}_bytes_ins AFTER INSERT ON ${table} BEGIN ${add} END;
CREATE TRIGGER ${table}_bytes_del AFTER DELETE ON ${table} BEGIN ${sub} END;
${
    c.updated === true
      ? `CREATE TRIGGER ${table}_bytes_upd AFTER UPDATE ON ${table} BEGIN ${sub} ${add} END;`
      : ""
  }
${
    peer === undefined ? "" : `INSERT INTO quota_usage(peer, quota, n)
  SELECT r.${peer}, 'bytes', SUM(${current}) FROM ${table} r WHERE true GROUP BY r.${peer}
  ON CONFLICT(peer, quota) DO UPDATE SET n = n + excluded.n;`
  }
UPDATE quota_usage SET n = n + (SELECT ifnull(SUM(${current}), 0) FROM ${table} r)
  WHERE peer = ${_NODE} AND quota = 'bytes';`;
};

/** The replay pairs' byte counting. */
const _REPLAY: _Counted = {
  table: "replay",
  peer: "sender",
  text: ["sender", "msg_id"],
  numbers: 1,
};

/** Every table the byte quotas count, with the peer its rows belong to. */
const _COUNTED: readonly _Counted[] = [
  {
    table: "trust",
    peer: "subject",
    text: ["machine", "subject", "state", "strikes_json"],
    numbers: 3,
    updated: true,
  },
  {
    table: "trust_log",
    peer: "subject",
    text: ["machine", "subject", "event", "from_state", "to_state", "reason", "actor"],
    numbers: 3,
  },
  {
    table: "claims",
    peer: "peer",
    text: [
      "id",
      "peer",
      "domain",
      "subject",
      "value_canon",
      "status",
      "reason",
      "fact_json",
      "trace_json",
      "links_json",
    ],
    numbers: 2,
    updated: true,
  },
  {
    table: "claim_votes",
    peer: "peer",
    text: ["claim_id", "peer", "kind", "msg_id", "reason"],
    numbers: 3,
    updated: true,
  },
  {
    table: "causal_facts",
    text: ["id", "origin", "domain", "subject", "value_canon", "fact_json"],
    numbers: 1,
  },
  { table: "causal_links", text: ["from_id", "relation", "ref"], numbers: 0 },
  {
    table: "decisions",
    peer: "peer",
    text: [
      "decision_id",
      "peer",
      "msg_id",
      "choice",
      "outcome",
      "context_json",
      "trace_json",
      "retrospective",
    ],
    numbers: 1,
    updated: true,
  },
  {
    table: "presence",
    peer: "peer",
    text: ["peer", "presence", "peer_view", "kernel_json", "intent"],
    numbers: 2,
  },
  {
    table: "handshakes",
    peer: "peer",
    text: [
      "peer",
      "role",
      "stage",
      "our_nonce",
      "our_challenge",
      "our_hello_id",
      "their_nonce",
      "their_hello_id",
    ],
    numbers: 2,
  },
  { table: "persons", peer: "person", text: ["person", "record_json"], numbers: 1 },
  {
    table: "lip_queue",
    peer: "peer",
    text: ["id", "peer", "status", "record_json"],
    numbers: 2,
    updated: true,
  },
  { table: "lip_sources", text: ["uri", "tier"], numbers: 3 },
  _REPLAY,
];

/** Trust evidence rows count toward their log entry's subject (and go with the entry). */
const _EVIDENCE = { text: ["msg_id"], numbers: 2 } as const;
const _evidenceCounters = (): string => {
  const sum = `(SELECT ifnull(SUM(${
    _rowBytes("e", _EVIDENCE)
  }), 0) FROM trust_evidence e WHERE e.log_id = OLD.id)`;
  return `
CREATE TRIGGER trust_evidence_bytes_ins AFTER INSERT ON trust_evidence BEGIN
  ${_addBytes("(SELECT subject FROM trust_log WHERE id = NEW.log_id)", _rowBytes("NEW", _EVIDENCE))}
END;
CREATE TRIGGER trust_log_evidence_bytes_del BEFORE DELETE ON trust_log BEGIN
  ${_subBytes("OLD.subject", sum)}
END;
INSERT INTO quota_usage(peer, quota, n)
  SELECT l.subject, 'bytes', SUM(${_rowBytes("e", _EVIDENCE)})
  FROM trust_evidence e JOIN trust_log l ON l.id = e.log_id WHERE true GROUP BY l.subject
  ON CONFLICT(peer, quota) DO UPDATE SET n = n + excluded.n;
UPDATE quota_usage SET n = n + (SELECT ifnull(SUM(${
    _rowBytes("e", _EVIDENCE)
  }), 0) FROM trust_evidence e)
  WHERE peer = ${_NODE} AND quota = 'bytes';`;
};

/** The tables whose rows count against a count quota: `[table, peer column, quota]`. */
const _COUNT_QUOTAS: readonly (readonly [string, string, string])[] = [
  ["trust_log", "subject", "evidence"],
  ["claims", "peer", "claims"],
  ["claim_votes", "peer", "claims"],
  ["decisions", "peer", "claims"],
  ["lip_queue", "peer", "lip_queue"],
  ["replay", "sender", "replay"],
];

/**
 * One call of the counting function (`QuotaCounters`, `counters.ts`): `rows`
 * to the peer's count quota (when `quota` is given), `bytes` to the peer's
 * byte counter (when `peer` is not NULL) and to the node's total.
 */
const _counted = (
  peer: string | undefined,
  quota: string | undefined,
  rows: string,
  bytes: string,
) =>
  `SELECT ${COUNT_FUNCTION}(${peer ?? "NULL"}, ${
    quota === undefined ? "NULL" : `'${quota}'`
  }, ${rows}, ${bytes});`;

/**
 * Migration 3, part 2: every counting trigger made again to count in
 * memory, through the store's counting function (one trigger per table and
 * event, one call each), instead of updating `quota_usage` row by row; the
 * store writes the counters once per transaction, right before its
 * `COMMIT`. The values are unchanged; only how they are kept.
 */
const _countersInMemory = (): string => {
  const quotaOf = new Map(_COUNT_QUOTAS.map(([table, , quota]) => [table, quota]));
  const triggers: string[] = [];
  const trigger = (name: string, when: string, table: string, body: string) =>
    triggers.push(`CREATE TRIGGER ${name} ${when} ON ${table} BEGIN ${body} END;`);
  for (const c of _COUNTED) {
    const { table, peer } = c;
    const quota = quotaOf.get(table);
    const at = (ref: string) => peer === undefined ? undefined : `${ref}.${peer}`;
    const added = _rowBytes("NEW", c);
    const removed = `-${_rowBytes("OLD", c)}`;
    trigger(`${table}_count_ins`, "AFTER INSERT", table, _counted(at("NEW"), quota, "1", added));
    trigger(`${table}_count_del`, "AFTER DELETE", table, _counted(at("OLD"), quota, "-1", removed));
    if (c.updated === true) {
      trigger(
        `${table}_count_upd`,
        "AFTER UPDATE",
        table,
        `${_counted(at("OLD"), undefined, "0", removed)} ${
          _counted(at("NEW"), undefined, "0", added)
        }`,
      );
    }
  }
  trigger(
    "trust_evidence_count_ins",
    "AFTER INSERT",
    "trust_evidence",
    _counted(
      "(SELECT subject FROM trust_log WHERE id = NEW.log_id)",
      undefined,
      "0",
      _rowBytes("NEW", _EVIDENCE),
    ),
  );
  trigger(
    "trust_log_evidence_count_del",
    "BEFORE DELETE",
    "trust_log",
    _counted(
      "OLD.subject",
      undefined,
      "0",
      `-(SELECT ifnull(SUM(${
        _rowBytes("e", _EVIDENCE)
      }), 0) FROM trust_evidence e WHERE e.log_id = OLD.id)`,
    ),
  );
  return triggers.join("\n");
};

/** The names of every counting trigger (the ones migrations 1 and 2 made, and migration 3 again). */
const _countingTriggers = (): string[] => [
  ..._COUNT_QUOTAS.flatMap(([table]) => [`${table}_usage_ins`, `${table}_usage_del`]),
  ..._COUNTED.flatMap((
    { table },
  ) => [`${table}_bytes_ins`, `${table}_bytes_del`, `${table}_bytes_upd`]),
  "trust_evidence_bytes_ins",
  "trust_log_evidence_bytes_del",
];

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
  {
    version: 2,
    name: "byte_quotas",
    // Byte counters per peer ('bytes') and for the node ('*'), kept by
    // triggers and computed here for the rows already stored. A
    // REPLACE's delete fires the delete triggers (the store opens with
    // recursive_triggers on).
    sql: `
INSERT INTO quota_usage(peer, quota, n) VALUES (${_NODE}, 'bytes', 0);
${_COUNTED.map(_byteCounters).join("\n")}
${_evidenceCounters()}
`,
  },
  {
    version: 3,
    name: "replay_by_time_counters_in_memory",
    // Two changes to the write path of every message. (1) The replay pairs
    // keyed by envelope time instead of (sender, msg_id): a fresh msg_id is
    // random, so each pair used to land on a random leaf of the primary
    // key (plus an append to the time index), and every commit wrote those
    // scattered pages to the WAL; keyed by time, a pair is an append to one
    // b-tree, and pruning by age is a range at its start. A pair added
    // again at the same time changes nothing, as before (the router adds a
    // pair only after its replay guard accepted it). (2) The counting
    // triggers call the store's counting functions instead of updating
    // quota_usage row by row: the counts are added up in memory and written
    // once per transaction, right before its COMMIT, so the counters on
    // disk still equal their rows at every commit. The rows, their counts
    // and their bytes are unchanged, so the counters stay as they are: the
    // pairs are copied back while no trigger is on the table (through a
    // second table: no temporary file, and no rename, which would rewrite
    // the whole schema). The store registers the functions on its
    // connection before it migrates.
    sql: `
${_countingTriggers().map((name) => `DROP TRIGGER IF EXISTS ${name};`).join("\n")}
CREATE TABLE replay_by_time (
  ts_ms INTEGER NOT NULL,
  sender TEXT NOT NULL,
  msg_id TEXT NOT NULL,
  PRIMARY KEY (ts_ms, sender, msg_id)
) WITHOUT ROWID;
INSERT INTO replay_by_time SELECT ts_ms, sender, msg_id FROM replay;
DROP TABLE replay;
CREATE TABLE replay (
  ts_ms INTEGER NOT NULL,
  sender TEXT NOT NULL,
  msg_id TEXT NOT NULL,
  PRIMARY KEY (ts_ms, sender, msg_id)
) WITHOUT ROWID;
INSERT INTO replay SELECT ts_ms, sender, msg_id FROM replay_by_time;
DROP TABLE replay_by_time;
${_countersInMemory()}
`,
  },
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]!.version;
