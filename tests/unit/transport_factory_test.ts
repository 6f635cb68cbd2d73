// Transports are passed, not looked up: the typed factories of the two
// backends, resolveTransport's ownership rule, and what an Agent and an
// HcpClient do with a factory (they own the transport) and with an instance
// (its creator does).
import assert from "node:assert/strict";
import { Agent, FixedLoadSource, HcpClient } from "../../lib/agent/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { memory, MemoryNetwork, resolveLibraryPath, RttNode } from "../../lib/rtt/mod.ts";
import {
  resolveTransport,
  RTTDisconnectedError,
  type Transport,
  type TransportContext,
} from "../../lib/transport/mod.ts";
import { runDeno } from "../helpers/subprocess.ts";

const [idA, idB] = await Promise.all([
  Identity.generate({ agentId: "a" }),
  Identity.generate({ agentId: "b" }),
]);
const agentOptions = {
  mission: "verify water quality facts",
  store: ":memory:",
  load: new FixedLoadSource({ cpu: 0.1 }),
  loadIntervalMs: 0,
};

Deno.test("Importing the agent, the mesh and the backends loads nothing; rtt() and memory() check their options when made, with no permission and no library", async () => {
  const result = await runDeno(
    `import "./../../lib/agent/mod.ts";
     import "./../../lib/mesh/mod.ts";
     import { memory, MemoryNetwork, rtt } from "./../../lib/rtt/mod.ts";
     const kind = (f) => { try { f(); return "ok"; } catch (e) { return e.constructor.name; } };
     console.log(JSON.stringify([
       kind(() => rtt({ heartbeatIntervalMs: 1 })),
       kind(() => rtt({ maxQueue: "10" })),
       kind(() => memory({ network: "lan" })),
       kind(() => memory({ network: new MemoryNetwork(), maxChannels: 0 })),
       typeof rtt(),
       typeof memory({ network: new MemoryNetwork(), heartbeatIntervalMs: 200 }),
     ]));`,
    [],
    { WEB4_RTT_LIB: "/nonexistent/libweb4_rtt.so" },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout.trim()), [
    "RangeError",
    "TypeError",
    "TypeError",
    "RangeError",
    "function",
    "function",
  ]);
});

Deno.test("Importing lib/agent/mod.ts alone gives an Agent whose default rtt transport works (no registry, no side effect)", async () => {
  const libDir = resolveLibraryPath().replace(/\/[^/]+$/, "");
  const result = await runDeno(
    `import { Agent, FixedLoadSource } from "./../../lib/agent/mod.ts";
     import { Identity } from "./../../lib/identity/mod.ts";
     const [a, b] = await Promise.all([Identity.generate(), Identity.generate()]);
     const common = { mission: "m", store: ":memory:", load: new FixedLoadSource({}), loadIntervalMs: 0 };
     await using x = await Agent.create({ ...common, identity: a });
     await using y = await Agent.create({ ...common, identity: b, trustAnchors: [a.fingerprint] });
     const at = await y.listen({ hostname: "127.0.0.1", port: 0 });
     const peer = await x.connect({ ...at, fingerprint: b.fingerprint });
     console.log(x.transport.backend, peer.verified);`,
    [`--allow-ffi=${libDir}`, "--allow-read", "--allow-net=127.0.0.1"],
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), "rtt true");
});

Deno.test("resolveTransport: a factory's transport is owned and made for the context's identity; an instance is not owned", async () => {
  const network = new MemoryNetwork();
  const seen: TransportContext[] = [];
  const factory = (context: TransportContext) => {
    seen.push(context);
    return memory({ network })(context);
  };
  const made = await resolveTransport(factory, { identity: idA });
  try {
    assert.equal(made.owned, true);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.identity, idA);
    assert.ok(made.transport instanceof RttNode);
    assert.equal(made.transport.backend, "memory");
    assert.equal(made.transport.fingerprint, idA.fingerprint);
    const given = await resolveTransport(made.transport, { identity: idA });
    assert.equal(given.owned, false);
    assert.equal(given.transport, made.transport);
    assert.equal(seen.length, 1, "an instance is not made again");
  } finally {
    await made.transport.shutdown();
  }
});

Deno.test("resolveTransport refuses a transport of another identity (shutting down what a factory made) and what is not a transport", async () => {
  const network = new MemoryNetwork();
  let made: Transport | undefined;
  const wrong = async () => made = await memory({ network })({ identity: idB });
  await assert.rejects(
    resolveTransport(wrong, { identity: idA }),
    (e: unknown) =>
      e instanceof RangeError && e.message.includes(idB.fingerprint) &&
      e.message.includes(idA.fingerprint),
  );
  assert.ok(made !== undefined);
  await assert.rejects(
    made.listen({ hostname: "x", port: 0 }),
    RTTDisconnectedError,
    "the refused factory's transport was shut down",
  );
  await using other = await memory({ network })({ identity: idB });
  await assert.rejects(resolveTransport(other, { identity: idA }), RangeError);
  await assert.rejects(
    resolveTransport("memory" as never, { identity: idA }),
    (e: unknown) => e instanceof TypeError && /the string "memory"/.test(e.message),
  );
  await assert.rejects(
    resolveTransport(() => Promise.resolve({} as Transport), { identity: idA }),
    TypeError,
  );
});

Deno.test("Agent with a factory shuts its transport down on stop; with an instance it closes its sessions and leaves the transport to its creator", async () => {
  const network = new MemoryNetwork();
  const transportA = await memory({ network })({ identity: idA });
  try {
    const a = await Agent.create({ ...agentOptions, identity: idA, transport: transportA });
    const b = await Agent.create({
      ...agentOptions,
      identity: idB,
      transport: memory({ network }),
      trustAnchors: [idA.fingerprint],
    });
    assert.equal(a.transport, transportA);
    const at = await b.listen({ hostname: "b", port: 0 });
    await a.connect({ ...at, fingerprint: idB.fingerprint });
    const gone = b.nextEvent("agent.peer_disconnected", (e) => e.peer === idA.fingerprint);
    await a.stop();
    await gone; // a closed its session although its transport runs on
    assert.equal(transportA.metrics().sessions, 0);
    const still = await transportA.listen({ hostname: "a", port: 0 });
    assert.ok(still.port > 0, "a's transport is still its creator's, and running");
    const bTransport = b.transport;
    await b.stop();
    await assert.rejects(bTransport.listen({ hostname: "b2", port: 0 }), RTTDisconnectedError);
  } finally {
    await transportA.shutdown();
  }
});

Deno.test("Agent.create refuses a transport of another identity and the old string form; the caller's transport stays up", async () => {
  const network = new MemoryNetwork();
  await using other = await memory({ network })({ identity: idB });
  await assert.rejects(
    Agent.create({ ...agentOptions, identity: idA, transport: other }),
    RangeError,
  );
  await assert.rejects(
    Agent.create({ ...agentOptions, identity: idA, transport: "memory" as never }),
    TypeError,
  );
  assert.equal(other.metrics().sessions, 0);
  await other.listen({ hostname: "o", port: 0 }); // not shut down: it is the caller's
});

Deno.test("HcpClient: a factory's transport closes with the client; an instance outlives it", async () => {
  const network = new MemoryNetwork();
  const person = await Identity.generate({ agentId: "ada" });
  const owned = await HcpClient.create({
    identity: person,
    name: "Ada",
    transport: memory({ network }),
  });
  const made = owned.transport;
  await owned.close();
  await assert.rejects(made.listen({ hostname: "p", port: 0 }), RTTDisconnectedError);

  await using mine = await memory({ network })({ identity: person });
  const client = await HcpClient.create({ identity: person, name: "Ada", transport: mine });
  assert.equal(client.transport, mine);
  await client.close();
  await mine.listen({ hostname: "p", port: 0 }); // still running: it is ours
});
