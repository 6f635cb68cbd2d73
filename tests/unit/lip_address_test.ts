// The default fetcher's address classifier against every block of IANA's
// IPv4 and IPv6 special-purpose address registries (and the embedded-IPv4
// forms of PROTOCOLS.md §8), each with its first and last address and the
// addresses just outside it.
import assert from "node:assert/strict";
import fc from "fast-check";
import { classifyAddress, parseIpAddress } from "../../lib/lip/address.ts";

/** [address, globally reachable, deciding block ("" for none), name]. */
type Row = [string, boolean, string, string];

const V4: Row[] = [
  ["0.0.0.0", false, "0.0.0.0/32", "this-host"],
  ["0.0.0.1", false, "0.0.0.0/8", "this-network"],
  ["0.255.255.255", false, "0.0.0.0/8", "this-network"],
  ["1.0.0.0", true, "", "global"],
  ["9.255.255.255", true, "", "global"],
  ["10.0.0.0", false, "10.0.0.0/8", "private-use"],
  ["10.255.255.255", false, "10.0.0.0/8", "private-use"],
  ["11.0.0.0", true, "", "global"],
  ["100.63.255.255", true, "", "global"],
  ["100.64.0.0", false, "100.64.0.0/10", "shared-address-space"],
  ["100.127.255.255", false, "100.64.0.0/10", "shared-address-space"],
  ["100.128.0.0", true, "", "global"],
  ["126.255.255.255", true, "", "global"],
  ["127.0.0.0", false, "127.0.0.0/8", "loopback"],
  ["127.0.0.1", false, "127.0.0.0/8", "loopback"],
  ["127.255.255.255", false, "127.0.0.0/8", "loopback"],
  ["128.0.0.0", true, "", "global"],
  ["169.253.255.255", true, "", "global"],
  ["169.254.0.0", false, "169.254.0.0/16", "link-local"],
  ["169.254.169.254", false, "169.254.0.0/16", "link-local"],
  ["169.254.255.255", false, "169.254.0.0/16", "link-local"],
  ["169.255.0.0", true, "", "global"],
  ["172.15.255.255", true, "", "global"],
  ["172.16.0.0", false, "172.16.0.0/12", "private-use"],
  ["172.31.255.255", false, "172.16.0.0/12", "private-use"],
  ["172.32.0.0", true, "", "global"],
  ["191.255.255.255", true, "", "global"],
  ["192.0.0.0", false, "192.0.0.0/29", "ipv4-service-continuity"],
  ["192.0.0.7", false, "192.0.0.0/29", "ipv4-service-continuity"],
  ["192.0.0.8", false, "192.0.0.8/32", "ipv4-dummy"],
  ["192.0.0.9", true, "192.0.0.9/32", "pcp-anycast"],
  ["192.0.0.10", true, "192.0.0.10/32", "turn-anycast"],
  ["192.0.0.11", false, "192.0.0.0/24", "ietf-protocol-assignments"],
  ["192.0.0.170", false, "192.0.0.170/32", "nat64-dns64-discovery"],
  ["192.0.0.171", false, "192.0.0.171/32", "nat64-dns64-discovery"],
  ["192.0.0.255", false, "192.0.0.0/24", "ietf-protocol-assignments"],
  ["192.0.1.0", true, "", "global"],
  ["192.0.2.0", false, "192.0.2.0/24", "documentation"],
  ["192.0.2.255", false, "192.0.2.0/24", "documentation"],
  ["192.0.3.0", true, "", "global"],
  ["192.31.196.0", true, "192.31.196.0/24", "as112-v4"],
  ["192.52.193.255", true, "192.52.193.0/24", "amt"],
  ["192.88.98.255", true, "", "global"],
  ["192.88.99.0", false, "192.88.99.0/24", "deprecated-6to4-relay-anycast"],
  ["192.88.99.255", false, "192.88.99.0/24", "deprecated-6to4-relay-anycast"],
  ["192.88.100.0", true, "", "global"],
  ["192.167.255.255", true, "", "global"],
  ["192.168.0.0", false, "192.168.0.0/16", "private-use"],
  ["192.168.255.255", false, "192.168.0.0/16", "private-use"],
  ["192.169.0.0", true, "", "global"],
  ["192.175.48.0", true, "192.175.48.0/24", "as112-direct-delegation"],
  ["198.17.255.255", true, "", "global"],
  ["198.18.0.0", false, "198.18.0.0/15", "benchmarking"],
  ["198.19.255.255", false, "198.18.0.0/15", "benchmarking"],
  ["198.20.0.0", true, "", "global"],
  ["198.51.100.0", false, "198.51.100.0/24", "documentation"],
  ["198.51.100.255", false, "198.51.100.0/24", "documentation"],
  ["203.0.112.255", true, "", "global"],
  ["203.0.113.0", false, "203.0.113.0/24", "documentation"],
  ["203.0.113.255", false, "203.0.113.0/24", "documentation"],
  ["203.0.114.0", true, "", "global"],
  ["223.255.255.255", true, "", "global"],
  ["224.0.0.0", false, "224.0.0.0/4", "multicast"],
  ["239.255.255.255", false, "224.0.0.0/4", "multicast"],
  ["240.0.0.0", false, "240.0.0.0/4", "reserved"],
  ["255.255.255.254", false, "240.0.0.0/4", "reserved"],
  ["255.255.255.255", false, "255.255.255.255/32", "limited-broadcast"],
];

const V6: Row[] = [
  ["::", false, "::/128", "unspecified"],
  ["::1", false, "::1/128", "loopback"],
  ["::2", false, "2000::/3", "not-global-unicast"],
  ["::102:304", false, "2000::/3", "not-global-unicast"], // IPv4-compatible (deprecated)
  ["100::", false, "100::/64", "discard-only"],
  ["100::ffff:ffff:ffff:ffff", false, "100::/64", "discard-only"],
  ["100:0:0:1::", false, "100:0:0:1::/64", "dummy-prefix"],
  ["100:0:0:2::", false, "2000::/3", "not-global-unicast"],
  ["1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "2000::/3", "not-global-unicast"],
  ["2000::", true, "", "global"],
  ["2001::", false, "2001::/32", "teredo"],
  ["2001:0:ffff:ffff:ffff:ffff:ffff:ffff", false, "2001::/32", "teredo"],
  ["2001:1::", false, "2001::/23", "ietf-protocol-assignments"],
  ["2001:1::1", true, "2001:1::1/128", "pcp-anycast"],
  ["2001:1::2", true, "2001:1::2/128", "turn-anycast"],
  ["2001:1::3", true, "2001:1::3/128", "dns-sd-srp-anycast"],
  ["2001:1::4", false, "2001::/23", "ietf-protocol-assignments"],
  ["2001:2::", false, "2001:2::/48", "benchmarking"],
  ["2001:2:0:ffff:ffff:ffff:ffff:ffff", false, "2001:2::/48", "benchmarking"],
  ["2001:2:1::", false, "2001::/23", "ietf-protocol-assignments"],
  ["2001:3::", true, "2001:3::/32", "amt"],
  ["2001:3:ffff:ffff:ffff:ffff:ffff:ffff", true, "2001:3::/32", "amt"],
  ["2001:4:112::", true, "2001:4:112::/48", "as112-v6"],
  ["2001:4:113::", false, "2001::/23", "ietf-protocol-assignments"],
  ["2001:10::", false, "2001:10::/28", "deprecated-orchid"],
  ["2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", false, "2001:10::/28", "deprecated-orchid"],
  ["2001:20::", true, "2001:20::/28", "orchid-v2"],
  ["2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", true, "2001:20::/28", "orchid-v2"],
  ["2001:30::", true, "2001:30::/28", "drone-remote-id-det"],
  ["2001:40::", false, "2001::/23", "ietf-protocol-assignments"],
  ["2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false, "2001::/23", "ietf-protocol-assignments"],
  ["2001:200::", true, "", "global"],
  ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true, "", "global"],
  ["2001:db8::", false, "2001:db8::/32", "documentation"],
  ["2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false, "2001:db8::/32", "documentation"],
  ["2001:db9::", true, "", "global"],
  ["2606:4700::1111", true, "", "global"],
  ["2620:4f:8000::", true, "2620:4f:8000::/48", "as112-direct-delegation"],
  ["3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, "", "global"],
  ["3fff::", false, "3fff::/20", "documentation"],
  ["3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false, "3fff::/20", "documentation"],
  ["3fff:1000::", true, "", "global"],
  ["4000::", false, "2000::/3", "not-global-unicast"],
  ["5f00::", false, "5f00::/16", "srv6-sids"],
  ["fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "2000::/3", "not-global-unicast"],
  ["fc00::", false, "fc00::/7", "unique-local"],
  ["fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "fc00::/7", "unique-local"],
  ["fe80::", false, "fe80::/10", "link-local"],
  ["febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "fe80::/10", "link-local"],
  ["ff00::", false, "ff00::/8", "multicast"],
  ["ff02::1", false, "ff00::/8", "multicast"],
];

/** [IPv6 form, embedded IPv4, globally reachable, block]. */
const EMBEDDED: [string, string, boolean, string][] = [
  ["::ffff:127.0.0.1", "127.0.0.1", false, "::ffff:0:0/96"],
  ["::ffff:8.8.8.8", "8.8.8.8", true, "::ffff:0:0/96"],
  ["::ffff:0:10.0.0.1", "10.0.0.1", false, "::ffff:0:0:0/96"],
  ["::ffff:0:8.8.8.8", "8.8.8.8", true, "::ffff:0:0:0/96"],
  ["64:ff9b::169.254.169.254", "169.254.169.254", false, "64:ff9b::/96"],
  ["64:ff9b::8.8.8.8", "8.8.8.8", true, "64:ff9b::/96"],
  ["64:ff9b:1::192.168.0.1", "192.168.0.1", false, "64:ff9b:1::/48"],
  ["64:ff9b:1::8.8.8.8", "8.8.8.8", true, "64:ff9b:1::/48"],
  // The /48 layout of RFC 6052: 7f00 in bits 48-63, the u octet, then 00:01.
  ["64:ff9b:1:7f00:1::", "127.0.1.0", false, "64:ff9b:1::/48"],
  // The /48 layout reads 8.8.8.8 here, the /96 layout 0.0.0.0: ambiguous, so refused.
  ["64:ff9b:1:808:8:800::", "0.0.0.0", false, "64:ff9b:1::/48"],
  ["2002:7f00:1::", "127.0.0.1", false, "2002::/16"],
  ["2002:a9fe:a9fe::1", "169.254.169.254", false, "2002::/16"],
  ["2002:808:808::", "8.8.8.8", true, "2002::/16"],
];

Deno.test("classifyAddress: every IPv4 special-purpose block, its edges and its neighbours", () => {
  for (const [address, global, block, name] of V4) {
    const v = classifyAddress(address);
    assert.deepEqual([v.family, v.global, v.block, v.name], [4, global, block, name], address);
  }
});

Deno.test("classifyAddress: IPv6 only within 2000::/3, every special-purpose block and its edges", () => {
  for (const [address, global, block, name] of V6) {
    const v = classifyAddress(address);
    assert.deepEqual([v.family, v.global, v.block, v.name], [6, global, block, name], address);
    assert.equal(v.address, address, "canonical text (RFC 5952)");
  }
});

Deno.test("classifyAddress: IPv4 embedded in IPv6 is extracted and judged as IPv4; Teredo is refused", () => {
  for (const [address, v4, global, block] of EMBEDDED) {
    const v = classifyAddress(address);
    assert.equal(v.block, block, address);
    assert.equal(v.embedded?.address, v4, address);
    assert.equal(v.global, global, address);
    assert.equal(v.global, classifyAddress(v4).global, `${address} is judged as ${v4}`);
  }
  // An address in 64:ff9b:1::/48 with no well-formed RFC 6052 layout (u octet set) is refused.
  assert.equal(classifyAddress("64:ff9b:1:0:ff00::808:808").global, false);
  // Teredo embeds a server and an obfuscated client: never reachable, whatever they are.
  assert.equal(classifyAddress("2001:0:808:808::").global, false);
});

Deno.test("parseIpAddress: canonical forms, and everything that is not an address refused", () => {
  const ok: [string, string][] = [
    ["[::1]", "::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8::0:1", "2001:db8::1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["::ffff:1.2.3.4", "::ffff:102:304"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["255.255.255.255", "255.255.255.255"],
  ];
  for (const [text, canonical] of ok) assert.equal(parseIpAddress(text)?.text, canonical, text);
  const bad = [
    "",
    "localhost",
    "1.2.3",
    "1.2.3.4.5",
    "256.0.0.1",
    "01.2.3.4",
    "1.2.3.-4",
    "0x7f.0.0.1",
    "2130706433",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    ":::",
    "1:2:3:4:5:6:7::8",
    "12345::",
    "fe80::1%eth0",
    "::1.2.3.4:5",
    "1.2.3.4::",
    "[::1",
    "g::1",
  ];
  for (const text of bad) assert.equal(parseIpAddress(text), undefined, text);
  assert.throws(() => classifyAddress("example.org"), TypeError);
});

Deno.test("classifyAddress agrees with the IPv4-mapped form of every IPv4 address (property)", () => {
  fc.assert(
    fc.property(fc.ipV4(), (v4) => {
      const direct = classifyAddress(v4);
      const mapped = classifyAddress(`::ffff:${v4}`);
      return mapped.global === direct.global && mapped.embedded?.address === v4 &&
        parseIpAddress(direct.address)?.text === v4;
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.ipV6(), (v6) => {
      const v = classifyAddress(v6);
      // Canonical text parses back to the same value; nothing outside 2000::/3 is reachable
      // unless it embeds a reachable IPv4.
      const again = parseIpAddress(v.address)!;
      const unicast = again.value >> 125n === 1n;
      return again.value === parseIpAddress(v6)!.value &&
        (!v.global || unicast || v.embedded?.global === true);
    }),
    { numRuns: 2000 },
  );
});
