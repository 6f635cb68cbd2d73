/**
 * String formats shared by the envelope schemas: UUIDs, timestamps,
 * fingerprints and fixed-length base64.
 *
 * @module
 */

import { z } from "zod";

/** A lowercase UUID version 4 (the form `crypto.randomUUID()` returns). */
export const UUID_V4_PATTERN: RegExp =
  /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** A lowercase UUID of any version (used for `dmp_trace.decision_id`). */
export const UUID_PATTERN: RegExp =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A fingerprint: 64 lowercase hex digits. */
export const FINGERPRINT_PATTERN: RegExp = /^[0-9a-f]{64}$/;

const _B64 = "[A-Za-z0-9+/]";
// The last character before padding may only use the bits that carry data,
// so each byte string has exactly one accepted encoding.
const _B64_TAIL_ONE_PAD = "[AEIMQUYcgkosw048]";
const _B64_TAIL_TWO_PAD = "[AQgw]";

/**
 * Builds the pattern of the canonical standard base64 encoding (with
 * padding) of exactly `bytes` bytes.
 *
 * @param bytes The decoded length.
 * @returns An anchored pattern.
 */
export function base64Pattern(bytes: number): RegExp {
  const full = Math.floor(bytes / 3);
  const rest = bytes % 3;
  const body = `${_B64}{${full * 4}}`;
  if (rest === 0) return new RegExp(`^${body}$`);
  if (rest === 1) return new RegExp(`^${body}${_B64}${_B64_TAIL_TWO_PAD}==$`);
  return new RegExp(`^${body}${_B64}{2}${_B64_TAIL_ONE_PAD}=$`);
}

/** A non-empty UTF-8 string (the spec's default for strings). */
export const text = (): z.ZodString => z.string().min(1);
/** An agent id: 1-128 characters. */
export const agentId = (): z.ZodString => z.string().min(1).max(128);
/** A `msg_id`: lowercase UUID v4. */
export const msgId = (): z.ZodString =>
  z.string().regex(UUID_V4_PATTERN, { error: "Expected a lowercase UUID v4" });
/** A fingerprint: 64 lowercase hex digits. */
export const fingerprint = (): z.ZodString =>
  z.string().regex(FINGERPRINT_PATTERN, { error: "Expected 64 lowercase hex digits" });
/** Canonical standard base64 of exactly `bytes` bytes. */
export const base64Bytes = (bytes: number): z.ZodString =>
  z.string().regex(base64Pattern(bytes), { error: `Expected standard base64 of ${bytes} bytes` });
/** An RFC 3339 UTC timestamp (`Z`, optional fractional seconds). */
export const timestamp = (): z.ZodISODateTime =>
  z.iso.datetime({ error: "Expected an RFC 3339 UTC timestamp ending in Z" });
