import assert from "node:assert/strict";
import { NativeLibraryError, Web4Error } from "../../mod.ts";

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
