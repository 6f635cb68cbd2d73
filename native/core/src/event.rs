//! What the application or the I/O driver must hear about: one typed
//! queue of [`Event`]s, encoded only by the FFI layer.

/// Something the application or the I/O driver must hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An inbound session was accepted.
    Accepted {
        /// Session key.
        session: u64,
        /// Session id (hex).
        id: String,
        /// Peer fingerprint.
        peer: String,
    },
    /// An outbound connect completed (`conn` is the connect's connection).
    Connected {
        /// The connection the connect started.
        conn: u32,
        /// Session key.
        session: u64,
        /// Session id (hex).
        id: String,
        /// Peer fingerprint.
        peer: String,
    },
    /// An outbound connect failed.
    ConnectFailed {
        /// The connection the connect started.
        conn: u32,
        /// Handshake error code.
        code: &'static str,
        /// Text.
        message: String,
    },
    /// A session (re)opened.
    SessionOpen {
        /// Session key.
        session: u64,
        /// Whether it was resumed.
        resumed: bool,
        /// Reconnects so far.
        reconnects: u64,
    },
    /// The session lost its connection; resumption pending.
    ConnectionLost {
        /// Session key.
        session: u64,
        /// Why.
        reason: String,
    },
    /// Nothing arrived within the heartbeat timeout.
    HeartbeatTimeout {
        /// Session key.
        session: u64,
    },
    /// Final end of a session.
    SessionClose {
        /// Session key.
        session: u64,
        /// `manual`, `peer_closed`, `heartbeat_timeout`, ...
        reason: &'static str,
        /// Detail (protocol errors).
        message: Option<String>,
        /// Messages not delivered.
        undelivered: u64,
    },
    /// A channel has messages (or ended).
    Readable {
        /// Session key.
        session: u64,
        /// Channel id.
        channel: u32,
    },
    /// A channel has room again.
    Writable {
        /// Session key.
        session: u64,
        /// Channel id.
        channel: u32,
    },
    /// Messages dropped by a dropping policy.
    Drop {
        /// Session key.
        session: u64,
        /// Channel kind.
        kind: String,
        /// `drop_oldest` / `drop_newest`.
        cause: &'static str,
        /// How many.
        count: u64,
    },
    /// Replayed frames were dropped (coalesced: at most one event per
    /// channel per `replay_report_interval_ms`).
    Replay {
        /// Session key.
        session: u64,
        /// Channel kind.
        kind: String,
        /// The sequence of the last one.
        seq: u64,
        /// How many since the previous report.
        count: u64,
    },
    /// A flush completed.
    Flushed {
        /// Session key.
        session: u64,
        /// Flush operation.
        op: u64,
    },
    /// A flush failed.
    FlushFailed {
        /// Session key.
        session: u64,
        /// Flush operation.
        op: u64,
        /// Messages not delivered.
        undelivered: u64,
    },
    /// A TLS key update.
    Rekey {
        /// Session key.
        session: u64,
        /// Key updates so far.
        rekeys: u64,
    },
    /// An inbound handshake was refused.
    VerificationFailure {
        /// Code.
        code: &'static str,
        /// Peer fingerprint if known.
        peer: String,
        /// Text.
        message: String,
    },
    /// Driver: open a new socket to the session's peer and call
    /// [`Endpoint::conn_resume`] (or [`Endpoint::dial_failed`]).
    Dial {
        /// Session key.
        session: u64,
    },
    /// Driver: write the connection's remaining output, close its socket,
    /// then call [`Endpoint::conn_closed`].
    CloseConn {
        /// Connection id.
        conn: u32,
    },
}
