/**
 * What the three protocols share: JSON value types, the header blocks
 * (`sender`, `receiver`, `sign`), the refusal payload of the three error
 * types, and the zod building blocks of `cip.ts`, `hcp.ts` and `lip.ts`.
 *
 * @module
 */

import { z } from "zod";
import { utf8ByteLength } from "../observability/utf8.ts";
import { agentId, base64Bytes, fingerprint, label, msgId, text, timestamp } from "./formats.ts";
import { SCHEMA_LIMITS } from "./limits.ts";

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };
/**
 * A free-form field (`context`, trace steps, evidence, claims): a non-empty
 * string or a JSON object. These are the payloads' documented extension
 * points; everything else in a payload is closed. Either form takes at
 * most `SCHEMA_LIMITS.freeFormBytes` (16 KiB): the string's UTF-8 bytes,
 * the object's JSON text.
 */
export type FreeForm = string | JsonObject;

/** The three envelope protocols. */
export type Protocol = "cip" | "hcp" | "lip";
/** An agent's or human's presence. */
export type Presence = "focused" | "diffuse" | "overloaded" | "engaged";
/** Priority of an intent. */
export type Priority = "low" | "normal" | "high";

/** The envelope's `sender` block. */
export interface EnvelopeSender {
  /** The sender's human-readable name, 1-128 characters. */
  agent_id: string;
  /** Lowercase hex SHA-256 of the raw public key. */
  fingerprint: string;
  /** What the sender can do, e.g. `"state_exchange"` (may be empty; at most 32 labels). */
  capabilities: string[];
  /** Standard base64 of the raw 32-byte Ed25519 public key. */
  pubkey: string;
}

/** The envelope's `receiver` block. */
export interface EnvelopeReceiver {
  /** The receiver's human-readable name, 1-128 characters. */
  agent_id: string;
  /** The receiver's fingerprint. */
  fingerprint: string;
}

/** The envelope's `sign` block. */
export interface EnvelopeSignature {
  /** Always `"ed25519"`. */
  algo: "ed25519";
  /** Standard base64 of the 64-byte signature. */
  signature: string;
}

/** Fields every envelope has. */
export interface EnvelopeHeader {
  /** UUID v4, unique per message. */
  msg_id: string;
  /** RFC 3339 UTC time of creation. */
  timestamp: string;
  /** Who sent it. */
  sender: EnvelopeSender;
  /** Who it is for. */
  receiver: EnvelopeReceiver;
  /** The signature over the rest. */
  sign: EnvelopeSignature;
}

/**
 * Payload of the three refusal types, CIP `ERROR`, HCP `HCP_ERROR` and LIP
 * `LIP_ERROR` (docs/protocols.md §2, "refusals on the wire"): why a message was
 * refused or failed. An error never answers an error (see
 * {@linkcode isErrorType}).
 */
export interface ErrorPayload {
  /** The `msg_id` of the refused message. */
  in_reply_to: string;
  /** The rule that refused it, e.g. `"consent_revoked"`, `"paced"`, `"quota"` (a label, at most 256 bytes). */
  code: string;
  /** A human-readable explanation (free text, at most 1,024 UTF-8 bytes). */
  reason: string;
  /** When the sender may try again, in milliseconds (an integer >= 0). */
  retry_after_ms?: number | undefined;
}

// ---- zod building blocks ---------------------------------------------------

/** A JSON object. */
export const jsonObject = z.record(z.string(), z.json());

const _FREE_FORM_ERROR =
  `Expected a free-form value of at most ${SCHEMA_LIMITS.freeFormBytes} bytes`;
/**
 * A free-form field: a non-empty string of at most 16 KiB (UTF-8), or a
 * JSON object whose JSON text is at most 16 KiB.
 */
export const freeForm = z.union([
  text(SCHEMA_LIMITS.freeFormBytes),
  jsonObject.refine(
    (o) => utf8ByteLength(JSON.stringify(o)) <= SCHEMA_LIMITS.freeFormBytes,
    { error: _FREE_FORM_ERROR },
  ),
]).meta({ "x-maxJsonBytes": SCHEMA_LIMITS.freeFormBytes });
/**
 * A list of at most `max` items.
 *
 * @param item The item schema.
 * @param max The most items.
 */
export const list = <T extends z.ZodType>(item: T, max: number): z.ZodArray<T> =>
  z.array(item).max(max);
/** A short list of labels (at most 32). */
export const tags: z.ZodArray<z.ZodString> = list(label(), SCHEMA_LIMITS.items.tags);
/** A list of free-form values (at most 64). */
export const traceItems: z.ZodArray<typeof freeForm> = list(freeForm, SCHEMA_LIMITS.items.trace);
/** Presence. */
export const presence = z.enum(["focused", "diffuse", "overloaded", "engaged"]);
/** Priority. */
export const priority = z.enum(["low", "normal", "high"]);
/** A number 0..100. */
export const percent = z.number().min(0).max(100);
/** An integer 0..100. */
export const percentInt = z.int().min(0).max(100);
/** A number 0..1. */
export const unit = z.number().min(0).max(1);
/** Base64 of a 64-byte signature. */
export const signatureB64 = base64Bytes(64);
/** Base64 of a 16-byte nonce. */
export const nonceB64 = base64Bytes(16);

/** The `sender` block. */
export const sender = z.strictObject({
  agent_id: agentId(),
  fingerprint: fingerprint(),
  capabilities: tags,
  pubkey: base64Bytes(32),
});
/** The `receiver` block. */
export const receiver = z.strictObject({ agent_id: agentId(), fingerprint: fingerprint() });
/** The `sign` block. */
export const sign = z.strictObject({ algo: z.literal("ed25519"), signature: signatureB64 });

/**
 * The header fields of every envelope, the payload only required to be an
 * object (its per-type check is a separate step).
 */
export const header = {
  msg_id: msgId(),
  timestamp: timestamp(),
  sender,
  receiver,
  payload: z.record(z.string(), z.unknown()),
  sign,
};

/** The refusal payload ({@linkcode ErrorPayload}). */
export const errorPayload = z.strictObject({
  in_reply_to: msgId(),
  code: label(),
  reason: text(),
  retry_after_ms: z.int().min(0).optional(),
});

/**
 * A complete message schema (envelope plus the payload matching `type`) as
 * a discriminated union over the types, for the JSON Schema export.
 *
 * @param protocol The protocol (names the schema).
 * @param base The envelope without `type` and `payload`.
 * @param payloads The payload schema of each type.
 * @param extra Per-type fields added to `base` (LIP's `source`).
 */
export function messageSchema(
  protocol: Protocol,
  base: z.ZodObject,
  payloads: Record<string, z.ZodType>,
  extra: (type: string) => Record<string, z.ZodType> = () => ({}),
): z.ZodType {
  const members = Object.entries(payloads).map(([type, payload]) =>
    base.extend({ type: z.literal(type), payload, ...extra(type) })
  );
  return z.discriminatedUnion("type", members as unknown as [z.ZodObject, ...z.ZodObject[]]).meta({
    title: `${protocol.toUpperCase()}/1.0 envelope`,
  });
}

type _Is<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * `true` when a table of payload schemas has exactly the message types of a
 * payload map and each schema's output is that type; each protocol file
 * asserts it, so `deno check` fails when a schema and its type drift apart.
 */
export type SchemasMatch<S extends Record<string, z.ZodType>, P> = _Is<keyof S, keyof P> extends
  true ? { [K in keyof P]: _Is<z.output<S[K & keyof S]>, P[K]> }[keyof P] extends true ? true
  : false
  : false;
