import assert from "node:assert/strict";
import { ConsoleBridge, withConsole } from "../../cli/console/bridge.ts";
import type { Transport, TransportAcceptOptions } from "../../lib/transport/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const PERSON = "ab".repeat(32);

/** A transport whose accept never yields a session (only aborts). */
function idleTransport(): Transport & { shutdowns: number } {
  const t = {
    backend: "idle",
    fingerprint: "cd".repeat(32),
    shutdowns: 0,
    listen: () => Promise.resolve({ hostname: "127.0.0.1", port: 1 }),
    connect: () => Promise.reject(new Error("no")),
    accept: (o: TransportAcceptOptions = {}) =>
      new Promise<never>((_, reject) =>
        o.signal?.addEventListener("abort", () => reject(new Error("aborted")), { once: true })
      ),
    onEvent: () => () => {},
    metrics: () => ({}) as never,
    shutdown: () => {
      t.shutdowns += 1;
      return Promise.resolve();
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  return t;
}

Deno.test("ConsoleBridge: a message posted before the agent opened the channel waits in it; the agent's sends reach the listeners", async () => {
  const bridge = new ConsoleBridge();
  const heard: [string, string][] = [];
  bridge.onMessage((channel, bytes) => heard.push([channel, dec.decode(bytes)]));
  const session = bridge.sessionFor(PERSON);
  assert.equal(session.peerFingerprint, PERSON);
  assert.equal(bridge.sessionFor(PERSON), session, "one open session per person");
  assert.ok(session.push("control", enc.encode("hello")));
  const control = await session.openChannel("control");
  assert.equal(dec.decode((await control.receive())!), "hello");
  await control.send(enc.encode("answer"));
  assert.deepEqual(heard, [["control", "answer"]]);
  await session.close();
  assert.equal(session.state, "closed");
  assert.equal(await control.receive(), null);
  assert.equal(session.push("control", enc.encode("late")), false);
  assert.notEqual(bridge.sessionFor(PERSON), session, "a closed session is replaced");
});

Deno.test("withConsole: accept yields the console's session while the inner transport waits; shutdown reaches the inner one", async () => {
  const bridge = new ConsoleBridge();
  const inner = idleTransport();
  const transport = withConsole(inner, bridge);
  assert.equal(transport.backend, "idle+console");
  const accepted = transport.accept();
  const session = bridge.sessionFor(PERSON);
  assert.equal(await accepted, session);
  // A session made before anyone accepts waits for the next accept.
  await session.close();
  const next = bridge.sessionFor(PERSON);
  assert.equal(await transport.accept(), next);
  const stop = new AbortController();
  const pending = transport.accept({ signal: stop.signal });
  stop.abort();
  await assert.rejects(pending);
  await transport.shutdown();
  assert.equal(inner.shutdowns, 1);
});
