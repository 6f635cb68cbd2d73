/**
 * `web4 keygen --out FILE [--agent-id ID] [--force]`: a fresh Ed25519 key
 * file (PKCS#8 PEM, mode 0600) with the agent id kept in an `Agent-Id:`
 * line before the PEM block (RFC 7468 explanatory text; openssl ignores it).
 *
 * @module
 */

import { Identity } from "../../lib/identity/mod.ts";
import { type Command, errorLine, requiredFlag, stringFlag, UsageError } from "../command.ts";

const USAGE = `Usage: web4 keygen --out FILE [--agent-id ID] [--force] [--json]

Generates an Ed25519 key pair and writes the private key to FILE as PKCS#8 PEM
with mode 0600. The agent id is kept in the file as an "Agent-Id: ID" line
before the PEM block (RFC 7468 explanatory text, which openssl ignores);
web4 id and web4 serve read it back.

Options:
  --out FILE      Where to write the key (required)
  --agent-id ID   The agent's name, 1-128 characters (default: agent-<12 hex digits>)
  --force         Replace FILE if it exists
  --json          Print the result as JSON
  -h, --help      Show this text

Exit codes: 0 written, 1 FILE exists (without --force) or cannot be written,
2 usage error.`;

/** `web4 keygen`. */
export const keygenCommand: Command = {
  name: "keygen",
  summary: "Generate an agent key file (Ed25519, PKCS#8 PEM, mode 0600)",
  usage: USAGE,
  options: {
    out: { type: "string" },
    "agent-id": { type: "string" },
    force: { type: "boolean" },
    json: { type: "boolean" },
  },
  async run(args, io) {
    if (args.positionals.length > 0) {
      throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    }
    const out = requiredFlag(args, "out");
    const agentId = stringFlag(args, "agent-id");
    if (
      agentId !== undefined &&
      (agentId.length < 1 || agentId.length > 128 || /[\r\n]/.test(agentId))
    ) {
      throw new UsageError(`--agent-id must be 1-128 characters on one line, got "${agentId}"`);
    }
    if (args.values.force !== true) {
      try {
        await Deno.lstat(out);
        io.err(`error: ${out} exists; use --force to replace it`);
        return 1;
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) {
          io.err(errorLine(err));
          return 1;
        }
      }
    }
    const id = await Identity.generate(agentId === undefined ? {} : { agentId });
    try {
      await id.save(out, { agentId: true });
    } catch (err) {
      io.err(
        err instanceof Deno.errors.NotFound
          ? `error: cannot write ${out}: no such directory`
          : errorLine(err),
      );
      return 1;
    }
    if (args.values.json === true) {
      io.out(JSON.stringify({ file: out, agentId: id.agentId, fingerprint: id.fingerprint }));
    } else {
      io.out(`wrote ${out} (mode 0600)`);
      io.out(`agent id:    ${id.agentId}`);
      io.out(`fingerprint: ${id.fingerprint}`);
    }
    return 0;
  },
};
