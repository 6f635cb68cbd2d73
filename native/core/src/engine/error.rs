//! The engine's errors: a refused send or open, and a frame the peer
//! should not have sent.

use super::MAX_CREDIT_WINDOW_BYTES;
use super::MAX_CREDIT_WINDOW_MSGS;
use crate::codec::{self, FrameType};

/// Why a send was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No such channel.
    UnknownChannel,
    /// The channel was closed locally.
    ChannelClosed,
    /// The session is closing or closed.
    SessionClosed,
    /// Larger than the maximum message.
    TooLarge,
    /// Policy `error`, queue full.
    QueueFull,
    /// Policy `block`, queue full: wait for room.
    WouldBlock,
}

/// Why a channel could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Not a valid kind.
    InvalidKind,
    /// Channel limit reached.
    TooManyChannels,
    /// The session is closed.
    SessionClosed,
}

/// A frame the peer should not have sent: the connection ends and the
/// session closes with `protocol_error` (resuming would meet it again).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// OPEN whose kind is not valid UTF-8 / not a valid kind, or channel 0.
    BadOpen(String),
    /// The peer declared one id for two kinds, or two ids for one kind.
    ChannelIdReused(String),
    /// A frame for a channel the peer never declared.
    UnknownChannel(u32),
    /// ACK of a sequence number never sent.
    AckBeyondSent {
        /// Channel kind.
        kind: String,
        /// The acknowledged sequence.
        seq: u64,
    },
    /// A sequence gap.
    SequenceGap {
        /// Channel kind.
        kind: String,
        /// Received.
        got: u64,
        /// Expected.
        expected: u64,
    },
    /// Data after the peer's FIN, or FIN inside a message.
    AfterFin(String),
    /// FIN inside a message.
    FinInsideMessage(String),
    /// More than the credit granted (messages or bytes), or a message above the maximum.
    CreditExceeded(String),
    /// A CREDIT granting more than any receive window can hold.
    CreditTooLarge(String),
    /// A message larger than the session's receive budget: it could never
    /// be read, so it is refused (the session closes `message_too_large`).
    OverBudget {
        /// Channel kind.
        kind: String,
        /// Bytes of the message received so far.
        received: u64,
        /// The session's receive budget.
        budget: u64,
    },
    /// A malformed payload (CREDIT).
    Codec(codec::CodecError),
    /// A handshake frame on an established connection.
    Unexpected(FrameType),
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::BadOpen(k) => write!(f, "OPEN with invalid kind {k:?}"),
            ProtocolError::ChannelIdReused(k) => {
                write!(f, "peer reused or changed the channel id of {k:?}")
            }
            ProtocolError::UnknownChannel(c) => write!(f, "frame for unknown channel {c}"),
            ProtocolError::AckBeyondSent { kind, seq } => {
                write!(f, "ACK {seq} for a frame never sent on {kind:?}")
            }
            ProtocolError::SequenceGap {
                kind,
                got,
                expected,
            } => write!(
                f,
                "sequence gap on {kind:?}: got {got}, expected {expected}"
            ),
            ProtocolError::AfterFin(k) => write!(f, "frame after FIN on {k:?}"),
            ProtocolError::FinInsideMessage(k) => write!(f, "FIN inside a message on {k:?}"),
            ProtocolError::CreditExceeded(k) => write!(f, "peer exceeded its credit on {k:?}"),
            ProtocolError::CreditTooLarge(k) => write!(
                f,
                "CREDIT on {k:?} grants more than {MAX_CREDIT_WINDOW_BYTES} bytes or {MAX_CREDIT_WINDOW_MSGS} messages beyond what was sent"
            ),
            ProtocolError::OverBudget {
                kind,
                received,
                budget,
            } => write!(
                f,
                "a message on {kind:?} is larger than the session's receive budget of {budget} bytes ({received} bytes received and more to come)"
            ),
            ProtocolError::Codec(e) => write!(f, "{e}"),
            ProtocolError::Unexpected(t) => {
                write!(f, "unexpected {t:?} frame on an established connection")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SendError::UnknownChannel => "no such channel",
            SendError::ChannelClosed => "the channel is closed",
            SendError::SessionClosed => "the session is closed",
            SendError::TooLarge => "the message exceeds max_message_bytes",
            SendError::QueueFull => "the send queue is full",
            SendError::WouldBlock => "the send queue is full; wait for room",
        })
    }
}

impl std::error::Error for SendError {}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpenError::InvalidKind => "not a valid channel kind",
            OpenError::TooManyChannels => "max_channels reached",
            OpenError::SessionClosed => "the session is closed",
        })
    }
}

impl std::error::Error for OpenError {}

/// Why a peer's resume list was refused (the handshake answers
/// `RESUME_REJECTED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResumeListError {
    /// It names a channel we do not have.
    UnknownChannel(u32),
    /// It names a channel twice.
    Twice(u32),
    /// It claims a sequence beyond what we sent.
    Beyond {
        /// Our channel id.
        channel: u32,
        /// The claimed sequence.
        seq: u64,
        /// The last sequence we sent.
        sent: u64,
    },
}

impl std::fmt::Display for ResumeListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResumeListError::UnknownChannel(id) => {
                write!(f, "resume list names unknown channel {id}")
            }
            ResumeListError::Twice(id) => write!(f, "resume list names channel {id} twice"),
            ResumeListError::Beyond { channel, seq, sent } => write!(
                f,
                "resume list claims sequence {seq} on channel {channel}, beyond the {sent} sent"
            ),
        }
    }
}

impl std::error::Error for ResumeListError {}
