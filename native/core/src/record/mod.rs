//! TLS 1.3 record protection after the handshake (RFC 8446 section 5),
//! done in the caller's buffers.
//!
//! rustls runs the handshake (its unbuffered API, see [`crate::conn`]) and
//! keeps the key schedule afterwards: a [`KernelConnection`] derives the next
//! traffic keys at a KeyUpdate and takes session tickets. This layer seals
//! and opens the records itself, the way kTLS or a QUIC stack does with
//! rustls' keys: a record is sealed where its bytes will be written from (the
//! driver's write buffer) and opened where they were read into (the driver's
//! read buffer), so a byte of application data is copied once on each side
//! instead of three times (rustls' buffered API copies plaintext into a new
//! record, the record into its send queue and the queue into the caller's
//! buffer; and on receipt the ciphertext into its deframer, the plaintext
//! into a new chunk and the chunk into the caller's buffer).
//!
//! What it does besides sealing and opening: KeyUpdate both ways (a peer's
//! request is answered before the next record), the confidentiality limit
//! (the sending key is updated long before AES-GCM's), close_notify, fatal
//! alerts, and a client's session tickets (handed to rustls, which drops
//! them: resumption is disabled). It refuses what TLS 1.3 forbids after the
//! handshake: unprotected records (ChangeCipherSpec included), records
//! above 2^14 bytes of plaintext, empty handshake records, a KeyUpdate that
//! does not end its record, and post-handshake messages RTT never asks for.
//! One restriction beyond the RFC: a post-handshake message must fit one
//! record (rustls writes every one of them that way).

use std::ops::Range;

use ring::aead;
use rustls::client::ClientConnectionData;
use rustls::kernel::KernelConnection;
use rustls::server::ServerConnectionData;
use rustls::{ConnectionTrafficSecrets, ExtractedSecrets};

/// A record's header: type, legacy version, length.
pub const HEADER: usize = 5;
/// The AEAD tag of every TLS 1.3 suite RTT offers.
const TAG: usize = 16;
/// Bytes a record adds to its plaintext: the header, the inner content
/// type and the tag.
pub const OVERHEAD: usize = HEADER + 1 + TAG;
/// The most plaintext one record carries.
pub const MAX_PLAINTEXT: usize = 16 * 1024;
/// The longest protected record body the RFC allows.
const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + 256;

const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
const NEW_SESSION_TICKET: u8 = 4;
const KEY_UPDATE: u8 = 24;
const CLOSE_NOTIFY: u8 = 0;
const USER_CANCELED: u8 = 90;

/// Records sealed under one key before it is updated: far below AES-GCM's
/// confidentiality limit (2^24.5 records, RFC 8446 section 5.5).
pub const TX_RECORDS_PER_KEY: u64 = 1 << 23;

/// Why a record could not be opened or sealed.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecordError {
    /// A record failed authentication (wrong key, altered or replayed).
    BadRecordMac,
    /// A record longer than TLS 1.3 allows.
    Overflow(usize),
    /// A record type TLS 1.3 forbids here (an unprotected record after the
    /// handshake, or an unknown inner type).
    UnexpectedType(u8),
    /// The peer sent a fatal alert (its description code).
    Alert(u8),
    /// A post-handshake message RTT refuses, or a malformed one.
    Handshake(&'static str),
    /// rustls refused to derive the next keys (or to take a ticket).
    Keys(rustls::Error),
    /// The suite rustls negotiated has no sealing here (not expected: RTT
    /// offers AES-GCM and ChaCha20-Poly1305 only).
    UnsupportedSuite,
    /// A record sequence number would wrap (2^64 records under one key).
    SequenceExhausted,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::BadRecordMac => f.write_str("a TLS record failed authentication"),
            RecordError::Overflow(n) => write!(f, "a TLS record of {n} bytes is above the limit"),
            RecordError::UnexpectedType(t) => write!(f, "unexpected TLS record type {t}"),
            RecordError::Alert(a) => write!(f, "the peer sent TLS alert {a}"),
            RecordError::Handshake(m) => write!(f, "post-handshake message refused: {m}"),
            RecordError::Keys(e) => write!(f, "TLS key update failed: {e}"),
            RecordError::UnsupportedSuite => {
                f.write_str("the negotiated TLS suite is not supported")
            }
            RecordError::SequenceExhausted => f.write_str("TLS record sequence exhausted"),
        }
    }
}

impl std::error::Error for RecordError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecordError::Keys(e) => Some(e),
            _ => None,
        }
    }
}

/// The key schedule rustls keeps after the handshake.
pub enum Schedule {
    /// We dialed.
    Client(KernelConnection<ClientConnectionData>),
    /// We accepted.
    Server(KernelConnection<ServerConnectionData>),
}

impl Schedule {
    fn next(&mut self, tx: bool) -> Result<ConnectionTrafficSecrets, RecordError> {
        let r = match (self, tx) {
            (Schedule::Client(k), true) => k.update_tx_secret(),
            (Schedule::Client(k), false) => k.update_rx_secret(),
            (Schedule::Server(k), true) => k.update_tx_secret(),
            (Schedule::Server(k), false) => k.update_rx_secret(),
        };
        r.map(|(_, s)| s).map_err(RecordError::Keys)
    }
}

/// One direction's key, IV and sequence number.
struct Keys {
    key: aead::LessSafeKey,
    iv: [u8; aead::NONCE_LEN],
    seq: u64,
}

impl Keys {
    fn new(secrets: ConnectionTrafficSecrets, seq: u64) -> Result<Self, RecordError> {
        let (alg, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&aead::CHACHA20_POLY1305, key, iv)
            }
            _ => return Err(RecordError::UnsupportedSuite),
        };
        let key =
            aead::UnboundKey::new(alg, key.as_ref()).map_err(|_| RecordError::UnsupportedSuite)?;
        let iv: [u8; aead::NONCE_LEN] = iv
            .as_ref()
            .try_into()
            .map_err(|_| RecordError::UnsupportedSuite)?;
        Ok(Keys {
            key: aead::LessSafeKey::new(key),
            iv,
            seq,
        })
    }

    /// The nonce of the next record (RFC 8446 section 5.3), and the count.
    fn next_nonce(&mut self) -> Result<aead::Nonce, RecordError> {
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        self.seq = self
            .seq
            .checked_add(1)
            .ok_or(RecordError::SequenceExhausted)?;
        Ok(aead::Nonce::assume_unique_for_key(nonce))
    }
}

/// What one opened record held.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// Application data at this range of the record.
    Data(Range<usize>),
    /// A post-handshake message or a warning alert, handled here.
    Control,
    /// The peer's close_notify.
    Closed,
}

/// The length of the whole record at the start of `buf`, once its header
/// is there and its length is allowed; `None` while the header is not.
pub fn record_len(buf: &[u8]) -> Result<Option<usize>, RecordError> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    if len > MAX_CIPHERTEXT {
        return Err(RecordError::Overflow(len));
    }
    Ok(Some(HEADER + len))
}

/// Record protection for one connection after its handshake.
pub struct RecordLayer {
    schedule: Schedule,
    tx: Keys,
    rx: Keys,
    /// The peer asked for our KeyUpdate: it goes before the next record.
    owe_update: bool,
    /// Records sealed under the current sending key.
    tx_records: u64,
}

impl RecordLayer {
    /// Takes over from rustls with the secrets and sequence numbers it
    /// extracted at the end of the handshake.
    pub fn new(secrets: ExtractedSecrets, schedule: Schedule) -> Result<Self, RecordError> {
        let ExtractedSecrets {
            tx: (tx_seq, tx),
            rx: (rx_seq, rx),
        } = secrets;
        Ok(RecordLayer {
            schedule,
            tx: Keys::new(tx, tx_seq)?,
            rx: Keys::new(rx, rx_seq)?,
            owe_update: false,
            tx_records: 0,
        })
    }

    /// Opens the whole record `record` (its length from [`record_len`]) in
    /// place. Post-handshake messages and alerts are handled here.
    pub fn open(&mut self, record: &mut [u8]) -> Result<Opened, RecordError> {
        let (head, body) = record.split_at_mut(HEADER);
        // Every record after the handshake is protected and says so; an
        // unprotected alert, handshake or ChangeCipherSpec is refused.
        if head[0] != APPLICATION_DATA {
            return Err(RecordError::UnexpectedType(head[0]));
        }
        if body.len() < TAG + 1 {
            return Err(RecordError::BadRecordMac);
        }
        let nonce = self.rx.next_nonce()?;
        let aad = aead::Aad::from([head[0], head[1], head[2], head[3], head[4]]);
        let plain = self
            .rx
            .key
            .open_in_place(nonce, aad, body)
            .map_err(|_| RecordError::BadRecordMac)?;
        // The inner type is the last non-zero byte (zeros are padding).
        let Some(end) = plain.iter().rposition(|b| *b != 0) else {
            return Err(RecordError::UnexpectedType(0));
        };
        if end > MAX_PLAINTEXT {
            return Err(RecordError::Overflow(end));
        }
        match plain[end] {
            APPLICATION_DATA => Ok(Opened::Data(HEADER..HEADER + end)),
            HANDSHAKE => {
                let msgs = &plain[..end];
                self.post_handshake(msgs)?;
                Ok(Opened::Control)
            }
            ALERT => match plain[..end] {
                [_, CLOSE_NOTIFY] => Ok(Opened::Closed),
                [_, USER_CANCELED] => Ok(Opened::Control),
                [_, a] => Err(RecordError::Alert(a)),
                _ => Err(RecordError::Handshake("malformed alert")),
            },
            t => Err(RecordError::UnexpectedType(t)),
        }
    }

    fn post_handshake(&mut self, mut msgs: &[u8]) -> Result<(), RecordError> {
        if msgs.is_empty() {
            return Err(RecordError::Handshake("empty handshake record"));
        }
        while !msgs.is_empty() {
            let [kind, a, b, c, ..] = *msgs else {
                return Err(RecordError::Handshake("a message split across records"));
            };
            let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
            let Some(body) = msgs.get(4..4 + len) else {
                return Err(RecordError::Handshake("a message split across records"));
            };
            let rest = &msgs[4 + len..];
            match (kind, body) {
                (KEY_UPDATE, [request @ (0 | 1)]) => {
                    // The next key applies from the next record on, so a
                    // KeyUpdate must end its record (RFC 8446 section 5.1).
                    if !rest.is_empty() {
                        return Err(RecordError::Handshake("KeyUpdate not at a record's end"));
                    }
                    let next = self.schedule.next(false)?;
                    self.rx = Keys::new(next, 0)?;
                    if *request == 1 {
                        self.owe_update = true;
                    }
                }
                (KEY_UPDATE, _) => return Err(RecordError::Handshake("malformed KeyUpdate")),
                (NEW_SESSION_TICKET, _) => match &mut self.schedule {
                    Schedule::Client(k) => k
                        .handle_new_session_ticket(body)
                        .map_err(RecordError::Keys)?,
                    Schedule::Server(_) => {
                        return Err(RecordError::Handshake("a client sent a session ticket"))
                    }
                },
                _ => return Err(RecordError::Handshake("unexpected post-handshake message")),
            }
            msgs = rest;
        }
        Ok(())
    }

    /// Whether a KeyUpdate is due before the next record (the peer asked
    /// for one, or the sending key reached its record limit).
    fn update_due(&self) -> bool {
        self.owe_update || self.tx_records >= TX_RECORDS_PER_KEY
    }

    /// Seals a record of `kind` whose plaintext (`len` bytes) is already at
    /// `out[HEADER..]`; `out` is at least `len + OVERHEAD` long. Returns the
    /// record's length.
    fn seal_in(&mut self, out: &mut [u8], len: usize, kind: u8) -> Result<usize, RecordError> {
        debug_assert!(len <= MAX_PLAINTEXT);
        let body = len + 1 + TAG;
        let [hi, lo] = (body as u16).to_be_bytes();
        let head = [APPLICATION_DATA, 3, 3, hi, lo];
        out[..HEADER].copy_from_slice(&head);
        out[HEADER + len] = kind;
        let nonce = self.tx.next_nonce()?;
        let (inner, tag) = out[HEADER..HEADER + body].split_at_mut(len + 1);
        let t = self
            .tx
            .key
            .seal_in_place_separate_tag(nonce, aead::Aad::from(head), inner)
            .map_err(|_| RecordError::BadRecordMac)?;
        tag.copy_from_slice(t.as_ref());
        self.tx_records += 1;
        Ok(HEADER + body)
    }

    /// Appends a record of `kind` holding `plain` to `out`.
    fn seal_append(
        &mut self,
        out: &mut Vec<u8>,
        plain: &[u8],
        kind: u8,
    ) -> Result<(), RecordError> {
        let at = out.len();
        out.resize(at + plain.len() + OVERHEAD, 0);
        out[at + HEADER..at + HEADER + plain.len()].copy_from_slice(plain);
        self.seal_in(&mut out[at..], plain.len(), kind)?;
        Ok(())
    }

    /// Writes a KeyUpdate to `out` and moves to the next sending key;
    /// `request` asks the peer to update its own.
    pub fn update_keys(&mut self, out: &mut Vec<u8>, request: bool) -> Result<(), RecordError> {
        let msg = [KEY_UPDATE, 0, 0, 1, u8::from(request)];
        self.seal_append(out, &msg, HANDSHAKE)?;
        let next = self.schedule.next(true)?;
        self.tx = Keys::new(next, 0)?;
        self.tx_records = 0;
        self.owe_update = false;
        Ok(())
    }

    fn update_if_due(&mut self, spill: &mut Vec<u8>) -> Result<(), RecordError> {
        if self.update_due() {
            // Answering a request, or the record limit: no request back.
            self.update_keys(spill, false)?;
        }
        Ok(())
    }

    /// Appends a close_notify alert to `out`.
    pub fn close_notify(&mut self, out: &mut Vec<u8>) -> Result<(), RecordError> {
        self.update_if_due(out)?;
        self.seal_append(out, &[1, CLOSE_NOTIFY], ALERT)
    }

    /// Seals the application data `pieces` (in order, cut into records at
    /// `cuts`, offsets into the pieces' concatenation, and at most every
    /// [`MAX_PLAINTEXT`] bytes) straight into `out` while whole records fit
    /// there; once one does not (or when `spill` already holds records), it
    /// and every later record are appended to `spill` instead, so the order
    /// holds. Returns the bytes written to `out`.
    pub fn seal_into(
        &mut self,
        pieces: &[&[u8]],
        cuts: &[usize],
        out: &mut [u8],
        spill: &mut Vec<u8>,
    ) -> Result<usize, RecordError> {
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        let mut written = 0;
        let mut done = 0; // plaintext sealed so far
        let mut cut = cuts.iter().copied().peekable();
        let mut src = Reader {
            pieces,
            piece: 0,
            at: 0,
        };
        while done < total {
            // A record ends at the last cut that keeps it within the limit
            // (frames whole in their record), or at the limit.
            let limit = (done + MAX_PLAINTEXT).min(total);
            let mut end = limit;
            let mut best = None;
            while let Some(&c) = cut.peek() {
                if c <= done {
                    cut.next();
                } else if c <= limit {
                    best = Some(c);
                    cut.next();
                } else {
                    break;
                }
            }
            if let Some(b) = best {
                if limit < total {
                    end = b;
                }
            }
            let len = end - done;
            if self.update_due() {
                if spill.is_empty() && written + 64 <= out.len() {
                    let mut v = Vec::with_capacity(64);
                    self.update_if_due(&mut v)?;
                    out[written..written + v.len()].copy_from_slice(&v);
                    written += v.len();
                } else {
                    self.update_if_due(spill)?;
                }
            }
            if spill.is_empty() && written + len + OVERHEAD <= out.len() {
                let rec = &mut out[written..written + len + OVERHEAD];
                src.copy_to(&mut rec[HEADER..HEADER + len]);
                written += self.seal_in(rec, len, APPLICATION_DATA)?;
            } else {
                let at = spill.len();
                spill.resize(at + len + OVERHEAD, 0);
                let rec = &mut spill[at..];
                src.copy_to(&mut rec[HEADER..HEADER + len]);
                self.seal_in(rec, len, APPLICATION_DATA)?;
            }
            done = end;
        }
        Ok(written)
    }
}

/// Reads the concatenation of `pieces` in order.
struct Reader<'a, 'b> {
    pieces: &'a [&'b [u8]],
    piece: usize,
    at: usize,
}

impl Reader<'_, '_> {
    fn copy_to(&mut self, mut out: &mut [u8]) {
        while !out.is_empty() {
            let p = self.pieces[self.piece];
            let n = (p.len() - self.at).min(out.len());
            out[..n].copy_from_slice(&p[self.at..self.at + n]);
            out = &mut out[n..];
            self.at += n;
            if self.at == p.len() {
                self.piece += 1;
                self.at = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests;
