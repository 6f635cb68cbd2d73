/**
 * `web4 send`: one signed envelope to an agent over RTT, then the first
 * envelope it answers with (a reply or an error) within the timeout, else
 * "delivered" (the transport acknowledged it).
 *
 * @module
 */

import { SessionLink } from "../../lib/agent/mod.ts";
import {
  createEnvelope,
  encodeEnvelope,
  type Envelope,
  type HumanState,
  verifyEnvelope,
} from "../../lib/envelope/mod.ts";
import { createTelemetry } from "../../lib/observability/mod.ts";
import { channelOf } from "../../lib/router/mod.ts";
import { RttNode } from "../../lib/rtt/mod.ts";
import type { Transport } from "../../lib/transport/mod.ts";
import { loadKey, parseFingerprint, parseHostPort, readJsonFlag } from "../args.ts";
import { type Command, errorLine, requiredFlag, stringFlag, UsageError } from "../command.ts";

const USAGE = `Usage: web4 send --key FILE --to HOST:PORT --fingerprint FP --protocol cip|hcp|lip
                 --type TYPE --payload JSON|@FILE [--timeout MS] [--human JSON] [--json]

Opens an RTT session to the agent at HOST:PORT (pinned to FP), sends one
envelope signed with the key, and waits up to --timeout for the agent's first
envelope back. Prints "reply TYPE ..." or "refused CODE: message" (an error
envelope), or "delivered" when the transport acknowledged it and nothing came
back in time.

Options:
  --key FILE            The sender's key file
  --to HOST:PORT        The agent's address
  --fingerprint FP      The agent's fingerprint (web4 id)
  --protocol P          cip, hcp or lip
  --type TYPE           The message type (HELLO, HCP_INTENT, LIP_FETCH, ...)
  --payload JSON|@FILE  The payload, inline or from a file
  --agent-id ID         The receiver's agent id (default: "peer")
  --human JSON          HCP: the human-state vector (default: calm, clarity 80,
                        pressure 20, consent granted)
  --timeout MS          How long to wait for an answer (default 2000)
  --json                Print the outcome as JSON
  -h, --help            Show this text

Exit codes: 0 delivered or answered, 1 refused (error envelope), unreachable or
invalid envelope, 2 usage error.`;

const _ERROR_TYPES = new Set(["ERROR", "HCP_ERROR", "LIP_ERROR"]);

/** `web4 send`. */
export const sendCommand: Command = {
  name: "send",
  summary: "Send one signed envelope to an agent and print its answer",
  usage: USAGE,
  options: {
    key: { type: "string" },
    to: { type: "string" },
    fingerprint: { type: "string" },
    protocol: { type: "string" },
    type: { type: "string" },
    payload: { type: "string" },
    "agent-id": { type: "string" },
    human: { type: "string" },
    timeout: { type: "string" },
    json: { type: "boolean" },
  },
  async run(args, io) {
    if (args.positionals.length > 0) {
      throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    }
    const keyPath = requiredFlag(args, "key");
    const to = parseHostPort(requiredFlag(args, "to"), "to");
    const fp = parseFingerprint(requiredFlag(args, "fingerprint"), "fingerprint");
    const protocol = requiredFlag(args, "protocol");
    if (protocol !== "cip" && protocol !== "hcp" && protocol !== "lip") {
      throw new UsageError(`--protocol must be cip, hcp or lip, got "${protocol}"`);
    }
    const type = requiredFlag(args, "type");
    let channel: string;
    try {
      channel = channelOf(protocol, type);
    } catch {
      throw new UsageError(`--type ${type} is not a ${protocol.toUpperCase()} message type`);
    }
    const payload = await readJsonFlag(requiredFlag(args, "payload"), "payload");
    const timeoutText = stringFlag(args, "timeout") ?? "2000";
    const timeoutMs = Number(timeoutText);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0) {
      throw new UsageError(`--timeout must be a non-negative integer of ms, got "${timeoutText}"`);
    }
    const humanText = stringFlag(args, "human");
    const human = {
      presence: "focused",
      affect: "calm",
      clarity: 80,
      pressure: 20,
      intent: "web4 send",
      consent: "granted",
      ...(humanText === undefined ? {} : await readJsonFlag(humanText, "human") as object),
    } as HumanState;
    const json = args.values.json === true;

    let identity;
    try {
      identity = await loadKey(keyPath);
    } catch (err) {
      io.err(errorLine(err));
      return 1;
    }
    const receiver = { agent_id: stringFlag(args, "agent-id") ?? "peer", fingerprint: fp };
    let envelope: Envelope;
    try {
      envelope = await createEnvelope(protocol as "cip", type as "HELLO", {
        identity,
        receiver,
        payload: payload as never,
        ...(protocol === "hcp" ? { state: { human } as never } : {}),
      }) as Envelope;
    } catch (err) {
      io.err(`error: invalid ${type} envelope: ${(err as Error).message.split("\n")[0]}`);
      return 1;
    }

    let transport: Transport | undefined;
    let link: SessionLink | undefined;
    try {
      transport = await RttNode.create({ identity, allowPeers: [fp] });
      const answers: Uint8Array[] = [];
      let wake: (() => void) | undefined;
      let session;
      try {
        session = await transport.connect({
          ...to,
          fingerprint: fp,
          timeoutMs: Math.max(timeoutMs, 3000),
        });
      } catch (err) {
        io.err(
          `error: cannot reach ${to.hostname}:${to.port}: ${(err as Error).message.split("\n")[0]}`,
        );
        return 1;
      }
      link = await SessionLink.open(session, identity.fingerprint, {
        message: (bytes) => {
          answers.push(bytes);
          wake?.();
        },
        ended: () => wake?.(),
      }, createTelemetry({ node: identity.agentId }));
      await link.send(channel as "control", encodeEnvelope(envelope), { ack: true });
      const deadline = Date.now() + timeoutMs;
      while (answers.length === 0 && link.open && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, deadline - Date.now());
        });
      }
      const bytes = answers[0];
      if (bytes === undefined) {
        if (json) io.out(JSON.stringify({ outcome: "delivered", msg_id: envelope.msg_id }));
        else {io.out(
            `delivered ${type} ${envelope.msg_id} (acknowledged; no answer within ${timeoutMs} ms)`,
          );}
        return 0;
      }
      let answer: Envelope;
      try {
        answer = await verifyEnvelope(bytes, {
          expectedSender: fp,
          expectedReceiver: identity.fingerprint,
        });
      } catch (err) {
        io.err(`error: the answer failed verification: ${(err as Error).message.split("\n")[0]}`);
        return 1;
      }
      const p = answer.payload as unknown as Record<string, unknown>;
      const refused = _ERROR_TYPES.has(answer.type);
      if (json) {
        io.out(JSON.stringify({
          outcome: refused ? "refused" : "reply",
          msg_id: envelope.msg_id,
          reply: { type: answer.type, msg_id: answer.msg_id, payload: answer.payload },
        }));
      } else if (refused) {
        io.out(`refused ${type} ${envelope.msg_id}: ${answer.type} ${p.code}: ${p.message ?? ""}`);
      } else {
        io.out(
          `reply ${answer.type} ${answer.msg_id} to ${type} ${envelope.msg_id}: ${
            JSON.stringify(answer.payload)
          }`,
        );
      }
      return refused ? 1 : 0;
    } catch (err) {
      io.err(errorLine(err));
      return 1;
    } finally {
      await link?.close(200).catch(() => {});
      await transport?.shutdown({ deadlineMs: 200 }).catch(() => {});
    }
  },
};
