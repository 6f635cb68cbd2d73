/**
 * The event contract v1.0: closed, documented, exported, and matching what
 * the code emits.
 */
import assert from "node:assert/strict";
import {
  checkEvent,
  EVENT_DESCRIPTIONS,
  EVENT_KINDS,
  eventContractJsonSchema,
  isContractKind,
} from "../../lib/observability/mod.ts";

const ROOT = new URL("../../", import.meta.url);
const examples = JSON.parse(
  await Deno.readTextFile(new URL("docs/schemas/event-v1.examples.json", ROOT)),
) as Record<string, Record<string, unknown>>;

Deno.test("Event contract: every kind has a description and a valid example; every example is of its kind", () => {
  assert.deepEqual(Object.keys(examples).sort(), [...EVENT_KINDS]);
  for (const kind of EVENT_KINDS) {
    assert.ok(EVENT_DESCRIPTIONS[kind].length > 10, kind);
    assert.equal(examples[kind]!.kind, kind);
    assert.equal(checkEvent(examples[kind]), null, kind);
  }
});

Deno.test("Event contract is closed: an unknown kind, an extra data field, a wrong type or a missing field are refused", () => {
  const good = examples["rtt.session_close"]!;
  assert.equal(checkEvent(good), null);
  assert.match(checkEvent({ ...good, kind: "rtt.whatever" })!.message, /Unknown event kind/);
  assert.match(checkEvent({ ...good, data: { reason: "manual", extra: 1 } })!.message, /data/);
  assert.match(checkEvent({ ...good, data: { reason: 3 } })!.message, /data\.reason/);
  assert.match(checkEvent({ ...good, data: {} })!.message, /data\.reason/);
  assert.match(checkEvent({ ...good, v: "2.0" })!.message, /^v:/);
  assert.match(checkEvent({ ...good, peer: "not-a-fingerprint" })!.message, /^peer:/);
});

Deno.test("Event contract docs: docs/event-contract-v1.md lists every kind with an example that validates", async () => {
  const doc = await Deno.readTextFile(new URL("docs/event-contract-v1.md", ROOT));
  for (const kind of EVENT_KINDS) assert.ok(doc.includes(`#### \`${kind}\``), kind);
  const headings = [...doc.matchAll(/^#### `([a-z0-9_.]+)`$/gm)].map((m) => m[1]);
  assert.deepEqual(headings, [...EVENT_KINDS]);
  const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!));
  assert.equal(blocks.length, EVENT_KINDS.length);
  for (const b of blocks) assert.equal(checkEvent(b), null, b.kind);
});

Deno.test("Event contract JSON Schema: docs/schemas/event-v1.schema.json is the export of the zod schemas", async () => {
  const file = JSON.parse(
    await Deno.readTextFile(new URL("docs/schemas/event-v1.schema.json", ROOT)),
  );
  assert.deepEqual(file, JSON.parse(JSON.stringify(eventContractJsonSchema())));
  assert.equal((file.oneOf as unknown[]).length, EVENT_KINDS.length);
});

Deno.test("Event contract covers every kind the code emits (a scan of lib/ and cli/ for emitted kinds)", async () => {
  const emitted = new Set<string>();
  const storeChanges = new Set<string>();
  const types = await Deno.readTextFile(new URL("lib/store/types.ts", ROOT));
  for (const m of types.matchAll(/kind: "([a-z_]+\.[a-z_]+)"/g)) storeChanges.add(m[1]!);
  async function scan(dir: URL) {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) {
        if (entry.name !== "dist") await scan(url); // cli/console/dist: the bundled page
      } else if (entry.name.endsWith(".ts") && !entry.name.endsWith("contract.ts")) {
        const text = await Deno.readTextFile(url);
        const patterns = [
          /(?:emit|event)\(\s*"([a-z]+\.[a-z_]+)"/g,
          /kind: "([a-z]+\.[a-z_]+)"/g,
          /#emit\(\s*"([a-z]+\.[a-z_]+)"/g,
          /\? "((?:trust)\.[a-z_]+)" : "((?:trust)\.[a-z_]+)"/g,
        ];
        for (const p of patterns) {
          for (const m of text.matchAll(p)) {
            for (const k of m.slice(1)) if (k !== undefined && !storeChanges.has(k)) emitted.add(k);
          }
        }
      }
    }
  }
  await scan(new URL("lib/", ROOT));
  await scan(new URL("cli/", ROOT));
  // HCP person notes are emitted as `hcp.${note.kind}`.
  const notes = await Deno.readTextFile(new URL("lib/hcp/human_state.ts", ROOT));
  for (const m of notes.matchAll(/readonly kind: "([a-z_]+)"/g)) emitted.add(`hcp.${m[1]}`);
  // `test.*` kinds appear only in JSDoc examples of the telemetry port.
  const missing = [...emitted].filter((k) => !k.startsWith("test.") && !isContractKind(k)).sort();
  assert.deepEqual(missing, []);
  assert.ok(emitted.size >= 50, `found ${emitted.size} emitted kinds`);
});
