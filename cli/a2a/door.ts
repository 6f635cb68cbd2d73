/**
 * The gateway as a door of `web4 serve`: its flags (`--a2a`,
 * `--a2a-token-file`, `--a2a-share`, `--a2a-cert`, `--a2a-key`), its clients
 * (the token file, or one fresh client `a2a`), and starting it beside the
 * agent with the lines `serve` prints.
 *
 * @module
 */

import type { Agent } from "../../lib/agent/mod.ts";
import type { Identity } from "../../lib/identity/mod.ts";
import { actionTopic } from "../../lib/hcp/mod.ts";
import { type HostPort, isLoopback, parseHostPort } from "../args.ts";
import { type Io, listFlag, type Parsed, stringFlag, UsageError } from "../command.ts";
import { type A2aClientSpec, parseTokenFile } from "./clients.ts";
import { A2aGateway, clientIdentities, type GatewayClient } from "./gateway.ts";
import { startA2a } from "./server.ts";

/** The `serve` flags of the gateway (for its `options`). */
export const A2A_FLAG_OPTIONS = {
  a2a: { type: "string" },
  "a2a-token-file": { type: "string" },
  "a2a-share": { type: "string", multiple: true },
  "a2a-cert": { type: "string" },
  "a2a-key": { type: "string" },
} as const;

/** The gateway's flags, checked. */
export interface A2aFlags {
  /** Where to listen. */
  address: HostPort;
  /** The token file, if given. */
  tokenFile: string | undefined;
  /** The shared topics (`kind:value` or `kind:*`). */
  shared: string[];
  /** TLS files, if given. */
  tls: { cert: string; key: string } | undefined;
}

/**
 * Reads and checks the gateway's flags.
 *
 * @param args The parsed `serve` arguments.
 * @returns The flags, or `undefined` without `--a2a`.
 * @throws {UsageError} A non-loopback `--a2a` without TLS, a lone
 *   `--a2a-cert`/`--a2a-key`, a bad `--a2a-share` topic, a gateway flag
 *   without `--a2a`.
 */
export function parseA2aFlags(args: Parsed): A2aFlags | undefined {
  const at = stringFlag(args, "a2a");
  const address = at === undefined ? undefined : parseHostPort(at, "a2a");
  const cert = stringFlag(args, "a2a-cert");
  const key = stringFlag(args, "a2a-key");
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError("--a2a-cert and --a2a-key go together");
  }
  if (address !== undefined && !isLoopback(address.hostname) && cert === undefined) {
    throw new UsageError(
      `--a2a ${at} is not a loopback address: it needs --a2a-cert and --a2a-key (bearer tokens travel in every request)`,
    );
  }
  const tokenFile = stringFlag(args, "a2a-token-file");
  const shared: string[] = [];
  for (const topic of listFlag(args, "a2a-share")) {
    try {
      shared.push(topic.endsWith(":*") ? topic : actionTopic(topic));
    } catch {
      throw new UsageError(`--a2a-share ${topic} is not a word or a kind:value topic`);
    }
  }
  if (address === undefined) {
    if (cert !== undefined || tokenFile !== undefined || shared.length > 0) {
      throw new UsageError("--a2a-token-file, --a2a-share, --a2a-cert and --a2a-key need --a2a");
    }
    return undefined;
  }
  return {
    address,
    tokenFile,
    shared,
    tls: cert === undefined ? undefined : { cert, key: key! },
  };
}

/**
 * The admitted clients with their peer keys: the token file's, or one
 * client `a2a` with a fresh token.
 *
 * @param flags The gateway's flags.
 * @param agent The served agent's identity (the clients' keys derive from it).
 * @returns The clients.
 * @throws {Error} `No such token file: F`, or `F: line N: ...`.
 */
export async function a2aClients(flags: A2aFlags, agent: Identity): Promise<GatewayClient[]> {
  let specs: A2aClientSpec[];
  if (flags.tokenFile !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(flags.tokenFile);
    } catch (err) {
      throw err instanceof Deno.errors.NotFound
        ? new Error(`No such token file: ${flags.tokenFile}`)
        : err;
    }
    try {
      specs = parseTokenFile(text);
    } catch (err) {
      throw new Error(`${flags.tokenFile}: ${(err as Error).message}`);
    }
  } else {
    specs = [{
      name: "a2a",
      token: crypto.getRandomValues(new Uint8Array(24)).toBase64({ alphabet: "base64url" }),
      level: "probing",
    }];
  }
  return await clientIdentities(specs, agent);
}

/** What {@linkcode startA2aDoor} needs from `serve`. */
export interface A2aDoorOptions {
  /** The flags. */
  flags: A2aFlags;
  /** The clients (from {@linkcode a2aClients}). */
  clients: readonly GatewayClient[];
  /** The served agent now and where it listens. */
  served: () => { agent: Agent; address: { hostname: string; port: number } };
  /** The agent's identity and mission, for the card. */
  identity: Identity;
  /** The mission. */
  mission: string;
  /** The package version. */
  version: string;
  /** Where the lines go. */
  io: Io;
}

/**
 * Starts the gateway and prints `a2a on URL`, `a2a card URL` and, without
 * a token file, `a2a token TOKEN`.
 *
 * @param options Flags, clients, the served agent, card, io.
 * @returns The closers, in the order to run them (the gateway first, so a
 *   call waiting for the agent ends at once, then the server).
 */
export async function startA2aDoor(options: A2aDoorOptions): Promise<(() => Promise<void>)[]> {
  const { flags, clients, io } = options;
  const gateway = new A2aGateway({ clients, served: options.served, shared: flags.shared });
  const server = await startA2a({
    address: flags.address,
    gateway,
    clients,
    card: {
      agentId: options.identity.agentId,
      fingerprint: options.identity.fingerprint,
      mission: options.mission,
      version: options.version,
    },
    shared: flags.shared,
    tls: flags.tls === undefined ? undefined : {
      cert: await Deno.readTextFile(flags.tls.cert),
      key: await Deno.readTextFile(flags.tls.key),
    },
    warn: (line) => io.err(line),
  });
  io.out(`a2a on ${server.url}/a2a`);
  io.out(`a2a card ${server.url}/.well-known/agent-card.json`);
  if (flags.tokenFile === undefined) io.out(`a2a token ${clients[0]!.token}`);
  return [() => gateway[Symbol.asyncDispose](), () => server.shutdown()];
}
