import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { evidenceFromDocument } from "../../lib/lip/evidence.ts";
import { LipFetchError } from "../../lib/lip/errors.ts";
import type { FetchRequest } from "../../lib/runtime/mod.ts";
import {
  type Connector,
  type Deadline,
  type FetchConnection,
  HttpFetcher,
  type HttpFetcherOptions,
  type Resolver,
  tcpConnector,
} from "../../lib/lip/mod.ts";

const CLOCK = () => new Date("2026-11-28T10:00:00.000Z");
const PAGE = "<html><body><h1>Water</h1><p>Water boils at 100 C at sea level.</p></body></html>";
const PUBLIC = "93.184.216.34";

interface Seen {
  path: string;
  referer: string | null;
  cookie: string | null;
  authorization: string | null;
  host: string | null;
}

/** A loopback server with a few pages; `seen` records each request. */
function serve(options: { onSlow?: () => void } = {}) {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    seen.push({
      path: url.pathname,
      referer: req.headers.get("referer"),
      cookie: req.headers.get("cookie"),
      authorization: req.headers.get("authorization"),
      host: req.headers.get("host"),
    });
    switch (url.pathname) {
      case "/water":
        return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
      case "/moved":
        return new Response(null, { status: 302, headers: { location: "/water" } });
      case "/away":
        return new Response(null, {
          status: 302,
          headers: { location: `http://localhost:${url.port}/water` },
        });
      case "/loop":
        return new Response(null, { status: 302, headers: { location: "/loop" } });
      case "/big":
        // Streamed without content-length, so only the running count can stop it.
        return new Response(
          new ReadableStream({
            pull(c) {
              c.enqueue(new Uint8Array(1024).fill(65));
            },
          }),
        );
      case "/slow":
        // Answers only once the client gave up.
        options.onSlow?.();
        await new Promise((resolve) => req.signal.addEventListener("abort", resolve));
        return new Response("late");
      case "/gzip":
        return new Response("not really gzip", { headers: { "content-encoding": "gzip" } });
      case "/headers": {
        const headers = new Headers();
        for (let i = 0; i < 20; i++) headers.set(`x-filler-${i}`, "y".repeat(500));
        return new Response("ok", { headers });
      }
      default:
        return new Response("no such page", { status: 404 });
    }
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return { server, seen, base };
}

function req(query: string, constraints: string[] = []): FetchRequest {
  const me = "ab".repeat(32);
  return {
    query,
    constraints,
    requestId: "",
    requester: me,
    requesterAgentId: "me",
    chargedTo: me,
  };
}

async function fetchError(fetcher: HttpFetcher, request: FetchRequest): Promise<LipFetchError> {
  try {
    await fetcher.fetch(request);
  } catch (err) {
    assert.ok(err instanceof LipFetchError, String(err));
    return err;
  }
  throw new Error(`Expected the fetch of ${request.query} to fail`);
}

/** A connector that records every address asked for and sends every connection to `port`. */
function spyConnector(port: number) {
  const asked: string[] = [];
  const real = tcpConnector();
  const connect: Connector = (target, signal) => {
    asked.push(`${target.ip}:${target.port}`);
    return real({ ...target, ip: "127.0.0.1", port }, signal);
  };
  return { asked, connect };
}

/** A resolver that answers from a script, one answer list per call, and counts calls. */
function scriptedResolver(...answers: string[][]) {
  const calls: string[] = [];
  const resolve: Resolver = (name) => {
    calls.push(name);
    return Promise.resolve(answers[Math.min(calls.length, answers.length) - 1]!);
  };
  return { calls, resolve };
}

/** A connection in memory that answers `response` in small pieces and records the request. */
function cannedConnector(response: string) {
  const written: Uint8Array[] = [];
  const connect: Connector = () => {
    const bytes = new TextEncoder().encode(response);
    let at = 0;
    const conn: FetchConnection = {
      read(p) {
        if (at >= bytes.byteLength) return Promise.resolve(null);
        const n = Math.min(7, p.byteLength, bytes.byteLength - at);
        p.set(bytes.subarray(at, at + n));
        at += n;
        return Promise.resolve(n);
      },
      write(p) {
        written.push(p.slice());
        return Promise.resolve(p.byteLength);
      },
      close() {},
    };
    return Promise.resolve(conn);
  };
  return { written, connect };
}

function publicFetcher(connector: Connector, extra: HttpFetcherOptions = {}): HttpFetcher {
  return new HttpFetcher({
    clock: CLOCK,
    resolver: scriptedResolver([PUBLIC]).resolve,
    connector,
    ...extra,
  });
}

Deno.test("HttpFetcher fetches a listed loopback origin and records its provenance", async () => {
  const { server, seen, base } = serve();
  await using _ = server;
  const fetcher = new HttpFetcher({ clock: CLOCK, allowOrigins: [base] });
  assert.deepEqual(fetcher.allowOrigins, [base]);
  const doc = await fetcher.fetch(
    req(`${base}/moved`, ["domain:127.0.0.1", "domain:science", "no_personal_data"]),
  );
  assert.equal(doc.url, `${base}/moved`);
  assert.equal(doc.finalUrl, `${base}/water`);
  assert.deepEqual(doc.redirects, [`${base}/water`]);
  assert.equal(doc.status, 200);
  assert.equal(doc.text, PAGE);
  assert.equal(doc.bytes, new TextEncoder().encode(PAGE).length);
  assert.equal(doc.sha256, createHash("sha256").update(PAGE).digest("hex"));
  assert.equal(doc.retrievedAt, "2026-11-28T10:00:00.000Z");
  assert.deepEqual(doc.topics, ["science"]);
  assert.deepEqual(seen.map((s) => s.path), ["/moved", "/water"]);
  assert.ok(seen.every((s) => s.referer === null && s.cookie === null && s.authorization === null));
  assert.equal(seen[0]?.host, `127.0.0.1:${server.addr.port}`);

  const { payload, source } = evidenceFromDocument(doc, "water boiling point", { tier: "unknown" });
  assert.deepEqual(payload.claims, [{
    query: "water boiling point",
    excerpt: "Water Water boils at 100 C at sea level.",
  }]);
  assert.deepEqual(source, {
    uri: `${base}/water`,
    trust_tier: "unknown",
    retrieved_at: "2026-11-28T10:00:00.000Z",
  });
  assert.equal((payload.evidence[0] as Record<string, unknown>).sha256, doc.sha256);
  // Credentials in a URL are never sent, shown or shared.
  const withUser = await fetcher.fetch(req(base.replace("//", "//ann:secret@") + "/water"));
  assert.equal(withUser.url, `${base}/water`);
  assert.equal(seen.at(-1)?.authorization, null);
});

Deno.test("HttpFetcher refuses every address that is not globally reachable before connecting; an origin is scheme, host and port", async () => {
  const { server, seen, base } = serve();
  await using _ = server;
  const spy = spyConnector(server.addr.port);
  const port = server.addr.port;
  const fetcher = new HttpFetcher({ clock: CLOCK, allowOrigins: [base], connector: spy.connect });
  for (
    const url of [
      `http://127.0.0.1:${port + 1 === 65536 ? port - 1 : port + 1}/`,
      `https://127.0.0.1:${port}/`,
      `http://localhost:${port}/water`,
      `http://api.localhost:${port}/water`,
      `http://[::1]:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
      "http://2130706433/", // the URL parser makes it 127.0.0.1
      "http://0.0.0.0/",
      "http://10.1.2.3/",
      "http://100.64.0.1/",
      "http://169.254.169.254/latest/meta-data/",
      "http://172.16.0.1/",
      "http://192.168.0.1/",
      "http://192.0.2.1/",
      "http://198.18.0.1/",
      "http://224.0.0.1/",
      "http://255.255.255.255/",
      "http://[fe80::1]/",
      "http://[fc00::1]/",
      "http://[64:ff9b::a00:1]/",
      "http://[2002:7f00:1::]/",
      "http://[2001::1]/",
      "http://[2001:db8::1]/",
    ]
  ) {
    const err = await fetchError(fetcher, req(url));
    assert.equal(err.code, "forbidden_address", url);
    assert.equal(err.address?.global, false, url);
    assert.ok(!err.message.includes(err.address!.name), "the reason names no address class");
  }
  assert.deepEqual(spy.asked, [], "no connection was attempted");
  assert.deepEqual(seen, []);
  // The listed origin itself is fetched, with the host name of the URL.
  await fetcher.fetch(req(`${base}/water`));
  assert.deepEqual(spy.asked, [`127.0.0.1:${port}`]);
  assert.throws(() => new HttpFetcher({ allowOrigins: [`${base}/admin`] }), TypeError);
  assert.throws(() => new HttpFetcher({ allowOrigins: ["ftp://127.0.0.1"] }), TypeError);
});

Deno.test("HttpFetcher resolves once per hop and connects to the address it checked: a rebinding answer is refused", async () => {
  const { server, seen } = serve();
  await using _ = server;
  const spy = spyConnector(server.addr.port);
  // First public, then 127.0.0.1: a second lookup (fetch's own) would have gone to loopback.
  const dns = scriptedResolver([PUBLIC], ["127.0.0.1"]);
  const fetcher = new HttpFetcher({ clock: CLOCK, resolver: dns.resolve, connector: spy.connect });
  const doc = await fetcher.fetch(req("http://rebind.example/water"));
  assert.equal(doc.text, PAGE);
  assert.deepEqual(dns.calls, ["rebind.example"], "one lookup for one hop");
  assert.deepEqual(spy.asked, [`${PUBLIC}:80`], "the connection went to the checked address");
  assert.equal(seen[0]?.host, "rebind.example", "the Host header is the URL's");
  // The next fetch (or a redirect) resolves again and gets 127.0.0.1: refused, nothing connected.
  const err = await fetchError(fetcher, req("http://rebind.example/water"));
  assert.equal(err.code, "forbidden_address");
  assert.equal(err.address?.address, "127.0.0.1");
  assert.ok(
    !err.message.includes("127.0.0.1"),
    "the reason does not tell the peer what a name resolves to",
  );
  assert.deepEqual(spy.asked, [`${PUBLIC}:80`]);
  assert.equal(seen.length, 1);
  // One private answer among public ones refuses the whole request.
  const mixed = new HttpFetcher({
    resolver: scriptedResolver([PUBLIC, "2606:4700::1111", "10.0.0.7"]).resolve,
    connector: spy.connect,
  });
  assert.equal((await fetchError(mixed, req("http://mixed.example/"))).code, "forbidden_address");
  // This machine's own public address is refused like loopback.
  const own = new HttpFetcher({
    resolver: scriptedResolver([PUBLIC]).resolve,
    connector: spy.connect,
    localAddresses: () => [PUBLIC],
  });
  const mine = await fetchError(own, req("http://me.example/"));
  assert.equal(mine.address?.name, "this-machine");
  assert.equal(spy.asked.length, 1);
});

Deno.test("HttpFetcher checks every redirect like the first URL: a listed origin cannot send it to an unlisted one", async () => {
  const { server: target, seen: targetSeen, base: targetBase } = serve();
  await using _t = target;
  const redirector = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (r) =>
      new Response(null, {
        status: 307,
        headers: {
          location: new URL(r.url).pathname === "/public"
            ? "http://rebind.example/water"
            : `${targetBase}/water`,
        },
      }),
  );
  await using _r = redirector;
  const origin = `http://127.0.0.1:${redirector.addr.port}`;
  const fetcher = new HttpFetcher({
    clock: CLOCK,
    allowOrigins: [origin],
    resolver: scriptedResolver(["127.0.0.1"]).resolve,
  });
  const err = await fetchError(fetcher, req(`${origin}/admin`));
  assert.equal(err.code, "forbidden_address");
  assert.equal(err.url, `${targetBase}/water`);
  // A public name that resolves to loopback is refused on the redirect too.
  assert.equal((await fetchError(fetcher, req(`${origin}/public`))).code, "forbidden_address");
  assert.deepEqual(targetSeen, []);
});

Deno.test("HttpFetcher answers a refused port the same whether it is open or closed", async () => {
  const { server, seen } = serve();
  await using _ = server;
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = l.addr.port;
  l.close();
  const fetcher = new HttpFetcher({ clock: CLOCK });
  const open = await fetchError(fetcher, req(`http://127.0.0.1:${server.addr.port}/`));
  const shut = await fetchError(fetcher, req(`http://127.0.0.1:${closed}/`));
  assert.equal(open.code, shut.code);
  assert.equal(
    open.message.replaceAll(String(server.addr.port), "P"),
    shut.message.replaceAll(String(closed), "P"),
  );
  assert.deepEqual(seen, []);
  // A listed origin that refuses connections: one generic answer, the cause kept locally.
  const listed = new HttpFetcher({ allowOrigins: [`http://127.0.0.1:${closed}`] });
  const down = await fetchError(listed, req(`http://127.0.0.1:${closed}/`));
  assert.equal(down.code, "network");
  assert.equal(
    down.message,
    `Fetch of http://127.0.0.1:${closed}/: could not connect to http://127.0.0.1:${closed}`,
  );
  assert.ok(down.cause instanceof AggregateError);
});

Deno.test("HttpFetcher honours domain: on the first URL and on every redirect", async () => {
  const { server, seen, base } = serve();
  await using _ = server;
  const fetcher = new HttpFetcher({
    clock: CLOCK,
    allowOrigins: [base, base.replace("127.0.0.1", "localhost")],
  });
  const outside = await fetchError(fetcher, req(`${base}/water`, ["domain:example.org"]));
  assert.equal(outside.code, "constraint_violation");
  assert.match(outside.message, /example\.org/);
  assert.equal(seen.length, 0, "nothing was requested");
  const away = await fetchError(fetcher, req(`${base}/away`, ["domain:127.0.0.1"]));
  assert.equal(away.code, "constraint_violation");
  assert.equal(away.url, `${base.replace("127.0.0.1", "localhost")}/water`);
  assert.deepEqual(seen.map((s) => s.path), ["/away"]);
  // Without the constraint, the listed localhost origin is fetched (localhost is 127.0.0.1, not a lookup).
  const dns = scriptedResolver([]);
  const named = new HttpFetcher({
    allowOrigins: [base.replace("127.0.0.1", "localhost")],
    resolver: dns.resolve,
  });
  assert.equal(
    (await named.fetch(req(`${base.replace("127.0.0.1", "localhost")}/water`))).text,
    PAGE,
  );
  assert.deepEqual(dns.calls, []);
});

Deno.test("HttpFetcher bounds size, time and redirects", async () => {
  let giveUp = () => {};
  const { server, base } = serve({ onSlow: () => giveUp() });
  await using _ = server;
  const allowOrigins = [base];
  const small = new HttpFetcher({ clock: CLOCK, allowOrigins, maxBytes: 10_000 });
  assert.equal((await fetchError(small, req(`${base}/big`))).code, "too_large");
  const bounded = new HttpFetcher({ clock: CLOCK, allowOrigins });
  const tight = await fetchError(bounded, req(`${base}/water`, ["max_bytes:20"]));
  assert.equal(tight.code, "too_large");
  assert.match(tight.message, /exceeds 20 bytes/);
  // The time bound is a port: this one ends when the server holds the request.
  const quick = new HttpFetcher({
    allowOrigins,
    timeoutMs: 1234,
    deadline: (ms): Deadline => {
      assert.equal(ms, 1234);
      const c = new AbortController();
      giveUp = () => c.abort();
      return { signal: c.signal, clear() {} };
    },
  });
  const late = await fetchError(quick, req(`${base}/slow`));
  assert.equal(late.code, "timeout");
  assert.match(late.message, /within 1234 ms/);
  const loop = await fetchError(
    new HttpFetcher({ allowOrigins, maxRedirects: 3 }),
    req(`${base}/loop`),
  );
  assert.equal(loop.code, "too_many_redirects");
  assert.equal((await fetchError(bounded, req(`${base}/missing`))).code, "http_status");
  assert.equal((await fetchError(bounded, req(`${base}/gzip`))).code, "bad_response");
  const head = new HttpFetcher({ allowOrigins, maxHeaderBytes: 4096 });
  const big = await fetchError(head, req(`${base}/headers`));
  assert.equal(big.code, "bad_response");
  assert.match(big.message, /head exceeds 4096 bytes/);
  assert.equal((await bounded.fetch(req(`${base}/headers`))).text, "ok");
});

Deno.test("HttpFetcher reads responses with a bounded HTTP/1.1 parser over any connector", async () => {
  const ok = cannedConnector(
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "6\r\nwater \r\n5;ext=1\r\nboils\r\n0\r\nX-Trailer: t\r\n\r\nleftover",
  );
  const doc = await publicFetcher(ok.connect).fetch(req("http://water.example/a?b=1#frag"));
  assert.equal(doc.text, "water boils");
  assert.equal(doc.contentType, "text/plain");
  const sent = new TextDecoder().decode(ok.written[0]);
  assert.match(sent, /^GET \/a\?b=1 HTTP\/1\.1\r\nhost: water\.example\r\n/);
  assert.match(sent, /accept-encoding: identity\r\nconnection: close\r\n\r\n$/);
  const cases: [string, string][] = [
    ["HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "bad_response"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "bad_response"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "bad_response"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "bad_response"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad_response"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n", "too_large"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffff\r\n", "too_large"],
    ["SSH-2.0-OpenSSH_9.6\r\n", "bad_response"],
    ["HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", "bad_response"],
    ["", "bad_response"],
  ];
  for (const [response, code] of cases) {
    const err = await fetchError(
      publicFetcher(cannedConnector(response).connect),
      req("http://water.example/"),
    );
    assert.equal(err.code, code, JSON.stringify(response));
  }
});

Deno.test("HttpFetcher maps lookups: no address and non-addresses are dns, missing permission is not_allowed", async () => {
  const spy = spyConnector(1);
  const with_ = (resolver: Resolver) => new HttpFetcher({ resolver, connector: spy.connect });
  assert.equal(
    (await fetchError(with_(scriptedResolver([]).resolve), req("http://none.example/"))).code,
    "dns",
  );
  assert.equal(
    (await fetchError(with_(scriptedResolver(["not-an-ip"]).resolve), req("http://odd.example/")))
      .code,
    "dns",
  );
  const denied: Resolver = () => Promise.reject(new Deno.errors.NotCapable("no net"));
  assert.equal((await fetchError(with_(denied), req("http://x.example/"))).code, "not_allowed");
  const broken: Resolver = () => Promise.reject(new Error("SERVFAIL"));
  assert.equal((await fetchError(with_(broken), req("http://x.example/"))).code, "dns");
  assert.deepEqual(spy.asked, []);
  // A public address outside --allow-net=127.0.0.1,localhost: Deno's permission, queried first.
  const outside = await fetchError(
    new HttpFetcher({ resolver: scriptedResolver([PUBLIC]).resolve }),
    req("http://x.example/"),
  );
  assert.equal(outside.code, "not_allowed");
});

Deno.test("HttpFetcher refuses what it cannot honour before any request", async () => {
  const fetcher = new HttpFetcher({ clock: CLOCK });
  const cases: [FetchRequest, string][] = [
    [req("water boiling point"), "unsupported_query"],
    [req("ftp://127.0.0.1/x"), "unsupported_query"],
    [req("http://127.0.0.1:9/x", ["lang:en"]), "unsupported_constraint"],
    [req("http://user:secret@127.0.0.1:9/x", ["no_personal_data"]), "constraint_violation"],
    [req("http://user:secret@127.0.0.1:9/x"), "forbidden_address"],
  ];
  for (const [request, code] of cases) {
    const err = await fetchError(fetcher, request);
    assert.equal(err.code, code, request.query);
    assert.ok(!err.message.includes("secret"), "credentials are never echoed");
  }
});

Deno.test("HttpFetcher maps search terms through its searchUrl", async () => {
  const { server, seen, base } = serve();
  await using _ = server;
  const fetcher = new HttpFetcher({
    clock: CLOCK,
    allowOrigins: [base],
    searchUrl: `${base}/search?q={query}`,
  });
  const err = await fetchError(fetcher, req("boiling point"));
  assert.equal(err.code, "http_status");
  assert.deepEqual(seen.map((s) => s.path), ["/search"]);
  assert.equal(err.url, `${base}/search?q=boiling%20point`);
  assert.throws(() => new HttpFetcher({ searchUrl: "https://x.example/?q=" }), TypeError);
  assert.throws(() => new HttpFetcher({ maxBytes: 0 }), RangeError);
});

Deno.test("HttpFetcher speaks TLS to the checked address with the URL's host name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4-lip-tls-" });
  try {
    const run = async (...args: string[]) => {
      const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
        .output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
    };
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    await run(
      "req",
      "-x509",
      ...ec,
      "-keyout",
      `${dir}/ca.key`,
      "-out",
      `${dir}/ca.pem`,
      "-subj",
      "/CN=web4 test CA",
      "-days",
      "1",
    );
    await run(
      "req",
      ...ec,
      "-keyout",
      `${dir}/leaf.key`,
      "-out",
      `${dir}/leaf.csr`,
      "-subj",
      "/CN=water.localhost",
    );
    await Deno.writeTextFile(
      `${dir}/ext`,
      "subjectAltName=DNS:water.localhost\nbasicConstraints=critical,CA:FALSE\n",
    );
    await run(
      "x509",
      "-req",
      "-in",
      `${dir}/leaf.csr`,
      "-CA",
      `${dir}/ca.pem`,
      "-CAkey",
      `${dir}/ca.key`,
      "-CAcreateserial",
      "-out",
      `${dir}/leaf.pem`,
      "-days",
      "1",
      "-extfile",
      `${dir}/ext`,
    );
    const read = (name: string) => Deno.readTextFile(`${dir}/${name}`);
    await using server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: await read("leaf.pem"),
      key: await read("leaf.key"),
      onListen() {},
    }, () => new Response("over tls"));
    const origin = `https://water.localhost:${server.addr.port}`;
    const fetcher = new HttpFetcher({
      allowOrigins: [origin],
      connector: tcpConnector({ caCerts: [await read("ca.pem")] }),
    });
    assert.equal((await fetcher.fetch(req(`${origin}/`))).text, "over tls");
    // The same server under another listed name: its certificate does not match, no body is read.
    const other = `https://127.0.0.1:${server.addr.port}`;
    const wrong = new HttpFetcher({
      allowOrigins: [other],
      connector: tcpConnector({ caCerts: [await read("ca.pem")] }),
    });
    assert.equal((await fetchError(wrong, req(`${other}/`))).code, "network");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
