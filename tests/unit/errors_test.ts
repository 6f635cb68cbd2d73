import assert from "node:assert/strict";
import { Web4Error, type Web4ErrorOptions } from "../../lib/errors/mod.ts";
import { NativeLibraryError } from "../../lib/rtt/native.ts";
import { RTTDisconnectedError } from "../../lib/transport/errors.ts";

Deno.test("Web4Error carries its code, name and cause", () => {
  const cause = new Error("inner");
  const err = new Web4Error("SOME_CODE", "Outer failed for peer abc", { cause });
  assert.equal(err.code, "SOME_CODE");
  assert.equal(err.name, "Web4Error");
  assert.equal(err.message, "Outer failed for peer abc");
  assert.equal(err.cause, cause);
});

Deno.test("Web4Error subclasses report their own name and stay catchable as Web4Error", () => {
  const err = new NativeLibraryError("NATIVE_LIBRARY_NOT_FOUND", "Missing", "/x.so");
  assert.ok(err instanceof Web4Error);
  assert.equal(err.name, "NativeLibraryError");
  assert.equal(err.path, "/x.so");
  assert.equal("cause" in err, false);
});

Deno.test("Web4Error makes a family's options its fields, never replacing code, name, message or cause", () => {
  interface LinkOptions extends Web4ErrorOptions {
    peer?: string | undefined;
    attempts?: number;
  }
  class LinkError extends Web4Error<"DOWN", LinkOptions> {
    declare readonly peer: string | undefined;
    declare readonly attempts: number | undefined;
  }
  const cause = new Error("reset");
  const err = new LinkError("DOWN", "Link to abc is down", { peer: "abc", attempts: 3, cause });
  assert.equal(err.peer, "abc");
  assert.equal(err.attempts, 3);
  assert.equal(err.cause, cause);
  assert.equal(Object.hasOwn(err, "peer"), true);
  const sneaky = { peer: "abc", code: "UP", name: "Other", message: "Replaced", stack: "none" };
  const kept = new LinkError("DOWN", "Link to abc is down", sneaky);
  assert.equal(kept.code, "DOWN");
  assert.equal(kept.name, "LinkError");
  assert.equal(kept.message, "Link to abc is down");
  assert.notEqual(kept.stack, "none");
  assert.equal(kept.peer, "abc");
  assert.equal(
    "cause" in new LinkError("DOWN", "Link to abc is down", { cause: undefined }),
    false,
  );
});

Deno.test("RTTDisconnectedError counts no undelivered message unless told, and keeps its data", () => {
  const err = new RTTDisconnectedError("SESSION_CLOSED", "Session with abc closed", {
    peer: "abc",
    reason: "manual",
  });
  assert.equal(err.undelivered, 0);
  assert.equal(err.peer, "abc");
  assert.equal(err.reason, "manual");
  assert.equal(err.channel, undefined);
  assert.equal(
    new RTTDisconnectedError("CHANNEL_CLOSED", "Closed", { undelivered: 4 }).undelivered,
    4,
  );
});
