/**
 * `web4 loopback [--rounds N]`: two agents exchange signed envelopes over
 * RTT on 127.0.0.1 (see `cli/loopback.ts`).
 *
 * @module
 */

import { NativeLibraryError } from "../../lib/rtt/mod.ts";
import { type Command, stringFlag, UsageError } from "../command.ts";
import { runLoopback } from "../loopback.ts";

/** `web4 loopback`. */
export const loopbackCommand: Command = {
  name: "loopback",
  summary: "Two agents on 127.0.0.1 exchange signed envelopes over RTT",
  usage: `Usage: web4 loopback [--rounds N]

Two fresh agents open a pinned TLS 1.3 RTT session on 127.0.0.1, exchange N
signed CIP STATE_UPDATE round trips (each envelope verified), then show a
replayed envelope and a wrong pinned fingerprint refused.

Options:
  --rounds N   Round trips (default 20)`,
  options: { rounds: { type: "string", default: "20" } },
  async run(args, io) {
    const raw = stringFlag(args, "rounds") ?? "20";
    const rounds = Number(raw);
    if (!Number.isInteger(rounds) || rounds < 1) {
      throw new UsageError(`--rounds must be a positive integer, got "${raw}"`);
    }
    try {
      const result = await runLoopback({ rounds, log: io.out });
      return result.replayRefused && result.wrongPinRefused ? 0 : 1;
    } catch (err) {
      if (err instanceof NativeLibraryError) {
        io.err(`error: ${err.message}`);
        return 1;
      }
      throw err;
    }
  },
};
