// The pure reading of A2A cards, answers and URIs (lib/lip/a2a.ts): whatever an agent sends,
// the answer is a typed LipFetchError or a result, never another exception.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  readA2aUri,
  readAgentCard,
  readSendMessageReply,
  sendMessageBody,
} from "../../lib/lip/a2a.ts";
import { LipFetchError, sourceKey, tierInForce } from "../../lib/lip/mod.ts";

const AT = new URL("https://agent.example/.well-known/agent-card.json");
const RPC = new URL("https://agent.example/rpc");

function typedOrResult(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LipFetchError, String(err));
  }
}

Deno.test("readSendMessageReply and readAgentCard answer any JSON (and any text) with a result or a LipFetchError", () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.string(), (json, text) => {
      for (const body of [JSON.stringify(json), text]) {
        typedOrResult(() => readSendMessageReply(body, "m-1", RPC));
        typedOrResult(() => readAgentCard(body, AT, () => false));
      }
      // The same values as a response's result and as a card's interfaces.
      typedOrResult(() =>
        readSendMessageReply(
          JSON.stringify({ jsonrpc: "2.0", id: "m-1", result: json }),
          "m-1",
          RPC,
        )
      );
      typedOrResult(() =>
        readSendMessageReply(
          JSON.stringify({ jsonrpc: "2.0", id: "m-1", result: { task: json } }),
          "m-1",
          RPC,
        )
      );
      typedOrResult(() =>
        readAgentCard(JSON.stringify({ supportedInterfaces: [json] }), AT, () => false)
      );
    }),
    { numRuns: 500 },
  );
});

Deno.test("readSendMessageReply takes a completed task's artifacts first, then its status message, and JSON of data parts", () => {
  const reply = (task: unknown) =>
    readSendMessageReply(JSON.stringify({ jsonrpc: "2.0", id: "i", result: { task } }), "i", RPC);
  const done = { state: "TASK_STATE_COMPLETED", message: { parts: [{ text: "status" }] } };
  assert.equal(
    reply({ id: "t1", status: done, artifacts: [{ parts: [{ text: "a" }, { data: { n: 1 } }] }] })
      .text,
    'a\n{"n":1}',
  );
  assert.deepEqual(reply({ id: "t1", status: done, artifacts: [] }), {
    text: "status",
    state: "TASK_STATE_COMPLETED",
    taskId: "t1",
  });
});

Deno.test("A2A URIs: one source per agent, low by default, pinned by its key; the question travels once", () => {
  const a = readA2aUri("a2a+https://agent.example:8443/x/?q=a%26b")!;
  assert.equal(a.key, "a2a+https://agent.example:8443/x");
  assert.equal(a.uri, "a2a+https://agent.example:8443/x/?q=a%26b");
  assert.equal(a.question, "a&b");
  assert.equal(sourceKey(a.uri), sourceKey("a2a+https://agent.example:8443/x?q=other"));
  assert.equal(tierInForce(sourceKey(a.uri), undefined), "low");
  assert.equal(tierInForce(sourceKey(a.uri), undefined, { [a.key]: "high" }), "high");
  assert.equal(readA2aUri("a2a+ftp://agent.example/"), undefined);
  assert.throws(() => readA2aUri("a2a+https://agent.example/?q=a#frag"), {
    code: "unsupported_query",
  });
  const body = JSON.parse(sendMessageBody("q", "m"));
  assert.equal(body.id, "m");
  assert.equal(body.params.message.messageId, "m");
  assert.equal(body.params.configuration.returnImmediately, false);
});
