/**
 * UTF-8 sizes of JavaScript strings, counted without encoding them, and a
 * cut at a byte budget that never splits a code point. The envelope schemas
 * (free text is bounded in UTF-8 bytes), the agent's own reasons and the
 * event caps of `createTelemetry` all count with these.
 *
 * @module
 */

/**
 * The number of bytes `text` takes in UTF-8 (what `TextEncoder` would
 * produce): 1 to 3 bytes per UTF-16 unit, 4 per surrogate pair; a lone
 * surrogate counts 3 (it would be encoded as U+FFFD).
 *
 * @param text Any string.
 * @returns Its UTF-8 length in bytes.
 *
 * @example
 * ```ts
 * import { utf8ByteLength } from "./utf8.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(utf8ByteLength("abc"), 3);
 * assert.equal(utf8ByteLength("é"), 2);
 * assert.equal(utf8ByteLength("€"), 3);
 * assert.equal(utf8ByteLength("😀"), 4); // two UTF-16 units
 * ```
 */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i += 1;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Whether `text` takes at most `maxBytes` bytes in UTF-8; stops counting
 * as soon as the answer is known (a string of `n` UTF-16 units takes
 * between `n` and `3n` bytes).
 *
 * @param text Any string.
 * @param maxBytes The budget.
 * @returns `true` when it fits.
 *
 * @example
 * ```ts
 * import { fitsUtf8 } from "./utf8.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(fitsUtf8("é".repeat(512), 1024), true); // 1,024 bytes
 * assert.equal(fitsUtf8("é".repeat(512) + "a", 1024), false); // 1,025 bytes
 * ```
 */
export function fitsUtf8(text: string, maxBytes: number): boolean {
  if (text.length > maxBytes) return false;
  if (text.length * 3 <= maxBytes) return true;
  return utf8ByteLength(text) <= maxBytes;
}

/** The mark a cut string ends with: `…` (U+2026, 3 bytes in UTF-8). */
export const TRUNCATION_MARK = "\u2026";

/**
 * Cuts `text` to at most `maxBytes` UTF-8 bytes at a code point boundary
 * (never inside a surrogate pair), ending the cut text with `mark` (which
 * counts toward the budget; dropped when the budget is smaller than the
 * mark). A string that fits is returned unchanged.
 *
 * @param text Any string.
 * @param maxBytes The budget in UTF-8 bytes (an integer >= 0).
 * @param mark What a cut string ends with. @default {"…"}
 * @returns `text`, or its longest prefix that fits with the mark.
 * @throws {RangeError} When `maxBytes` is not an integer >= 0.
 *
 * @example Cutting the agent's own reason to the schema's 1 KiB
 * ```ts
 * import { truncateUtf8, utf8ByteLength } from "./utf8.ts";
 * import assert from "node:assert/strict";
 *
 * const reason = "Fetch of " + "€".repeat(400) + " refused";
 * const cut = truncateUtf8(reason, 1024);
 * assert.ok(utf8ByteLength(cut) <= 1024);
 * assert.ok(cut.endsWith("…"));
 * assert.equal(truncateUtf8("short", 1024), "short");
 * assert.equal(truncateUtf8("a😀b", 4, ""), "a"); // never half of the emoji
 * ```
 */
export function truncateUtf8(
  text: string,
  maxBytes: number,
  mark: string = TRUNCATION_MARK,
): string {
  if (!Number.isInteger(maxBytes) || maxBytes < 0) {
    throw new RangeError(`maxBytes must be an integer >= 0, got ${maxBytes}`);
  }
  if (fitsUtf8(text, maxBytes)) return text;
  const markBytes = utf8ByteLength(mark);
  const end = markBytes <= maxBytes ? mark : "";
  const budget = maxBytes - (end === "" ? 0 : markBytes);
  let bytes = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    let size = 3;
    let units = 1;
    if (c < 0x80) size = 1;
    else if (c < 0x800) size = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        size = 4;
        units = 2;
      }
    }
    if (bytes + size > budget) break;
    bytes += size;
    i += units;
  }
  return text.slice(0, i) + end;
}
