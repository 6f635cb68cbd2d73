// Issue 17, item 6 (wiping the audit trail), as an outsider: a fresh key,
// the public API (Agent, HcpClient, canonicalize, Identity.sign) and the
// docs (docs/schemas/limits.md, docs/event-contract-v1.md). The victim is
// configured as an operator would: an audit stream and an event log in
// files, the console's event hub. Each test asserts the refusal code, that
// the legitimate parties' entries are still readable, and the victim's
// memory and disk growth.
import assert from "node:assert/strict";
import { Agent, FixedLoadSource, HcpClient } from "../../lib/agent/mod.ts";
import { canonicalize, createEnvelope, SCHEMA_LIMITS } from "../../lib/envelope/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { type LipFetcher, LipFetchError } from "../../lib/lip/mod.ts";
import type { FetchRequest } from "../../lib/runtime/mod.ts";
import {
  AuditLog,
  type AuditLogOptions,
  JsonlFileSink,
  MemorySink,
  type Web4Event,
} from "../../lib/observability/mod.ts";
import type { DispatchResult } from "../../lib/router/mod.ts";
import { EventHub } from "../../cli/commands/serve.ts";

const HOST = "127.0.0.1";
const enc = new TextEncoder();

/** The operator's fetcher: refuses everything (no test reaches the network). */
class RefusingFetcher implements LipFetcher {
  readonly asked: FetchRequest[] = [];
  fetch(request: FetchRequest): Promise<never> {
    this.asked.push(request);
    return Promise.reject(new LipFetchError("not_allowed", "No fetches on this node"));
  }
}

interface Victim extends AsyncDisposable {
  agent: Agent;
  port: number;
  dir: string;
  audit: AuditLog;
  log: JsonlFileSink;
  hub: EventHub;
  sink: MemorySink;
  results: DispatchResult[];
  fetcher: RefusingFetcher;
  /** Resolves once `check` holds over the dispatch results (checked after each cycle). */
  seen(check: (results: DispatchResult[]) => boolean, timeoutMs?: number): Promise<void>;
}

async function victim(
  o: { anchors?: string[]; person?: string; audit?: AuditLogOptions } = {},
): Promise<Victim> {
  const dir = await Deno.makeTempDir({ prefix: "attack_audit_" });
  const audit = await AuditLog.open(`${dir}/audit.jsonl`, o.audit);
  const log = await JsonlFileSink.open(`${dir}/events.jsonl`, { maxBytes: 256 * 1024, keep: 1 });
  const hub = new EventHub();
  const sink = new MemorySink({ capacity: 20_000 });
  const fetcher = new RefusingFetcher();
  const agent = await Agent.create({
    identity: await Identity.generate({ agentId: "victim" }),
    mission: "verify water quality facts",
    store: ":memory:",
    load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
    loadIntervalMs: 0,
    sinks: [audit, log, hub, sink],
    trustAnchors: o.anchors ?? [],
    person: o.person,
    fetcher,
  });
  const results: DispatchResult[] = [];
  const waiting = new Set<() => void>();
  agent.on("afterCycle", (c) => {
    results.push(c.result);
    for (const wake of waiting) wake();
  });
  const seen = (check: (r: DispatchResult[]) => boolean, timeoutMs = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(wake);
        reject(new Error(`Not seen within ${timeoutMs} ms (${results.length} results)`));
      }, timeoutMs);
      const wake = () => {
        if (!check(results)) return;
        clearTimeout(timer);
        waiting.delete(wake);
        resolve();
      };
      waiting.add(wake);
      wake();
    });
  const { port } = await agent.listen({ hostname: HOST, port: 0 });
  return {
    agent,
    port,
    dir,
    audit,
    log,
    hub,
    sink,
    results,
    fetcher,
    seen,
    async [Symbol.asyncDispose]() {
      await agent.stop();
      await audit.close();
      await log.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function stranger(name: string): Promise<Agent> {
  return await Agent.create({
    identity: await Identity.generate({ agentId: name }),
    mission: "probe other agents",
    store: ":memory:",
    load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
    loadIntervalMs: 0,
  });
}

/** A signed CIP envelope built by hand (no schema check on the sender's side), as wire bytes. */
async function forged(
  from: Identity,
  to: { agentId: string; fingerprint: string },
  type: string,
  payload: Record<string, unknown>,
): Promise<Uint8Array> {
  const unsigned = {
    cip: "1.0",
    type,
    msg_id: crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    sender: {
      agent_id: from.agentId,
      fingerprint: from.fingerprint,
      capabilities: [],
      pubkey: from.publicKeyBase64,
    },
    receiver: { agent_id: to.agentId, fingerprint: to.fingerprint },
    payload,
  };
  const signature = await from.sign(enc.encode(canonicalize(unsigned)));
  return enc.encode(
    canonicalize({ ...unsigned, sign: { algo: "ed25519", signature: signature.toBase64() } }),
  );
}

function entriesOf(audit: AuditLog, peer: string): Web4Event[] {
  const out: Web4Event[] = [];
  let after = 0;
  for (;;) {
    const page = audit.read({ peer, after, limit: 50 });
    out.push(...page.entries.map((e) => e.event));
    if (page.next === null) return out;
    after = page.next;
  }
}

async function logLines(path: string): Promise<Web4Event[]> {
  const out: Web4Event[] = [];
  for (const file of [path, `${path}.1`]) {
    const text = await Deno.readTextFile(file).catch(() => "");
    for (const line of text.split("\n")) if (line !== "") out.push(JSON.parse(line));
  }
  return out;
}

Deno.test("Attack: 60 CIP ERRORs with 900 KB reasons from an untrusted peer are refused at validation; its handshake, LIP_FETCH and sanction stay readable", async () => {
  await using v = await victim();
  const me = v.agent.identity;
  await using attacker = await stranger("mallory");
  const mallory = attacker.identity.fingerprint;
  await attacker.connect({ hostname: HOST, port: v.port, fingerprint: me.fingerprint });
  await v.agent.until(() => v.agent.router.trust.peer(mallory) === "probing");

  // A LIP_FETCH of the victim's loopback (audited whatever the answer).
  const fetch = await attacker.askToFetch(me.fingerprint, `http://${HOST}:1/admin`);
  assert.equal(fetch.status, "sent");
  await v.seen((results) => results.some((r) => r.msgId === fetch.msgId));

  // A bad signature: the session's peer is sanctioned (probing -> untrusted).
  const good = await createEnvelope("cip", "STATE_UPDATE", {
    identity: attacker.identity,
    receiver: { agent_id: me.agentId, fingerprint: me.fingerprint },
    payload: { presence: "focused", lri: 10, ltppeerstate: "probing" },
  });
  const flipped = good.sign.signature.startsWith("A") ? "B" : "A";
  const bad = {
    ...good,
    sign: { ...good.sign, signature: flipped + good.sign.signature.slice(1) },
  };
  await attacker.sendFrame(me.fingerprint, "state", enc.encode(canonicalize(bad)));
  await v.agent.until(() => v.agent.router.trust.peer(mallory) === "untrusted");

  const before = entriesOf(v.audit, mallory);
  const kinds = new Set(before.map((e) => e.kind));
  assert.ok(kinds.has("cip.handshake"), "the handshake is audited");
  assert.ok(
    before.some((e) => e.kind.startsWith("lip.") && e.data.msg_id === fetch.msgId) ||
      before.some((e) => e.kind === "router.refused" && e.data.type === "LIP_FETCH"),
    "the LIP_FETCH is audited",
  );
  assert.ok(
    before.some((e) => e.kind === "trust.transition" && e.data.to === "untrusted"),
    "the sanction is audited",
  );

  // The flood: 60 signed ERRORs, each with a 900 KB reason (the envelope stays under 1 MiB).
  const reason = "x".repeat(900_000);
  const counted = v.results.length;
  for (let i = 0; i < 60; i++) {
    const wire = await forged(attacker.identity, me, "ERROR", {
      in_reply_to: crypto.randomUUID(),
      code: "wipe",
      reason,
    });
    await attacker.sendFrame(me.fingerprint, "control", wire);
  }
  await v.seen((results) => results.length >= counted + 60, 60_000);
  const flood = v.results.slice(counted);
  assert.equal(flood.length, 60);
  for (const r of flood) {
    assert.equal(r.status, "refused");
    assert.equal(r.code, "payload_schema", r.reason);
    assert.equal(r.replies.length, 0, "an error is never answered");
    assert.equal(r.effects.length, 0, "nothing committed");
  }
  assert.equal(v.sink.events("cip.error_received").length, 0, "no ERROR was accepted");
  const refused = v.sink.events("router.refused").filter((e) => e.peer === mallory);
  assert.ok(refused.length >= 60);
  assert.ok(refused.every((e) => e.data.code === "payload_schema" || e.data.type !== "ERROR"));

  // The audit trail of the attacker's own handshake, fetch and sanction is intact.
  assert.deepEqual(entriesOf(v.audit, mallory), before);
  // So is the event log (256 KiB files): nothing rotated the handshake away.
  await v.log.flush();
  const lines = await logLines(v.log.path);
  assert.ok(lines.some((e) => e.kind === "cip.handshake" && e.peer === mallory));
  let logBytes = 0;
  for (const f of [v.log.path, `${v.log.path}.1`]) {
    logBytes += (await Deno.stat(f).catch(() => ({ size: 0 }))).size;
  }
  assert.ok(logBytes < 256 * 1024, `the log grew by ${logBytes} bytes`);
  // And the console's event hub holds no 900 KB strings: its 500 events stay small.
  const hubBytes = JSON.stringify(v.hub.recent).length;
  assert.ok(hubBytes < 1024 * 1024, `the hub holds ${hubBytes} bytes`);
});

Deno.test("Attack: a flood of strangers' audit entries (throw-away keys) evicts only strangers' entries; the person's and an anchor's survive, across a restart", async () => {
  const anchorId = await Identity.generate({ agentId: "anchor" });
  const personId = await Identity.generate({ agentId: "ada" });
  const budget = { stranger: { entries: 24 } };
  await using v = await victim({
    anchors: [anchorId.fingerprint],
    person: personId.fingerprint,
    audit: { budgets: budget },
  });
  const me = v.agent.identity;
  await using anchor = await Agent.create({
    identity: anchorId,
    mission: "verify water quality facts",
    store: ":memory:",
    load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
    loadIntervalMs: 0,
  });
  await anchor.connect({ hostname: HOST, port: v.port, fingerprint: me.fingerprint });
  await using ada = await HcpClient.create({
    identity: personId,
    name: "Ada",
  });
  await ada.connect({ hostname: HOST, port: v.port, fingerprint: me.fingerprint });
  await ada.hello({ consent: "granted", consentScope: ["topic:water"] }); // her explicit choice
  await v.agent.until(() =>
    v.sink.events("hcp.consent_changed").length > 0 &&
    v.agent.router.trust.peer(anchorId.fingerprint) === "trusted"
  );
  const kept = {
    anchor: entriesOf(v.audit, anchorId.fingerprint),
    person: entriesOf(v.audit, personId.fingerprint),
  };
  assert.ok(kept.anchor.some((e) => e.kind === "cip.handshake"));
  assert.ok(kept.anchor.every((e) => e.level === "anchor"));
  assert.ok(kept.person.some((e) => e.kind === "hcp.consent_changed"));
  assert.ok(kept.person.every((e) => e.level === "person"));

  // 30 throw-away keys, each a handshake (several audit entries apiece), one at a time.
  const keys: string[] = [];
  for (let i = 0; i < 30; i++) {
    await using s = await stranger(`s${i}`);
    keys.push(s.identity.fingerprint);
    await s.connect({ hostname: HOST, port: v.port, fingerprint: me.fingerprint });
  }
  const stats = v.audit.stats().levels;
  assert.ok(stats.stranger.evicted > 0, "strangers rotated their own entries");
  assert.ok(stats.stranger.entries <= 24);
  assert.equal(stats.anchor.evicted, 0);
  assert.equal(stats.person.evicted, 0);
  assert.deepEqual(entriesOf(v.audit, anchorId.fingerprint), kept.anchor);
  assert.deepEqual(entriesOf(v.audit, personId.fingerprint), kept.person);
  // Within the strangers' room each key keeps a fair share: the heaviest gives up its oldest.
  assert.ok(entriesOf(v.audit, keys.at(-1)!).length >= 1, "the newest stranger is recorded");

  // The stream survives a restart: the file restores the same entries.
  await v.audit.flush();
  await using again = await AuditLog.open(v.audit.path!, { budgets: budget });
  assert.deepEqual(entriesOf(again, anchorId.fingerprint), kept.anchor);
  assert.deepEqual(entriesOf(again, personId.fingerprint), kept.person);
  assert.equal(again.stats().levels.stranger.entries, stats.stranger.entries);
  // The file holds at most about twice what is kept.
  const fileBytes = (await Deno.stat(v.audit.path!)).size;
  const keptBytes = Object.values(again.stats().levels).reduce((n, l) => n + l.bytes, 0);
  assert.ok(fileBytes <= 2 * keptBytes + 64 * 1024, `${fileBytes} bytes on disk`);
});

Deno.test("Attack: the largest ERROR the schema allows (a 1 KiB reason) keeps the console's event hub bounded", async () => {
  await using v = await victim();
  const me = v.agent.identity;
  await using attacker = await stranger("mallory");
  await attacker.connect({ hostname: HOST, port: v.port, fingerprint: me.fingerprint });
  const reason = "€".repeat(Math.floor(SCHEMA_LIMITS.textBytes / 3)); // 1,023 bytes, 341 characters
  const counted = v.results.length;
  for (let i = 0; i < 150; i++) {
    const wire = await forged(attacker.identity, me, "ERROR", {
      in_reply_to: crypto.randomUUID(),
      code: "c".repeat(SCHEMA_LIMITS.labelBytes),
      reason,
    });
    await attacker.sendFrame(me.fingerprint, "control", wire);
  }
  await v.seen((results) => results.length >= counted + 150, 60_000);
  assert.ok(v.sink.events("cip.error_received").length > 0, "legal ERRORs are accepted");
  // At most 500 events, each with strings of at most 1 KiB (the telemetry's cap).
  assert.ok(v.hub.recent.length <= 500);
  const hubBytes = JSON.stringify(v.hub.recent).length;
  assert.ok(hubBytes < 500 * 4096, `the hub holds ${hubBytes} bytes`);
});
