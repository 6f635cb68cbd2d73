import assert from "node:assert/strict";
import { assertNetPermission } from "../../lib/rtt/mod.ts";
import { runDeno } from "../helpers/subprocess.ts";

Deno.test("assertNetPermission passes for a granted host and port", async () => {
  // The test task grants --allow-net=127.0.0.1,localhost.
  await assertNetPermission("127.0.0.1", 4433);
  await assertNetPermission("localhost");
});

Deno.test("assertNetPermission rejects an empty hostname with TypeError", async () => {
  await assert.rejects(() => assertNetPermission(""), TypeError);
});

Deno.test("assertNetPermission throws NotCapable for a host the process was not granted", async () => {
  const result = await runDeno(
    `import { assertNetPermission } from "./../../lib/rtt/mod.ts";
     const out = [];
     for (const [host, port] of [["127.0.0.1", 9000], ["127.0.0.2", 9000], ["example.invalid", undefined], ["::1", 9000]]) {
       try { await assertNetPermission(host, port); out.push("granted"); }
       catch (e) { out.push(e instanceof Deno.errors.NotCapable ? "NotCapable" : "other:" + e); }
     }
     console.log(out.join(","));`,
    ["--allow-net=127.0.0.1:9000"],
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), "granted,NotCapable,NotCapable,NotCapable");
});

Deno.test("assertNetPermission throws NotCapable when no net permission is granted at all", async () => {
  const result = await runDeno(
    `import { assertNetPermission } from "./../../lib/rtt/mod.ts";
     try { await assertNetPermission("127.0.0.1", 80); console.log("granted"); }
     catch (e) { console.log(e instanceof Deno.errors.NotCapable ? e.message : "other:" + e); }`,
    [],
  );
  assert.match(result.stdout, /Requires net access to "127\.0\.0\.1:80"/, result.stderr);
});
