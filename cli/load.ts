/**
 * `serve --load auto|N|off`: where a served agent's load index comes from.
 *
 * @module
 */

import { FixedLoadSource, type LoadSource, ownLoadSource } from "../lib/agent/mod.ts";
import { UsageError } from "./command.ts";

/**
 * Parses `--load`: `auto` (the default) is the agent's own pressure (its
 * inbound queue bytes and event-loop lag, `ownLoadSource`), never the host's
 * load average; `N` (0..100) fixes the load index at N; `off` is 0.
 *
 * @param text The flag's value, or `undefined` for the default.
 * @returns The load source.
 * @throws {UsageError} For any other value.
 *
 * @example
 * ```ts
 * import { parseLoadFlag } from "./load.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseLoadFlag("40").read().cpu, 0.4);
 * assert.equal(parseLoadFlag("off").read().cpu, 0);
 * assert.throws(() => parseLoadFlag("101"));
 * ```
 */
export function parseLoadFlag(text: string | undefined): LoadSource {
  if (text === undefined || text === "auto") return ownLoadSource();
  if (text === "off") return new FixedLoadSource();
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 100) {
    throw new UsageError(`--load must be auto, off or an integer from 0 to 100, got "${text}"`);
  }
  return new FixedLoadSource({ cpu: n / 100 });
}
