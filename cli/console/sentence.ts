/**
 * The agent's events as sentences for a person (the console's live view):
 * "bob became trusted: verified knowledge (>= 2 trusted confirmations)",
 * "You changed your consent from granted to revoked", not `kind key=value`
 * log lines. Pure, so the page and its tests share it.
 *
 * @module
 */

/** An event as the console's event stream carries it. */
export interface ConsoleEvent {
  /** ISO time. */
  ts: string;
  /** The event's kind, e.g. `trust.transition`. */
  kind: string;
  /** `debug`, `info`, `warn` or `error`. */
  severity?: string;
  /** The peer's fingerprint, when one is concerned. */
  peer?: string;
  /** The event's fields. */
  data: Record<string, unknown>;
}

/** A sentence and how it reads: `ok`, `warn`, `bad` or `""` (neutral). */
export interface Sentence {
  /** The sentence, without the time. */
  text: string;
  /** Its tone. */
  tone: "" | "ok" | "warn" | "bad";
}

const _COUNT = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

/** A count in words up to nine, digits above. */
function _n(n: number, one: string, many = `${one}s`): string {
  return `${_COUNT[n] ?? String(n)} ${n === 1 ? one : many}`;
}

/** A field as text; a fingerprint inside it reads as the peer's name. */
function _text(v: unknown, nameOf: (fp: string) => string): string {
  const text = typeof v === "string" ? v : v === undefined || v === null ? "" : JSON.stringify(v);
  return text.replace(/\b[0-9a-f]{64}\b/g, (fp) => nameOf(fp));
}

/** An HCP/CIP/LIP message type in words: `HCP_STATE_UPDATE` → "state update". */
function _type(v: string): string {
  return v.replace(/^(HCP|CIP|LIP)_/, "").toLowerCase().replaceAll("_", " ");
}

/** The trust reason, as the trust machine wrote it, made to read in a sentence. */
function _because(r: string): string {
  const m = /^verified knowledge \(>= (\d+) trusted confirmations\)$/.exec(r);
  if (m !== null) return ` after ${_n(Number(m[1]), "confirmation")}`;
  return r === "" ? "" : `: ${r}`;
}

/**
 * The sentence for one event.
 *
 * @param e The event.
 * @param nameOf A peer's name for the person: "you" for the person's own key,
 *   a peer's agent id when known, else the start of its fingerprint.
 * @returns The sentence and its tone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eventSentence } from "./sentence.ts";
 *
 * const s = eventSentence({
 *   ts: "2026-01-01T00:00:00.000Z",
 *   kind: "trust.transition",
 *   peer: "ab".repeat(32),
 *   data: { from: "probing", to: "trusted", reason: "verified knowledge (>= 2 trusted confirmations)" },
 * }, () => "beta");
 * assert.equal(s.text, "beta became trusted after two confirmations");
 * ```
 */
export function eventSentence(e: ConsoleEvent, nameOf: (fp: string) => string): Sentence {
  const d = e.data;
  const _s = (v: unknown) => _text(v, nameOf);
  const who = e.peer === undefined ? "a peer" : nameOf(e.peer);
  const you = who === "you";
  // A peer's name stays as written; only the page's own words start with a capital.
  const Who = /^(a peer|peer |you$|your )/.test(who)
    ? who.charAt(0).toUpperCase() + who.slice(1)
    : who;
  switch (e.kind) {
    case "agent.started":
      return { text: "Your agent started", tone: "ok" };
    case "agent.listening":
      return { text: `Your agent listens for peers on ${_s(d.hostname)}:${_s(d.port)}`, tone: "" };
    case "agent.stopping":
      return { text: "Your agent is stopping", tone: "warn" };
    case "agent.peer_connected":
      return {
        text: you ? "Your browser connected to your agent" : `${Who} connected`,
        tone: "ok",
      };
    case "agent.peer_disconnected":
      return {
        text: `${Who} disconnected${d.reason ? ` (${_s(d.reason)})` : ""}`,
        tone: "",
      };
    case "agent.session_duplicate":
      return { text: `A second connection from ${who} was closed; the first one stays`, tone: "" };
    case "agent.intent": {
      const goal = d.goal === "request" || !d.goal ? "" : ` to ${_s(d.goal).replaceAll("_", " ")}`;
      return d.source === "person"
        ? { text: `Your agent took your request${goal} on ${_s(d.topic)}`, tone: "ok" }
        : { text: `${Who} asked your agent${goal || " something"} on ${_s(d.topic)}`, tone: "" };
    }
    case "agent.intent_propagated":
      return {
        text: `Your agent passed your request on ${_s(d.topic)} to ${
          _n(Number(d.sent ?? 0), "peer")
        }${Number(d.deferred ?? 0) > 0 ? ` (${_n(Number(d.deferred), "more")} later)` : ""}`,
        tone: "",
      };
    case "agent.mission_drift":
      return {
        text: `Your agent is drifting from its mission (alignment ${
          Number(d.score ?? 0).toFixed(2)
        }, last topic ${_s(d.last_topic)})`,
        tone: "warn",
      };
    case "agent.presence":
      return {
        text: `Your agent is now ${_s(d.presence)}${
          d.presence === "overloaded" ? ": it defers new work" : ""
        }`,
        tone: d.presence === "overloaded" ? "warn" : "",
      };
    case "agent.send_held":
      return { text: `A message to ${who} was held: ${_s(d.reason || d.code)}`, tone: "warn" };
    case "agent.undeliverable":
      return {
        text: `${_n(Number(d.count ?? 0), "message")} to ${who} could not be delivered`,
        tone: "warn",
      };
    case "agent.verify_evidence":
      return d.verified === true
        ? { text: `Your agent checked the evidence ${who} gave: it holds`, tone: "ok" }
        : {
          text: `Your agent checked the evidence ${who} gave: it does not hold (${_s(d.reason)})`,
          tone: "warn",
        };
    case "agent.error":
      return { text: `Your agent hit an error (${_s(d.where)}): ${_s(d.error)}`, tone: "bad" };
    case "mesh.error":
      return d.code === "failed"
        ? { text: `Your agent's mesh hit an error: ${_s(d.reason)}`, tone: "bad" }
        : {
          text: `A message of your agent to ${who} could not be delivered through the mesh (${
            _s(d.code)
          })${d.reason ? `: ${_s(d.reason)}` : ""}`,
          tone: "warn",
        };
    case "trust.transition":
      return you
        ? { text: `Your standing with your agent became ${_s(d.to)}`, tone: _tone(d.to) }
        : { text: `${Who} became ${_s(d.to)}${_because(_s(d.reason))}`, tone: _tone(d.to) };
    case "hcp.intent_delivered":
      return { text: `Your request on ${_s(d.topic)} reached your agent`, tone: "ok" };
    case "hcp.consent_changed":
      return d.from === null || d.from === undefined
        ? { text: `You gave your consent: ${_s(d.to)}`, tone: _tone(d.to) }
        : { text: `You changed your consent from ${_s(d.from)} to ${_s(d.to)}`, tone: _tone(d.to) };
    case "hcp.check_in_opened":
      return {
        text: `You said you feel ${_s(d.affect)}: your agent will check in before acting`,
        tone: "warn",
      };
    case "hcp.check_in_required":
      return {
        text: `Your agent holds your request on ${_s(d.topic)} until you check in`,
        tone: "warn",
      };
    case "hcp.check_in_answered":
      return d.goOn === true
        ? { text: "You told your agent to go on", tone: "ok" }
        : { text: "You asked your agent to wait", tone: "" };
    case "hcp.pacing_started":
      return { text: "Your agent slows down: you seem under pressure", tone: "warn" };
    case "hcp.pacing_ended":
      return { text: "Your agent is back to its usual pace", tone: "" };
    case "hcp.paced":
      return {
        text: `Your agent will take your request on ${_s(d.topic)} in ${
          Math.ceil(Number(d.retry_after_ms ?? 0) / 1000)
        } s`,
        tone: "warn",
      };
    case "hcp.refused":
      return {
        text: `Your agent refused ${
          d.topic
            ? `your request on ${_s(d.topic)}`
            : d.type
            ? `your ${_type(_s(d.type))}`
            : "a message"
        } (${_s(d.code).replaceAll("_", " ")})`,
        tone: "bad",
      };
    case "router.dispatched":
      return {
        text: you
          ? `Your agent read your ${_type(_s(d.type))}`
          : `Your agent read a ${_type(_s(d.type))} from ${who}`,
        tone: "",
      };
    case "cip.handshake":
      switch (d.step) {
        case "verified":
          return { text: `${Who} proved who it is: now ${_s(d.trust)}`, tone: _tone(d.trust) };
        case "failed":
          return {
            text: `${Who} failed to prove who it is (${_s(d.code).replaceAll("_", " ")})`,
            tone: "bad",
          };
        case "simultaneous_open":
          return { text: `${Who} and your agent greeted each other at once`, tone: "" };
      }
      return { text: `${Who} said hello`, tone: "" };
    case "cip.state_update":
      return { text: `${Who} is ${_s(d.presence)}`, tone: "" };
    case "cip.intent":
      return { text: `${Who} shared its intent on ${_s(d.topic)}`, tone: "" };
    case "cip.intent_answered":
      return {
        text: `${Who} answered your agent on ${_s(d.topic)}${
          d.decision ? `: ${_s(d.decision)}` : ""
        }`,
        tone: "",
      };
    case "cip.vote":
      return { text: `${Who} voted on a shared fact`, tone: "" };
    case "cip.decision":
      return { text: `${Who} shared a decision`, tone: "" };
    case "cip.verification_failed":
      return { text: `What ${who} said could not be verified: ${_s(d.reason)}`, tone: "warn" };
    case "cip.dropped":
      return {
        text: `Your agent ignored a ${_type(_s(d.type))} from blocked ${who}`,
        tone: "warn",
      };
    case "cip.error_received":
    case "hcp.error_received":
    case "lip.error_received":
      return {
        text: `${Who} turned down a message of your agent (${_s(d.code).replaceAll("_", " ")})${
          d.reason ? `: ${_s(d.reason)}` : ""
        }`,
        tone: "warn",
      };
    case "cip.claim":
      return { text: `A shared fact is now ${_s(d.status)}`, tone: _tone(d.status) };
    case "lip.claim":
      return { text: `An item ${who} delivered is now ${_s(d.to)}`, tone: _tone(d.to) };
    case "console.unauthorized":
      return { text: `The console turned a request away: ${_s(d.why)}`, tone: "warn" };
    case "rtt.session_open":
      return { text: `A private channel with ${who} opened`, tone: "" };
    case "rtt.session_close":
      return { text: `The private channel with ${who} closed`, tone: "" };
    case "rtt.connection_lost":
      return { text: `The connection to ${who} was lost`, tone: "warn" };
    case "rtt.replay":
      return { text: `A replayed message from ${who} was dropped`, tone: "warn" };
  }
  // Anything else: its kind in words, never key=value fields.
  const words = e.kind.replace(/^[a-z]+\./, "").replaceAll("_", " ");
  return {
    text: `${words.charAt(0).toUpperCase()}${words.slice(1)}${
      e.peer === undefined ? "" : ` (${who})`
    }`,
    tone: e.severity === "warn" || e.severity === "error" ? "warn" : "",
  };
}

function _tone(v: unknown): Sentence["tone"] {
  switch (v) {
    case "trusted":
    case "granted":
    case "accepted":
      return "ok";
    case "probing":
    case "limited":
    case "pending":
      return "warn";
    case "untrusted":
    case "restricted":
    case "blacklisted":
    case "revoked":
    case "rejected":
    case "disputed":
      return "bad";
  }
  return "";
}
