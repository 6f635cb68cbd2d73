/**
 * The CLI's side of the control endpoint: finds a running `web4 serve`
 * through its well-known folder and asks it over the Unix socket with the
 * operator token.
 *
 * @module
 */

import { Web4Error } from "../../lib/errors/mod.ts";
import { CONTROL_SOCKET, CONTROL_TOKEN } from "./paths.ts";

/** Why the control endpoint refused a request. */
export type ControlErrorCode =
  | "UNAUTHORIZED"
  | "BAD_REQUEST"
  | "NOT_CONNECTED"
  | "UNREACHABLE"
  | "SEND_FAILED"
  | "NOT_FOUND"
  | "INTERNAL"
  | "BAD_ANSWER";

const _CODES = new Set<string>([
  "UNAUTHORIZED",
  "BAD_REQUEST",
  "NOT_CONNECTED",
  "UNREACHABLE",
  "SEND_FAILED",
  "NOT_FOUND",
  "INTERNAL",
  "BAD_ANSWER",
]);

/** A refusal of the control endpoint: its HTTP status, code and reason. */
export class ControlError extends Web4Error<ControlErrorCode> {
  /**
   * Creates the error.
   *
   * @param status The HTTP status.
   * @param code The endpoint's error code (`unauthorized`, `not_connected`, ...).
   * @param reason Why.
   */
  constructor(readonly status: number, code: string, readonly reason: string) {
    const c = code.toUpperCase();
    const known = (_CODES.has(c) ? c : "BAD_ANSWER") as ControlErrorCode;
    super(known, `The running serve refused (${code}): ${reason}`);
  }
}

/**
 * A connection to a running serve's control endpoint.
 *
 * @example
 * ```ts ignore
 * const control = await ControlClient.find(controlDir(identity.fingerprint));
 * if (control !== undefined) console.log(await control.get("/v1/status"));
 * ```
 */
export class ControlClient {
  readonly #client: Deno.HttpClient;
  readonly #token: string;

  private constructor(client: Deno.HttpClient, token: string) {
    this.#client = client;
    this.#token = token;
  }

  /**
   * Connects to the serve whose control folder is `dir`, if one runs there.
   *
   * @param dir The control folder.
   * @param token The operator token. @default {the folder's token file}
   * @returns The client, or `undefined` when no serve answers there.
   * @throws {Error} When a serve answers but its token cannot be read.
   */
  static async find(dir: string, token?: string): Promise<ControlClient | undefined> {
    const socket = `${dir}/${CONTROL_SOCKET}`;
    try {
      await Deno.lstat(socket);
    } catch {
      return undefined;
    }
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
    try {
      // A stale socket (a serve that died) refuses the connection.
      await (await fetch("http://web4/v1/ping", { client, signal: AbortSignal.timeout(2000) }))
        .body?.cancel();
    } catch {
      client.close();
      return undefined;
    }
    try {
      token ??= (await Deno.readTextFile(`${dir}/${CONTROL_TOKEN}`)).trim();
    } catch (err) {
      client.close();
      throw new Error(`Cannot read the control token in ${dir}: ${(err as Error).message}`);
    }
    return new ControlClient(client, token);
  }

  /**
   * `GET path`.
   *
   * @param path The path and query.
   * @param signal Ends the request.
   * @returns The JSON answer.
   * @throws {ControlError} When the endpoint refuses.
   */
  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.#request<T>("GET", path, undefined, signal);
  }

  /**
   * `POST path` with a JSON body.
   *
   * @param path The path.
   * @param body The body.
   * @returns The JSON answer.
   * @throws {ControlError} When the endpoint refuses.
   */
  post<T>(path: string, body: unknown): Promise<T> {
    return this.#request<T>("POST", path, body);
  }

  async #request<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const res = await fetch(`http://web4${path}`, {
      method,
      client: this.#client,
      signal: signal ?? null,
      headers: {
        authorization: `Bearer ${this.#token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.text();
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ControlError(res.status, "bad_answer", text.slice(0, 200));
    }
    if (!res.ok) {
      throw new ControlError(res.status, String(json.error), String(json.reason ?? ""));
    }
    return json as T;
  }

  /** Closes the connection. */
  close(): void {
    this.#client.close();
  }
}
