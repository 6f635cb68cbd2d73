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
import { type Clock, systemClock } from "../ports/mod.ts";

/** The channel kinds every session opens (spec §1). */
export const CHANNEL_KINDS = ["control", "state", "knowledge"] as const;

/** A channel kind every session opens. */
export type ChannelKind = typeof CHANNEL_KINDS[number];

/** What a link does with what it reads. */
export interface LinkHandlers {
  /**
   * One inbound message (called in arrival order per channel). When it
   * returns a promise, the channel reads its next message only once that
   * settles (the message waits for room in its peer's inbound share).
   */
  message(bytes: Uint8Array, link: SessionLink, channel: ChannelKind): void | Promise<void>;
  /** Every read loop ended (the session closed or was dropped). */
  ended(link: SessionLink): void;
  /**
   * Before each read: `undefined` to read now, or a promise to wait on
   * first (the peer's inbound share is full). Without it, links read
   * whenever a message is there.
   */
  room?(link: SessionLink): Promise<void> | undefined;
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
  readonly #clock: Clock;
  /** Settles when the session closes: a read loop waiting for room stops waiting. */
  readonly #sessionClosed = Promise.withResolvers<void>();
  #closing = false;

  private constructor(
    session: TransportSession,
    dialer: string,
    channels: Map<ChannelKind, TransportChannel>,
    handlers: LinkHandlers,
    telemetry: Telemetry,
    clock: Clock,
  ) {
    this.#clock = clock;
    this.session = session;
    this.dialer = dialer;
    this.#channels = channels;
    this.#telemetry = telemetry;
    const off = session.onSessionClose(() => this.#sessionClosed.resolve());
    if (session.state === "closed") this.#sessionClosed.resolve();
    const loops = [...channels].map(([kind, ch]) => this.#read(kind, ch, handlers));
    this.done = Promise.all(loops).then(() => {
      off();
      handlers.ended(this);
    });
  }

  /**
   * Opens the three channels of a session and starts reading them.
   *
   * @param session The transport session.
   * @param dialer The fingerprint that dialled it.
   * @param handlers Where messages go.
   * @param telemetry Where ack-latency samples go.
   * @param clock Times the acknowledgements. @default {systemClock}
   * @returns The link.
   */
  static async open(
    session: TransportSession,
    dialer: string,
    handlers: LinkHandlers,
    telemetry: Telemetry,
    clock: Clock = systemClock,
  ): Promise<SessionLink> {
    // All three are opened in one step, before the transport grants any of them credit: each
    // channel's window is then its even share of the session's receive budget (set before), and
    // none takes the whole budget for itself as the only channel known.
    const opened = await Promise.all(CHANNEL_KINDS.map((kind) => session.openChannel(kind)));
    const channels = new Map<ChannelKind, TransportChannel>(
      CHANNEL_KINDS.map((kind, i) => [kind, opened[i]!]),
    );
    return new SessionLink(session, dialer, channels, handlers, telemetry, clock);
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
   * time until the peer acknowledged it (histogram `web4_transport_ack_seconds`:
   * the transport round trip as the agent sees it).
   *
   * @param kind The channel kind.
   * @param bytes The message.
   * @param options `ack: true` waits for the peer's acknowledgement.
   */
  async send(kind: ChannelKind, bytes: Uint8Array, options: { ack?: boolean } = {}): Promise<void> {
    const ch = this.#channels.get(kind)!;
    const started = this.#clock.monotonic();
    await ch.send(bytes);
    const acked = ch.flush().then(
      () =>
        this.#telemetry.histogram(
          "web4_transport_ack_seconds",
          (this.#clock.monotonic() - started) / 1000,
        ),
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
      // A full share stops reading: the message stays in the transport, which stops the sender.
      const room = handlers.room?.(this);
      if (room !== undefined) await Promise.race([room, this.#sessionClosed.promise]);
      let msg: Uint8Array | null;
      try {
        msg = await ch.receive();
      } catch {
        return;
      }
      if (msg === null) return;
      const admitted = handlers.message(msg, this, kind);
      if (admitted !== undefined) await admitted;
    }
  }
}
