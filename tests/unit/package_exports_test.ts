/**
 * The package's public face (DESIGN decision 20): the subpath exports of
 * `deno.json`, a narrow root, one place per name, and a module doc with a
 * runnable example on every entry. Read from `deno doc --json` over every
 * export target, as JSR reads them.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

interface DocLocation {
  filename: string;
  line: number;
}
interface DocSymbol {
  name: string;
  declarations: {
    kind: string;
    location: DocLocation;
    /** For `kind: "reference"`: a symbol another entry of the same run also exports. */
    def?: { target: DocLocation };
  }[];
}
interface DocNode {
  module_doc?: { doc?: string; tags?: { kind: string; doc?: string }[] };
  symbols: DocSymbol[];
}

const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
const exportsMap = config.exports as Record<string, string>;

/** Every `lib/` folder that has a `mod.ts`. */
const folders: string[] = [];
for await (const entry of Deno.readDir(new URL("lib/", ROOT))) {
  if (!entry.isDirectory) continue;
  try {
    await Deno.stat(new URL(`lib/${entry.name}/mod.ts`, ROOT));
    folders.push(entry.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
folders.sort();

/** `deno doc --json` over every export target, by subpath. */
async function docs(): Promise<Map<string, DocNode>> {
  const targets = Object.entries(exportsMap);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...targets.map(([, file]) => file)],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const nodes = JSON.parse(new TextDecoder().decode(out.stdout)).nodes as Record<string, DocNode>;
  return new Map(targets.map(([sub, file]) => [sub, nodes[new URL(file, ROOT).href]!]));
}
const bySubpath = await docs();

/**
 * Where a symbol is declared, and as what. Run over several entries at once,
 * `deno doc` documents a symbol under one of them and lists it as a
 * `reference` (to its declaration) under the others.
 */
const kindAt = new Map<string, string>();
const at = (l: DocLocation) => `${l.filename.slice(ROOT.href.length)}:${l.line}`;
for (const node of bySubpath.values()) {
  for (const s of node.symbols) {
    for (const d of s.declarations) if (d.kind !== "reference") kindAt.set(at(d.location), d.kind);
  }
}
const declarations = (s: DocSymbol) =>
  s.declarations.map((d) => {
    const where = at(d.def?.target ?? d.location);
    return { where, file: where.slice(0, where.lastIndexOf(":")), kind: kindAt.get(where) };
  });

Deno.test("deno.json exports the root and one subpath per lib/ folder, each pointing at that folder's mod.ts", () => {
  const expected: Record<string, string> = { ".": "./mod.ts" };
  for (const f of folders) expected[`./${f}`] = `./lib/${f}/mod.ts`;
  assert.deepEqual(exportsMap, expected);
  for (const sub of ["./envelope", "./transport", "./rtt", "./runtime", "./testing", "./agent"]) {
    assert.ok(sub in exportsMap, `${sub} is exported`);
  }
});

Deno.test("every entry has a module doc with an example that deno test --doc runs (none marked ignore)", () => {
  for (const [sub, node] of bySubpath) {
    const tags = node.module_doc?.tags ?? [];
    assert.ok(tags.some((t) => t.kind === "module"), `${sub} has a @module doc`);
    const examples = tags.filter((t) => t.kind === "example");
    assert.ok(examples.length > 0, `${sub}'s module doc has an example`);
    for (const e of examples) {
      assert.match(e.doc ?? "", /```ts\n/, `${sub}'s module example is a runnable ts block`);
      assert.doesNotMatch(e.doc ?? "", /```ts ignore/, `${sub}'s module example is not ignored`);
    }
  }
});

Deno.test("the root is narrow: at most 40 names, Agent first among its classes, the agent author's names in it, nothing declared in mod.ts itself", () => {
  const root = bySubpath.get(".")!;
  const names = root.symbols.map((s) => s.name);
  assert.ok(names.length <= 40, `the root exports ${names.length} names`);
  for (const name of ["Agent", "Identity", "HcpClient", "rtt", "Web4Error", "AgentError"]) {
    assert.ok(names.includes(name), `the root exports ${name}`);
  }
  // Generated docs (deno doc --html, JSR) list classes first, by name.
  const classes = root.symbols.filter((s) => declarations(s).some((d) => d.kind === "class"))
    .map((s) => s.name).sort();
  assert.equal(classes[0], "Agent");
  for (const s of root.symbols) {
    for (const d of declarations(s)) {
      assert.match(
        d.file,
        /^lib\//,
        `${s.name} is re-exported from lib/, not declared, by the root`,
      );
    }
  }
});

Deno.test("one name, one place: no declaration and no name is exported by two subpaths (the root and ./testing only re-export)", () => {
  // The agent's `Priority` is its own alias of the envelope's `Priority`
  // (lib/agent/intents.ts); it goes once the agent's types use the envelope's.
  const knownTwins = new Set(["Priority"]);
  const seen = new Map<string, string>();
  const names = new Map<string, string>();
  for (const [sub, node] of bySubpath) {
    if (sub === "." || sub === "./testing") continue;
    for (const s of node.symbols) {
      for (const { where } of declarations(s)) {
        const first = seen.get(where);
        assert.ok(first === undefined, `${s.name} (${where}) is exported by ${first} and ${sub}`);
        seen.set(where, sub);
      }
      const first = names.get(s.name);
      if (!knownTwins.has(s.name)) {
        assert.ok(first === undefined, `${s.name} is exported by ${first} and ${sub}`);
      }
      names.set(s.name, sub);
    }
  }
  for (const s of bySubpath.get("./testing")!.symbols) {
    for (const d of declarations(s)) {
      assert.ok(!d.file.startsWith("lib/testing/"), `${s.name} is a re-export`);
      assert.ok(seen.has(d.where), `${s.name} is also exported by the subpath it lives in`);
    }
  }
});

Deno.test("the transport contract has one place: ./rtt re-exports none of ./transport's names", () => {
  const contract = new Set(bySubpath.get("./transport")!.symbols.map((s) => s.name));
  const rtt = bySubpath.get("./rtt")!.symbols.map((s) => s.name);
  assert.deepEqual(rtt.filter((n) => contract.has(n)), []);
  assert.ok(
    !rtt.includes("RttMetrics") && !rtt.includes("RttStats"),
    "no aliases of the contract's stats",
  );
});
