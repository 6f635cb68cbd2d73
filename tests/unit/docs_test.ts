/**
 * The documentation as a reader meets it (issue 19 item 7): every relative
 * link in README.md, CHANGELOG.md, cli/README.md, native/README.md, docs/ and
 * lib/<folder>/README.md points at a file that exists (and at a heading that
 * exists, for `#anchor` links), and every mermaid block is free of the
 * mistakes that stop a diagram from rendering.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

async function docFiles(): Promise<string[]> {
  const files = ["README.md", "CHANGELOG.md", "cli/README.md", "native/README.md"];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(new URL(dir, ROOT))) {
      const path = `${dir}${e.name}`;
      if (e.isDirectory) await walk(`${path}/`);
      else if (e.name.endsWith(".md")) files.push(path);
    }
  };
  await walk("docs/");
  for await (const e of Deno.readDir(new URL("lib/", ROOT))) {
    if (e.isDirectory) files.push(`lib/${e.name}/README.md`);
  }
  const present: string[] = [];
  for (const f of files) {
    try {
      await Deno.stat(new URL(f, ROOT));
      present.push(f);
    } catch { /* a folder without a README */ }
  }
  return present.sort();
}

/** The text outside fenced code blocks and inline code spans. */
function prose(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "").replace(/`[^`\n]*`/g, "");
}

/** GitHub's heading anchors of a markdown file (duplicates get -1, -2, ...). */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of prose(text).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = m[1]!
      .replace(/`/g, "")
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

Deno.test("every relative markdown link points at an existing file and heading", async () => {
  const broken: string[] = [];
  let checked = 0;
  const cache = new Map<string, Set<string>>();
  const headings = async (url: URL) => {
    const key = url.pathname;
    if (!cache.has(key)) cache.set(key, anchors(await Deno.readTextFile(url)));
    return cache.get(key)!;
  };
  for (const file of await docFiles()) {
    const base = new URL(file, ROOT);
    const text = prose(await Deno.readTextFile(base));
    const targets = [
      ...[...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
      ...[...text.matchAll(/^\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1]!),
    ];
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, ...
      checked++;
      const [path, anchor] = target.split("#") as [string, string | undefined];
      const url = path === "" ? base : new URL(decodeURIComponent(path), base);
      let stat: Deno.FileInfo;
      try {
        stat = await Deno.stat(url);
      } catch {
        broken.push(`${file}: ${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && anchor !== "" && stat.isFile && url.pathname.endsWith(".md")) {
        if (!(await headings(url)).has(decodeURIComponent(anchor).toLowerCase())) {
          broken.push(`${file}: ${target} (no such heading)`);
        }
      }
    }
  }
  assert.ok(checked > 20, `only ${checked} links found: the pattern is wrong`);
  assert.deepEqual(broken, []);
});

Deno.test("no doc cites a PROTOCOLS.md the repository lacks", async () => {
  const cites: string[] = [];
  for (const file of await docFiles()) {
    // History stays as written; protocols.md says how code comments cite it.
    if (file === "CHANGELOG.md" || file === "docs/protocols.md") continue;
    const text = await Deno.readTextFile(new URL(file, ROOT));
    for (const [i, line] of text.split("\n").entries()) {
      if (/PROTOCOLS\.md/.test(line)) cites.push(`${file}:${i + 1}`);
    }
  }
  assert.deepEqual(cites, []);
});

/** Every mermaid block of a markdown text, with its first line number. */
export function mermaidBlocks(text: string): { line: number; body: string[] }[] {
  const out: { line: number; body: string[] }[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```mermaid\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    while (i + 1 < lines.length && !/^```\s*$/.test(lines[i + 1]!)) i++;
    out.push({ line: start + 1, body: lines.slice(start, i + 1) });
    i++;
  }
  return out;
}

/**
 * The mistakes that stop a mermaid diagram from rendering, found without a
 * browser: a `;` outside quotes (it ends the statement, so the rest of a
 * message or label is parsed as a new statement), an unknown diagram type,
 * unbalanced sequence blocks (`alt`/`opt`/`loop`/`par`/`critical`/`break`/
 * `rect` ... `end`), a bare `end` as a flowchart node, unbalanced quotes or
 * brackets in a flowchart line.
 */
export function mermaidPitfalls(body: string[]): string[] {
  const problems: string[] = [];
  const lines = body.map((l) => l.replace(/%%.*$/, ""));
  const type = lines.find((l) => l.trim() !== "")?.trim().split(/\s+/)[0] ?? "";
  const known = [
    "sequenceDiagram",
    "flowchart",
    "graph",
    "stateDiagram-v2",
    "stateDiagram",
    "classDiagram",
    "erDiagram",
    "gantt",
    "pie",
    "gitGraph",
    "mindmap",
    "timeline",
  ];
  if (!known.includes(type)) problems.push(`unknown diagram type "${type}"`);
  let depth = 0;
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/#\d+;|#[a-z]+;/gi, ""); // entity codes (#59;) are the way to write ;
    const unquoted = line.replace(/"[^"]*"/g, '""');
    if (/;\s*\S/.test(unquoted)) {
      problems.push(`line ${i + 1}: ";" ends the statement inside its text: ${raw.trim()}`);
    }
    if ((line.match(/"/g)?.length ?? 0) % 2 !== 0) problems.push(`line ${i + 1}: unbalanced quote`);
    if (type === "sequenceDiagram") {
      const word = line.trim().split(/\s+/)[0];
      if (["alt", "opt", "loop", "par", "critical", "break", "rect"].includes(word ?? "")) depth++;
      if (word === "end") depth--;
      if (depth < 0) problems.push(`line ${i + 1}: "end" without a block`);
    }
    if (type === "flowchart" || type === "graph") {
      if (/(^|[\s>-])end(\s|$)/.test(unquoted.trim()) && !/^\s*end\s*$/.test(line)) {
        problems.push(`line ${i + 1}: a node named "end" breaks a flowchart`);
      }
    }
  }
  if (depth > 0) problems.push(`${depth} block(s) without "end"`);
  return problems;
}

Deno.test("mermaid checks catch the pitfalls they name", () => {
  assert.deepEqual(mermaidPitfalls(["sequenceDiagram", "  A->>B: hello"]), []);
  assert.equal(mermaidPitfalls(["sequenceDiagram", "  Note over A: check; then go"]).length, 1);
  assert.deepEqual(mermaidPitfalls(["sequenceDiagram", "  Note over A: check#59; then go"]), []);
  assert.deepEqual(mermaidPitfalls(["flowchart TD", '  A --> B["x; y"]']), []);
  assert.equal(mermaidPitfalls(["sequenceDiagram", "  alt x", "  A->>B: y"]).length, 1);
  assert.equal(mermaidPitfalls(["sequencediagram", "  A->>B: y"]).length, 1);
});

Deno.test("every mermaid diagram in the docs is free of rendering pitfalls", async () => {
  const problems: string[] = [];
  let blocks = 0;
  for (const file of await docFiles()) {
    const text = await Deno.readTextFile(new URL(file, ROOT));
    for (const block of mermaidBlocks(text)) {
      blocks++;
      for (const p of mermaidPitfalls(block.body)) problems.push(`${file}:${block.line}: ${p}`);
    }
  }
  assert.ok(blocks >= 4, `only ${blocks} mermaid blocks found`);
  assert.deepEqual(problems, []);
});
