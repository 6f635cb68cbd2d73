/**
 * The router's refusal table: every reason the router turns a message
 * away itself (before or instead of a runtime), mapped to its code, whether
 * it is dropped or refused (answered with the protocol's error type),
 * whether the session's peer is sanctioned, and the `router.*` event that
 * reports it. With it, the verification errors' row, the unverified header
 * a refusal is answered from, and the error reply itself.
 *
 * @module
 */

import {
  type Envelope,
  type ErrorPayload,
  FingerprintMismatchError,
  type HumanState,
  InvalidEnvelopeError,
  isErrorType,
  PayloadSchemaError,
  type Protocol,
  SignatureMismatchError,
  TimestampError,
  truncateText,
  TrustViolationError,
} from "../envelope/mod.ts";
import { MESSAGE_TYPES, PROTOCOLS } from "../envelope/protocols.ts";
import type { EventData, Severity } from "../observability/mod.ts";
import { type ReplySpec, replySpec } from "../runtime/mod.ts";
import { RoutingError } from "./errors.ts";

/** One row of the refusal table. */
export interface Refusal {
  /** The code of the result (and of the error reply, when refused). */
  readonly code: string;
  /** `drop`: not answered; `refuse`: answered with `ERROR`/`HCP_ERROR`/`LIP_ERROR`. */
  readonly action: "drop" | "refuse";
  /** Whether the session's peer is sanctioned through the sanction rule. */
  readonly sanction: boolean;
  /** The event that reports it, if any (a rate-limit flood is only counted). */
  readonly event:
    | "router.refused"
    | "router.dropped"
    | "router.replay"
    | "router.error"
    | "router.rate_limited"
    | null;
  /** Its severity. */
  readonly severity: Severity;
  /**
   * Whom the event names: the envelope's `origin` (the session's peer, or a
   * relayed envelope's signer) or the `session`'s peer (the relay, on whom
   * rate limits and sanctions fall).
   */
  readonly names: "origin" | "session";
}

const _refused = (code: string): Refusal => ({
  code,
  action: "refuse",
  sanction: false,
  event: "router.refused",
  severity: "warn",
  names: "origin",
});

/** The refusal table: why the router itself turns a message away, in pipeline order. */
export const REFUSALS = {
  /** 1. Over the rate limit: answered once per second per peer... */
  rate_limited: {
    code: "quota",
    action: "refuse",
    sanction: false,
    event: "router.rate_limited",
    severity: "warn",
    names: "session",
  },
  /** ...and dropped, only counted, for the rest of that second. */
  rate_flood: {
    code: "quota",
    action: "drop",
    sanction: false,
    event: null,
    severity: "warn",
    names: "session",
  },
  /** 2. A blacklisted origin or relay. */
  blacklisted: {
    code: "blacklisted",
    action: "drop",
    sanction: false,
    event: "router.dropped",
    severity: "warn",
    names: "origin",
  },
  /** 3. A bad signature: the session's peer goes `untrusted`. */
  invalid_signature: {
    code: "invalid_signature",
    action: "drop",
    sanction: true,
    event: "router.dropped",
    severity: "warn",
    names: "session",
  },
  /** 3. A fingerprint that is not its key's, or a sender other than the session's peer: `blacklisted`. */
  fingerprint_mismatch: {
    code: "fingerprint_mismatch",
    action: "drop",
    sanction: true,
    event: "router.dropped",
    severity: "warn",
    names: "session",
  },
  /** 3. A timestamp too far from now. */
  stale: _refused("stale"),
  /** 3. Not addressed to us. */
  wrong_receiver: _refused("wrong_receiver"),
  /** 3. Malformed. */
  invalid_envelope: _refused("invalid_envelope"),
  /** 3. A payload its type's schema refuses. */
  payload_schema: _refused("payload_schema"),
  /** 3. No known protocol version key. */
  unknown_protocol: _refused("unknown_protocol"),
  /** 3. Not a message type of its protocol. */
  unknown_type: _refused("unknown_type"),
  /** 4. A known type without a route. */
  no_route: _refused("unknown_type"),
  /** 5. Seen before (or out of the replay window). */
  replay: {
    code: "replay",
    action: "drop",
    sanction: false,
    event: "router.replay",
    severity: "warn",
    names: "origin",
  },
  /** 6. An untrusted peer's message beyond the handshake. */
  untrusted: _refused("untrusted"),
  /** 7. The runtime threw. */
  internal_error: {
    code: "internal_error",
    action: "refuse",
    sanction: false,
    event: "router.error",
    severity: "error",
    names: "origin",
  },
  /** 8. A store quota refused the changes (nothing stored). */
  quota: _refused("quota"),
  /** Before routing: larger than the sender's inbound share at its receiver (never queued). */
  too_large: _refused("quota"),
} as const satisfies Record<string, Refusal>;

/** A reason of the {@linkcode REFUSALS} table. */
export type RefusalReason = keyof typeof REFUSALS;

/**
 * What an untrusted peer may send over CIP: the handshake, errors, and fact
 * proposals (which the CIP runtime records as rejected and counts toward
 * malice, as the trust table's `untrusted` rows require).
 */
const _UNTRUSTED_MAY_CIP: ReadonlySet<string> = new Set([
  "HELLO",
  "VERIFY",
  "ERROR",
  "FACT_PROPOSE",
]);

/**
 * The trust gate's rule (step 6): whether an untrusted peer may send this.
 * Over CIP, only the handshake, errors and fact proposals; over LIP, only
 * errors, unless it is the enrolled person; HCP is gated by its runtime
 * (person, consent, social trust), never by CIP peer trust.
 *
 * @param protocol The envelope's protocol.
 * @param type Its message type.
 * @param isPerson Whether its sender is the enrolled person.
 * @returns Whether it passes the gate from an untrusted peer.
 */
export function untrustedMay(protocol: Protocol, type: string, isPerson: boolean): boolean {
  if (protocol === "cip") return _UNTRUSTED_MAY_CIP.has(type);
  if (protocol === "lip") return isPerson || isErrorType(type);
  return true;
}

/**
 * What the router could read of an unverified message, for answering a
 * refusal. Never trusted for anything else.
 */
export interface Header {
  /** Its protocol, if it names a known one. */
  protocol?: Protocol | undefined;
  /** Its message type. */
  type?: string | undefined;
  /** Its `msg_id`. */
  msgId?: string | undefined;
  /** Its sender's `agent_id`. */
  agentId?: string | undefined;
  /** Whether the input parsed as a JSON object at all. */
  structured?: boolean | undefined;
}

/** The header of a verified envelope: its protocol, type and msg_id are known. */
export interface RoutedHeader extends Header {
  /** Its protocol. */
  protocol: Protocol;
  /** Its message type. */
  type: string;
  /** Its `msg_id`. */
  msgId: string;
}

/** What a turned-away message's result and event carry besides its table row. */
export interface TurnAway {
  /** Why, in words. */
  reason: string;
  /** The typed error behind it. */
  error?: Error | undefined;
  /** The verified envelope, if it got that far. */
  envelope?: Envelope | undefined;
  /** When the sender may try again. */
  retryAfterMs?: number | undefined;
  /** The replay verdict, the runtime's error message or the rate-limited count. */
  detail?: string | number | undefined;
}

/**
 * Reads protocol, type, msg_id and sender agent id from an unverified
 * message, for answering a refusal.
 *
 * @param input The message as received.
 * @returns What could be read (empty for what is not a JSON object).
 */
export function peekHeader(input: Uint8Array | string): Header {
  let value: unknown;
  try {
    value = JSON.parse(typeof input === "string" ? input : new TextDecoder().decode(input));
  } catch {
    return {};
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  const v = value as Record<string, unknown>;
  const protocol = PROTOCOLS.find((p) => v[p] === "1.0");
  const sender = v.sender as Record<string, unknown> | undefined;
  return {
    structured: true,
    protocol,
    type: typeof v.type === "string" ? v.type.slice(0, 64) : undefined,
    msgId: typeof v.msg_id === "string" ? v.msg_id : undefined,
    agentId: typeof sender?.agent_id === "string" && sender.agent_id.length <= 128 &&
        sender.agent_id.length > 0
      ? sender.agent_id
      : undefined,
  };
}

/**
 * The row of a verification error, and the typed error to report: a
 * malformed envelope that names no known protocol, or a type its protocol
 * does not have, becomes a {@linkcode RoutingError}.
 *
 * @param err What `verifyEnvelope` threw.
 * @param header What could be read of the message.
 * @returns The reason and error, or `undefined` for an error that is not a
 *   verification error (the caller rethrows it).
 */
export function verificationRefusal(
  err: unknown,
  header: Header,
): { reason: RefusalReason; error: Error } | undefined {
  if (!(err instanceof Error)) return undefined;
  if (err instanceof SignatureMismatchError) return { reason: "invalid_signature", error: err };
  if (
    err instanceof FingerprintMismatchError ||
    (err instanceof TrustViolationError && err.path.startsWith("/sender"))
  ) return { reason: "fingerprint_mismatch", error: err };
  if (err instanceof TimestampError) return { reason: "stale", error: err };
  if (err instanceof TrustViolationError) return { reason: "wrong_receiver", error: err };
  if (!(err instanceof InvalidEnvelopeError || err instanceof PayloadSchemaError)) return undefined;
  if (header.protocol === undefined && header.structured === true) {
    return {
      reason: "unknown_protocol",
      error: new RoutingError(
        "UNKNOWN_PROTOCOL",
        `Message has no known protocol version key (cip, hcp, lip)`,
        {},
        { cause: err },
      ),
    };
  }
  if (
    header.protocol !== undefined && header.type !== undefined &&
    !(MESSAGE_TYPES[header.protocol] as readonly string[]).includes(header.type)
  ) {
    return {
      reason: "unknown_type",
      error: new RoutingError(
        "UNKNOWN_TYPE",
        `"${header.type}" is not a ${header.protocol} message type`,
        header,
        { cause: err },
      ),
    };
  }
  return {
    reason: err instanceof PayloadSchemaError ? "payload_schema" : "invalid_envelope",
    error: err,
  };
}

/**
 * The data of a refusal's `router.*` event.
 *
 * @param row The table row.
 * @param header What could be read of the message.
 * @param detail The replay verdict, the runtime's error message, or the
 *   number of rate-limited messages, as the row's event needs.
 * @returns The event's data.
 */
export function refusalEventData(
  row: Refusal,
  header: Header,
  detail?: string | number,
): EventData {
  switch (row.event) {
    case "router.rate_limited":
      return { msg_id: header.msgId ?? null, dropped: Number(detail ?? 0) };
    case "router.replay":
      return { msg_id: header.msgId ?? null, verdict: String(detail ?? "") };
    case "router.error":
      return { code: row.code, type: header.type ?? "", message: String(detail ?? "") };
    case "router.dropped":
      return row.sanction
        ? { code: row.code, msg_id: header.msgId ?? null }
        : { code: row.code, type: header.type ?? null };
    default:
      return { code: row.code, type: header.type ?? null };
  }
}

const _UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * The unsigned error reply to a refused message: the protocol's error type,
 * carrying the code, the reason and when to try again. None for an error
 * message (errors are never answered) or a message without a valid msg_id.
 *
 * @param header What could be read of the refused message.
 * @param refusal Code, reason and retry delay.
 * @param to The fingerprint it goes to (the authenticated origin).
 * @param msgId The reply's own msg_id.
 * @param human The person's human state (an `HCP_ERROR` echoes it), read only for HCP.
 * @returns The reply, or `undefined`.
 */
export function refusalReply(
  header: Header,
  refusal: {
    code?: string | undefined;
    reason?: string | undefined;
    retryAfterMs?: number | undefined;
  },
  to: string,
  msgId: string,
  human: () => HumanState,
): ReplySpec | undefined {
  if (header.msgId === undefined || !_UUID_V4.test(header.msgId)) return undefined;
  if (header.type !== undefined && isErrorType(header.type)) return undefined;
  const payload: ErrorPayload = {
    in_reply_to: header.msgId,
    code: refusal.code ?? "refused",
    reason: truncateText(refusal.reason ?? "Refused"),
    ...(refusal.retryAfterMs === undefined
      ? {}
      : { retry_after_ms: Math.max(0, Math.ceil(refusal.retryAfterMs)) }),
  };
  const receiver = { agent_id: header.agentId ?? "unknown", fingerprint: to };
  switch (header.protocol ?? "cip") {
    case "cip":
      return replySpec("cip", "ERROR", { msg_id: msgId, receiver, payload });
    case "hcp":
      return replySpec("hcp", "HCP_ERROR", {
        msg_id: msgId,
        receiver,
        payload,
        state: { human: human() },
      });
    case "lip":
      return replySpec("lip", "LIP_ERROR", { msg_id: msgId, receiver, payload });
  }
}
