// The default fetcher's HTTP/1.1 response parser: framing (Content-Length,
// chunked, to the close), every bound, and properties over random responses
// split at random points and over random bytes.
import assert from "node:assert/strict";
import fc from "fast-check";
import { Http1Error, requestBytes, ResponseParser } from "../../lib/lip/http1.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Feeds `bytes` cut at `cuts` and ends the stream; returns the response or the error. */
function parse(
  bytes: Uint8Array,
  cuts: number[] = [],
  limits = {},
  options = {},
): { ok: true; body: string; status: number; headers: readonly (readonly [string, string])[] } | {
  ok: false;
  error: Http1Error;
} {
  const p = new ResponseParser(limits, options);
  try {
    let at = 0;
    for (
      const cut of [...cuts.filter((c) => c > 0 && c < bytes.byteLength)].sort((a, b) => a - b)
    ) {
      p.push(bytes.subarray(at, cut));
      at = cut;
    }
    p.push(bytes.subarray(at));
    if (!p.done) p.end();
    const r = p.response;
    return { ok: true, body: dec(r.body), status: r.status, headers: r.headers };
  } catch (err) {
    if (!(err instanceof Http1Error)) throw err;
    return { ok: false, error: err };
  }
}

function code(text: string, limits = {}): string {
  const r = parse(enc(text), [], limits);
  return r.ok ? "ok" : r.error.code;
}

Deno.test("ResponseParser reads the three framings and skips interim responses", () => {
  const fixed = parse(enc("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhelloEXTRA"));
  assert.deepEqual(fixed, {
    ok: true,
    body: "hello",
    status: 200,
    headers: [["content-length", "5"], ["x-a", "b"]],
  });
  const chunked = parse(
    enc(
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0A\r\n0123456789\r\n0\r\nT: 1\r\n\r\n",
    ),
  );
  assert.ok(chunked.ok);
  assert.equal(chunked.body, "abc0123456789");
  const close = parse(enc("HTTP/1.0 200 OK\r\n\r\nuntil the end"));
  assert.ok(close.ok && close.body === "until the end");
  const lf = parse(enc("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"));
  assert.ok(lf.ok && lf.body === "ok", "bare LF line ends are read");
  const interim = parse(
    enc(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!",
    ),
  );
  assert.ok(interim.ok && interim.status === 200 && interim.body === "!");
  assert.deepEqual(interim.ok && interim.headers, [["content-length", "1"]]);
  for (
    const head of [
      "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\n\r\n",
    ]
  ) {
    const r = parse(enc(head));
    assert.ok(r.ok && r.body === "", head);
  }
  const headed = parse(enc("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"), [], {}, {
    noBody: true,
  });
  assert.ok(headed.ok && headed.body === "");
  assert.equal(code("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc"), "ok");
});

Deno.test("ResponseParser refuses bad framing, bad heads and anything past a bound", () => {
  const cases: [string, string, object?][] = [
    ["HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "malformed"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "malformed"],
    ["HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "malformed"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "malformed"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999\r\n\r\n", "malformed"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", "truncated"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "unsupported"],
    ["HTTP/1.1 101 Switching Protocols\r\n\r\n", "unsupported"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n", "malformed"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", "malformed"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "truncated"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + "0".repeat(2000), "malformed"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000\r\n", "too_large"],
    [
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000000000000003\r\nabc\r\n0\r\n\r\n",
      "ok",
    ],
    ["HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", "too_large", { maxBodyBytes: 10 }],
    ["HTTP/1.1 200 OK\r\n\r\n" + "x".repeat(11), "too_large", { maxBodyBytes: 10 }],
    ["HTTP/1.1 200 OK\r\nX: " + "y".repeat(100) + "\r\n\r\n", "head_too_large", {
      maxHeadBytes: 64,
    }],
    ["HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", "head_too_large", { maxHeaders: 2 }],
    ["HTTP/1.1 100 Continue\r\n\r\n".repeat(5) + "HTTP/1.1 200 OK\r\n\r\n", "malformed"],
    ["HTTP/2 200\r\n\r\n", "malformed"],
    ["HTTP/1.1 99 Low\r\n\r\n", "malformed"],
    ["HTTP/1.1 600 High\r\n\r\n", "malformed"],
    ["HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", "malformed"],
    ["HTTP/1.1 200 OK\r\nName : x\r\n\r\n", "malformed"],
    ["HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", "malformed"],
    ["HTTP/1.1 200 OK\r\nA: b\0\r\n\r\n", "malformed"],
    ["HTTP/1.1 200 OK\r\n", "truncated"],
    ["", "truncated"],
  ];
  for (const [text, expected, limits] of cases) {
    assert.equal(code(text, limits), expected, JSON.stringify(text.slice(0, 90)));
  }
  assert.throws(() => new ResponseParser({ maxBodyBytes: 0 }), RangeError);
  assert.throws(() => new ResponseParser().response, { code: "truncated" });
});

Deno.test("ResponseParser holds no more than its bounds, however the bytes arrive", () => {
  // An endless header line, fed one byte at a time: refused at the bound, never buffered past it.
  const p = new ResponseParser({ maxHeadBytes: 1024 });
  const line = enc("HTTP/1.1 200 OK\r\nX: ");
  let refused: Http1Error | undefined;
  let peak = 0;
  for (let i = 0; i < 4096 && refused === undefined; i++) {
    try {
      p.push(i < line.byteLength ? line.subarray(i, i + 1) : enc("y"));
    } catch (err) {
      if (err instanceof Http1Error) refused = err;
      else throw err;
    }
    peak = Math.max(peak, p.heldBytes);
  }
  assert.equal(refused?.code, "head_too_large");
  assert.ok(peak <= 1024, `held ${peak} bytes`);
});

Deno.test("requestBytes sends the path and query only, and refuses header injection", () => {
  const text = dec(
    requestBytes(new URL("https://u:p@[::1]:8443/a%20b/?x=1&y#frag"), { "user-agent": "t" }),
  );
  assert.equal(
    text,
    "GET /a%20b/?x=1&y HTTP/1.1\r\nhost: [::1]:8443\r\nuser-agent: t\r\naccept-encoding: identity\r\nconnection: close\r\n\r\n",
  );
  assert.throws(
    () => requestBytes(new URL("http://a.example/"), { "x": "1\r\nevil: 2" }),
    TypeError,
  );
  assert.throws(() => requestBytes(new URL("http://a.example/"), { "bad name": "1" }), TypeError);
});

/** A random response and the bytes that carry it. */
const response = fc.record({
  status: fc.integer({ min: 200, max: 599 }).filter((s) => s !== 204 && s !== 304),
  headers: fc.array(
    fc.tuple(
      fc.stringMatching(/^x-[a-z0-9-]{1,12}$/),
      fc.stringMatching(/^[ -~]{0,40}$/).map((v) => v.trim()),
    ),
    { maxLength: 8 },
  ),
  body: fc.uint8Array({ maxLength: 3000 }),
  framing: fc.constantFrom("length", "chunked", "close"),
  chunks: fc.array(fc.integer({ min: 1, max: 700 }), { maxLength: 10 }),
  cuts: fc.array(fc.integer({ min: 0, max: 4000 }), { maxLength: 12 }),
});

function serialize(r: {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  framing: string;
  chunks: number[];
}): Uint8Array {
  const parts: Uint8Array[] = [];
  let head = `HTTP/1.1 ${r.status} Reason\r\n`;
  for (const [n, v] of r.headers) head += `${n}: ${v}\r\n`;
  if (r.framing === "length") head += `Content-Length: ${r.body.byteLength}\r\n`;
  if (r.framing === "chunked") head += "Transfer-Encoding: chunked\r\n";
  parts.push(enc(`${head}\r\n`));
  if (r.framing !== "chunked") {
    parts.push(r.body);
  } else {
    let at = 0;
    for (const size of [...r.chunks, Infinity]) {
      const n = Math.min(size, r.body.byteLength - at);
      if (n <= 0) break;
      parts.push(enc(`${n.toString(16)}\r\n`), r.body.subarray(at, at + n), enc("\r\n"));
      at += n;
    }
    parts.push(enc("0\r\n\r\n"));
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

Deno.test("ResponseParser reads back any response it is given, however the bytes are cut (property)", () => {
  fc.assert(
    fc.property(response, (r) => {
      const p = new ResponseParser();
      const bytes = serialize(r);
      let at = 0;
      for (
        const cut of [...r.cuts.filter((c) => c < bytes.byteLength), bytes.byteLength].sort((
          a,
          b,
        ) => a - b)
      ) {
        p.push(bytes.subarray(at, Math.max(at, cut)));
        at = Math.max(at, cut);
      }
      p.end();
      const got = p.response;
      assert.equal(got.status, r.status);
      assert.deepEqual(got.body, r.body);
      assert.deepEqual(got.headers.slice(0, r.headers.length), r.headers.map(([n, v]) => [n, v]));
    }),
    { numRuns: 500 },
  );
});

Deno.test("ResponseParser never fails but with an Http1Error, and never holds more than its bounds (property)", () => {
  const limits = { maxHeadBytes: 512, maxBodyBytes: 1024, maxHeaders: 8 };
  const junk = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    // Mostly-valid responses with random damage.
    fc.tuple(
      response,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    )
      .map(([r, damage]) => {
        const b = serialize(r).slice();
        for (const [i, v] of damage) if (b.byteLength > 0) b[i % b.byteLength] = v;
        return b;
      }),
  );
  fc.assert(
    fc.property(
      junk,
      fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 8 }),
      (bytes, cuts) => {
        const p = new ResponseParser(limits);
        let at = 0;
        try {
          for (const cut of [...cuts, bytes.byteLength].sort((a, b) => a - b)) {
            const end = Math.min(Math.max(at, cut), bytes.byteLength);
            p.push(bytes.subarray(at, end));
            at = end;
            assert.ok(p.heldBytes <= limits.maxHeadBytes + limits.maxBodyBytes + 1024);
          }
          if (!p.done) p.end();
          assert.ok(p.response.body.byteLength <= limits.maxBodyBytes);
        } catch (err) {
          if (!(err instanceof Http1Error)) throw err;
        }
      },
    ),
    { numRuns: 1000 },
  );
});
