// The transport contract on the rtt backend: real TLS over Deno TCP on
// 127.0.0.1, with a fault proxy in the path for cuts and stalls.
import { rtt } from "../../lib/rtt/mod.ts";
import { FaultProxy } from "../helpers/fault_proxy.ts";
import { HOST } from "../helpers/rtt.ts";
import { describeTransportContract } from "../helpers/transport_contract.ts";

describeTransportContract({
  name: "rtt",
  transport: (options) => rtt(options),
  async expose(server) {
    const { port } = await server.listen({ hostname: HOST, port: 0 });
    const proxy = await FaultProxy.start({ target: { hostname: HOST, port } });
    return {
      hostname: proxy.addr.hostname,
      port: proxy.addr.port,
      cut: () => void proxy.cut(),
      stall: () => proxy.stall(),
      heal: () => proxy.resume(),
      close: () => proxy.close(),
    };
  },
});
