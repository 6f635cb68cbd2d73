import assert from "node:assert/strict";
import { runDeno } from "../helpers/subprocess.ts";

// Regression: a node referenced only through its sessions and channels (the
// usual shape of `await using node = ...; for await (const m of channel)`)
// must never be collected and freed under them by its FinalizationRegistry.
Deno.test("RttNode stays alive while only its channels are referenced, across forced GC", async () => {
  const result = await runDeno(
    `import { Identity } from "./../../lib/identity/mod.ts";
     import { RttNode } from "./../../lib/rtt/mod.ts";
     async function pair() {
       const a = await RttNode.create({ identity: await Identity.generate() });
       const bId = await Identity.generate();
       const b = await RttNode.create({ identity: bId });
       const addr = await b.listen({ hostname: "127.0.0.1", port: 0 });
       const accepted = b.accept();
       const s1 = await a.connect({ ...addr, fingerprint: bId.fingerprint });
       const s2 = await accepted;
       return [await s1.openChannel("state"), await s2.openChannel("state")];
     }
     const [x, y] = await pair();
     const echo = (async () => { for await (const m of y) await y.send(m); })();
     let ok = 0;
     for (let i = 0; i < 30; i++) {
       (globalThis as unknown as { gc(): void }).gc();
       await new Promise((r) => setTimeout(r, 5));
       await x.send(new Uint8Array([i]));
       const back = await x.receive();
       if (back?.[0] === i) ok++;
     }
     console.log(ok);
     Deno.exit(0);`,
    [
      "--v8-flags=--expose-gc",
      "--allow-ffi=./target/release",
      "--allow-read",
      "--allow-env=WEB4_RTT_LIB",
      "--allow-net=127.0.0.1",
    ],
  );
  assert.equal(result.stdout.trim(), "30", result.stderr);
});
