/**
 * Baselines for the RTT benchmark: Deno's own TCP (`Deno.listen` /
 * `Deno.connect`) and TLS (`Deno.listenTls` / `Deno.connectTls`) on
 * loopback, both carrying length-prefixed frames (`u32` big-endian length,
 * then the bytes), one `write` per message, the way an application would
 * frame messages over a Deno stream. Client and server run in this process,
 * as RTT's two nodes do in its benchmark.
 *
 * The TLS server certificate is a throw-away self-signed Ed25519 certificate
 * (the key type RTT uses) made by the `openssl` command line, read from its
 * standard output, so nothing is written to disk. The TLS baseline
 * authenticates the server only; RTT authenticates both sides.
 *
 * @module
 */

import {
  cpuMicros,
  mbPerSec,
  type NetFigures,
  type NetWorkload,
  payload,
  quantile,
  withTimeout,
} from "./net_common.ts";

const HOST = "127.0.0.1";
const STEP_TIMEOUT_MS = 30_000;

/** A PEM certificate and its PEM private key. */
export interface CertPair {
  /** The certificate, PEM. */
  cert: string;
  /** Its private key, PEM (PKCS#8). */
  key: string;
}

/**
 * Makes a self-signed Ed25519 certificate for `127.0.0.1` with the `openssl`
 * command line (needs `--allow-run=openssl`), valid for one day.
 *
 * @returns Certificate and key, PEM.
 * @throws {Error} When `openssl` is missing or fails.
 */
export async function makeSelfSignedCert(): Promise<CertPair> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ed25519",
        "-nodes",
        "-days",
        "1",
        "-subj",
        `/CN=${HOST}`,
        "-addext",
        `subjectAltName=IP:${HOST}`,
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "keyUsage=critical,digitalSignature",
        "-addext",
        "extendedKeyUsage=serverAuth",
        "-keyout",
        "/dev/stdout",
        "-out",
        "/dev/stdout",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (cause) {
    throw new Error("Cannot run `openssl` to make the TLS baseline's certificate", { cause });
  }
  const text = new TextDecoder().decode(out.stdout);
  const key = text.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/)?.[0];
  const cert = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/)?.[0];
  if (!out.success || key === undefined || cert === undefined) {
    throw new Error(
      `openssl could not make a certificate (exit ${out.code}): ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
  return { cert, key };
}

/** Reads length-prefixed frames from a connection through one reused buffer. */
class _FrameReader {
  #conn: Deno.Conn;
  #buf = new Uint8Array(512 * 1024);
  #start = 0;
  #end = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next frame's payload (a view valid until the next call), or null at EOF. */
  async next(): Promise<Uint8Array | null> {
    while (true) {
      const avail = this.#end - this.#start;
      if (avail >= 4) {
        const view = new DataView(this.#buf.buffer, this.#start, 4);
        const len = view.getUint32(0);
        if (len + 4 > this.#buf.length) throw new RangeError(`Frame of ${len} bytes is too large`);
        if (avail >= len + 4) {
          const frame = this.#buf.subarray(this.#start + 4, this.#start + 4 + len);
          this.#start += len + 4;
          return frame;
        }
        if (this.#start + len + 4 > this.#buf.length) this.#compact();
      } else if (this.#start + 4 > this.#buf.length) {
        this.#compact();
      }
      if (this.#start === this.#end) this.#start = this.#end = 0;
      const n = await this.#conn.read(this.#buf.subarray(this.#end));
      if (n === null) return null;
      this.#end += n;
    }
  }

  #compact(): void {
    this.#buf.copyWithin(0, this.#start, this.#end);
    this.#end -= this.#start;
    this.#start = 0;
  }
}

function _frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

async function _writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/** Server modes, sent as the first frame of a connection. */
const MODE_SINK = 1; // count frames until an empty one, answer with an empty frame
const MODE_ECHO = 2; // send every frame back
const EMPTY_FRAME = _frame(new Uint8Array(0));

/** Sets TCP no-delay where the connection has it (a TLS connection over TCP does in Deno 2). */
function _noDelay(conn: Deno.Conn): void {
  const c = conn as Deno.Conn & { setNoDelay?: (on: boolean) => void };
  if (typeof c.setNoDelay === "function") c.setNoDelay(true);
}

/** The server side of every baseline connection. */
async function _serve(conn: Deno.Conn): Promise<void> {
  try {
    _noDelay(conn);
    const reader = new _FrameReader(conn);
    const hello = await reader.next();
    const mode = hello?.[0];
    if (mode === MODE_SINK) {
      while (true) {
        const f = await reader.next();
        if (f === null) return;
        if (f.length === 0) await _writeAll(conn, EMPTY_FRAME);
      }
    } else if (mode === MODE_ECHO) {
      while (true) {
        const f = await reader.next();
        if (f === null) return;
        const out = new Uint8Array(4 + f.length);
        new DataView(out.buffer).setUint32(0, f.length);
        out.set(f, 4);
        await _writeAll(conn, out);
      }
    }
    // Anything else (a set-up-only connection sends nothing) ends with the client.
  } catch {
    // The client went away mid-frame; nothing to report for a benchmark server.
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/** A Deno stream transport: how to listen and how to connect (no-delay on both sides). */
export interface BaselineTransport {
  /** `"Deno TCP"` or `"Deno TLS"`. */
  name: string;
  /** Listens on loopback, port 0. */
  listen(): Deno.Listener;
  /** Connects to the port, ready to use. */
  connect(port: number): Promise<Deno.Conn>;
}

/**
 * Deno TCP (`setNoDelay(true)` on both sides).
 *
 * @returns The transport.
 */
export function tcpTransport(): BaselineTransport {
  return {
    name: "Deno TCP",
    listen: () => Deno.listen({ hostname: HOST, port: 0 }),
    async connect(port) {
      const conn = await Deno.connect({ hostname: HOST, port });
      conn.setNoDelay(true);
      return conn;
    },
  };
}

/**
 * Deno TLS 1.3 with a self-signed server certificate (no-delay on both sides).
 *
 * @param pair The server's certificate and key.
 * @returns The transport.
 */
export function tlsTransport(pair: CertPair): BaselineTransport {
  return {
    name: "Deno TLS",
    listen: () => Deno.listenTls({ hostname: HOST, port: 0, cert: pair.cert, key: pair.key }),
    async connect(port) {
      const conn = await Deno.connectTls({ hostname: HOST, port, caCerts: [pair.cert] });
      await conn.handshake();
      _noDelay(conn);
      return conn;
    },
  };
}

async function _open(t: BaselineTransport, port: number, mode: number): Promise<_Client> {
  const conn = await t.connect(port);
  await _writeAll(conn, _frame(new Uint8Array([mode])));
  return { conn, reader: new _FrameReader(conn) };
}

interface _Client {
  conn: Deno.Conn;
  reader: _FrameReader;
}

/** Sends `count` copies of `frame` then an empty frame; waits for the answer. */
async function _sinkRun(c: _Client, frame: Uint8Array, count: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await _writeAll(c.conn, frame);
  await _writeAll(c.conn, EMPTY_FRAME);
  const ack = await c.reader.next();
  if (ack === null || ack.length !== 0) throw new Error("Baseline server did not acknowledge");
  return performance.now() - t0;
}

/** A running baseline server. */
export interface BaselineServer {
  /** Its port on 127.0.0.1. */
  port: number;
  /** Stops accepting and waits for its connections to end. */
  close(): Promise<void>;
}

/**
 * Serves the baseline protocol (sink or echo, chosen by the client's first
 * frame) until closed.
 *
 * @param t The transport.
 * @returns The server.
 */
export function serveBaseline(t: BaselineTransport): BaselineServer {
  const listener = t.listen();
  const served = new Set<Promise<void>>();
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        // A TLS connection whose handshake fails just ends that connection.
        const task = _serve(conn);
        served.add(task);
        task.finally(() => served.delete(task));
      }
    } catch { /* listener closed */ }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await accepting;
      await Promise.allSettled([...served]);
    },
  };
}

/** Sends `count` copies of `frame` on an echo connection while reading the echoes; returns ms. */
async function _echoRun(c: _Client, frame: Uint8Array, count: number): Promise<number> {
  const t0 = performance.now();
  const reading = (async () => {
    for (let i = 0; i < count; i++) {
      if (await c.reader.next() === null) throw new Error("Baseline echo ended early");
    }
  })();
  for (let i = 0; i < count; i++) await _writeAll(c.conn, frame);
  await reading;
  return performance.now() - t0;
}

/**
 * Runs the workload as a client of a baseline server (in this process or
 * another one).
 *
 * @param t The transport.
 * @param port The server's port.
 * @param w The workload.
 * @param remoteCpu The server process's CPU time in microseconds, when it
 *   runs in another process (added to this process's own); omitted when
 *   both ends run here.
 * @returns The figures.
 */
export async function measureBaselineClient(
  t: BaselineTransport,
  port: number,
  w: NetWorkload,
  remoteCpu?: () => Promise<number>,
): Promise<NetFigures> {
  const cpu = async () => cpuMicros() + (remoteCpu === undefined ? 0 : await remoteCpu());
  const clients: Deno.Conn[] = [];
  try {
    return await withTimeout(`${t.name} figures`, 4 * STEP_TIMEOUT_MS, async () => {
      // Bulk throughput.
      const bulk = await _open(t, port, MODE_SINK);
      clients.push(bulk.conn);
      const bulkFrame = _frame(payload(w.bulkSize, 1));
      await _sinkRun(bulk, bulkFrame, Math.ceil(w.bulkMessages / 8)); // warm-up
      let bulkMs = Infinity;
      const bulkCpu0 = await cpu();
      for (let r = 0; r < w.runs; r++) {
        bulkMs = Math.min(bulkMs, await _sinkRun(bulk, bulkFrame, w.bulkMessages));
      }
      const bulkCpu = (await cpu() - bulkCpu0) / (w.runs * w.bulkMessages * w.bulkSize / 1e6);

      // Small-message rate, one way.
      const small = await _open(t, port, MODE_SINK);
      clients.push(small.conn);
      const smallFrame = _frame(payload(w.smallSize, 2));
      await _sinkRun(small, smallFrame, Math.ceil(w.smallMessages / 8));
      let smallMs = Infinity;
      const smallCpu0 = await cpu();
      for (let r = 0; r < w.runs; r++) {
        smallMs = Math.min(smallMs, await _sinkRun(small, smallFrame, w.smallMessages));
      }
      const smallCpu = (await cpu() - smallCpu0) / (w.runs * w.smallMessages);

      // Small messages, every one echoed back.
      const echoed = await _open(t, port, MODE_ECHO);
      clients.push(echoed.conn);
      await _echoRun(echoed, smallFrame, Math.ceil(w.smallMessages / 8));
      let echoMs = Infinity;
      for (let r = 0; r < w.runs; r++) {
        echoMs = Math.min(echoMs, await _echoRun(echoed, smallFrame, w.smallMessages));
      }

      // Request/response latency.
      const echo = await _open(t, port, MODE_ECHO);
      clients.push(echo.conn);
      const request = _frame(payload(w.rtSize, 3));
      const samples: number[] = [];
      const rtCpu0 = await cpu();
      for (let i = 0; i < w.rtWarmup + w.rtRounds; i++) {
        const t0 = performance.now();
        await _writeAll(echo.conn, request);
        const reply = await echo.reader.next();
        const dt = performance.now() - t0;
        if (reply === null || reply.length !== w.rtSize) {
          throw new Error(`${t.name} echo returned a wrong reply`);
        }
        if (i >= w.rtWarmup) samples.push(dt * 1000);
      }
      const rtCpu = (await cpu() - rtCpu0) / (w.rtWarmup + w.rtRounds);

      // Connection set-up (TLS: until the handshake completed).
      const setups: number[] = [];
      for (let i = 0; i < w.setupWarmup + w.setups; i++) {
        const t0 = performance.now();
        const conn = await t.connect(port);
        const dt = performance.now() - t0;
        conn.close();
        if (i >= w.setupWarmup) setups.push(dt * 1000);
      }

      return {
        bulkMBps: mbPerSec(w.bulkSize * w.bulkMessages, bulkMs),
        smallMsgPerSec: w.smallMessages / (smallMs / 1000),
        smallEchoMsgPerSec: w.smallMessages / (echoMs / 1000),
        latencyP50Us: quantile(samples, 0.5),
        latencyP95Us: quantile(samples, 0.95),
        setupP50Us: quantile(setups, 0.5),
        cpuUsPerSmallMsg: smallCpu,
        cpuUsPerRoundTrip: rtCpu,
        cpuUsPerMB: bulkCpu,
      };
    });
  } finally {
    for (const c of clients) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
  }
}

async function _measure(t: BaselineTransport, w: NetWorkload): Promise<NetFigures> {
  const server = serveBaseline(t);
  try {
    return await measureBaselineClient(t, server.port, w);
  } finally {
    await server.close();
  }
}

/** The baseline figures of one run. */
export interface BaselineFigures {
  /** Deno plain TCP with length-prefixed frames. */
  tcp: NetFigures;
  /** Deno TLS (rustls inside Deno) with length-prefixed frames. */
  tls: NetFigures;
}

/**
 * Measures both baselines with the given workload.
 *
 * @param workload Sizes and counts (shared with the RTT benchmark).
 * @param cert The TLS certificate; made with `openssl` when not given.
 * @returns The figures for Deno TCP and Deno TLS.
 * @throws {Error} When a step fails or takes too long.
 */
export async function runBaselines(
  workload: NetWorkload,
  cert?: CertPair,
): Promise<BaselineFigures> {
  const tcp = await _measure(tcpTransport(), workload);
  const tls = await _measure(tlsTransport(cert ?? await makeSelfSignedCert()), workload);
  return { tcp, tls };
}
