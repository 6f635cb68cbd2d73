/**
 * Bounds on what the console returns: text clipped to a byte size (UTF-8,
 * never splitting a character), and any JSON value shown as clipped text.
 *
 * @module
 */

const _enc = new TextEncoder();
const _dec = new TextDecoder();

/**
 * `text` cut to at most `maxBytes` UTF-8 bytes (a cut one ends with `…`,
 * counted in the bytes).
 *
 * @param text The text.
 * @param maxBytes The most UTF-8 bytes, at least 4.
 * @returns The text, or its clipped start.
 */
export function clipText(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text;
  const bytes = _enc.encode(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes - 3; // room for "…" (3 bytes)
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // not inside a character
  return `${_dec.decode(bytes.subarray(0, end))}…`;
}

/**
 * A JSON value as text for a list: a string as itself, anything else as
 * JSON, clipped to `maxBytes`.
 *
 * @param value The value.
 * @param maxBytes The most UTF-8 bytes.
 * @returns The clipped text.
 */
export function clipJson(value: unknown, maxBytes: number): string {
  return clipText(typeof value === "string" ? value : JSON.stringify(value) ?? "", maxBytes);
}
