/**
 * The Agent Card the gateway serves at `/.well-known/agent-card.json`, in
 * A2A 1.0's proto JSON (what `@a2a-js/sdk` 1.3's `AgentCard.fromJSON`
 * reads): name, description, version, the JSON-RPC interface, capabilities,
 * default modes, one skill per topic the operator shares, and an HTTP bearer
 * security scheme that every request needs.
 *
 * @module
 */

import { A2A_PROTOCOL_VERSION } from "../../lib/lip/mod.ts";

/** What the card says. */
export interface CardOptions {
  /** The agent's id (the card's name). */
  agentId: string;
  /** The agent's fingerprint (named in the description). */
  fingerprint: string;
  /** The agent's mission (the card's description). */
  mission: string;
  /** The JSON-RPC endpoint's URL. */
  url: string;
  /** The `kind:value` topics the operator shares with A2A clients. */
  shared: readonly string[];
  /** The package version. */
  version: string;
}

/**
 * Builds the card.
 *
 * @param options Name, mission, URL, shared topics.
 * @returns The card as JSON.
 *
 * @example
 * ```ts
 * import { agentCard } from "./card.ts";
 * import assert from "node:assert/strict";
 *
 * const card = agentCard({ agentId: "alice", fingerprint: "ab".repeat(32), mission: "water",
 *   url: "http://127.0.0.1:8090/a2a", shared: ["topic:water"], version: "0.1.0" });
 * assert.equal((card.supportedInterfaces as { protocolBinding: string }[])[0]!.protocolBinding, "JSONRPC");
 * assert.equal((card.skills as unknown[]).length, 1);
 * ```
 */
export function agentCard(options: CardOptions): Record<string, unknown> {
  const skills = options.shared.map((topic) => ({
    id: `ask:${topic}`,
    name: `Ask about ${topic}`,
    description:
      `Answers from knowledge this agent accepted on ${topic}, when its person's consent covers it. ` +
      `Mission: ${options.mission}`,
    tags: [topic, "web4"],
    examples: [topic],
    inputModes: ["text/plain", "application/json"],
    outputModes: ["text/plain"],
  }));
  return {
    name: options.agentId,
    description:
      `A web4 agent (${options.fingerprint}). Mission: ${options.mission}. Every request becomes a ` +
      "signed intent from a peer at a trust level its operator fixed; answers come only from " +
      "accepted knowledge on topics the operator shares and the person consented to.",
    version: options.version,
    supportedInterfaces: [{
      url: options.url,
      protocolBinding: "JSONRPC",
      protocolVersion: A2A_PROTOCOL_VERSION,
    }],
    capabilities: { streaming: true, pushNotifications: false, extendedAgentCard: false },
    defaultInputModes: ["text/plain", "application/json"],
    defaultOutputModes: ["text/plain"],
    skills,
    securitySchemes: {
      bearer: {
        httpAuthSecurityScheme: {
          scheme: "Bearer",
          description: "A token the operator gave this client (web4 serve --a2a-token-file)",
        },
      },
    },
    securityRequirements: [{ schemes: { bearer: { list: [] } } }],
  };
}
