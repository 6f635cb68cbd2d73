// The transport contract on the memory backend: the same native core and
// driver over in-process pipes, with the memory network's own faults.
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";
import { describeTransportContract } from "../helpers/transport_contract.ts";

const network = new MemoryNetwork();

describeTransportContract({
  name: "memory",
  transport: (options) => memory({ ...options, network }),
  async expose(server) {
    const { port } = await server.listen({ hostname: "srv", port: 0 });
    return {
      hostname: "srv",
      port,
      cut: (client) => network.dropConnection(server, client),
      stall: (client) => network.stall(server, client),
      heal: () => network.heal(),
      close: () => Promise.resolve(),
    };
  },
});
