/**
 * Walking the control endpoint's paged lists: every peer, and the events
 * after a cursor (following them as they come).
 *
 * @module
 */

import type { PeerInfo } from "../../lib/agent/mod.ts";
import type { Web4Event } from "../../lib/observability/mod.ts";
import type { ControlClient } from "./client.ts";
import type { SequencedEvent } from "./events.ts";

/**
 * Every peer of the running agent, page by page.
 *
 * @param client The control client.
 * @returns The peers, by fingerprint.
 */
export async function allPeers(client: ControlClient): Promise<PeerInfo[]> {
  const peers: PeerInfo[] = [];
  for (let cursor: string | null = "0"; cursor !== null;) {
    const page: { items: PeerInfo[]; next: string | null } = await client.get(
      `/v1/peers?cursor=${cursor}&limit=100`,
    );
    peers.push(...page.items);
    cursor = page.next;
  }
  return peers;
}

/**
 * Reads the running agent's recent events page by page; with `follow`, keeps
 * asking (each request waits up to 20 s for a new one) until `signal`
 * aborts.
 *
 * @param client The control client.
 * @param each Called with every event, in order.
 * @param options `follow`, and the signal that ends following.
 */
export async function readEvents(
  client: ControlClient,
  each: (e: Web4Event) => void,
  options: { follow: boolean; signal?: AbortSignal | undefined },
): Promise<void> {
  let cursor = "0";
  for (;;) {
    const wait = options.follow ? 20_000 : 0;
    let page: { items: SequencedEvent[]; next: string };
    try {
      page = await client.get(
        `/v1/events?cursor=${cursor}&limit=500&wait=${wait}`,
        options.signal,
      );
    } catch (err) {
      if (options.signal?.aborted) return;
      throw err;
    }
    for (const item of page.items) each(item.event);
    cursor = page.next;
    if (options.signal?.aborted) return;
    if (!options.follow && page.items.length === 0) return;
  }
}
