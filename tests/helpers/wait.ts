/**
 * Test helpers for waiting on what a test asserts, never for a fixed time:
 * a deadline on a promise ({@linkcode within}), a bounded wait on a
 * condition ({@linkcode waitFor}), and the one explicit exception, an
 * absence window ({@linkcode quietWindow}) for "this must not happen".
 *
 * Timers in tests/ are checked by `tests/unit/test_waits_lint_test.ts`: a new
 * `setTimeout` / `setInterval` / sleep outside these helpers fails the suite
 * unless it is added to that test's allow-list with a reason.
 *
 * @module
 */

/**
 * Awaits `p`, failing (instead of hanging the suite) when it does not settle
 * within `ms`. A liveness bound, not a timing assertion.
 *
 * @param ms Milliseconds to wait at most.
 * @param what What is awaited, for the error message.
 * @param p The promise.
 * @returns What `p` resolves to.
 * @throws {Error} `Timed out after <ms> ms: <what>` when `p` is late.
 */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Options of {@linkcode waitFor}. */
export interface WaitForOptions {
  /** Milliseconds to wait at most. @default {10000} */
  timeoutMs?: number;
  /** Milliseconds between two checks. @default {10} */
  everyMs?: number;
  /** Describes the state seen at the deadline, appended to the error message. */
  detail?: () => string;
}

/**
 * Checks `cond` until it holds, failing when it still does not after the
 * deadline. For state that settles asynchronously and announces itself by no
 * event a test can await (counters, files written by a child process); a
 * liveness bound, not a timing assertion. Prefer awaiting the event itself
 * when the code under test emits one.
 *
 * @param what What is awaited, for the error message.
 * @param cond The condition (may be async, e.g. reading a file).
 * @param options Deadline (a number is `timeoutMs`), check interval, detail.
 * @throws {Error} `Timed out after <ms> ms waiting for <what>` at the deadline.
 */
export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  options: number | WaitForOptions = {},
): Promise<void> {
  const o = typeof options === "number" ? { timeoutMs: options } : options;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) {
      const detail = o.detail === undefined ? "" : ` (${o.detail()})`;
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, o.everyMs ?? 10));
  }
}

/**
 * Lets `ms` pass so that something which must NOT happen would have had the
 * chance to (a resumption after a final close, bytes through a stalled path).
 * The only fixed wait allowed in tests, and only for absence: every call is
 * listed with its reason in the allow-list of
 * `tests/unit/test_waits_lint_test.ts`, and each is a candidate for a
 * virtual-clock twin where the window is exact.
 *
 * @param ms Length of the window.
 * @param mustNot What must not happen meanwhile (documents the call site).
 */
export async function quietWindow(ms: number, mustNot: string): Promise<void> {
  if (mustNot === "") throw new TypeError("quietWindow needs the reason it waits");
  await new Promise((r) => setTimeout(r, ms));
}
