/**
 * `web4 send`: one signed envelope to an agent over RTT, then the first
 * envelope it answers with (a reply or an error) within the timeout, else
 * "delivered" (the transport acknowledged it).
 *
 * @module
 */

import { SessionLink } from "../../lib/agent/mod.ts";
import { type ConsentRecord, NEUTRAL_HUMAN_STATE, readConsentRecord } from "../../lib/hcp/mod.ts";
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
import { mismatchLine } from "../presented.ts";
import {
  type Command,
  errorLine,
  type Io,
  requiredFlag,
  stringFlag,
  UsageError,
} from "../command.ts";
import { ControlClient } from "../control/client.ts";
import { controlDir } from "../control/paths.ts";

const USAGE = `Usage: web4 send --key FILE --to HOST:PORT --fingerprint FP --protocol cip|hcp|lip
                 --type TYPE --payload JSON|@FILE [--timeout MS] [--human JSON] [--json]

Opens an RTT session to the agent at HOST:PORT (pinned to FP), sends one
envelope signed with the key, and waits up to --timeout for the agent's first
envelope back. Prints "reply TYPE ..." or "refused CODE: reason" (an error
envelope), or "delivered" when the transport acknowledged it and nothing came
back in time. While a web4 serve runs with the same key, the envelope goes
through that serve's control endpoint (web4 status --help) and its session,
never a second agent with the same key.

Options:
  --key FILE            The sender's key file
  --to HOST:PORT        The agent's address
  --fingerprint FP      The agent's fingerprint (web4 id)
  --protocol P          cip, hcp or lip
  --type TYPE           The message type (HELLO, HCP_INTENT, LIP_FETCH, ...)
  --payload JSON|@FILE  The payload, inline or from a file
  --agent-id ID         The receiver's agent id (default: "peer")
  --human JSON          HCP: fields of the human-state vector to send (default: the
                        agent's record of the person, which the agent tells on
                        connect; while it holds none, "consent" is required)
  --timeout MS          How long to wait for an answer (default 2000)
  --json                Print the outcome as JSON
  --control-dir DIR     The running serve's control folder, if serve was given one
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
    "control-dir": { type: "string" },
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
    const humanFlag = humanText === undefined
      ? {}
      : await readJsonFlag(humanText, "human") as Partial<HumanState>;
    const json = args.values.json === true;

    let identity;
    try {
      identity = await loadKey(keyPath);
    } catch (err) {
      io.err(errorLine(err));
      return 1;
    }
    let control: ControlClient | undefined;
    try {
      control = await ControlClient.find(
        controlDir(identity.fingerprint, stringFlag(args, "control-dir")),
      );
    } catch (err) {
      io.err(errorLine(err));
      return 1;
    }
    if (control !== undefined) {
      try {
        const answer = await control.post<_Answer>("/v1/send", {
          fingerprint: fp,
          to,
          agentId: stringFlag(args, "agent-id"),
          protocol,
          type,
          payload,
          human: humanFlag,
          timeoutMs,
        });
        return _print(answer, type, timeoutMs, json, io);
      } catch (err) {
        io.err(errorLine(err));
        return 1;
      } finally {
        control.close();
      }
    }
    const receiver = { agent_id: stringFlag(args, "agent-id") ?? "peer", fingerprint: fp };
    const build = async (human: HumanState | undefined): Promise<Envelope | undefined> => {
      try {
        return await createEnvelope(protocol as "cip", type as "HELLO", {
          identity,
          receiver,
          payload: payload as never,
          ...(human === undefined ? {} : { state: { human } as never }),
        }) as Envelope;
      } catch (err) {
        io.err(`error: invalid ${type} envelope: ${(err as Error).message.split("\n")[0]}`);
        return undefined;
      }
    };
    // HCP carries the agent's record of the person (told on connect), never defaults.
    let envelope = protocol === "hcp" ? undefined : await build(undefined);
    if (protocol !== "hcp" && envelope === undefined) return 1;
    const told = async (bytes: Uint8Array): Promise<ConsentRecord | null> => {
      try {
        const e = await verifyEnvelope(bytes, {
          expectedSender: fp,
          expectedReceiver: identity.fingerprint,
        });
        return e.type === "HCP_CONTEXT" ? readConsentRecord(e.payload) : null;
      } catch {
        return null;
      }
    };

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
          `error: ${
            await mismatchLine(err, to, fp) ??
              `cannot reach ${to.hostname}:${to.port}: ${(err as Error).message.split("\n")[0]}`
          }`,
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
      const next = async (waitMs: number): Promise<Uint8Array | undefined> => {
        const deadline = Date.now() + waitMs;
        while (answers.length === 0 && link!.open && Date.now() < deadline) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, deadline - Date.now());
          });
        }
        return answers.shift();
      };
      if (envelope === undefined) {
        let record: ConsentRecord | null = null;
        for (const waitUntil = Date.now() + Math.max(timeoutMs, 3000); record === null;) {
          const bytes = await next(waitUntil - Date.now());
          if (bytes === undefined) break;
          record = await told(bytes);
        }
        // Not told (this key is not the agent's person): only an explicit consent goes.
        if (record === null && humanFlag.consent === undefined) {
          io.err(
            `error: the agent did not tell its record of the person (is this key its person?); to send anyway, give --human '{"consent":...}'`,
          );
          return 1;
        }
        record ??= { human: null, consentScope: [], safetyFlags: [] };
        if (record.human === null && humanFlag.consent === undefined) {
          io.err(
            `error: the agent holds no consent of yours yet: give it with --human '{"consent":"granted"}' (or limited, revoked) on an HCP_HELLO or HCP_STATE_UPDATE`,
          );
          return 1;
        }
        envelope = await build(
          { ...(record.human ?? NEUTRAL_HUMAN_STATE), ...humanFlag } as HumanState,
        );
        if (envelope === undefined) return 1;
      }
      await link.send(channel as "control", encodeEnvelope(envelope), { ack: true });
      let bytes: Uint8Array | undefined;
      for (const waitUntil = Date.now() + timeoutMs;;) {
        bytes = await next(waitUntil - Date.now());
        // A record told again (a resumed session) is not an answer.
        if (bytes === undefined || protocol !== "hcp" || await told(bytes) === null) break;
      }
      if (bytes === undefined) {
        return _print({ outcome: "delivered", msg_id: envelope.msg_id }, type, timeoutMs, json, io);
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
      return _print(
        {
          outcome: _ERROR_TYPES.has(answer.type) ? "refused" : "reply",
          msg_id: envelope.msg_id,
          reply: { type: answer.type, msg_id: answer.msg_id, payload: answer.payload },
        },
        type,
        timeoutMs,
        json,
        io,
      );
    } catch (err) {
      io.err(errorLine(err));
      return 1;
    } finally {
      await link?.close(200).catch(() => {});
      await transport?.shutdown({ deadlineMs: 200 }).catch(() => {});
    }
  },
};

/** An outcome of `send`, from its own session or from a serve's control endpoint. */
interface _Answer {
  outcome: "delivered" | "reply" | "refused";
  msg_id: string;
  reply?: { type: string; msg_id: string; payload: unknown };
}

/** Prints an outcome; a refusal shows its code and reason. Returns the exit code. */
function _print(a: _Answer, type: string, timeoutMs: number, json: boolean, io: Io): number {
  if (json) io.out(JSON.stringify(a));
  else if (a.reply === undefined) {
    io.out(`delivered ${type} ${a.msg_id} (acknowledged; no answer within ${timeoutMs} ms)`);
  } else if (a.outcome === "refused") {
    const p = (a.reply.payload ?? {}) as Record<string, unknown>;
    const why = p.reason ?? p.message ?? p.detail ?? "";
    io.out(`refused ${type} ${a.msg_id}: ${a.reply.type} ${p.code}: ${why}`);
  } else {
    io.out(
      `reply ${a.reply.type} ${a.reply.msg_id} to ${type} ${a.msg_id}: ${
        JSON.stringify(a.reply.payload)
      }`,
    );
  }
  return a.outcome === "refused" ? 1 : 0;
}
