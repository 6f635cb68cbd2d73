// docs/a2a.md, outbound half, as a user pastes it: an A2A agent (the @a2a-js/sdk reference
// server) on loopback, `web4 serve --fetch-origin` listing it, a trusted key asking with
// `web4 send ... LIP_FETCH a2a+http://...`, a stranger's key refused; the claim waits pending at
// tier low, and with `--source-tier a2a+...=high` it is accepted.
import assert from "node:assert/strict";
import { openStore } from "../../lib/store/mod.ts";
import { FACT, startA2aAgent } from "../helpers/a2a_agent.ts";
import { web4, Web4Process } from "../helpers/web4.ts";

async function keygen(path: string, agentId: string): Promise<string> {
  const r = await web4(["keygen", "--out", path, "--agent-id", agentId, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).fingerprint;
}

Deno.test("docs/a2a.md outbound: web4 serve asks an A2A agent for a trusted key, refuses a stranger, keeps the claim pending at low, accepts it when pinned high", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4_a2a_" });
  try {
    await using a2a = startA2aAgent();
    const asker = await keygen(`${dir}/asker.pem`, "asker");
    await keygen(`${dir}/stranger.pem`, "stranger");
    const bob = await keygen(`${dir}/bob.pem`, "bob");
    const serve = (extra: string[]) =>
      new Web4Process([
        "serve",
        "--key",
        `${dir}/bob.pem`,
        "--listen",
        "127.0.0.1:0",
        "--store",
        `${dir}/bob.db`,
        "--trust",
        asker,
        "--fetch-origin",
        a2a.origin,
        "--no-control",
        ...extra,
      ]);
    const ask = (key: string, port: string, question: string) =>
      web4([
        "send",
        "--key",
        `${dir}/${key}.pem`,
        "--to",
        `127.0.0.1:${port}`,
        "--fingerprint",
        bob,
        "--protocol",
        "lip",
        "--type",
        "LIP_FETCH",
        "--payload",
        JSON.stringify({
          query: `a2a+${a2a.origin}/?q=${encodeURIComponent(question)}`,
          constraints: [],
        }),
        "--timeout",
        "10000",
      ]);

    {
      await using b = serve([]);
      const port = (await b.line(/^listening on 127\.0\.0\.1:(\d+)$/))[1]!;
      const refused = await ask("stranger", port, "Is the sky green?");
      assert.equal(refused.code, 1);
      assert.match(refused.stdout, /LIP_ERROR untrusted/);
      assert.deepEqual(a2a.asked, [], "a stranger's question never reached the A2A agent");

      const answered = await ask("asker", port, "At what temperature does water boil?");
      assert.equal(answered.code, 0, answered.stderr);
      assert.match(answered.stdout, /^reply LIP_EVIDENCE /);
      assert.ok(answered.stdout.includes(FACT));
      assert.equal((await b.stop()).code, 0);
    }
    {
      using store = openStore(`${dir}/bob.db`);
      const [item] = store.lipItems("pending");
      assert.equal(item?.tier, "low");
      assert.deepEqual(item?.claim, {
        query: `a2a+${a2a.origin}/?q=At%20what%20temperature%20does%20water%20boil%3F`,
        excerpt: FACT,
      });
    }
    {
      await using b = serve(["--source-tier", `a2a+${a2a.origin}=high`]);
      const port = (await b.line(/^listening on 127\.0\.0\.1:(\d+)$/))[1]!;
      const answered = await ask("asker", port, "And at the top of Everest?");
      assert.equal(answered.code, 0, answered.stderr);
      assert.equal((await b.stop()).code, 0);
    }
    using store = openStore(`${dir}/bob.db`);
    const accepted = store.lipItems("accepted");
    assert.equal(accepted.length, 1);
    assert.equal(accepted[0]?.tier, "high");
    assert.ok(store.causalFact(accepted[0]!.id) !== undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
