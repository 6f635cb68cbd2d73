/**
 * One transport session seen from the agent (or the person's client): its
 * three channels opened, a read loop on each feeding one handler, and sends
 * by channel kind. Shared by {@linkcode Agent} and {@linkcode HcpClient}, so
 * the session plumbing has one implementation.
 *
 * @module
 */

import type { Telemetry } from "../observability/mod.ts";
import type { TransportChannel, TransportSession } from "../transport/mod.ts";

/** The channel kinds every session opens (spec §1). */
export const CHANNEL_KINDS = ["control", "state", "knowledge"] as const;

/** A channel kind every session opens. */
export type ChannelKind = typeof CHANNEL_KINDS[number];

/** What a link does with what it reads. */
export interface LinkHandlers {
  /** One inbound message (called in arrival order, never concurrently per link). */
  message(bytes: Uint8Array, link: SessionLink, channel: ChannelKind): void;
  /** Every read loop ended (the session closed or was dropped). */
  ended(link: SessionLink): void;
}

/**
 * A session with its channels and read loops.
 *
 * @example
 * ```ts ignore
 * const link = await SessionLink.open(session, "me", handlers, telemetry);
 * await link.send("state", bytes);
 * await link.close();
 * ```
 */
export class SessionLink {
  /** The transport session. */
  readonly session: TransportSession;
  /** The fingerprint that dialled this session. */
  readonly dialer: string;
  /** Resolves once every read loop ended. */
  readonly done: Promise<void>;
  readonly #channels: Map<ChannelKind, TransportChannel>;
  readonly #telemetry: Telemetry;
  #closing = false;

  private constructor(
    session: TransportSession,
    dialer: string,
    channels: Map<ChannelKind, TransportChannel>,
    handlers: LinkHandlers,
    telemetry: Telemetry,
  ) {
    this.session = session;
    this.dialer = dialer;
    this.#channels = channels;
    this.#telemetry = telemetry;
    const loops = [...channels].map(([kind, ch]) => this.#read(kind, ch, handlers));
    this.done = Promise.all(loops).then(() => handlers.ended(this));
  }

  /**
   * Opens the three channels of a session and starts reading them.
   *
   * @param session The transport session.
   * @param dialer The fingerprint that dialled it.
   * @param handlers Where messages go.
   * @param telemetry Where ack-latency samples go.
   * @returns The link.
   */
  static async open(
    session: TransportSession,
    dialer: string,
    handlers: LinkHandlers,
    telemetry: Telemetry,
  ): Promise<SessionLink> {
    const channels = new Map<ChannelKind, TransportChannel>();
    for (const kind of CHANNEL_KINDS) channels.set(kind, await session.openChannel(kind));
    return new SessionLink(session, dialer, channels, handlers, telemetry);
  }

  /** The peer's authenticated fingerprint. */
  get peer(): string {
    return this.session.peerFingerprint;
  }

  /** Whether the link still carries messages. */
  get open(): boolean {
    return !this.#closing && this.session.state !== "closed";
  }

  /**
   * Sends one message on a channel and records, without waiting for it, the
   * time until the peer acknowledged it (histogram `rtt_ack_ms`:
   * the transport round trip as the agent sees it).
   *
   * @param kind The channel kind.
   * @param bytes The message.
   * @param options `ack: true` waits for the peer's acknowledgement.
   */
  async send(kind: ChannelKind, bytes: Uint8Array, options: { ack?: boolean } = {}): Promise<void> {
    const ch = this.#channels.get(kind)!;
    const started = performance.now();
    await ch.send(bytes);
    const acked = ch.flush().then(
      () => this.#telemetry.histogram("rtt_ack_ms", performance.now() - started),
      () => {},
    );
    if (options.ack === true) await acked;
  }

  /**
   * Closes the session (queued messages get a short flush deadline) and
   * waits for the read loops.
   *
   * @param flushDeadlineMs How long queued messages may take. @default {500}
   */
  async close(flushDeadlineMs = 500): Promise<void> {
    this.#closing = true;
    try {
      await this.session.close({ flushDeadlineMs });
    } catch { /* already closed */ }
    await this.done;
  }

  async #read(kind: ChannelKind, ch: TransportChannel, handlers: LinkHandlers): Promise<void> {
    for (;;) {
      let msg: Uint8Array | null;
      try {
        msg = await ch.receive();
      } catch {
        return;
      }
      if (msg === null) return;
      handlers.message(msg, this, kind);
    }
  }
}
