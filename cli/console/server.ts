/**
 * The person's console: a local web page served by `web4 serve --console`
 * (`Deno.serve`). It shows the agent's live events (Server-Sent Events),
 * peers and trust, facts and LIP claims by state, mission-drift warnings;
 * its HCP panel signs envelopes in the browser with the person's key
 * (WebCrypto, non-extractable, IndexedDB) using the project's own envelope
 * code, bundled with `deno bundle` (`./page.ts`).
 *
 * Access: loopback by default (TLS needed otherwise); every request needs the
 * per-run token (`?token=` or `Authorization: Bearer`); state-changing
 * requests need the console's own `Origin`; over plain HTTP every request
 * needs the console's own `Host` (DNS rebinding; over TLS the certificate
 * binds the name); a refusal is 401 (or 403) and logged.
 *
 * The person's history (consent, outcomes, peers, facts, drift, the event
 * stream) is served only to a page that proved the enrolled person's key
 * (`./proof.ts`: a challenge signed in the browser, then a per-page
 * credential); any other request with the token is a viewer and gets who
 * the agent is ({@linkcode viewerState}), and 403 on the lists and the stream.
 *
 * The person decides, not the page (docs/protocols.md §8): opening the console
 * sends nothing to the agent (it may enrol the browser's key, which gives
 * no consent); `/api/state` says the consent the agent holds, in words, and
 * the page sends that state with every message. A posted envelope is
 * answered with what the agent did with it (`delivered`, `held`, `refused`).
 * Every list is paged (`./state.ts`), every streamed event bounded.
 *
 * @module
 */

import {
  DEFAULT_MAX_ENVELOPE_BYTES,
  type Envelope,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import type { Web4Event } from "../../lib/observability/mod.ts";
import { channelOf } from "../../lib/router/mod.ts";
import type { HostPort } from "../args.ts";
import type { Io } from "../command.ts";
import type { AgentHost, EventHub } from "../commands/serve.ts";
import type { ConsoleBridge } from "./bridge.ts";
import { consoleBundle } from "./bundle.ts";
import { outcomeOf, type PostedOutcome } from "./outcome.ts";
import { pageHtml } from "./page_html.ts";
import { PersonProofs, proofPostOf } from "./proof.ts";
import {
  CLAIM_STATUSES,
  consoleState,
  factsPage,
  pageParams,
  peersPage,
  viewerState,
} from "./state.ts";
import { BodyTooLargeError, readBody } from "../http_body.ts";

/** Options of {@linkcode startConsole}. */
export interface ConsoleOptions {
  /** Where to listen. */
  address: HostPort;
  /** The per-run token. */
  token: string;
  /** The agent host (the current agent and the enrolled person). */
  host: AgentHost;
  /** The console's transport session bridge. */
  bridge: ConsoleBridge;
  /** The agent's events. */
  hub: EventHub;
  /** Where refusals are logged. */
  io: Io;
  /** Whether `--person` fixed the person (no enrolment). */
  personFixed: boolean;
  /** TLS for a non-loopback console. */
  tls?: { cert: string; key: string } | undefined;
  /** Enrols a fingerprint as the person. */
  onEnrol(fingerprint: string): Promise<void>;
  /** The clock of the person's proofs, in milliseconds (default `Date.now`). */
  now?: () => number;
}

/** A running console. */
export interface ConsoleServer {
  /** The page's URL (with the token). */
  url: string;
  /** The bound address. */
  address: HostPort;
  /** Stops serving (streams end). */
  shutdown(): Promise<void>;
}

const _enc = new TextEncoder();
/** Largest body of a proof or an enrolment (small JSON objects). */
const _SMALL_BODY_BYTES = 4096;

/** A small JSON body, or `BodyTooLargeError`/`SyntaxError`. */
async function _smallJson(req: Request): Promise<unknown> {
  return JSON.parse(new TextDecoder().decode(await readBody(req, _SMALL_BODY_BYTES)));
}
/** How long a post waits for the agent's outcome before answering 202 without one. */
const _OUTCOME_WAIT_MS = 10_000;
/** Recent events a new event stream starts with. */
const _HELLO_EVENTS = 100;
/** The most UTF-8 bytes of one streamed event; a larger one is sent without its data. */
const _EVENT_BYTES = 4096;

/** One event as the stream sends it: whole, or without its data when over 4 KiB. */
function _eventJson(e: Web4Event): string {
  const json = JSON.stringify(e);
  if (json.length <= _EVENT_BYTES / 3 || _enc.encode(json).length <= _EVENT_BYTES) return json;
  return JSON.stringify({ ...e, data: { truncated: true, bytes: _enc.encode(json).length } });
}

function _timingSafeEqual(a: string, b: string): boolean {
  const x = _enc.encode(a);
  const y = _enc.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

function _json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/**
 * Starts the console.
 *
 * @param options Address, token, agent host, bridge, events, TLS.
 * @returns The running console.
 */
export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const { token, host, bridge, hub, io } = options;
  const bundle = await consoleBundle();
  const scheme = options.tls === undefined ? "http" : "https";
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const shutdownStreams = new AbortController();
  let origin = "";
  const proofs = new PersonProofs({
    agentFingerprint: host.agent.fingerprint,
    now: options.now ?? Date.now,
    random: (n) => crypto.getRandomValues(new Uint8Array(n)),
  });
  /** The Host values accepted over plain HTTP (loopback only): the bound address and localhost. */
  let loopbackHosts = new Set<string>();

  const deny = (req: Request, status: 401 | 403, why: string): Response => {
    const addr = new URL(req.url);
    host.agent.telemetry.emit("console.unauthorized", {
      path: addr.pathname,
      method: req.method,
      status,
      why,
    }, { severity: "warn" });
    io.err(`warning: console refused ${req.method} ${addr.pathname}: ${why} (${status})`);
    return new Response(`${status === 401 ? "Unauthorized" : "Forbidden"}: ${why}\n`, {
      status,
      headers: {
        "content-type": "text/plain",
        ...(status === 401 ? { "www-authenticate": "Bearer" } : {}),
      },
    });
  };

  const broadcast = (event: string, json: string) => {
    const bytes = _enc.encode(`event: ${event}\ndata: ${json}\n\n`);
    for (const c of streams) {
      try {
        c.enqueue(bytes);
      } catch {
        streams.delete(c);
      }
    }
  };
  const unsubscribe = hub.subscribe((e: Web4Event) => broadcast("web4", _eventJson(e)));
  // The agent's own envelopes to the person (bounded by the agent's schemas).
  const unlisten = bridge.onMessage((channel, bytes) =>
    broadcast("envelope", JSON.stringify({ channel, text: new TextDecoder().decode(bytes) }))
  );

  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (url.pathname === "/favicon.ico") return new Response(null, { status: 204 });
    // DNS rebinding: only our own Host.
    // DNS rebinding: over plain HTTP (loopback only) only our own Host; over
    // TLS the certificate binds the name.
    // The request's authority: the Host header, or HTTP/2's :authority.
    const hostName = url.host;
    if (options.tls === undefined && !loopbackHosts.has(hostName)) {
      return deny(req, 403, `Host ${hostName || "(none)"} is not this console's`);
    }
    const own = `${scheme}://${hostName}`;
    const given = url.searchParams.get("token") ??
      req.headers.get("authorization")?.replace(/^Bearer\s+/i, "") ?? null;
    if (given === null) return deny(req, 401, "missing token");
    if (!_timingSafeEqual(given, token)) return deny(req, 401, "wrong token");
    const o = req.headers.get("origin");
    if (req.method !== "GET" && req.method !== "HEAD") {
      if (o !== own) return deny(req, 403, `origin ${o ?? "(none)"} is not ${own}`);
    } else if (o !== null && o !== own) {
      return deny(req, 403, `origin ${o} is not ${own}`);
    }
    // The person's history only to a request that proved the person's key.
    const isPerson = proofs.isPerson(
      req.headers.get("x-web4-person") ?? url.searchParams.get("person"),
      host.person,
    );
    const personOnly = () => deny(req, 403, "only the enrolled person's proven key sees this");
    switch (`${req.method} ${url.pathname}`) {
      case "GET /":
        return new Response(pageHtml(token), {
          headers: {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "content-security-policy":
              "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
            "referrer-policy": "no-referrer",
          },
        });
      case "GET /console.js":
        return new Response(bundle, {
          headers: {
            "content-type": "text/javascript; charset=utf-8",
            "cache-control": "no-store",
          },
        });
      case "GET /api/state":
        return _json(
          isPerson
            ? consoleState(host, hub, options.personFixed)
            : viewerState(host, options.personFixed),
        );
      case "POST /api/proof/challenge":
        return _json({ challenge: proofs.challenge() });
      case "POST /api/proof": {
        let post;
        try {
          post = proofPostOf(await _smallJson(req));
        } catch (err) {
          if (err instanceof BodyTooLargeError) return _json({ error: "body too large" }, 413);
          post = null;
        }
        if (post === null) {
          return _json({ error: 'body must be {"challenge", "publicKey", "signature"}' }, 400);
        }
        const proved = await proofs.prove(post, host.person);
        if (typeof proved !== "string") return deny(req, 403, `no proof: ${proved.error}`);
        return _json({ credential: proved });
      }
      case "GET /api/peers":
      case "GET /api/facts": {
        if (!isPerson) return personOnly();
        const page = pageParams(url.searchParams);
        if ("error" in page) return _json(page, 400);
        let listed;
        if (url.pathname === "/api/peers") listed = peersPage(host, page);
        else {
          const of = url.searchParams.get("origin");
          const status = CLAIM_STATUSES.find((s) => s === url.searchParams.get("status"));
          if (of !== "cip" && of !== "lip") {
            return _json({ error: "origin must be cip or lip" }, 400);
          }
          if (status === undefined) {
            return _json({ error: `status must be one of ${CLAIM_STATUSES.join(", ")}` }, 400);
          }
          listed = factsPage(host, of, status, page);
        }
        return _json(listed, "error" in listed ? 400 : 200);
      }
      case "GET /api/events": {
        if (!isPerson) return personOnly();
        let me: ReadableStreamDefaultController<Uint8Array>;
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            me = c;
            streams.add(c);
            const recent = hub.recent.slice(-_HELLO_EVENTS).map(_eventJson).join(",");
            c.enqueue(_enc.encode(`event: hello\ndata: {"recent":[${recent}]}\n\n`));
            shutdownStreams.signal.addEventListener("abort", () => {
              streams.delete(c);
              try {
                c.close();
              } catch { /* closed */ }
            }, { once: true });
          },
          cancel() {
            streams.delete(me);
          },
        });
        return new Response(body, {
          headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
        });
      }
      case "POST /api/enrol": {
        let fp: unknown;
        try {
          fp = ((await _smallJson(req)) as { fingerprint?: unknown } | null)?.fingerprint;
        } catch (err) {
          if (err instanceof BodyTooLargeError) return _json({ error: "body too large" }, 413);
          return _json({ error: 'body must be {"fingerprint": ...}' }, 400);
        }
        if (typeof fp !== "string" || !/^[0-9a-f]{64}$/.test(fp)) {
          return _json({ error: "fingerprint must be 64 lowercase hex digits" }, 400);
        }
        if (host.person === fp) return _json({ person: fp, enrolled: false });
        if (host.person !== undefined) {
          return _json({
            error: `this agent's person is ${host.person}${
              options.personFixed ? " (set with --person)" : ""
            }`,
            person: host.person,
          }, 409);
        }
        await options.onEnrol(fp);
        broadcast("state", "{}");
        return _json({ person: fp, enrolled: true });
      }
      case "POST /api/envelope": {
        const person = host.person;
        if (person === undefined) return _json({ error: "no person is enrolled" }, 409);
        let bytes: Uint8Array;
        try {
          bytes = await readBody(req, DEFAULT_MAX_ENVELOPE_BYTES);
        } catch (err) {
          if (err instanceof BodyTooLargeError) return _json({ error: "envelope too large" }, 413);
          throw err;
        }
        let type: unknown;
        try {
          const parsed = JSON.parse(new TextDecoder().decode(bytes));
          if (parsed?.hcp !== "1.0") throw new Error("not HCP");
          type = parsed.type;
          channelOf("hcp", String(type));
        } catch {
          return _json({ error: "the console carries signed HCP/1.0 envelopes only" }, 400);
        }
        // The console authenticates its session per envelope: it must be signed
        // by the enrolled person (what TLS key possession is for an RTT peer).
        // A post that is not is refused here, so it cannot count against the
        // person's trust; the agent's router then verifies it like any envelope
        // and binds it to the person.
        let envelope: Envelope;
        try {
          envelope = await verifyEnvelope(bytes, {
            expectedSender: person,
            expectedReceiver: host.agent.fingerprint,
          });
        } catch (err) {
          const why = (err as Error).message.split("\n")[0];
          io.err(
            `warning: console refused POST /api/envelope: not signed by the enrolled person (${why})`,
          );
          host.agent.telemetry.emit("console.unauthorized", {
            path: url.pathname,
            method: req.method,
            status: 403,
            why: `not signed by the enrolled person: ${why}`,
          }, { severity: "warn" });
          return _json({ error: `not signed by the enrolled person: ${why}` }, 403);
        }
        // The agent's own answer: its cycle for this message (a typed event).
        const msgId = envelope.msg_id;
        const outcome: Promise<PostedOutcome | null> = host.agent.next(
          "afterCycle",
          (c) => c.peer === person && c.result.msgId === msgId,
          { timeoutMs: _OUTCOME_WAIT_MS },
        ).then((c) => outcomeOf(c.result), () => null);
        const session = bridge.sessionFor(person);
        session.push(channelOf("hcp", String(type)), bytes);
        const done = await outcome;
        return _json(
          { accepted: true, type, msgId, outcome: done },
          done === null ? 202 : 200,
        );
      }
    }
    return new Response("not found\n", { status: 404 });
  };

  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: options.address.hostname,
    port: options.address.port,
    ...(options.tls === undefined ? {} : { cert: options.tls.cert, key: options.tls.key }),
    onListen: () => {},
  }, handler);
  const bound = server.addr;
  const hostPart = bound.hostname.includes(":") ? `[${bound.hostname}]` : bound.hostname;
  loopbackHosts = new Set([`${hostPart}:${bound.port}`, `localhost:${bound.port}`]);
  origin = `${scheme}://${hostPart}:${bound.port}`;
  return {
    url: `${origin}/?token=${encodeURIComponent(token)}`,
    address: { hostname: bound.hostname, port: bound.port },
    async shutdown() {
      unsubscribe();
      unlisten();
      shutdownStreams.abort();
      await server.shutdown();
    },
  };
}
