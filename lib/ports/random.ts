/**
 * The random source port: a function that returns `n` fresh bytes, and the
 * helpers every layer draws from it (UUIDs for message and decision ids,
 * integers and jitter, seeds for keys). {@linkcode systemRandom} is the real
 * one; {@linkcode seededRandom} gives the same bytes for the same seed.
 *
 * @module
 */

/** `n` fresh random bytes. */
export type RandomSource = (n: number) => Uint8Array;

// The default implementation: the only place in lib/ that draws real
// randomness (tests/unit/ports_lint_test.ts allows it here). WebCrypto fills
// at most 65536 bytes per call.
/**
 * The system's cryptographic random source (`crypto.getRandomValues`).
 *
 * @example
 * ```ts
 * import { systemRandom } from "@web4/runtime/ports";
 * import assert from "node:assert/strict";
 *
 * assert.equal(systemRandom(32).length, 32);
 * ```
 */
export const systemRandom: RandomSource = (n: number): Uint8Array => {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65_536) {
    crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65_536)));
  }
  return out;
};

/**
 * A deterministic random source for tests and simulations (xoshiro128**,
 * seeded through splitmix32): the same seed gives the same bytes. Not for
 * keys anyone relies on.
 *
 * @param seed A safe integer.
 * @returns The source.
 * @throws {RangeError} If `seed` is not a safe integer.
 *
 * @example
 * ```ts
 * import { seededRandom } from "@web4/runtime/ports";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(seededRandom(7)(8), seededRandom(7)(8));
 * assert.notDeepEqual(seededRandom(7)(8), seededRandom(8)(8));
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`Expected a safe integer seed, got ${seed}`);
  }
  let sm = (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) >>> 0, 0x9e3779b9);
  const splitmix = () => {
    sm = (sm + 0x9e3779b9) | 0;
    let z = sm;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  const s = new Uint32Array([splitmix(), splitmix(), splitmix(), splitmix()]);
  if (s[0]! === 0 && s[1]! === 0 && s[2]! === 0 && s[3]! === 0) s[0] = 1;
  const next = (): number => {
    const r = Math.imul(_rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = _rotl(s[3]!, 11);
    return r;
  };
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const word = next();
      for (let b = 0; b < 4 && i + b < n; b++) out[i + b] = (word >>> (8 * b)) & 0xff;
    }
    return out;
  };
}

function _rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * A lowercase UUID version 4 from 16 bytes of `random` (message ids,
 * decision ids, event ids).
 *
 * @param random The random source.
 * @returns The UUID.
 * @throws {TypeError} If `random(16)` returns fewer than 16 bytes.
 *
 * @example
 * ```ts
 * import { randomUuid } from "@web4/runtime/ports";
 * import assert from "node:assert/strict";
 *
 * assert.equal(randomUuid((n) => new Uint8Array(n)), "00000000-0000-4000-8000-000000000000");
 * ```
 */
export function randomUuid(random: RandomSource): string {
  const bytes = random(16);
  if (!(bytes instanceof Uint8Array) || bytes.length < 16) {
    throw new TypeError("Expected random(16) to return at least 16 bytes");
  }
  const id = bytes.slice(0, 16);
  id[6] = (id[6]! & 0x0f) | 0x40;
  id[8] = (id[8]! & 0x3f) | 0x80;
  const hex = id.toHex();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

/**
 * A uniform integer in `[0, below)` from `random` (rejection sampling over
 * 32 bits).
 *
 * @param random The random source.
 * @param below The exclusive upper bound, 1 to 2^32.
 * @returns The integer.
 * @throws {RangeError} If `below` is out of range.
 *
 * @example
 * ```ts
 * import { randomInt, seededRandom } from "@web4/runtime/ports";
 * import assert from "node:assert/strict";
 *
 * const n = randomInt(seededRandom(1), 6);
 * assert.ok(n >= 0 && n < 6);
 * ```
 */
export function randomInt(random: RandomSource, below: number): number {
  if (!Number.isInteger(below) || below < 1 || below > 2 ** 32) {
    throw new RangeError(`Expected an integer bound in 1..2^32, got ${below}`);
  }
  const limit = 2 ** 32 - (2 ** 32 % below);
  for (;;) {
    const b = random(4);
    const x = ((b[0]! | (b[1]! << 8) | (b[2]! << 16)) >>> 0) + b[3]! * 2 ** 24;
    if (x < limit) return x % below;
  }
}

/**
 * `ms` spread by up to `fraction` either way, for retry and refresh delays
 * that must not align across peers.
 *
 * @param random The random source.
 * @param ms The middle delay.
 * @param fraction How far it may move, 0 to 1. @default {0.2}
 * @returns A delay in `[ms * (1 - fraction), ms * (1 + fraction)]`, rounded.
 *
 * @example
 * ```ts
 * import { jitter, seededRandom } from "@web4/runtime/ports";
 * import assert from "node:assert/strict";
 *
 * const d = jitter(seededRandom(3), 1000, 0.1);
 * assert.ok(d >= 900 && d <= 1100);
 * ```
 */
export function jitter(random: RandomSource, ms: number, fraction = 0.2): number {
  const spread = Math.round(ms * Math.min(1, Math.max(0, fraction)));
  return ms - spread + randomInt(random, 2 * spread + 1);
}
