/**
 * Mesh frames: what travels between neighbours besides plain envelopes.
 *
 * - `relay`: the forwarding header (origin, destination, hop limit, hop
 *   list, channel) around one inner envelope, kept as the exact signed text.
 *   The origin's Ed25519 signature covers the inner envelope end to end, and
 *   the header's origin and destination must be the envelope's sender and
 *   receiver, so a relay can change only the hop limit and the hop list.
 * - `links`, `introduce`, `copies`, `malice`: control frames, flooded to
 *   every node and signed by their signer over
 *   `"web4/mesh/1.0 " + kind + "\n" + JCS(frame without sig)`
 *   (domain-separated, so a frame signature can never pass for an envelope).
 *   Their `at` (signing time) is checked: a receiver refuses, and does not
 *   forward, a control frame outside +/-120 s of its own clock.
 *
 * Every field has a bound ({@linkcode FRAME_FIELD_BOUNDS}, {@linkcode FrameBounds}),
 * checked by {@linkcode decodeFrame}, the byte bound before parsing.
 *
 * A frame's text starts with `{"mesh":"1.0"`, which no envelope does.
 *
 * @module
 */
import { canonicalize } from "../envelope/mod.ts";
import { fingerprintOf, type Identity, verifyEd25519 } from "../identity/mod.ts";
import { MeshError } from "./errors.ts";
import { type RandomSource, randomUuid, systemRandom } from "../ports/mod.ts";

/** The mesh frame version. */
export const MESH_VERSION = "1.0";

/** The channel kinds a relay frame may name. */
export type MeshChannel = "control" | "state" | "knowledge";

/** The forwarding header and the inner envelope. */
export interface RelayFrame {
  /** The frame version. */
  mesh: "1.0";
  /** A relay frame. */
  kind: "relay";
  /** The inner envelope's sender (its signer). */
  origin: string;
  /** The inner envelope's receiver. */
  destination: string;
  /** Hops left; each relay takes one; 0 at a node that is not the destination: dropped. */
  hop_limit: number;
  /** Every node the frame went through, the origin first. */
  hops: string[];
  /** The channel kind the inner envelope travels on at each hop. */
  channel: MeshChannel;
  /** The inner envelope, exactly as the origin signed it (canonical JSON). */
  envelope: string;
}

/** Fields every signed control frame has. */
export interface SignedBase {
  /** The frame version. */
  mesh: "1.0";
  /** A UUID (at most 64 characters): with the signer, the flood's de-duplication key. */
  id: string;
  /** The signer's fingerprint. */
  signer: string;
  /** The signer's raw Ed25519 public key, base64. */
  pubkey: string;
  /** When it was signed, ms since the epoch: refused outside +/-120 s of the receiver's clock. */
  at: number;
  /** Base64 Ed25519 signature (see the module doc). */
  sig: string;
}

/** A node's link-state advertisement: its verified, live neighbours. */
export interface LinksFrame extends SignedBase {
  /** A link-state advertisement. */
  kind: "links";
  /** Newer replaces older (ms-based, so a restarted node's is newer). */
  seq: number;
  /** The signer's live, verified neighbours. */
  neighbours: string[];
}

/** A signed introduction of `subject` by `signer`. */
export interface IntroduceFrame extends SignedBase {
  /** An introduction. */
  kind: "introduce";
  /** The introduced fingerprint. */
  subject: string;
  /** The subject's agent id, informative. */
  agent_id: string;
}

/** Which msg_id each node's copy of one fact has (the origin's map). */
export interface CopiesFrame extends SignedBase {
  /** The map of a fact's copies. */
  kind: "copies";
  /** The fact's DMP decision id, shared by every copy. */
  decision_id: string;
  /** Node fingerprint -> the msg_id of the copy it was sent. */
  copies: Record<string, string>;
}

/** Evidence of malice: the subject's own signed envelopes. */
export interface MaliceFrame extends SignedBase {
  /** A malice report. */
  kind: "malice";
  /** The reported fingerprint. */
  subject: string;
  /** The subject's signed FACT_PROPOSE envelopes (canonical JSON), as received by the signer. */
  evidence: string[];
}

/** Any signed control frame. */
export type ControlFrame = LinksFrame | IntroduceFrame | CopiesFrame | MaliceFrame;
/** Any mesh frame. */
export type MeshFrame = RelayFrame | ControlFrame;

const _PREFIX = new TextEncoder().encode(`{"mesh":"${MESH_VERSION}"`);
const _enc = new TextEncoder();
const _dec = new TextDecoder();

/**
 * Whether bytes are a mesh frame (a cheap prefix test; no parsing).
 *
 * @param bytes What a session delivered.
 * @returns `true` for a mesh frame.
 */
export function isMeshFrame(bytes: Uint8Array): boolean {
  return _startsWith(bytes, _PREFIX);
}

/**
 * Encodes a frame (the `mesh` key first, so {@linkcode isMeshFrame} sees it;
 * a relay frame's fields in their documented order, `kind` second, so its
 * byte bound applies; a control frame's fields as signed).
 *
 * @param frame The frame.
 * @returns Its bytes.
 */
export function encodeFrame(frame: MeshFrame): Uint8Array {
  if (frame.kind === "relay") {
    const { mesh, kind, origin, destination, hop_limit, hops, channel, envelope } = frame;
    return _enc.encode(
      JSON.stringify({ mesh, kind, origin, destination, hop_limit, hops, channel, envelope }),
    );
  }
  const { mesh, ...rest } = frame;
  return _enc.encode(JSON.stringify({ mesh, ...rest }));
}

const _FP = /^[0-9a-f]{64}$/;
const _RELAY_PREFIX = _enc.encode(`{"mesh":"${MESH_VERSION}","kind":"relay"`);

/** Bounds a decoded frame must keep (the mesh's limits; see `MeshLimits`). */
export interface FrameBounds {
  /** Bytes of a control frame. @default {262144} */
  controlFrameBytes: number;
  /** Bytes of a relay frame (only a frame whose text starts `{"mesh":"1.0","kind":"relay"`). @default {2162688} */
  relayFrameBytes: number;
  /** Neighbours of a `links` frame. @default {32} */
  linkNeighbours: number;
  /** Entries of a `copies` map. @default {64} */
  copiesEntries: number;
}

/** The fixed bounds of a frame's fields (characters of a string, items of a list). */
export const FRAME_FIELD_BOUNDS: Readonly<{
  /** `id`, `decision_id`, and each msg_id of a `copies` map. */
  id: number;
  /** `pubkey` (base64 of 32 bytes is 44). */
  pubkey: number;
  /** `sig` (base64 of 64 bytes is 88). */
  sig: number;
  /** `agent_id` of an introduction. */
  agentId: number;
  /** Envelopes of a malice report. */
  evidence: number;
  /** `hops` of a relay frame. */
  hops: number;
}> = Object.freeze({ id: 64, pubkey: 64, sig: 128, agentId: 256, evidence: 8, hops: 64 });

const _DEFAULT_BOUNDS: FrameBounds = {
  controlFrameBytes: 256 * 1024,
  relayFrameBytes: 2 * 1024 * 1024 + 64 * 1024,
  linkNeighbours: 32,
  copiesEntries: 64,
};

function _startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/**
 * Decodes and checks the shape and bounds of a frame (not its signature).
 * The byte bound is checked before parsing: a relay frame's (larger) only
 * for text that starts as {@linkcode encodeFrame} writes a relay frame.
 *
 * @param bytes The frame's bytes.
 * @param bounds The mesh's bounds. @default {the defaults of `MeshLimits`}
 * @returns The frame.
 * @throws {MeshError} `TOO_LARGE` above its byte bound; `INVALID_FRAME` naming what is wrong.
 *
 * @example
 * ```ts
 * import { decodeFrame, encodeFrame } from "./frame.ts";
 * import assert from "node:assert/strict";
 *
 * const fp = "a".repeat(64);
 * const frame = decodeFrame(encodeFrame({
 *   mesh: "1.0", kind: "relay", origin: fp, destination: fp, hop_limit: 3, hops: [fp],
 *   channel: "knowledge", envelope: "{}",
 * }));
 * assert.equal(frame.kind, "relay");
 * assert.throws(() => decodeFrame(new TextEncoder().encode('{"mesh":"1.0","kind":"x"}')));
 * ```
 */
export function decodeFrame(bytes: Uint8Array, bounds: Partial<FrameBounds> = {}): MeshFrame {
  const b = { ..._DEFAULT_BOUNDS, ...bounds };
  const max = _startsWith(bytes, _RELAY_PREFIX) ? b.relayFrameBytes : b.controlFrameBytes;
  if (bytes.length > max) {
    throw new MeshError("TOO_LARGE", `Mesh frame of ${bytes.length} bytes is above ${max}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(_dec.decode(bytes));
  } catch (err) {
    throw new MeshError("INVALID_FRAME", "Mesh frame is not JSON", { cause: err });
  }
  if (!_isRecord(value)) return _bad(undefined, "wrong version");
  const kind = value.kind;
  if (value.mesh !== MESH_VERSION) return _bad(kind, "wrong version");
  switch (kind) {
    case "relay":
      return _relayFrame(value);
    case "links":
    case "introduce":
    case "copies":
    case "malice":
      return _controlFrame(value, kind, b);
    default:
      return _bad(kind, "unknown kind");
  }
}

const _L = FRAME_FIELD_BOUNDS;

/** A parsed JSON object (fields a newer sender added are kept: a control frame's signature covers them). */
type _Fields = Record<string, unknown>;

function _bad(kind: unknown, why: string): never {
  // Only a string kind is named: anything else (an object, say) is not turned into text.
  const name = typeof kind === "string"
    ? kind.slice(0, 16)
    : typeof kind === "object" && kind !== null
    ? "?"
    : String(kind);
  throw new MeshError("INVALID_FRAME", `Mesh frame ${name}: ${why}`);
}

function _isRecord(v: unknown): v is _Fields {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function _isFp(v: unknown): v is string {
  return typeof v === "string" && _FP.test(v);
}

function _isShort(v: unknown, n: number): v is string {
  return typeof v === "string" && v.length <= n;
}

function _isFinite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

function _isFps(v: unknown, n: number): v is string[] {
  return Array.isArray(v) && v.length <= n && v.every(_isFp);
}

function _isStrings(v: unknown, n: number): v is string[] {
  return Array.isArray(v) && v.length <= n && v.every((x) => typeof x === "string");
}

function _isCopies(v: _Fields, n: number): v is Record<string, string> {
  const entries = Object.entries(v);
  return entries.length <= n && entries.every(([k, id]) => _isFp(k) && _isShort(id, _L.id));
}

function _relayFrame(f: _Fields): RelayFrame {
  const { origin, destination, hop_limit, hops, channel, envelope } = f;
  if (!_isFp(origin) || !_isFp(destination)) {
    return _bad("relay", "origin and destination must be fingerprints");
  }
  if (typeof hop_limit !== "number" || !Number.isInteger(hop_limit) || hop_limit < 0) {
    return _bad("relay", "bad hop_limit");
  }
  if (!_isFps(hops, _L.hops)) return _bad("relay", "bad hops");
  if (channel !== "control" && channel !== "state" && channel !== "knowledge") {
    return _bad("relay", "bad channel");
  }
  if (typeof envelope !== "string") return _bad("relay", "envelope must be the signed text");
  return {
    ...f,
    mesh: MESH_VERSION,
    kind: "relay",
    origin,
    destination,
    hop_limit,
    hops,
    channel,
    envelope,
  };
}

function _controlFrame(
  f: _Fields,
  kind: ControlFrame["kind"],
  b: FrameBounds,
): ControlFrame {
  const { id, signer, pubkey, at, sig } = f;
  if (!_isShort(id, _L.id) || !_isFp(signer) || !_isShort(pubkey, _L.pubkey)) {
    return _bad(kind, `id (at most ${_L.id} characters), signer and pubkey are required`);
  }
  if (!_isFinite(at) || !_isShort(sig, _L.sig)) return _bad(kind, "at and sig are required");
  const base: SignedBase = { ...f, mesh: MESH_VERSION, id, signer, pubkey, at, sig };
  switch (kind) {
    case "links": {
      const { seq, neighbours } = f;
      if (!_isFinite(seq) || !Array.isArray(neighbours)) {
        return _bad(kind, "seq and neighbours are required");
      }
      if (!_isFps(neighbours, b.linkNeighbours)) {
        return _bad(kind, `neighbours must be at most ${b.linkNeighbours} fingerprints`);
      }
      return { ...base, kind, seq, neighbours };
    }
    case "introduce": {
      const { subject, agent_id } = f;
      if (!_isFp(subject) || !_isShort(agent_id, _L.agentId)) {
        return _bad(kind, "subject and agent_id are required");
      }
      return { ...base, kind, subject, agent_id };
    }
    case "copies": {
      const { decision_id, copies } = f;
      if (!_isShort(decision_id, _L.id) || !_isRecord(copies)) {
        return _bad(kind, "decision_id and copies are required");
      }
      if (!_isCopies(copies, b.copiesEntries)) {
        return _bad(kind, `copies must map at most ${b.copiesEntries} fingerprints to msg_ids`);
      }
      return { ...base, kind, decision_id, copies };
    }
    case "malice": {
      const { subject, evidence } = f;
      if (!_isFp(subject) || !_isStrings(evidence, _L.evidence)) {
        return _bad(kind, `subject and evidence (at most ${_L.evidence} envelopes) are required`);
      }
      return { ...base, kind, subject, evidence };
    }
  }
}

function _signedBytes(frame: Omit<ControlFrame, "sig">): Uint8Array {
  return _enc.encode(`web4/mesh/1.0 ${frame.kind}\n${canonicalize(frame)}`);
}

/** A control frame's body: everything the signer chooses. */
export type ControlBody =
  | Omit<LinksFrame, keyof SignedBase>
  | Omit<IntroduceFrame, keyof SignedBase>
  | Omit<CopiesFrame, keyof SignedBase>
  | Omit<MaliceFrame, keyof SignedBase>;

/**
 * Signs a control frame.
 *
 * @param identity The signer.
 * @param body The kind and its fields.
 * @param at The signing time (ms).
 * @param random Where the frame id comes from. @default {systemRandom}
 * @returns The signed frame.
 */
export async function signControl(
  identity: Identity,
  body: ControlBody,
  at: number,
  random: RandomSource = systemRandom,
): Promise<ControlFrame> {
  const unsigned = {
    mesh: MESH_VERSION,
    id: randomUuid(random),
    signer: identity.fingerprint,
    pubkey: identity.publicKeyBase64,
    at,
    ...body,
  } as Omit<ControlFrame, "sig">;
  const sig = await identity.sign(_signedBytes(unsigned));
  return { ...unsigned, sig: sig.toBase64() } as ControlFrame;
}

/**
 * Verifies a control frame: the pubkey is the signer's, the signature holds.
 *
 * @param frame The frame.
 * @throws {MeshError} `BAD_SIGNATURE` naming the signer.
 */
export async function verifyControl(frame: ControlFrame): Promise<void> {
  let raw: Uint8Array;
  try {
    raw = Uint8Array.fromBase64(frame.pubkey);
  } catch (err) {
    throw new MeshError("BAD_SIGNATURE", `Mesh ${frame.kind} frame: pubkey is not base64`, {
      cause: err,
    });
  }
  if (raw.length !== 32 || await fingerprintOf(raw) !== frame.signer) {
    throw new MeshError(
      "BAD_SIGNATURE",
      `Mesh ${frame.kind} frame: pubkey is not ${frame.signer}'s`,
    );
  }
  const { sig, ...unsigned } = frame;
  let signature: Uint8Array;
  try {
    signature = Uint8Array.fromBase64(sig);
  } catch {
    signature = new Uint8Array();
  }
  if (signature.length !== 64 || !await verifyEd25519(raw, _signedBytes(unsigned), signature)) {
    throw new MeshError(
      "BAD_SIGNATURE",
      `Mesh ${frame.kind} frame by ${frame.signer}: bad signature`,
    );
  }
}
