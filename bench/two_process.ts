/**
 * The two-process mode of the network benchmark: the server side of each
 * transport runs in a separate Deno process (`bench/two_process_server.ts`),
 * as peers run, and this process is the client. Deno TCP and Deno TLS (with
 * no-delay on both sides) are measured the same way as RTT, so every figure
 * has a same-run baseline measured between processes. CPU figures add both
 * processes' user + system time (the server reports its own).
 *
 * @module
 */

import {
  type CertPair,
  makeSelfSignedCert,
  measureBaselineClient,
  tcpTransport,
  tlsTransport,
} from "./baseline_net.ts";
import type { NetFigures, NetWorkload } from "./net_common.ts";
import { measureRttClient } from "./rtt.ts";

/** The figures of the three transports, each measured with its server in another process. */
export interface TwoProcessFigures {
  /** Deno plain TCP. */
  tcp: NetFigures;
  /** Deno TLS. */
  tls: NetFigures;
  /** RTT. */
  rtt: NetFigures;
}

/** A server child process and the lines it prints. */
class _ServerProcess {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: ReadableStreamDefaultReader<string>;
  #buffered = "";
  #encoder = new TextEncoder();

  constructor() {
    const flags = [
      "--quiet",
      "--allow-ffi=./target", // the release or the hooks build (WEB4_RTT_LIB)
      "--allow-read",
      "--allow-env=WEB4_RTT_LIB",
      "--allow-net=127.0.0.1",
    ];
    // This executable, or `deno` from PATH (what `--allow-run=deno` names) when
    // only that is allowed (a symlink to it is another path to Deno).
    const self = Deno.permissions.querySync({ name: "run", command: Deno.execPath() });
    this.#child = new Deno.Command(self.state === "granted" ? Deno.execPath() : "deno", {
      args: ["run", ...flags, new URL("./two_process_server.ts", import.meta.url).pathname],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#reader = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  async send(line: string): Promise<void> {
    await this.#writer.write(this.#encoder.encode(`${line}\n`));
  }

  async receive(): Promise<Record<string, unknown>> {
    while (!this.#buffered.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("The benchmark server process ended early");
      this.#buffered += value;
    }
    const at = this.#buffered.indexOf("\n");
    const line = this.#buffered.slice(0, at);
    this.#buffered = this.#buffered.slice(at + 1);
    return JSON.parse(line);
  }

  /** The server process's CPU time so far, in microseconds. */
  async cpu(): Promise<number> {
    await this.send("cpu");
    return Number((await this.receive()).cpuUs);
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const status = await this.#child.status;
    await this.#reader.cancel().catch(() => {});
    if (!status.success) throw new Error(`The benchmark server process exited with ${status.code}`);
  }
}

async function _measure(
  config: Record<string, unknown>,
  run: (server: Record<string, unknown>, cpu: () => Promise<number>) => Promise<NetFigures>,
): Promise<NetFigures> {
  const child = new _ServerProcess();
  try {
    await child.send(JSON.stringify(config));
    const server = await child.receive();
    return await run(server, () => child.cpu());
  } finally {
    await child.close();
  }
}

/**
 * Measures Deno TCP, Deno TLS and RTT with the server in another process.
 * Needs `--allow-run` for this Deno executable (and `openssl` unless a
 * certificate is given).
 *
 * @param workload Sizes and counts (the in-process workload).
 * @param cert The TLS baseline's certificate; made with `openssl` when not given.
 * @returns The figures of the three transports.
 */
export async function runTwoProcessBench(
  workload: NetWorkload,
  cert?: CertPair,
): Promise<TwoProcessFigures> {
  const pair = cert ?? await makeSelfSignedCert();
  const tcp = await _measure(
    { transport: "tcp" },
    (s, cpu) => measureBaselineClient(tcpTransport(), Number(s.port), workload, cpu),
  );
  const tls = await _measure(
    { transport: "tls", ...pair },
    (s, cpu) => measureBaselineClient(tlsTransport(pair), Number(s.port), workload, cpu),
  );
  const rtt = await _measure(
    { transport: "rtt" },
    (s, cpu) =>
      measureRttClient({ port: Number(s.port), fingerprint: String(s.fingerprint) }, workload, cpu),
  );
  return { tcp, tls, rtt };
}
