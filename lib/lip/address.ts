/**
 * Which IP addresses the default fetcher may connect to: a parser for IPv4
 * and IPv6 text and a classifier by IANA's special-purpose address
 * registries (docs/protocols.md §8, "who may cause a fetch"). Pure.
 *
 * An address is globally reachable when no entry of the registries says
 * otherwise (the most specific entry wins, so `192.0.0.9/32` is reachable
 * inside the unreachable `192.0.0.0/24`). IPv4 multicast (`224.0.0.0/4`,
 * from the IPv4 address space registry) is never a destination. IPv6 must
 * lie within global unicast `2000::/3`; the IPv4 embedded in
 * `::ffff:0:0/96`, `::ffff:0:0:0/96`, `64:ff9b::/96`, `64:ff9b:1::/48` and
 * `2002::/16` is extracted and judged as IPv4; Teredo (`2001::/32`) is
 * refused, since its embedded server and client cannot both be checked.
 *
 * @module
 */

/** What the classifier says of one address. */
export interface AddressVerdict {
  /** The address, canonical (IPv4 dotted quad, IPv6 lowercase with `::`). */
  readonly address: string;
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** Whether the address may be fetched from without an operator's exception. */
  readonly global: boolean;
  /** The registry block that decided (`127.0.0.0/8`), or `""` for an ordinary global address. */
  readonly block: string;
  /** The block's name (`loopback`, `private-use`, ...; `global` when none matched). */
  readonly name: string;
  /** For an IPv6 form that embeds IPv4: the embedded address's verdict (it decides). */
  readonly embedded?: AddressVerdict | undefined;
}

const _V4_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const _HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

interface _Entry {
  readonly net: bigint;
  readonly len: number;
  readonly block: string;
  readonly name: string;
  /** `true`/`false`: reachable or not; `"v4"`: judge the embedded IPv4; `"refuse"`: never. */
  readonly rule: boolean | "v4" | "refuse";
}

function _entries(family: 4 | 6, rows: readonly [string, string, boolean | "v4" | "refuse"][]) {
  return rows.map(([block, name, rule]): _Entry => {
    const [addr, len] = block.split("/") as [string, string];
    const net = family === 4 ? BigInt(_parseV4(addr)!) : _parseV6(addr)!;
    return { net, len: Number(len), block, name, rule };
  });
}

/** IANA IPv4 Special-Purpose Address Registry (and multicast from the IPv4 address space). */
const _V4 = _entries(4, [
  ["0.0.0.0/8", "this-network", false],
  ["0.0.0.0/32", "this-host", false],
  ["10.0.0.0/8", "private-use", false],
  ["100.64.0.0/10", "shared-address-space", false],
  ["127.0.0.0/8", "loopback", false],
  ["169.254.0.0/16", "link-local", false],
  ["172.16.0.0/12", "private-use", false],
  ["192.0.0.0/24", "ietf-protocol-assignments", false],
  ["192.0.0.0/29", "ipv4-service-continuity", false],
  ["192.0.0.8/32", "ipv4-dummy", false],
  ["192.0.0.9/32", "pcp-anycast", true],
  ["192.0.0.10/32", "turn-anycast", true],
  ["192.0.0.170/32", "nat64-dns64-discovery", false],
  ["192.0.0.171/32", "nat64-dns64-discovery", false],
  ["192.0.2.0/24", "documentation", false],
  ["192.31.196.0/24", "as112-v4", true],
  ["192.52.193.0/24", "amt", true],
  ["192.88.99.0/24", "deprecated-6to4-relay-anycast", false],
  ["192.168.0.0/16", "private-use", false],
  ["192.175.48.0/24", "as112-direct-delegation", true],
  ["198.18.0.0/15", "benchmarking", false],
  ["198.51.100.0/24", "documentation", false],
  ["203.0.113.0/24", "documentation", false],
  ["224.0.0.0/4", "multicast", false],
  ["240.0.0.0/4", "reserved", false],
  ["255.255.255.255/32", "limited-broadcast", false],
]);

/**
 * IANA IPv6 Special-Purpose Address Registry, with the embedded-IPv4 forms of docs/protocols.md §8.
 */
const _V6 = _entries(6, [
  ["::/128", "unspecified", false],
  ["::1/128", "loopback", false],
  ["::ffff:0:0/96", "ipv4-mapped", "v4"],
  ["::ffff:0:0:0/96", "ipv4-translated", "v4"],
  ["64:ff9b::/96", "ipv4-ipv6-translation", "v4"],
  ["64:ff9b:1::/48", "ipv4-ipv6-translation-local", "v4"],
  ["100::/64", "discard-only", false],
  ["100:0:0:1::/64", "dummy-prefix", false],
  ["2001::/23", "ietf-protocol-assignments", false],
  ["2001::/32", "teredo", "refuse"],
  ["2001:1::1/128", "pcp-anycast", true],
  ["2001:1::2/128", "turn-anycast", true],
  ["2001:1::3/128", "dns-sd-srp-anycast", true],
  ["2001:2::/48", "benchmarking", false],
  ["2001:3::/32", "amt", true],
  ["2001:4:112::/48", "as112-v6", true],
  ["2001:10::/28", "deprecated-orchid", false],
  ["2001:20::/28", "orchid-v2", true],
  ["2001:30::/28", "drone-remote-id-det", true],
  ["2001:db8::/32", "documentation", false],
  ["2002::/16", "6to4", "v4"],
  ["2620:4f:8000::/48", "as112-direct-delegation", true],
  ["3fff::/20", "documentation", false],
  ["5f00::/16", "srv6-sids", false],
  ["fc00::/7", "unique-local", false],
  ["fe80::/10", "link-local", false],
  ["ff00::/8", "multicast", false],
]);

function _parseV4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!_V4_OCTET.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

function _groups(text: string): number[] | undefined {
  if (text === "") return [];
  const out: number[] = [];
  const parts = text.split(":");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (i === parts.length - 1 && p.includes(".")) {
      const v4 = _parseV4(p);
      if (v4 === undefined) return undefined;
      out.push(v4 >>> 16, v4 & 0xffff);
    } else if (_HEX_GROUP.test(p)) {
      out.push(parseInt(p, 16));
    } else {
      return undefined;
    }
  }
  return out;
}

function _parseV6(text: string): bigint | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = _groups(halves[0]!);
  const tail = halves.length === 2 ? _groups(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  // A dotted quad may only end the address.
  if (halves.length === 2 && halves[0]!.includes(".")) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  let n = 0n;
  for (const g of all) n = (n << 16n) | BigInt(g);
  return n;
}

function _v4Text(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function _v6Text(n: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** A parsed IP address. */
export interface IpAddress {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** The address as an integer (IPv4 in the low 32 bits). */
  readonly value: bigint;
  /** Canonical text (dotted quad; RFC 5952 IPv6). */
  readonly text: string;
}

/**
 * Parses an IPv4 dotted quad (decimal octets without leading zeros) or an
 * IPv6 address (with `::` and a trailing dotted quad allowed; brackets
 * allowed; zone identifiers refused).
 *
 * @param text The address.
 * @returns The address, or `undefined` when the text is not one.
 *
 * @example
 * ```ts
 * import { parseIpAddress } from "./address.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseIpAddress("[::FFFF:127.0.0.1]")?.text, "::ffff:7f00:1");
 * assert.equal(parseIpAddress("10.0.0.1")?.family, 4);
 * assert.equal(parseIpAddress("010.0.0.1"), undefined); // octal-looking octets are refused
 * assert.equal(parseIpAddress("example.org"), undefined);
 * ```
 */
export function parseIpAddress(text: string): IpAddress | undefined {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (!bare.includes(":")) {
    const v4 = _parseV4(bare);
    return v4 === undefined ? undefined : { family: 4, value: BigInt(v4), text: _v4Text(v4) };
  }
  const v6 = _parseV6(bare);
  return v6 === undefined ? undefined : { family: 6, value: v6, text: _v6Text(v6) };
}

function _match(entries: readonly _Entry[], value: bigint, bits: number): _Entry | undefined {
  let best: _Entry | undefined;
  for (const e of entries) {
    const shift = BigInt(bits - e.len);
    if (value >> shift === e.net >> shift && (best === undefined || e.len > best.len)) best = e;
  }
  return best;
}

function _v4Verdict(n: number): AddressVerdict {
  const e = _match(_V4, BigInt(n), 32);
  const address = _v4Text(n);
  if (e === undefined) return { address, family: 4, global: true, block: "", name: "global" };
  return { address, family: 4, global: e.rule === true, block: e.block, name: e.name };
}

/**
 * The IPv4 an embedding form carries. Inside `64:ff9b:1::/48` the operator
 * picks the translation prefix length (RFC 8215), so every RFC 6052 layout
 * whose reserved octet (bits 64-71) and suffix are zero is a candidate.
 */
function _embedded(e: _Entry, v: bigint): number[] {
  const bits = (from: number, count: number) =>
    Number((v >> BigInt(128 - from - count)) & ((1n << BigInt(count)) - 1n));
  const zero = (from: number) => from >= 128 || (v & ((1n << BigInt(128 - from)) - 1n)) === 0n;
  if (e.block === "2002::/16") return [bits(16, 32)];
  if (e.block !== "64:ff9b:1::/48") return [bits(96, 32)];
  if (bits(64, 8) !== 0) return [];
  const layouts: [number, number][] = [
    [(bits(48, 16) << 16 | bits(72, 16)) >>> 0, 88],
    [(bits(56, 8) << 24 | bits(72, 24)) >>> 0, 96],
    [bits(72, 32), 104],
    [bits(80, 32), 112],
    [bits(96, 32), 128],
  ];
  return layouts.filter(([, suffix]) => zero(suffix)).map(([v4]) => v4);
}

/**
 * Classifies an IP address by IANA's special-purpose registries (see the
 * module documentation for the rules and the embedded-IPv4 forms).
 *
 * @param text An IPv4 or IPv6 address (brackets allowed).
 * @returns The verdict: `global` says whether it may be fetched from.
 * @throws {TypeError} When `text` is not an IP address.
 *
 * @example
 * ```ts
 * import { classifyAddress } from "./address.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(classifyAddress("93.184.216.34").global, true);
 * assert.deepEqual(
 *   [classifyAddress("127.0.0.1").name, classifyAddress("127.0.0.1").global],
 *   ["loopback", false],
 * );
 * const mapped = classifyAddress("::ffff:10.1.2.3");
 * assert.equal(mapped.global, false);
 * assert.equal(mapped.embedded?.name, "private-use");
 * assert.equal(classifyAddress("2001::1").name, "teredo");
 * assert.equal(classifyAddress("fe80::1").global, false);
 * ```
 */
export function classifyAddress(text: string): AddressVerdict {
  const ip = parseIpAddress(text);
  if (ip === undefined) throw new TypeError(`${JSON.stringify(text)} is not an IP address`);
  if (ip.family === 4) return _v4Verdict(Number(ip.value));
  const address = ip.text;
  const e = _match(_V6, ip.value, 128);
  if (e === undefined) {
    const unicast = ip.value >> 125n === 1n; // 2000::/3
    return unicast
      ? { address, family: 6, global: true, block: "", name: "global" }
      : { address, family: 6, global: false, block: "2000::/3", name: "not-global-unicast" };
  }
  if (e.rule === "v4") {
    const verdicts = _embedded(e, ip.value).map(_v4Verdict);
    const embedded = verdicts.find((v) => !v.global) ?? verdicts[0];
    // No well-formed embedding: nothing to judge, so not reachable.
    if (embedded === undefined) {
      return { address, family: 6, global: false, block: e.block, name: e.name };
    }
    return { address, family: 6, global: embedded.global, block: e.block, name: e.name, embedded };
  }
  return { address, family: 6, global: e.rule === true, block: e.block, name: e.name };
}
