/**
 * Request bodies read within a bound, for the CLI's HTTP doors (the console,
 * the A2A gateway, the control endpoint): a larger body, announced by `Content-Length` or
 * streamed, is refused before more of it is read.
 *
 * @module
 */

import { Web4Error } from "../lib/errors/mod.ts";

/** A request body larger than its bound (the doors answer 413); code `BODY_TOO_LARGE`. */
export class BodyTooLargeError extends Web4Error<"BODY_TOO_LARGE"> {
  /**
   * @param max The bound, in bytes.
   */
  constructor(max: number) {
    super("BODY_TOO_LARGE", `Request body larger than ${max} bytes`);
  }
}

/**
 * Reads a request body, at most `max` bytes.
 *
 * @param req The request.
 * @param max The largest body accepted, in bytes.
 * @returns The body.
 * @throws {BodyTooLargeError} When the body is announced or streamed larger.
 *
 * @example
 * ```ts
 * import { readBody } from "./http_body.ts";
 * import assert from "node:assert/strict";
 *
 * const req = new Request("http://localhost/", { method: "POST", body: "hello" });
 * assert.equal(new TextDecoder().decode(await readBody(req, 16)), "hello");
 * ```
 */
export async function readBody(req: Request, max: number): Promise<Uint8Array> {
  const announced = Number(req.headers.get("content-length") ?? "0");
  if (announced > max) throw new BodyTooLargeError(max);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body !== null) {
    for await (const chunk of req.body) {
      size += chunk.byteLength;
      if (size > max) throw new BodyTooLargeError(max);
      chunks.push(chunk);
    }
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
