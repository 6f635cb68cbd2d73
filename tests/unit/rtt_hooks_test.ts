import assert from "node:assert/strict";
import { HookDispatcher, type SessionHookEvent, SessionHooks } from "../../lib/transport/hooks.ts";

function setup(
  open: SessionHookEvent | undefined = { sessionId: "s", resumed: false, reconnects: 0 },
) {
  const errors: unknown[] = [];
  const dispatcher = new HookDispatcher((e) => errors.push(e));
  let current: SessionHookEvent | undefined = open;
  const hooks = new SessionHooks(dispatcher, () => current);
  return { hooks, dispatcher, errors, setOpen: (e: SessionHookEvent | undefined) => current = e };
}

Deno.test("SessionHooks calls an open-hook registered on an open session at once", () => {
  const { hooks } = setup();
  const seen: SessionHookEvent[] = [];
  hooks.on("session_open", (e) => seen.push(e));
  assert.deepEqual(seen, [{ sessionId: "s", resumed: false, reconnects: 0 }]);
});

Deno.test("SessionHooks does not call an open-hook registered on a closed session", () => {
  const { hooks, setOpen } = setup();
  setOpen(undefined);
  let called = false;
  hooks.on("session_open", () => called = true);
  assert.equal(called, false);
});

Deno.test("SessionHooks: the returned function and off() unregister; clear() removes all", () => {
  const { hooks } = setup();
  const seen: string[] = [];
  const a = (e: SessionHookEvent) => seen.push(`a:${e.reason}`);
  const b = (e: SessionHookEvent) => seen.push(`b:${e.reason}`);
  const offA = hooks.on("session_close", a);
  hooks.on("session_close", b);
  hooks.on("session_close", b); // same function twice: one registration
  hooks.emit("session_close", { sessionId: "s", reason: "one" });
  offA();
  offA();
  hooks.emit("session_close", { sessionId: "s", reason: "two" });
  hooks.off("session_close", b);
  hooks.emit("session_close", { sessionId: "s", reason: "three" });
  hooks.on("heartbeat_timeout", a);
  hooks.clear();
  hooks.emit("heartbeat_timeout", { sessionId: "s", reason: "four" });
  assert.deepEqual(seen, ["a:one", "b:one", "b:two"]);
  assert.equal(hooks.count("session_close"), 0);
});

Deno.test("SessionHooks queues events raised from inside a hook instead of recursing", () => {
  const { hooks } = setup();
  const log: string[] = [];
  let depth = 0;
  hooks.on("heartbeat_timeout", () => {
    depth++;
    log.push(`hb start depth=${depth}`);
    hooks.emit("connection_lost", { sessionId: "s", reason: "heartbeat_timeout" });
    hooks.emit("session_close", { sessionId: "s", reason: "heartbeat_timeout" });
    log.push(`hb end depth=${depth}`);
    depth--;
  });
  hooks.on("connection_lost", () => log.push(`lost depth=${depth}`));
  hooks.on("session_close", () => {
    log.push(`close depth=${depth}`);
    hooks.emit("session_close", { sessionId: "s", reason: "again" }); // would loop if recursive
    hooks.clear();
  });
  hooks.emit("heartbeat_timeout", { sessionId: "s" });
  assert.deepEqual(log, [
    "hb start depth=1",
    "hb end depth=1",
    "lost depth=0",
    "close depth=0",
  ]);
});

Deno.test("SessionHooks keep the deterministic order heartbeat_timeout -> connection_lost -> session_open", () => {
  const { hooks, setOpen } = setup();
  const log: string[] = [];
  hooks.on("heartbeat_timeout", () => log.push("heartbeat_timeout"));
  hooks.on("connection_lost", () => log.push("connection_lost"));
  setOpen(undefined);
  hooks.on("session_open", (e) => log.push(`session_open resumed=${e.resumed}`));
  hooks.emit("heartbeat_timeout", { sessionId: "s" });
  hooks.emit("connection_lost", { sessionId: "s" });
  hooks.emit("session_open", { sessionId: "s", resumed: true, reconnects: 1 });
  assert.deepEqual(log, ["heartbeat_timeout", "connection_lost", "session_open resumed=true"]);
});

Deno.test("A throwing hook is reported and the following hooks still run", () => {
  const { hooks, errors } = setup();
  const log: string[] = [];
  hooks.on("session_close", () => {
    throw new Error("first");
  });
  hooks.on("session_close", () => log.push("second"));
  hooks.emit("session_close", { sessionId: "s", reason: "manual" });
  hooks.emit("session_close", { sessionId: "s", reason: "manual" });
  assert.deepEqual(log, ["second", "second"]);
  assert.equal(errors.length, 2);
  assert.equal((errors[0] as Error).message, "first");
});

Deno.test("A hook unregistered by an earlier hook of the same event is not called", () => {
  const { hooks } = setup();
  const log: string[] = [];
  const second = () => log.push("second");
  hooks.on("session_close", () => {
    log.push("first");
    hooks.off("session_close", second);
  });
  hooks.on("session_close", second);
  hooks.emit("session_close", { sessionId: "s" });
  assert.deepEqual(log, ["first"]);
});

Deno.test("Each hook gets its own copy of the event", () => {
  const { hooks } = setup();
  const seen: SessionHookEvent[] = [];
  hooks.on("session_close", (e) => {
    e.reason = "mutated";
  });
  hooks.on("session_close", (e) => seen.push(e));
  hooks.emit("session_close", { sessionId: "s", reason: "manual" });
  assert.equal(seen[0]?.reason, "manual");
});

Deno.test("SessionHooks.on refuses a non-function", () => {
  const { hooks } = setup();
  assert.throws(() => hooks.on("session_open", 5 as unknown as () => void), TypeError);
});
