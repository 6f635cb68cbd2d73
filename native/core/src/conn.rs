//! One connection: a rustls connection fed with received bytes and drained
//! of bytes to write, the RTT handshake phase it is in, and its timers.
//!
//! Sans-I/O: no sockets, no clocks. The node passes the time in (in
//! microseconds of the caller's monotonic clock) and moves bytes in and out.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::Arc;

use crate::codec::{self, Frame, FrameRef, FrameType, MAX_FRAME_PAYLOAD};
use crate::tls;

/// Why a TLS or handshake step failed, with the code the application sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeFailure {
    /// `FINGERPRINT_MISMATCH`, `PEER_NOT_ALLOWED`, `TLS_FAILED`, ...
    pub code: &'static str,
    /// Human-readable text.
    pub message: String,
    /// Whether it counts as a verification failure.
    pub counted: bool,
}

impl HandshakeFailure {
    /// An uncounted failure.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        HandshakeFailure {
            code,
            message: message.into(),
            counted: false,
        }
    }
}

/// Errors of the connection layer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnError {
    /// The TLS handshake (or the RTT HELLO/ACCEPT exchange) failed.
    Handshake(HandshakeFailure),
    /// TLS failed after the handshake.
    Tls(String),
    /// A frame could not be decoded.
    Codec(codec::CodecError),
    /// The peer ended the TLS stream (close_notify).
    PeerClosedTls,
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Handshake(h) => write!(f, "{}: {}", h.code, h.message),
            ConnError::Tls(m) => write!(f, "TLS error: {m}"),
            ConnError::Codec(e) => write!(f, "{e}"),
            ConnError::PeerClosedTls => f.write_str("the peer closed the TLS stream"),
        }
    }
}

impl std::error::Error for ConnError {}

/// Maps a rustls error to the handshake failure the application sees.
pub fn classify(e: &rustls::Error, client: bool, peer: &str) -> HandshakeFailure {
    use rustls::{AlertDescription as A, CertificateError as C, Error as R};
    let counted = |code, message: String| HandshakeFailure {
        code,
        message,
        counted: true,
    };
    match e {
        R::InvalidCertificate(C::ApplicationVerificationFailure) if client => counted(
            "FINGERPRINT_MISMATCH",
            format!(
                "Peer {peer} presented a certificate whose fingerprint differs from the pinned one"
            ),
        ),
        R::InvalidCertificate(C::ApplicationVerificationFailure) => counted(
            "PEER_NOT_ALLOWED",
            "Peer fingerprint is not in allow_peers".into(),
        ),
        R::AlertReceived(A::AccessDenied) if client => counted(
            "PEER_NOT_ALLOWED",
            format!("Peer {peer} refused our fingerprint (not allowed)"),
        ),
        R::AlertReceived(A::AccessDenied | A::BadCertificate | A::CertificateUnknown) => counted(
            "FINGERPRINT_MISMATCH",
            "Peer refused our certificate: its pinned fingerprint differs from ours".into(),
        ),
        R::InvalidCertificate(c) => counted(
            "TLS_FAILED",
            format!("Peer {peer} certificate refused: {c:?}"),
        ),
        r => HandshakeFailure::new(
            "TLS_FAILED",
            format!("TLS handshake with {peer} failed: {r}"),
        ),
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TLS handshake in progress.
    Tls,
    /// Client: HELLO sent, waiting for ACCEPT or REJECT.
    AwaitAccept,
    /// Server: TLS done, waiting for HELLO.
    AwaitHello,
    /// Carries session `0`.
    Open(u64),
    /// Detached; only pending output (an alert, close_notify) remains.
    Ended,
}

/// What a client connection is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A new session pinned to this fingerprint.
    Connect,
    /// Resumption of session `0`.
    Resume(u64),
}

/// Which side of the connection we are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// We dialed.
    Client {
        /// The pinned fingerprint.
        fingerprint: String,
        /// New session or resumption.
        purpose: Purpose,
    },
    /// We accepted.
    Server,
}

/// Plaintext encoded per transmit batch, at most.
pub const OUT_BATCH: usize = 256 * 1024;

/// One connection's state.
pub struct Conn {
    /// The TLS state machine.
    pub tls: rustls::Connection,
    /// Handshake phase.
    pub phase: Phase,
    /// Client or server.
    pub role: Role,
    /// Authenticated peer fingerprint, once known.
    pub peer_fp: String,
    /// Received plaintext not decoded yet.
    plain: Vec<u8>,
    /// The next batch of plaintext to encrypt (large payloads as slices).
    /// Starts empty and grows to what the connection's batches need (its
    /// capacity is kept between batches): a handshake or a small message
    /// needs a few hundred bytes, so no connection pays for a full
    /// [`OUT_BATCH`] at set-up.
    pub scratch: crate::engine::OutBatch,
    /// Last time anything arrived (us).
    pub last_rx: u64,
    /// Pings in flight: (nonce, sent at us).
    pub pings: VecDeque<(u64, u64)>,
    /// The time-based rekey is due (its timer fired).
    pub rekey_due: bool,
    /// Bytes moved since the last rekey.
    pub rekey_bytes: u64,
    /// The driver is writing this connection's output.
    pub busy: bool,
    /// Queued in the node's list of connections to transmit.
    pub dirty: bool,
    /// Deferred frames must go out with the next transmit.
    pub flush_deferred: bool,
    /// The remote address as the driver gave it ("" if unknown).
    pub addr: Arc<str>,
    /// Whether any byte arrived (a ClientHello, for an inbound one).
    pub got_input: bool,
}

impl Conn {
    /// A connection in its TLS handshake (its deadlines live in the
    /// endpoint's timer table).
    pub fn new(tls: rustls::Connection, role: Role, now: u64) -> Self {
        let mut tls = tls;
        // Output is bounded by the batches this layer prepares, not by rustls.
        tls.set_buffer_limit(None);
        Conn {
            tls,
            phase: Phase::Tls,
            role,
            peer_fp: String::new(),
            plain: Vec::new(),
            scratch: crate::engine::OutBatch::default(),
            last_rx: now,
            pings: VecDeque::new(),
            rekey_due: false,
            rekey_bytes: 0,
            busy: false,
            dirty: false,
            flush_deferred: false,
            addr: Arc::from(""),
            got_input: false,
        }
    }

    /// Whether the connection is still in a handshake.
    pub fn handshaking(&self) -> bool {
        matches!(
            self.phase,
            Phase::Tls | Phase::AwaitAccept | Phase::AwaitHello
        )
    }

    fn peer_label(&self) -> String {
        match &self.role {
            Role::Client { fingerprint, .. } => fingerprint.clone(),
            Role::Server => "inbound peer".into(),
        }
    }

    /// Feeds received TLS bytes; decrypted plaintext accumulates for
    /// [`Conn::next_frame`]. Returns true when the TLS handshake completed
    /// during this call.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<bool, ConnError> {
        let was = self.tls.is_handshaking();
        self.rekey_bytes += bytes.len() as u64;
        while !bytes.is_empty() {
            // rustls takes a bounded amount per call: loop, process, drain.
            self.tls
                .read_tls(&mut bytes)
                .map_err(|e| ConnError::Tls(e.to_string()))?;
            if let Err(e) = self.tls.process_new_packets() {
                let client = matches!(self.role, Role::Client { .. });
                return Err(if self.handshaking() {
                    ConnError::Handshake(classify(&e, client, &self.peer_label()))
                } else {
                    ConnError::Tls(e.to_string())
                });
            }
            self.drain_plaintext()?;
        }
        Ok(was && !self.tls.is_handshaking())
    }

    fn drain_plaintext(&mut self) -> Result<(), ConnError> {
        // `read_to_end` appends what is readable (into spare capacity, no
        // zero-filling) and stops at `WouldBlock`, keeping what it read; it
        // returns `Ok` only at close_notify.
        match self.tls.reader().read_to_end(&mut self.plain) {
            Ok(_) => Err(ConnError::PeerClosedTls),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(ConnError::Tls(e.to_string())),
        }
    }

    /// Decodes frames from the received plaintext, calling `f` with each
    /// until it returns `false` (stop) or no whole frame is left. Consumed
    /// frames are removed.
    pub fn frames(
        &mut self,
        mut f: impl FnMut(&FrameRef<'_>) -> bool,
    ) -> Result<(), codec::CodecError> {
        let mut pos = 0;
        let mut result = Ok(());
        loop {
            match codec::decode_ref(&self.plain[pos..], MAX_FRAME_PAYLOAD) {
                Ok(Some((frame, used))) => {
                    pos += used;
                    if !f(&frame) {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if pos == self.plain.len() {
            self.plain.clear();
        } else if pos > 0 {
            self.plain.drain(..pos);
        }
        result
    }

    /// Encrypts one frame at once (handshake frames).
    pub fn write_frame(&mut self, f: &Frame) {
        let mut out = Vec::with_capacity(f.encoded_len());
        codec::encode(f, &mut out);
        let _ = self.tls.writer().write_all(&out);
    }

    /// Encrypts the batch in `scratch` (then clears it): one vectored
    /// write, so large payloads go from the message into TLS records with
    /// no intermediate copy.
    pub fn write_scratch(&mut self) {
        if !self.scratch.is_empty() {
            let _ = self.scratch.write_to(&mut self.tls.writer());
        }
    }

    /// Copies pending TLS output into `buf`; returns the bytes written.
    pub fn drain_tls(&mut self, buf: &mut [u8]) -> usize {
        let mut pos = 0;
        while pos < buf.len() && self.tls.wants_write() {
            let mut w = &mut buf[pos..];
            match self.tls.write_tls(&mut w) {
                Ok(0) | Err(_) => break,
                Ok(n) => pos += n,
            }
        }
        self.rekey_bytes += pos as u64;
        pos
    }

    /// The REJECT frame for a refusal.
    pub fn reject_frame(code: &str, message: &str) -> Frame {
        Frame {
            payload: format!("{code}\n{message}").into_bytes(),
            ..Frame::empty(FrameType::Reject, 0, 0)
        }
    }

    /// After the TLS handshake: checks ALPN and reads the peer fingerprint.
    pub fn authenticated(&mut self) -> Result<(), HandshakeFailure> {
        if self.tls.alpn_protocol() != Some(tls::ALPN) {
            return Err(HandshakeFailure::new(
                "TLS_FAILED",
                format!(
                    "Peer {} did not negotiate ALPN web4-rtt/1",
                    self.peer_label()
                ),
            ));
        }
        let fp = self
            .tls
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| tls::cert_ed25519_key(c.as_ref()))
            .map(|k| tls::fingerprint_of(&k))
            .ok_or_else(|| {
                HandshakeFailure::new("TLS_FAILED", "Peer presented no Ed25519 certificate")
            })?;
        self.peer_fp = fp;
        Ok(())
    }
}
