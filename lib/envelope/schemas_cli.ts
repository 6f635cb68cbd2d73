/**
 * `deno task schemas`: writes `docs/schemas/{cip,hcp,lip}.schema.json` and
 * `docs/schemas/limits.md` from the zod schemas. A unit test fails when the
 * committed files are stale.
 *
 * @module
 */

import { LIMITS_FILE, renderJsonSchemas, renderLimitsDoc, SCHEMA_FILES } from "./json_schema.ts";

if (import.meta.main) {
  const dir = new URL("../../docs/schemas/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  const texts = renderJsonSchemas();
  for (const protocol of ["cip", "hcp", "lip"] as const) {
    const file = new URL(SCHEMA_FILES[protocol], dir);
    await Deno.writeTextFile(file, texts[protocol]);
    console.log(`wrote ${file.pathname}`);
  }
  const limits = new URL(LIMITS_FILE, dir);
  await Deno.writeTextFile(limits, renderLimitsDoc());
  console.log(`wrote ${limits.pathname}`);
}
