/**
 * Internal: the key file format. PKCS#8 v1 PEM (`-----BEGIN PRIVATE
 * KEY-----`, unencrypted), with an optional `Agent-Id:` line of
 * explanatory text before the boundary (RFC 7468 §5.2); a key file is a
 * regular file of at most 16 KiB. Not exported from `mod.ts`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { IdentityError } from "./errors.ts";

/** The PEM label of a key file. */
export const PEM_LABEL = "PRIVATE KEY";
const _PEM_RE =
  /^-----BEGIN PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END PRIVATE KEY-----$/;
/** Largest key file read (a PKCS#8 Ed25519 PEM is ~120 bytes). */
export const MAX_KEY_FILE_BYTES = 16 * 1024;

function _kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  return "not a regular file";
}

/**
 * Refuses what is not a regular file (a directory, a FIFO, a device).
 *
 * @param info The file's info.
 * @param name The path, as the message names it.
 * @throws {IdentityError} `INVALID_KEY_FILE`.
 */
export function checkRegularFile(info: Deno.FileInfo, name: string): void {
  if (!info.isFile) {
    const kind = _kindOf(info);
    throw new IdentityError(
      "INVALID_KEY_FILE",
      `Key file ${name} is ${kind === "not a regular file" ? kind : `${kind}, not a regular file`}`,
      { path: name },
    );
  }
}

/**
 * A path as messages name it.
 *
 * @param path A path or a URL.
 * @returns The file path (a `file:` URL's), or the URL.
 */
export function pathName(path: string | URL): string {
  if (path instanceof URL) return path.protocol === "file:" ? fileURLToPath(path) : path.href;
  return path;
}

/**
 * The `Agent-Id:` line of a key file's explanatory text (RFC 7468 §5.2:
 * text before the encapsulation boundary, which parsers such as openssl
 * ignore), or `undefined`.
 *
 * @param pem The key file's text.
 * @returns The agent id written there, if any.
 */
export function agentIdLine(pem: string): string | undefined {
  const begin = pem.indexOf("-----BEGIN ");
  if (begin <= 0) return undefined;
  for (const line of pem.slice(0, begin).split(/\r?\n/)) {
    const m = /^Agent-Id:[ \t]*(.*?)[ \t]*$/i.exec(line);
    if (m !== null) return m[1];
  }
  return undefined;
}

/**
 * The DER bytes of a key file's one PEM block.
 *
 * @param pem The key file's text.
 * @returns The PKCS#8 DER.
 * @throws {TypeError} If `pem` is not a string.
 * @throws {IdentityError} `INVALID_KEY_FILE` without exactly one such block, or with a body that is not base64.
 */
export function decodePem(pem: string): Uint8Array {
  if (typeof pem !== "string") {
    throw new TypeError(`Expected the PEM text to be a string, got ${typeof pem}`);
  }
  // Explanatory text before the boundary (RFC 7468 §5.2) is allowed and skipped.
  const begin = pem.indexOf("-----BEGIN ");
  const match = _PEM_RE.exec((begin > 0 ? pem.slice(begin) : pem).trim());
  if (match === null) {
    throw new IdentityError(
      "INVALID_KEY_FILE",
      `Expected exactly one "-----BEGIN ${PEM_LABEL}-----" PEM block (PKCS#8 v1, unencrypted)`,
    );
  }
  try {
    return Uint8Array.fromBase64(match[1]!.replace(/\r?\n/g, ""), { lastChunkHandling: "strict" });
  } catch (cause) {
    throw new IdentityError("INVALID_KEY_FILE", "The PEM block's body is not valid base64", {
      cause,
    });
  }
}
