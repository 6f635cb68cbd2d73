//! Node configuration (the JSON given to `web4_rtt_node_create`), with the
//! defaults of `RttNode.create` and range checks.
#![deny(unsafe_code)]

use serde::Deserialize;

/// What a full send queue does with a new message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Fail at once with QUEUE_FULL.
    Error,
    /// Evict the oldest queued message.
    DropOldest,
    /// Drop the incoming message.
    DropNewest,
    /// Wait for room up to the block timeout.
    Block,
}

/// `"any"` or a list of fingerprints.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AllowPeers {
    /// The string `"any"`.
    Word(String),
    /// Allowed fingerprints.
    List(Vec<String>),
}

/// Node configuration. Every limit against abuse is set here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// PKCS#8 v1 PEM of the Ed25519 key (required).
    pub key_pem: String,
    /// Interval between pings (ms).
    pub heartbeat_interval_ms: u64,
    /// Silence after which the connection counts as dead (ms).
    pub heartbeat_timeout_ms: u64,
    /// How long a lost session may be resumed (ms); 0 disables resumption.
    pub resume_window_ms: u64,
    /// First reconnect delay (ms).
    pub reconnect_initial_delay_ms: u64,
    /// Largest reconnect delay (ms).
    pub reconnect_max_delay_ms: u64,
    /// Reconnect attempts per lost connection.
    pub reconnect_max_attempts: u32,
    /// Send queue bound per channel (messages).
    pub max_queue: usize,
    /// Send queue bound per channel (bytes).
    pub max_queue_bytes: usize,
    /// Default policy for full queues.
    pub backpressure_policy: Policy,
    /// Timeout of the `block` policy (ms).
    pub block_timeout_ms: u64,
    /// Largest message (bytes); also the per-channel receive window.
    pub max_message_bytes: usize,
    /// Channels per session.
    pub max_channels: usize,
    /// Concurrent sessions per node.
    pub max_sessions: usize,
    /// TLS handshakes in flight on the listener; the oldest is shed beyond it.
    pub max_pending_handshakes: usize,
    /// Deadline of a whole inbound or outbound handshake (ms).
    pub handshake_timeout_ms: u64,
    /// Rekey (TLS KeyUpdate) after this many bytes on a connection.
    pub rekey_after_bytes: u64,
    /// Rekey after this long (ms).
    pub rekey_after_ms: u64,
    /// Replays tolerated per window; one more closes the session (`replay_flood`).
    pub replay_flood_limit: u64,
    /// The replay-counting window (ms).
    pub replay_flood_window_ms: u64,
    /// Shortest interval between two replay reports of a session (ms).
    pub replay_report_interval_ms: u64,
    /// Unacknowledged DATA bytes per channel (retransmit buffer bound).
    pub max_unacked_bytes: u64,
    /// Data unacknowledged this long on a live connection: the peer is dead (`ack_timeout`).
    pub ack_timeout_ms: u64,
    /// Receive window (bytes) of a channel the peer declared and the application has not opened.
    pub unopened_window_bytes: u64,
    /// Receive window (messages) of such a channel.
    pub unopened_window_msgs: u64,
    /// Receive bytes granted and unread per session (at least one channel's window).
    pub max_session_receive_bytes: u64,
    /// Receive bytes granted and unread per node (at least one channel's window).
    pub max_node_receive_bytes: u64,
    /// Live sessions per peer fingerprint (disconnected ones of a peer are replaced).
    pub max_sessions_per_peer: usize,
    /// Inbound sessions per remote address.
    pub max_sessions_per_address: usize,
    /// Inbound handshakes in flight per remote address.
    pub max_pending_handshakes_per_address: usize,
    /// Deadline (ms) of an inbound connection that has sent no byte (no ClientHello) yet.
    pub client_hello_timeout_ms: u64,
    /// Who may connect in.
    pub allow_peers: AllowPeers,
    /// Enables `web4_rtt_test_inject`.
    pub test_hooks: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            key_pem: String::new(),
            heartbeat_interval_ms: 1000,
            heartbeat_timeout_ms: 5000,
            resume_window_ms: 30_000,
            reconnect_initial_delay_ms: 20,
            reconnect_max_delay_ms: 2000,
            reconnect_max_attempts: 1000,
            max_queue: 1024,
            max_queue_bytes: 8 << 20,
            backpressure_policy: Policy::Block,
            block_timeout_ms: 30_000,
            max_message_bytes: 16 << 20,
            max_channels: 64,
            max_sessions: 256,
            max_pending_handshakes: 64,
            handshake_timeout_ms: 5000,
            rekey_after_bytes: 1 << 30,
            rekey_after_ms: 600_000,
            replay_flood_limit: 64,
            replay_flood_window_ms: 10_000,
            replay_report_interval_ms: 1000,
            max_unacked_bytes: 16 << 20,
            ack_timeout_ms: 20_000,
            unopened_window_bytes: 64 << 10,
            unopened_window_msgs: 16,
            max_session_receive_bytes: 256 << 20,
            max_node_receive_bytes: 512 << 20,
            max_sessions_per_peer: 8,
            max_sessions_per_address: 128,
            max_pending_handshakes_per_address: 32,
            client_hello_timeout_ms: 2000,
            allow_peers: AllowPeers::Word("any".into()),
            test_hooks: false,
        }
    }
}

fn range(name: &str, v: u64, lo: u64, hi: u64) -> Result<(), String> {
    if v < lo || v > hi {
        Err(format!("Config field {name} = {v} is outside {lo}..={hi}"))
    } else {
        Ok(())
    }
}

impl Config {
    /// Parses and checks a JSON configuration.
    pub fn from_json(json: &[u8]) -> Result<Self, String> {
        let cfg: Config =
            serde_json::from_slice(json).map_err(|e| format!("Invalid node config JSON: {e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every range.
    pub fn validate(&self) -> Result<(), String> {
        const DAY: u64 = 86_400_000;
        if self.key_pem.is_empty() {
            return Err("Config field key_pem is required".into());
        }
        range("heartbeat_interval_ms", self.heartbeat_interval_ms, 1, DAY)?;
        range("heartbeat_timeout_ms", self.heartbeat_timeout_ms, 1, DAY)?;
        range("resume_window_ms", self.resume_window_ms, 0, DAY)?;
        range(
            "reconnect_initial_delay_ms",
            self.reconnect_initial_delay_ms,
            0,
            DAY,
        )?;
        range(
            "reconnect_max_delay_ms",
            self.reconnect_max_delay_ms,
            0,
            DAY,
        )?;
        range(
            "reconnect_max_attempts",
            u64::from(self.reconnect_max_attempts),
            0,
            u64::from(u32::MAX),
        )?;
        range("max_queue", self.max_queue as u64, 1, 1 << 24)?;
        range("max_queue_bytes", self.max_queue_bytes as u64, 1, 1 << 34)?;
        range("block_timeout_ms", self.block_timeout_ms, 0, DAY)?;
        range(
            "max_message_bytes",
            self.max_message_bytes as u64,
            1,
            1 << 30,
        )?;
        range("max_channels", self.max_channels as u64, 1, 65_536)?;
        range("max_sessions", self.max_sessions as u64, 1, 1 << 20)?;
        range(
            "max_pending_handshakes",
            self.max_pending_handshakes as u64,
            1,
            1 << 16,
        )?;
        range("handshake_timeout_ms", self.handshake_timeout_ms, 1, DAY)?;
        range("rekey_after_bytes", self.rekey_after_bytes, 1, u64::MAX)?;
        range("rekey_after_ms", self.rekey_after_ms, 1, u64::MAX)?;
        range("replay_flood_limit", self.replay_flood_limit, 0, 1 << 32)?;
        range(
            "max_unacked_bytes",
            self.max_unacked_bytes,
            crate::codec::FRAGMENT_SIZE as u64,
            1 << 34,
        )?;
        range("ack_timeout_ms", self.ack_timeout_ms, 1, DAY)?;
        range(
            "max_sessions_per_peer",
            self.max_sessions_per_peer as u64,
            1,
            1 << 20,
        )?;
        range(
            "max_sessions_per_address",
            self.max_sessions_per_address as u64,
            1,
            1 << 20,
        )?;
        range(
            "max_pending_handshakes_per_address",
            self.max_pending_handshakes_per_address as u64,
            1,
            1 << 16,
        )?;
        range(
            "client_hello_timeout_ms",
            self.client_hello_timeout_ms,
            1,
            DAY,
        )?;
        range(
            "unopened_window_bytes",
            self.unopened_window_bytes,
            0,
            1 << 34,
        )?;
        range(
            "unopened_window_msgs",
            self.unopened_window_msgs,
            0,
            1 << 24,
        )?;
        range(
            "max_session_receive_bytes",
            self.max_session_receive_bytes,
            1,
            1 << 40,
        )?;
        range(
            "max_node_receive_bytes",
            self.max_node_receive_bytes,
            1,
            1 << 42,
        )?;
        range(
            "replay_flood_window_ms",
            self.replay_flood_window_ms,
            1,
            DAY,
        )?;
        range(
            "replay_report_interval_ms",
            self.replay_report_interval_ms,
            0,
            DAY,
        )?;
        match &self.allow_peers {
            AllowPeers::Word(w) if w == "any" => {}
            AllowPeers::Word(w) => {
                return Err(format!(
                    "Config field allow_peers = {w:?} must be \"any\" or a list"
                ))
            }
            AllowPeers::List(l) => {
                if let Some(bad) = l.iter().find(|f| !crate::tls::valid_fingerprint(f)) {
                    return Err(format!(
                        "Config field allow_peers holds {bad:?}, not a 64-hex-digit fingerprint"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_json(
            br#"{"key_pem":"x","max_queue":5,"backpressure_policy":"drop_oldest"}"#,
        )
        .unwrap();
        assert_eq!(c.max_queue, 5);
        assert_eq!(c.backpressure_policy, Policy::DropOldest);
        assert_eq!(c.heartbeat_interval_ms, 1000);
        assert!(Config::from_json(br#"{"key_pem":"x","max_queue":0}"#).is_err());
        assert!(Config::from_json(br#"{"key_pem":"x","bogus":1}"#).is_err());
        assert!(Config::from_json(br#"{"key_pem":"x","allow_peers":"some"}"#).is_err());
        assert!(Config::from_json(br#"{"key_pem":"x","allow_peers":["zz"]}"#).is_err());
        assert!(Config::from_json(br#"{}"#).is_err());
    }
}
