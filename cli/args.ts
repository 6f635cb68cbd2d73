/**
 * Flag values shared by `web4` subcommands: `HOST:PORT` addresses,
 * fingerprints, `HOST:PORT=FP` peers, key files and `JSON|@file` payloads,
 * each checked once with a one-line {@linkcode UsageError} or error.
 *
 * @module
 */

import { Identity, IdentityError } from "../lib/identity/mod.ts";
import { UsageError } from "./command.ts";

/** A host and port. */
export interface HostPort {
  /** Host name or address. */
  hostname: string;
  /** TCP port (0 = any free one). */
  port: number;
}

/**
 * Parses `HOST:PORT` (`[::1]:80` for IPv6).
 *
 * @param value The flag's value.
 * @param flag The flag's name, for the error.
 * @returns The address.
 * @throws {UsageError} When it is not `HOST:PORT` with a port 0-65535.
 */
export function parseHostPort(value: string, flag: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(value);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 0 && port <= 65535)) {
    throw new UsageError(`--${flag} must be HOST:PORT, got "${value}"`);
  }
  return { hostname: m[1] ?? m[2]!, port };
}

/**
 * Checks a fingerprint: 64 lowercase hex digits (SHA-256 of the raw public key).
 *
 * @param value The flag's value.
 * @param flag The flag's name, for the error.
 * @returns The fingerprint, lowercased.
 * @throws {UsageError} When it is not 64 hex digits.
 */
export function parseFingerprint(value: string, flag: string): string {
  const fp = value.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(fp)) {
    throw new UsageError(`--${flag} must be a 64-hex-digit fingerprint, got "${value}"`);
  }
  return fp;
}

/** A peer to connect to. */
export interface PeerSpec extends HostPort {
  /** Its pinned fingerprint. */
  fingerprint: string;
}

/**
 * Parses `HOST:PORT=FP`.
 *
 * @param value The flag's value.
 * @returns The peer.
 * @throws {UsageError} When malformed.
 */
export function parsePeer(value: string): PeerSpec {
  const eq = value.lastIndexOf("=");
  if (eq < 0) throw new UsageError(`--peer must be HOST:PORT=FINGERPRINT, got "${value}"`);
  return {
    ...parseHostPort(value.slice(0, eq), "peer"),
    fingerprint: parseFingerprint(value.slice(eq + 1), "peer"),
  };
}

/**
 * Whether a host name is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
 *
 * @param hostname The host.
 * @returns Whether only this machine can reach it.
 */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * Loads a key file, turning the usual failures into one-line messages.
 *
 * @param path The key file.
 * @returns The identity (its agent id from the file's `Agent-Id:` line, if any).
 * @throws {Error} `No such key file: PATH`, or the identity error's message.
 */
export async function loadKey(path: string): Promise<Identity> {
  try {
    return await Identity.load(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new Error(`No such key file: ${path}`);
    if (err instanceof IdentityError) throw new Error(err.message);
    throw err;
  }
}

/**
 * Reads a `JSON|@file` payload flag.
 *
 * @param value Inline JSON, or `@` and a file name.
 * @param flag The flag's name, for the error.
 * @returns The parsed JSON.
 * @throws {UsageError} When it is not JSON or the file is missing.
 */
export async function readJsonFlag(value: string, flag: string): Promise<unknown> {
  let text = value;
  if (value.startsWith("@")) {
    try {
      text = await Deno.readTextFile(value.slice(1));
    } catch (err) {
      throw new UsageError(
        err instanceof Deno.errors.NotFound
          ? `--${flag}: no such file: ${value.slice(1)}`
          : `--${flag}: ${(err as Error).message}`,
      );
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--${flag} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Waits until the signal aborts.
 *
 * @param signal The signal (never resolves without one).
 * @returns Once aborted.
 */
export function aborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
