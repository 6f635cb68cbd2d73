import assert from "node:assert/strict";
import { openListenerWarning, parseSourceTiers } from "../../cli/commands/serve.ts";
import { openStore } from "../../lib/store/mod.ts";
import { readLoggedEvents, untilLoggedEvent, web4, Web4Process } from "../helpers/web4.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "web4_serve_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function keygen(path: string, agentId: string): Promise<string> {
  const r = await web4(["keygen", "--out", path, "--agent-id", agentId, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).fingerprint;
}

/** Checks Prometheus text exposition format 0.0.4 line by line; returns the samples. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Set<string>();
  assert.ok(text.endsWith("\n"), "ends with a newline");
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/
        .exec(line);
      assert.ok(m !== null, `bad TYPE line: ${line}`);
      types.add(m[1]!);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$/
        .exec(line);
    assert.ok(m !== null, `bad sample line: ${line}`);
    const base = m[1]!.replace(/_(bucket|sum|count)$/, "");
    assert.ok(types.has(m[1]!) || types.has(base), `sample before its TYPE: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return samples;
}

Deno.test("web4 serve + send: two agents on loopback, the person's intent reaches the loop, metrics, events, SIGTERM keeps the store, the peer reconnects", async () => {
  await withDir(async (dir) => {
    const fa = await keygen(`${dir}/a.pem`, "alice");
    await keygen(`${dir}/b.pem`, "bob");
    const fp = await keygen(`${dir}/p.pem`, "ada");
    await using a = new Web4Process([
      "serve",
      "--key",
      `${dir}/a.pem`,
      "--listen",
      "127.0.0.1:0",
      "--store",
      `${dir}/a.db`,
      "--person",
      fp,
      "--mission",
      "water quality",
      "--events",
      `${dir}/a.jsonl`,
      "--metrics",
      "127.0.0.1:0",
    ]);
    const port = (await a.line(/^listening on 127\.0\.0\.1:(\d+)$/))[1]!;
    const metricsUrl = (await a.line(/^metrics on (http:\S+)$/))[1]!;
    await using b = new Web4Process([
      "serve",
      "--key",
      `${dir}/b.pem`,
      "--listen",
      "127.0.0.1:0",
      "--store",
      `${dir}/b.db`,
      "--peer",
      `127.0.0.1:${port}=${fa}`,
    ]);
    await b.line(new RegExp(`^connected to ${fa.slice(0, 16)} at 127\\.0\\.0\\.1:${port}$`));

    const common = ["--to", `127.0.0.1:${port}`, "--fingerprint", fa, "--timeout", "0"];
    const helloPayload =
      '{"identity":{"name":"Ada","role":"owner"},"consent_scope":["topic:*"],"safety_flags":[]}';
    // web4 send gives no consent by default: the agent told the person it holds none.
    const noConsent = await web4([
      "send",
      "--key",
      `${dir}/p.pem`,
      ...common,
      "--protocol",
      "hcp",
      "--type",
      "HCP_HELLO",
      "--payload",
      helloPayload,
    ]);
    assert.equal(noConsent.code, 1);
    assert.match(
      noConsent.stderr,
      /^error: the agent holds no consent of yours yet: give it with --human/,
    );
    const hello = await web4([
      "send",
      "--key",
      `${dir}/p.pem`,
      ...common,
      "--protocol",
      "hcp",
      "--type",
      "HCP_HELLO",
      "--payload",
      '{"identity":{"name":"Ada","role":"owner"},"consent_scope":["topic:*"],"safety_flags":[]}',
      "--human",
      '{"consent":"granted"}',
    ]);
    assert.equal(hello.code, 0, hello.stderr);
    assert.match(hello.stdout, /^delivered HCP_HELLO /);
    await Deno.writeTextFile(
      `${dir}/intent.json`,
      '{"goal":"request","topic":"topic:water","priority":"high"}',
    );
    const intent = await web4([
      "send",
      "--key",
      `${dir}/p.pem`,
      ...common,
      "--protocol",
      "hcp",
      "--type",
      "HCP_INTENT",
      "--payload",
      `@${dir}/intent.json`,
      "--json",
    ]);
    assert.equal(intent.code, 0, intent.stderr);
    const sent = JSON.parse(intent.stdout);
    assert.equal(sent.outcome, "delivered");

    // The intent reached the agent's loop (events file) and was propagated to bob.
    await untilLoggedEvent(
      `${dir}/a.jsonl`,
      (e) => e.kind === "agent.intent_propagated" && e.data.hcp_msg_id === sent.msg_id,
    );
    const reached = (await readLoggedEvents(`${dir}/a.jsonl`)).find((e) =>
      e.kind === "agent.intent"
    );
    assert.ok(reached !== undefined, "an agent.intent event");
    assert.deepEqual(
      { source: reached.data.source, topic: reached.data.topic, peer: reached.peer },
      { source: "person", topic: "topic:water", peer: fp },
    );

    // A stranger's STATE_UPDATE is refused with an ERROR envelope: exit 1, one line.
    await keygen(`${dir}/c.pem`, "carol");
    const stranger = await web4([
      "send",
      "--key",
      `${dir}/c.pem`,
      "--to",
      `127.0.0.1:${port}`,
      "--fingerprint",
      fa,
      "--timeout",
      "30000",
      "--protocol",
      "cip",
      "--type",
      "STATE_UPDATE",
      "--payload",
      '{"presence":"focused","lri":10,"ltppeerstate":"probing"}',
    ]);
    assert.equal(stranger.code, 1, stranger.stdout + stranger.stderr);
    assert.match(stranger.stdout, /^refused STATE_UPDATE \S+: ERROR \w+/);

    // /metrics is Prometheus text; /healthz answers.
    const text = await (await fetch(metricsUrl)).text();
    const samples = parsePrometheus(text);
    assert.ok(
      [...samples.keys()].some((k) => k.startsWith("web4_router_messages_total")),
      text,
    );
    assert.equal(await (await fetch(metricsUrl.replace("/metrics", "/healthz"))).text(), "ok\n");

    // The events file pretty-prints.
    const pretty = await web4(["events", `${dir}/a.jsonl`, "--kind", "agent.intent"]);
    assert.equal(pretty.code, 0, pretty.stderr);
    assert.match(pretty.stdout, /alice agent\.intent peer=\w{8} .*topic=topic:water/);

    // SIGTERM: graceful, exit 0, store intact with the trust it learned.
    const status = await a.stop("SIGTERM");
    assert.equal(status.code, 0, a.errLines.join("\n"));
    assert.deepEqual(a.lines.slice(-2), ["stopping", "stopped"]);
    {
      using store = openStore(`${dir}/a.db`);
      assert.equal(store.integrityCheck(), "ok");
      assert.equal(store.trust("hcp", fp)?.state, "probing");
    }
    const trust = await web4(["trust", "--store", `${dir}/a.db`, "--json"]);
    assert.equal(trust.code, 0, trust.stderr);
    const subjects = JSON.parse(trust.stdout).subjects.map((s: { machine: string }) => s.machine);
    assert.deepEqual(subjects.sort(), ["cip", "hcp"]);
    // bob notices and keeps trying to reconnect; SIGINT stops it too.
    await b.line(/^warning: peer \w{16} at 127\.0\.0\.1:\d+ unreachable \(.*\); retrying$/);
    // alice comes back on the same port with the same store: bob reconnects by itself.
    await using again = new Web4Process([
      "serve",
      "--key",
      `${dir}/a.pem`,
      "--listen",
      `127.0.0.1:${port}`,
      "--store",
      `${dir}/a.db`,
      "--person",
      fp,
    ]);
    await again.line(new RegExp(`^listening on 127\\.0\\.0\\.1:${port}$`));
    await b.countLines(new RegExp(`^connected to ${fa.slice(0, 16)} at `), 2);
    assert.equal((await again.stop("SIGTERM")).code, 0);
    assert.equal((await b.stop("SIGINT")).code, 0);
  });
});

Deno.test("web4 serve and send give one-line errors with exit codes for bad flags, missing files and unreachable peers", async () => {
  await withDir(async (dir) => {
    const fa = await keygen(`${dir}/a.pem`, "alice");
    const base = [
      "--to",
      "127.0.0.1:1",
      "--fingerprint",
      fa,
      "--protocol",
      "cip",
      "--type",
      "HELLO",
    ];
    const cases: [string[], number, RegExp][] = [
      [["serve", "--key", `${dir}/a.pem`], 2, /--listen is required/],
      [["serve", "--key", `${dir}/a.pem`, "--listen", "nope"], 2, /--listen must be HOST:PORT/],
      [["serve", "--key", `${dir}/missing.pem`, "--listen", "127.0.0.1:0"], 1, /No such key file/],
      [
        ["serve", "--key", `${dir}/a.pem`, "--listen", "127.0.0.1:0", "--peer", "127.0.0.1:9"],
        2,
        /--peer must be HOST:PORT=FINGERPRINT/,
      ],
      [
        ["serve", "--key", `${dir}/a.pem`, "--listen", "127.0.0.1:0", "--person", "xyz"],
        2,
        /--person must be a 64-hex-digit fingerprint/,
      ],
      [
        ["serve", "--key", `${dir}/a.pem`, "--listen", "127.0.0.1:0", "--console", "0.0.0.0:0"],
        2,
        /needs --console-cert and --console-key/,
      ],
      [
        ["serve", "--key", `${dir}/a.pem`, "--listen", "127.0.0.1:0", "--metrics", "0.0.0.0:0"],
        2,
        /not a loopback address/,
      ],
      [
        [
          "serve",
          "--key",
          `${dir}/a.pem`,
          "--listen",
          "127.0.0.1:0",
          "--fetch-origin",
          "http://127.0.0.1:8080/admin",
        ],
        2,
        /--fetch-origin: .* is not an origin/,
      ],
      [
        [
          "serve",
          "--key",
          `${dir}/a.pem`,
          "--listen",
          "127.0.0.1:0",
          "--source-tier",
          "a2a+https://agent.example=trusted",
        ],
        2,
        /--source-tier .* is not KEY=TIER/,
      ],
      [["send", "--key", `${dir}/a.pem`, ...base], 2, /--payload is required/],
      [
        [
          "send",
          "--key",
          `${dir}/a.pem`,
          ...base.slice(0, 4),
          "--protocol",
          "xyz",
          "--type",
          "HELLO",
          "--payload",
          "{}",
        ],
        2,
        /--protocol must be cip, hcp or lip/,
      ],
      [
        ["send", "--key", `${dir}/a.pem`, ...base.slice(0, 6), "--type", "NOPE", "--payload", "{}"],
        2,
        /--type NOPE is not a CIP message type/,
      ],
      [
        ["send", "--key", `${dir}/a.pem`, ...base, "--payload", "{not json"],
        2,
        /--payload is not valid JSON/,
      ],
      [
        ["send", "--key", `${dir}/a.pem`, ...base, "--payload", `@${dir}/none.json`],
        2,
        /--payload: no such file/,
      ],
      [["send", "--key", `${dir}/a.pem`, ...base, "--payload", "{}"], 1, /invalid HELLO envelope/],
      [
        [
          "send",
          "--key",
          `${dir}/a.pem`,
          ...base.slice(0, 6),
          "--type",
          "STATE_UPDATE",
          "--payload",
          '{"presence":"focused","lri":1,"ltppeerstate":"probing"}',
        ],
        1,
        /cannot reach 127\.0\.0\.1:1: .*refused/i,
      ],
    ];
    for (const [args, code, re] of cases) {
      const r = await web4(args);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });
});

Deno.test("openListenerWarning: a non-loopback listener without --allow-peer is warned about, naming what a stranger can do", () => {
  const fp = "ab".repeat(32);
  for (const hostname of ["0.0.0.0", "::", "192.168.1.20", "example.org"]) {
    const lines = openListenerWarning({ hostname, port: 7000 }, []);
    assert.equal(lines.length, 3, hostname);
    assert.match(lines[0]!, /any key may connect/);
    assert.match(
      lines[1]!,
      /probing.*intents, facts, votes.*pending.*cannot make this agent fetch/,
    );
    assert.match(lines[2]!, /--allow-peer FP/);
    assert.ok(lines.every((l) => l.startsWith("warning: ")));
    assert.deepEqual(openListenerWarning({ hostname, port: 7000 }, [fp]), []);
  }
  for (const hostname of ["127.0.0.1", "127.3.2.1", "localhost", "::1"]) {
    assert.deepEqual(openListenerWarning({ hostname, port: 7000 }, []), [], hostname);
  }
});

Deno.test("web4 serve on 0.0.0.0 without --allow-peer prints the open-listener warning; with --allow-peer it does not", async () => {
  await withDir(async (dir) => {
    await keygen(`${dir}/a.pem`, "alice");
    const base = ["serve", "--key", `${dir}/a.pem`, "--listen", "0.0.0.0:0"];
    {
      await using open = new Web4Process(base);
      await open.line(
        /^warning: --listen 0\.0\.0\.0:0 is not a loopback address and no --allow-peer is given: any key may connect\.$/,
      );
      await open.line(/^warning: a stranger's key completes the handshake and is probing/);
      await open.line(/^listening on 0\.0\.0\.0:\d+$/);
      assert.equal((await open.stop("SIGTERM")).code, 0);
    }
    await using closed = new Web4Process([...base, "--allow-peer", "cd".repeat(32)]);
    await closed.line(/^listening on 0\.0\.0\.0:\d+$/);
    assert.equal((await closed.stop("SIGTERM")).code, 0);
    assert.deepEqual(closed.errLines.filter((l) => l.startsWith("warning:")), []);
  });
});

Deno.test("parseSourceTiers: --source-tier keys become LIP source keys (an origin, an A2A agent)", () => {
  assert.deepEqual(
    parseSourceTiers([
      "https://Lab.example/page=medium",
      "a2a+http://127.0.0.1:9000/?q=x=high",
      "https://spam.example=blocked",
    ]),
    {
      "https://lab.example": "medium",
      "a2a+http://127.0.0.1:9000": "high",
      "https://spam.example": "blocked",
    },
  );
  assert.throws(() => parseSourceTiers(["=high"]), /is not KEY=TIER/);
  assert.throws(() => parseSourceTiers(["https://a.example"]), /is not KEY=TIER/);
});
