//! Pure frame encoding and decoding (no I/O).
//!
//! Every RTT frame starts with a fixed 20-byte header, all integers
//! little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | frame type ([`FrameType`]) |
//! | 1 | 1 | flags (bit 0: `END`, last fragment of a message) |
//! | 2 | 2 | reserved, must be 0 |
//! | 4 | 4 | channel id (the *sender's* local id) |
//! | 8 | 8 | sequence number (meaning depends on the type) |
//! | 16 | 4 | payload length |
//!
//! The payload length is checked against the maximum before anything is
//! allocated, so a hostile length cannot make the decoder reserve memory.

use std::fmt;

/// Length of the fixed frame header in bytes.
pub const HEADER_LEN: usize = 20;
/// Largest payload a frame may carry (the decoder refuses larger ones).
pub const MAX_FRAME_PAYLOAD: usize = 64 * 1024;
/// The largest DATA payload a peer may send (the decoder refuses larger).
pub const MAX_DATA_PAYLOAD: usize = 16 * 1024;
/// Payload size used when fragmenting messages: small enough that one
/// fragment of bulk data holds the control channel back only briefly, and
/// one DATA frame with its header fills exactly one TLS record (16 KiB of
/// plaintext), so a receiver decodes it in place, where it was decrypted.
pub const FRAGMENT_SIZE: usize = MAX_DATA_PAYLOAD - HEADER_LEN;
/// Flag: the frame is the last fragment of its message.
pub const FLAG_END: u8 = 1;

/// The frame types of the RTT wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameType {
    /// Client -> server, first frame: new session or resumption ([`Hello`]).
    Hello = 1,
    /// Server -> client: the session is accepted ([`Accept`]).
    Accept = 2,
    /// Server -> client: refused (payload: code byte + UTF-8 reason).
    Reject = 3,
    /// Declares the sender's channel id for a kind (payload: the kind).
    Open = 4,
    /// A message fragment (sequenced per channel).
    Data = 5,
    /// Half-close of the sender's side of a channel (sequenced).
    Fin = 6,
    /// Cumulative acknowledgement: `seq` is the highest contiguous sequence received.
    Ack = 7,
    /// Credit grant: payload = byte limit (u64) and message limit (u64), cumulative.
    Credit = 8,
    /// Heartbeat request; `seq` is a nonce.
    Ping = 9,
    /// Heartbeat answer; echoes the nonce.
    Pong = 10,
    /// Graceful end of the session.
    Close = 11,
}

impl FrameType {
    /// The type of a type byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Hello,
            2 => Self::Accept,
            3 => Self::Reject,
            4 => Self::Open,
            5 => Self::Data,
            6 => Self::Fin,
            7 => Self::Ack,
            8 => Self::Credit,
            9 => Self::Ping,
            10 => Self::Pong,
            11 => Self::Close,
            _ => return None,
        })
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Frame type.
    pub kind: FrameType,
    /// Flags ([`FLAG_END`]).
    pub flags: u8,
    /// The sender's channel id (0 for session-level frames).
    pub channel: u32,
    /// Sequence number or nonce.
    pub seq: u64,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

impl Frame {
    /// A frame with an empty payload.
    pub fn empty(kind: FrameType, channel: u32, seq: u64) -> Self {
        Frame {
            kind,
            flags: 0,
            channel,
            seq,
            payload: Vec::new(),
        }
    }

    /// The frame as a [`FrameRef`] borrowing its payload.
    pub fn borrowed(&self) -> FrameRef<'_> {
        FrameRef {
            kind: self.kind,
            flags: self.flags,
            channel: self.channel,
            seq: self.seq,
            payload: &self.payload,
        }
    }

    /// Size of the encoded frame.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }
}

/// Decoding errors. Every error is fatal for the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// Unknown frame type byte.
    UnknownType(u8),
    /// Reserved header bits set or unknown flags.
    BadHeader,
    /// Payload length above the maximum.
    TooLarge(usize),
    /// A payload whose content does not parse.
    BadPayload(&'static str),
    /// A header field or payload the frame type does not allow.
    Forbidden(&'static str),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::UnknownType(t) => write!(f, "unknown frame type {t}"),
            CodecError::BadHeader => write!(f, "malformed frame header"),
            CodecError::TooLarge(n) => write!(f, "frame payload of {n} bytes exceeds the maximum"),
            CodecError::BadPayload(what) => write!(f, "malformed {what} payload"),
            CodecError::Forbidden(what) => write!(f, "forbidden frame field: {what}"),
        }
    }
}

impl std::error::Error for CodecError {}

/// Appends the encoding of a frame header with a payload of `len` bytes.
pub fn encode_header(
    out: &mut Vec<u8>,
    kind: FrameType,
    flags: u8,
    channel: u32,
    seq: u64,
    len: usize,
) {
    debug_assert!(len <= MAX_FRAME_PAYLOAD);
    out.push(kind as u8);
    out.push(flags);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&channel.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
}

/// Appends the encoding of `frame` to `out`.
pub fn encode(frame: &Frame, out: &mut Vec<u8>) {
    encode_header(
        out,
        frame.kind,
        frame.flags,
        frame.channel,
        frame.seq,
        frame.payload.len(),
    );
    out.extend_from_slice(&frame.payload);
}

/// A decoded frame whose payload still lies in the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// Frame type.
    pub kind: FrameType,
    /// Flags ([`FLAG_END`]).
    pub flags: u8,
    /// The sender's channel id (0 for session-level frames).
    pub channel: u32,
    /// Sequence number or nonce.
    pub seq: u64,
    /// Payload bytes.
    pub payload: &'a [u8],
}

impl FrameRef<'_> {
    /// The frame with its payload copied out.
    pub fn to_frame(&self) -> Frame {
        Frame {
            kind: self.kind,
            flags: self.flags,
            channel: self.channel,
            seq: self.seq,
            payload: self.payload.to_vec(),
        }
    }
}

/// Decodes one frame from the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, `Ok(Some((frame, used)))`
/// when a whole frame was read, or an error for malformed input. A payload
/// length above `max_payload` is an error before any allocation.
pub fn decode(buf: &[u8], max_payload: usize) -> Result<Option<(Frame, usize)>, CodecError> {
    Ok(decode_ref(buf, max_payload)?.map(|(f, used)| (f.to_frame(), used)))
}

/// [`decode`] without copying the payload: it borrows from `buf`.
pub fn decode_ref(
    buf: &[u8],
    max_payload: usize,
) -> Result<Option<(FrameRef<'_>, usize)>, CodecError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let kind = FrameType::from_u8(buf[0]).ok_or(CodecError::UnknownType(buf[0]))?;
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let flags = buf[1];
    if flags & !FLAG_END != 0 || buf[2] != 0 || buf[3] != 0 {
        return Err(CodecError::BadHeader);
    }
    let channel = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(buf[16..20].try_into().expect("4 bytes")) as usize;
    if len > max_payload.min(MAX_FRAME_PAYLOAD) {
        return Err(CodecError::TooLarge(len));
    }
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    let payload = &buf[HEADER_LEN..HEADER_LEN + len];
    Ok(Some((
        FrameRef {
            kind,
            flags,
            channel,
            seq,
            payload,
        },
        HEADER_LEN + len,
    )))
}

/// Splits a message of `len` bytes into fragment ranges of at most
/// `fragment` bytes; an empty message is one empty fragment.
pub fn fragments(len: usize, fragment: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let fragment = fragment.max(1);
    let count = if len == 0 { 1 } else { len.div_ceil(fragment) };
    (0..count).map(move |i| (i * fragment)..((i + 1) * fragment).min(len))
}

/// Payload of a HELLO frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// `Some(id)` to resume that session; `None` for a new session.
    pub resume: Option<[u8; 16]>,
    /// For each channel the *server* sent on (server's channel id), the last
    /// sequence the client received.
    pub last_received: Vec<(u32, u64)>,
}

/// Payload of an ACCEPT frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accept {
    /// The session id.
    pub session_id: [u8; 16],
    /// Whether an existing session was resumed.
    pub resumed: bool,
    /// For each channel the client sent on (client's id), the last sequence
    /// the server received.
    pub last_received: Vec<(u32, u64)>,
}

const WIRE_VERSION: u8 = 1;
/// Upper bound on entries in a resume list (the decoder refuses more).
pub const MAX_RESUME_ENTRIES: usize = 4096;

fn put_list(out: &mut Vec<u8>, list: &[(u32, u64)]) {
    out.extend_from_slice(&(list.len() as u16).to_le_bytes());
    for (c, s) in list {
        out.extend_from_slice(&c.to_le_bytes());
        out.extend_from_slice(&s.to_le_bytes());
    }
}

fn get_list(buf: &[u8], what: &'static str) -> Result<Vec<(u32, u64)>, CodecError> {
    if buf.len() < 2 {
        return Err(CodecError::BadPayload(what));
    }
    let n = u16::from_le_bytes([buf[0], buf[1]]) as usize;
    if n > MAX_RESUME_ENTRIES || buf.len() != 2 + n * 12 {
        return Err(CodecError::BadPayload(what));
    }
    Ok(buf[2..]
        .chunks_exact(12)
        .map(|c| {
            (
                u32::from_le_bytes(c[0..4].try_into().expect("4")),
                u64::from_le_bytes(c[4..12].try_into().expect("8")),
            )
        })
        .collect())
}

/// Refuses every header field and payload the frame's type does not allow
/// (docs/rtt.md, "Fields per frame type"): `END` only on DATA; channel 0
/// exactly on session-wide frames (HELLO, ACCEPT, REJECT, PING, PONG,
/// CLOSE); sequence 0 on HELLO, ACCEPT, REJECT, OPEN, CREDIT and CLOSE, at
/// least 1 on DATA and FIN; empty payloads on FIN, ACK, PING and PONG;
/// CREDIT exactly 16 bytes; OPEN 1-64 bytes; DATA at most one fragment.
pub fn check_fields(f: &FrameRef<'_>) -> Result<(), CodecError> {
    use FrameType as T;
    let e = |what| Err(CodecError::Forbidden(what));
    if f.flags != 0 && f.kind != T::Data {
        return e("END flag on a frame other than DATA");
    }
    let session_wide = matches!(
        f.kind,
        T::Hello | T::Accept | T::Reject | T::Ping | T::Pong | T::Close
    );
    if session_wide && f.channel != 0 {
        return e("non-zero channel on a session-wide frame");
    }
    if !session_wide && f.channel == 0 {
        return e("channel 0 on a channel frame");
    }
    match f.kind {
        T::Hello | T::Accept | T::Reject | T::Open | T::Credit | T::Close if f.seq != 0 => {
            e("non-zero sequence on a frame without one")
        }
        T::Data | T::Fin if f.seq == 0 => e("sequence 0 on DATA or FIN"),
        T::Fin | T::Ack | T::Ping | T::Pong if !f.payload.is_empty() => {
            e("payload on FIN, ACK, PING or PONG")
        }
        T::Credit if f.payload.len() != 16 => e("CREDIT payload not 16 bytes"),
        T::Open if f.payload.is_empty() || f.payload.len() > 64 => e("OPEN kind not 1-64 bytes"),
        T::Data if f.payload.len() > MAX_DATA_PAYLOAD => e("DATA fragment above 16 KiB"),
        _ => Ok(()),
    }
}

impl Hello {
    /// Encodes the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![WIRE_VERSION, u8::from(self.resume.is_some())];
        out.extend_from_slice(&self.resume.unwrap_or([0; 16]));
        put_list(&mut out, &self.last_received);
        out
    }

    /// Decodes the payload.
    pub fn decode(buf: &[u8]) -> Result<Self, CodecError> {
        if buf.len() < 18 || buf[0] != WIRE_VERSION || buf[1] > 1 {
            return Err(CodecError::BadPayload("HELLO"));
        }
        let id: [u8; 16] = buf[2..18].try_into().expect("16");
        let last_received = get_list(&buf[18..], "HELLO")?;
        if buf[1] == 0 && (id != [0; 16] || !last_received.is_empty()) {
            // A new session has no id and nothing received yet.
            return Err(CodecError::Forbidden(
                "new-session HELLO with a session id or resume list",
            ));
        }
        Ok(Hello {
            resume: (buf[1] == 1).then_some(id),
            last_received,
        })
    }
}

impl Accept {
    /// Encodes the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![WIRE_VERSION, u8::from(self.resumed)];
        out.extend_from_slice(&self.session_id);
        put_list(&mut out, &self.last_received);
        out
    }

    /// Decodes the payload.
    pub fn decode(buf: &[u8]) -> Result<Self, CodecError> {
        if buf.len() < 18 || buf[0] != WIRE_VERSION || buf[1] > 1 {
            return Err(CodecError::BadPayload("ACCEPT"));
        }
        let last_received = get_list(&buf[18..], "ACCEPT")?;
        if buf[1] == 0 && !last_received.is_empty() {
            return Err(CodecError::Forbidden(
                "new-session ACCEPT with a resume list",
            ));
        }
        Ok(Accept {
            session_id: buf[2..18].try_into().expect("16"),
            resumed: buf[1] == 1,
            last_received,
        })
    }
}

/// Encodes a CREDIT payload (cumulative limits).
pub fn encode_credit(bytes_limit: u64, msgs_limit: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&bytes_limit.to_le_bytes());
    out.extend_from_slice(&msgs_limit.to_le_bytes());
    out
}

/// Decodes a CREDIT payload.
pub fn decode_credit(buf: &[u8]) -> Result<(u64, u64), CodecError> {
    if buf.len() != 16 {
        return Err(CodecError::BadPayload("CREDIT"));
    }
    Ok((
        u64::from_le_bytes(buf[0..8].try_into().expect("8")),
        u64::from_le_bytes(buf[8..16].try_into().expect("8")),
    ))
}

/// Checks a channel kind: `control`, `state`, `knowledge` or a custom name
/// of 1-64 characters from `[a-z0-9._-]`.
pub fn valid_kind(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= 64
        && kind.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
        })
}

/// A small deterministic PRNG (xorshift64*) for tests and jitter.
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    /// Seeds the generator (a zero seed is replaced).
    pub fn new(seed: u64) -> Self {
        Prng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests;
