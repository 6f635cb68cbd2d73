/**
 * DESIGN.md decision 18: time and chance are inputs. No file under lib/
 * reads the real clock, starts a real timer or draws real randomness except
 * the default implementations of the ports (lib/ports). Comments and doc
 * examples are stripped before the scan.
 */

import assert from "node:assert/strict";

/** The forbidden calls. */
const FORBIDDEN: readonly [string, RegExp][] = [
  ["Date.now", /\bDate\.now\b/],
  ["new Date()", /\bnew Date\(\s*\)/],
  ["performance.now", /\bperformance\.now\b/],
  ["setTimeout", /(?<![.\w])setTimeout\s*\(/],
  ["setInterval", /(?<![.\w])setInterval\s*\(/],
  ["clearTimeout", /(?<![.\w])clearTimeout\s*\(/],
  ["clearInterval", /(?<![.\w])clearInterval\s*\(/],
  ["crypto.getRandomValues", /\bgetRandomValues\b/],
  ["crypto.randomUUID", /\brandomUUID\b/],
  ["Math.random", /\bMath\.random\b/],
  ["key generation", /\bgenerateKey\b/],
  ["Deno.refTimer / unrefTimer", /\bDeno\.(un)?refTimer\b/],
];

/**
 * The allow-list: file -> the calls it may make. Only the default
 * implementations of the ports.
 */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  // systemClock: the real wall clock, monotonic clock and timers.
  "lib/ports/clock.ts": [
    "Date.now",
    "performance.now",
    "setTimeout",
    "setInterval",
    "clearTimeout",
    "Deno.refTimer / unrefTimer",
  ],
  // systemRandom: the system's cryptographic random source.
  "lib/ports/random.ts": ["crypto.getRandomValues"],
  // SimClock and NodeClock implement the Clock port: these are its method declarations
  // (setTimeout/setInterval of the virtual clock), not calls of the real timers.
  "lib/sim/clock.ts": ["setTimeout", "setInterval"],
};

/** The code of a TypeScript file without comments (JSDoc examples included) and string contents. */
function stripComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!, d = text[i + 1];
    if (c === "/" && d === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && d === "*") {
      const end = text.indexOf("*/", i + 2);
      const comment = text.slice(i, end < 0 ? text.length : end + 2);
      out += comment.replace(/[^\n]/g, " ");
      i += comment.length;
    } else if (c === "`") {
      // A template literal: its text is blanked, its `${...}` expressions are code.
      out += c;
      i++;
      while (i < text.length && text[i] !== "`") {
        if (text[i] === "\\") {
          out += "  ";
          i += 2;
        } else if (text[i] === "$" && text[i + 1] === "{") {
          let depth = 1;
          out += "${";
          i += 2;
          while (i < text.length && depth > 0) {
            if (text[i] === "{") depth++;
            else if (text[i] === "}") depth--;
            out += text[i];
            i++;
          }
        } else {
          out += text[i] === "\n" ? "\n" : " ";
          i++;
        }
      }
      out += "`";
      i++;
    } else if (c === '"' || c === "'") {
      out += c;
      i++;
      while (i < text.length && text[i] !== c && text[i] !== "\n") {
        if (text[i] === "\\") i++;
        i++;
      }
      out += c;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* tsFiles(path);
    else if (entry.isFile && path.endsWith(".ts")) yield path;
  }
}

Deno.test("lib/ reads no real clock, timer or randomness outside the ports' defaults", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const found: string[] = [];
  let files = 0;
  for await (const path of tsFiles(`${root}lib`)) {
    files++;
    const rel = path.slice(root.length);
    const code = stripComments(await Deno.readTextFile(path));
    const lines = code.split("\n");
    for (const [name, pattern] of FORBIDDEN) {
      if (ALLOWED[rel]?.includes(name)) continue;
      lines.forEach((line, n) => {
        if (pattern.test(line)) found.push(`${rel}:${n + 1}: ${name}: ${line.trim()}`);
      });
    }
  }
  assert.ok(files > 50, `scanned ${files} files`);
  assert.deepEqual(found, [], `direct clock/timer/random use in lib/:\n${found.join("\n")}`);
});

Deno.test("the scan strips comments and doc examples but sees code", () => {
  const code = stripComments(
    '/** ```ts\n Date.now()\n``` */\nconst a = "// x"; // setTimeout(f)\nDate.now();\n' +
      "const t = `/* ${Date.now()} */`;\nconst u = `setTimeout(`;",
  );
  assert.ok(!/setTimeout/.test(code));
  assert.equal(code.split("\n").filter((l) => /Date\.now/.test(l)).length, 2);
});
