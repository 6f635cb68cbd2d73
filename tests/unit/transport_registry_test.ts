import assert from "node:assert/strict";
import {
  createTransport,
  registerTransport,
  type Transport,
  transportNames,
  unregisterTransport,
} from "../../lib/rtt/transport.ts";
import { MemoryNetwork, MemoryTransport } from "../../lib/rtt/memory.ts";
import { runDeno } from "../helpers/subprocess.ts";

const identity = { fingerprint: "a".repeat(64), toPkcs8Pem: () => Promise.resolve("") };

Deno.test("The registry lists the built-in rtt and memory backends", () => {
  const names = transportNames();
  assert.ok(names.includes("rtt"));
  assert.ok(names.includes("memory"));
});

Deno.test("createTransport builds a backend by name and refuses unknown names", async () => {
  const t = await createTransport("memory", { identity, network: new MemoryNetwork() });
  assert.ok(t instanceof MemoryTransport);
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
    return MemoryTransport.create({
      identity: options.identity,
      network: new MemoryNetwork(),
    }) as Promise<
      Transport
    >;
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

Deno.test("Importing the registry opens no native library and needs no permission", async () => {
  const result = await runDeno(
    `import { transportNames, createTransport } from "./../../lib/rtt/transport.ts";
     const t = await createTransport("memory", { identity: { fingerprint: "${"e".repeat(64)}" } });
     await t.shutdown();
     console.log(transportNames().join(","));`,
    [],
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), "memory,rtt");
});
