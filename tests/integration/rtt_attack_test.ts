// Timing twin: the ACK-withholding attack's deadline is shown exactly, on a
// virtual clock, in tests/unit/virtual_time_rtt_hooks_test.ts.
//
// Issue 9: an authenticated attacker speaking RTT's wire format after a
// valid TLS handshake with its own key (a test-hooks node that writes raw
// frames and can withhold ACKs), and bare TCP connects from another loopback
// address. Each test asserts the victim's own counters against the
// configured bounds and that a legitimate peer's connect and echo still work.
import assert from "node:assert/strict";
import { Identity } from "../../lib/identity/mod.ts";
import { RTTHandshakeError, type TransportEvent } from "../../lib/transport/mod.ts";
import { RttNode, type RttNodeOptions, type RttSession } from "../../lib/rtt/mod.ts";
import { HOST, waitFor, within } from "../helpers/rtt.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => b === null ? null : new TextDecoder().decode(b);

/** Frame type bytes (docs/rtt.md, Wire format). */
const T = { HELLO: 1, OPEN: 4, DATA: 5, ACK: 7, CREDIT: 8, PING: 9 } as const;

interface Victim extends AsyncDisposable {
  node: RttNode;
  port: number;
  events: TransportEvent[];
}

/** A node that echoes every message on "control" of every session it accepts. */
async function victim(options: Partial<RttNodeOptions> = {}): Promise<Victim> {
  const node = await RttNode.create({
    identity: await Identity.generate(),
    heartbeatIntervalMs: 200,
    ...options,
  });
  const events: TransportEvent[] = [];
  node.onEvent((e) => events.push(e));
  const { port } = await node.listen({ hostname: HOST, port: 0 });
  void (async () => {
    for await (const s of node.sessions()) {
      void (async () => {
        try {
          const ch = await s.openChannel("control");
          for await (const m of ch) await ch.send(m);
        } catch {
          // The session ended (attackers' sessions do).
        }
      })();
    }
  })();
  return {
    node,
    port,
    events,
    async [Symbol.asyncDispose]() {
      await node.shutdown({ deadlineMs: 100 });
    },
  };
}

/** A legitimate peer connects with a fresh key and gets its echo. */
async function legitimateEcho(v: Victim): Promise<void> {
  await using peer = await RttNode.create({ identity: await Identity.generate() });
  const s = await within(
    10_000,
    "legitimate connect",
    peer.connect({ hostname: HOST, port: v.port, fingerprint: v.node.fingerprint }),
  );
  const ch = await s.openChannel("control");
  await ch.send(enc("hello"));
  assert.equal(dec(await within(10_000, "legitimate echo", ch.receive())), "hello");
}

/** An attacker node (fresh key, test hooks) with one session to the victim. */
async function attacker(
  v: Victim,
  options: Partial<RttNodeOptions> = {},
): Promise<{ node: RttNode; session: RttSession; events: TransportEvent[] } & AsyncDisposable> {
  const node = await RttNode.create({
    identity: await Identity.generate(),
    testHooks: true,
    ...options,
  });
  const events: TransportEvent[] = [];
  node.onEvent((e) => events.push(e));
  const session = await node.connect({
    hostname: HOST,
    port: v.port,
    fingerprint: v.node.fingerprint,
  });
  return {
    node,
    session,
    events,
    async [Symbol.asyncDispose]() {
      await node.shutdown({ deadlineMs: 50 });
    },
  };
}

function closeOf(events: TransportEvent[], reason: string) {
  return events.find((e) => e.type === "session_close" && e.reason === reason);
}

Deno.test("attack: a replay flood is reported coalesced and closes the session with replay_flood", async () => {
  await using v = await victim();
  await using a = await attacker(v);
  const ch = await a.session.openChannel("state");
  await ch.send(enc("once"));
  await within(5000, "flush", ch.flush());
  // Sequence 1 again, acknowledged already: a replay, 100,000 times at line rate.
  a.session.testInject({
    raw: { type: T.DATA, flags: 1, channel: "state", seq: 1, payload: "x", repeat: 100_000 },
  });
  await waitFor(
    "replay_flood on the victim",
    () => closeOf(v.events, "replay_flood") !== undefined,
  );
  const replays = v.events.filter((e) => e.type === "replay");
  const total = replays.reduce((n, e) => n + (e.type === "replay" ? e.count : 0), 0);
  assert.ok(replays.length <= 2, `${replays.length} replay events (coalesced)`);
  assert.ok(total > 64 && total < 100_000, `${total} replays counted before the close`);
  assert.ok(v.node.metrics().queuedEvents <= 64, "no event backlog");
  await waitFor("the attacker learns why", () => a.events.some((e) => e.type === "session_close"));
  const seen = a.events.find((e) => e.type === "session_close");
  assert.ok(
    seen?.type === "session_close" && /REPLAY_FLOOD/.test(seen.message ?? ""),
    String(seen?.type === "session_close" && seen.message),
  );
  await legitimateEcho(v);
});

Deno.test("attack: forbidden fields are refused with CLOSE PROTOCOL_ERROR, the node keeps serving", async () => {
  await using v = await victim();
  const cases: Record<string, unknown>[] = [
    { type: T.PING, seq: 7, payload: "not empty" },
    { type: T.ACK, channel: "state", seq: 0, payload: "x" },
    { type: T.HELLO, payload: [1, 0] },
    { type: T.DATA, flags: 1, channel: 0, seq: 1, payload: "x" },
    { type: T.OPEN, channel: 9, seq: 3, payload: "state" },
    { type: T.CREDIT, channel: "state", payload: new Array(16).fill(255) },
  ];
  for (const raw of cases) {
    await using a = await attacker(v);
    await a.session.openChannel("state");
    a.session.testInject({ raw });
    await waitFor(
      `refusal of ${JSON.stringify(raw)}`,
      () => a.events.some((e) => e.type === "session_close"),
    );
    const c = a.events.find((e) => e.type === "session_close");
    assert.ok(c?.type === "session_close");
    assert.equal(c.reason, "peer_closed", JSON.stringify(raw));
    assert.match(c.message ?? "", /^PROTOCOL_ERROR\n/, JSON.stringify(raw));
  }
  assert.equal(
    v.events.filter((e) => e.type === "session_close" && e.reason === "protocol_error").length,
    cases.length,
  );
  await legitimateEcho(v);
});

Deno.test("attack: a peer withholding ACKs holds at most maxUnackedBytes and dies at ackTimeoutMs", async () => {
  const cap = 64 * 1024;
  await using v = await victim({
    maxUnackedBytes: cap,
    ackTimeoutMs: 1500,
    heartbeatTimeoutMs: 5000,
  });
  await using a = await attacker(v);
  const ch = await a.session.openChannel("control");
  a.session.testInject({ no_acks: true });
  // The victim echoes 400 KiB back; none of it is ever acknowledged.
  for (let i = 0; i < 100; i++) await ch.send(new Uint8Array(4096));
  let peak = 0;
  await waitFor("ack_timeout on the victim", () => {
    peak = Math.max(peak, v.node.metrics().maxUnackedBytes);
    return closeOf(v.events, "ack_timeout") !== undefined;
  });
  assert.ok(peak >= cap, `the cap was reached: ${peak}`);
  assert.ok(peak < cap + 16 * 1024 + 4096, `unacked ${peak} beyond the cap and one fragment`);
  await legitimateEcho(v);
});

Deno.test("attack: channels nobody opened get the small window; receive memory stays in the budgets", async () => {
  const unopened = 16 * 1024;
  await using v = await victim({ unopenedWindowBytes: unopened, maxChannels: 64 });
  await using a = await attacker(v);
  const sends: Promise<void>[] = [];
  for (let k = 0; k < 40; k++) {
    const ch = await a.session.openChannel(`bulk${k}`);
    for (let i = 0; i < 8; i++) sends.push(ch.send(new Uint8Array(8192)));
  }
  await waitFor("the unopened windows filled", () => v.node.metrics().bytesIn >= 40 * unopened);
  const m = v.node.metrics();
  assert.ok(m.bytesIn <= 40 * unopened, `${m.bytesIn} bytes received unopened`);
  assert.ok(m.receiveBytesOutstanding <= 64 * unopened + 16 * 1024 * 1024, "within the budgets");
  await legitimateEcho(v);
  void Promise.allSettled(sends);
});

Deno.test("attack: sessions per peer and per address are limited, with TOO_MANY_SESSIONS", async () => {
  await using v = await victim({ maxSessionsPerPeer: 2, maxSessionsPerAddress: 4 });
  await using a = await attacker(v);
  await a.node.connect({ hostname: HOST, port: v.port, fingerprint: v.node.fingerprint });
  await assert.rejects(
    () => a.node.connect({ hostname: HOST, port: v.port, fingerprint: v.node.fingerprint }),
    (e: unknown) => e instanceof RTTHandshakeError && e.code === "TOO_MANY_SESSIONS",
  );
  await using b = await attacker(v);
  await using c = await attacker(v);
  assert.equal(v.node.metrics().maxSessionsPerAddress, 4, "2 + 1 + 1 from 127.0.0.1");
  await assert.rejects(
    () => attacker(v),
    (e: unknown) => e instanceof RTTHandshakeError && e.code === "TOO_MANY_SESSIONS",
  );
  await c.session.close();
  await waitFor("a slot freed", () => v.node.metrics().maxSessionsPerAddress === 3);
  await legitimateEcho(v);
  void b;
});

/**
 * Bare TCP connects (no byte sent) from 127.0.0.2, held open by a child
 * process (binding 127.0.0.2 needs a net permission the test run does not
 * grant), until the returned function is called.
 */
async function bareConnects(port: number, count: number): Promise<AsyncDisposable> {
  const code = `
        const net = await import("node:net");
    const sockets = [];
    for (let i = 0; i < ${count}; i++) {
      const s = net.connect({ host: "${HOST}", port: ${port}, localAddress: "127.0.0.2" });
      s.on("error", () => {});
      sockets.push(s);
    }
    await Promise.all(sockets.map((s) => new Promise((r) => { s.on("connect", r); s.on("close", r); })));
    console.log("ready");
    for await (const _ of Deno.stdin.readable) { /* until the parent closes stdin */ }
    for (const s of sockets) s.destroy();
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("ready")) {
    const { value, done } = await within(20_000, "the flood child", reader.read());
    if (done) throw new Error("The flood child ended early");
    out += value;
  }
  return {
    async [Symbol.asyncDispose]() {
      await child.stdin.close();
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      await child.status;
    },
  };
}

Deno.test("attack: bare connects from 127.0.0.2 shed their own handshakes; a legitimate peer still connects", async () => {
  await using v = await victim({ maxPendingHandshakesPerAddress: 8, clientHelloTimeoutMs: 60_000 });
  await using _flood = await bareConnects(v.port, 100);
  await waitFor("the flood shed", () => v.node.metrics().handshakesShed >= 50);
  assert.ok(v.node.metrics().maxPendingPerAddress <= 8, `${v.node.metrics().maxPendingPerAddress}`);
  await legitimateEcho(v);
  assert.ok(v.node.metrics().pendingHandshakes <= 64);
});

Deno.test("attack: a connection that never sends a ClientHello meets the short deadline", async () => {
  await using v = await victim({ clientHelloTimeoutMs: 100, handshakeTimeoutMs: 60_000 });
  await using _flood = await bareConnects(v.port, 1);
  await waitFor(
    "the ClientHello deadline",
    () => v.events.some((e) => e.type === "verification_failure" && /ClientHello/.test(e.message)),
  );
  assert.equal(v.node.metrics().pendingHandshakes, 0);
});

/** Runs openssl with `args`; resolves to its combined output (never throws on a failed handshake). */
async function openssl(args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // A server that wrongly accepted would keep an -ign_eof client open.
    signal: AbortSignal.timeout(10_000),
  })
    .output();
  const dec = new TextDecoder();
  return dec.decode(out.stdout) + dec.decode(out.stderr);
}

Deno.test("attack: TLS 1.2, no client certificate, an RSA certificate and a missing ALPN are refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await openssl(["genpkey", "-algorithm", "ed25519", "-out", "ed.key"], dir);
    await openssl([
      "req",
      "-x509",
      "-new",
      "-key",
      "ed.key",
      "-out",
      "ed.crt",
      "-subj",
      "/CN=x",
      "-days",
      "1",
    ], dir);
    await openssl(
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "rsa.key",
        "-out",
        "rsa.crt",
        "-subj",
        "/CN=x",
        "-days",
        "1",
      ],
      dir,
    );
    await using v = await victim();
    const target = ["s_client", "-connect", `${HOST}:${v.port}`];
    const ed = ["-cert", "ed.crt", "-key", "ed.key"];
    const alpn = ["-alpn", "web4-rtt/1"];
    // (The server asks for Ed25519 client certificates only, so openssl
    // withholds the RSA one: refused as "no certificates".)
    const rsa = ["-cert", "rsa.crt", "-key", "rsa.key"];
    const cases: [string, string[], RegExp][] = [
      ["TLS 1.2", [...target, "-tls1_2", ...ed, ...alpn], /SupportedVersions|version/i],
      ["no client certificate", [...target, "-tls1_3", ...alpn], /no certificates/],
      ["an RSA certificate", [...target, "-tls1_3", ...rsa, ...alpn], /certificate/i],
      // -ign_eof keeps openssl connected until the server closes: without it
      // openssl may close first, and the refusal would not be the ALPN check's.
      ["no ALPN", [...target, "-tls1_3", "-ign_eof", ...ed], /ALPN/],
    ];
    for (const [what, args, expected] of cases) {
      const before = v.events.length;
      await openssl(args, dir);
      // A refusal with this case's reason arrives (an earlier case's late
      // event may come first: each openssl run can end in more than one).
      await waitFor(
        `the refusal of ${what}`,
        () =>
          v.events.slice(before).some((e) =>
            e.type === "verification_failure" && expected.test(e.message)
          ),
      );
      assert.equal(v.node.metrics().sessions, 0, what);
    }
    await legitimateEcho(v);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
