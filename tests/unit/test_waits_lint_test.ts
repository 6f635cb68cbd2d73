// Tests never sleep and then assert: they wait for the asserted event (an
// awaited promise, a typed event, a bounded `waitFor` on a condition). This
// test finds every timer and sleep under tests/ and fails on any that is not
// on the allow-list below, each with its reason; an entry that no longer
// matches anything fails too, so the list cannot go stale.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const SELF = "unit/test_waits_lint_test.ts";

/** A timer or sleep: `setTimeout(`, `setInterval(`, a bare `sleep(`/`delay(`, Python's `time.sleep(`, `quietWindow(`. */
const PATTERNS: readonly RegExp[] = [
  /\bset(?:Timeout|Interval)\s*\(/,
  /(?:^|[^.\w])(?:sleep|delay)\s*\(/,
  /\btime\.sleep\s*\(/,
  /\bquietWindow\s*\(/,
];

interface Allowed {
  /** Path under tests/. */
  file: string;
  /** A piece of the flagged line. */
  line: string;
  /** Why this wait is legitimate. */
  reason: string;
  /** Set where timing is the subject: the virtual-clock twin it should get (issue 18). */
  twin?: string;
}

const ALLOWED: readonly Allowed[] = [
  // Virtual time: a zero-delay macrotask lets the I/O due timers started run, then time moves on.
  {
    file: "unit/ports_agent_test.ts",
    line: "await new Promise((r) => setTimeout(r, 0));",
    reason: "one event-loop turn per virtual step of a ManualClock, never a wait on wall time",
  },
  {
    file: "helpers/virtual_time.ts",
    line: "await new Promise((r) => setTimeout(r, 1));",
    reason: "VirtualTime.flow(): while work waits on other threads (WebCrypto), one real ms " +
      "passes per virtual ms, so virtual time never runs ahead of it; asserts nothing",
  },
  {
    file: "unit/virtual_time_rtt_test.ts",
    line: "clock.setTimeout(() => {",
    reason: "a ManualClock's timer (a recording wrapper of the virtual clock), never wall time",
  },
  {
    file: "unit/virtual_time_rtt_test.ts",
    line: "setInterval: (fn, ms) => clock.setInterval(fn, ms),",
    reason: "a ManualClock's interval (a recording wrapper of the virtual clock), never wall time",
  },
  // The ports lint's own samples of what it must catch.
  {
    file: "unit/ports_lint_test.ts",
    line: "// setTimeout(f)",
    reason: "a sample source text the ports lint must flag, not a timer",
  },
  {
    file: "unit/ports_lint_test.ts",
    line: "const u = `setTimeout(`;",
    reason: "a sample source text the ports lint must flag, not a timer",
  },
  // The waiting helpers themselves.
  {
    file: "helpers/wait.ts",
    line: "timer = setTimeout(() => reject(",
    reason: "within(): the deadline of an awaited promise",
  },
  {
    file: "helpers/wait.ts",
    line: "setTimeout(r, o.everyMs ?? 10)",
    reason: "waitFor(): the interval of a bounded wait on a condition",
  },
  {
    file: "helpers/wait.ts",
    line: "quietWindow(ms: number",
    reason: "quietWindow(): the one helper for absence windows (its calls are listed below)",
  },
  {
    file: "helpers/wait.ts",
    line: "setTimeout(r, ms)",
    reason: "quietWindow(): the window itself",
  },
  {
    file: "helpers/fault_proxy.ts",
    line: "this.#stallTimer = setTimeout(() => this.resume(), ms)",
    reason: "the fault itself: stall(ms) resumes by itself after ms",
  },
  {
    file: "helpers/fault_proxy.ts",
    line: "timer = setTimeout(resolve, left)",
    reason: "waitForAccepted(): the deadline of an event wait (woken by each accept)",
  },
  {
    file: "helpers/pty_answer.py",
    line: "time.sleep(0.2)",
    reason: "answers a permission prompt in a terminal; asserts nothing",
  },
  // Deadlines of event waits written inline.
  {
    file: "integration/attack_audit_test.ts",
    line: "const timer = setTimeout(() => {",
    reason: "seen(): the deadline of a wait woken by each afterCycle event",
  },
  {
    file: "unit/mesh_memory_test.ts",
    line: "const timer = setTimeout(() => {",
    reason: "seen(): the deadline of a wait woken by each mesh event",
  },
  // Timing is the subject.
  {
    file: "integration/rtt_lifecycle_test.ts",
    line: "const t = setTimeout(() => ac.abort(), 400);",
    reason: "in a child process: an unref'd timer aborts accept(); the subject is that only " +
      "the pending accept keeps the process alive",
  },
  {
    file: "integration/rtt_gc_test.ts",
    line: "await new Promise((r) => setTimeout(r, 5));",
    reason: "in a child process: a macrotask after gc() so FinalizationRegistry callbacks can " +
      "run between sends (the subject: they must not free a node in use)",
  },
  {
    file: "unit/observability_metrics_test.ts",
    line: "await new Promise((r) => setTimeout(r, 30000));",
    reason: "in a child process: keeps it alive while the parent awaits its OTLP export",
  },
  // Absence windows: something must NOT happen.
  {
    file: "integration/rtt_resume_test.ts",
    line: 'quietWindow(300, "a resumption after the final close")',
    reason: "no resumption may follow a session_close when resumption is off; no event " +
      "announces 'no reconnect will be tried'",
    twin: "tests/unit/virtual_time_rtt_test.ts: 'No resumption after a final close (virtual)' " +
      "(an hour of virtual time, no event, no timer left)",
  },
  {
    file: "unit/fault_proxy_test.ts",
    line: 'quietWindow(200, "bytes through a stalled proxy")',
    reason: "a stalled proxy forwards nothing; the proxy reads no byte, so no event can say so",
  },
];

async function* walk(dir: URL, prefix = ""): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const rel = prefix + entry.name;
    if (entry.isDirectory) yield* walk(new URL(`${entry.name}/`, dir), `${rel}/`);
    else if (/\.(ts|py)$/.test(entry.name)) yield rel;
  }
}

/** Every timer or sleep under tests/ as `file`, line number and text (comments skipped). */
async function findWaits(): Promise<{ file: string; n: number; text: string }[]> {
  const hits: { file: string; n: number; text: string }[] = [];
  for await (const file of walk(ROOT)) {
    if (file === SELF || file.startsWith("fixtures/")) continue;
    const lines = (await Deno.readTextFile(new URL(file, ROOT))).split("\n");
    lines.forEach((text, i) => {
      const code = text.trim();
      const comment = file.endsWith(".py") ? code.startsWith("#") : /^(\/\/|\*|\/\*)/.test(code);
      if (comment) return;
      if (PATTERNS.some((p) => p.test(code))) hits.push({ file, n: i + 1, text: code });
    });
  }
  return hits;
}

Deno.test("No test sleeps and then asserts: every timer under tests/ is on the allow-list with a reason", async () => {
  const hits = await findWaits();
  const unlisted = hits.filter((h) =>
    !ALLOWED.some((a) => a.file === h.file && h.text.includes(a.line))
  );
  assert.deepEqual(
    unlisted.map((h) => `tests/${h.file}:${h.n}: ${h.text}`),
    [],
    "wait for the asserted event instead (tests/helpers/wait.ts: within, waitFor; or a " +
      "promise on the event), or add the line to ALLOWED in tests/unit/test_waits_lint_test.ts " +
      "with the reason it must wait",
  );
  const stale = ALLOWED.filter((a) =>
    !hits.some((h) => h.file === a.file && h.text.includes(a.line))
  );
  assert.deepEqual(stale, [], "allow-list entries that match no line any more");
  for (const a of ALLOWED) assert.ok(a.reason.length > 10, `a reason for ${a.file}`);
});

Deno.test("The wait lint catches the patterns it is meant to catch", () => {
  const flagged = (line: string) => PATTERNS.some((p) => p.test(line));
  for (
    const bad of [
      "await new Promise((r) => setTimeout(r, 100));",
      "const t = setInterval(poll, 5);",
      "await sleep(50);",
      "await delay(20);",
      "time.sleep(0.1)",
    ]
  ) assert.ok(flagged(bad), bad);
  for (
    const fine of [
      "n.network.delay(n.server, n.client, 20);",
      "await waitFor('x', () => done);",
      "clearTimeout(timer);",
    ]
  ) assert.ok(!flagged(fine), fine);
});
