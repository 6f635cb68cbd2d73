/**
 * The console page's script (bundled for the browser by `./bundle.ts`).
 * The person's Ed25519 key is made here with WebCrypto, non-extractable,
 * and kept in IndexedDB; every HCP envelope is built, signed and encoded
 * with the project's own envelope code ({@linkcode createEnvelope},
 * {@linkcode encodeEnvelope}); the agent's envelopes are checked with
 * {@linkcode verifyEnvelope}.
 *
 * @module
 */

import {
  createEnvelope,
  encodeEnvelope,
  type Envelope,
  type HumanState,
  ReplayGuard,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { dom, type El, type IdbDatabase } from "./dom.ts";

const { document, location, indexedDB, EventSource } = dom;

const token = new URLSearchParams(location.search).get("token") ?? "";
const $ = (id: string): El => document.getElementById(id)!;
const guard = new ReplayGuard();

interface _State {
  agent: { agentId: string; fingerprint: string; mission: string; presence: string; lri: number };
  person: string | null;
  personFixed: boolean;
  personTrust: string | null;
  human: HumanState | null;
  consentScope: string[] | null;
  peers: { agentId: string; fingerprint: string; trust: string; verified: boolean }[];
  facts: {
    cip: Record<string, { id: string; statement: string; domain: string }[]>;
    lip: Record<string, { id: string; source: string; claim: unknown }[]>;
  };
  drift: { ts: string; data: { score: number; last_topic: string } }[];
}

let me: Identity | undefined;
let agent: { agent_id: string; fingerprint: string } | undefined;
let enrolled = false;
let helloSent = false;
let lastScope = "";

function _api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(path, {
    ...init,
    headers: { ...(init.headers ?? {}), authorization: `Bearer ${token}` },
  });
}

function _idb(): Promise<IdbDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("web4-console", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("keys");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** The person's key pair: from IndexedDB, else made now (private key non-extractable). */
async function _keyPair(): Promise<CryptoKeyPair> {
  const db = await _idb();
  const stored = await new Promise<CryptoKeyPair | undefined>((resolve, reject) => {
    const req = db.transaction("keys").objectStore("keys").get("person");
    req.onsuccess = () => resolve(req.result as CryptoKeyPair | undefined);
    req.onerror = () => reject(req.error);
  });
  if (stored !== undefined) return stored;
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  await new Promise<void>((resolve, reject) => {
    const tx = db.transaction("keys", "readwrite");
    tx.objectStore("keys").put(pair, "person");
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
  return pair;
}

function _human(): HumanState {
  const consent = document.querySelector("input[name=consent]:checked")!.value;
  return {
    presence: "focused",
    affect: $("affect").value as HumanState["affect"],
    clarity: Number($("clarity").value),
    pressure: Number($("pressure").value),
    intent: $("intent-topic").value || "work with my agent",
    consent: consent as HumanState["consent"],
  };
}

function _status(text: string, bad = false): void {
  const el = $("status");
  el.textContent = text;
  el.style.color = bad ? "var(--bad)" : "";
}

/** Builds, signs (in this browser) and posts one HCP envelope. */
async function send(type: string, payload: Record<string, unknown>): Promise<string | undefined> {
  if (me === undefined || agent === undefined) return undefined;
  if (!enrolled) {
    _status("This browser's key is not the agent's person: nothing was sent.", true);
    return undefined;
  }
  const env = await createEnvelope("hcp", type as "HCP_INTENT", {
    identity: me,
    receiver: agent,
    payload: payload as never,
    state: { human: _human() },
  });
  const r = await _api("/api/envelope", { method: "POST", body: encodeEnvelope(env) });
  if (!r.ok) {
    _status(`${type} not accepted: ${(await r.json()).error}`, true);
    return undefined;
  }
  _status(`signed and sent ${type} ${env.msg_id.slice(0, 8)}`);
  return env.msg_id;
}

async function hello(): Promise<void> {
  const scope = $("scope").value.split(",").map((s) => s.trim()).filter((s) => s !== "");
  lastScope = scope.join(",");
  await send("HCP_HELLO", {
    identity: { name: "person", role: "owner" },
    consent_scope: scope,
    safety_flags: [],
  });
  helloSent = true;
}

async function updateState(): Promise<void> {
  const scope = $("scope").value.split(",").map((s) => s.trim()).filter((s) => s !== "").join(",");
  if (!helloSent || scope !== lastScope) await hello();
  const h = _human();
  await send("HCP_STATE_UPDATE", {
    presence: h.presence,
    affect: h.affect,
    clarity: h.clarity,
    pressure: h.pressure,
    consent: h.consent,
  });
}

function _li(list: El, text: string, cls = "", max = 100): void {
  list.querySelector(".empty")?.remove();
  const li = document.createElement("li");
  li.textContent = text;
  if (cls !== "") li.className = cls;
  list.prepend(li);
  while (list.children.length > max) list.lastElementChild?.remove();
}

async function onEnvelope(text: string): Promise<void> {
  if (me === undefined || agent === undefined) return;
  let env: Envelope;
  try {
    env = await verifyEnvelope(new TextEncoder().encode(text), {
      expectedSender: agent.fingerprint,
      expectedReceiver: me.fingerprint,
      replayGuard: guard,
    });
  } catch (err) {
    _li($("replies"), `unverified message dropped: ${(err as Error).message}`, "refused");
    return;
  }
  const p = env.payload as unknown as Record<string, unknown>;
  if (env.type === "HCP_ERROR") {
    _li($("replies"), `refused (${p.code}): ${p.message ?? p.reason ?? ""}`, "refused");
  } else if (env.type === "HCP_INTENT" && p.topic === "check_in") {
    $("checkin").style.display = "block";
    _li($("replies"), "the agent asks you to check in before going on", "warn");
  } else if (env.type === "HCP_DECISION") {
    _li(
      $("replies"),
      `decision: ${p.decision} (because ${p.rationale}; alternatives: ${
        (p.alternatives as string[]).join(", ")
      })`,
    );
  } else {
    _li($("replies"), `${env.type}: ${JSON.stringify(p)}`);
  }
}

function _pill(el: El, value: string | null): void {
  el.textContent = value ?? "–";
  el.className = `pill ${value ?? ""}`;
}

async function refresh(): Promise<void> {
  const r = await _api("/api/state");
  if (!r.ok) return;
  const s = await r.json() as _State;
  agent = { agent_id: s.agent.agentId, fingerprint: s.agent.fingerprint };
  $("agent-id").textContent = s.agent.agentId;
  $("agent-fp").textContent = s.agent.fingerprint.slice(0, 16) + "…";
  $("mission").textContent = s.agent.mission;
  $("presence").textContent = s.agent.presence;
  $("lri").textContent = String(s.agent.lri);
  enrolled = me !== undefined && s.person === me.fingerprint;
  const en = $("enrolled");
  en.textContent = enrolled
    ? "you are this agent's person"
    : s.person === null
    ? "not enrolled"
    : "another key is this agent's person";
  en.className = `pill ${enrolled ? "trusted" : "untrusted"}`;
  _pill($("person-trust"), enrolled ? s.personTrust : null);
  const peers = $("peers");
  peers.replaceChildren();
  if (s.peers.length === 0) {
    peers.innerHTML = '<tr><td colspan="3" class="empty">no peers connected</td></tr>';
  }
  for (const p of s.peers) {
    const tr = document.createElement("tr");
    for (
      const [v, cls] of [[p.agentId, ""], [p.fingerprint.slice(0, 16) + "…", "fp"], [
        p.trust,
        `pill ${p.trust}`,
      ]]
    ) {
      const td = document.createElement("td");
      const span = document.createElement("span");
      span.textContent = v!;
      span.className = cls!;
      td.append(span);
      tr.append(td);
    }
    peers.append(tr);
  }
  const facts = $("facts");
  facts.replaceChildren();
  let any = false;
  for (const [origin, byStatus] of [["CIP", s.facts.cip], ["LIP", s.facts.lip]] as const) {
    for (const [status, items] of Object.entries(byStatus)) {
      for (
        const item of items as {
          id: string;
          statement?: string;
          source?: string;
          claim?: unknown;
        }[]
      ) {
        any = true;
        const div = document.createElement("div");
        const pill = document.createElement("span");
        pill.className = `pill ${status}`;
        pill.textContent = status;
        div.append(pill, ` ${origin} ${item.statement ?? JSON.stringify(item.claim)} `);
        const src = document.createElement("span");
        src.className = "fp";
        src.textContent = item.source ?? item.id.slice(0, 8);
        div.append(src);
        facts.append(div);
      }
    }
  }
  if (!any) facts.innerHTML = '<span class="empty">none yet</span>';
  facts.className = "";
  const drift = $("drift");
  const last = s.drift.at(-1);
  drift.className = last === undefined ? "empty" : "drift";
  drift.textContent = last === undefined
    ? "aligned with the mission"
    : `drifting from the mission (alignment ${
      last.data.score.toFixed(2)
    }, last topic ${last.data.last_topic})`;
}

function _eventLine(
  e: { ts: string; kind: string; peer?: string; data: Record<string, unknown> },
): string {
  const data = Object.entries(e.data).map(([k, v]) =>
    `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`
  ).join(" ");
  return `${e.ts.slice(11, 19)} ${e.kind}${e.peer ? ` peer=${e.peer.slice(0, 8)}` : ""} ${data}`;
}

function _onEvent(
  e: { ts: string; kind: string; severity?: string; peer?: string; data: Record<string, unknown> },
): void {
  const refusal = e.kind === "hcp.refused" || e.kind === "hcp.paced" ||
    e.kind === "hcp.check_in_required";
  _li($("events"), _eventLine(e), refusal || e.severity === "warn" ? "warn" : "", 200);
  if (e.kind === "hcp.intent_delivered") {
    _li($("replies"), `your intent on ${String(e.data.topic)} reached the agent`, "accepted");
  }
  if (e.kind === "hcp.check_in_required") {
    _li($("replies"), `your ${String(e.data.topic ?? "action")} waits for a check-in`, "warn");
  }
}

let _pending: ReturnType<typeof setTimeout> | undefined;
function _soon(): void {
  _pending ??= setTimeout(() => {
    _pending = undefined;
    void refresh();
  }, 150);
}

async function start(): Promise<void> {
  const pair = await _keyPair();
  me = await Identity.fromKeyPair(pair, { agentId: "person" });
  $("fingerprint").textContent = me.fingerprint;
  await refresh();
  const s = await (await _api("/api/state")).json() as _State;
  if (s.person === null) {
    const r = await _api("/api/enrol", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ fingerprint: me.fingerprint }),
    });
    if (!r.ok) _status(`enrolment refused: ${(await r.json()).error}`, true);
  } else if (s.person !== me.fingerprint) {
    _status(
      `This browser's key is not this agent's person (${
        s.person.slice(0, 16)
      }…): it cannot act for it.`,
      true,
    );
  }
  await refresh();
  const events = new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
  events.addEventListener("hello", (m) => {
    for (const e of JSON.parse(m.data).recent) _onEvent(e);
  });
  events.addEventListener("web4", (m) => {
    _onEvent(JSON.parse(m.data));
    _soon();
  });
  events.addEventListener(
    "envelope",
    (m) => void onEnvelope(JSON.parse(m.data).text),
  );
  events.addEventListener("state", () => _soon());
  if (enrolled) await hello();
  document.body.dataset.ready = "true";
}

for (const id of ["pressure", "clarity", "satisfaction"]) {
  $(id).addEventListener("input", () => $(`${id}-v`).textContent = $(id).value);
}
$("update-state").addEventListener("click", () => void updateState());
$("send-intent").addEventListener("click", () =>
  void send("HCP_INTENT", {
    goal: $("intent-goal").value,
    topic: $("intent-topic").value,
    priority: $("intent-priority").value,
  }));
$("send-context").addEventListener("click", () =>
  void send("HCP_CONTEXT", {
    context: { note: $("context-text").value },
    constraints: [],
    shared_history: [],
  }));
$("send-feedback").addEventListener("click", () =>
  void send("HCP_FEEDBACK", {
    feedback: $("feedback-text").value || "ok",
    corrections: [],
    satisfaction: Number($("satisfaction").value),
  }));
const _answer = (satisfaction: number) => {
  $("checkin").style.display = "none";
  void send("HCP_FEEDBACK", {
    feedback: satisfaction >= 50 ? "go on" : "not now",
    corrections: [],
    satisfaction,
  });
};
$("checkin-go").addEventListener("click", () => _answer(80));
$("checkin-stop").addEventListener("click", () => _answer(20));

start().catch((err) => {
  _status(`console failed: ${(err as Error).message}`, true);
  document.body.dataset.ready = "error";
});
