import assert from "node:assert/strict";
import { main } from "../../cli/web4.ts";
import { AuditLog, createTelemetry, JsonlFileSink } from "../../lib/observability/mod.ts";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

async function writeLog(): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  const sink = await JsonlFileSink.open(path);
  const t = createTelemetry({
    node: "alice",
    sinks: [sink],
    now: () => Date.UTC(2026, 0, 1, 10, 0, 0),
  });
  t.emit("trust.transition", { from: "untrusted", to: "probing" }, { peer: "ab".repeat(32) });
  t.emit("router.dispatched", { type: "HELLO" }, { peer: "cd".repeat(32) });
  t.emit("trust.ignored", { event: "conflict" }, { peer: "cd".repeat(32) });
  await sink.close();
  return path;
}

Deno.test("web4 events pretty-prints a JSON Lines log, one line per event", async () => {
  const path = await writeLog();
  const { io, out } = capture();
  assert.equal(await main(["events", path], io), 0);
  assert.deepEqual(out, [
    "10:00:00.000 alice trust.transition peer=abababab from=untrusted to=probing",
    "10:00:00.000 alice router.dispatched peer=cdcdcdcd type=HELLO",
    "10:00:00.000 alice trust.ignored peer=cdcdcdcd event=conflict",
  ]);
  await Deno.remove(path);
});

Deno.test("web4 events filters by kind (exact or prefix) and by peer, and prints JSON with --json", async () => {
  const path = await writeLog();
  const byKind = capture();
  assert.equal(await main(["events", path, "--kind", "trust.*"], byKind.io), 0);
  assert.equal(byKind.out.length, 2);
  const byPeer = capture();
  assert.equal(
    await main(["events", path, "--peer", "cdcd", "--kind", "router.dispatched"], byPeer.io),
    0,
  );
  assert.equal(byPeer.out.length, 1);
  const json = capture();
  assert.equal(await main(["events", path, "--json", "--kind", "trust.ignored"], json.io), 0);
  assert.equal(JSON.parse(json.out[0]!).data.event, "conflict");
  await Deno.remove(path);
});

Deno.test("web4 events reports malformed lines by number and exits 1, keeping the good ones", async () => {
  const path = await writeLog();
  await Deno.writeTextFile(path, "not json\n", { append: true });
  const { io, out, err } = capture();
  assert.equal(await main(["events", path], io), 1);
  assert.equal(out.length, 3);
  assert.deepEqual(err, [`${path}:4: not an event of contract v1.0`]);
  await Deno.remove(path);
});

Deno.test("web4 events --follow prints events appended later, until aborted", async () => {
  const path = await writeLog();
  const controller = new AbortController();
  const out: string[] = [];
  const done = main(["events", path, "--follow", "--kind", "late.*"], {
    out: (l) => {
      out.push(l);
      if (out.length === 1) controller.abort();
    },
    err: () => {},
    signal: controller.signal,
  });
  const sink = await JsonlFileSink.open(path);
  createTelemetry({ node: "bob", sinks: [sink] }).emit("late.arrival", { n: 1 });
  await sink.close();
  assert.equal(await done, 0);
  assert.match(out[0]!, /bob late\.arrival n=1/);
  await Deno.remove(path);
});

Deno.test("web4 gives one-line usage errors with exit code 2, and --help on every subcommand", async () => {
  const missing = capture();
  assert.equal(await main(["events"], missing.io), 2);
  assert.deepEqual(missing.err, ["error: expected exactly one FILE (see web4 events --help)"]);
  const badFlag = capture();
  assert.equal(await main(["events", "x", "--nope"], badFlag.io), 2);
  assert.equal(badFlag.err[0], "error: unknown flag --nope (see web4 events --help)");
  for (const name of ["info", "loopback", "events"]) {
    const help = capture();
    assert.equal(await main([name, "--help"], help.io), 0);
    assert.match(help.out[0]!, new RegExp(`^Usage: web4 ${name}`));
  }
  const nofile = capture();
  assert.equal(await main(["events", "/nonexistent/events.jsonl"], nofile.io), 1);
  assert.deepEqual(nofile.err, ["error: No such file: /nonexistent/events.jsonl"]);
});

Deno.test("web4 events reads an audit stream's file (web4 serve --audit) like an event log", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/audit.jsonl`;
  const audit = await AuditLog.open(path);
  const t = createTelemetry({
    node: "alice",
    sinks: [audit],
    now: () => Date.UTC(2026, 0, 1, 10, 0, 0),
    levelOf: () => "stranger",
  });
  t.emit("cip.handshake", { step: "verified" }, { peer: "ab".repeat(32) });
  t.emit("router.dispatched", { type: "HELLO" }, { peer: "ab".repeat(32) }); // not audited
  await audit.close();
  const { io, out, err } = capture();
  assert.equal(await main(["events", path], io), 0);
  assert.deepEqual(err, []);
  assert.deepEqual(out, ["10:00:00.000 alice cip.handshake peer=abababab step=verified"]);
  const json = capture();
  assert.equal(await main(["events", path, "--json"], json.io), 0);
  assert.equal(JSON.parse(json.out[0]!).kind, "cip.handshake");
  await Deno.remove(dir, { recursive: true });
});
