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
 *
 * A frame's text starts with `{"mesh":"1.0"`, which no envelope does.
 *
 * @module
 */
import { canonicalize } from "../envelope/mod.ts";
import { fingerprintOf, type Identity, verifyEd25519 } from "../identity/mod.ts";
import { MeshError } from "./errors.ts";

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
  /** A UUID: the flood's de-duplication key. */
  id: string;
  /** The signer's fingerprint. */
  signer: string;
  /** The signer's raw Ed25519 public key, base64. */
  pubkey: string;
  /** When it was signed, ms since the epoch. */
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
  if (bytes.length < _PREFIX.length) return false;
  for (let i = 0; i < _PREFIX.length; i++) if (bytes[i] !== _PREFIX[i]) return false;
  return true;
}

/**
 * Encodes a frame (the `mesh` key first, so {@linkcode isMeshFrame} sees it).
 *
 * @param frame The frame.
 * @returns Its bytes.
 */
export function encodeFrame(frame: MeshFrame): Uint8Array {
  const { mesh, ...rest } = frame;
  return _enc.encode(JSON.stringify({ mesh, ...rest }));
}

const _FP = /^[0-9a-f]{64}$/;
const _KINDS = new Set(["relay", "links", "introduce", "copies", "malice"]);

/**
 * Decodes and checks the shape of a frame (not its signature).
 *
 * @param bytes The frame's bytes.
 * @returns The frame.
 * @throws {MeshError} `INVALID_FRAME` naming what is wrong.
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
export function decodeFrame(bytes: Uint8Array): MeshFrame {
  let value: unknown;
  try {
    value = JSON.parse(_dec.decode(bytes));
  } catch (err) {
    throw new MeshError("INVALID_FRAME", "Mesh frame is not JSON", { cause: err });
  }
  const f = value as Record<string, unknown>;
  const bad = (why: string): never => {
    throw new MeshError("INVALID_FRAME", `Mesh frame ${String(f?.kind)}: ${why}`);
  };
  if (typeof f !== "object" || f === null || f.mesh !== MESH_VERSION) bad("wrong version");
  if (typeof f.kind !== "string" || !_KINDS.has(f.kind)) bad("unknown kind");
  const isFp = (v: unknown) => typeof v === "string" && _FP.test(v);
  if (f.kind === "relay") {
    if (!isFp(f.origin) || !isFp(f.destination)) bad("origin and destination must be fingerprints");
    if (!Number.isInteger(f.hop_limit) || (f.hop_limit as number) < 0) bad("bad hop_limit");
    if (!Array.isArray(f.hops) || !f.hops.every(isFp) || f.hops.length > 64) bad("bad hops");
    if (f.channel !== "control" && f.channel !== "state" && f.channel !== "knowledge") {
      bad("bad channel");
    }
    if (typeof f.envelope !== "string") bad("envelope must be the signed text");
    return f as unknown as RelayFrame;
  }
  if (typeof f.id !== "string" || !isFp(f.signer) || typeof f.pubkey !== "string") {
    bad("id, signer and pubkey are required");
  }
  if (typeof f.at !== "number" || typeof f.sig !== "string") bad("at and sig are required");
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
  if (f.kind === "links" && (typeof f.seq !== "number" || !strings(f.neighbours))) {
    bad("seq and neighbours are required");
  }
  if (f.kind === "introduce" && (!isFp(f.subject) || typeof f.agent_id !== "string")) {
    bad("subject and agent_id are required");
  }
  if (
    f.kind === "copies" &&
    (typeof f.decision_id !== "string" || typeof f.copies !== "object" || f.copies === null)
  ) bad("decision_id and copies are required");
  if (f.kind === "malice" && (!isFp(f.subject) || !strings(f.evidence))) {
    bad("subject and evidence are required");
  }
  return f as unknown as ControlFrame;
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
 * @returns The signed frame.
 */
export async function signControl(
  identity: Identity,
  body: ControlBody,
  at: number,
): Promise<ControlFrame> {
  const unsigned = {
    mesh: MESH_VERSION,
    id: crypto.randomUUID(),
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
