/**
 * The A2A clients an operator admits: a name, a bearer token and the trust
 * level the client's peer key is pinned at, read from `--a2a-token-file`
 * (or one fresh client `a2a`), and the constant-time token lookup.
 *
 * @module
 */

import type { PinnedLevel } from "../../lib/trust/mod.ts";

/** One admitted A2A client. */
export interface A2aClientSpec {
  /** The operator's name for it (events and the log name it). */
  name: string;
  /** Its bearer token. */
  token: string;
  /** The trust level its peer key is pinned at. @default {"probing"} */
  level: PinnedLevel;
}

/** The most clients a token file may name. */
export const MAX_A2A_CLIENTS = 64;
/** The shortest token accepted. */
export const MIN_TOKEN_CHARS = 16;

const _NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Parses a token file: one client a line, `NAME TOKEN [LEVEL]` (LEVEL
 * `probing`, the default, or `trusted`); blank lines and lines starting
 * with `#` are skipped.
 *
 * @param text The file's text.
 * @returns The clients.
 * @throws {Error} Naming the line: a bad name, a short token, a duplicate
 *   name or token, an unknown level, no client, more than
 *   {@linkcode MAX_A2A_CLIENTS}.
 *
 * @example
 * ```ts
 * import { parseTokenFile } from "./clients.ts";
 * import assert from "node:assert/strict";
 *
 * const [c] = parseTokenFile("# clients\nplanner 0123456789abcdef0123\n");
 * assert.equal(c!.name, "planner");
 * assert.equal(c!.level, "probing");
 * assert.throws(() => parseTokenFile("planner short"), /line 1/);
 * ```
 */
export function parseTokenFile(text: string): A2aClientSpec[] {
  const clients: A2aClientSpec[] = [];
  const names = new Set<string>();
  const tokens = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `line ${i + 1}`;
    const [name, token, level = "probing", ...rest] = line.split(/\s+/);
    if (rest.length > 0) throw new Error(`${where}: expected NAME TOKEN [probing|trusted]`);
    if (name === undefined || !_NAME.test(name)) {
      throw new Error(`${where}: a client name is 1-64 of A-Z a-z 0-9 _ . -`);
    }
    if (token === undefined || token.length < MIN_TOKEN_CHARS) {
      throw new Error(
        `${where}: the token of ${name} is shorter than ${MIN_TOKEN_CHARS} characters`,
      );
    }
    if (level !== "probing" && level !== "trusted") {
      throw new Error(`${where}: level ${JSON.stringify(level)} is not probing or trusted`);
    }
    if (names.has(name)) throw new Error(`${where}: client ${name} is named twice`);
    if (tokens.has(token)) throw new Error(`${where}: a token is used twice`);
    names.add(name);
    tokens.add(token);
    clients.push({ name, token, level });
  }
  if (clients.length === 0) throw new Error("the token file names no client");
  if (clients.length > MAX_A2A_CLIENTS) {
    throw new Error(`the token file names more than ${MAX_A2A_CLIENTS} clients`);
  }
  return clients;
}

const _enc = new TextEncoder();

/** Compares two strings in time that depends only on their lengths. */
function _timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * The client a request's `Authorization: Bearer TOKEN` names, or
 * `undefined`. Every client's token is compared, each in constant time, so
 * the time taken says nothing about which token (or how much of one)
 * matched.
 *
 * @param header The `Authorization` header, if any.
 * @param clients The admitted clients.
 * @returns The client, or `undefined`.
 *
 * @example
 * ```ts
 * import { clientOf } from "./clients.ts";
 * import assert from "node:assert/strict";
 *
 * const clients = [{ name: "p", token: "0123456789abcdef", level: "probing" as const }];
 * assert.equal(clientOf("Bearer 0123456789abcdef", clients)?.name, "p");
 * assert.equal(clientOf("Bearer 0123456789abcdeX", clients), undefined);
 * assert.equal(clientOf(null, clients), undefined);
 * ```
 */
export function clientOf<C extends A2aClientSpec>(
  header: string | null,
  clients: readonly C[],
): C | undefined {
  const m = /^Bearer +(\S{1,512})\s*$/i.exec(header ?? "");
  const given = _enc.encode(m?.[1] ?? "");
  let found: C | undefined;
  for (const c of clients) {
    if (_timingSafeEqual(given, _enc.encode(c.token)) && m !== null) found = c;
  }
  return found;
}
