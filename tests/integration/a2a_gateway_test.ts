/**
 * The A2A gateway (`web4 serve --a2a`) driven from outside, as an A2A
 * client would: `@a2a-js/sdk`'s own client (card discovery, SendMessage,
 * GetTask, CancelTask over JSON-RPC) and raw HTTP for what a client should
 * not send (no token, a wrong one, malformed JSON-RPC, an oversized body,
 * too many open tasks). The served agent runs on real RTT on loopback; each
 * A2A client reaches it as its own pinned web4 peer.
 */
import assert from "node:assert/strict";
import {
  ClientFactory,
  ClientFactoryOptions,
  DefaultAgentCardResolver,
  JsonRpcTransportFactory,
} from "@a2a-js/sdk/client";
import { type Message, Role, type Task, TaskState } from "@a2a-js/sdk";
import { Identity } from "../../lib/identity/mod.ts";
import { ManualClock } from "../../lib/ports/mod.ts";
import { rtt } from "../../lib/rtt/mod.ts";
import { A2aGateway, clientIdentities, clientPins } from "../../cli/a2a/gateway.ts";
import { type A2aServer, startA2a } from "../../cli/a2a/server.ts";
import { assertEventContract, World } from "../helpers/agents.ts";
import { connectPerson, personWorld } from "../helpers/scenarios.ts";

const TOKENS = { planner: "planner-token-0123456789", other: "other-token-0123456789ab" };

function message(text: string, extra: Partial<Message> = {}): Message {
  return {
    messageId: crypto.randomUUID(),
    contextId: "",
    taskId: "",
    role: Role.ROLE_USER,
    parts: [{
      content: { $case: "text", value: text },
      metadata: undefined,
      filename: "",
      mediaType: "",
    }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
    ...extra,
  };
}

function sdkClient(url: string, token: string | undefined) {
  const fetchImpl: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
  const factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
    transports: [new JsonRpcTransportFactory({ fetchImpl })],
    cardResolver: new DefaultAgentCardResolver(),
  }));
  return factory.createFromUrl(url);
}

async function send(client: Awaited<ReturnType<typeof sdkClient>>, text: string): Promise<Task> {
  const result = await client.sendMessage({
    tenant: "",
    message: message(text),
    configuration: undefined,
    metadata: undefined,
  });
  assert.ok("status" in result, "a task, not a message");
  return result as Task;
}

function textOf(task: Task): string {
  const part = task.status?.message?.parts[0]?.content;
  return part?.$case === "text" ? part.value : "";
}

async function rpc(url: string, body: BodyInit, token?: string): Promise<Response> {
  return await fetch(`${url}/a2a`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body,
  });
}

Deno.test("A2A gateway: the SDK's client discovers the card, sends, gets and cancels; refusals, deferrals, consent waits, quotas and bad requests are answered as A2A says, and the client's trust never moves", async (t) => {
  const clients = await clientIdentities([
    { name: "planner", token: TOKENS.planner, level: "probing" },
    { name: "other", token: TOKENS.other, level: "probing" },
  ], await Identity.generate());
  await using w = await World.create(personWorld(rtt(), {
    names: ["alpha"],
    extraOf: {
      alpha: { trustPins: clientPins(clients), rateLimit: { burst: 60, perSecond: 0.001 } },
    },
  }));
  await connectPerson(w); // ada: consent limited to topic:water
  const alpha = w.get("alpha");
  alpha.agent.store.commit([{
    kind: "causal.add",
    fact: {
      id: crypto.randomUUID(),
      origin: "cip",
      fact: {
        statement: "Aral station 7 nitrate is 12 mg/L",
        domain: "water",
        confidence: 0.9,
        sources: [],
      },
      acceptedMs: Date.now(),
    },
    links: [],
  }], { nowMs: Date.now() });

  const clock = new ManualClock({ start: Date.now() });
  await using gateway = new A2aGateway({
    clients,
    served: () => ({ agent: alpha.agent, address: { hostname: alpha.hostname, port: alpha.port } }),
    shared: ["topic:water", "topic:health", "topic:weather", "topic:air"],
    transport: rtt(),
    clock,
    limits: { maxOpen: 4, maxKept: 16 },
  });
  const server: A2aServer = await startA2a({
    address: { hostname: "127.0.0.1", port: 0 },
    gateway,
    clients,
    card: {
      agentId: "alpha",
      fingerprint: alpha.agent.fingerprint,
      mission: "water",
      version: "0.1.0",
    },
    shared: ["topic:water", "topic:health", "topic:weather", "topic:air"],
    maxBodyBytes: 4096,
  });
  try {
    const planner = await sdkClient(server.url, TOKENS.planner);
    const plannerFp = gateway.fingerprintOf("planner")!;

    await t.step(
      "card: A2A 1.0, JSON-RPC interface, bearer scheme, one skill per shared topic",
      async () => {
        const card = await planner.getAgentCard();
        assert.equal(card.name, "alpha");
        assert.equal(card.supportedInterfaces[0]?.protocolBinding, "JSONRPC");
        assert.equal(card.supportedInterfaces[0]?.protocolVersion, "1.0");
        assert.equal(card.supportedInterfaces[0]?.url, `${server.url}/a2a`);
        assert.equal(card.securitySchemes.bearer?.scheme?.$case, "httpAuthSecurityScheme");
        assert.equal(card.skills.length, 4);
        assert.equal(card.capabilities?.streaming, true);
        assert.deepEqual(card.defaultOutputModes, ["text/plain"]);
      },
    );

    await t.step("no token, a wrong token: 401 and the agent hears nothing", async () => {
      const before = alpha.sink.events().length;
      for (const token of [undefined, "planner-token-0123456789X", TOKENS.planner.slice(0, -1)]) {
        const res = await rpc(
          server.url,
          JSON.stringify({ jsonrpc: "2.0", id: 1, method: "GetTask", params: { id: "x" } }),
          token,
        );
        assert.equal(res.status, 401);
        assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
        await res.body?.cancel();
      }
      const anonymous = await sdkClient(server.url, undefined);
      await assert.rejects(() => send(anonymous, "water"), /401/);
      assert.equal(
        alpha.sink.events().slice(before).filter((e) => e.kind === "a2a.task").length,
        0,
      );
    });

    await t.step("malformed bodies get JSON-RPC error objects, never a 500", async () => {
      const cases: [BodyInit, number][] = [
        ["{not json", -32700],
        [new Uint8Array([0xff, 0xfe, 0x7b]), -32700],
        ["[]", -32600],
        ['{"jsonrpc":"1.0","id":1,"method":"GetTask"}', -32600],
        ['{"jsonrpc":"2.0","id":{},"method":"GetTask"}', -32600],
        ['{"jsonrpc":"2.0","id":2,"method":"DropTables","params":{}}', -32601],
        ['{"jsonrpc":"2.0","id":3,"method":"GetTask","params":[1]}', -32602],
        ['{"jsonrpc":"2.0","id":4,"method":"GetTask","params":{}}', -32602],
        [
          '{"jsonrpc":"2.0","id":5,"method":"SendMessage","params":{"message":{"parts":[]}}}',
          -32602,
        ],
        [
          '{"jsonrpc":"2.0","id":6,"method":"SendMessage","params":{"message":{"parts":[{"url":"file:///etc/passwd"}]}}}',
          -32005,
        ],
        ['{"jsonrpc":"2.0","id":7,"method":"SubscribeToTask","params":{}}', -32004],
        ['{"jsonrpc":"2.0","id":10,"method":"SendStreamingMessage","params":{}}', -32602],
        [
          '{"jsonrpc":"2.0","id":8,"method":"CreateTaskPushNotificationConfig","params":{}}',
          -32003,
        ],
        ['{"jsonrpc":"2.0","id":9,"method":"GetTask","params":{"id":"no-such-task"}}', -32001],
      ];
      for (const [body, code] of cases) {
        const res = await rpc(server.url, body, TOKENS.planner);
        assert.equal(res.status, 200, String(body));
        const json = await res.json();
        assert.equal(json.jsonrpc, "2.0");
        assert.equal(json.error?.code, code, String(body));
      }
    });

    await t.step("an oversized body is refused with 413 before it is read", async () => {
      const big = JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "SendMessage",
        params: { message: { parts: [{ text: "x".repeat(8192) }] } },
      });
      const res = await rpc(server.url, big, TOKENS.planner);
      assert.equal(res.status, 413);
      await res.body?.cancel();
      // Streamed without a length: cut at the bound too.
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < 8; i++) c.enqueue(new TextEncoder().encode("x".repeat(1024)));
          c.close();
        },
      });
      const res2 = await rpc(server.url, stream, TOKENS.planner);
      assert.equal(res2.status, 413);
      await res2.body?.cancel();
    });

    await t.step(
      "accepted on a shared, consented topic: completed with accepted knowledge only",
      async () => {
        const task = await send(planner, "water");
        assert.equal(task.status?.state, TaskState.TASK_STATE_COMPLETED);
        const answer = task.artifacts[0]?.parts[0]?.content;
        assert.equal(answer?.$case, "text");
        assert.match(
          answer.$case === "text" ? answer.value : "",
          /Aral station 7 nitrate is 12 mg\/L/,
        );
        const got = await planner.getTask({ tenant: "", id: task.id, historyLength: undefined });
        assert.equal(got.status?.state, TaskState.TASK_STATE_COMPLETED);
        // The A2A task id is in the agent's event log, with the client's pinned key as peer.
        const events = alpha.sink.events().filter((e) =>
          e.kind === "a2a.task" && e.data.task === task.id
        );
        assert.deepEqual(events.map((e) => e.data.state), [
          "TASK_STATE_SUBMITTED",
          "TASK_STATE_COMPLETED",
        ]);
        assert.equal(events[1]?.peer, plannerFp);
        assert.equal(events[1]?.level, "stranger");
        assert.match(String(events[1]?.data.msg_id), /^[0-9a-f-]{36}$/);
        // The served agent saw a CIP INTENT from the client's key, not the person.
        assert.ok(alpha.sink.events().some((e) => e.kind === "cip.intent" && e.peer === plannerFp));
      },
    );

    await t.step("a topic the operator does not share is rejected, saying why", async () => {
      const task = await send(planner, "topic:finance");
      assert.equal(task.status?.state, TaskState.TASK_STATE_REJECTED);
      assert.match(textOf(task), /does not share topic:finance/);
    });

    await t.step(
      "outside the person's consent: input-required, then completed once the person consents",
      async () => {
        const task = await send(planner, "health");
        assert.equal(task.status?.state, TaskState.TASK_STATE_INPUT_REQUIRED);
        assert.match(textOf(task), /waits for the person's consent: topic:health is outside/);
        await w.person!.hello({ ...w.personHello, consentScope: ["topic:water", "topic:health"] });
        await alpha.agent.until(() =>
          alpha.agent.store.person(w.fp("ada"))?.consentScope.includes("topic:health") === true
        );
        // It completed when the person consented (logged then), before anyone read it.
        const done = alpha.sink.events().find((e) =>
          e.kind === "a2a.task" && e.data.task === task.id &&
          e.data.state === "TASK_STATE_COMPLETED"
        );
        assert.equal(done?.data.method, "consent");
        const got = await planner.getTask({ tenant: "", id: task.id, historyLength: undefined });
        assert.equal(got.status?.state, TaskState.TASK_STATE_COMPLETED);
        assert.match(textOf(got), /No accepted knowledge on topic:health/);
      },
    );

    await t.step(
      "a stream follows a task waiting for consent to its answer; streams per token are bounded",
      async () => {
        const request = () => ({
          tenant: "",
          message: message("air"),
          configuration: undefined,
          metadata: undefined,
        });
        const first = planner.sendMessageStream(request());
        const second = planner.sendMessageStream(request());
        for (const s of [first, second]) {
          const e = await s.next();
          assert.equal(e.done, false);
          const p = e.value!.payload;
          assert.equal(p?.$case, "task");
          assert.equal(
            p?.$case === "task" ? p.value.status?.state : undefined,
            TaskState.TASK_STATE_INPUT_REQUIRED,
          );
        }
        // A third stream of the same token is refused; nothing is asked of the agent.
        const tasksBefore = gateway.tasks.count("planner").kept;
        await assert.rejects(
          () => planner.sendMessageStream(request()).next(),
          (e: { envelopeCode?: number }) => e.envelopeCode === -32050,
        );
        assert.equal(gateway.tasks.count("planner").kept, tasksBefore);
        // The person consents: both streams carry the answer and end.
        await w.person!.hello({
          ...w.personHello,
          consentScope: ["topic:water", "topic:health", "topic:air"],
        });
        for (const s of [first, second]) {
          const e = await s.next();
          const p = e.value!.payload;
          assert.equal(p?.$case, "task");
          assert.equal(
            p?.$case === "task" ? p.value.status?.state : undefined,
            TaskState.TASK_STATE_COMPLETED,
          );
          assert.equal((await s.next()).done, true);
        }
      },
    );

    await t.step("another client cannot read or cancel a task that is not its own", async () => {
      const task = await send(planner, "weather"); // waits: outside consent
      assert.equal(task.status?.state, TaskState.TASK_STATE_INPUT_REQUIRED);
      const other = await sdkClient(server.url, TOKENS.other);
      await assert.rejects(
        () => other.getTask({ tenant: "", id: task.id, historyLength: undefined }),
        (e: { envelopeCode?: number }) => e.envelopeCode === -32001,
      );
      await assert.rejects(
        () => other.cancelTask({ tenant: "", id: task.id, metadata: undefined }),
        (e: { envelopeCode?: number }) => e.envelopeCode === -32001,
      );
      // Its owner cancels it; a canceled task cannot be canceled again.
      const canceled = await planner.cancelTask({ tenant: "", id: task.id, metadata: undefined });
      assert.equal(canceled.status?.state, TaskState.TASK_STATE_CANCELED);
      await assert.rejects(
        () => planner.cancelTask({ tenant: "", id: task.id, metadata: undefined }),
        (e: { envelopeCode?: number }) => e.envelopeCode === -32002,
      );
    });

    await t.step(
      "too many open tasks for one token: refused (429, quota) until they expire on the clock",
      async () => {
        const waiting: Task[] = [];
        for (let i = 0; i < 4; i++) waiting.push(await send(planner, "weather"));
        assert.ok(waiting.every((x) => x.status?.state === TaskState.TASK_STATE_INPUT_REQUIRED));
        const res = await rpc(
          server.url,
          JSON.stringify({
            jsonrpc: "2.0",
            id: 1,
            method: "SendMessage",
            params: { message: { messageId: "m", role: "ROLE_USER", parts: [{ text: "water" }] } },
          }),
          TOKENS.planner,
        );
        assert.equal(res.status, 429);
        assert.equal((await res.json()).error.code, -32050);
        await assert.rejects(
          () => send(planner, "water"),
          (e: { envelopeCode?: number }) => e.envelopeCode === -32050,
        );
        // Another client is not affected.
        const other = await sdkClient(server.url, TOKENS.other);
        assert.equal((await send(other, "water")).status?.state, TaskState.TASK_STATE_COMPLETED);
        // An hour later the waiting tasks have expired and count no more.
        clock.advance(3_600_000);
        const expired = await planner.getTask({
          tenant: "",
          id: waiting[0]!.id,
          historyLength: undefined,
        });
        assert.equal(expired.status?.state, TaskState.TASK_STATE_FAILED);
        assert.match(textOf(expired), /expired/);
        assert.equal((await send(planner, "water")).status?.state, TaskState.TASK_STATE_COMPLETED);
      },
    );

    await t.step("deferred under overload: working, with the reason", async () => {
      alpha.load.set({ cpu: 0.95, memory: 0.1 });
      await alpha.agent.refreshLoad();
      const task = await send(planner, "water");
      assert.equal(task.status?.state, TaskState.TASK_STATE_WORKING);
      assert.match(textOf(task), /deferred/);
      alpha.load.set({ cpu: 0.1, memory: 0.1 });
      await alpha.agent.refreshLoad();
      // The client's peer hears that the agent is no longer overloaded.
      const peer = (await gateway.peerOf("planner"))!.agent;
      await peer.until(() =>
        peer.store.presence(alpha.agent.fingerprint)?.presence !== "overloaded"
      );
      await planner.cancelTask({ tenant: "", id: task.id, metadata: undefined });
    });

    await t.step(
      "many accepted intents never move the client's trust; the rate limit refuses it like any peer",
      async () => {
        for (let i = 0; i < 10; i++) {
          assert.equal(
            (await send(planner, "water")).status?.state,
            TaskState.TASK_STATE_COMPLETED,
          );
        }
        assert.equal(alpha.agent.router.trust.peer(plannerFp), "probing");
        const log = alpha.agent.store.trustLog(plannerFp);
        assert.equal(log.filter((e) => e.changed).length, 1, "only the pin moved it");
        assert.equal(log[0]?.event, "pin_declared");
        // Past its burst the router refuses it (ERROR quota, "Rate limit ..."): the task is rejected.
        let rejected: Task | undefined;
        for (let i = 0; i < 80 && rejected === undefined; i++) {
          const task = await send(planner, "water");
          if (task.status?.state === TaskState.TASK_STATE_REJECTED) rejected = task;
        }
        assert.ok(rejected !== undefined, "the rate limit never refused");
        assert.match(textOf(rejected), /refused by the agent: quota: Rate limit/);
        assert.equal(alpha.agent.router.trust.peer(plannerFp), "probing");
        // Its key only ever sent intents: no vote, no evidence, no fetch, no fact reached the agent.
        const fromClient = alpha.sink.events().filter((e) =>
          e.peer === plannerFp && e.kind === "router.dispatched"
        ).map((e) => String(e.data.type));
        assert.ok(fromClient.includes("INTENT"));
        const allowed = ["HELLO", "VERIFY", "STATE_UPDATE", "INTENT"];
        assert.deepEqual([...new Set(fromClient)].filter((t) => !allowed.includes(t)), []);
        // What the client made the gateway hold stays within its bounds.
        const held = gateway.tasks.count("planner");
        assert.ok(held.kept <= 16 && held.open <= 4, JSON.stringify(held));
      },
    );

    assertEventContract(alpha.sink.events());
  } finally {
    await server.shutdown();
  }
});
