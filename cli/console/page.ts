/**
 * The console page's script (bundled for the browser by `./bundle.ts`).
 * The person's Ed25519 key is made here with WebCrypto, non-extractable,
 * and kept in IndexedDB; every HCP envelope is built, signed and encoded
 * with the project's own envelope code ({@linkcode createEnvelope},
 * {@linkcode encodeEnvelope}); the agent's envelopes are checked with
 * {@linkcode verifyEnvelope}.
 *
 * The person decides, not the page (PROTOCOLS.md §8): opening the page
 * sends the agent nothing (it may enrol this browser's key, which gives no
 * consent); the form shows the consent the agent holds, in words; only a
 * click on "Update consent and state" sends an `HCP_HELLO` or an
 * `HCP_STATE_UPDATE`, and every other message carries the agent's current
 * human state, never the form's. Each message shows what the agent did
 * with it (delivered, held with its reason, refused), next to the button
 * pressed and in "What your agent did for you"; the agent's events read as
 * sentences (`./sentence.ts`). A browser whose key is not the agent's
 * person is a viewer: it sees who the agent is and that it cannot act, not
 * the person's consent, requests, peers, facts or events: the server sends
 * those only after this page proved the person's key (a challenge signed
 * here, `./proof.ts`).
 *
 * @module
 */

import {
  createEnvelope,
  encodeEnvelope,
  type Envelope,
  type HcpType,
  type HumanState,
  ReplayGuard,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { NEUTRAL_HUMAN_STATE } from "../../lib/hcp/human_state.ts";
import { readConsentRecord } from "../../lib/hcp/record.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { dom, type El, type IdbDatabase } from "./dom.ts";
import type { PostedOutcome } from "./outcome.ts";
import { type ConsoleEvent, eventSentence } from "./sentence.ts";
import { proofText } from "./proof.ts";
import type { FactView, PeerView } from "./state.ts";

const { document, location, indexedDB, EventSource } = dom;

const token = new URLSearchParams(location.search).get("token") ?? "";
const $ = (id: string): El => document.getElementById(id)!;
const guard = new ReplayGuard();

interface _Page<T> {
  items: T[];
  next: string | null;
}

interface _State {
  /** Whether the server answered as to a viewer (no proof of the person's key). */
  viewer: boolean;
  agent: { agentId: string; fingerprint: string; mission: string; presence: string; lri: number };
  person: string | null;
  personTrust: string | null;
  human: HumanState | null;
  consent: HumanState["consent"] | null;
  consentText: string;
  consentScope: string[] | null;
  peers: _Page<PeerView>;
  facts: { cip: Record<string, _Page<FactView>>; lip: Record<string, _Page<FactView>> };
  drift: { ts: string; score: number; lastTopic: string }[];
}

let me: Identity | undefined;
let agent: { agent_id: string; fingerprint: string } | undefined;
let enrolled = false;
/** Whether another key is the agent's person (this browser is a viewer). */
let viewer = false;
/** Agent ids by fingerprint, for the sentences. */
const names = new Map<string, string>();
/** The agent's record of the person, as of the last `/api/state`. */
let record: { human: HumanState | null; scope: string[] } = { human: null, scope: [] };
/** Whether the person edited the form since it last showed the agent's record. */
let edited = false;
/** The messages this page posted (their outcome is shown; their HCP_ERROR is not listed again). */
const posted = new Set<string>();

/** This page's credential once it proved the person's key (the server's rule for the history). */
let credential: string | undefined;

function _api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(path, {
    ...init,
    headers: {
      ...(init.headers ?? {}),
      authorization: `Bearer ${token}`,
      ...(credential === undefined ? {} : { "x-web4-person": credential }),
    },
  });
}

/** Proves this browser's key to the console (a challenge signed here); the answer unlocks the history. */
async function _prove(agentFingerprint: string): Promise<void> {
  const c = await _api("/api/proof/challenge", { method: "POST" });
  if (!c.ok) throw new Error(`no challenge (${c.status})`);
  const { challenge } = await c.json() as { challenge: string };
  const signature = await me!.sign(proofText(agentFingerprint, challenge));
  const r = await _api("/api/proof", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      challenge,
      publicKey: me!.publicKeyBase64,
      signature: signature.toBase64(),
    }),
  });
  if (!r.ok) throw new Error(`the console refused this key's proof (${r.status})`);
  credential = (await r.json() as { credential: string }).credential;
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

/** Writes the status line next to the button pressed (`at`), or the page's own. */
function _status(text: string, bad = false, at = "page-status"): void {
  const el = $(at);
  el.textContent = text;
  el.className = at === "page-status" ? "" : `status ${bad ? "bad" : "ok"}`;
}

/** The time of day of an ISO time, `HH:MM:SS`. */
function _when(iso: string): string {
  return iso.slice(11, 19);
}

function _li(list: El, text: string, cls = "", max = 100, ts = new Date().toISOString()): void {
  list.querySelector(".empty")?.remove();
  const li = document.createElement("li");
  const when = document.createElement("span");
  when.className = "when";
  when.textContent = _when(ts);
  li.append(when, text);
  if (cls !== "") li.className = cls;
  list.prepend(li);
  while (list.children.length > max) list.lastElementChild?.remove();
}

/** What the agent did with a posted message, in words. */
function _said(what: string, o: PostedOutcome | null): [string, string] {
  if (o === null) return [`${what}: sent; your agent has not answered yet`, "warn"];
  const why = o.reason === undefined ? "" : `: ${o.reason}`;
  switch (o.status) {
    case "delivered":
      return [`${what}: delivered to your agent`, "accepted"];
    case "handled":
      return [`${what}: taken by your agent`, "accepted"];
    case "held": {
      const retry = o.retryAfterMs === undefined
        ? ""
        : ` (try again in ${Math.ceil(o.retryAfterMs / 1000)} s)`;
      return [`${what}: held (${o.code})${why}${retry}`, "warn"];
    }
    case "refused":
      return [`${what}: refused (${o.code})${why}`, "refused"];
    case "dropped":
      return [`${what}: dropped (${o.code})${why}`, "refused"];
  }
}

/** Builds, signs (in this browser) and posts one HCP envelope with `human`; shows the outcome. */
async function _post(
  what: string,
  type: HcpType,
  payload: Record<string, unknown>,
  human: HumanState,
  at: string,
): Promise<PostedOutcome | null | undefined> {
  if (me === undefined || agent === undefined) return undefined;
  if (!enrolled) {
    _status("This browser's key is not the agent's person: nothing was sent.", true, at);
    return undefined;
  }
  const env = await createEnvelope("hcp", type as "HCP_INTENT", {
    identity: me,
    receiver: agent,
    payload: payload as never,
    state: { human },
  });
  posted.add(env.msg_id);
  const r = await _api("/api/envelope", { method: "POST", body: encodeEnvelope(env) });
  const body = await r.json();
  if (!r.ok) {
    _status(`${what}: not sent: ${body.error}`, true, at);
    return undefined;
  }
  const [text, cls] = _said(what, body.outcome);
  _status(text, cls === "refused", at);
  _li($("replies"), text, cls);
  await refresh();
  return body.outcome;
}

/**
 * Sends a message that may not change consent, carrying the agent's current
 * human state; nothing while the agent holds no consent of the person.
 */
async function send(
  what: string,
  type: HcpType,
  payload: Record<string, unknown>,
  at: string,
): Promise<void> {
  await refresh();
  if (record.human === null) {
    _status(
      "Your agent holds no consent of yours yet: choose one and click “Update consent and state”. Nothing was sent.",
      true,
      at,
    );
    return;
  }
  await _post(what, type, payload, { ...record.human }, at);
}

function _scope(): string[] {
  return $("scope").value.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** The person's click: an HCP_HELLO (first time, or a new scope) or an HCP_STATE_UPDATE. */
async function updateState(): Promise<void> {
  const chosen = document.querySelector("input[name=consent]:checked")?.value;
  if (chosen !== "granted" && chosen !== "limited" && chosen !== "revoked") {
    _status("Choose granted, limited or revoked first: nothing was sent.", true, "state-status");
    return;
  }
  await refresh();
  const human: HumanState = {
    ...(record.human ?? NEUTRAL_HUMAN_STATE),
    affect: $("affect").value as HumanState["affect"],
    clarity: Number($("clarity").value),
    pressure: Number($("pressure").value),
    consent: chosen,
  };
  const scope = _scope();
  edited = false;
  if (record.human === null || scope.join(",") !== record.scope.join(",")) {
    await _post(
      "Your consent and scope",
      "HCP_HELLO",
      {
        identity: { name: "person", role: "owner" },
        consent_scope: scope,
        safety_flags: [],
      },
      human,
      "state-status",
    );
  } else {
    await _post(
      "Your consent and state",
      "HCP_STATE_UPDATE",
      {
        presence: human.presence,
        affect: human.affect,
        clarity: human.clarity,
        pressure: human.pressure,
        consent: human.consent,
      },
      human,
      "state-status",
    );
  }
}

/** Shows the agent's record in the form (unless the person is editing it). */
function _fillForm(): void {
  if (edited) return;
  const h = record.human;
  for (const v of ["granted", "limited", "revoked"]) {
    const radio = document.querySelector(`input[name=consent][value=${v}]`);
    if (radio !== null) radio.checked = h?.consent === v;
  }
  $("scope").value = record.scope.join(", ");
  const v = h ?? NEUTRAL_HUMAN_STATE;
  $("affect").value = v.affect;
  for (const id of ["pressure", "clarity"] as const) {
    $(id).value = String(v[id]);
    $(`${id}-v`).textContent = String(v[id]);
  }
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
    _li(
      $("replies"),
      `A message not signed by your agent was dropped: ${(err as Error).message}`,
      "refused",
    );
    return;
  }
  const p = env.payload as unknown as Record<string, unknown>;
  if (env.type === "HCP_ERROR") {
    // A refusal of our own post is shown with its outcome.
    if (!posted.has(String(p.in_reply_to))) {
      _li($("replies"), `Your agent refused a message (${p.code}): ${p.reason ?? ""}`, "refused");
    }
  } else if (env.type === "HCP_INTENT" && p.topic === "check_in") {
    $("checkin").style.display = "block";
    _waiting();
    _li($("replies"), "Your agent asks you to check in before going on", "warn");
  } else if (env.type === "HCP_CONTEXT" && readConsentRecord(p) !== null) {
    _soon(); // the agent told us its record: the state shows it
  } else if (env.type === "HCP_DECISION") {
    _li(
      $("replies"),
      `Your agent decided: ${p.decision} (because ${p.rationale}; alternatives: ${
        (p.alternatives as string[]).join(", ")
      })`,
    );
  } else {
    _li(
      $("replies"),
      `Your agent sent you a ${env.type.replace(/^HCP_/, "").toLowerCase().replaceAll("_", " ")}`,
    );
  }
}

function _pill(el: El, value: string | null, none = "–"): void {
  el.textContent = value ?? none;
  el.className = `pill ${value ?? ""}`;
}

function _peerRow(p: PeerView): El {
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
  return tr;
}

let _peersNext: string | null = null;

function _showPeers(page: _Page<PeerView>, append: boolean): void {
  const peers = $("peers");
  if (!append) peers.replaceChildren();
  if (!append && page.items.length === 0) {
    peers.innerHTML = '<tr><td colspan="3" class="empty">no peers connected</td></tr>';
  }
  for (const p of page.items) peers.append(_peerRow(p));
  _peersNext = page.next;
  $("peers-more").style.display = page.next === null ? "none" : "inline-block";
}

function _factLine(origin: string, status: string, item: FactView): El {
  const div = document.createElement("div");
  const pill = document.createElement("span");
  pill.className = `pill ${status}`;
  pill.textContent = status;
  div.append(pill, ` ${origin} ${item.text} `);
  const src = document.createElement("span");
  src.className = "fp";
  src.textContent = origin === "LIP" ? item.where : item.id.slice(0, 8);
  div.append(src);
  return div;
}

/** One list of facts (origin and status), with a "more" button while pages remain. */
function _factList(origin: "cip" | "lip", status: string, page: _Page<FactView>): El {
  const box = document.createElement("div");
  const more = document.createElement("button");
  more.className = "more secondary";
  more.textContent = `more ${origin.toUpperCase()} ${status}`;
  let next = page.next;
  const show = (items: FactView[]) => {
    for (const item of items) box.append(_factLine(origin.toUpperCase(), status, item));
    box.append(more);
    more.style.display = next === null ? "none" : "inline-block";
  };
  more.addEventListener("click", () =>
    _do(async () => {
      if (next === null) return;
      const r = await _api(
        `/api/facts?origin=${origin}&status=${status}&after=${encodeURIComponent(next)}`,
      );
      if (!r.ok) return;
      const p = await r.json() as _Page<FactView>;
      next = p.next;
      show(p.items);
    }));
  show(page.items);
  return box;
}

async function refresh(): Promise<void> {
  const r = await _api("/api/state");
  if (!r.ok) return;
  const s = await r.json() as _State;
  agent = { agent_id: s.agent.agentId, fingerprint: s.agent.fingerprint };
  $("agent-id").textContent = s.agent.agentId;
  $("agent-fp").textContent = s.agent.fingerprint;
  $("mission").textContent = s.agent.mission;
  $("presence-text").textContent = s.agent.presence === "overloaded"
    ? "busy: it defers new work"
    : `${s.agent.presence}`;
  // The server says whether this page proved the person's key (it sends the history only then).
  enrolled = !s.viewer && me !== undefined && s.person === me.fingerprint;
  viewer = !enrolled && s.person !== null;
  document.body.className = viewer ? "viewer" : "";
  $("whose").textContent = viewer ? "Agent" : "Your agent";
  names.set(s.agent.fingerprint, "your agent");
  if (me !== undefined) names.set(me.fingerprint, "you");
  const en = $("enrolled");
  en.textContent = enrolled
    ? "you are this agent's person"
    : s.person === null
    ? "not enrolled"
    : "another key is this agent's person";
  en.className = `pill ${enrolled ? "trusted" : "untrusted"}`;
  // The badges and the words come from the same answer, so they agree.
  _pill($("person-trust"), enrolled ? s.personTrust : null);
  _pill($("consent"), enrolled ? s.consent : null, enrolled ? "none yet" : "–");
  $("consent-text").textContent = enrolled
    ? s.consentText
    : viewer
    ? "Only this agent's person sees their consent and what the agent did for them."
    : "";
  record = { human: enrolled ? s.human : null, scope: enrolled ? s.consentScope ?? [] : [] };
  _waiting();
  if (!enrolled) return; // a viewer sees none of the person's history
  _fillForm();
  _learn(s.peers.items);
  _showPeers(s.peers, false);
  const facts = $("facts");
  facts.replaceChildren();
  let any = false;
  for (const origin of ["cip", "lip"] as const) {
    for (const [status, page] of Object.entries(s.facts[origin])) {
      if (page.items.length === 0) continue;
      any = true;
      facts.append(_factList(origin, status, page));
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
      last.score.toFixed(2)
    }, last topic ${last.lastTopic})`;
}

/** What the agent waits on from the person, in words. */
function _waiting(): void {
  const el = $("waiting");
  const checkIn = $("checkin").style.display === "block";
  const text = viewer
    ? "Only this agent's person sees what it waits on."
    : !enrolled
    ? "This browser is not enrolled yet."
    : checkIn
    ? "Your answer: your agent checks in before it goes on (below)."
    : record.human === null
    ? "Your consent: choose granted, limited or revoked and click “Update consent and state”."
    : "Nothing: your agent is not waiting on you.";
  el.textContent = text;
  el.className = checkIn || (enrolled && record.human === null) ? "drift" : "empty";
}

function _nameOf(fp: string): string {
  return names.get(fp) ?? `peer ${fp.slice(0, 8)}`;
}

/** The events shown, oldest first (re-read when a peer's name becomes known). */
const shown: ConsoleEvent[] = [];
const _SHOWN = 200;

function _onEvent(e: ConsoleEvent): void {
  if (e.severity === "debug") return;
  shown.push(e);
  if (shown.length > _SHOWN) shown.shift();
  const s = eventSentence(e, _nameOf);
  _li($("events"), s.text, s.tone, _SHOWN, e.ts);
}

/** Learns peers' names; the events already shown are read again with them. */
function _learn(peers: PeerView[]): void {
  let learnt = false;
  for (const p of peers) {
    if (names.get(p.fingerprint) === p.agentId) continue;
    names.set(p.fingerprint, p.agentId);
    learnt = true;
  }
  if (!learnt || shown.length === 0) return;
  const list = $("events");
  list.replaceChildren();
  for (const e of shown) {
    const s = eventSentence(e, _nameOf);
    _li(list, s.text, s.tone, _SHOWN, e.ts);
  }
}

/** Runs a page action; a failure (the console unreachable, a stopped agent) becomes the status line. */
/** The person's actions, one after another (see {@linkcode _do}). */
let _actions: Promise<void> = Promise.resolve();

/**
 * Runs one of the person's actions after the ones before it have finished:
 * a message the person sends right after "Update consent and state" must
 * carry the state that update set, not the one the agent held before it
 * (every message reads the agent's record first).
 */
function _do(action: () => Promise<unknown>): void {
  _actions = _actions.then(action).then(
    () => {},
    (err) => _status(`console unreachable: ${(err as Error).message}`, true),
  );
}

let _pending: ReturnType<typeof setTimeout> | undefined;
function _soon(): void {
  _pending ??= setTimeout(() => {
    _pending = undefined;
    _do(refresh);
  }, 150);
}

async function start(): Promise<void> {
  const pair = await _keyPair();
  me = await Identity.fromKeyPair(pair, { agentId: "person" });
  $("fingerprint").textContent = me.fingerprint;
  const r = await _api("/api/state");
  const s = r.ok ? await r.json() as _State : undefined;
  if (s?.person === null) {
    // Enrolment gives no consent: the agent holds none until the person clicks.
    const e = await _api("/api/enrol", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ fingerprint: me.fingerprint }),
    });
    if (!e.ok) _status(`enrolment refused: ${(await e.json()).error}`, true);
    else await _prove(s.agent.fingerprint);
  } else if (s !== undefined && s.person === me.fingerprint) {
    await _prove(s.agent.fingerprint);
  } else if (s !== undefined) {
    _status(
      "This browser's key is not this agent's person: it cannot act for the agent, and it sees who the agent is, not the person's consent or history.",
      true,
    );
  }
  await refresh();
  if (!enrolled) {
    // A viewer sees who the agent is and that it cannot act: no event stream, no history.
    document.body.dataset.ready = "true";
    return;
  }
  const events = new EventSource(
    `/api/events?token=${encodeURIComponent(token)}&person=${encodeURIComponent(credential ?? "")}`,
  );
  events.addEventListener("hello", (m) => {
    for (const e of JSON.parse(m.data).recent) _onEvent(e);
  });
  events.addEventListener("web4", (m) => {
    _onEvent(JSON.parse(m.data));
    _soon();
  });
  events.addEventListener("envelope", (m) => _do(() => onEnvelope(JSON.parse(m.data).text)));
  events.addEventListener("state", () => _soon());
  document.body.dataset.ready = "true";
}

for (const id of ["pressure", "clarity", "satisfaction"]) {
  $(id).addEventListener("input", () => {
    $(`${id}-v`).textContent = $(id).value;
    if (id !== "satisfaction") edited = true;
  });
}
for (const id of ["scope", "affect"]) $(id).addEventListener("input", () => edited = true);
for (const v of ["granted", "limited", "revoked"]) {
  document.querySelector(`input[name=consent][value=${v}]`)?.addEventListener(
    "change",
    () => edited = true,
  );
}
$("update-state").addEventListener("click", () => _do(updateState));
$("send-intent").addEventListener("click", () => {
  const topic = $("intent-topic").value;
  _do(() =>
    send(`Your intent on ${topic}`, "HCP_INTENT", {
      goal: $("intent-goal").value,
      topic,
      priority: $("intent-priority").value,
    }, "intent-status")
  );
});
$("send-context").addEventListener("click", () =>
  _do(() =>
    send("Your context", "HCP_CONTEXT", {
      context: { note: $("context-text").value },
      constraints: [],
      shared_history: [],
    }, "context-status")
  ));
$("send-feedback").addEventListener("click", () =>
  _do(() =>
    send("Your feedback", "HCP_FEEDBACK", {
      feedback: $("feedback-text").value || "ok",
      corrections: [],
      satisfaction: Number($("satisfaction").value),
    }, "feedback-status")
  ));
const _answer = (satisfaction: number) => {
  _do(async () => {
    await send("Your check-in answer", "HCP_FEEDBACK", {
      feedback: satisfaction >= 50 ? "go on" : "not now",
      corrections: [],
      satisfaction,
    }, "checkin-status");
    $("checkin").style.display = "none";
    _waiting();
  });
};
$("checkin-go").addEventListener("click", () => _answer(80));
$("checkin-stop").addEventListener("click", () => _answer(20));
$("peers-more").addEventListener("click", () =>
  _do(async () => {
    if (_peersNext === null) return;
    const r = await _api(`/api/peers?after=${encodeURIComponent(_peersNext)}`);
    if (!r.ok) return;
    const page = await r.json() as _Page<PeerView>;
    _learn(page.items);
    _showPeers(page, true);
  }));

start().catch((err) => {
  _status(`console failed: ${(err as Error).message}`, true);
  document.body.dataset.ready = "error";
});
