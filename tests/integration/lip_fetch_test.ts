import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { evidenceFromDocument } from "../../lib/lip/evidence.ts";
import { LipFetchError } from "../../lib/lip/errors.ts";
import type { FetchRequest } from "../../lib/runtime/mod.ts";
import { HttpFetcher } from "../../lib/lip/mod.ts";

const CLOCK = () => new Date("2026-11-28T10:00:00.000Z");
const PAGE = "<html><body><h1>Water</h1><p>Water boils at 100 C at sea level.</p></body></html>";

interface Seen {
  path: string;
  referer: string | null;
  cookie: string | null;
  authorization: string | null;
}

/** A loopback server with a few pages; `seen` records each request. */
function serve() {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    seen.push({
      path: url.pathname,
      referer: req.headers.get("referer"),
      cookie: req.headers.get("cookie"),
      authorization: req.headers.get("authorization"),
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
        await new Promise((resolve) => req.signal.addEventListener("abort", resolve));
        return new Response("late");
      default:
        return new Response("no such page", { status: 404 });
    }
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return { server, seen, base };
}

function req(query: string, constraints: string[] = []): FetchRequest {
  return { query, constraints, requestId: "", requester: "ab".repeat(32), requesterAgentId: "me" };
}

async function fetchError(
  fetcher: HttpFetcher,
  request: FetchRequest,
): Promise<LipFetchError> {
  try {
    await fetcher.fetch(request);
  } catch (err) {
    assert.ok(err instanceof LipFetchError, String(err));
    return err;
  }
  throw new Error(`Expected the fetch of ${request.query} to fail`);
}

Deno.test("HttpFetcher fetches a loopback page and records its provenance", async () => {
  const { server, seen, base } = serve();
  await using _ = server;
  const fetcher = new HttpFetcher({ clock: CLOCK });
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
});

Deno.test("HttpFetcher honours domain: on the first URL and on every redirect", async () => {
  const { server, seen, base } = serve();
  await using _ = server;
  const fetcher = new HttpFetcher({ clock: CLOCK });
  const outside = await fetchError(fetcher, req(`${base}/water`, ["domain:example.org"]));
  assert.equal(outside.code, "constraint_violation");
  assert.match(outside.message, /example\.org/);
  assert.equal(seen.length, 0, "nothing was requested");
  const away = await fetchError(fetcher, req(`${base}/away`, ["domain:127.0.0.1"]));
  assert.equal(away.code, "constraint_violation");
  assert.equal(away.url, `${base.replace("127.0.0.1", "localhost")}/water`);
  assert.deepEqual(seen.map((s) => s.path), ["/away"]);
});

Deno.test("HttpFetcher bounds size, time and redirects", async () => {
  const { server, base } = serve();
  await using _ = server;
  const small = new HttpFetcher({ clock: CLOCK, maxBytes: 10_000 });
  assert.equal((await fetchError(small, req(`${base}/big`))).code, "too_large");
  const bounded = new HttpFetcher({ clock: CLOCK });
  const tight = await fetchError(bounded, req(`${base}/water`, ["max_bytes:20"]));
  assert.equal(tight.code, "too_large");
  assert.match(tight.message, /exceeds 20 bytes/);
  const quick = new HttpFetcher({ clock: CLOCK, timeoutMs: 100 });
  assert.equal((await fetchError(quick, req(`${base}/slow`))).code, "timeout");
  const loop = await fetchError(new HttpFetcher({ maxRedirects: 3 }), req(`${base}/loop`));
  assert.equal(loop.code, "too_many_redirects");
  assert.equal((await fetchError(bounded, req(`${base}/missing`))).code, "http_status");
});

Deno.test("HttpFetcher refuses what it cannot honour before any request", async () => {
  const fetcher = new HttpFetcher({ clock: CLOCK });
  const cases: [FetchRequest, string][] = [
    [req("water boiling point"), "unsupported_query"],
    [req("ftp://127.0.0.1/x"), "unsupported_query"],
    [req("http://127.0.0.1:9/x", ["lang:en"]), "unsupported_constraint"],
    [req("http://user:secret@127.0.0.1:9/x", ["no_personal_data"]), "constraint_violation"],
    // Outside --allow-net=127.0.0.1,localhost: refused by the permission check.
    [req("http://192.0.2.1/x"), "not_allowed"],
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
  const fetcher = new HttpFetcher({ clock: CLOCK, searchUrl: `${base}/search?q={query}` });
  const err = await fetchError(fetcher, req("boiling point"));
  assert.equal(err.code, "http_status");
  assert.deepEqual(seen.map((s) => s.path), ["/search"]);
  assert.equal(err.url, `${base}/search?q=boiling%20point`);
  assert.throws(() => new HttpFetcher({ searchUrl: "https://x.example/?q=" }), TypeError);
  assert.throws(() => new HttpFetcher({ maxBytes: 0 }), RangeError);
});
