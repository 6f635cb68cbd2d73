/**
 * Permission-scoped networking: the transport's sockets are Deno's own
 * (`--allow-net` applies to them), and it asks Deno's permission system
 * before every listen and connect, so a host the process was not granted is
 * refused with an error naming it, before any socket exists.
 *
 * @module
 */

/**
 * Throws unless the process holds `net` permission for `hostname` (and
 * `port`, when given). Never prompts.
 *
 * @param hostname The host about to be listened on or connected to.
 * @param port The port, when known.
 * @throws {Deno.errors.NotCapable} When the permission is not granted.
 * @throws {TypeError} When `hostname` is empty.
 *
 * @example A granted host passes; an ungranted one is refused before any socket
 * ```ts
 * import { assertNetPermission } from "./permissions.ts";
 * import assert from "node:assert/strict";
 *
 * await assertNetPermission("127.0.0.1", 4433); // the tests run with --allow-net=127.0.0.1
 * await assert.rejects(assertNetPermission("192.0.2.1", 4433), Deno.errors.NotCapable);
 * ```
 */
export async function assertNetPermission(hostname: string, port?: number): Promise<void> {
  if (typeof hostname !== "string" || hostname.length === 0) {
    throw new TypeError(`Hostname must be a non-empty string, got ${JSON.stringify(hostname)}`);
  }
  const bare = hostname.startsWith("[") && hostname.endsWith("]")
    ? hostname.slice(1, -1)
    : hostname;
  const host = port === undefined
    ? (bare.includes(":") ? `[${bare}]` : bare)
    : `${bare.includes(":") ? `[${bare}]` : bare}:${port}`;
  const status = await Deno.permissions.query({ name: "net", host });
  if (status.state !== "granted") {
    throw new Deno.errors.NotCapable(
      `Requires net access to "${host}", run again with the --allow-net flag ` +
        `(web4-runtime checks before Deno opens the socket, so the error names the host)`,
    );
  }
}
