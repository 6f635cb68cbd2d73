// Issue 20, item 3: other A2A agents as LIP sources, at the fetcher. The target is the
// @a2a-js/sdk reference server (tests/helpers/a2a_agent.ts) on loopback, its origin listed.
// Attacks first: what a hostile or broken agent (or a card pointing elsewhere) can make the
// fetcher do is bounded and refused with its code, before any connection where an address is
// at stake; then the legitimate answers.
import assert from "node:assert/strict";
import { TaskState } from "npm:@a2a-js/sdk@^1.3.0";
import { clockDeadline, HttpFetcher, type HttpFetcherOptions } from "../../lib/lip/mod.ts";
import { ManualClock } from "../../lib/ports/mod.ts";
import type { FetchRequest } from "../../lib/runtime/mod.ts";
import { FACT, startA2aAgent } from "../helpers/a2a_agent.ts";

const ME = "ab".repeat(32);

function request(query: string, constraints: string[] = []): FetchRequest {
  return {
    query,
    constraints,
    requestId: "",
    requester: ME,
    requesterAgentId: "me",
    chargedTo: ME,
  };
}

function fetcherFor(origin: string, extra: HttpFetcherOptions = {}) {
  return new HttpFetcher({
    allowOrigins: [origin],
    clock: () => new Date("2026-12-07T20:00:00Z"),
    ...extra,
  });
}

/** The `a2a+` URI of a loopback agent asking `question`. */
function uri(origin: string, question = "At what temperature does water boil?") {
  return `a2a+${origin}/?q=${encodeURIComponent(question)}`;
}

/** A loopback port nothing listens on. */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("attack (A2A): a card whose endpoint is a private or unlisted address is refused before the question leaves", async (t) => {
  const closed = closedPort();
  for (
    const [endpoint, code] of [
      ["https://10.0.0.1/a2a", "forbidden_address"],
      ["https://169.254.169.254/latest", "forbidden_address"],
      [`https://127.0.0.1:${closed}/a2a`, "forbidden_address"],
      // Plain http only to a listed origin: an unlisted one is a bad card, whatever its address.
      [`http://127.0.0.1:${closed}/a2a`, "bad_card"],
      ["http://agent.example/a2a", "bad_card"],
      ["ftp://agent.example/a2a", "bad_card"],
    ] as const
  ) {
    await t.step(endpoint, async () => {
      await using agent = startA2aAgent({
        card: (card) => ({
          ...card,
          supportedInterfaces: [{
            url: endpoint,
            protocolBinding: "JSONRPC",
            protocolVersion: "1.0",
          }],
        }),
      });
      await assert.rejects(fetcherFor(agent.origin).fetch(request(uri(agent.origin))), { code });
      assert.deepEqual(agent.seen, ["/.well-known/agent-card.json"], "only the card was read");
      assert.deepEqual(agent.asked, []);
    });
  }
});

Deno.test("attack (A2A): a card redirected to an unlisted loopback port is refused (redirects are checked)", async () => {
  await using other = startA2aAgent();
  await using agent = startA2aAgent({
    card: () =>
      new Response(null, {
        status: 302,
        headers: { location: `${other.origin}/.well-known/agent-card.json` },
      }),
  });
  await assert.rejects(fetcherFor(agent.origin).fetch(request(uri(agent.origin))), {
    code: "forbidden_address",
  });
  assert.deepEqual(other.seen, [], "the unlisted server saw nothing");
});

Deno.test("attack (A2A): cards that are not JSON, not cards, or offer no JSON-RPC 1.0 interface get bad_card or bad_response", async (t) => {
  const cases: [
    string,
    (card: Record<string, unknown>) => Record<string, unknown> | Response,
    string,
  ][] = [
    [
      "html",
      () => new Response("<html>hi</html>", { headers: { "content-type": "text/html" } }),
      "bad_response",
    ],
    [
      "not JSON",
      () => new Response("{nope", { headers: { "content-type": "application/json" } }),
      "bad_card",
    ],
    [
      "an array",
      () => new Response("[]", { headers: { "content-type": "application/json" } }),
      "bad_card",
    ],
    [
      "0.3 only",
      (c) => ({
        ...c,
        supportedInterfaces: [{ url: "x", protocolBinding: "JSONRPC", protocolVersion: "0.3" }],
      }),
      "bad_card",
    ],
    [
      "gRPC only",
      (c) => ({
        ...c,
        supportedInterfaces: [{ url: "x", protocolBinding: "GRPC", protocolVersion: "1.0" }],
      }),
      "bad_card",
    ],
    ["oversized", (c) => ({ ...c, description: "x".repeat(70 * 1024) }), "too_large"],
  ];
  for (const [name, card, code] of cases) {
    await t.step(name, async () => {
      await using agent = startA2aAgent({ card });
      await assert.rejects(fetcherFor(agent.origin).fetch(request(uri(agent.origin))), { code });
      assert.deepEqual(agent.asked, []);
    });
  }
});

Deno.test("attack (A2A): an oversized answer is cut at the fetcher's bound and refused too_large", async () => {
  const huge = JSON.stringify({
    jsonrpc: "2.0",
    id: "x",
    result: { message: { parts: [{ text: "w".repeat(256 * 1024) }] } },
  });
  await using agent = startA2aAgent({
    rpc: () => new Response(huge, { headers: { "content-type": "application/json" } }),
  });
  await assert.rejects(
    fetcherFor(agent.origin, { maxBytes: 64 * 1024 }).fetch(request(uri(agent.origin))),
    { code: "too_large" },
  );
});

Deno.test("attack (A2A): a slow agent ends in timeout at the fetch's deadline (on the fetcher's clock), not in a wait", async () => {
  const clock = new ManualClock();
  const reached = Promise.withResolvers<void>();
  const release = Promise.withResolvers<Response>();
  await using agent = startA2aAgent({
    rpc: () => {
      reached.resolve();
      return release.promise;
    },
  });
  const fetching = fetcherFor(agent.origin, { deadline: clockDeadline(clock), timeoutMs: 5000 })
    .fetch(request(uri(agent.origin)));
  const refused = assert.rejects(fetching, { code: "timeout" });
  await reached.promise; // the question is at the agent, which does not answer
  clock.advance(5000);
  await refused;
  release.resolve(new Response("late", { headers: { "content-type": "application/json" } }));
});

Deno.test("attack (A2A): malformed JSON-RPC answers get bad_response, error objects agent_error", async (t) => {
  const echo = async (req: Request, make: (id: unknown) => unknown, type = "application/json") => {
    const { id } = await req.json();
    return new Response(JSON.stringify(make(id)), { headers: { "content-type": type } });
  };
  const message = { message: { role: "ROLE_AGENT", parts: [{ text: "fine" }] } };
  const cases: [string, (req: Request) => Promise<Response>, string][] = [
    [
      "not JSON",
      () => Promise.resolve(new Response("{", { headers: { "content-type": "application/json" } })),
      "bad_response",
    ],
    [
      "text/html",
      (r) => echo(r, (id) => ({ jsonrpc: "2.0", id, result: message }), "text/html"),
      "bad_response",
    ],
    [
      "another id",
      (r) => echo(r, () => ({ jsonrpc: "2.0", id: "someone-else", result: message })),
      "bad_response",
    ],
    [
      "jsonrpc 1.0",
      (r) => echo(r, (id) => ({ jsonrpc: "1.0", id, result: message })),
      "bad_response",
    ],
    [
      "result and error",
      (r) => echo(r, (id) => ({ jsonrpc: "2.0", id, result: message, error: {} })),
      "bad_response",
    ],
    [
      "neither message nor task",
      (r) => echo(r, (id) => ({ jsonrpc: "2.0", id, result: { x: 1 } })),
      "bad_response",
    ],
    [
      "an error object",
      (r) =>
        echo(
          r,
          (id) => ({ jsonrpc: "2.0", id, error: { code: -32603, message: "x".repeat(5000) } }),
        ),
      "agent_error",
    ],
    ["HTTP 500", () => Promise.resolve(new Response("no", { status: 500 })), "http_status"],
    [
      "a redirect",
      () =>
        Promise.resolve(new Response(null, { status: 307, headers: { location: "/elsewhere" } })),
      "http_status",
    ],
  ];
  for (const [name, rpc, code] of cases) {
    await t.step(name, async () => {
      await using agent = startA2aAgent({ rpc });
      const err = await fetcherFor(agent.origin).fetch(request(uri(agent.origin))).then(
        () => assert.fail("answered"),
        (e) => e,
      );
      assert.equal(err.code, code);
      assert.ok(err.message.length < 600, "an agent's long error text is shortened");
    });
  }
});

Deno.test("attack (A2A): a2a+http to an unlisted origin, URIs without a question or with more than one, and a fetcher with a2a off refuse before any connection", async () => {
  await using agent = startA2aAgent();
  const f = fetcherFor("http://127.0.0.1:1");
  for (
    const q of [
      uri(agent.origin),
      `a2a+${agent.origin}/`,
      `a2a+${agent.origin}/?q=a&x=b`,
      `a2a+${agent.origin.replace("http://", "http://u:p@")}/?q=a`,
    ]
  ) {
    await assert.rejects(f.fetch(request(q)), { code: "unsupported_query" }, q);
  }
  await assert.rejects(fetcherFor(agent.origin).fetch(request(`a2a+${agent.origin}/`)), {
    code: "unsupported_query",
  });
  await assert.rejects(fetcherFor(agent.origin, { a2a: false }).fetch(request(uri(agent.origin))), {
    code: "unsupported_query",
  });
  assert.deepEqual(agent.seen, []);
});

Deno.test("attack (A2A): a task that does not complete is no evidence (no_answer), asked once and never polled", async (t) => {
  for (
    const state of [
      TaskState.TASK_STATE_INPUT_REQUIRED,
      TaskState.TASK_STATE_FAILED,
      TaskState.TASK_STATE_REJECTED,
    ]
  ) {
    await t.step(TaskState[state], async () => {
      await using agent = startA2aAgent({ answer: () => ({ kind: "task", text: "hmm", state }) });
      await assert.rejects(fetcherFor(agent.origin).fetch(request(uri(agent.origin))), {
        code: "no_answer",
      });
      assert.equal(agent.asked.length, 1);
      assert.deepEqual(agent.seen, ["/.well-known/agent-card.json", "/a2a/jsonrpc"]);
    });
  }
  await using silent = startA2aAgent({ answer: () => ({ kind: "message", text: "  " }) });
  await assert.rejects(fetcherFor(silent.origin).fetch(request(uri(silent.origin))), {
    code: "no_answer",
  });
});

Deno.test("A2A: the SDK reference agent's message answers the question; the document carries its provenance", async () => {
  await using agent = startA2aAgent();
  const q = uri(agent.origin);
  const doc = await fetcherFor(agent.origin).fetch(request(q, ["domain:science"]));
  assert.deepEqual(agent.asked, ["At what temperature does water boil?"]);
  assert.equal(doc.text, FACT);
  assert.equal(doc.url, q);
  assert.equal(doc.finalUrl, q);
  assert.equal(doc.contentType, "text/plain");
  assert.equal(doc.bytes, new TextEncoder().encode(FACT).byteLength);
  assert.equal(doc.retrievedAt, "2026-12-07T20:00:00.000Z");
  assert.deepEqual(doc.topics, ["science"]);
  assert.deepEqual(doc.a2a, {
    agent: "Boiling points",
    card: `${agent.origin}/.well-known/agent-card.json`,
    endpoint: `${agent.origin}/a2a/jsonrpc`,
    state: "message",
  });
});

Deno.test("A2A: a completed task's answer is taken from the task, with its id", async () => {
  await using agent = startA2aAgent({
    answer: (q) => ({ kind: "task", text: `About "${q}": 100 C` }),
  });
  const doc = await fetcherFor(agent.origin).fetch(request(uri(agent.origin, "boil?")));
  assert.equal(doc.text, 'About "boil?": 100 C');
  assert.equal(doc.a2a?.state, "TASK_STATE_COMPLETED");
  assert.match(doc.a2a?.taskId ?? "", /^[0-9a-f-]{36}$/);
});
