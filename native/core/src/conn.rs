//! One connection: a rustls connection fed with received bytes and drained
//! of bytes to write, the RTT handshake phase it is in, and its timers.
//!
//! Sans-I/O: no sockets, no clocks. The node passes the time in (in
//! microseconds of the caller's monotonic clock) and moves bytes in and out.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::codec::{self, Frame, FrameRef, FrameType, MAX_FRAME_PAYLOAD};
use crate::record::{self, Opened, RecordError, RecordLayer, Schedule};
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

/// The pending-output capacity a connection keeps once it is drained.
const OUT_KEEP: usize = 64 * 1024;

/// rustls' unbuffered connection while the TLS handshake runs.
pub enum Handshake {
    /// We dialed.
    Client(rustls::client::UnbufferedClientConnection),
    /// We accepted.
    Server(rustls::server::UnbufferedServerConnection),
}

/// Where a step of the handshake left it.
enum Step {
    /// Call again.
    Again,
    /// More bytes from the peer are needed.
    Blocked,
    /// rustls would send application data now (the handshake may still be
    /// waiting for the client's Finished on a server).
    Traffic,
}

/// Handles one state of rustls' unbuffered handshake: its records to send
/// go to `out`, application data it decrypted (a HELLO that came with the
/// client's Finished) to `plain`. Returns the bytes of input to discard
/// (also after a failure) and the step.
fn step<Data>(
    status: rustls::unbuffered::UnbufferedStatus<'_, '_, Data>,
    out: &mut Vec<u8>,
    plain: &mut Vec<u8>,
) -> (usize, Result<Step, rustls::Error>) {
    let mut discard = status.discard;
    let r = step_state(status.state, &mut discard, out, plain);
    (discard, r)
}

fn step_state<Data>(
    state: Result<rustls::unbuffered::ConnectionState<'_, '_, Data>, rustls::Error>,
    discard: &mut usize,
    out: &mut Vec<u8>,
    plain: &mut Vec<u8>,
) -> Result<Step, rustls::Error> {
    use rustls::unbuffered::{ConnectionState as S, EncodeError};
    let step = match state? {
        S::ReadTraffic(mut r) => {
            while let Some(rec) = r.next_record() {
                let rec = rec?;
                *discard += rec.discard;
                plain.extend_from_slice(rec.payload);
            }
            Step::Again
        }
        S::EncodeTlsData(mut e) => {
            let at = out.len();
            out.resize(at + 4096, 0);
            loop {
                match e.encode(&mut out[at..]) {
                    Ok(n) => {
                        out.truncate(at + n);
                        break;
                    }
                    Err(EncodeError::InsufficientSize(s)) => out.resize(at + s.required_size, 0),
                    Err(e) => {
                        out.truncate(at);
                        return Err(rustls::Error::General(e.to_string()));
                    }
                }
            }
            Step::Again
        }
        // The records are in `out`, written in order before anything later.
        S::TransmitTlsData(t) => {
            t.done();
            Step::Again
        }
        S::BlockedHandshake => Step::Blocked,
        S::WriteTraffic(_) => Step::Traffic,
        S::PeerClosed | S::Closed => return Err(rustls::Error::HandshakeNotComplete),
        _ => return Err(rustls::Error::General("unexpected TLS state".into())),
    };
    Ok(step)
}

impl Handshake {
    /// Runs the handshake over `incoming` as far as it goes. Returns true
    /// once it is complete (rustls would send application data and expects
    /// nothing more).
    fn drive(
        &mut self,
        incoming: &mut Vec<u8>,
        out: &mut Vec<u8>,
        plain: &mut Vec<u8>,
    ) -> Result<bool, rustls::Error> {
        loop {
            let (discard, s) = match self {
                Handshake::Client(c) => step(c.process_tls_records(incoming), out, plain),
                Handshake::Server(c) => step(c.process_tls_records(incoming), out, plain),
            };
            incoming.drain(..discard);
            match s? {
                Step::Again => {}
                Step::Blocked => return Ok(false),
                Step::Traffic => return Ok(!self.common().is_handshaking()),
            }
        }
    }

    /// After a failure: the alert rustls queued for the peer, into `out`.
    fn drain_alert(&mut self, incoming: &mut Vec<u8>, out: &mut Vec<u8>) {
        let mut plain = Vec::new();
        for _ in 0..4 {
            let (discard, r) = match self {
                Handshake::Client(c) => step(c.process_tls_records(incoming), out, &mut plain),
                Handshake::Server(c) => step(c.process_tls_records(incoming), out, &mut plain),
            };
            incoming.drain(..discard);
            if !matches!(r, Ok(Step::Again)) {
                break;
            }
        }
    }

    fn common(&self) -> &rustls::CommonState {
        match self {
            Handshake::Client(c) => c,
            Handshake::Server(c) => c,
        }
    }

    /// Hands the keys over to a [`RecordLayer`].
    fn into_records(self) -> Result<RecordLayer, ConnError> {
        let tls = |e: rustls::Error| ConnError::Tls(e.to_string());
        let (secrets, schedule) = match self {
            Handshake::Client(c) => {
                let (s, k) = c.dangerous_into_kernel_connection().map_err(tls)?;
                (s, Schedule::Client(k))
            }
            Handshake::Server(c) => {
                let (s, k) = c.dangerous_into_kernel_connection().map_err(tls)?;
                (s, Schedule::Server(k))
            }
        };
        RecordLayer::new(secrets, schedule).map_err(|e| ConnError::Tls(e.to_string()))
    }
}

/// The TLS side of a connection.
enum Tls {
    /// rustls runs the handshake; `incoming` holds what it has not consumed.
    Handshake(Box<Handshake>, Vec<u8>),
    /// After the handshake: records sealed and opened here.
    Records(Box<RecordLayer>),
    /// After a failure.
    Failed,
}

/// What the handshake negotiated, kept when rustls'
/// connection is handed over.
#[derive(Default)]
struct Negotiated {
    alpn: Option<Vec<u8>>,
    peer_cert: Option<Vec<u8>>,
    suite: Option<rustls::CipherSuite>,
}

/// How a connection's received records ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// Every whole record was read (a partial one is kept for the next).
    Read,
    /// The frame handler asked to stop; the rest of the input is dropped.
    Stopped,
    /// The peer's close_notify arrived.
    PeerClosed,
}

/// One connection's state.
pub struct Conn {
    /// The TLS state: the handshake, then the record layer.
    tls: Tls,
    /// Handshake phase.
    pub phase: Phase,
    /// Client or server.
    pub role: Role,
    /// Authenticated peer fingerprint, once known.
    pub peer_fp: String,
    /// Received plaintext not decoded yet (a frame cut by a record's end,
    /// or frames left after a handshake frame changed the phase).
    plain: Vec<u8>,
    /// Encrypted bytes for the driver ahead of anything else: handshake
    /// flights, alerts, KeyUpdates, and records that did not fit the
    /// driver's buffer.
    out: Vec<u8>,
    /// A record received in part.
    carry: Vec<u8>,
    /// Bytes that followed the end of the handshake in the read that
    /// completed it (rustls leaves at most a partial record).
    leftover: Vec<u8>,
    /// What the handshake negotiated.
    negotiated: Negotiated,
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
    pub fn new(tls: Handshake, role: Role, now: u64) -> Self {
        let mut c = Conn {
            tls: Tls::Handshake(Box::new(tls), Vec::new()),
            phase: Phase::Tls,
            role,
            peer_fp: String::new(),
            plain: Vec::new(),
            out: Vec::new(),
            carry: Vec::new(),
            leftover: Vec::new(),
            negotiated: Negotiated::default(),
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
        };
        // A client's first flight (its ClientHello) is ready at once. A
        // failure (not expected from a fresh connection) leaves the TLS state
        // failed, and the handshake timer ends the connection.
        let _ = c.feed_handshake(&[]);
        c
    }

    /// Whether the connection is still in a handshake.
    pub fn handshaking(&self) -> bool {
        matches!(
            self.phase,
            Phase::Tls | Phase::AwaitAccept | Phase::AwaitHello
        )
    }

    /// Whether the TLS handshake itself is still running.
    pub fn tls_handshaking(&self) -> bool {
        matches!(self.tls, Tls::Handshake(..))
    }

    /// The record layer, once the handshake is done (tests).
    #[cfg(test)]
    pub(crate) fn records_mut(&mut self) -> Option<&mut RecordLayer> {
        match &mut self.tls {
            Tls::Records(r) => Some(r),
            _ => None,
        }
    }

    /// Moves the undecoded plaintext out (tests).
    #[cfg(test)]
    pub(crate) fn take_plain_for_test(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.plain);
    }

    /// The suite the handshake agreed on, once it has.
    pub fn negotiated_cipher_suite(&self) -> Option<rustls::CipherSuite> {
        self.negotiated.suite
    }

    fn peer_label(&self) -> String {
        match &self.role {
            Role::Client { fingerprint, .. } => fingerprint.clone(),
            Role::Server => "inbound peer".into(),
        }
    }

    /// Feeds received bytes to the TLS handshake. Records decrypted after it
    /// (a HELLO that came with the client's Finished) accumulate for
    /// [`Conn::frames_in`]; what follows them is kept for
    /// [`Conn::input_records`]. Returns true when the handshake completed
    /// during this call.
    pub fn feed_handshake(&mut self, bytes: &[u8]) -> Result<bool, ConnError> {
        self.rekey_bytes += bytes.len() as u64;
        let Tls::Handshake(hs, incoming) = &mut self.tls else {
            return Ok(false);
        };
        incoming.extend_from_slice(bytes);
        match hs.drive(incoming, &mut self.out, &mut self.plain) {
            Ok(false) => Ok(false),
            Ok(true) => {
                let common = hs.common();
                self.negotiated = Negotiated {
                    alpn: common.alpn_protocol().map(<[u8]>::to_vec),
                    peer_cert: common
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.as_ref().to_vec()),
                    suite: common.negotiated_cipher_suite().map(|s| s.suite()),
                };
                let Tls::Handshake(hs, incoming) = std::mem::replace(&mut self.tls, Tls::Failed)
                else {
                    unreachable!("matched above");
                };
                self.leftover = incoming;
                self.tls = Tls::Records(Box::new(hs.into_records()?));
                Ok(true)
            }
            Err(e) => {
                hs.drain_alert(incoming, &mut self.out);
                self.tls = Tls::Failed;
                let client = matches!(self.role, Role::Client { .. });
                Err(ConnError::Handshake(classify(
                    &e,
                    client,
                    &self.peer_label(),
                )))
            }
        }
    }

    /// Opens the records in `bytes` in place (after the handshake), calling
    /// `f` with the application data of each until it returns false. A
    /// record received in part is kept and completed by the next call.
    pub fn input_records(
        &mut self,
        bytes: &mut [u8],
        mut f: impl FnMut(&mut Conn, &[u8]) -> bool,
    ) -> Result<Input, ConnError> {
        self.rekey_bytes += bytes.len() as u64;
        if !self.leftover.is_empty() {
            // What followed the handshake in its last read, first.
            let mut first = std::mem::take(&mut self.leftover);
            match self.input_slice(&mut first, &mut f)? {
                Input::Read => {}
                end => return Ok(end),
            }
        }
        self.input_slice(bytes, &mut f)
    }

    fn input_slice(
        &mut self,
        bytes: &mut [u8],
        f: &mut impl FnMut(&mut Conn, &[u8]) -> bool,
    ) -> Result<Input, ConnError> {
        let mut bytes = bytes;
        if !self.carry.is_empty() {
            // Complete the carried record first (its header, then its body).
            let mut rec = std::mem::take(&mut self.carry);
            let need = match record::record_len(&rec).map_err(tls_err)? {
                Some(n) => n,
                None => {
                    let n = (record::HEADER - rec.len()).min(bytes.len());
                    rec.extend_from_slice(&bytes[..n]);
                    bytes = &mut bytes[n..];
                    match record::record_len(&rec).map_err(tls_err)? {
                        Some(n) => n,
                        None => {
                            self.carry = rec;
                            return Ok(Input::Read);
                        }
                    }
                }
            };
            let n = (need - rec.len()).min(bytes.len());
            rec.extend_from_slice(&bytes[..n]);
            bytes = &mut bytes[n..];
            if rec.len() < need {
                self.carry = rec;
                return Ok(Input::Read);
            }
            let flow = self.open_one(&mut rec, f);
            rec.clear();
            if self.carry.is_empty() {
                self.carry = rec; // keep its capacity
            }
            match flow? {
                Input::Read => {}
                end => return Ok(end),
            }
        }
        while !bytes.is_empty() {
            let Some(n) = record::record_len(bytes).map_err(tls_err)? else {
                break;
            };
            if n > bytes.len() {
                break;
            }
            let (rec, rest) = bytes.split_at_mut(n);
            match self.open_one(rec, f)? {
                Input::Read => {}
                end => return Ok(end),
            }
            bytes = rest;
        }
        self.carry.extend_from_slice(bytes);
        Ok(Input::Read)
    }

    fn open_one(
        &mut self,
        rec: &mut [u8],
        f: &mut impl FnMut(&mut Conn, &[u8]) -> bool,
    ) -> Result<Input, ConnError> {
        let Tls::Records(layer) = &mut self.tls else {
            return Err(ConnError::Tls("no TLS session to read with".into()));
        };
        let opened = match layer.open(rec) {
            Ok(o) => o,
            Err(RecordError::Alert(a)) if self.handshaking() => {
                // Refused at the end of the handshake (a TLS 1.3 client is
                // done before the server has checked its certificate).
                let e = rustls::Error::AlertReceived(rustls::AlertDescription::from(a));
                let client = matches!(self.role, Role::Client { .. });
                return Err(ConnError::Handshake(classify(
                    &e,
                    client,
                    &self.peer_label(),
                )));
            }
            Err(e) => return Err(tls_err(e)),
        };
        match opened {
            Opened::Data(r) => Ok(if f(self, &rec[r]) {
                Input::Read
            } else {
                Input::Stopped
            }),
            // A KeyUpdate the peer asked for goes before our next record
            // (RFC 8446 section 4.6.3): requests repeated meanwhile cost one.
            Opened::Control => Ok(Input::Read),
            Opened::Closed => Ok(Input::PeerClosed),
        }
    }

    /// Decodes frames from the received plaintext followed by `extra` (read
    /// in place when nothing is pending before it), calling `f` with each
    /// until it returns `false` (stop) or no whole frame is left. What is
    /// not consumed is kept.
    pub fn frames_in(
        &mut self,
        extra: &[u8],
        mut f: impl FnMut(&FrameRef<'_>) -> bool,
    ) -> Result<(), codec::CodecError> {
        if self.plain.is_empty() && !extra.is_empty() {
            let (used, result) = decode_frames(extra, &mut f);
            self.plain.extend_from_slice(&extra[used..]);
            return result;
        }
        self.plain.extend_from_slice(extra);
        let (used, result) = decode_frames(&self.plain, &mut f);
        if used == self.plain.len() {
            self.plain.clear();
        } else if used > 0 {
            self.plain.drain(..used);
        }
        result
    }

    /// Encrypts one frame at once (handshake frames, CLOSE).
    pub fn write_frame(&mut self, f: &Frame) {
        let mut bytes = Vec::with_capacity(f.encoded_len());
        codec::encode(f, &mut bytes);
        if let Tls::Records(layer) = &mut self.tls {
            let _ = layer.seal_into(&[&bytes], &[], &mut [], &mut self.out);
        }
    }

    /// Encrypts the batch in `scratch` (then clears it) into the pending
    /// output: for the paths that must order records after it (a
    /// close_notify, a KeyUpdate); a transmit seals straight into the
    /// driver's buffer instead ([`Conn::transmit`]).
    pub fn write_scratch(&mut self) {
        if self.scratch.is_empty() {
            return;
        }
        if let Tls::Records(layer) = &mut self.tls {
            // No room given: every record goes after the pending output.
            let _ = self.scratch.seal(layer, &mut [], &mut self.out);
        }
        self.scratch.clear();
    }

    /// Writes close_notify after everything pending.
    pub fn send_close_notify(&mut self) {
        self.write_scratch();
        if let Tls::Records(layer) = &mut self.tls {
            let _ = layer.close_notify(&mut self.out);
        }
    }

    /// Sends a KeyUpdate (asking the peer for its own) after everything
    /// pending; false when there is no TLS session to update.
    pub fn refresh_traffic_keys(&mut self) -> bool {
        self.write_scratch();
        match &mut self.tls {
            Tls::Records(layer) => layer.update_keys(&mut self.out, true).is_ok(),
            _ => false,
        }
    }

    /// Whether encrypted output (or a batch to encrypt) waits.
    pub fn wants_write(&self) -> bool {
        !self.out.is_empty() || !self.scratch.is_empty()
    }

    /// The most plaintext a batch for a buffer of `cap` bytes should hold,
    /// so that its records fit.
    pub fn batch_for(cap: usize) -> usize {
        let records = cap
            .div_ceil(record::MAX_PLAINTEXT + record::OVERHEAD)
            .max(1);
        cap.saturating_sub(records * record::OVERHEAD)
    }

    /// Writes pending output into `buf`: what waits in order first, then the
    /// batch in `scratch`, sealed in place; returns the bytes written.
    pub fn transmit(&mut self, buf: &mut [u8]) -> usize {
        let mut pos = self.drain_out(buf);
        if self.out.is_empty() && !self.scratch.is_empty() {
            if let Tls::Records(layer) = &mut self.tls {
                let _ = self
                    .scratch
                    .seal(layer, &mut buf[pos..], &mut self.out)
                    .map(|n| pos += n);
            }
            self.scratch.clear();
            // Records that did not fit follow in what is left of `buf`.
            pos += self.drain_out(&mut buf[pos..]);
        }
        self.rekey_bytes += pos as u64;
        pos
    }

    /// Copies the pending output into `buf`, as much as fits; returns the
    /// bytes copied.
    fn drain_out(&mut self, buf: &mut [u8]) -> usize {
        let n = self.out.len().min(buf.len());
        if n == 0 {
            return 0;
        }
        buf[..n].copy_from_slice(&self.out[..n]);
        self.out.drain(..n);
        if self.out.is_empty() && self.out.capacity() > OUT_KEEP {
            // A large spill or flight: not kept for the connection's life.
            self.out = Vec::new();
        }
        n
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
        if self.negotiated.alpn.as_deref() != Some(tls::ALPN) {
            return Err(HandshakeFailure::new(
                "TLS_FAILED",
                format!(
                    "Peer {} did not negotiate ALPN web4-rtt/1",
                    self.peer_label()
                ),
            ));
        }
        let fp = self
            .negotiated
            .peer_cert
            .as_deref()
            .and_then(tls::cert_ed25519_key)
            .map(|k| tls::fingerprint_of(&k))
            .ok_or_else(|| {
                HandshakeFailure::new("TLS_FAILED", "Peer presented no Ed25519 certificate")
            })?;
        self.peer_fp = fp;
        Ok(())
    }
}

fn tls_err(e: RecordError) -> ConnError {
    ConnError::Tls(e.to_string())
}

/// Decodes whole frames from `buf` with `f` until it says stop; returns the
/// bytes consumed.
fn decode_frames(
    buf: &[u8],
    f: &mut impl FnMut(&FrameRef<'_>) -> bool,
) -> (usize, Result<(), codec::CodecError>) {
    let mut pos = 0;
    loop {
        match codec::decode_ref(&buf[pos..], MAX_FRAME_PAYLOAD) {
            Ok(Some((frame, used))) => {
                pos += used;
                if !f(&frame) {
                    return (pos, Ok(()));
                }
            }
            Ok(None) => return (pos, Ok(())),
            Err(e) => return (pos, Err(e)),
        }
    }
}
