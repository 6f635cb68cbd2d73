import assert from "node:assert/strict";
import { createEnvelope, encodeEnvelope } from "../../lib/envelope/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { untilLoggedEvent, web4, Web4Process } from "../helpers/web4.ts";

async function openssl(args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command("openssl", { args, stdout: "null", stderr: "null" }).output())
      .code === 0;
  } catch {
    return false;
  }
}

Deno.test("web4 serve --console over TLS with --console-token-file: token, Host and Origin rules; posted envelopes are verified and bound to the enrolled person", async () => {
  const dir = await Deno.makeTempDir({ prefix: "web4_console_tls_" });
  try {
    assert.equal((await web4(["keygen", "--out", `${dir}/a.pem`])).code, 0);
    const made = await openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${dir}/tls.key`,
      "-out",
      `${dir}/tls.crt`,
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-days",
      "1",
    ]);
    assert.ok(made, "openssl could not make a test certificate");
    const token = "a-console-token-from-a-file";
    await Deno.writeTextFile(`${dir}/token`, `${token}\n`);
    await Deno.writeTextFile(`${dir}/short`, "short\n");
    const base = [
      "serve",
      "--key",
      `${dir}/a.pem`,
      "--listen",
      "127.0.0.1:0",
      "--console",
      "127.0.0.1:0",
    ];
    const person = await Identity.generate({ agentId: "ada" });
    const stranger = await Identity.generate({ agentId: "mallory" });

    const short = await web4([...base, "--console-token-file", `${dir}/short`]);
    assert.equal(short.code, 1);
    assert.match(short.stderr, /^error: the token in .* is shorter than 16 characters\n$/);
    const missing = await web4([...base, "--console-token-file", `${dir}/none`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: No such token file: /);
    const half = await web4([...base, "--console-cert", `${dir}/tls.crt`]);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /--console-cert and --console-key go together/);

    await using serve = new Web4Process([
      ...base,
      "--console-token-file",
      `${dir}/token`,
      "--console-cert",
      `${dir}/tls.crt`,
      "--console-key",
      `${dir}/tls.key`,
      "--events",
      `${dir}/events.jsonl`,
    ]);
    const agentFp = (await serve.line(/^agent \S+ fingerprint ([0-9a-f]{64})$/))[1]!;
    const url = (await serve.line(/^console on (https:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/))[1]!;
    assert.equal(new URL(url).searchParams.get("token"), token);
    assert.ok(
      !serve.lines.some((l) => l.startsWith("console token")),
      "a file token is not printed",
    );
    const origin = new URL(url).origin;
    using client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/tls.crt`)] });
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const r = await fetch(`${origin}${path}`, { client, headers });
      const body = await r.text();
      return { status: r.status, body };
    };
    const state = await get("/api/state", { authorization: `Bearer ${token}` });
    assert.equal(state.status, 200);
    assert.equal(JSON.parse(state.body).person, null);
    assert.equal((await get("/api/state")).status, 401);
    assert.equal((await get("/api/state?token=wrong-token-wrong-token")).status, 401);
    assert.equal((await get(`/?token=${token}`)).status, 200);
    const enrol = (o: string, fingerprint = person.fingerprint) =>
      fetch(`${origin}/api/enrol`, {
        client,
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          origin: o,
          "content-type": "application/json",
        },
        body: JSON.stringify({ fingerprint }),
      });
    const foreign = await enrol("https://evil.example");
    await foreign.body?.cancel();
    assert.equal(foreign.status, 403);
    const ok = await enrol(origin);
    assert.deepEqual(await ok.json(), { person: person.fingerprint, enrolled: true });
    await serve.line(new RegExp(`^person ${person.fingerprint} enrolled$`));
    assert.deepEqual(await (await enrol(origin)).json(), {
      person: person.fingerprint,
      enrolled: false,
    });
    const again = await enrol(origin, "ef".repeat(32));
    assert.equal(again.status, 409);
    assert.match(
      (await again.json()).error,
      new RegExp(`this agent's person is ${person.fingerprint}`),
    );

    // A posted envelope must be signed by the enrolled person: another key's is
    // refused (403, logged) before it reaches the agent; the person's own is
    // verified by the agent's router and handled as the person's.
    const post = async (signer: Identity) => {
      const env = await createEnvelope("hcp", "HCP_HELLO", {
        identity: signer,
        receiver: { agent_id: "agent", fingerprint: agentFp },
        payload: {
          identity: { name: "Ada", role: "owner" },
          consent_scope: ["topic:*"],
          safety_flags: [],
        },
        state: {
          human: {
            presence: "focused",
            affect: "calm",
            clarity: 80,
            pressure: 20,
            intent: "test",
            consent: "granted",
          },
        },
      });
      const r = await fetch(`${origin}/api/envelope`, {
        client,
        method: "POST",
        headers: { authorization: `Bearer ${token}`, origin },
        body: encodeEnvelope(env),
      });
      return { status: r.status, body: await r.text(), msgId: env.msg_id };
    };
    const forged = await post(stranger);
    assert.equal(forged.status, 403);
    assert.match(forged.body, /not signed by the enrolled person/);
    await serve.line(
      /^warning: console refused POST \/api\/envelope: not signed by the enrolled person/,
    );
    const own = await post(person);
    assert.equal(own.status, 200, own.body);
    assert.deepEqual(
      JSON.parse(own.body).outcome,
      { status: "handled" },
      "the agent took the HELLO",
    );
    await untilLoggedEvent(
      `${dir}/events.jsonl`,
      (e) =>
        e.kind === "router.dispatched" && e.peer === person.fingerprint &&
        e.data.msg_id === own.msgId &&
        e.data.status === "handled",
    );
    const notHcp = await fetch(`${origin}/api/envelope`, {
      client,
      method: "POST",
      headers: { authorization: `Bearer ${token}`, origin },
      body: "{}",
    });
    assert.equal(notHcp.status, 400);
    await notHcp.body?.cancel();
    assert.equal((await serve.stop("SIGTERM")).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
