/**
 * The control endpoint of a running `web4 serve`: HTTP on a Unix socket
 * (mode 0600) in a private folder (mode 0700), with its own operator token
 * (mode 0600 file beside it; never the console's token). `web4 status`,
 * `send`, `trust` and `events --follow` use it instead of opening a second
 * agent with the same key. Lists are paged (`cursor`, `limit` up to a
 * maximum); requests are bounded in bytes and time.
 *
 * Routes (JSON): `GET /v1/status`, `GET /v1/peers?cursor=&limit=`,
 * `GET /v1/events?cursor=&limit=&wait=`, `POST /v1/send`.
 *
 * @module
 */

import { BodyTooLargeError, readBody } from "../http_body.ts";
import type { Agent } from "../../lib/agent/mod.ts";
import {
  createEnvelope,
  encodeEnvelope,
  type Envelope,
  type HumanState,
} from "../../lib/envelope/mod.ts";
import { NEUTRAL_HUMAN_STATE } from "../../lib/hcp/mod.ts";
import type { Identity } from "../../lib/identity/mod.ts";
import { channelOf } from "../../lib/router/mod.ts";
import type { ControlEvents } from "./events.ts";
import { CONTROL_SOCKET, CONTROL_TOKEN, makePrivateDir } from "./paths.ts";
import { ControlClient } from "./client.ts";

/** Most peers one page holds. */
export const MAX_PEERS_PAGE = 100;
/** Most events one page holds. */
export const MAX_EVENTS_PAGE = 500;
/** Longest a follower's request waits for a new event, in ms. */
export const MAX_EVENTS_WAIT_MS = 25_000;
/** Longest `send` waits for the answer, in ms. */
export const MAX_SEND_TIMEOUT_MS = 30_000;
/** Largest request body, in bytes. */
export const MAX_BODY_BYTES = 256 * 1024;

/** What the control endpoint reads from the serving host (`AgentHost`). */
export interface ControlHost {
  /** The current agent (replaced when a person enrols). */
  readonly agent: Agent;
  /** Where it listens. */
  readonly address: { hostname: string; port: number };
  /** The enrolled person, if any. */
  readonly person: string | undefined;
}

/** Options of {@linkcode startControl}. */
export interface ControlOptions {
  /** The private folder (created with mode 0700). */
  dir: string;
  /** The serving host. */
  host: ControlHost;
  /** The agent's identity (signs what `send` sends). */
  identity: Identity;
  /** The recent events. */
  events: ControlEvents;
  /** The agent's clock in ms. @default {Date.now} */
  now?: () => number;
}

/** A running control endpoint. */
export interface ControlServer {
  /** Its folder. */
  readonly dir: string;
  /** Its socket's path. */
  readonly socket: string;
  /** Stops serving and removes the socket and the token. */
  shutdown(): Promise<void>;
}

/**
 * Starts the control endpoint. Refuses when another serve for the same
 * agent already answers on the socket; a stale socket is replaced.
 *
 * @param options Folder, host, identity, events.
 * @returns The server.
 * @throws {Error} When the folder is open to others or another serve runs.
 */
export async function startControl(options: ControlOptions): Promise<ControlServer> {
  const { dir, host, identity, events } = options;
  const now = options.now ?? Date.now;
  const started = now();
  const socket = `${dir}/${CONTROL_SOCKET}`;
  if (new TextEncoder().encode(socket).length >= 104) {
    throw new Error(
      `The control socket path ${socket} is too long for a Unix socket; give serve a shorter --control-dir`,
    );
  }
  await makePrivateDir(dir);
  const tokenPath = `${dir}/${CONTROL_TOKEN}`;
  const running = await ControlClient.find(dir).catch(() => undefined);
  if (running !== undefined) {
    running.close();
    throw new Error(`Another web4 serve for this agent runs (control socket ${socket})`);
  }
  await Deno.remove(socket).catch(() => {});
  await Deno.remove(tokenPath).catch(() => {});
  const token = crypto.getRandomValues(new Uint8Array(32)).toBase64({ alphabet: "base64url" });
  await Deno.writeTextFile(tokenPath, `${token}\n`, { mode: 0o600, createNew: true });
  const stop = new AbortController();
  const route = _router({ host, identity, events, started, now, signal: stop.signal });
  const server = Deno.serve({ path: socket, signal: stop.signal, onListen() {} }, async (req) => {
    if (!_same(req.headers.get("authorization") ?? "", `Bearer ${token}`)) {
      return _json(401, {
        error: "unauthorized",
        reason: `wrong or missing operator token (it is in ${tokenPath})`,
      });
    }
    try {
      return await route(req);
    } catch (err) {
      return _json(500, { error: "internal", reason: (err as Error).message.split("\n")[0] });
    }
  });
  await Deno.chmod(socket, 0o600);
  return {
    dir,
    socket,
    async shutdown() {
      stop.abort();
      await server.finished;
      await Deno.remove(socket).catch(() => {});
      await Deno.remove(tokenPath).catch(() => {});
      await Deno.remove(dir).catch(() => {}); // only when empty
    },
  };
}

function _router(c: {
  host: ControlHost;
  identity: Identity;
  events: ControlEvents;
  started: number;
  now: () => number;
  signal: AbortSignal;
}): (req: Request) => Promise<Response> {
  return async (req) => {
    const url = new URL(req.url);
    const agent = c.host.agent;
    if (req.method === "GET" && url.pathname === "/v1/status") {
      return _json(200, {
        agentId: c.identity.agentId,
        fingerprint: c.identity.fingerprint,
        listen: `${c.host.address.hostname}:${c.host.address.port}`,
        person: c.host.person ?? null,
        presence: agent.load.presence,
        lri: agent.load.lri,
        peers: agent.peers().length,
        verifiedPeers: agent.peers().filter((p) => p.verified).length,
        uptimeSeconds: Math.max(0, Math.round((c.now() - c.started) / 1000)),
        stopped: agent.stopped,
      });
    }
    if (req.method === "GET" && url.pathname === "/v1/peers") {
      const paging = _paging(url, 50, MAX_PEERS_PAGE);
      if (typeof paging === "string") return _json(400, { error: "bad_request", reason: paging });
      const all = agent.peers().sort((a, b) => a.fingerprint.localeCompare(b.fingerprint));
      const items = all.slice(paging.cursor, paging.cursor + paging.limit);
      const end = paging.cursor + items.length;
      return _json(200, { items, next: end < all.length ? String(end) : null });
    }
    if (req.method === "GET" && url.pathname === "/v1/events") {
      const paging = _paging(url, 100, MAX_EVENTS_PAGE);
      if (typeof paging === "string") return _json(400, { error: "bad_request", reason: paging });
      const wait = Math.min(Number(url.searchParams.get("wait") ?? 0) || 0, MAX_EVENTS_WAIT_MS);
      await c.events.wait(paging.cursor, wait, AbortSignal.any([c.signal, req.signal]));
      const page = c.events.page(paging.cursor, paging.limit);
      return _json(200, { items: page.items, next: String(page.next) });
    }
    if (req.method === "POST" && url.pathname === "/v1/send") {
      const body = await _body(req);
      if (typeof body === "string") return _json(400, { error: "bad_request", reason: body });
      return await _send(agent, c.identity, body);
    }
    return _json(404, { error: "not_found", reason: `no route ${req.method} ${url.pathname}` });
  };
}

/** What `POST /v1/send` takes. */
interface _SendBody {
  fingerprint: string;
  to?: { hostname: string; port: number };
  agentId?: string;
  protocol: "cip" | "hcp" | "lip";
  type: string;
  payload: unknown;
  human?: Partial<HumanState>;
  timeoutMs?: number;
}

async function _send(agent: Agent, identity: Identity, b: _SendBody): Promise<Response> {
  const bad = (reason: string) => _json(400, { error: "bad_request", reason });
  if (typeof b.fingerprint !== "string" || !/^[0-9a-f]{64}$/.test(b.fingerprint)) {
    return bad("fingerprint must be 64 lowercase hex digits");
  }
  if (b.protocol !== "cip" && b.protocol !== "hcp" && b.protocol !== "lip") {
    return bad("protocol must be cip, hcp or lip");
  }
  let channel: string;
  try {
    channel = channelOf(b.protocol, String(b.type));
  } catch {
    return bad(`${b.type} is not a ${b.protocol.toUpperCase()} message type`);
  }
  const timeoutMs = Math.min(Math.max(0, Number(b.timeoutMs ?? 2000) || 0), MAX_SEND_TIMEOUT_MS);
  const fp = b.fingerprint;
  if (agent.peer(fp)?.verified !== true) {
    if (b.to === undefined) {
      return _json(409, { error: "not_connected", reason: `no session to ${fp.slice(0, 16)}` });
    }
    try {
      await agent.connect({ hostname: b.to.hostname, port: b.to.port, fingerprint: fp });
    } catch (err) {
      return _json(502, {
        error: "unreachable",
        reason: `cannot reach ${b.to.hostname}:${b.to.port}: ${
          (err as Error).message.split("\n")[0]
        }`,
      });
    }
  }
  let envelope: Envelope;
  try {
    const human = b.protocol === "hcp"
      ? { ...NEUTRAL_HUMAN_STATE, ...(b.human ?? {}) } as HumanState
      : undefined;
    envelope = await createEnvelope(b.protocol as "cip", b.type as "HELLO", {
      identity,
      receiver: { agent_id: b.agentId ?? agent.peer(fp)?.agentId ?? "peer", fingerprint: fp },
      payload: b.payload as never,
      ...(human === undefined ? {} : { state: { human } as never }),
    }) as Envelope;
  } catch (err) {
    return bad(`invalid ${b.type} envelope: ${(err as Error).message.split("\n")[0]}`);
  }
  let answered!: (e: Envelope) => void;
  const answer = new Promise<Envelope | undefined>((resolve) => answered = resolve);
  const off = agent.on("afterCycle", (e) => {
    const got = e.result.envelope;
    const to = (got?.payload as { in_reply_to?: unknown } | undefined)?.in_reply_to;
    if (e.peer === fp && got !== undefined && to === envelope.msg_id) answered(got);
  });
  const timer = setTimeout(() => answered(undefined as never), timeoutMs);
  try {
    await agent.sendFrame(fp, channel as "control", encodeEnvelope(envelope));
    const reply = await answer;
    if (reply === undefined) return _json(200, { outcome: "delivered", msg_id: envelope.msg_id });
    const refused = /ERROR$/.test(reply.type);
    return _json(200, {
      outcome: refused ? "refused" : "reply",
      msg_id: envelope.msg_id,
      reply: { type: reply.type, msg_id: reply.msg_id, payload: reply.payload },
    });
  } catch (err) {
    return _json(502, { error: "send_failed", reason: (err as Error).message.split("\n")[0] });
  } finally {
    clearTimeout(timer);
    off();
  }
}

function _paging(url: URL, dflt: number, max: number): { cursor: number; limit: number } | string {
  const c = url.searchParams.get("cursor") ?? "0";
  const l = url.searchParams.get("limit") ?? String(dflt);
  if (!/^\d{1,9}$/.test(c)) return `cursor must be a non-negative integer, got "${c}"`;
  if (!/^\d{1,9}$/.test(l) || Number(l) < 1) return `limit must be a positive integer, got "${l}"`;
  return { cursor: Number(c), limit: Math.min(Number(l), max) };
}

async function _body(req: Request): Promise<_SendBody | string> {
  if (req.body === null) return "a JSON body is required";
  let bytes: Uint8Array;
  try {
    bytes = await readBody(req, MAX_BODY_BYTES);
  } catch (err) {
    if (err instanceof BodyTooLargeError) return `the body is larger than ${MAX_BODY_BYTES} bytes`;
    throw err;
  }
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes));
    return typeof v === "object" && v !== null ? v as _SendBody : "the body must be a JSON object";
  } catch {
    return "the body is not JSON";
  }
}

function _same(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a.charCodeAt(i) || 0) ^ b.charCodeAt(i);
  return diff === 0;
}

function _json(status: number, body: unknown): Response {
  return new Response(`${JSON.stringify(body)}\n`, {
    status,
    headers: { "content-type": "application/json" },
  });
}
