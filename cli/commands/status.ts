/**
 * `web4 status`: asks a running `web4 serve` for its state through its
 * control endpoint (the agent, where it listens, presence, lri, peers).
 *
 * @module
 */

import { loadKey } from "../args.ts";
import { type Command, errorLine, requiredFlag, stringFlag, UsageError } from "../command.ts";
import { ControlClient } from "../control/client.ts";
import { controlDir } from "../control/paths.ts";

const USAGE = `Usage: web4 status --key FILE [--control-dir DIR] [--json]

Asks the web4 serve running with this key for its state, through its control
endpoint: a Unix socket (mode 0600) with an operator token (mode 0600) in a
private folder (mode 0700), by default $XDG_RUNTIME_DIR/web4/<fp>, else
$HOME/.web4/run/<fp>, where <fp> is the first 32 hex digits of the key's
fingerprint (serve --control-dir moves it). web4 send,
trust --key and events --follow --key use the same endpoint while a serve
runs, instead of opening a second agent with the same key.

Options:
  --key FILE          The agent's key file (the one serve runs with)
  --control-dir DIR   The control folder, if serve was given one
  --json              Print the state as JSON
  -h, --help          Show this text

Exit codes: 0 ok, 1 no serve runs for this key (or it refused), 2 usage error.`;

/** What `GET /v1/status` answers. */
interface _Status {
  agentId: string;
  fingerprint: string;
  listen: string;
  person: string | null;
  presence: string;
  lri: number;
  peers: number;
  verifiedPeers: number;
  uptimeSeconds: number;
}

/**
 * Finds the control endpoint of the serve running with the key at
 * `keyPath`.
 *
 * @param keyPath The key file.
 * @param dir The `--control-dir`, if given.
 * @returns The client (or `undefined` when no serve runs) and the folder.
 */
export async function controlFor(
  keyPath: string,
  dir: string | undefined,
): Promise<{ client: ControlClient | undefined; dir: string; fingerprint: string }> {
  const identity = await loadKey(keyPath);
  const where = controlDir(identity.fingerprint, dir);
  return { client: await ControlClient.find(where), dir: where, fingerprint: identity.fingerprint };
}

/** `web4 status`. */
export const statusCommand: Command = {
  name: "status",
  summary: "Ask a running serve for its state (agent, presence, lri, peers)",
  usage: USAGE,
  options: {
    key: { type: "string" },
    "control-dir": { type: "string" },
    json: { type: "boolean" },
  },
  async run(args, io) {
    if (args.positionals.length > 0) {
      throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    }
    const keyPath = requiredFlag(args, "key");
    let found;
    try {
      found = await controlFor(keyPath, stringFlag(args, "control-dir"));
    } catch (err) {
      io.err(errorLine(err));
      return 1;
    }
    const { client, dir, fingerprint } = found;
    if (client === undefined) {
      io.err(
        `error: no web4 serve runs for ${
          fingerprint.slice(0, 16)
        } (no control socket in ${dir}); start one with web4 serve --key ${keyPath}`,
      );
      return 1;
    }
    try {
      const s = await client.get<_Status>("/v1/status");
      if (args.values.json === true) {
        io.out(JSON.stringify(s));
        return 0;
      }
      io.out(`agent       ${s.agentId} ${s.fingerprint}`);
      io.out(`listening   ${s.listen}`);
      io.out(`person      ${s.person ?? "(none enrolled)"}`);
      io.out(`presence    ${s.presence} (lri ${s.lri})`);
      io.out(`peers       ${s.verifiedPeers} verified of ${s.peers}`);
      io.out(`uptime      ${s.uptimeSeconds} s`);
      return 0;
    } catch (err) {
      io.err(errorLine(err));
      return 1;
    } finally {
      client.close();
    }
  },
};
