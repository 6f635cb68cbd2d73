/**
 * The gateway's HTTP side (`Deno.serve`), `web4 serve --a2a HOST:PORT`:
 *
 * - `GET /.well-known/agent-card.json`: the Agent Card (public, as A2A
 *   clients discover it before they authenticate);
 * - `POST /a2a`: JSON-RPC 2.0 (`SendMessage`, `SendStreamingMessage` as
 *   Server-Sent Events, `GetTask`, `CancelTask`; the 0.3 names too). A
 *   client holds at most `maxStreams` streams, each open at most
 *   `maxStreamMs` (429 past the count). Every call needs `Authorization: Bearer TOKEN` of an
 *   admitted client (401 otherwise, compared in constant time); the body is
 *   read at most `maxBodyBytes` (413 past it, announced or streamed); a
 *   client has at most `maxInFlight` calls at once (429); malformed bodies
 *   and calls get JSON-RPC error objects, and an unexpected failure is a
 *   JSON-RPC internal error, never a 500 nor a hang.
 *
 * Loopback unless given a TLS certificate (the console's rule).
 *
 * @module
 */

import type { HostPort } from "../args.ts";
import { agentCard } from "./card.ts";
import { clientOf } from "./clients.ts";
import type { A2aGateway, GatewayClient } from "./gateway.ts";
import type { GatewayTask } from "./tasks.ts";
import {
  A2A_ERRORS,
  type A2aCall,
  A2aRpcError,
  parseCall,
  requestIdOf,
  resultOf,
  streamUpdate,
  TERMINAL_STATES,
} from "./protocol.ts";
import { BodyTooLargeError, readBody } from "../http_body.ts";

/** The path of the JSON-RPC endpoint. */
export const A2A_RPC_PATH = "/a2a";
/** The path of the Agent Card. */
export const A2A_CARD_PATH = "/.well-known/agent-card.json";

/** Options of {@linkcode startA2a}. */
export interface A2aServerOptions {
  /** Where to listen. */
  address: HostPort;
  /** The gateway. */
  gateway: A2aGateway;
  /** The admitted clients. */
  clients: readonly GatewayClient[];
  /** What the card says. */
  card: { agentId: string; fingerprint: string; mission: string; version: string };
  /** The shared topics (the card's skills). */
  shared: readonly string[];
  /** TLS for a non-loopback address. */
  tls?: { cert: string; key: string } | undefined;
  /** The largest request body (bytes). @default {65536} */
  maxBodyBytes?: number | undefined;
  /** Calls one client may have in flight. @default {8} */
  maxInFlight?: number | undefined;
  /** Streams one client may hold open. @default {2} */
  maxStreams?: number | undefined;
  /** How long a stream stays open at most (ms); it ends then, the task goes on. @default {300000} */
  maxStreamMs?: number | undefined;
  /** Where refusals are reported (one line each). */
  warn?: ((line: string) => void) | undefined;
}

/** A running gateway server. */
export interface A2aServer {
  /** The base URL (the card is at `URL/.well-known/agent-card.json`). */
  url: string;
  /** The bound address. */
  address: HostPort;
  /** Stops serving. */
  shutdown(): Promise<void>;
}

function _json(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
      ...headers,
    },
  });
}

function _rpcError(
  id: string | number | null,
  code: number,
  message: string,
  data?: Record<string, unknown>,
): Record<string, unknown> {
  return { jsonrpc: "2.0", id, error: { code, message, ...(data === undefined ? {} : { data }) } };
}

function _text(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { "content-type": "text/plain", ...headers },
  });
}

/**
 * Starts serving the gateway.
 *
 * @param options Address, gateway, clients, card, TLS, bounds.
 * @returns The running server.
 */
export function startA2a(options: A2aServerOptions): Promise<A2aServer> {
  const maxBody = options.maxBodyBytes ?? 65_536;
  const maxInFlight = options.maxInFlight ?? 8;
  const inFlight = new Map<string, number>();
  const maxStreams = options.maxStreams ?? 2;
  const maxStreamMs = options.maxStreamMs ?? 300_000;
  const streams = new Map<string, number>();
  const closing = new Set<() => void>();
  const enc = new TextEncoder();

  const release = (client: string) => {
    const n = (streams.get(client) ?? 1) - 1;
    if (n <= 0) streams.delete(client);
    else streams.set(client, n);
  };

  /**
   * The SSE answer of a stream (its slot already reserved): the task, then
   * each change, until terminal or `maxStreamMs`.
   */
  const stream = (call: A2aCall, task: GatewayTask, client: string): Response => {
    let done = false;
    let unfollow = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    const end = (c?: ReadableStreamDefaultController<Uint8Array>) => {
      if (done) return;
      done = true;
      unfollow();
      clearTimeout(timer);
      closing.delete(finish);
      release(client);
      try {
        c?.close();
      } catch { /* already closed */ }
    };
    let finish = () => end();
    const event = (result: Record<string, unknown>) =>
      enc.encode(`data: ${JSON.stringify({ jsonrpc: "2.0", id: call.id, result })}\n\n`);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        finish = () => end(c);
        closing.add(finish);
        c.enqueue(event(resultOf(call, task)));
        if (TERMINAL_STATES.has(task.state)) return end(c);
        unfollow = options.gateway.follow(task.id, (t) => {
          if (done) return;
          c.enqueue(event(streamUpdate(t, call.legacy)));
          if (TERMINAL_STATES.has(t.state)) end(c);
        });
        timer = setTimeout(() => end(c), maxStreamMs);
      },
      cancel() {
        end();
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
    });
  };
  const scheme = options.tls === undefined ? "http" : "https";
  let base = "";
  let cardJson = "";
  const warn = options.warn ?? (() => {});

  const rpc = async (req: Request): Promise<Response> => {
    const client = clientOf(req.headers.get("authorization"), options.clients);
    if (client === undefined) {
      warn(`warning: a2a refused ${req.method} ${A2A_RPC_PATH}: no valid bearer token (401)`);
      return _text(401, "Unauthorized: a valid bearer token is needed", {
        "www-authenticate": 'Bearer realm="a2a"',
      });
    }
    const held = inFlight.get(client.name) ?? 0;
    if (held >= maxInFlight) {
      return _json(
        _rpcError(null, A2A_ERRORS.QUOTA, `Client has ${held} calls in flight, the most it may`),
        429,
        { "retry-after": "1" },
      );
    }
    inFlight.set(client.name, held + 1);
    try {
      let bytes: Uint8Array;
      try {
        bytes = await readBody(req, maxBody);
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          return _text(413, `Payload Too Large: at most ${maxBody} bytes`);
        }
        return _json(_rpcError(null, A2A_ERRORS.PARSE_ERROR, "The body could not be read"));
      }
      let body: unknown;
      try {
        body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
      } catch {
        return _json(_rpcError(null, A2A_ERRORS.PARSE_ERROR, "Parse error: the body is not JSON"));
      }
      const id = requestIdOf(body);
      try {
        const call = parseCall(body);
        const streaming = call.method === "SendStreamingMessage";
        if (streaming && (streams.get(client.name) ?? 0) >= maxStreams) {
          throw new A2aRpcError(
            "QUOTA",
            `Client holds ${maxStreams} open streams, the most it may`,
          );
        }
        if (!streaming) {
          const task = await options.gateway.run(call, client);
          return _json({ jsonrpc: "2.0", id: call.id, result: resultOf(call, task) });
        }
        streams.set(client.name, (streams.get(client.name) ?? 0) + 1);
        let task: GatewayTask;
        try {
          task = await options.gateway.run(call, client);
        } catch (err) {
          release(client.name);
          throw err;
        }
        return stream(call, task, client.name);
      } catch (err) {
        if (err instanceof A2aRpcError) {
          return _json(
            _rpcError(id, err.rpcCode, err.message, err.data),
            err.code === "QUOTA" ? 429 : 200,
          );
        }
        warn(`warning: a2a internal error: ${(err as Error).message}`);
        return _json(_rpcError(id, A2A_ERRORS.INTERNAL_ERROR, "Internal error"));
      }
    } finally {
      const n = (inFlight.get(client.name) ?? 1) - 1;
      if (n <= 0) inFlight.delete(client.name);
      else inFlight.set(client.name, n);
    }
  };

  const handler = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (path === A2A_CARD_PATH) {
      if (req.method !== "GET" && req.method !== "HEAD") {
        return _text(405, "Method Not Allowed", { allow: "GET" });
      }
      return new Response(cardJson, {
        headers: { "content-type": "application/json", "cache-control": "no-store" },
      });
    }
    if (path === A2A_RPC_PATH) {
      if (req.method !== "POST") return _text(405, "Method Not Allowed", { allow: "POST" });
      try {
        return await rpc(req);
      } catch {
        return _json(_rpcError(null, A2A_ERRORS.INTERNAL_ERROR, "Internal error"));
      }
    }
    return _text(404, "Not Found");
  };

  const { promise, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: options.address.hostname,
    port: options.address.port,
    ...(options.tls === undefined ? {} : { cert: options.tls.cert, key: options.tls.key }),
    onListen: (addr) => resolve(addr),
    onError: () => _json(_rpcError(null, A2A_ERRORS.INTERNAL_ERROR, "Internal error")),
  }, handler);
  return promise.then((addr) => {
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    base = `${scheme}://${host}:${addr.port}`;
    cardJson = JSON.stringify(agentCard({
      ...options.card,
      url: `${base}${A2A_RPC_PATH}`,
      shared: options.shared,
    }));
    return {
      url: base,
      address: { hostname: addr.hostname, port: addr.port },
      shutdown: async () => {
        for (const finish of [...closing]) finish();
        await server.shutdown();
      },
    };
  });
}
