import assert from "node:assert/strict";

Deno.test("deno task compile builds web4 and web4demo with the library beside them, or says clearly it is skipped", async () => {
  const root = new URL("../../", import.meta.url);
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      new URL("cli/compile.ts", root).pathname,
    ],
    cwd: root.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout);
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  if (/^compile skipped: /m.test(out)) {
    assert.match(out, /denort\) cannot be downloaded/);
    return;
  }
  assert.match(out, /built dist\/web4\n/);
  const info = await new Deno.Command(new URL("dist/web4", root).pathname, {
    args: ["info", "--json"],
    env: { WEB4_RTT_LIB: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(info.code, 0, new TextDecoder().decode(info.stderr));
  assert.match(JSON.parse(new TextDecoder().decode(info.stdout)).native.path, /dist\//);
});
