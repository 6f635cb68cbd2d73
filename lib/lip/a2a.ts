/**
 * Other A2A agents as LIP sources: an `a2a+https://` URI names an agent
 * and a question; the default fetcher reads the agent's card, sends the
 * question as an A2A 1.0 JSON-RPC `SendMessage` (the wire `@a2a-js/sdk`
 * 1.3 speaks: header `A2A-Version: 1.0`, roles `ROLE_USER`/`ROLE_AGENT`,
 * parts `{ text }`, result `{ message }` or `{ task }`, states
 * `TASK_STATE_*`) and turns the answer into a {@linkcode FetchedDocument},
 * whose claims then wait `pending` like any page's.
 *
 * The URI: `a2a+https://HOST[:PORT][/BASE]?q=QUESTION` (`a2a+http://` only
 * for an origin the operator listed). The card is
 * `https://HOST[:PORT][/BASE]/.well-known/agent-card.json`; its first
 * interface with binding `JSONRPC` and version `1.0` is where the question
 * goes. Card, request and answer go through the same checked exchange as
 * a page (addresses, listed origins, constraints, bounds, one deadline);
 * the reading of the card and of the answer is pure and refuses with typed
 * {@linkcode LipFetchError}s.
 *
 * @module
 */

import { type RandomSource, randomUuid } from "../ports/mod.ts";
import { LipFetchError } from "./errors.ts";
import type { FetchedDocument } from "./fetcher.ts";
import { textDocument } from "./document.ts";
import type { CheckedHttp, CheckedLimits } from "./hops.ts";
import { shownUrl } from "./urls.ts";

/** An `a2a+http(s)://` URI, read. */
export interface A2aUri {
  /** The agent's base URL (http(s), ends with `/`); its card is under it. */
  readonly base: URL;
  /** The question (`q`; `""` when absent). */
  readonly question: string;
  /** The source key of the agent: `a2a+` and its base without the trailing `/`. */
  readonly key: string;
  /** The URI in its canonical form (`a2a+https://host/?q=...`). */
  readonly uri: string;
}

/** The A2A protocol version this fetcher speaks (the `A2A-Version` header and the card's). */
export const A2A_PROTOCOL_VERSION = "1.0";

/** Largest Agent Card read, in bytes (a card is a few KiB). */
export const A2A_CARD_MAX_BYTES = 64 * 1024;

const _SCHEME = /^a2a\+(https?):\/\//i;
const _JSON_TYPE = /^application\/(?:[a-z0-9.+-]+\+)?json\s*(?:;|$)/i;
const _SHOWN_CHARS = 200;

/**
 * Reads an `a2a+https://` or `a2a+http://` URI.
 *
 * @param text The URI.
 * @returns Its parts, or `undefined` when it is not an A2A URI at all.
 * @throws {LipFetchError} `unsupported_query` when it is one but carries credentials, a
 *   fragment or query parameters other than `q`.
 *
 * @example
 * ```ts
 * import { readA2aUri } from "./a2a.ts";
 * import assert from "node:assert/strict";
 *
 * const a = readA2aUri("a2a+https://Agent.example/boil?q=water%20boils%20at%3F")!;
 * assert.equal(a.base.href, "https://agent.example/boil/");
 * assert.equal(a.question, "water boils at?");
 * assert.equal(a.key, "a2a+https://agent.example/boil");
 * assert.equal(readA2aUri("https://agent.example/"), undefined);
 * ```
 */
export function readA2aUri(text: string): A2aUri | undefined {
  const scheme = _SCHEME.exec(text);
  if (scheme === null) return undefined;
  let url: URL;
  try {
    url = new URL(`${scheme[1]!.toLowerCase()}://${text.slice(scheme[0].length)}`);
  } catch {
    return undefined;
  }
  const keys = [...url.searchParams.keys()];
  if (
    url.username !== "" || url.password !== "" || url.hash !== "" ||
    keys.some((k) => k !== "q") || keys.length > 1
  ) {
    throw new LipFetchError(
      "unsupported_query",
      `A2A URI ${JSON.stringify(shownUrl(url))} carries more than an agent and a question ?q=`,
    );
  }
  const question = url.searchParams.get("q") ?? "";
  const base = new URL(`${url.origin}${url.pathname.replace(/\/*$/, "")}/`);
  const key = `a2a+${base.href.slice(0, -1)}`;
  const q = question === "" ? "" : `?q=${encodeURIComponent(question)}`;
  return { base, question, key, uri: `a2a+${base.href}${q}` };
}

/**
 * Where an agent's card is: `.well-known/agent-card.json` under its base.
 *
 * @param base The agent's base URL (ends with `/`).
 * @returns The card's URL.
 *
 * @example
 * ```ts
 * import { agentCardUrl } from "./a2a.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   agentCardUrl(new URL("https://agent.example/")).href,
 *   "https://agent.example/.well-known/agent-card.json",
 * );
 * ```
 */
export function agentCardUrl(base: URL): URL {
  return new URL(".well-known/agent-card.json", base);
}

/** What the fetcher takes from a card. */
export interface A2aCard {
  /** The agent's name (at most 200 characters shown). */
  readonly name: string;
  /** The JSON-RPC 1.0 endpoint. */
  readonly endpoint: URL;
}

/**
 * Reads an Agent Card: a JSON object whose `supportedInterfaces` has an
 * entry with `protocolBinding` `JSONRPC` and `protocolVersion` `1.0` and an
 * absolute http(s) `url` without credentials. A card fetched over https
 * may not send the question over plain http, and an http endpoint must be
 * a listed origin (the addresses are checked again when it is asked).
 *
 * @param text The card's body.
 * @param cardUrl Where it came from (after redirects).
 * @param listed Whether the operator listed an origin.
 * @returns The agent's name and endpoint.
 * @throws {LipFetchError} `bad_card`, naming what is wrong.
 *
 * @example
 * ```ts
 * import { readAgentCard } from "./a2a.ts";
 * import assert from "node:assert/strict";
 *
 * const card = JSON.stringify({
 *   name: "Boil",
 *   supportedInterfaces: [{ url: "https://agent.example/rpc", protocolBinding: "JSONRPC", protocolVersion: "1.0" }],
 * });
 * const at = new URL("https://agent.example/.well-known/agent-card.json");
 * assert.equal(readAgentCard(card, at, () => false).endpoint.href, "https://agent.example/rpc");
 * const plain = card.replace("https://agent.example/rpc", "http://agent.example/rpc");
 * assert.throws(() => readAgentCard(plain, at, () => false), { code: "bad_card" });
 * ```
 */
export function readAgentCard(
  text: string,
  cardUrl: URL,
  listed: (origin: string) => boolean,
): A2aCard {
  const at = shownUrl(cardUrl);
  const bad = (why: string) =>
    new LipFetchError("bad_card", `Agent Card at ${at} ${why}`, { url: at });
  let card: unknown;
  try {
    card = JSON.parse(text);
  } catch {
    throw bad("is not JSON");
  }
  if (!_isObject(card)) throw bad("is not a JSON object");
  const interfaces = Array.isArray(card.supportedInterfaces) ? card.supportedInterfaces : [];
  const rpc = interfaces.find((i): i is Record<string, unknown> =>
    _isObject(i) && i.protocolBinding === "JSONRPC" && i.protocolVersion === A2A_PROTOCOL_VERSION
  );
  if (rpc === undefined || typeof rpc.url !== "string") {
    throw bad(`offers no JSON-RPC interface of A2A ${A2A_PROTOCOL_VERSION}`);
  }
  let endpoint: URL;
  try {
    endpoint = new URL(rpc.url);
  } catch {
    throw bad("names an endpoint that is not a URL");
  }
  if (
    (endpoint.protocol !== "https:" && endpoint.protocol !== "http:") ||
    endpoint.username !== "" || endpoint.password !== ""
  ) {
    throw bad(`names an endpoint that is not a plain http(s) URL (${endpoint.protocol})`);
  }
  if (endpoint.protocol === "http:" && !listed(endpoint.origin)) {
    throw bad(
      `names the plain-http endpoint ${endpoint.origin}, which is not a listed origin` +
        (cardUrl.protocol === "https:" ? " (an https card may not downgrade)" : ""),
    );
  }
  const name = typeof card.name === "string" ? [...card.name].slice(0, _SHOWN_CHARS).join("") : "";
  return { name, endpoint };
}

/**
 * The body of a JSON-RPC `SendMessage` carrying one question as a text part.
 * The agent is asked to answer before it returns (`returnImmediately`
 * false), in text or JSON, with no history echoed back.
 *
 * @param question The question.
 * @param messageId The message's id (a UUID; also the JSON-RPC id).
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import { sendMessageBody } from "./a2a.ts";
 * import assert from "node:assert/strict";
 *
 * const body = JSON.parse(sendMessageBody("why?", "m-1"));
 * assert.equal(body.method, "SendMessage");
 * assert.deepEqual(body.params.message.parts, [{ text: "why?", mediaType: "text/plain" }]);
 * ```
 */
export function sendMessageBody(question: string, messageId: string): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id: messageId,
    method: "SendMessage",
    params: {
      message: {
        messageId,
        role: "ROLE_USER",
        parts: [{ text: question, mediaType: "text/plain" }],
      },
      configuration: {
        acceptedOutputModes: ["text/plain", "application/json"],
        historyLength: 0,
        returnImmediately: false,
      },
    },
  });
}

/** An agent's answer, read. */
export interface A2aAnswer {
  /** The answer's text (text parts, JSON of data parts, one per line). */
  readonly text: string;
  /** `message`, or the task's state (`TASK_STATE_COMPLETED`). */
  readonly state: string;
  /** The task's id, if the answer is a task (at most 200 characters). */
  readonly taskId?: string | undefined;
}

/**
 * Reads the JSON-RPC response to a `SendMessage`: a `result` with a
 * `message`, or a `task` in state `TASK_STATE_COMPLETED` (its artifacts'
 * parts, else its status message's).
 *
 * @param text The response body.
 * @param id The request's id, which the response must echo.
 * @param endpoint Where it came from (for messages).
 * @returns The answer.
 * @throws {LipFetchError} `bad_response` (not a JSON-RPC 2.0 response to this request),
 *   `agent_error` (an error object: its code and message, shortened), `no_answer` (a task in
 *   another state, or no text at all).
 *
 * @example
 * ```ts
 * import { readSendMessageReply } from "./a2a.ts";
 * import assert from "node:assert/strict";
 *
 * const at = new URL("https://agent.example/rpc");
 * const ok = { jsonrpc: "2.0", id: "m-1", result: { message: { role: "ROLE_AGENT", parts: [{ text: "100 C" }] } } };
 * assert.equal(readSendMessageReply(JSON.stringify(ok), "m-1", at).text, "100 C");
 * const err = { jsonrpc: "2.0", id: "m-1", error: { code: -32001, message: "Task not found" } };
 * assert.throws(() => readSendMessageReply(JSON.stringify(err), "m-1", at), { code: "agent_error" });
 * const working = { jsonrpc: "2.0", id: "m-1", result: { task: { id: "t", status: { state: "TASK_STATE_WORKING" } } } };
 * assert.throws(() => readSendMessageReply(JSON.stringify(working), "m-1", at), { code: "no_answer" });
 * ```
 */
export function readSendMessageReply(text: string, id: string, endpoint: URL): A2aAnswer {
  const at = shownUrl(endpoint);
  const fail = (code: "bad_response" | "agent_error" | "no_answer", why: string) =>
    new LipFetchError(code, `A2A agent at ${at} ${why}`, { url: at });
  let reply: unknown;
  try {
    reply = JSON.parse(text);
  } catch {
    throw fail("bad_response", "answered with something that is not JSON");
  }
  if (!_isObject(reply) || reply.jsonrpc !== "2.0" || reply.id !== id) {
    throw fail("bad_response", "answered with something that is not a JSON-RPC 2.0 response to it");
  }
  if (("result" in reply) === ("error" in reply)) {
    throw fail("bad_response", "answered with neither exactly a result nor an error");
  }
  if ("error" in reply) {
    const e = _isObject(reply.error) ? reply.error : {};
    const code = Number.isSafeInteger(e.code) ? e.code : "without a code";
    const message = typeof e.message === "string" ? _shown(e.message) : "";
    throw fail("agent_error", `answered error ${code}: ${JSON.stringify(message)}`);
  }
  const result = _isObject(reply.result) ? reply.result : {};
  if (_isObject(result.message)) {
    return _answer(_partsText(result.message.parts), "message", undefined, fail);
  }
  if (!_isObject(result.task)) {
    throw fail("bad_response", "answered with a result that is neither a message nor a task");
  }
  const task = result.task;
  const status = _isObject(task.status) ? task.status : {};
  const state = typeof status.state === "string" ? _shown(status.state) : "no state";
  const taskId = typeof task.id === "string" ? _shown(task.id) : undefined;
  if (state !== "TASK_STATE_COMPLETED") {
    throw fail("no_answer", `did not complete the task (${state}): no evidence`);
  }
  const artifacts = Array.isArray(task.artifacts) ? task.artifacts : [];
  let answer = artifacts.map((a) => _isObject(a) ? _partsText(a.parts) : "").filter((t) => t !== "")
    .join("\n");
  if (answer === "" && _isObject(status.message)) answer = _partsText(status.message.parts);
  return _answer(answer, state, taskId, fail);
}

function _answer(
  text: string,
  state: string,
  taskId: string | undefined,
  fail: (code: "no_answer", why: string) => LipFetchError,
): A2aAnswer {
  if (text.trim() === "") throw fail("no_answer", "answered with no text: no evidence");
  return taskId === undefined ? { text, state } : { text, state, taskId };
}

function _partsText(parts: unknown): string {
  if (!Array.isArray(parts)) return "";
  const out: string[] = [];
  for (const p of parts) {
    if (!_isObject(p)) continue;
    if (typeof p.text === "string") out.push(p.text);
    else if ("data" in p) out.push(JSON.stringify(p.data) ?? "");
  }
  return out.join("\n");
}

function _isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function _shown(text: string): string {
  return [...text].slice(0, _SHOWN_CHARS).join("");
}

/** What {@linkcode askA2aAgent} needs besides the exchange. */
export interface AskOptions {
  /** Constraints and bounds of the request. */
  readonly limits: CheckedLimits;
  /** Aborts it (the fetch's deadline). */
  readonly signal: AbortSignal;
  /** The `user-agent` header. */
  readonly userAgent: string;
  /** Draws the message id. */
  readonly random: RandomSource;
  /** The clock for `retrievedAt`. */
  readonly clock: () => Date;
}

function _contentType(type: string | undefined, url: URL, what: string): void {
  if (type === undefined || !_JSON_TYPE.test(type)) {
    throw new LipFetchError(
      "bad_response",
      `${what} at ${shownUrl(url)} came as ${JSON.stringify(type ?? "")}, not JSON`,
      { url: shownUrl(url) },
    );
  }
}

/**
 * Asks an A2A agent one question through the checked exchange: its card
 * (a `GET`, redirects checked, at most {@linkcode A2A_CARD_MAX_BYTES}),
 * then the `SendMessage` (a `POST`, never redirected), both within the
 * caller's one deadline and body bound.
 *
 * @param http The checked exchange.
 * @param uri The agent and the question.
 * @param options Bounds, signal, user agent, random source, clock.
 * @returns The answer as a document: `url` and `finalUrl` the canonical URI, `contentType`
 *   `text/plain`, `text` the answer, `bytes` and `sha256` of the answer's UTF-8, `a2a` the card,
 *   endpoint, state and task id.
 * @throws {LipFetchError} The exchange's codes, `unsupported_query` (no question), `bad_card`,
 *   `bad_response`, `agent_error`, `no_answer`.
 */
export async function askA2aAgent(
  http: CheckedHttp,
  uri: A2aUri,
  options: AskOptions,
): Promise<FetchedDocument> {
  if (uri.question.trim() === "") {
    throw new LipFetchError("unsupported_query", `A2A URI ${uri.uri} asks no question (?q=)`);
  }
  if (uri.base.protocol === "http:" && !http.listed(uri.base.origin)) {
    throw new LipFetchError(
      "unsupported_query",
      `${uri.uri} is plain http: a2a+http is only for an origin the operator listed`,
    );
  }
  const { limits, signal } = options;
  const headers = {
    "user-agent": options.userAgent,
    accept: "application/json",
    "a2a-version": A2A_PROTOCOL_VERSION,
  };
  const card = await http.request(agentCardUrl(uri.base), { method: "GET", headers }, {
    ...limits,
    maxBodyBytes: Math.min(limits.maxBodyBytes, A2A_CARD_MAX_BYTES),
  }, signal);
  _contentType(card.header("content-type"), card.url, "Agent Card");
  const { name, endpoint } = readAgentCard(
    new TextDecoder().decode(card.body),
    card.url,
    (o) => http.listed(o),
  );
  const messageId = randomUuid(options.random);
  const reply = await http.request(
    endpoint,
    {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: new TextEncoder().encode(sendMessageBody(uri.question, messageId)),
    },
    { ...limits, maxRedirects: 0 },
    signal,
  );
  _contentType(reply.header("content-type"), endpoint, "A2A answer");
  const answer = readSendMessageReply(new TextDecoder().decode(reply.body), messageId, endpoint);
  return textDocument(answer.text, {
    url: uri.uri,
    finalUrl: uri.uri,
    redirects: card.redirects,
    status: reply.status,
    contentType: "text/plain",
    retrievedAt: options.clock().toISOString(),
    topics: limits.constraints.topics,
    a2a: {
      agent: name,
      card: shownUrl(card.url),
      endpoint: shownUrl(endpoint),
      state: answer.state,
      ...(answer.taskId === undefined ? {} : { taskId: answer.taskId }),
    },
  });
}
