/**
 * A consumer project outside this folder, with its own deno.json, imports
 * the package the two ways Deno users do (a `links` entry standing in for
 * the JSR package, and plain paths) and uses envelopes and the transport
 * through the root and two subpath entries.
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;

const PROGRAM = `
import { Identity } from "@web4/runtime";
import { createEnvelope, verifyEnvelope } from "@web4/runtime/envelope";
import { RttNode } from "@web4/runtime/rtt";
const [a, b] = await Promise.all([Identity.generate(), Identity.generate()]);
const env = await createEnvelope("cip", "STATE_UPDATE", {
  identity: a,
  receiver: { agent_id: b.agentId, fingerprint: b.fingerprint },
  payload: { presence: "focused", lri: 1, ltppeerstate: "probing" },
});
await using server = await RttNode.create({ identity: b });
await using client = await RttNode.create({ identity: a });
const { port } = await server.listen({ hostname: "127.0.0.1", port: 0 });
const [out, inbound] = await Promise.all([
  client.connect({ hostname: "127.0.0.1", port, fingerprint: b.fingerprint }),
  server.accept(),
]);
await (await out.openChannel("state")).send(new TextEncoder().encode(JSON.stringify(env)));
const got = await (await inbound.openChannel("state")).receive();
const checked = await verifyEnvelope(got!, { expectedSender: inbound.peerFingerprint });
console.log("verified", checked.type, "from", checked.sender.fingerprint === a.fingerprint);
`;

for (
  const [how, config] of [
    ["a links entry for the JSR package", {
      imports: { "@web4/runtime": "jsr:@web4/runtime@^0.1.0" },
      links: [root],
    }],
    ["plain paths", {
      imports: {
        "@web4/runtime": `${root}mod.ts`,
        "@web4/runtime/envelope": `${root}lib/envelope/mod.ts`,
        "@web4/runtime/rtt": `${root}lib/rtt/mod.ts`,
      },
    }],
  ] as const
) {
  Deno.test(`A consumer project imports the package through ${how} and uses envelopes and RTT`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "web4-consumer-" });
    try {
      await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify(config));
      await Deno.writeTextFile(`${dir}/main.ts`, PROGRAM);
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          `--allow-ffi=${root}target/release`,
          "--allow-read",
          "--allow-env",
          "--allow-net=127.0.0.1",
          "main.ts",
        ],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(stderr);
      assert.equal(code, 0, err);
      assert.equal(new TextDecoder().decode(stdout).trim(), "verified STATE_UPDATE from true");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
