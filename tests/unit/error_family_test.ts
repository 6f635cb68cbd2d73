/**
 * The error family: every error class the library and the CLI export is a
 * `Web4Error` with its class name as `name`, and every code it can carry is
 * a member of its family's documented union. The code tables below are
 * checked against the unions by the compiler (`Record<Code, true>` refuses a
 * missing and an extra code), and the walk over every module under `lib/`
 * and `cli/` fails on an error class this table does not know.
 */

import assert from "node:assert/strict";
import { Web4Error } from "../../lib/errors/mod.ts";
import { IdentityError, type IdentityErrorCode } from "../../lib/identity/errors.ts";
import {
  EnvelopeError,
  type EnvelopeErrorCode,
  FingerprintMismatchError,
  InvalidEnvelopeError,
  PayloadSchemaError,
  ReplayError,
  SignatureMismatchError,
  TimestampError,
  TrustViolationError,
} from "../../lib/envelope/errors.ts";
import {
  RTTBackpressureError,
  type RTTBackpressureErrorCode,
  RTTDisconnectedError,
  type RTTDisconnectedErrorCode,
  RTTHandshakeError,
  type RTTHandshakeErrorCode,
  RTTReplayError,
  RTTTransportError,
  type RTTTransportErrorCode,
} from "../../lib/transport/errors.ts";
import { NativeLibraryError, type NativeLibraryErrorCode } from "../../lib/rtt/native.ts";
import { QuotaExceededError, StoreError, type StoreErrorCode } from "../../lib/store/errors.ts";
import {
  HcpConsentError,
  HcpConsentMismatchError,
  HcpDecisionError,
  HcpError,
  type HcpErrorCode,
  HcpPersonError,
  HcpSocialTrustError,
} from "../../lib/hcp/errors.ts";
import {
  LipError,
  type LipErrorCode,
  LipFetchError,
  type LipFetchErrorCode,
} from "../../lib/lip/errors.ts";
import { Http1Error, type Http1ErrorCode } from "../../lib/lip/http1.ts";
import { RoutingError, type RoutingErrorCode } from "../../lib/router/errors.ts";
import { AgentError, type AgentErrorCode } from "../../lib/agent/errors.ts";
import { MeshError, type MeshErrorCode } from "../../lib/mesh/errors.ts";
import { UsageError } from "../../cli/command.ts";
import { ControlError } from "../../cli/control/client.ts";
import { DemoError } from "../../cli/demo.ts";
import { A2A_ERRORS, A2aRpcError } from "../../cli/a2a/protocol.ts";
import { BodyTooLargeError } from "../../cli/http_body.ts";

/** Any class, as the walk finds it. */
type AnyClass = abstract new (...args: never[]) => unknown;

/** One error class: its parent, the codes of its union, and how to make one with each code. */
interface Member {
  readonly cls: AnyClass;
  readonly parent: AnyClass;
  readonly codes: readonly string[];
  readonly make: (code: string) => Web4Error;
}

const PEER = "ab".repeat(32);

/**
 * Declares a member. `codes` must list exactly the union `C`; `make` builds
 * an instance carrying the given code.
 */
function member<C extends string>(
  cls: AnyClass,
  parent: AnyClass,
  codes: Record<C, true>,
  make: (code: C) => Web4Error<C>,
): Member {
  const list = Object.keys(codes) as C[];
  return {
    cls,
    parent,
    codes: list,
    make: (code) => {
      const known = list.find((c) => c === code);
      assert.ok(known !== undefined, `${code} is not a code of ${cls.name}`);
      return make(known);
    },
  };
}

const IDENTITY: Record<IdentityErrorCode, true> = {
  KEY_FILE_PERMISSIONS: true,
  INVALID_KEY_FILE: true,
  PUBLIC_KEY_MISMATCH: true,
};
const ENVELOPE: Record<EnvelopeErrorCode, true> = {
  INVALID_ENVELOPE: true,
  PAYLOAD_SCHEMA: true,
  FINGERPRINT_MISMATCH: true,
  SIGNATURE_MISMATCH: true,
  TIMESTAMP: true,
  TRUST_VIOLATION: true,
  REPLAY: true,
};
const HANDSHAKE: Record<RTTHandshakeErrorCode, true> = {
  FINGERPRINT_MISMATCH: true,
  PEER_NOT_ALLOWED: true,
  TLS_FAILED: true,
  HANDSHAKE_TIMEOUT: true,
  TOO_MANY_HANDSHAKES: true,
  TOO_MANY_SESSIONS: true,
};
const TRANSPORT: Record<RTTTransportErrorCode, true> = {
  MESSAGE_TOO_LARGE: true,
  TOO_MANY_CHANNELS: true,
  IO: true,
  PROTOCOL: true,
};
const BACKPRESSURE: Record<RTTBackpressureErrorCode, true> = {
  QUEUE_FULL: true,
  BLOCK_TIMEOUT: true,
};
const DISCONNECTED: Record<RTTDisconnectedErrorCode, true> = {
  SESSION_CLOSED: true,
  CHANNEL_CLOSED: true,
  RESUME_TIMEOUT: true,
};
const NATIVE: Record<NativeLibraryErrorCode, true> = {
  NATIVE_LIBRARY_NOT_FOUND: true,
  NATIVE_LIBRARY_LOAD_FAILED: true,
  NATIVE_ABI_MISMATCH: true,
  NATIVE_LIBRARY_CHECKSUM_MISMATCH: true,
};
const STORE: Record<StoreErrorCode, true> = {
  STORE_CLOSED: true,
  STORE_SCHEMA: true,
  STORE_INVALID_CHANGE: true,
  QUOTA: true,
};
const HCP: Record<HcpErrorCode, true> = {
  not_person: true,
  no_consent: true,
  consent_revoked: true,
  out_of_scope: true,
  restricted: true,
  untrusted: true,
  decision_incomplete: true,
  invalid_topic: true,
  consent_mismatch: true,
};
const LIP: Record<LipErrorCode, true> = {
  blocked_source: true,
  no_provenance: true,
  untrusted_sender: true,
  expired: true,
  refuted: true,
  unknown_claim: true,
  invalid_transition: true,
};
const LIP_FETCH: Record<LipFetchErrorCode, true> = {
  unsupported_query: true,
  unsupported_constraint: true,
  constraint_violation: true,
  not_allowed: true,
  forbidden_address: true,
  busy: true,
  dns: true,
  too_large: true,
  timeout: true,
  http_status: true,
  too_many_redirects: true,
  bad_response: true,
  network: true,
  bad_card: true,
  agent_error: true,
  no_answer: true,
};
const HTTP1: Record<Http1ErrorCode, true> = {
  head_too_large: true,
  malformed: true,
  unsupported: true,
  too_large: true,
  truncated: true,
};
const ROUTING: Record<RoutingErrorCode, true> = {
  UNKNOWN_PROTOCOL: true,
  UNKNOWN_TYPE: true,
  NO_ROUTE: true,
  DUPLICATE_ROUTE: true,
};
const AGENT: Record<AgentErrorCode, true> = {
  STOPPED: true,
  NOT_CONNECTED: true,
  HANDSHAKE_FAILED: true,
  NO_PERSON: true,
  TIMEOUT: true,
  REFUSED: true,
};
const MESH: Record<MeshErrorCode, true> = {
  INVALID_FRAME: true,
  TOO_LARGE: true,
  BAD_SIGNATURE: true,
  NO_ROUTE: true,
  EXPIRED: true,
  TIMEOUT: true,
  STOPPED: true,
};

/** The family tree: every error class, its parent and its codes. */
const FAMILY: readonly Member[] = [
  member(IdentityError, Web4Error, IDENTITY, (c) => new IdentityError(c, "Key file x")),
  member(EnvelopeError, Web4Error, ENVELOPE, (c) => new EnvelopeError(c, "Envelope x", "")),
  member(
    InvalidEnvelopeError,
    EnvelopeError,
    { INVALID_ENVELOPE: true },
    () => new InvalidEnvelopeError("Envelope x", ""),
  ),
  member(
    PayloadSchemaError,
    EnvelopeError,
    { PAYLOAD_SCHEMA: true },
    () => new PayloadSchemaError("Payload x", "/payload"),
  ),
  member(
    FingerprintMismatchError,
    EnvelopeError,
    { FINGERPRINT_MISMATCH: true },
    () => new FingerprintMismatchError("Fingerprint x", "/sender/fingerprint"),
  ),
  member(
    SignatureMismatchError,
    EnvelopeError,
    { SIGNATURE_MISMATCH: true },
    () => new SignatureMismatchError("Signature x", "/sign/signature"),
  ),
  member(
    TimestampError,
    EnvelopeError,
    { TIMESTAMP: true },
    () => new TimestampError("Timestamp x", "/timestamp"),
  ),
  member(
    TrustViolationError,
    EnvelopeError,
    { TRUST_VIOLATION: true },
    () => new TrustViolationError("Sender x", "/sender"),
  ),
  member(
    ReplayError,
    EnvelopeError,
    { REPLAY: true },
    () => new ReplayError("Replay x", "/msg_id"),
  ),
  member(RTTHandshakeError, Web4Error, HANDSHAKE, (c) => new RTTHandshakeError(c, "Handshake x")),
  member(RTTTransportError, Web4Error, TRANSPORT, (c) => new RTTTransportError(c, "Transport x")),
  member(
    RTTBackpressureError,
    Web4Error,
    BACKPRESSURE,
    (c) => new RTTBackpressureError(c, "Queue x"),
  ),
  member(RTTReplayError, Web4Error, { REPLAY: true }, () => new RTTReplayError("Replay x")),
  member(
    RTTDisconnectedError,
    Web4Error,
    DISCONNECTED,
    (c) => new RTTDisconnectedError(c, "Session x"),
  ),
  member(NativeLibraryError, Web4Error, NATIVE, (c) => new NativeLibraryError(c, "Library x")),
  member(StoreError, Web4Error, STORE, (c) => new StoreError(c, "Store x")),
  member(
    QuotaExceededError,
    StoreError,
    { QUOTA: true },
    () => new QuotaExceededError(PEER, "claims", 1, 2),
  ),
  member(HcpError, Web4Error, HCP, (c) => new HcpError(c, "HCP x")),
  member(HcpPersonError, HcpError, { not_person: true }, () => new HcpPersonError(PEER, null)),
  member(
    HcpConsentError,
    HcpError,
    { no_consent: true, consent_revoked: true, out_of_scope: true },
    (c) => new HcpConsentError(c, "Consent x"),
  ),
  member(
    HcpSocialTrustError,
    HcpError,
    { restricted: true, untrusted: true },
    (c) => new HcpSocialTrustError(c, "Relation x"),
  ),
  member(
    HcpDecisionError,
    HcpError,
    { decision_incomplete: true },
    () => new HcpDecisionError("rationale", "Decision x"),
  ),
  member(
    HcpConsentMismatchError,
    HcpError,
    { consent_mismatch: true },
    () => new HcpConsentMismatchError("HCP_INTENT", "granted", "revoked"),
  ),
  member(LipError, Web4Error, LIP, (c) => new LipError(c, "Claim x")),
  member(LipFetchError, Web4Error, LIP_FETCH, (c) => new LipFetchError(c, "Fetch x")),
  member(Http1Error, Web4Error, HTTP1, (c) => new Http1Error(c, "Response x")),
  member(RoutingError, Web4Error, ROUTING, (c) => new RoutingError(c, "Route x")),
  member(AgentError, Web4Error, AGENT, (c) => new AgentError(c, "Agent x")),
  member(MeshError, Web4Error, MESH, (c) => new MeshError(c, "Mesh x")),
  member(UsageError, Web4Error, { USAGE: true }, () => new UsageError("--peer is required")),
  member(
    ControlError,
    Web4Error,
    {
      UNAUTHORIZED: true,
      BAD_REQUEST: true,
      NOT_CONNECTED: true,
      UNREACHABLE: true,
      SEND_FAILED: true,
      NOT_FOUND: true,
      INTERNAL: true,
      BAD_ANSWER: true,
    },
    (code) => new ControlError(400, code.toLowerCase(), "why"),
  ),
  member(DemoError, Web4Error, { DEMO_STEP_FAILED: true }, () => new DemoError("Step x")),
  member(
    A2aRpcError,
    Web4Error,
    Object.fromEntries(Object.keys(A2A_ERRORS).map((k) => [k, true])),
    (code) => new A2aRpcError(code as keyof typeof A2A_ERRORS, "Call x"),
  ),
  member(BodyTooLargeError, Web4Error, { BODY_TOO_LARGE: true }, () => new BodyTooLargeError(16)),
];

/** Modules that cannot be imported outside a browser. */
const BROWSER_ONLY = new Set(["cli/console/page.ts"]);

/** Every module under `dir` (relative to the repository), tests excluded. */
async function* modules(dir: string): AsyncGenerator<string> {
  const root = new URL("../../", import.meta.url);
  for await (const entry of Deno.readDir(new URL(dir, root))) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) yield* modules(`${path}/`);
    else if (path.endsWith(".ts") && !path.endsWith("_test.ts") && !BROWSER_ONLY.has(path)) {
      yield path;
    }
  }
}

/** Every exported class under `lib/` and `cli/` whose instances are errors, with where it is exported. */
async function exportedErrorClasses(): Promise<Map<AnyClass, string>> {
  const found = new Map<AnyClass, string>();
  for (const dir of ["lib/", "cli/"]) {
    for await (const path of modules(dir)) {
      const mod: Record<string, unknown> = await import(`../../${path}`);
      for (const [name, value] of Object.entries(mod)) {
        if (typeof value === "function" && value.prototype instanceof Error) {
          const cls = value as AnyClass;
          if (!found.has(cls)) found.set(cls, `${name} (${path})`);
        }
      }
    }
  }
  return found;
}

Deno.test("Every error class exported under lib/ and cli/ is a Web4Error in the family table", async () => {
  const found = await exportedErrorClasses();
  found.delete(Web4Error);
  const known = new Set(FAMILY.map((m) => m.cls));
  for (const [cls, where] of found) {
    assert.ok(cls.prototype instanceof Web4Error, `${where} does not extend Web4Error`);
    assert.ok(known.has(cls), `${where} is missing from the family table of this test`);
  }
  for (const m of FAMILY) assert.ok(found.has(m.cls), `${m.cls.name} is no longer exported`);
});

Deno.test("Every error class keeps its parent, its name and only codes of its union", () => {
  for (const m of FAMILY) {
    assert.equal(Object.getPrototypeOf(m.cls), m.parent, `${m.cls.name} extends ${m.parent.name}`);
    assert.ok(m.codes.length > 0, `${m.cls.name} has codes`);
    for (const code of m.codes) {
      const err = m.make(code);
      assert.ok(err instanceof m.cls && err instanceof Web4Error && err instanceof Error);
      assert.equal(err.constructor, m.cls);
      assert.equal(err.name, m.cls.name);
      assert.equal(err.code, code);
      assert.match(err.code, /^[A-Za-z_]+$/);
      assert.match(err.message, /^[A-Z-]/, `${m.cls.name}'s message starts with a capital`);
      assert.equal(String(err).split(":")[0], m.cls.name);
    }
  }
});

Deno.test("A subclass's codes are codes of its parent's family", () => {
  const byClass = new Map<AnyClass, Member>(FAMILY.map((m) => [m.cls, m]));
  for (const m of FAMILY) {
    const parent = byClass.get(m.parent);
    if (parent === undefined) continue; // the parent is the root
    for (const code of m.codes) {
      assert.ok(parent.codes.includes(code), `${m.cls.name}'s ${code} is a ${m.parent.name} code`);
    }
  }
});

Deno.test("Error classes of different families do not catch each other's errors", () => {
  const roots = FAMILY.filter((m) => m.parent === Web4Error);
  for (const a of roots) {
    const err = a.make(a.codes[0]!);
    for (const b of roots) {
      if (b !== a) {
        assert.equal(err instanceof b.cls, false, `${a.cls.name} is not a ${b.cls.name}`);
      }
    }
  }
  assert.equal(new TypeError("Bad argument") instanceof Web4Error, false);
  assert.equal(new RangeError("Out of range") instanceof AgentError, false);
});

/** `true` when `T` is `any`. */
type IsAny<T> = 0 extends 1 & T ? true : false;

Deno.test("instanceof narrows code to string on the root and to the union on a family", () => {
  const caught: unknown = new AgentError("TIMEOUT", "Condition not met within 10 ms");
  if (!(caught instanceof Web4Error)) throw new Error("AgentError must be a Web4Error");
  // Compile-time checks: `code` is `string` here, not `any` ...
  const rootIsAny: IsAny<typeof caught.code> = false;
  const rootCode: string = caught.code;
  assert.equal(rootIsAny, false);
  assert.equal(rootCode, "TIMEOUT");
  if (!(caught instanceof AgentError)) throw new Error("Expected an AgentError");
  // ... and the family's union here.
  const familyCode: AgentErrorCode = caught.code;
  const familyIsAny: IsAny<typeof caught.code> = false;
  assert.equal(familyIsAny, false);
  assert.equal(familyCode, "TIMEOUT");
});
