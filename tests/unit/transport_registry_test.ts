import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import {
  createMemoryTransport,
  createTransport,
  MemoryNetwork,
  registerTransport,
  RttNode,
  type Transport,
  transportNames,
  unregisterTransport,
} from "../../lib/rtt/mod.ts";
import { runDeno } from "../helpers/subprocess.ts";

const identity = await Identity.generate();

Deno.test("The registry lists the built-in rtt and memory backends", () => {
  const names = transportNames();
  assert.ok(names.includes("rtt"));
  assert.ok(names.includes("memory"));
});

Deno.test("createTransport builds a backend by name and refuses unknown names", async () => {
  const t = await createTransport("memory", { identity, network: new MemoryNetwork() });
  assert.ok(t instanceof RttNode, "the memory backend is the same node over pipes");
  assert.equal(t.backend, "memory");
  assert.equal(t.fingerprint, identity.fingerprint);
  await t.shutdown();
  await assert.rejects(
    () => createTransport("carrier-pigeon", { identity }),
    (e: unknown) =>
      e instanceof RangeError && /carrier-pigeon/.test(e.message) && /memory/.test(e.message),
  );
  await assert.rejects(
    () => createTransport("memory", { identity, network: "lan" }),
    TypeError,
  );
});

Deno.test("registerTransport adds a custom backend; unregisterTransport removes it", async () => {
  let got: unknown;
  registerTransport("custom.test", (options) => {
    got = options;
    return createMemoryTransport({ identity, network: new MemoryNetwork() }) as Promise<Transport>;
  });
  try {
    const t = await createTransport("custom.test", { identity, extra: 1 });
    assert.equal((got as { extra: number }).extra, 1);
    await t.shutdown();
  } finally {
    assert.equal(unregisterTransport("custom.test"), true);
  }
  assert.equal(unregisterTransport("custom.test"), false);
  assert.throws(() => registerTransport("Bad Name", () => Promise.reject()), RangeError);
  assert.throws(
    () => registerTransport("ok", 1 as unknown as () => Promise<Transport>),
    TypeError,
  );
});

Deno.test("The contract imports no backend; importing the backends opens no library and needs no permission", async () => {
  const result = await runDeno(
    `import { transportNames as bare } from "./../../lib/transport/mod.ts";
     const before = bare().join(",");
     const { transportNames } = await import("./../../lib/rtt/mod.ts");
     console.log(JSON.stringify([before, transportNames().join(",")]));`,
    [],
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout.trim()), ["", "memory,rtt"]);
});
