/**
 * `--metrics HOST:PORT`: Prometheus text at `/metrics` and a liveness
 * answer at `/healthz`, served with `Deno.serve`.
 *
 * @module
 */

import type { MetricsRegistry } from "../lib/observability/mod.ts";
import type { HostPort } from "./args.ts";

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The bound address. */
  address: HostPort;
  /** Stops serving. */
  shutdown(): Promise<void>;
}

/**
 * Serves `/metrics` (Prometheus text format 0.0.4, written by the
 * OpenTelemetry SDK's Prometheus serializer; see docs/operations.md) and
 * `/healthz` (`ok`).
 *
 * @param address Where to listen.
 * @param metrics The registry to read on each scrape (read again each time, so a restarted agent's registry is served).
 * @returns The server.
 */
export function serveMetrics(
  address: HostPort,
  metrics: () => MetricsRegistry,
): Promise<MetricsServer> {
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: address.hostname,
      port: address.port,
      onListen: (addr) => {
        resolve({
          address: { hostname: addr.hostname, port: addr.port },
          shutdown: () => server.shutdown(),
        });
      },
    }, async (req) => {
      const path = new URL(req.url).pathname;
      if (req.method !== "GET" && req.method !== "HEAD") {
        return new Response("method not allowed\n", {
          status: 405,
          headers: { allow: "GET, HEAD" },
        });
      }
      if (path === "/metrics") {
        const text = await metrics().toPrometheus();
        return new Response(req.method === "HEAD" ? null : text, {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      }
      if (path === "/healthz") {
        return new Response("ok\n", { headers: { "content-type": "text/plain" } });
      }
      return new Response("not found\n", { status: 404 });
    });
  });
}
