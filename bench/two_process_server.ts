/**
 * The server process of the two-process benchmark (`bench/two_process.ts`):
 * reads one JSON line on standard input naming the transport
 * (`{"transport":"tcp"}`, `{"transport":"tls","cert":...,"key":...}` or
 * `{"transport":"rtt"}`), serves it on 127.0.0.1 and prints
 * `{"port":...,"fingerprint":...}`; then answers each `cpu` line with
 * `{"cpuUs":...}` (its own user + system time) and stops when standard
 * input closes.
 *
 * @module
 */

import { serveBaseline, tcpTransport, tlsTransport } from "./baseline_net.ts";
import { cpuMicros } from "./net_common.ts";
import { serveRtt } from "./rtt.ts";

const encoder = new TextEncoder();
const print = (value: unknown) =>
  Deno.stdout.writeSync(encoder.encode(`${JSON.stringify(value)}\n`));

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
let buffered = "";
async function nextLine(): Promise<string | null> {
  while (!buffered.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) return null;
    buffered += value;
  }
  const at = buffered.indexOf("\n");
  const line = buffered.slice(0, at);
  buffered = buffered.slice(at + 1);
  return line;
}

const config = JSON.parse((await nextLine()) ?? "{}");
let close: () => Promise<void>;
if (config.transport === "rtt") {
  const server = await serveRtt();
  print({ port: server.port, fingerprint: server.fingerprint });
  close = server.close;
} else {
  const t = config.transport === "tls"
    ? tlsTransport({ cert: config.cert, key: config.key })
    : tcpTransport();
  const server = serveBaseline(t);
  print({ port: server.port });
  close = server.close;
}
while (true) {
  const line = await nextLine();
  if (line === null) break;
  if (line === "cpu") print({ cpuUs: cpuMicros() });
}
await close();
Deno.exit(0);
