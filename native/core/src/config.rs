//! Endpoint configuration: the one source of truth for every limit's
//! default and range.
//!
//! [`LIMITS`] lists each numeric field with its default, minimum and
//! maximum; [`Config::default`] and [`Config::validate`] are generated from
//! the same table, the FFI layer hands it to TypeScript
//! (`web4_rtt_config_limits`), and `lib/rtt/limits.ts` is generated from it
//! (a test compares the two). Nothing here parses JSON: the FFI layer does.

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

/// The default, minimum and maximum of one numeric field of [`Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The field's name (snake_case, as in the config).
    pub name: &'static str,
    /// Its default.
    pub default: u64,
    /// The smallest value allowed.
    pub min: u64,
    /// The largest value allowed.
    pub max: u64,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required field is missing.
    Missing(&'static str),
    /// A numeric field is outside its range.
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The smallest allowed.
        min: u64,
        /// The largest allowed.
        max: u64,
    },
    /// A field must not be below another.
    Below {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The field it must not be below.
        other: &'static str,
        /// That field's value.
        other_value: u64,
    },
    /// `allow_peers` is a word other than `"any"`.
    AllowPeersWord(String),
    /// `allow_peers` holds something that is not a fingerprint.
    AllowPeersEntry(String),
    /// `id_seed` is neither empty nor 64 hex digits (its value is not kept).
    IdSeed,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Missing(field) => write!(f, "Config field {field} is required"),
            ConfigError::OutOfRange {
                field,
                value,
                min,
                max,
            } => write!(f, "Config field {field} = {value} is outside {min}..={max}"),
            ConfigError::Below {
                field,
                value,
                other,
                other_value,
            } => write!(
                f,
                "Config field {field} = {value} must not be below {other} = {other_value}"
            ),
            ConfigError::AllowPeersWord(w) => write!(
                f,
                "Config field allow_peers = {w:?} must be \"any\" or a list"
            ),
            ConfigError::AllowPeersEntry(e) => write!(
                f,
                "Config field allow_peers holds {e:?}, not a 64-hex-digit fingerprint"
            ),
            ConfigError::IdSeed => write!(f, "Config field id_seed must be empty or 64 hex digits"),
        }
    }
}

impl std::error::Error for ConfigError {}

const DAY: u64 = 86_400_000;
const HOUR: u64 = 3_600_000;
const MIB: u64 = 1 << 20;
/// The largest integer a JavaScript number holds exactly (2^53 - 1).
const JS_MAX_SAFE: u64 = (1 << 53) - 1;

/// Declares [`Config`]'s numeric fields once: the struct fields, their
/// defaults ([`Config::default`]), their ranges ([`LIMITS`]) and the check
/// ([`Config::validate`]) all come from this list.
macro_rules! limits {
    ($(
        $(#[$doc:meta])*
        $field:ident: $ty:ty = $default:expr, $min:expr, $max:expr;
    )*) => {
        /// Endpoint configuration. Every limit against abuse is set here,
        /// with its default and range in [`LIMITS`].
        #[derive(Clone, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Config {
            /// PKCS#8 v1 PEM of the Ed25519 key (required; never printed).
            pub key_pem: String,
            $( $(#[$doc])* pub $field: $ty, )*
            /// Default policy for full queues.
            pub backpressure_policy: Policy,
            /// Who may connect in.
            pub allow_peers: AllowPeers,
            /// Enables the test hooks (only in a build with the `test-hooks` feature).
            pub test_hooks: bool,
            /// 64 hex digits (32 bytes) from which the node draws its session
            /// ids, so that two runs with the same seed give the same ids;
            /// empty: drawn from the system's random source. Never printed.
            pub id_seed: String,
        }

        /// Every numeric field of [`Config`]: default, minimum, maximum.
        pub const LIMITS: &[Limit] = &[
            $( Limit { name: stringify!($field), default: $default, min: $min, max: $max }, )*
        ];

        impl Default for Config {
            fn default() -> Self {
                Config {
                    key_pem: String::new(),
                    // The table's defaults fit their field types (a test checks
                    // every default against its range).
                    $( $field: $default as $ty, )*
                    backpressure_policy: Policy::Block,
                    allow_peers: AllowPeers::Word("any".into()),
                    test_hooks: false,
                    id_seed: String::new(),
                }
            }
        }

        impl Config {
            /// The numeric fields' values, in [`LIMITS`] order.
            pub fn numeric_values(&self) -> Vec<(&'static str, u64)> {
                vec![ $( (stringify!($field), self.$field as u64), )* ]
            }
        }
    };
}

limits! {
    /// Interval between pings (ms).
    heartbeat_interval_ms: u64 = 1000, 10, DAY;
    /// Silence after which the connection counts as dead (ms).
    heartbeat_timeout_ms: u64 = 5000, 10, DAY;
    /// How long a lost session may be resumed (ms); 0 disables resumption.
    resume_window_ms: u64 = 30_000, 0, DAY;
    /// First reconnect delay (ms).
    reconnect_initial_delay_ms: u64 = 20, 1, HOUR;
    /// Largest reconnect delay (ms); not below the first.
    reconnect_max_delay_ms: u64 = 2000, 1, HOUR;
    /// Reconnect attempts per lost connection.
    reconnect_max_attempts: u32 = 1000, 1, 1_000_000_000;
    /// Send queue bound per channel (messages).
    max_queue: usize = 1024, 1, 1 << 24;
    /// Send queue bound per channel (bytes).
    max_queue_bytes: usize = 8 * MIB, 1, 4096 * MIB;
    /// Timeout of the `block` policy (ms).
    block_timeout_ms: u64 = 30_000, 0, DAY;
    /// Largest message (bytes); also the per-channel receive window.
    max_message_bytes: usize = 16 * MIB, 1, 1024 * MIB;
    /// Channels per session.
    max_channels: usize = 64, 1, 65_535;
    /// Concurrent sessions per endpoint.
    max_sessions: usize = 256, 1, 65_535;
    /// TLS handshakes in flight on the listener; one is shed beyond it.
    max_pending_handshakes: usize = 64, 1, 65_535;
    /// Deadline of a whole inbound or outbound handshake (ms).
    handshake_timeout_ms: u64 = 5000, 1, HOUR;
    /// Rekey (TLS KeyUpdate) after this many bytes on a connection.
    rekey_after_bytes: u64 = 1024 * MIB, 1, JS_MAX_SAFE;
    /// Rekey after this long (ms).
    rekey_after_ms: u64 = 600_000, 1, 30 * DAY;
    /// Replays tolerated per window; one more closes the session (`replay_flood`).
    replay_flood_limit: u64 = 64, 0, 1_000_000;
    /// The replay-counting window (ms).
    replay_flood_window_ms: u64 = 10_000, 1, DAY;
    /// Shortest interval between two replay reports of a session (ms).
    replay_report_interval_ms: u64 = 1000, 0, DAY;
    /// Unacknowledged DATA bytes per channel (retransmit buffer bound).
    max_unacked_bytes: u64 = 16 * MIB, crate::codec::MAX_DATA_PAYLOAD as u64, 16_384 * MIB;
    /// Data unacknowledged this long on a live connection: the peer is dead (`ack_timeout`).
    ack_timeout_ms: u64 = 20_000, 1, DAY;
    /// Receive window (bytes) of a channel the peer declared and the application has not opened.
    unopened_window_bytes: u64 = 64 * 1024, 0, 16_384 * MIB;
    /// Receive window (messages) of such a channel.
    unopened_window_msgs: u64 = 16, 0, 1 << 24;
    /// The default receive budget of a session: bytes granted and unread
    /// (raised to one channel's window; the application sets each session's own).
    max_session_receive_bytes: u64 = 256 * MIB, 1, 1 << 40;
    /// Receive bytes granted and unread per endpoint (at least one channel's window).
    max_node_receive_bytes: u64 = 512 * MIB, 1, 1 << 42;
    /// Live sessions per peer fingerprint (disconnected ones of a peer are replaced).
    max_sessions_per_peer: usize = 8, 1, 65_535;
    /// Inbound sessions per remote address (an IPv6 /64 counts as one).
    max_sessions_per_address: usize = 128, 1, 65_535;
    /// Inbound handshakes in flight per remote address.
    max_pending_handshakes_per_address: usize = 32, 1, 65_535;
    /// Deadline (ms) of an inbound connection that has sent no byte (no ClientHello) yet.
    client_hello_timeout_ms: u64 = 2000, 1, HOUR;
}

impl std::fmt::Debug for Config {
    /// Every field but the key, which is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Config");
        d.field("key_pem", &"<redacted>");
        for (name, value) in self.numeric_values() {
            d.field(name, &value);
        }
        d.field("backpressure_policy", &self.backpressure_policy)
            .field("allow_peers", &self.allow_peers)
            .field("test_hooks", &self.test_hooks)
            .field(
                "id_seed",
                &if self.id_seed.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .finish()
    }
}

impl Config {
    /// Checks every range of [`LIMITS`] and the rules between fields.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.key_pem.is_empty() {
            return Err(ConfigError::Missing("key_pem"));
        }
        for (limit, (_, value)) in LIMITS.iter().zip(self.numeric_values()) {
            if value < limit.min || value > limit.max {
                return Err(ConfigError::OutOfRange {
                    field: limit.name,
                    value,
                    min: limit.min,
                    max: limit.max,
                });
            }
        }
        if self.reconnect_max_delay_ms < self.reconnect_initial_delay_ms {
            return Err(ConfigError::Below {
                field: "reconnect_max_delay_ms",
                value: self.reconnect_max_delay_ms,
                other: "reconnect_initial_delay_ms",
                other_value: self.reconnect_initial_delay_ms,
            });
        }
        match &self.allow_peers {
            AllowPeers::Word(w) if w == "any" => {}
            AllowPeers::Word(w) => return Err(ConfigError::AllowPeersWord(w.clone())),
            AllowPeers::List(l) => {
                if let Some(bad) = l.iter().find(|f| !crate::tls::valid_fingerprint(f)) {
                    return Err(ConfigError::AllowPeersEntry(bad.clone()));
                }
            }
        }
        if !self.id_seed.is_empty() && self.id_seed_bytes().is_none() {
            return Err(ConfigError::IdSeed);
        }
        Ok(())
    }

    /// The 32 bytes of `id_seed`, or `None` when it is empty or malformed.
    pub fn id_seed_bytes(&self) -> Option<[u8; 32]> {
        let hex = self.id_seed.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16);
            out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Some(out)
    }

    /// The limit named `name`, if it is one.
    pub fn limit(name: &str) -> Option<&'static Limit> {
        LIMITS.iter().find(|l| l.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut Config)) -> Config {
        let mut c = Config {
            key_pem: "x".into(),
            ..Config::default()
        };
        f(&mut c);
        c
    }

    #[test]
    fn every_default_is_within_its_range_and_survives_its_field_type() {
        let c = Config::default();
        for (limit, (name, value)) in LIMITS.iter().zip(c.numeric_values()) {
            assert_eq!(limit.name, name);
            assert_eq!(limit.default, value, "{name}: the default fits the field");
            assert!(
                limit.min <= limit.default && limit.default <= limit.max,
                "{name}"
            );
            assert!(
                limit.max <= JS_MAX_SAFE,
                "{name}: TypeScript numbers hold it exactly"
            );
        }
        assert!(with(|_| {}).validate().is_ok());
    }

    #[test]
    fn out_of_range_values_and_bad_fields_are_refused_with_typed_errors() {
        assert_eq!(
            with(|c| c.max_queue = 0).validate(),
            Err(ConfigError::OutOfRange {
                field: "max_queue",
                value: 0,
                min: 1,
                max: 1 << 24
            })
        );
        assert!(matches!(
            with(|c| c.heartbeat_interval_ms = 9).validate(),
            Err(ConfigError::OutOfRange {
                field: "heartbeat_interval_ms",
                ..
            })
        ));
        assert!(matches!(
            with(|c| c.reconnect_max_delay_ms = 5).validate(),
            Err(ConfigError::Below { .. })
        ));
        assert!(matches!(
            with(|c| c.allow_peers = AllowPeers::Word("some".into())).validate(),
            Err(ConfigError::AllowPeersWord(_))
        ));
        assert!(matches!(
            with(|c| c.allow_peers = AllowPeers::List(vec!["zz".into()])).validate(),
            Err(ConfigError::AllowPeersEntry(_))
        ));
        assert_eq!(
            Config::default().validate(),
            Err(ConfigError::Missing("key_pem"))
        );
        for bad in ["ab", &"g".repeat(64), &"a".repeat(63)] {
            let c = with(|c| c.id_seed = bad.to_string());
            assert_eq!(c.validate(), Err(ConfigError::IdSeed), "{bad:?}");
        }
        let c = with(|c| c.id_seed = "0f".repeat(32));
        assert!(c.validate().is_ok());
        assert_eq!(c.id_seed_bytes(), Some([0x0f; 32]));
    }

    #[test]
    fn the_key_is_never_printed() {
        let c = with(|c| c.key_pem = "-----BEGIN PRIVATE KEY-----secret".into());
        let text = format!("{c:?}");
        assert!(!text.contains("secret"));
        assert!(text.contains("heartbeat_interval_ms: 1000"));
        let c = with(|c| c.id_seed = "ab".repeat(32));
        assert!(!format!("{c:?}").contains("abab"));
    }
}
