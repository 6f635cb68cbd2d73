/**
 * `web4 serve`: a long-running agent. Listens (RTT), connects to its peers
 * and keeps reconnecting, writes events and serves metrics and the person's
 * console; SIGINT/SIGTERM stop it gracefully (sessions closed, store closed,
 * exit 0).
 *
 * @module
 */

import { Agent, type LoadSource } from "../../lib/agent/mod.ts";
import type { Identity } from "../../lib/identity/mod.ts";
import { HttpFetcher, parseOrigins, sourceKey } from "../../lib/lip/mod.ts";
import type { SourceTrustTier } from "../../lib/envelope/mod.ts";
import {
  AuditLog,
  type EventSink,
  JsonlFileSink,
  type Web4Event,
} from "../../lib/observability/mod.ts";
import { RttNode } from "../../lib/rtt/mod.ts";
import { openStore, type Store } from "../../lib/store/mod.ts";
import type { Transport } from "../../lib/transport/mod.ts";
import {
  aborted,
  type HostPort,
  isLoopback,
  loadKey,
  parseFingerprint,
  parseHostPort,
  parsePeer,
  type PeerSpec,
} from "../args.ts";
import {
  type Command,
  errorLine,
  type Io,
  listFlag,
  requiredFlag,
  stringFlag,
  UsageError,
} from "../command.ts";
import { ConsoleBridge, withConsole } from "../console/bridge.ts";
import { mismatchLine } from "../presented.ts";
import type { PinnedLevel } from "../../lib/trust/mod.ts";
import { clientPins, type GatewayClient } from "../a2a/gateway.ts";
import { A2A_FLAG_OPTIONS, a2aClients, parseA2aFlags, startA2aDoor } from "../a2a/door.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { type ConsoleServer, startConsole } from "../console/server.ts";
import { type MetricsServer, serveMetrics } from "../metrics_server.ts";
import { parseLoadFlag } from "../load.ts";
import { ControlEvents } from "../control/events.ts";
import { controlDir } from "../control/paths.ts";
import { startControl } from "../control/server.ts";

const USAGE = `Usage: web4 serve --key FILE --listen HOST:PORT [options]

Runs an agent until SIGINT or SIGTERM: listens for agents (RTT, TLS 1.3),
connects to every --peer and keeps reconnecting, and stops gracefully
(sessions closed, store closed, exit 0). Prints "listening on HOST:PORT",
"metrics on URL" and "console on URL" lines as they start.

Options:
  --key FILE                The agent's key file (web4 keygen)
  --listen HOST:PORT        Where to accept sessions (port 0: any free port)
  --store FILE              The agent's SQLite store (default: in memory)
  --mission TEXT            The declared mission (default: "act for my person")
  --allow-peer FP           Accept sessions only from these fingerprints (repeatable;
                            --peer, --trust and --person fingerprints are added).
                            Without it a non-loopback --listen admits any key (a warning
                            says what a stranger can then do)
  --trust FP                Peers trusted from the start (repeatable)
  --peer HOST:PORT=FP       Connect to this agent and keep reconnecting (repeatable)
  --person FP               The enrolled person (else the first console use enrols one)
  --fetch-origin ORIGIN     An origin (scheme://host:port) LIP may fetch although it is not
                            globally reachable (repeatable; default: none, so loopback and
                            private addresses are never fetched); also where an A2A agent
                            asked as a2a+http://HOST:PORT/?q=... lives (docs/a2a.md)
  --source-tier KEY=TIER    Pin a LIP source's tier (repeatable): KEY is an origin
                            (https://lab.example) or an A2A agent (a2a+https://agent.example),
                            TIER unknown, low, medium, high or blocked. medium and high accept
                            that source's claims on its tier alone (default: none pinned;
                            A2A agents start low, other sources unknown)
  --events FILE             Append every event as JSON Lines (see web4 events)
  --audit FILE              Keep the audit stream (trust, sanctions, handshakes, consent,
                            fetches; room reserved per trust level) in FILE
                            (default: STORE.audit.jsonl next to a --store file)
  --metrics HOST:PORT       Serve /metrics (Prometheus) and /healthz
  --console HOST:PORT       Serve the person's console (loopback unless --console-cert)
  --console-token-file F    Read the console token from F (default: a fresh one, printed)
  --console-cert FILE       TLS certificate (PEM) for a non-loopback console
  --console-key FILE        Its private key (PEM)
  --a2a HOST:PORT           Serve A2A clients (Agent Card, JSON-RPC; loopback unless --a2a-cert)
  --a2a-token-file F        One A2A client a line: NAME TOKEN [probing|trusted]
                            (default: one client "a2a" with a fresh token, printed)
  --a2a-share TOPIC         A topic (kind:value, or a word for topic:WORD) the agent may answer
                            A2A clients on, from accepted knowledge, when its person's consent
                            covers it (repeatable; default: none, so every answer is refused)
  --a2a-cert FILE           TLS certificate (PEM) for a non-loopback --a2a
  --a2a-key FILE            Its private key (PEM)
  --allow-remote-metrics    Allow a non-loopback --metrics address
  --load auto|N|off         The load index (lri) peers are told: auto (default) is the
                            agent's own pressure (inbound queue bytes, event-loop lag),
                            not the host's load average; N fixes it (0-100); off is 0
  --control-dir DIR         Where the control socket goes (default: see web4 status --help)
  --no-control              Serve no control socket
  -h, --help                Show this text

Without --person, the enrolled person is kept next to the store in
FILE.person (so it survives restarts); enrolling restarts the agent loop once.

Exit codes: 0 stopped by a signal, 1 failed to start (key, store, address),
2 usage error.`;

/**
 * What `serve` runs: the agent, restarted once when a person enrols. The
 * host makes each agent's transport (an `RttNode`, wrapped by
 * `withConsole` when the console is served) and shuts it down after the
 * agent stopped.
 */
export class AgentHost {
  /** The current agent. */
  agent!: Agent;
  /** The enrolled person, if any. */
  person: string | undefined;
  /** Where it listens (the bound port after the first start). */
  address: HostPort;
  readonly #options: _HostOptions;
  #restarting: Promise<void> | undefined;
  #transport: Transport | undefined;

  private constructor(options: _HostOptions) {
    this.#options = options;
    this.person = options.person;
    this.address = options.listen;
  }

  /**
   * Creates the agent and listens.
   *
   * @param options What the agent needs.
   * @returns The host.
   */
  static async start(options: _HostOptions): Promise<AgentHost> {
    const host = new AgentHost(options);
    await host.#create();
    return host;
  }

  async #create(): Promise<void> {
    const o = this.#options;
    const allow = o.allowPeers.length === 0 ? "any" : [
      ...new Set([...o.allowPeers, ...(this.person === undefined ? [] : [this.person])]),
    ];
    const node = await RttNode.create({ identity: o.identity, allowPeers: allow });
    const transport = o.bridge === undefined ? node : withConsole(node, o.bridge);
    this.#transport = transport;
    try {
      this.agent = await Agent.create({
        identity: o.identity,
        mission: o.mission,
        store: o.store,
        person: this.person,
        trustAnchors: o.trust,
        transport,
        sinks: o.sinks,
        fetcher: new HttpFetcher({ allowOrigins: o.fetchOrigins }),
        lip: { sourceTiers: o.sourceTiers },
        load: o.load,
        trustPins: o.trustPins,
      });
    } catch (err) {
      await this.#release();
      throw err;
    }
    try {
      const bound = await this.agent.listen(this.address);
      this.address = { hostname: bound.hostname, port: bound.port };
    } catch (err) {
      await this.agent.stop();
      await this.#release();
      throw err;
    }
  }

  /** Shuts down the current transport (after its agent stopped). */
  async #release(): Promise<void> {
    const transport = this.#transport;
    this.#transport = undefined;
    await transport?.shutdown({ deadlineMs: 200 }).catch(() => {});
  }

  /**
   * Enrols `person` and restarts the agent loop with it (sessions reconnect).
   *
   * @param person The person's fingerprint.
   * @returns Once the new agent listens.
   */
  enrol(person: string): Promise<void> {
    this.#restarting ??= (async () => {
      this.person = person;
      await this.agent.stop();
      await this.#release();
      this.#options.bridge?.reset();
      await this.#create();
    })().finally(() => this.#restarting = undefined);
    return this.#restarting;
  }

  /** Stops the agent, then shuts its transport down. */
  async stop(): Promise<void> {
    await this.#restarting?.catch(() => {});
    await this.agent.stop();
    await this.#release();
  }
}

interface _HostOptions {
  identity: Identity;
  mission: string;
  store: Store;
  listen: HostPort;
  person: string | undefined;
  trust: string[];
  allowPeers: string[];
  fetchOrigins: string[];
  sourceTiers: Record<string, SourceTrustTier>;
  sinks: EventSink[];
  bridge: ConsoleBridge | undefined;
  load: LoadSource;
  trustPins: Record<string, PinnedLevel>;
}

function _sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

/**
 * Connects to one peer and keeps reconnecting with backoff (250 ms .. 5 s).
 * One warning when it becomes unreachable; once it is connected again,
 * whether this side dialled or the peer dialled in, one line says so, so
 * the warning never stands after the peer is back.
 */
async function _keepConnected(host: AgentHost, peer: PeerSpec, signal: AbortSignal, io: Io) {
  const name = `${peer.fingerprint.slice(0, 16)} at ${peer.hostname}:${peer.port}`;
  let delay = 250;
  let failing = false;
  while (!signal.aborted) {
    const agent = host.agent;
    if (!agent.stopped && agent.peer(peer.fingerprint)?.verified === true) {
      if (failing) {
        // It dialled in while we were retrying: the warning is over.
        io.out(`connected to ${name} (it dialled in)`);
        failing = false;
        delay = 250;
      }
      // Re-checked every 2 s, and at once when the session ends.
      await agent.next("peerDown", (e) => e.peer === peer.fingerprint && e.final, {
        signal,
        timeoutMs: 2000,
      }).catch(() => undefined);
      continue;
    }
    try {
      await agent.connect({
        hostname: peer.hostname,
        port: peer.port,
        fingerprint: peer.fingerprint,
        signal,
      });
      io.out(`connected to ${name}`);
      failing = false;
      delay = 250;
    } catch (err) {
      if (signal.aborted) return;
      if (agent.peer(peer.fingerprint)?.verified === true) continue; // it dialled in meanwhile
      if (!failing) {
        const why = await mismatchLine(err, peer, peer.fingerprint) ?? errorLine(err).slice(7);
        io.err(`warning: peer ${name} unreachable (${why}); retrying`);
      }
      failing = true;
      // Back off, but stop waiting as soon as the peer dials in.
      const up = await agent.next("peerUp", (e) => e.peer === peer.fingerprint, {
        signal,
        timeoutMs: delay,
      }).then(() => true, () => false);
      if (!up && agent.stopped) await _sleep(delay, signal); // restarting: no events to wait for
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/** `web4 serve`. */
export const serveCommand: Command = {
  name: "serve",
  summary: "Run an agent: listen, connect to peers, serve metrics and the person's console",
  usage: USAGE,
  options: {
    key: { type: "string" },
    listen: { type: "string" },
    store: { type: "string" },
    mission: { type: "string" },
    "allow-peer": { type: "string", multiple: true },
    trust: { type: "string", multiple: true },
    peer: { type: "string", multiple: true },
    person: { type: "string" },
    "fetch-origin": { type: "string", multiple: true },
    "source-tier": { type: "string", multiple: true },
    events: { type: "string" },
    audit: { type: "string" },
    metrics: { type: "string" },
    console: { type: "string" },
    "console-token-file": { type: "string" },
    "console-cert": { type: "string" },
    "console-key": { type: "string" },
    "allow-remote-metrics": { type: "boolean" },
    ...A2A_FLAG_OPTIONS,
    load: { type: "string" },
    "control-dir": { type: "string" },
    "no-control": { type: "boolean" },
  },
  async run(args, io) {
    if (args.positionals.length > 0) {
      throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    }
    const keyPath = requiredFlag(args, "key");
    const listen = parseHostPort(requiredFlag(args, "listen"), "listen");
    const storePath = stringFlag(args, "store") ?? ":memory:";
    const mission = stringFlag(args, "mission") ?? "act for my person";
    const load = parseLoadFlag(stringFlag(args, "load"));
    if (mission.trim() === "") throw new UsageError("--mission must not be empty");
    const trust = listFlag(args, "trust").map((v) => parseFingerprint(v, "trust"));
    const peers = listFlag(args, "peer").map(parsePeer);
    const personFlag = stringFlag(args, "person");
    let person = personFlag === undefined ? undefined : parseFingerprint(personFlag, "person");
    const allowPeers = listFlag(args, "allow-peer").map((v) => parseFingerprint(v, "allow-peer"));
    const warning = openListenerWarning(listen, allowPeers);
    if (allowPeers.length > 0) allowPeers.push(...trust, ...peers.map((p) => p.fingerprint));
    let fetchOrigins: string[];
    try {
      fetchOrigins = parseOrigins(listFlag(args, "fetch-origin"));
    } catch (err) {
      throw new UsageError(`--fetch-origin: ${(err as Error).message}`);
    }
    const sourceTiers = parseSourceTiers(listFlag(args, "source-tier"));
    const metricsAt = stringFlag(args, "metrics");
    const metricsAddr = metricsAt === undefined ? undefined : parseHostPort(metricsAt, "metrics");
    if (
      metricsAddr !== undefined && !isLoopback(metricsAddr.hostname) &&
      args.values["allow-remote-metrics"] !== true
    ) {
      throw new UsageError(
        `--metrics ${metricsAt} is not a loopback address (add --allow-remote-metrics)`,
      );
    }
    const consoleAt = stringFlag(args, "console");
    const consoleAddr = consoleAt === undefined ? undefined : parseHostPort(consoleAt, "console");
    const cert = stringFlag(args, "console-cert");
    const certKey = stringFlag(args, "console-key");
    if ((cert === undefined) !== (certKey === undefined)) {
      throw new UsageError("--console-cert and --console-key go together");
    }
    if (consoleAddr !== undefined && !isLoopback(consoleAddr.hostname) && cert === undefined) {
      throw new UsageError(
        `--console ${consoleAt} is not a loopback address: it needs --console-cert and --console-key (WebCrypto needs a secure context)`,
      );
    }
    if (
      consoleAddr === undefined &&
      (cert !== undefined || stringFlag(args, "console-token-file") !== undefined)
    ) {
      throw new UsageError("--console-cert, --console-key and --console-token-file need --console");
    }

    const a2a = parseA2aFlags(args);

    for (const line of warning) io.err(line);
    let identity: Identity;
    try {
      identity = await loadKey(keyPath);
    } catch (err) {
      io.err(errorLine(err));
      return 1;
    }
    const personFile = storePath === ":memory:" ? undefined : `${storePath}.person`;
    if (person === undefined && personFile !== undefined) {
      try {
        person = parseFingerprint((await Deno.readTextFile(personFile)).trim(), "person");
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) {
          io.err(errorLine(new Error(`${personFile}: ${(err as Error).message}`)));
          return 1;
        }
      }
    }
    let token: string | undefined;
    const tokenFile = stringFlag(args, "console-token-file");
    if (consoleAddr !== undefined) {
      if (tokenFile !== undefined) {
        try {
          token = (await Deno.readTextFile(tokenFile)).trim();
        } catch (err) {
          io.err(
            errorLine(
              err instanceof Deno.errors.NotFound
                ? new Error(`No such token file: ${tokenFile}`)
                : err,
            ),
          );
          return 1;
        }
        if (token.length < 16) {
          io.err(`error: the token in ${tokenFile} is shorter than 16 characters`);
          return 1;
        }
      } else {
        token = crypto.getRandomValues(new Uint8Array(24)).toBase64({ alphabet: "base64url" });
      }
    }

    let clients: GatewayClient[] = [];
    if (a2a !== undefined) {
      try {
        clients = await a2aClients(a2a, identity);
      } catch (err) {
        io.err(errorLine(err));
        return 1;
      }
      if (allowPeers.length > 0) allowPeers.push(...clients.map((c) => c.identity.fingerprint));
    }

    const stop = new AbortController();
    const signal = io.signal;
    signal?.addEventListener("abort", () => stop.abort(), { once: true });

    let store: Store;
    try {
      store = openStore(storePath);
    } catch (err) {
      io.err(errorLine(new Error(`Cannot open store ${storePath}: ${(err as Error).message}`)));
      return 1;
    }
    const sinks: EventSink[] = [];
    const closers: (() => Promise<void> | void)[] = [() => store.close()];
    const cleanup = async () => {
      for (const c of closers.reverse()) await c();
    };
    let host: AgentHost | undefined;
    let consoleServer: ConsoleServer | undefined;
    let metricsServer: MetricsServer | undefined;
    try {
      if (stringFlag(args, "events") !== undefined) {
        const sink = await JsonlFileSink.open(stringFlag(args, "events")!);
        sinks.push(sink);
        closers.push(() => sink.close());
      }
      const auditPath = stringFlag(args, "audit") ??
        (storePath === ":memory:" ? undefined : `${storePath}.audit.jsonl`);
      if (auditPath !== undefined) {
        const audit = await AuditLog.open(auditPath);
        sinks.push(audit);
        closers.push(() => audit.close());
      }
      const bridge = consoleAddr === undefined ? undefined : new ConsoleBridge();
      const hub = consoleAddr === undefined ? undefined : new EventHub();
      if (hub !== undefined) sinks.push(hub);
      const controlEvents = args.values["no-control"] === true ? undefined : new ControlEvents();
      if (controlEvents !== undefined) sinks.push(controlEvents);
      host = await AgentHost.start({
        identity,
        mission,
        store,
        listen,
        person,
        trust,
        allowPeers,
        fetchOrigins,
        sourceTiers,
        sinks,
        bridge,
        load,
        trustPins: clientPins(clients),
      });
      const h = host;
      closers.push(() => h.stop());
      io.out(`agent ${identity.agentId} fingerprint ${identity.fingerprint}`);
      io.out(`listening on ${h.address.hostname}:${h.address.port}`);
      if (person !== undefined) io.out(`person ${person}`);
      if (controlEvents !== undefined) {
        const control = await startControl({
          dir: controlDir(identity.fingerprint, stringFlag(args, "control-dir")),
          host: h,
          identity,
          events: controlEvents,
        });
        closers.push(() => control.shutdown());
        io.out(`control on unix:${control.socket}`);
      }
      if (metricsAddr !== undefined) {
        metricsServer = await serveMetrics(metricsAddr, () => h.agent.metrics);
        const m = metricsServer;
        closers.push(() => m.shutdown());
        io.out(`metrics on http://${_hostOf(m.address)}/metrics`);
      }
      if (consoleAddr !== undefined) {
        consoleServer = await startConsole({
          address: consoleAddr,
          token: token!,
          host: h,
          bridge: bridge!,
          hub: hub!,
          io,
          personFixed: personFlag !== undefined,
          tls: cert === undefined
            ? undefined
            : { cert: await Deno.readTextFile(cert), key: await Deno.readTextFile(certKey!) },
          onEnrol: async (fp) => {
            if (personFile !== undefined) await Deno.writeTextFile(personFile, `${fp}\n`);
            await h.enrol(fp);
            io.out(`person ${fp} enrolled`);
          },
        });
        const c = consoleServer;
        closers.push(() => c.shutdown());
        io.out(`console on ${c.url}`);
        if (tokenFile === undefined) io.out(`console token ${token}`);
      }
      if (a2a !== undefined) {
        const closeA2a = await startA2aDoor({
          flags: a2a,
          clients,
          served: () => ({ agent: h.agent, address: h.address }),
          identity,
          mission,
          version: denoJson.version,
          io,
        });
        // closers run in reverse: the gateway stops before its server.
        closers.push(...closeA2a.reverse());
      }
    } catch (err) {
      io.err(errorLine(err));
      await cleanup().catch(() => {});
      return 1;
    }
    const loops = peers.map((p) => _keepConnected(host!, p, stop.signal, io));
    await aborted(stop.signal);
    io.out("stopping");
    await Promise.allSettled(loops);
    await cleanup();
    io.out("stopped");
    return 0;
  },
};

const _TIERS: readonly SourceTrustTier[] = ["unknown", "low", "medium", "high", "blocked"];

/**
 * Reads `--source-tier KEY=TIER` flags: each key becomes the source key LIP
 * keeps tiers under (`sourceKey`: an http(s) origin, an A2A agent).
 *
 * @param flags The flags' values.
 * @returns The pins, by source key.
 * @throws {UsageError} Naming the first flag that is not `KEY=TIER`.
 */
export function parseSourceTiers(flags: readonly string[]): Record<string, SourceTrustTier> {
  const pins: Record<string, SourceTrustTier> = {};
  for (const flag of flags) {
    const at = flag.lastIndexOf("=");
    const tier = flag.slice(at + 1) as SourceTrustTier;
    if (at <= 0 || !_TIERS.includes(tier)) {
      throw new UsageError(
        `--source-tier ${JSON.stringify(flag)} is not KEY=TIER (TIER one of ${_TIERS.join(", ")})`,
      );
    }
    pins[sourceKey(flag.slice(0, at))] = tier;
  }
  return pins;
}

/**
 * The operator's warning for a listener that admits any key: `--listen` on a
 * non-loopback address without `--allow-peer`. Says that any key may
 * connect, what a stranger can then do, and how to admit only known agents.
 *
 * @param listen The `--listen` address.
 * @param allowPeers The `--allow-peer` fingerprints (empty: any key).
 * @returns The warning's lines, or none.
 */
export function openListenerWarning(listen: HostPort, allowPeers: readonly string[]): string[] {
  if (isLoopback(listen.hostname) || allowPeers.length > 0) return [];
  return [
    `warning: --listen ${
      _hostOf(listen)
    } is not a loopback address and no --allow-peer is given: any key may connect.`,
    "warning: a stranger's key completes the handshake and is probing: it may send intents, facts, votes and evidence, rate-limited and within the probing byte budgets of the inbound queue and the store; what it says stays pending and counts for nothing until trusted peers confirm it. It cannot make this agent fetch (LIP_FETCH is for the person, the agent itself and trusted peers) nor act for the person.",
    "warning: to admit only known agents, add --allow-peer FP (repeatable; --peer, --trust and --person fingerprints are added).",
  ];
}

function _hostOf(a: HostPort): string {
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}

/** Keeps recent events and fans them out to the console's streams. */
export class EventHub implements EventSink {
  /** The most recent events (at most 500). */
  readonly recent: Web4Event[] = [];
  readonly #listeners = new Set<(e: Web4Event) => void>();

  /**
   * Takes one event.
   *
   * @param event The event.
   */
  write(event: Web4Event): void {
    this.recent.push(event);
    if (this.recent.length > 500) this.recent.shift();
    for (const fn of this.#listeners) fn(event);
  }

  /**
   * Listens to new events.
   *
   * @param fn The listener.
   * @returns Its unregister function.
   */
  subscribe(fn: (e: Web4Event) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }
}
