/**
 * Internal: the arguments and results of native calls. Strings go in as
 * UTF-8 `(pointer, length)` pairs, byte arrays with their real length, and
 * text and JSON come back through caller-owned buffers grown on demand.
 * Not exported from `mod.ts`.
 *
 * @module
 */

import type { NativeSymbols } from "./ffi.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes a string as UTF-8 bytes for a `(pointer, length)` argument.
 *
 * @param s The string.
 * @returns Its bytes.
 */
export function utf8(s: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(s);
}

/** The intrinsic `byteLength` getter: a length no own property can fake. */
const _byteLength = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype),
  "byteLength",
)!.get! as (this: Uint8Array) => number;

/**
 * The real length of a byte array (never an overridable property).
 *
 * @param bytes The bytes.
 * @returns Their length.
 */
export function byteLengthOf(bytes: Uint8Array): number {
  return _byteLength.call(bytes);
}

/** The buffer {@linkcode readNativeJson} reads into (a larger one is made when needed). */
const _jsonBuf = new Uint8Array(1024);

/**
 * Calls a native "copy JSON into my buffer, return its full length"
 * function, growing the buffer when needed.
 *
 * @param call The native call.
 * @returns The parsed object, or the negative status.
 */
export function readNativeJson(
  call: (buf: Uint8Array<ArrayBuffer>, cap: number) => number,
): Record<string, unknown> | number {
  // One shared buffer: the call and the decoding are synchronous, and
  // statistics are read at every session and channel close.
  let buf = _jsonBuf;
  let len = call(buf, buf.length);
  if (len > buf.length) {
    buf = new Uint8Array(len);
    len = call(buf, buf.length);
  }
  if (len < 0) return len;
  const parsed = JSON.parse(decoder.decode(buf.subarray(0, Math.min(len, buf.length))));
  return parsed !== null && typeof parsed === "object" ? parsed : {};
}

/**
 * The calling thread's last native error text.
 *
 * @param symbols The native symbols.
 * @returns The text.
 */
export function lastErrorOf(symbols: NativeSymbols): string {
  let buf = new Uint8Array(256);
  let len = symbols.web4_rtt_last_error(buf, buf.length);
  if (len > buf.length) {
    buf = new Uint8Array(len);
    len = symbols.web4_rtt_last_error(buf, buf.length);
  }
  return decoder.decode(buf.subarray(0, Math.min(len, buf.length)));
}
