/**
 * `web4 id FILE [--json]`: a key file's fingerprint, public key and agent id.
 *
 * @module
 */

import { loadKey } from "../args.ts";
import { type Command, errorLine, UsageError } from "../command.ts";

const USAGE = `Usage: web4 id FILE [--json]

Prints the fingerprint (SHA-256 of the raw public key, the value peers pin),
the public key (base64) and the agent id of a key file written by web4 keygen
or openssl genpkey -algorithm ed25519.

Options:
  --json       Print {"agentId","fingerprint","publicKey"} as JSON
  -h, --help   Show this text

Exit codes: 0 ok, 1 missing or invalid key file (or mode not 0600), 2 usage error.`;

/** `web4 id`. */
export const idCommand: Command = {
  name: "id",
  summary: "Print a key file's fingerprint, public key and agent id",
  usage: USAGE,
  options: { json: { type: "boolean" } },
  async run(args, io) {
    if (args.positionals.length !== 1) throw new UsageError("expected exactly one key FILE");
    let id;
    try {
      id = await loadKey(args.positionals[0]!);
    } catch (err) {
      io.err(errorLine(err));
      return 1;
    }
    if (args.values.json === true) {
      io.out(JSON.stringify({
        agentId: id.agentId,
        fingerprint: id.fingerprint,
        publicKey: id.publicKeyBase64,
      }));
    } else {
      io.out(`agent id:    ${id.agentId}`);
      io.out(`fingerprint: ${id.fingerprint}`);
      io.out(`public key:  ${id.publicKeyBase64}`);
    }
    return 0;
  },
};
