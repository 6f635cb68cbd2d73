/**
 * A small HTTP/1.1 client codec for the default fetcher: the request of a
 * `GET` (or an A2A agent's `POST`) and a bounded, incremental response parser. Pure: bytes in,
 * a response out; the fetcher owns the socket.
 *
 * Why not `fetch`: it resolves the host itself (a second lookup that DNS
 * rebinding can answer differently) and honours proxy variables, and no
 * well-kept client in reach takes an already connected socket. The parser
 * bounds everything it holds: the head (status line, headers, trailers) in
 * bytes and count, interim responses, chunk-size lines, and the body;
 * framing is strict (one `Content-Length` value, or `chunked` alone; both
 * at once is refused, as a response-splitting sign).
 *
 * @module
 */

import { Web4Error } from "../errors/mod.ts";

/**
 * Why a response could not be read.
 *
 * - `head_too_large`: status line, headers and trailers exceed the head bound.
 * - `malformed`: a status line, header, chunk or framing the parser does not accept.
 * - `unsupported`: a transfer coding other than `chunked`, or an upgrade.
 * - `too_large`: the body exceeds the body bound.
 * - `truncated`: the connection ended before the response did.
 */
export type Http1ErrorCode =
  | "head_too_large"
  | "malformed"
  | "unsupported"
  | "too_large"
  | "truncated";

/**
 * A response the parser refused.
 *
 * @example
 * ```ts
 * import { Http1Error } from "./http1.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new Http1Error("truncated", "Response ended early").code, "truncated");
 * ```
 */
export class Http1Error extends Web4Error<Http1ErrorCode> {}

/** Bounds of {@linkcode ResponseParser}. */
export interface Http1Limits {
  /** Largest head (status line and headers; trailers count too), in bytes. @default {16384} */
  maxHeadBytes?: number | undefined;
  /** Most header fields (trailers included). @default {100} */
  maxHeaders?: number | undefined;
  /** Largest body, in bytes. @default {1048576} */
  maxBodyBytes?: number | undefined;
  /** Most interim (1xx) responses skipped. @default {4} */
  maxInterim?: number | undefined;
}

/** A response read whole. */
export interface Http1Response {
  /** `HTTP/1.1` or `HTTP/1.0`. */
  readonly version: string;
  /** The status code (200-599). */
  readonly status: number;
  /** Header fields in order, names lowercased, values trimmed. */
  readonly headers: readonly (readonly [string, string])[];
  /** The body, de-chunked. */
  readonly body: Uint8Array;
}

/** Method and body of {@linkcode requestBytes}. */
export interface RequestBody {
  /** The method. @default {"GET"} */
  method?: "GET" | "POST" | undefined;
  /** The body (a `POST`'s), sent with its `content-length`. */
  body?: Uint8Array | undefined;
}

/**
 * The bytes of a request that asks for the whole body, uncompressed, on a
 * connection closed afterwards: a `GET`, or a `POST` with its body.
 *
 * @param url The URL (its path and query are sent; never its fragment or credentials).
 * @param headers More header fields (`user-agent`, ...), without line breaks.
 * @param options The method and the body.
 * @returns The request bytes.
 * @throws {TypeError} When a header name or value could split the request.
 *
 * @example
 * ```ts
 * import { requestBytes } from "./http1.ts";
 * import assert from "node:assert/strict";
 *
 * const text = new TextDecoder().decode(requestBytes(new URL("http://a.example:8080/p?q#f"), {}));
 * assert.ok(text.startsWith("GET /p?q HTTP/1.1\r\nhost: a.example:8080\r\n"));
 * assert.ok(text.endsWith("connection: close\r\n\r\n"));
 * const post = requestBytes(new URL("http://a.example/rpc"), {}, {
 *   method: "POST",
 *   body: new TextEncoder().encode("{}"),
 * });
 * assert.ok(new TextDecoder().decode(post).endsWith("content-length: 2\r\n\r\n{}"));
 * ```
 */
export function requestBytes(
  url: URL,
  headers: Readonly<Record<string, string>>,
  options: RequestBody = {},
): Uint8Array {
  const body = options.body ?? new Uint8Array(0);
  const method = options.method ?? "GET";
  const fields: [string, string][] = [
    ["host", url.host],
    ...Object.entries(headers),
    ["accept-encoding", "identity"],
    ["connection", "close"],
    ...(method === "POST" ? [["content-length", String(body.byteLength)] as [string, string]] : []),
  ];
  let text = `${method} ${url.pathname}${url.search} HTTP/1.1\r\n`;
  for (const [name, value] of fields) {
    if (!_TOKEN.test(name) || /[\r\n\0]/.test(value)) {
      throw new TypeError(`Header ${JSON.stringify(name)} cannot be sent as given`);
    }
    text += `${name}: ${value}\r\n`;
  }
  const head = new TextEncoder().encode(`${text}\r\n`);
  if (method !== "POST") return head;
  const out = new Uint8Array(head.byteLength + body.byteLength);
  out.set(head);
  out.set(body, head.byteLength);
  return out;
}

const _TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const _STATUS = /^(HTTP\/1\.[01]) ([0-9]{3})(?: [^\0\r\n]*)?$/;
const _LENGTH = /^[0-9]{1,15}$/;
const _CHUNK = /^([0-9A-Fa-f]+)[ \t]*(;[^\0\r\n]*)?$/;
const _CHUNK_LINE_MAX = 1024;

type _State =
  | { kind: "head" }
  | { kind: "fixed"; left: number }
  | { kind: "close" }
  | { kind: "size" }
  | { kind: "data"; left: number }
  | { kind: "data_end" }
  | { kind: "trailers" }
  | { kind: "done" };

/**
 * An incremental response parser: `push` bytes as they arrive, `end` at
 * the end of the connection, then read `response`. It never holds more
 * than the head bound plus the body bound (plus one chunk-size line), and
 * refuses with a typed {@linkcode Http1Error} at the first byte past a
 * bound.
 *
 * @example
 * ```ts
 * import { ResponseParser } from "./http1.ts";
 * import assert from "node:assert/strict";
 *
 * const p = new ResponseParser();
 * const bytes = new TextEncoder().encode(
 *   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
 * );
 * p.push(bytes.subarray(0, 20));
 * p.push(bytes.subarray(20));
 * assert.ok(p.done);
 * assert.equal(new TextDecoder().decode(p.response.body), "hello");
 * ```
 */
export class ResponseParser {
  readonly #maxHead: number;
  readonly #maxHeaders: number;
  readonly #maxBody: number;
  readonly #maxInterim: number;
  readonly #noBody: boolean;
  #state: _State = { kind: "head" };
  #buf: Uint8Array = new Uint8Array(0);
  #headBytes = 0;
  #fields = 0;
  #interim = 0;
  #version = "";
  #status = 0;
  #headers: [string, string][] = [];
  readonly #body: Uint8Array[] = [];
  #bodyBytes = 0;

  /**
   * Creates a parser for one response.
   *
   * @param limits Head, header, body and interim bounds.
   * @param options `noBody`: the response to a `HEAD` (no body whatever it says).
   * @throws {RangeError} When a bound is not a positive integer.
   */
  constructor(limits: Http1Limits = {}, options: { noBody?: boolean } = {}) {
    this.#maxHead = _bound("maxHeadBytes", limits.maxHeadBytes ?? 16_384);
    this.#maxHeaders = _bound("maxHeaders", limits.maxHeaders ?? 100);
    this.#maxBody = _bound("maxBodyBytes", limits.maxBodyBytes ?? 1024 * 1024);
    this.#maxInterim = _bound("maxInterim", limits.maxInterim ?? 4);
    this.#noBody = options.noBody === true;
  }

  /** Whether the whole response was read. */
  get done(): boolean {
    return this.#state.kind === "done";
  }

  /** Bytes the parser holds (buffered input and body), never more than its bounds. */
  get heldBytes(): number {
    return this.#buf.byteLength + this.#bodyBytes;
  }

  /**
   * The response, once {@linkcode ResponseParser.done}.
   *
   * @throws {Http1Error} Code `truncated` before it is done.
   */
  get response(): Http1Response {
    if (!this.done) throw new Http1Error("truncated", "The response is not complete");
    return {
      version: this.#version,
      status: this.#status,
      headers: this.#headers,
      body: _concat(this.#body, this.#bodyBytes),
    };
  }

  /**
   * Takes the next bytes of the connection. Bytes after a complete
   * response are ignored (the request asked to close).
   *
   * @param bytes What arrived.
   * @throws {Http1Error} At the first byte that breaks a rule or a bound.
   */
  push(bytes: Uint8Array): void {
    let input = bytes;
    while (input.byteLength > 0 && this.#state.kind !== "done") {
      input = this.#step(input);
    }
  }

  /**
   * The connection ended: a body read to the close is complete; anything
   * else unfinished is `truncated`.
   *
   * @throws {Http1Error} Code `truncated`.
   */
  end(): void {
    if (this.#state.kind === "close") this.#state = { kind: "done" };
    if (this.#state.kind !== "done") {
      throw new Http1Error(
        "truncated",
        `The connection ended before the response was complete (${this.#state.kind})`,
      );
    }
  }

  /** Consumes some of `input` in the current state; returns the rest. */
  #step(input: Uint8Array): Uint8Array {
    const s = this.#state;
    switch (s.kind) {
      case "head":
      case "trailers":
      case "size":
      case "data_end": {
        const line = this.#line(input, s.kind);
        if (line === undefined) return new Uint8Array(0);
        this.#onLine(line.text, s.kind);
        return line.rest;
      }
      case "fixed":
      case "data": {
        const take = Math.min(s.left, input.byteLength);
        this.#addBody(input.subarray(0, take));
        s.left -= take;
        if (s.left === 0) {
          this.#state = s.kind === "fixed" ? { kind: "done" } : { kind: "data_end" };
        }
        return input.subarray(take);
      }
      case "close":
        this.#addBody(input);
        return new Uint8Array(0);
      case "done":
        return new Uint8Array(0);
    }
  }

  /** One line (LF or CRLF ended) out of the buffer and `input`, bounded; `undefined` if incomplete. */
  #line(
    input: Uint8Array,
    kind: "head" | "trailers" | "size" | "data_end",
  ): { text: string; rest: Uint8Array } | undefined {
    const lf = input.indexOf(10);
    const part = lf < 0 ? input : input.subarray(0, lf);
    const length = this.#buf.byteLength + part.byteLength;
    const inHead = kind === "head" || kind === "trailers";
    if (inHead && this.#headBytes + length + 1 > this.#maxHead) {
      throw new Http1Error(
        "head_too_large",
        `The response head exceeds ${this.#maxHead} bytes`,
      );
    }
    if (!inHead && length > _CHUNK_LINE_MAX) {
      throw new Http1Error("malformed", `A chunk line exceeds ${_CHUNK_LINE_MAX} bytes`);
    }
    if (lf < 0) {
      this.#buf = _concat([this.#buf, input], length);
      return undefined;
    }
    let bytes = _concat([this.#buf, part], length);
    this.#buf = new Uint8Array(0);
    if (inHead) this.#headBytes += length + 1;
    if (bytes.byteLength > 0 && bytes[bytes.byteLength - 1] === 13) bytes = bytes.subarray(0, -1);
    if (bytes.includes(13) || bytes.includes(0)) {
      throw new Http1Error("malformed", "A bare CR or NUL in the response head");
    }
    return { text: new TextDecoder("latin1").decode(bytes), rest: input.subarray(lf + 1) };
  }

  #onLine(text: string, kind: "head" | "trailers" | "size" | "data_end"): void {
    switch (kind) {
      case "head":
        if (this.#status === 0) return this.#statusLine(text);
        if (text === "") return this.#endOfHead();
        this.#headers.push(this.#field(text));
        return;
      case "trailers":
        if (text === "") this.#state = { kind: "done" };
        else this.#field(text); // read, bounded, and dropped
        return;
      case "data_end":
        if (text !== "") throw new Http1Error("malformed", "Chunk data is longer than its size");
        this.#state = { kind: "size" };
        return;
      case "size":
        return this.#chunkSize(text);
    }
  }

  #statusLine(text: string): void {
    const m = _STATUS.exec(text);
    const status = m === null ? 0 : Number(m[2]);
    if (m === null || status < 100 || status > 599) {
      throw new Http1Error(
        "malformed",
        `Not an HTTP/1.x status line: ${JSON.stringify(text.slice(0, 80))}`,
      );
    }
    this.#version = m[1]!;
    this.#status = status;
  }

  #field(text: string): [string, string] {
    if (++this.#fields > this.#maxHeaders) {
      throw new Http1Error("head_too_large", `More than ${this.#maxHeaders} header fields`);
    }
    const colon = text.indexOf(":");
    const name = colon > 0 ? text.slice(0, colon) : "";
    if (!_TOKEN.test(name)) {
      throw new Http1Error(
        "malformed",
        `Not a header field: ${JSON.stringify(text.slice(0, 80))}`,
      );
    }
    return [name.toLowerCase(), text.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "")];
  }

  #endOfHead(): void {
    const status = this.#status;
    if (status === 101) throw new Http1Error("unsupported", "The server switched protocols");
    if (status < 200) {
      if (++this.#interim > this.#maxInterim) {
        throw new Http1Error("malformed", `More than ${this.#maxInterim} interim responses`);
      }
      this.#status = 0;
      this.#headers = [];
      return;
    }
    const values = (name: string) =>
      this.#headers.filter(([n]) => n === name).flatMap(([, v]) => v.split(",")).map((v) =>
        v.trim()
      );
    const coding = values("transfer-encoding").filter((v) => v !== "");
    const lengths = values("content-length");
    if (this.#noBody || status === 204 || status === 304) {
      this.#state = { kind: "done" };
      return;
    }
    if (coding.length > 0) {
      if (lengths.length > 0) {
        throw new Http1Error("malformed", "Both Transfer-Encoding and Content-Length");
      }
      if (coding.length !== 1 || coding[0]!.toLowerCase() !== "chunked") {
        throw new Http1Error(
          "unsupported",
          `Transfer-Encoding ${JSON.stringify(coding.join(", "))} (only chunked)`,
        );
      }
      this.#state = { kind: "size" };
      return;
    }
    if (lengths.length > 0) {
      if (!lengths.every((v) => _LENGTH.test(v) && v === lengths[0])) {
        throw new Http1Error("malformed", `Content-Length ${JSON.stringify(lengths.join(", "))}`);
      }
      const n = Number(lengths[0]);
      if (n > this.#maxBody) {
        throw new Http1Error("too_large", `Content-Length ${n} exceeds ${this.#maxBody} bytes`);
      }
      this.#state = n === 0 ? { kind: "done" } : { kind: "fixed", left: n };
      return;
    }
    this.#state = { kind: "close" };
  }

  #chunkSize(text: string): void {
    const m = _CHUNK.exec(text);
    if (m === null) {
      throw new Http1Error("malformed", `Not a chunk size: ${JSON.stringify(text.slice(0, 40))}`);
    }
    const digits = m[1]!.replace(/^0+(?=.)/, "");
    const size = digits.length > 12 ? Infinity : parseInt(digits, 16);
    if (this.#bodyBytes + size > this.#maxBody) {
      throw new Http1Error("too_large", `The chunked body exceeds ${this.#maxBody} bytes`);
    }
    this.#state = size === 0 ? { kind: "trailers" } : { kind: "data", left: size };
  }

  #addBody(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    if (this.#bodyBytes + bytes.byteLength > this.#maxBody) {
      throw new Http1Error("too_large", `The body exceeds ${this.#maxBody} bytes`);
    }
    this.#body.push(bytes.slice());
    this.#bodyBytes += bytes.byteLength;
  }
}

function _bound(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Expected ${name} to be a positive integer, got ${value}`);
  }
  return value;
}

function _concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
