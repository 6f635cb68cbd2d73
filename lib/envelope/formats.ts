/**
 * String formats shared by the envelope schemas: bounded text, UUIDs,
 * timestamps, fingerprints, URLs and fixed-length base64.
 *
 * @module
 */

import { z } from "zod";
import { fitsUtf8 } from "../observability/utf8.ts";
import { SCHEMA_LIMITS } from "./limits.ts";

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

/**
 * A non-empty string of at most `maxBytes` UTF-8 bytes (the JSON Schema
 * says `maxLength` too, which the byte bound implies, and
 * `x-maxUtf8Bytes`, the bound itself).
 *
 * @param maxBytes The most UTF-8 bytes. @default {SCHEMA_LIMITS.textBytes}
 */
export const text = (maxBytes: number = SCHEMA_LIMITS.textBytes): z.ZodString => {
  const error = `Expected at most ${maxBytes} UTF-8 bytes`;
  return z.string().min(1).max(maxBytes, { error, abort: true })
    .refine((s) => fitsUtf8(s, maxBytes), { error })
    .meta({ "x-maxUtf8Bytes": maxBytes });
};
/** A label (topic, domain, code, capability, scope, flag, constraint): non-empty, at most 256 UTF-8 bytes. */
export const label = (): z.ZodString => text(SCHEMA_LIMITS.labelBytes);
/** An agent id: 1-128 characters. */
export const agentId = (): z.ZodString => z.string().min(1).max(SCHEMA_LIMITS.agentIdChars);
/** A URL (WHATWG parsing, as `z.url()`) of at most 2,048 UTF-8 bytes. */
export const url = (): z.ZodURL => {
  const max = SCHEMA_LIMITS.urlBytes;
  const error = `Expected a URL of at most ${max} UTF-8 bytes`;
  return z.url().max(max, { error, abort: true })
    .refine((s) => fitsUtf8(s, max), { error })
    .meta({ "x-maxUtf8Bytes": max });
};
/** A `msg_id`: lowercase UUID v4 (36 characters). */
export const msgId = (): z.ZodString => {
  const error = "Expected a lowercase UUID v4";
  return z.string().length(36, { error, abort: true }).regex(UUID_V4_PATTERN, { error });
};
/** A lowercase UUID of any version (36 characters). */
export const uuid = (): z.ZodString => {
  const error = "Expected a lowercase UUID";
  return z.string().length(36, { error, abort: true }).regex(UUID_PATTERN, { error });
};
/** A fingerprint: 64 lowercase hex digits. */
export const fingerprint = (): z.ZodString => {
  const error = "Expected 64 lowercase hex digits";
  return z.string().length(64, { error, abort: true }).regex(FINGERPRINT_PATTERN, { error });
};
/** Canonical standard base64 of exactly `bytes` bytes (`4 * ceil(bytes / 3)` characters). */
export const base64Bytes = (bytes: number): z.ZodString => {
  const error = `Expected standard base64 of ${bytes} bytes`;
  return z.string().length(4 * Math.ceil(bytes / 3), { error, abort: true })
    .regex(base64Pattern(bytes), { error });
};
/** An RFC 3339 UTC timestamp (`Z`, optional fractional seconds). */
export const timestamp = (): z.ZodISODateTime =>
  z.iso.datetime({ error: "Expected an RFC 3339 UTC timestamp ending in Z" })
    .max(SCHEMA_LIMITS.timestampChars);
