//! Errors of the endpoint layer: one non-exhaustive enum, typed data in
//! every variant and the lower layer's error as its
//! [`source`](std::error::Error::source). The FFI layer turns them into
//! status codes and their text into the last error; nothing below it
//! formats a message before it is asked to.

use crate::config::ConfigError;
use crate::engine::{OpenError, SendError};
use crate::tls::KeyError;

/// Errors of the endpoint layer.
#[derive(Debug)]
#[non_exhaustive]
pub enum EndpointError {
    /// The configuration was refused.
    Config(ConfigError),
    /// The key could not be loaded, or a TLS configuration built from it.
    Key(KeyError),
    /// rustls refused to start a connection.
    Tls(rustls::Error),
    /// A fingerprint argument that is not 64 lowercase hex digits.
    BadFingerprint(String),
    /// A session receive budget of 0 bytes.
    ZeroBudget,
    /// No such session handle.
    UnknownSession(u64),
    /// No such connection id.
    UnknownConnection(u32),
    /// The engine refused a channel operation.
    Channel {
        /// The session id (hex).
        session: String,
        /// The peer's fingerprint.
        peer: String,
        /// The channel id.
        channel: u32,
        /// The channel's kind, if the channel exists.
        kind: Option<String>,
        /// Why.
        source: SendError,
    },
    /// A channel could not be opened.
    Open {
        /// The session id (hex).
        session: String,
        /// The kind asked for.
        kind: String,
        /// Why.
        source: OpenError,
    },
    /// The session is closed.
    SessionClosed {
        /// The session id (hex).
        session: String,
    },
    /// The session is not waiting for a reconnect (a resume was asked for).
    NotReconnecting {
        /// The session id (hex).
        session: String,
    },
    /// The session is not closed yet (it cannot be released).
    NotClosed {
        /// The session id (hex).
        session: String,
    },
    /// The endpoint is shut down.
    ShutDown,
    /// A test hook was refused.
    Hook(HookError),
}

/// Why a test hook was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookError {
    /// The endpoint was created with `test_hooks` false.
    Disabled,
    /// No channel of this kind.
    NoChannel(String),
    /// The channel has no acknowledged frame to replay.
    NothingToReplay(String),
}

impl std::fmt::Display for HookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookError::Disabled => {
                f.write_str("Test hooks are disabled (node config test_hooks is false)")
            }
            HookError::NoChannel(kind) => write!(f, "No channel {kind:?}"),
            HookError::NothingToReplay(kind) => {
                write!(f, "Channel {kind:?} has no acknowledged frame to replay")
            }
        }
    }
}

impl std::error::Error for HookError {}

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointError::Config(e) => write!(f, "{e}"),
            EndpointError::Key(e) => write!(f, "{e}"),
            EndpointError::Tls(e) => write!(f, "TLS connection refused: {e}"),
            EndpointError::BadFingerprint(fp) => {
                write!(f, "Fingerprint {fp:?} is not 64 lowercase hex digits")
            }
            EndpointError::ZeroBudget => {
                f.write_str("A session receive budget must be at least 1 byte")
            }
            EndpointError::UnknownSession(key) => write!(f, "Unknown session handle {key}"),
            EndpointError::UnknownConnection(id) => write!(f, "Unknown connection {id}"),
            EndpointError::Channel {
                session,
                peer,
                channel,
                kind,
                source,
            } => {
                let kind = kind.as_deref().unwrap_or("?");
                match source {
                    SendError::UnknownChannel => {
                        write!(f, "Unknown channel {channel} in session {session}")
                    }
                    SendError::ChannelClosed => {
                        write!(f, "Channel {kind:?} of session {session} is closed")
                    }
                    SendError::SessionClosed => {
                        write!(f, "Session {session} with peer {peer} is closed")
                    }
                    SendError::TooLarge => {
                        write!(f, "Message on channel {kind:?} exceeds max_message_bytes")
                    }
                    SendError::QueueFull => write!(f, "Send queue of channel {kind:?} is full"),
                    SendError::WouldBlock => {
                        write!(f, "Send queue of channel {kind:?} is full; wait for room")
                    }
                }
            }
            EndpointError::Open {
                session,
                kind,
                source,
            } => match source {
                OpenError::InvalidKind => write!(f, "Channel kind {kind:?} is not valid"),
                OpenError::TooManyChannels => {
                    write!(f, "Cannot open channel {kind:?}: max_channels reached")
                }
                OpenError::SessionClosed => write!(f, "Session {session} is closed"),
            },
            EndpointError::SessionClosed { session } => write!(f, "Session {session} is closed"),
            EndpointError::NotReconnecting { session } => {
                write!(f, "Session {session} is not waiting for a reconnect")
            }
            EndpointError::NotClosed { session } => {
                write!(f, "Session {session} is not closed yet")
            }
            EndpointError::ShutDown => f.write_str("The node is shut down"),
            EndpointError::Hook(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EndpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EndpointError::Config(e) => Some(e),
            EndpointError::Key(e) => Some(e),
            EndpointError::Tls(e) => Some(e),
            EndpointError::Channel { source, .. } => Some(source),
            EndpointError::Open { source, .. } => Some(source),
            EndpointError::Hook(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for EndpointError {
    fn from(e: ConfigError) -> Self {
        EndpointError::Config(e)
    }
}

impl From<KeyError> for EndpointError {
    fn from(e: KeyError) -> Self {
        EndpointError::Key(e)
    }
}

impl From<HookError> for EndpointError {
    fn from(e: HookError) -> Self {
        EndpointError::Hook(e)
    }
}
