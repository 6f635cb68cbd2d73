/**
 * What the CLI says when a pinned peer shows another key: the fingerprint
 * it pinned and the one the agent at that address presented. The transport
 * reports only that they differ, so the CLI looks once at the certificate
 * the address presents (a TLS handshake without a client certificate, which
 * the agent then refuses) and names its key's fingerprint.
 *
 * @module
 */

import * as tls from "node:tls";
import { fingerprintOf } from "../lib/identity/mod.ts";
import { RTTHandshakeError } from "../lib/transport/mod.ts";
import type { HostPort } from "./args.ts";

/** The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes. */
const _ED25519_SPKI = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/**
 * The raw Ed25519 public key inside a DER certificate.
 *
 * @param der The certificate.
 * @returns The 32 key bytes, or `undefined` when it holds no Ed25519 key.
 *
 * @example
 * ```ts
 * import { ed25519KeyOfCertificate } from "./presented.ts";
 * import assert from "node:assert/strict";
 *
 * const key = new Uint8Array(32).fill(7);
 * const spki = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
 * const der = new Uint8Array([0x30, 0x82, ...spki, ...key, 0x05]);
 * assert.deepEqual(ed25519KeyOfCertificate(der), key);
 * assert.equal(ed25519KeyOfCertificate(new Uint8Array(40)), undefined);
 * ```
 */
export function ed25519KeyOfCertificate(der: Uint8Array): Uint8Array | undefined {
  outer: for (let i = 0; i + _ED25519_SPKI.length + 32 <= der.length; i++) {
    for (let j = 0; j < _ED25519_SPKI.length; j++) {
      if (der[i + j] !== _ED25519_SPKI[j]) continue outer;
    }
    const start = i + _ED25519_SPKI.length;
    return der.slice(start, start + 32);
  }
  return undefined;
}

/**
 * The fingerprint of the key an RTT listener presents.
 *
 * @param to Its address.
 * @param timeoutMs How long to try. @default {3000}
 * @returns The fingerprint, or `undefined` when it cannot be seen.
 */
export function presentedFingerprint(to: HostPort, timeoutMs = 3000): Promise<string | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (fp: string | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(fp);
    };
    const socket = tls.connect({
      host: to.hostname,
      port: to.port,
      rejectUnauthorized: false, // only to read the key; nothing is sent
      ALPNProtocols: ["web4-rtt/1"],
    });
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    let seen = false;
    socket.on("secureConnect", () => {
      const raw = socket.getPeerCertificate(false)?.raw;
      const key = raw === undefined ? undefined : ed25519KeyOfCertificate(new Uint8Array(raw));
      if (key === undefined) return finish(undefined);
      seen = true; // the agent's refusal of our missing certificate follows: not a failure
      fingerprintOf(key).then(finish, () => finish(undefined));
    });
    socket.on("error", () => {
      if (!seen) finish(undefined);
    });
  });
}

/**
 * One line for a connect that failed because the peer at the address is not
 * the pinned one: the pinned fingerprint and the one the address presented.
 *
 * @param err What `connect` threw.
 * @param to The address dialled.
 * @param pinned The pinned fingerprint.
 * @returns The line, or `undefined` when `err` is not a fingerprint mismatch.
 */
export async function mismatchLine(
  err: unknown,
  to: HostPort,
  pinned: string,
): Promise<string | undefined> {
  if (!(err instanceof RTTHandshakeError) || err.code !== "FINGERPRINT_MISMATCH") return undefined;
  const where = `${to.hostname.includes(":") ? `[${to.hostname}]` : to.hostname}:${to.port}`;
  const presented = await presentedFingerprint(to);
  if (presented === undefined) {
    return `the agent at ${where} is not ${pinned} (the pinned fingerprint); its own could not be read`;
  }
  if (presented !== pinned) {
    return `the agent at ${where} presented fingerprint ${presented}, not the pinned ${pinned}`;
  }
  return `the agent at ${where} (${pinned}) refused our certificate`;
}
