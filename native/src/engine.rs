//! The session engine: channels, send queues and their policies, credit flow
//! control, sequencing, acknowledgements, resumption and replay detection.
//!
//! It is pure state (no sockets, no clocks): the connection driver feeds it
//! decoded frames and asks it for bytes to write, so every rule here is
//! testable by wiring two engines together in memory.
#![deny(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::codec::{self, Frame, FrameRef, FrameType, FLAG_END, FRAGMENT_SIZE};
use crate::config::Policy;

/// Most control frames (PONGs, replays injected by tests) queued at once.
const MAX_CONTROL_BACKLOG: usize = 1024;

/// Frames received on a channel after which its acknowledgement is written at
/// once. Below it the ACK is deferred ([`Engine::fill_lazy`]): it rides along
/// with the next frames written anyway, or goes out when the driver's short
/// deferral timer fires. ACKs only trim the sender's retransmit buffer, so
/// deferring them never changes what is delivered.
pub const ACK_EVERY_FRAMES: u64 = 32;

/// The lowest scheduling class; channels the peer declared start there
/// until the application opens them with its own priority.
pub const LOWEST_PRIORITY: u8 = 2;

/// Engine limits.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Channels per session.
    pub max_channels: usize,
    /// Largest message.
    pub max_message: usize,
    /// Receive window per channel, bytes (>= `max_message`).
    pub window_bytes: u64,
    /// Receive window per channel, messages.
    pub window_msgs: u64,
    /// Default send queue bound (messages).
    pub max_queue: usize,
    /// Default send queue bound (bytes).
    pub max_queue_bytes: usize,
    /// Default full-queue policy.
    pub policy: Policy,
    /// Unacknowledged DATA bytes per channel (the retransmit buffer): no new
    /// fragment goes out at or above it.
    pub max_unacked_bytes: u64,
    /// Receive window (bytes, messages) of a channel the peer declared and
    /// the application has not opened.
    pub unopened_window: (u64, u64),
    /// Receive bytes one session may have granted and not yet had read.
    pub session_recv_budget: u64,
    /// The node's receive budget, shared by its sessions.
    pub node_recv: Arc<RecvBudget>,
}

/// Receive bytes granted (CREDIT) and not yet read by the application,
/// summed over a node's sessions, and its bound.
#[derive(Debug, Default)]
pub struct RecvBudget {
    /// The bound.
    pub limit: u64,
    /// Granted and unread, now.
    pub used: AtomicU64,
    /// Live sessions sharing it (each is granted at most an even share).
    pub sessions: AtomicU64,
}

/// The largest credit window (bytes) a peer may grant beyond what we have
/// sent: the largest receive window any configuration allows. More is a
/// protocol error, not a promise we would keep in memory.
pub const MAX_CREDIT_WINDOW_BYTES: u64 = 1 << 34;
/// The largest credit window in messages (the largest `max_queue`).
pub const MAX_CREDIT_WINDOW_MSGS: u64 = 1 << 24;

impl EngineConfig {
    /// Limits derived from the node configuration.
    pub fn from_config(c: &crate::config::Config) -> Self {
        let window_bytes = c.max_message_bytes.max(c.max_queue_bytes) as u64;
        EngineConfig {
            max_channels: c.max_channels,
            max_message: c.max_message_bytes,
            window_bytes,
            window_msgs: c.max_queue.max(16) as u64,
            max_queue: c.max_queue,
            max_queue_bytes: c.max_queue_bytes,
            policy: c.backpressure_policy,
            max_unacked_bytes: c.max_unacked_bytes,
            unopened_window: (c.unopened_window_bytes, c.unopened_window_msgs),
            // Never below one channel's window: a largest message must fit.
            session_recv_budget: c.max_session_receive_bytes.max(window_bytes),
            node_recv: Arc::new(RecvBudget {
                limit: c.max_node_receive_bytes.max(window_bytes),
                used: AtomicU64::new(0),
                sessions: AtomicU64::new(0),
            }),
        }
    }
}

/// Something the application (or the node) must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// The channel has messages (or was closed by the peer).
    Readable(u32),
    /// Room was freed in a channel whose sender was told to wait.
    Writable(u32),
    /// Messages dropped by a dropping policy.
    Drop {
        /// Channel id.
        channel: u32,
        /// `drop_oldest` or `drop_newest`.
        cause: &'static str,
        /// How many.
        count: u64,
    },
    /// Replayed frames were dropped (coalesced: one event per channel per
    /// report, see [`Engine::report_replays`]).
    Replay {
        /// Channel id.
        channel: u32,
        /// The sequence number of the last one.
        seq: u64,
        /// How many since the previous report.
        count: u64,
    },
    /// A flush completed.
    Flushed {
        /// The flush operation.
        op: u64,
        /// Channel id.
        channel: u32,
    },
    /// A flush failed (session ended first).
    FlushFailed {
        /// The flush operation.
        op: u64,
        /// Channel id.
        channel: u32,
        /// Messages not delivered.
        undelivered: u64,
    },
}

/// What a received frame asks of the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// A heartbeat answer with its nonce.
    Pong(u64),
    /// The peer closed the session; with `CODE\nmessage` when it refused
    /// something we sent.
    Close(Option<String>),
}

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

/// Queue and traffic statistics of one channel (summed for sessions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Send attempts.
    pub attempted: u64,
    /// Messages accepted into the queue.
    pub enqueued: u64,
    /// Evicted by `drop_oldest`.
    pub dropped_oldest: u64,
    /// Refused by `drop_newest`.
    pub dropped_newest: u64,
    /// Sends that had to wait (`block`).
    pub blocked: u64,
    /// Sends refused with an error (`error`, block timeouts).
    pub errors: u64,
    /// Times a send met a full queue.
    pub overflow_events: u64,
    /// Largest queue length seen.
    pub max_queue_len: u64,
    /// Message bytes received.
    pub bytes_in: u64,
    /// Message bytes sent (first transmission).
    pub bytes_out: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent (first transmission).
    pub messages_out: u64,
    /// Replayed frames dropped.
    pub replays: u64,
}

impl Stats {
    /// Adds `o` into `self` (max for `max_queue_len`).
    pub fn add(&mut self, o: &Stats) {
        self.attempted += o.attempted;
        self.enqueued += o.enqueued;
        self.dropped_oldest += o.dropped_oldest;
        self.dropped_newest += o.dropped_newest;
        self.blocked += o.blocked;
        self.errors += o.errors;
        self.overflow_events += o.overflow_events;
        self.max_queue_len = self.max_queue_len.max(o.max_queue_len);
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.messages_in += o.messages_in;
        self.messages_out += o.messages_out;
        self.replays += o.replays;
    }
}

#[derive(Debug)]
struct OutMsg {
    id: u64,
    /// Shared with the [`Sent`] fragments cut from it, so a fragment is
    /// encoded (and re-sent after a reconnect) without a copy of its own.
    data: Arc<Vec<u8>>,
}

/// A frame sent and not yet acknowledged, kept for resending.
#[derive(Debug, Clone)]
struct Sent {
    /// Header fields; for DATA the payload is `body` instead.
    frame: Frame,
    /// DATA payload: a range of the message.
    body: Option<(Arc<Vec<u8>>, std::ops::Range<usize>)>,
    msg: Option<u64>,
}

impl Sent {
    fn payload(&self) -> &[u8] {
        match &self.body {
            Some((data, r)) => &data[r.clone()],
            None => &self.frame.payload,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let f = &self.frame;
        let payload = self.payload();
        codec::encode_header(out, f.kind, f.flags, f.channel, f.seq, payload.len());
        out.extend_from_slice(payload);
    }

    fn to_frame(&self) -> Frame {
        Frame {
            payload: self.payload().to_vec(),
            ..self.frame.clone()
        }
    }
}

/// Our sending side of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendState {
    /// Sends are accepted.
    Open,
    /// Closed by the application: FIN goes out after what is queued.
    FinRequested,
    /// FIN sent (it is sequenced and resent like data until acknowledged).
    FinSent,
}

/// The peer's sending side, as we receive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecvState {
    /// Between messages.
    Idle,
    /// Fragments of a message are arriving.
    InMessage,
    /// The peer's FIN arrived: nothing more will.
    Ended,
}

#[derive(Debug)]
struct Channel {
    kind: String,
    /// Scheduling class given by the application: 0 first, 2 last.
    priority: u8,
    local_opened: bool,
    remote_id: Option<u32>,
    policy: Policy,
    max_queue: usize,
    max_queue_bytes: usize,
    // send side
    queue: VecDeque<OutMsg>,
    queue_bytes: usize,
    cur: Option<(OutMsg, usize)>,
    next_seq: u64,
    next_msg_id: u64,
    unacked: VecDeque<Sent>,
    /// Payload bytes held in `unacked`.
    unacked_bytes: u64,
    resend_pos: usize,
    last_acked: Option<Sent>,
    credit_bytes: u64,
    credit_msgs: u64,
    sent_bytes: u64,
    sent_msgs: u64,
    send_state: SendState,
    want_writable: bool,
    flushes: Vec<(u64, u64)>,
    // receive side
    /// Replays not yet reported, and the sequence of the last one.
    unreported_replays: (u64, u64),
    last_received: u64,
    acked_to_peer: u64,
    ack_pending: bool,
    ack_now: bool,
    reassembly: Vec<u8>,
    recv_state: RecvState,
    ready: VecDeque<Vec<u8>>,
    recv_bytes: u64,
    recv_msgs: u64,
    consumed_bytes: u64,
    consumed_msgs: u64,
    announced: Option<(u64, u64)>,
    granted: (u64, u64),
    stats: Stats,
}

impl Channel {
    fn class(&self) -> usize {
        usize::from(self.priority)
    }

    fn queue_full(&self, len: usize) -> bool {
        !self.queue.is_empty()
            && (self.queue.len() >= self.max_queue || self.queue_bytes + len > self.max_queue_bytes)
    }

    fn sendable(&self, max_unacked: u64) -> bool {
        if self.resend_pos < self.unacked.len() {
            return true;
        }
        // A peer that grants credit and never acknowledges stops getting new
        // fragments here: the retransmit buffer is bounded.
        let room = self.unacked_bytes < max_unacked;
        if self.cur.is_some() {
            return room && self.sent_bytes < self.credit_bytes;
        }
        if let Some(m) = self.queue.front() {
            // A message starts on one message of credit and any byte of it
            // (an empty message needs none): its fragments then go out as
            // byte credit allows, so a receiver sees a message larger than
            // its budget and can refuse it instead of waiting forever.
            let bytes = if m.data.is_empty() {
                self.sent_bytes <= self.credit_bytes
            } else {
                self.sent_bytes < self.credit_bytes
            };
            return room && bytes && self.sent_msgs < self.credit_msgs;
        }
        self.send_state == SendState::FinRequested
    }

    fn push_unacked(&mut self, s: Sent) {
        self.unacked_bytes += s.payload().len() as u64;
        self.unacked.push_back(s);
        self.resend_pos = self.unacked.len();
    }

    /// Drops the frames acknowledged through `seq`; returns how many.
    fn pop_acked(&mut self, seq: u64) -> usize {
        let mut popped = 0;
        while self.unacked.front().is_some_and(|s| s.frame.seq <= seq) {
            let s = self.unacked.pop_front().expect("front");
            self.unacked_bytes -= s.payload().len() as u64;
            self.last_acked = Some(s);
            popped += 1;
        }
        popped
    }

    fn outstanding_min(&self) -> Option<u64> {
        self.unacked
            .iter()
            .find_map(|s| s.msg)
            .or(self.cur.as_ref().map(|c| c.0.id))
            .or(self.queue.front().map(|m| m.id))
    }

    fn undelivered(&self) -> u64 {
        let mut n = self.queue.len() as u64;
        let mut last = None;
        for s in &self.unacked {
            if s.msg.is_some() && s.msg != last {
                n += 1;
                last = s.msg;
            }
        }
        if let Some((m, _)) = &self.cur {
            if Some(m.id) != last && !self.unacked.iter().any(|s| s.msg == Some(m.id)) {
                n += 1;
            }
        }
        n
    }

    /// Granted and not yet read by the application (bytes).
    fn outstanding(&self) -> u64 {
        self.granted.0.saturating_sub(self.consumed_bytes)
    }

    /// Received and not yet read by the application (bytes): whole messages
    /// waiting and the message being reassembled.
    fn held(&self) -> u64 {
        self.recv_bytes.saturating_sub(self.consumed_bytes)
    }
}

/// When a CREDIT frame is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    No,
    Deferred,
    Now,
}

/// The state of one session, independent of any connection.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    channels: Vec<Channel>,
    by_kind: HashMap<String, u32>,
    remote: HashMap<u32, u32>,
    ctrl: VecDeque<Frame>,
    events: Vec<EngineEvent>,
    closed: bool,
    tick: u64,
    rr: [usize; 3],
    room_freed: bool,
    ping_nonce: u64,
    /// Replayed frames dropped over the session's life.
    replays_seen: u64,
    /// Whether some channel has unreported replays.
    replays_unreported: bool,
    /// ACK frames that acknowledged something new.
    acks_received: u64,
    /// The session's share of the node receive budget was given back.
    budget_returned: bool,
    /// Bytes this session may hold received and unread ([`Engine::set_recv_budget`]).
    recv_budget: u64,
    /// Test hook: ACKs are never written (an attacker withholding them).
    pub test_no_acks: bool,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.return_recv_budget();
    }
}

impl Engine {
    /// A fresh session state.
    pub fn new(cfg: EngineConfig) -> Self {
        Engine {
            recv_budget: cfg.session_recv_budget,
            cfg,
            channels: Vec::new(),
            by_kind: HashMap::new(),
            remote: HashMap::new(),
            ctrl: VecDeque::new(),
            events: Vec::new(),
            closed: false,
            tick: 0,
            rr: [0; 3],
            room_freed: false,
            ping_nonce: 0,
            replays_seen: 0,
            replays_unreported: false,
            acks_received: 0,
            budget_returned: false,
            test_no_acks: false,
        }
    }

    /// Sets the session's receive budget: the bytes it may hold received and
    /// unread over all its channels (at least 1). Lowering it below what is
    /// held or granted loses nothing: no more credit is granted until reads
    /// bring the session under it. A message larger than it is refused
    /// ([`ProtocolError::OverBudget`]) once it needs more credit than the
    /// budget allows.
    pub fn set_recv_budget(&mut self, bytes: u64) {
        self.recv_budget = bytes.max(1);
    }

    /// The session's receive budget.
    pub fn recv_budget(&self) -> u64 {
        self.recv_budget
    }

    /// Bytes received and not yet read, over the session's channels.
    pub fn recv_held(&self) -> u64 {
        self.channels.iter().map(Channel::held).sum()
    }

    /// Bytes received and not yet read on channel `id`.
    pub fn channel_held(&self, id: u32) -> u64 {
        self.ch(id).map_or(0, Channel::held)
    }

    /// Whether [`Engine::return_recv_budget`] ran.
    pub fn recv_budget_returned(&self) -> bool {
        self.budget_returned
    }

    /// Gives what this session granted and nobody read back to the node's
    /// receive budget (the session ended; once only).
    pub fn return_recv_budget(&mut self) {
        if !std::mem::replace(&mut self.budget_returned, true) {
            let unread = self.recv_outstanding();
            self.cfg.node_recv.used.fetch_sub(unread, Ordering::Relaxed);
        }
    }

    /// Replayed frames dropped over the session's life (the node counts the
    /// flood window from it).
    pub fn replays_seen(&self) -> u64 {
        self.replays_seen
    }

    /// ACKs that acknowledged something new (the node watches it for stalls).
    pub fn acks_received(&self) -> u64 {
        self.acks_received
    }

    /// Unacknowledged DATA bytes, summed over channels and the largest of one channel.
    pub fn unacked_bytes(&self) -> (u64, u64) {
        self.channels.iter().fold((0, 0), |(sum, max), c| {
            (sum + c.unacked_bytes, max.max(c.unacked_bytes))
        })
    }

    /// Whether something sent waits for an acknowledgement.
    pub fn awaits_ack(&self) -> bool {
        self.channels.iter().any(|c| !c.unacked.is_empty())
    }

    /// Checks a peer's resume list: every entry names one of our channels
    /// (once) with a sequence we sent (at most the last one).
    pub fn check_resume_list(&self, list: &[(u32, u64)]) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for &(id, seq) in list {
            let Some(c) = self.ch(id) else {
                return Err(format!("resume list names unknown channel {id}"));
            };
            if !seen.insert(id) {
                return Err(format!("resume list names channel {id} twice"));
            }
            if seq >= c.next_seq {
                return Err(format!(
                    "resume list claims sequence {seq} on channel {id}, beyond the {} sent",
                    c.next_seq - 1
                ));
            }
        }
        Ok(())
    }

    /// Whether replays wait to be reported.
    pub fn replays_unreported(&self) -> bool {
        self.replays_unreported
    }

    /// Queues one coalesced [`EngineEvent::Replay`] per channel with
    /// replays since the last report. A replay never queues an event by
    /// itself: a peer replaying at line rate costs a counter, not memory.
    pub fn report_replays(&mut self) {
        if !std::mem::take(&mut self.replays_unreported) {
            return;
        }
        for (i, c) in self.channels.iter_mut().enumerate() {
            let (count, seq) = std::mem::take(&mut c.unreported_replays);
            if count > 0 {
                self.events.push(EngineEvent::Replay {
                    channel: i as u32 + 1,
                    seq,
                    count,
                });
            }
        }
    }

    /// Whether events are waiting to be taken.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Takes the events produced so far.
    pub fn take_events(&mut self) -> Vec<EngineEvent> {
        std::mem::take(&mut self.events)
    }

    /// Whether room was freed since the last call (blocked senders should retry).
    pub fn take_room_freed(&mut self) -> bool {
        std::mem::replace(&mut self.room_freed, false)
    }

    fn ch(&self, id: u32) -> Option<&Channel> {
        self.channels.get((id as usize).wrapping_sub(1))
    }

    fn ch_mut(&mut self, id: u32) -> Option<&mut Channel> {
        self.channels.get_mut((id as usize).wrapping_sub(1))
    }

    /// A channel the application opened.
    fn local(&mut self, id: u32) -> Result<&mut Channel, SendError> {
        self.ch_mut(id)
            .filter(|c| c.local_opened)
            .ok_or(SendError::UnknownChannel)
    }

    /// [`Engine::local`], on a session that is not closed.
    fn opened(&mut self, id: u32) -> Result<&mut Channel, SendError> {
        let closed = self.closed;
        let c = self.local(id)?;
        if closed {
            return Err(SendError::SessionClosed);
        }
        Ok(c)
    }

    /// [`Engine::opened`], and our side of the channel is not closed: one may
    /// send on it.
    fn sendable(&mut self, id: u32) -> Result<&mut Channel, SendError> {
        let c = self.opened(id)?;
        if c.send_state != SendState::Open {
            return Err(SendError::ChannelClosed);
        }
        Ok(c)
    }

    /// The kind of channel `id`.
    pub fn kind(&self, id: u32) -> Option<&str> {
        self.ch(id).map(|c| c.kind.as_str())
    }

    /// The channel id for `kind`, if it exists.
    pub fn channel_by_kind(&self, kind: &str) -> Option<u32> {
        self.by_kind.get(kind).copied()
    }

    fn create(&mut self, kind: &str) -> Result<u32, OpenError> {
        if self.channels.len() >= self.cfg.max_channels {
            return Err(OpenError::TooManyChannels);
        }
        let id = self.channels.len() as u32 + 1;
        self.channels.push(Channel {
            kind: kind.to_string(),
            priority: LOWEST_PRIORITY,
            local_opened: false,
            remote_id: None,
            policy: self.cfg.policy,
            max_queue: self.cfg.max_queue,
            max_queue_bytes: self.cfg.max_queue_bytes,
            queue: VecDeque::new(),
            queue_bytes: 0,
            cur: None,
            next_seq: 1,
            next_msg_id: 1,
            unacked: VecDeque::new(),
            unacked_bytes: 0,
            resend_pos: 0,
            last_acked: None,
            credit_bytes: 0,
            credit_msgs: 0,
            sent_bytes: 0,
            sent_msgs: 0,
            send_state: SendState::Open,
            want_writable: false,
            flushes: Vec::new(),
            unreported_replays: (0, 0),
            last_received: 0,
            acked_to_peer: 0,
            ack_pending: false,
            ack_now: false,
            reassembly: Vec::new(),
            recv_state: RecvState::Idle,
            ready: VecDeque::new(),
            recv_bytes: 0,
            recv_msgs: 0,
            consumed_bytes: 0,
            consumed_msgs: 0,
            announced: None,
            granted: (0, 0),
            stats: Stats::default(),
        });
        self.by_kind.insert(kind.to_string(), id);
        self.ctrl.push_back(Frame {
            payload: kind.as_bytes().to_vec(),
            ..Frame::empty(FrameType::Open, id, 0)
        });
        Ok(id)
    }

    /// Opens (or joins) the channel of `kind` with optional queue settings.
    pub fn open_channel(
        &mut self,
        kind: &str,
        policy: Option<Policy>,
        max_queue: Option<usize>,
        max_queue_bytes: Option<usize>,
    ) -> Result<u32, OpenError> {
        if self.closed {
            return Err(OpenError::SessionClosed);
        }
        if !codec::valid_kind(kind) {
            return Err(OpenError::InvalidKind);
        }
        let id = match self.by_kind.get(kind) {
            Some(&id) => id,
            None => self.create(kind)?,
        };
        let c = self.ch_mut(id).expect("channel exists");
        if let Some(p) = policy {
            c.policy = p;
        }
        if let Some(q) = max_queue {
            c.max_queue = q.max(1);
        }
        if let Some(b) = max_queue_bytes {
            c.max_queue_bytes = b.max(1);
        }
        let was_opened = std::mem::replace(&mut c.local_opened, true);
        if !was_opened && (!c.ready.is_empty() || c.recv_state == RecvState::Ended) {
            self.events.push(EngineEvent::Readable(id));
        }
        Ok(id)
    }

    /// Sets channel `id`'s scheduling class (0 first, [`LOWEST_PRIORITY`] last;
    /// larger values are clamped).
    pub fn set_priority(&mut self, id: u32, priority: u8) {
        if let Some(c) = self.ch_mut(id) {
            c.priority = priority.min(LOWEST_PRIORITY);
        }
    }

    /// Queues a message on channel `id`, applying the channel's policy.
    /// `Ok(())` also covers a dropping policy that dropped a message.
    pub fn send(&mut self, id: u32, data: &[u8]) -> Result<(), SendError> {
        if data.len() > self.cfg.max_message {
            // Refused below without a copy of an oversized message.
            return self.send_owned(id, Vec::new(), data.len());
        }
        self.send_owned(id, data.to_vec(), data.len())
    }

    /// [`Engine::send`] of a message already copied (outside any lock).
    /// `len` is the message's length (`data` may be left empty when
    /// `len` exceeds the largest message: it is refused anyway).
    pub fn send_owned(&mut self, id: u32, data: Vec<u8>, len: usize) -> Result<(), SendError> {
        let max_message = self.cfg.max_message;
        let c = self.sendable(id)?;
        if len > max_message {
            return Err(SendError::TooLarge);
        }
        debug_assert_eq!(data.len(), len);
        c.stats.attempted += 1;
        if !c.queue_full(len) {
            Self::enqueue(c, data);
            return Ok(());
        }
        c.stats.overflow_events += 1;
        match c.policy {
            Policy::Error => {
                c.stats.errors += 1;
                c.want_writable = true;
                Err(SendError::QueueFull)
            }
            Policy::DropNewest => {
                c.stats.dropped_newest += 1;
                self.events.push(EngineEvent::Drop {
                    channel: id,
                    cause: "drop_newest",
                    count: 1,
                });
                Ok(())
            }
            Policy::DropOldest => {
                let mut n = 0;
                while c.queue_full(len) {
                    let m = c.queue.pop_front().expect("full queue is not empty");
                    c.queue_bytes -= m.data.len();
                    n += 1;
                }
                c.stats.dropped_oldest += n;
                Self::enqueue(c, data);
                self.events.push(EngineEvent::Drop {
                    channel: id,
                    cause: "drop_oldest",
                    count: n,
                });
                self.check_flushes(id);
                Ok(())
            }
            Policy::Block => {
                c.stats.blocked += 1;
                c.want_writable = true;
                Err(SendError::WouldBlock)
            }
        }
    }

    /// Retry of a blocked send: enqueues if there is room now (`Ok(true)`),
    /// `Ok(false)` if still full.
    pub fn try_enqueue(&mut self, id: u32, data: &[u8]) -> Result<bool, SendError> {
        let c = self.sendable(id)?;
        if c.queue_full(data.len()) {
            c.want_writable = true;
            return Ok(false);
        }
        Self::enqueue(c, data.to_vec());
        Ok(true)
    }

    /// Counts a blocked send that timed out.
    pub fn count_block_timeout(&mut self, id: u32) {
        if let Some(c) = self.ch_mut(id) {
            c.stats.errors += 1;
        }
    }

    fn enqueue(c: &mut Channel, data: Vec<u8>) {
        c.queue_bytes += data.len();
        c.queue.push_back(OutMsg {
            id: c.next_msg_id,
            data: Arc::new(data),
        });
        c.next_msg_id += 1;
        c.stats.enqueued += 1;
        c.stats.max_queue_len = c.stats.max_queue_len.max(c.queue.len() as u64);
    }

    /// Copies whole received messages into `out` as `[u32 len LE][bytes]`
    /// records. Returns (bytes written, what is left: the record size of the
    /// next message, 1 when only the channel's end is left, 0 for nothing).
    /// `Err(ChannelClosed)` means the peer closed the channel and it is drained.
    #[allow(clippy::result_unit_err)]
    pub fn recv_into(&mut self, id: u32, out: &mut [u8]) -> Result<(usize, u64), SendError> {
        let budget = (!self.budget_returned).then(|| self.cfg.node_recv.clone());
        let c = self.local(id)?;
        let mut pos = 0;
        let mut read = 0;
        while let Some(m) = c.ready.front() {
            let need = 4 + m.len();
            if pos + need > out.len() {
                if pos == 0 {
                    return Ok((0, need as u64));
                }
                break;
            }
            out[pos..pos + 4].copy_from_slice(&(m.len() as u32).to_le_bytes());
            out[pos + 4..pos + need].copy_from_slice(m);
            pos += need;
            c.consumed_bytes += m.len() as u64;
            c.consumed_msgs += 1;
            read += m.len() as u64;
            c.ready.pop_front();
        }
        if let Some(b) = budget {
            b.used.fetch_sub(read, Ordering::Relaxed);
        }
        let ended = c.recv_state == RecvState::Ended;
        if pos == 0 && ended && c.ready.is_empty() {
            return Err(SendError::ChannelClosed);
        }
        // What is left: the next message's record size, or 1 when only the
        // end of the channel is left to report, or 0 when nothing is.
        let more = match c.ready.front() {
            Some(m) => 4 + m.len() as u64,
            None => u64::from(ended),
        };
        Ok((pos, more))
    }

    /// Whether channel `id` has unread messages.
    pub fn has_ready(&self, id: u32) -> bool {
        self.ch(id).is_some_and(|c| !c.ready.is_empty())
    }

    /// Half-closes our side of the channel once its queue is sent.
    pub fn close_channel(&mut self, id: u32) -> Result<(), SendError> {
        let c = self.local(id)?;
        if c.send_state == SendState::Open {
            c.send_state = SendState::FinRequested;
        }
        Ok(())
    }

    /// Registers a flush; completion arrives as an event.
    pub fn flush(&mut self, id: u32, op: u64) -> Result<(), SendError> {
        let c = self.opened(id)?;
        let target = c.next_msg_id - 1;
        c.flushes.push((op, target));
        self.check_flushes(id);
        Ok(())
    }

    fn check_flushes(&mut self, id: u32) {
        let Some(c) = self.ch_mut(id) else { return };
        if c.flushes.is_empty() {
            return;
        }
        let min = c.outstanding_min().unwrap_or(u64::MAX);
        let mut done = Vec::new();
        c.flushes.retain(|&(op, target)| {
            if min > target {
                done.push(op);
                false
            } else {
                true
            }
        });
        for op in done {
            self.events.push(EngineEvent::Flushed { op, channel: id });
        }
    }

    /// Stats of one channel.
    pub fn channel_stats(&self, id: u32) -> Option<(Stats, usize, usize)> {
        self.ch(id)
            .map(|c| (c.stats.clone(), c.queue.len(), c.queue_bytes))
    }

    /// Sum over channels.
    pub fn total_stats(&self) -> Stats {
        let mut s = Stats::default();
        for c in &self.channels {
            s.add(&c.stats);
        }
        s
    }

    /// Stops accepting sends and opens (graceful close started).
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Whether sends are refused.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether everything sent (and every FIN) is acknowledged.
    pub fn all_acked(&self) -> bool {
        self.channels.iter().all(|c| {
            c.queue.is_empty()
                && c.cur.is_none()
                && c.unacked.is_empty()
                && c.send_state != SendState::FinRequested
        })
    }

    /// Ends the session's state: fails every flush and returns the number
    /// of messages that were not delivered.
    pub fn fail_all(&mut self) -> u64 {
        self.closed = true;
        let mut total = 0;
        for (i, c) in self.channels.iter_mut().enumerate() {
            let n = c.undelivered();
            total += n;
            for (op, _) in c.flushes.drain(..) {
                self.events.push(EngineEvent::FlushFailed {
                    op,
                    channel: i as u32 + 1,
                    undelivered: n,
                });
            }
        }
        self.room_freed = true;
        total
    }

    /// Queues a heartbeat ping and returns its nonce.
    pub fn queue_ping(&mut self) -> u64 {
        self.ping_nonce += 1;
        self.ctrl
            .push_back(Frame::empty(FrameType::Ping, 0, self.ping_nonce));
        self.ping_nonce
    }

    /// Queues the graceful-close frame.
    pub fn queue_close(&mut self) {
        self.ctrl.push_back(Frame::empty(FrameType::Close, 0, 0));
    }

    /// Test hook: re-sends the last acknowledged frame of `kind` (a replay).
    pub fn inject_replay(&mut self, kind: &str) -> bool {
        let Some(&id) = self.by_kind.get(kind) else {
            return false;
        };
        let Some(f) = self
            .ch(id)
            .and_then(|c| c.last_acked.as_ref().map(Sent::to_frame))
        else {
            return false;
        };
        self.ctrl.push_back(f);
        true
    }

    /// Test hook: queues `repeat` copies of a raw frame (any fields, even
    /// forbidden ones) ahead of everything else.
    pub fn inject_raw(&mut self, f: Frame, repeat: usize) {
        for _ in 0..repeat {
            self.ctrl.push_back(f.clone());
        }
    }

    /// Whether anything is waiting to be written at once (deferred ACKs and
    /// credit excluded: see [`Engine::has_deferred`]).
    pub fn has_output(&self) -> bool {
        !self.ctrl.is_empty()
            || self.channels.iter().any(|c| {
                Self::ack_urgent(c)
                    || self.credit_due(c) == Due::Now
                    || (c.remote_id.is_some() && c.sendable(self.cfg.max_unacked_bytes))
            })
    }

    /// Whether a deferred ACK or credit grant waits for the next write or
    /// for the driver's deferral timer.
    pub fn has_deferred(&self) -> bool {
        self.channels
            .iter()
            .any(|c| c.ack_pending || self.credit_due(c) != Due::No)
    }

    /// Whether a credit grant for channel `id` is due at once (not deferred).
    pub fn credit_due_now(&self, id: u32) -> bool {
        self.ch(id).is_some_and(|c| self.credit_due(c) == Due::Now)
    }

    fn ack_urgent(c: &Channel) -> bool {
        c.ack_pending && (c.ack_now || c.last_received - c.acked_to_peer >= ACK_EVERY_FRAMES)
    }

    /// Whether a CREDIT frame is due: at once when the channel was never
    /// announced on this connection or the grant moved by a quarter of the
    /// window; deferred when the application has read everything and the
    /// grant moved less than that (a sender waiting for that small grant
    /// gets it when the deferral timer fires).
    fn credit_due(&self, c: &Channel) -> Due {
        let (b, m) = self.grant(c);
        let (wb, wm) = self.effective_window(c);
        match c.announced {
            None => Due::Now,
            Some((ab, am)) => {
                if b.saturating_sub(ab) >= (wb / 4).max(1)
                    || m.saturating_sub(am) >= (wm / 4).max(1)
                {
                    Due::Now
                } else if (b > ab || m > am) && c.ready.is_empty() {
                    Due::Deferred
                } else {
                    Due::No
                }
            }
        }
    }

    /// Encodes frames to send into `out` until about `budget` bytes,
    /// deferred ACKs and credit included (tests, graceful close).
    pub fn fill(&mut self, out: &mut Vec<u8>, budget: usize) {
        self.fill_lazy(out, budget, true);
    }

    /// Encodes frames to send into `out` until about `budget` bytes. Deferred
    /// ACKs and credit grants are written only when `flush_deferred` is set
    /// or when anything else is written (they then share its TLS record).
    pub fn fill_lazy(&mut self, out: &mut Vec<u8>, budget: usize, flush_deferred: bool) {
        let start = out.len();
        while let Some(f) = self.ctrl.pop_front() {
            codec::encode(&f, out);
        }
        for i in 0..self.channels.len() {
            if Self::ack_urgent(&self.channels[i]) {
                self.write_ack(i, out);
            }
            if self.credit_due(&self.channels[i]) == Due::Now {
                self.write_credit(i, out);
            }
        }
        while out.len() < budget {
            let Some(i) = self.pick() else { break };
            self.emit_one(i, out);
        }
        if flush_deferred || out.len() > start {
            for i in 0..self.channels.len() {
                if self.channels[i].ack_pending {
                    self.write_ack(i, out);
                }
                if self.credit_due(&self.channels[i]) != Due::No {
                    self.write_credit(i, out);
                }
            }
        }
    }

    fn write_ack(&mut self, i: usize, out: &mut Vec<u8>) {
        let c = &mut self.channels[i];
        if !self.test_no_acks {
            codec::encode_header(out, FrameType::Ack, 0, i as u32 + 1, c.last_received, 0);
        }
        c.acked_to_peer = c.last_received;
        c.ack_pending = false;
        c.ack_now = false;
    }

    /// The receive window of channel `c`: small until the application opens it.
    fn window(&self, c: &Channel) -> (u64, u64) {
        if c.local_opened {
            (self.cfg.window_bytes, self.cfg.window_msgs)
        } else {
            self.cfg.unopened_window
        }
    }

    /// The receive window of channel `c` within the budgets: its byte part
    /// at most an even share of the session budget over its channels and of
    /// the node budget over its sessions.
    fn effective_window(&self, c: &Channel) -> (u64, u64) {
        let (wb, wm) = self.window(c);
        let node = &self.cfg.node_recv;
        let share = (self.recv_budget / self.channels.len().max(1) as u64)
            .min(node.limit / node.sessions.load(Ordering::Relaxed).max(1))
            .max(FRAGMENT_SIZE as u64);
        (wb.min(share), wm)
    }

    /// Granted and unread bytes over the session's channels.
    pub fn recv_outstanding(&self) -> u64 {
        self.channels.iter().map(Channel::outstanding).sum()
    }

    /// The cumulative grant (bytes, messages) for channel `c`: what was read
    /// plus the window, the byte part bounded by the session's and the
    /// node's receive budgets (grants never shrink). The window is at most
    /// an even share of the session budget over its channels and of the node
    /// budget over its sessions, so idle grants cannot starve the others:
    /// whatever a channel holds beyond its share is not renewed as it is read.
    ///
    /// A message being reassembled on a channel with nothing else to read
    /// cannot be read before it completes, so its window counts from what
    /// was received (not read), and the session's room from what is held
    /// (not granted): a message up to the session budget completes even when
    /// it is larger than the channel's share and the other channels hold
    /// unused credit. So what a session holds stays within its budget plus
    /// that one message.
    fn grant(&self, c: &Channel) -> (u64, u64) {
        let (wb, wm) = self.effective_window(c);
        let node = &self.cfg.node_recv;
        let budget = self.recv_budget;
        let waiting = c.recv_state == RecvState::InMessage && c.ready.is_empty();
        let want = if waiting {
            c.recv_bytes + wb
        } else {
            c.consumed_bytes + wb
        };
        let have = c.granted.0.max(c.consumed_bytes);
        let b = if want > have {
            let used = if waiting {
                self.recv_held() + c.granted.0.saturating_sub(c.recv_bytes)
            } else {
                self.recv_outstanding()
            };
            let session_room = budget.saturating_sub(used);
            let node_room = node.limit.saturating_sub(node.used.load(Ordering::Relaxed));
            have + (want - have).min(session_room).min(node_room)
        } else {
            have
        };
        (b, (c.consumed_msgs + wm).max(c.granted.1))
    }

    fn write_credit(&mut self, i: usize, out: &mut Vec<u8>) {
        if self.budget_returned {
            return;
        }
        let (b, m) = self.grant(&self.channels[i]);
        let c = &mut self.channels[i];
        let old = c.granted.0;
        c.announced = Some((b, m));
        c.granted = (c.granted.0.max(b), c.granted.1.max(m));
        self.cfg
            .node_recv
            .used
            .fetch_add(c.granted.0 - old, Ordering::Relaxed);
        let payload = codec::encode_credit(b, m);
        codec::encode_header(out, FrameType::Credit, 0, i as u32 + 1, 0, payload.len());
        out.extend_from_slice(&payload);
    }

    /// Priority scheduling: control > state > the rest, with a share kept
    /// for lower classes so none starves; round robin inside a class.
    fn pick(&mut self) -> Option<usize> {
        self.tick = self.tick.wrapping_add(1);
        let order: [usize; 3] = if self.tick % 8 == 0 {
            [2, 1, 0]
        } else if self.tick % 4 == 0 {
            [1, 0, 2]
        } else {
            [0, 1, 2]
        };
        let n = self.channels.len();
        let max_unacked = self.cfg.max_unacked_bytes;
        for class in order {
            for k in 0..n {
                let i = (self.rr[class] + k) % n;
                let c = &self.channels[i];
                if c.class() == class && c.remote_id.is_some() && c.sendable(max_unacked) {
                    self.rr[class] = i + 1;
                    return Some(i);
                }
            }
        }
        None
    }

    fn emit_one(&mut self, i: usize, out: &mut Vec<u8>) {
        let id = i as u32 + 1;
        let c = &mut self.channels[i];
        if c.resend_pos < c.unacked.len() {
            c.unacked[c.resend_pos].encode(out);
            c.resend_pos += 1;
            return;
        }
        if c.cur.is_none() {
            if let Some(m) = c.queue.pop_front() {
                c.queue_bytes -= m.data.len();
                c.sent_msgs += 1;
                c.cur = Some((m, 0));
                if c.want_writable {
                    c.want_writable = false;
                    self.events.push(EngineEvent::Writable(id));
                }
                self.room_freed = true;
            } else if c.send_state == SendState::FinRequested {
                let f = Frame::empty(FrameType::Fin, id, c.next_seq);
                c.next_seq += 1;
                c.send_state = SendState::FinSent;
                codec::encode(&f, out);
                c.push_unacked(Sent {
                    frame: f,
                    body: None,
                    msg: None,
                });
                return;
            } else {
                return;
            }
        }
        let (m, off) = c.cur.as_mut().expect("current message");
        // A fragment never goes beyond the byte credit: the rest of the
        // message waits for the next grant.
        let credit = usize::try_from(c.credit_bytes - c.sent_bytes).unwrap_or(usize::MAX);
        let end = (*off + FRAGMENT_SIZE.min(credit)).min(m.data.len());
        c.sent_bytes += (end - *off) as u64;
        let last = end == m.data.len();
        let sent = Sent {
            frame: Frame {
                flags: if last { FLAG_END } else { 0 },
                ..Frame::empty(FrameType::Data, id, c.next_seq)
            },
            body: Some((m.data.clone(), *off..end)),
            msg: Some(m.id),
        };
        *off = end;
        c.next_seq += 1;
        sent.encode(out);
        if last {
            c.stats.messages_out += 1;
            c.stats.bytes_out += m.data.len() as u64;
            c.cur = None;
        }
        c.push_unacked(sent);
    }

    /// [`Engine::handle_frame`] for a frame still in the receive buffer:
    /// DATA and FIN payloads are copied once, straight into the message.
    pub fn handle_frame_ref(&mut self, f: &FrameRef<'_>) -> Result<Option<Signal>, ProtocolError> {
        match f.kind {
            FrameType::Data | FrameType::Fin => {
                codec::check_fields(f).map_err(ProtocolError::Codec)?;
                self.on_data(f).map(|_| None)
            }
            _ => self.handle_frame(f.to_frame()),
        }
    }

    /// Handles one frame received on an established connection.
    pub fn handle_frame(&mut self, f: Frame) -> Result<Option<Signal>, ProtocolError> {
        codec::check_fields(&f.borrowed()).map_err(ProtocolError::Codec)?;
        match f.kind {
            FrameType::Open => {
                let kind = std::str::from_utf8(&f.payload).map_err(|_| {
                    ProtocolError::BadOpen(String::from_utf8_lossy(&f.payload).into())
                })?;
                if !codec::valid_kind(kind) || f.channel == 0 {
                    return Err(ProtocolError::BadOpen(kind.into()));
                }
                let id = match self.by_kind.get(kind) {
                    Some(&id) => id,
                    // Over our channel limit: the channel is not joined, so the
                    // peer never gets credit for it and its sends wait there.
                    None => match self.create(kind) {
                        Ok(id) => id,
                        Err(_) => return Ok(None),
                    },
                };
                if let Some(&other) = self.remote.get(&f.channel) {
                    if other != id {
                        return Err(ProtocolError::ChannelIdReused(kind.into()));
                    }
                }
                let c = self.ch_mut(id).expect("exists");
                if c.remote_id.is_some_and(|r| r != f.channel) {
                    return Err(ProtocolError::ChannelIdReused(kind.into()));
                }
                c.remote_id = Some(f.channel);
                self.remote.insert(f.channel, id);
                Ok(None)
            }
            FrameType::Data | FrameType::Fin => self.on_data(&f.borrowed()).map(|_| None),
            FrameType::Ack => {
                let id = self.local_of(f.channel)?;
                self.on_ack(id, f.seq)?;
                Ok(None)
            }
            FrameType::Credit => {
                // Credit for a channel we did not join (over our limit) is ignored.
                let Ok(id) = self.local_of(f.channel) else {
                    return Ok(None);
                };
                let (b, m) = codec::decode_credit(&f.payload).map_err(ProtocolError::Codec)?;
                let c = self.ch_mut(id).expect("exists");
                if b > c.sent_bytes.saturating_add(MAX_CREDIT_WINDOW_BYTES)
                    || m > c.sent_msgs.saturating_add(MAX_CREDIT_WINDOW_MSGS)
                {
                    return Err(ProtocolError::CreditTooLarge(c.kind.clone()));
                }
                c.credit_bytes = c.credit_bytes.max(b);
                c.credit_msgs = c.credit_msgs.max(m);
                Ok(None)
            }
            FrameType::Ping => {
                // A peer that floods pings without reading our answers must not
                // grow this queue without bound: beyond the cap, pings go unanswered.
                if self.ctrl.len() < MAX_CONTROL_BACKLOG {
                    self.ctrl.push_back(Frame::empty(FrameType::Pong, 0, f.seq));
                }
                Ok(None)
            }
            FrameType::Pong => Ok(Some(Signal::Pong(f.seq))),
            FrameType::Close => {
                Ok(Some(Signal::Close((!f.payload.is_empty()).then(|| {
                    String::from_utf8_lossy(&f.payload).into_owned()
                }))))
            }
            FrameType::Hello | FrameType::Accept | FrameType::Reject => {
                Err(ProtocolError::Unexpected(f.kind))
            }
        }
    }

    fn local_of(&self, remote: u32) -> Result<u32, ProtocolError> {
        self.remote
            .get(&remote)
            .copied()
            .ok_or(ProtocolError::UnknownChannel(remote))
    }

    fn on_ack(&mut self, id: u32, seq: u64) -> Result<(), ProtocolError> {
        let c = self.ch_mut(id).expect("exists");
        if seq >= c.next_seq {
            return Err(ProtocolError::AckBeyondSent {
                kind: c.kind.clone(),
                seq,
            });
        }
        let popped = c.pop_acked(seq);
        if popped > 0 {
            self.acks_received += 1;
        }
        let c = self.ch_mut(id).expect("exists");
        c.resend_pos = c.resend_pos.saturating_sub(popped);
        self.check_flushes(id);
        Ok(())
    }

    fn on_data(&mut self, f: &FrameRef<'_>) -> Result<(), ProtocolError> {
        let id = self.local_of(f.channel)?;
        let max_message = self.cfg.max_message;
        let budget = self.recv_budget;
        let c = self.ch_mut(id).expect("exists");
        if f.seq <= c.last_received {
            if f.seq <= c.acked_to_peer {
                c.stats.replays += 1;
                c.unreported_replays.0 += 1;
                c.unreported_replays.1 = f.seq;
                self.replays_seen += 1;
                self.replays_unreported = true;
            }
            return Ok(());
        }
        if f.seq != c.last_received + 1 {
            return Err(ProtocolError::SequenceGap {
                kind: c.kind.clone(),
                got: f.seq,
                expected: c.last_received + 1,
            });
        }
        if c.recv_state == RecvState::Ended {
            return Err(ProtocolError::AfterFin(c.kind.clone()));
        }
        let (granted_b, granted_m) = c.granted;
        if f.kind == FrameType::Fin {
            if c.recv_state == RecvState::InMessage {
                return Err(ProtocolError::FinInsideMessage(c.kind.clone()));
            }
            c.last_received = f.seq;
            c.ack_pending = true;
            c.ack_now = true;
            c.recv_state = RecvState::Ended;
            if c.local_opened {
                self.events.push(EngineEvent::Readable(id));
            }
            return Ok(());
        }
        if c.recv_state == RecvState::Idle {
            if c.recv_msgs + 1 > granted_m {
                return Err(ProtocolError::CreditExceeded(c.kind.clone()));
            }
            c.recv_msgs += 1;
            c.recv_state = RecvState::InMessage;
        }
        if c.recv_bytes + f.payload.len() as u64 > granted_b
            || c.reassembly.len() + f.payload.len() > max_message
        {
            return Err(ProtocolError::CreditExceeded(c.kind.clone()));
        }
        c.recv_bytes += f.payload.len() as u64;
        c.last_received = f.seq;
        c.ack_pending = true;
        if c.reassembly.is_empty() && f.flags & FLAG_END != 0 {
            c.reassembly = f.payload.to_vec();
        } else {
            if c.reassembly.is_empty() {
                // The first fragment of a longer message: room for a few
                // fragments at once instead of growing by reallocation.
                let want = (f.payload.len() * 4).min(max_message);
                c.reassembly.reserve(want);
            }
            c.reassembly.extend_from_slice(f.payload);
        }
        if f.flags & FLAG_END == 0
            && c.reassembly.len() as u64 >= budget
            && c.recv_bytes >= granted_b
        {
            // More of this message needs credit the budget cannot give:
            // it could never be read.
            return Err(ProtocolError::OverBudget {
                kind: c.kind.clone(),
                received: c.reassembly.len() as u64,
                budget,
            });
        }
        if f.flags & FLAG_END != 0 {
            let msg = std::mem::take(&mut c.reassembly);
            c.recv_state = RecvState::Idle;
            c.stats.messages_in += 1;
            c.stats.bytes_in += msg.len() as u64;
            let was_empty = c.ready.is_empty();
            c.ready.push_back(msg);
            if was_empty && c.local_opened {
                self.events.push(EngineEvent::Readable(id));
            }
        }
        Ok(())
    }

    /// Per peer channel (the peer's id), the last sequence we received:
    /// what we tell the peer when a connection (re)starts.
    pub fn resume_state(&self) -> Vec<(u32, u64)> {
        self.channels
            .iter()
            .filter_map(|c| c.remote_id.map(|r| (r, c.last_received)))
            .collect()
    }

    /// Starts a new connection of the session. `peer_last` lists, per our
    /// channel id, the last sequence the peer received: frames up to it are
    /// acknowledged, the rest is sent again. Every channel is announced again
    /// (OPEN, CREDIT) and what we received counts as acknowledged.
    pub fn on_new_connection(&mut self, peer_last: &[(u32, u64)]) {
        self.ctrl.clear();
        let peer: HashMap<u32, u64> = peer_last.iter().copied().collect();
        for i in 0..self.channels.len() {
            let id = i as u32 + 1;
            let c = &mut self.channels[i];
            if let Some(&l) = peer.get(&id) {
                let l = l.min(c.next_seq - 1);
                c.pop_acked(l);
            }
            c.resend_pos = 0;
            c.acked_to_peer = c.last_received;
            c.ack_pending = false;
            c.ack_now = false;
            c.announced = None;
            let kind = c.kind.clone();
            self.ctrl.push_back(Frame {
                payload: kind.into_bytes(),
                ..Frame::empty(FrameType::Open, id, 0)
            });
            self.check_flushes(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, Prng, MAX_FRAME_PAYLOAD};

    fn cfg(policy: Policy, max_queue: usize) -> EngineConfig {
        EngineConfig {
            max_channels: 8,
            max_message: 1 << 20,
            window_bytes: 1 << 20,
            window_msgs: 64,
            max_queue,
            max_queue_bytes: 1 << 22,
            policy,
            max_unacked_bytes: 1 << 30,
            unopened_window: (1 << 20, 64),
            session_recv_budget: 1 << 40,
            node_recv: Arc::new(RecvBudget {
                limit: 1 << 40,
                used: AtomicU64::new(0),
                sessions: AtomicU64::new(0),
            }),
        }
    }

    /// Moves every byte `from` wants to write into `to`; returns frames moved.
    fn pump(from: &mut Engine, to: &mut Engine) -> usize {
        let mut out = Vec::new();
        from.fill(&mut out, 1 << 20);
        let mut pos = 0;
        let mut n = 0;
        while let Some((f, used)) = decode(&out[pos..], MAX_FRAME_PAYLOAD).unwrap() {
            pos += used;
            n += 1;
            to.handle_frame(f).unwrap();
        }
        n
    }

    fn settle(a: &mut Engine, b: &mut Engine) {
        for _ in 0..100 {
            if pump(a, b) + pump(b, a) == 0 {
                return;
            }
        }
        panic!("engines did not settle");
    }

    fn read_all(e: &mut Engine, id: u32) -> Vec<Vec<u8>> {
        let mut buf = vec![0u8; 1 << 21];
        let mut msgs = Vec::new();
        loop {
            let Ok((n, _)) = e.recv_into(id, &mut buf) else {
                return msgs;
            };
            if n == 0 {
                return msgs;
            }
            let mut p = 0;
            while p < n {
                let l = u32::from_le_bytes(buf[p..p + 4].try_into().unwrap()) as usize;
                msgs.push(buf[p + 4..p + 4 + l].to_vec());
                p += 4 + l;
            }
        }
    }

    #[test]
    fn messages_arrive_in_order_with_fragmentation() {
        let mut a = Engine::new(cfg(Policy::Block, 100));
        let mut b = Engine::new(cfg(Policy::Block, 100));
        let ca = a.open_channel("knowledge", None, None, None).unwrap();
        let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        a.send(ca, b"one").unwrap();
        a.send(ca, &big).unwrap();
        a.send(ca, b"").unwrap();
        settle(&mut a, &mut b);
        // b has not opened the channel: messages wait, no events yet.
        assert!(!b
            .take_events()
            .iter()
            .any(|e| matches!(e, EngineEvent::Readable(_))));
        let cb = b.open_channel("knowledge", None, None, None).unwrap();
        assert_eq!(b.take_events(), vec![EngineEvent::Readable(cb)]);
        assert_eq!(read_all(&mut b, cb), vec![b"one".to_vec(), big, vec![]]);
        assert!(a.all_acked());
    }

    /// An engine whose peer (faked with raw frames) declared "state" as its
    /// channel 9 and granted `credit` bytes and messages.
    fn engine_with_peer_credit(c: EngineConfig, credit: (u64, u64)) -> (Engine, u32) {
        let mut a = Engine::new(c);
        let id = a.open_channel("state", None, None, None).unwrap();
        a.handle_frame(Frame {
            payload: b"state".to_vec(),
            ..Frame::empty(FrameType::Open, 9, 0)
        })
        .unwrap();
        let r = a.handle_frame(Frame {
            payload: codec::encode_credit(credit.0, credit.1),
            ..Frame::empty(FrameType::Credit, 9, 0)
        });
        r.unwrap();
        (a, id)
    }

    #[test]
    fn a_peer_that_never_acknowledges_gets_no_more_than_the_unacked_cap() {
        let mut c = cfg(Policy::DropOldest, 100_000);
        c.max_unacked_bytes = 64 * 1024;
        c.max_queue_bytes = 1 << 30;
        let (mut a, id) = engine_with_peer_credit(c, (1 << 33, 1 << 23));
        for _ in 0..100 {
            a.send(id, &[7u8; 10_000]).unwrap();
        }
        let mut out = Vec::new();
        for _ in 0..1000 {
            a.fill(&mut out, 1 << 20);
        }
        let (sum, max) = a.unacked_bytes();
        assert!(max >= 64 * 1024, "the cap is used: {max}");
        assert!(
            max < 64 * 1024 + FRAGMENT_SIZE as u64,
            "unacked {max} beyond the cap plus one fragment"
        );
        assert_eq!(sum, max);
        // An ACK of everything frees the buffer and sending resumes.
        let last = frames_of(&out)
            .iter()
            .filter(|f| f.kind == FrameType::Data)
            .map(|f| f.seq)
            .max()
            .unwrap();
        a.handle_frame(Frame::empty(FrameType::Ack, 9, last))
            .unwrap();
        assert_eq!(a.unacked_bytes().0, 0);
        assert_eq!(a.acks_received(), 1);
        out.clear();
        a.fill(&mut out, 1 << 20);
        assert!(frames_of(&out).iter().any(|f| f.kind == FrameType::Data));
    }

    #[test]
    fn a_resume_list_may_name_only_our_channels_and_sequences_we_sent() {
        let (mut a, id) = engine_with_peer_credit(cfg(Policy::Block, 10), (1 << 20, 100));
        a.send(id, b"one").unwrap();
        a.send(id, b"two").unwrap();
        let mut out = Vec::new();
        a.fill(&mut out, 1 << 20);
        assert_eq!(a.check_resume_list(&[]), Ok(()));
        assert_eq!(a.check_resume_list(&[(id, 0)]), Ok(()));
        assert_eq!(a.check_resume_list(&[(id, 2)]), Ok(()));
        for bad in [vec![(id, 3)], vec![(id + 7, 0)], vec![(id, 1), (id, 1)]] {
            assert!(a.check_resume_list(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_credit_beyond_any_window_is_a_protocol_error() {
        let (mut a, _) = engine_with_peer_credit(
            cfg(Policy::Block, 10),
            (MAX_CREDIT_WINDOW_BYTES, MAX_CREDIT_WINDOW_MSGS),
        );
        for (b, m) in [
            (u64::MAX, 1),
            (MAX_CREDIT_WINDOW_BYTES + 1, 1),
            (1, MAX_CREDIT_WINDOW_MSGS + 1),
        ] {
            let r = a.handle_frame(Frame {
                payload: codec::encode_credit(b, m),
                ..Frame::empty(FrameType::Credit, 9, 0)
            });
            assert!(
                matches!(r, Err(ProtocolError::CreditTooLarge(_))),
                "{b} {m}: {r:?}"
            );
        }
    }

    #[test]
    fn credit_stops_a_sender_whose_peer_does_not_read() {
        let mut c = cfg(Policy::Block, 1000);
        c.window_msgs = 10;
        c.window_bytes = 1000;
        c.max_message = 1000;
        let mut a = Engine::new(c.clone());
        let mut b = Engine::new(c);
        let ca = a.open_channel("state", None, None, None).unwrap();
        let cb = b.open_channel("state", None, None, None).unwrap();
        for i in 0..50u8 {
            a.send(ca, &[i; 10]).unwrap();
        }
        settle(&mut a, &mut b);
        assert_eq!(b.total_stats().messages_in, 10, "only the window crosses");
        assert_eq!(
            a.channel_stats(ca).unwrap().1,
            40,
            "the rest waits in the sender's queue"
        );
        let got = read_all(&mut b, cb);
        assert_eq!(got.len(), 10);
        settle(&mut a, &mut b);
        let mut total = got.len();
        for _ in 0..10 {
            total += read_all(&mut b, cb).len();
            settle(&mut a, &mut b);
        }
        assert_eq!(total, 50);
        // Byte credit: messages of 300 bytes, window of 1000 bytes.
        for _ in 0..5 {
            a.send(ca, &[1; 300]).unwrap();
        }
        settle(&mut a, &mut b);
        assert_eq!(read_all(&mut b, cb).len(), 3);
    }

    #[test]
    fn queue_policies_and_statistics() {
        let mut a = Engine::new(cfg(Policy::Error, 2));
        let id = a.open_channel("custom.q", None, None, None).unwrap();
        // No peer: nothing leaves the queue.
        a.send(id, b"1").unwrap();
        a.send(id, b"2").unwrap();
        assert_eq!(a.send(id, b"3"), Err(SendError::QueueFull));
        let s = a.channel_stats(id).unwrap().0;
        assert_eq!(
            (
                s.attempted,
                s.enqueued,
                s.errors,
                s.overflow_events,
                s.max_queue_len
            ),
            (3, 2, 1, 1, 2)
        );

        let id2 = a
            .open_channel("drop.new", Some(Policy::DropNewest), Some(1), None)
            .unwrap();
        a.send(id2, b"a").unwrap();
        a.send(id2, b"b").unwrap();
        let s = a.channel_stats(id2).unwrap().0;
        assert_eq!((s.dropped_newest, s.enqueued), (1, 1));

        let id3 = a
            .open_channel("drop.old", Some(Policy::DropOldest), Some(2), None)
            .unwrap();
        for m in [b"x", b"y", b"z"] {
            a.send(id3, m).unwrap();
        }
        let s = a.channel_stats(id3).unwrap().0;
        assert_eq!((s.dropped_oldest, s.enqueued, s.overflow_events), (1, 3, 1));
        let ev = a.take_events();
        assert!(ev.contains(&EngineEvent::Drop {
            channel: id2,
            cause: "drop_newest",
            count: 1
        }));
        assert!(ev.contains(&EngineEvent::Drop {
            channel: id3,
            cause: "drop_oldest",
            count: 1
        }));

        let id4 = a
            .open_channel("blk", Some(Policy::Block), Some(1), None)
            .unwrap();
        a.send(id4, b"a").unwrap();
        assert_eq!(a.send(id4, b"b"), Err(SendError::WouldBlock));
        assert_eq!(a.try_enqueue(id4, b"b"), Ok(false));
        a.count_block_timeout(id4);
        let s = a.channel_stats(id4).unwrap().0;
        assert_eq!((s.blocked, s.errors, s.attempted), (1, 1, 2));

        // Byte bound.
        let id5 = a
            .open_channel("bytes", Some(Policy::Error), Some(100), Some(10))
            .unwrap();
        a.send(id5, &[0; 8]).unwrap();
        assert_eq!(a.send(id5, &[0; 3]), Err(SendError::QueueFull));
        assert_eq!(a.send(id5, &vec![0; 2 << 20]), Err(SendError::TooLarge));
    }

    #[test]
    fn blocked_sender_gets_room_and_writable_event() {
        let mut a = Engine::new(cfg(Policy::Block, 1));
        let mut b = Engine::new(cfg(Policy::Block, 1));
        let ca = a.open_channel("state", None, None, None).unwrap();
        b.open_channel("state", None, None, None).unwrap();
        a.send(ca, b"1").unwrap();
        assert_eq!(a.send(ca, b"2"), Err(SendError::WouldBlock));
        settle(&mut a, &mut b);
        assert!(a.take_events().contains(&EngineEvent::Writable(ca)));
        assert!(a.take_room_freed());
        assert_eq!(a.try_enqueue(ca, b"2"), Ok(true));
    }

    #[test]
    fn priority_prefers_the_first_class_without_starving_the_last() {
        let mut a = Engine::new(cfg(Policy::Block, 10_000));
        let mut b = Engine::new(cfg(Policy::Block, 10_000));
        let k = a.open_channel("knowledge", None, None, None).unwrap();
        let c = a.open_channel("control", None, None, None).unwrap();
        // The priority is the caller's explicit choice, not the kind's name.
        a.set_priority(c, 0);
        b.open_channel("knowledge", None, None, None).unwrap();
        b.open_channel("control", None, None, None).unwrap();
        settle(&mut a, &mut b);
        for _ in 0..40 {
            a.send(k, &[7; 100]).unwrap();
            a.send(c, &[1; 100]).unwrap();
        }
        let mut out = Vec::new();
        a.fill(&mut out, 40 * 130);
        let mut pos = 0;
        let (mut nk, mut nc) = (0, 0);
        while let Some((f, used)) = decode(&out[pos..], MAX_FRAME_PAYLOAD).unwrap() {
            pos += used;
            if f.kind == FrameType::Data {
                if f.channel == k {
                    nk += 1
                } else {
                    nc += 1
                }
            }
        }
        assert!(nc > nk * 3, "control first: {nc} vs {nk}");
        assert!(nk > 0, "knowledge not starved");
    }

    #[test]
    fn resumption_resends_unacknowledged_frames_exactly_once() {
        let mut rng = Prng::new(11);
        let mut a = Engine::new(cfg(Policy::Block, 10_000));
        let mut b = Engine::new(cfg(Policy::Block, 10_000));
        let ca = a.open_channel("state", None, None, None).unwrap();
        let cb = b.open_channel("state", None, None, None).unwrap();
        settle(&mut a, &mut b);
        let mut sent = 0u32;
        let mut got = Vec::new();
        for round in 0..30 {
            for _ in 0..rng.below(20) {
                a.send(ca, &sent.to_le_bytes()).unwrap();
                sent += 1;
            }
            // Write a's output but deliver only a random prefix of whole frames (the cut).
            let mut out = Vec::new();
            a.fill(&mut out, 1 << 20);
            let mut pos = 0;
            let mut frames = Vec::new();
            while let Some((f, used)) = decode(&out[pos..], MAX_FRAME_PAYLOAD).unwrap() {
                pos += used;
                frames.push(f);
            }
            let keep = rng.below(frames.len() as u64 + 1) as usize;
            for f in frames.into_iter().take(keep) {
                b.handle_frame(f).unwrap();
            }
            // b's answers (acks) are lost half of the time.
            if round % 2 == 0 {
                pump(&mut b, &mut a);
            } else {
                let mut lost = Vec::new();
                b.fill(&mut lost, 1 << 20);
            }
            got.extend(read_all(&mut b, cb));
            // Reconnect: exchange last-received lists.
            let a_state = a.resume_state();
            let b_state = b.resume_state();
            a.on_new_connection(&b_state);
            b.on_new_connection(&a_state);
            settle(&mut a, &mut b);
            got.extend(read_all(&mut b, cb));
        }
        let expect: Vec<Vec<u8>> = (0..sent).map(|i| i.to_le_bytes().to_vec()).collect();
        assert_eq!(got, expect);
        assert_eq!(b.total_stats().replays, 0, "resent frames are not replays");
        assert!(a.all_acked());
    }

    fn frames_of(out: &[u8]) -> Vec<Frame> {
        let mut pos = 0;
        let mut frames = Vec::new();
        while let Some((f, used)) = decode(&out[pos..], MAX_FRAME_PAYLOAD).unwrap() {
            pos += used;
            frames.push(f);
        }
        frames
    }

    #[test]
    fn deferred_acks_ride_along_or_go_out_after_enough_frames() {
        let mut a = Engine::new(cfg(Policy::Block, 10_000));
        let mut b = Engine::new(cfg(Policy::Block, 10_000));
        let ca = a.open_channel("state", None, None, None).unwrap();
        let cb = b.open_channel("state", None, None, None).unwrap();
        settle(&mut a, &mut b);
        a.send(ca, b"one").unwrap();
        pump(&mut a, &mut b);
        // Nothing else to write: the ACK waits.
        let mut out = Vec::new();
        b.fill_lazy(&mut out, 1 << 20, false);
        assert!(out.is_empty(), "a lone ACK is deferred");
        assert!(b.has_deferred() && !b.has_output());
        // b sends data: the ACK rides along in the same write.
        b.send(cb, b"reply").unwrap();
        b.fill_lazy(&mut out, 1 << 20, false);
        let kinds: Vec<FrameType> = frames_of(&out).iter().map(|f| f.kind).collect();
        assert!(kinds.contains(&FrameType::Data) && kinds.contains(&FrameType::Ack));
        assert!(!b.has_deferred());
        for f in frames_of(&out) {
            a.handle_frame(f).unwrap();
        }
        assert!(a.all_acked());
        // Reading everything makes a small credit grant due, deferred too,
        // until the deferral timer flushes it.
        assert_eq!(read_all(&mut b, cb), vec![b"one".to_vec()]);
        let mut out = Vec::new();
        b.fill_lazy(&mut out, 1 << 20, false);
        assert!(out.is_empty() && b.has_deferred() && !b.credit_due_now(cb));
        b.fill_lazy(&mut out, 1 << 20, true);
        assert_eq!(frames_of(&out)[0].kind, FrameType::Credit);
        assert!(!b.has_deferred());
        // Enough frames make the ACK urgent on its own.
        for i in 0..ACK_EVERY_FRAMES {
            a.send(ca, &i.to_le_bytes()).unwrap();
        }
        pump(&mut a, &mut b);
        let mut out = Vec::new();
        b.fill_lazy(&mut out, 1 << 20, false);
        let frames = frames_of(&out);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].kind, FrameType::Ack);
        assert_eq!(read_all(&mut b, cb).len(), ACK_EVERY_FRAMES as usize);
    }

    #[test]
    fn resumption_with_deferred_acks_delivers_both_ways_exactly_once() {
        let mut rng = Prng::new(29);
        let mut e = [
            Engine::new(cfg(Policy::Block, 10_000)),
            Engine::new(cfg(Policy::Block, 10_000)),
        ];
        let ids = [
            e[0].open_channel("state", None, None, None).unwrap(),
            e[1].open_channel("state", None, None, None).unwrap(),
        ];
        let (x, y) = e.split_at_mut(1);
        settle(&mut x[0], &mut y[0]);
        let mut sent = [0u32; 2];
        let mut got: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..40 {
            for _ in 0..rng.below(60) {
                let s = rng.below(2) as usize;
                let mut m = sent[s].to_le_bytes().to_vec();
                m.resize(4 + rng.below(40_000) as usize, s as u8);
                e[s].send(ids[s], &m).unwrap();
                sent[s] += 1;
            }
            // A few exchanges with deferred ACKs, each cut at a random frame.
            for _ in 0..rng.below(6) {
                let s = rng.below(2) as usize;
                let mut out = Vec::new();
                e[s].fill_lazy(&mut out, 1 + rng.below(1 << 18) as usize, rng.below(3) == 0);
                let frames = frames_of(&out);
                // Mostly whole writes; sometimes the connection is cut.
                let n = frames.len();
                let keep = if rng.below(4) == 0 {
                    rng.below(n as u64 + 1) as usize
                } else {
                    n
                };
                for f in frames.into_iter().take(keep) {
                    e[1 - s].handle_frame(f).unwrap();
                }
                let r = 1 - s;
                if rng.below(2) == 0 {
                    got[r].extend(read_all(&mut e[r], ids[r]));
                }
                if keep < n {
                    break;
                }
            }
            // Reconnect.
            let st = [e[0].resume_state(), e[1].resume_state()];
            e[0].on_new_connection(&st[1]);
            e[1].on_new_connection(&st[0]);
            let (x, y) = e.split_at_mut(1);
            settle(&mut x[0], &mut y[0]);
            for r in 0..2 {
                got[r].extend(read_all(&mut e[r], ids[r]));
            }
        }
        let (x, y) = e.split_at_mut(1);
        settle(&mut x[0], &mut y[0]);
        for r in 0..2 {
            let s = 1 - r;
            got[r].extend(read_all(&mut e[r], ids[r]));
            let order: Vec<u32> = got[r]
                .iter()
                .map(|m| u32::from_le_bytes(m[..4].try_into().unwrap()))
                .collect();
            assert_eq!(order, (0..sent[s]).collect::<Vec<_>>());
            assert_eq!(
                e[r].total_stats().replays,
                0,
                "resent frames are not replays"
            );
            assert!(e[s].all_acked());
        }
    }

    #[test]
    fn replayed_frame_is_dropped_counted_and_session_kept() {
        let mut a = Engine::new(cfg(Policy::Block, 100));
        let mut b = Engine::new(cfg(Policy::Block, 100));
        let ca = a.open_channel("state", None, None, None).unwrap();
        let cb = b.open_channel("state", None, None, None).unwrap();
        settle(&mut a, &mut b);
        a.send(ca, b"m1").unwrap();
        a.send(ca, b"m2").unwrap();
        settle(&mut a, &mut b);
        assert_eq!(read_all(&mut b, cb).len(), 2);
        assert!(a.inject_replay("state"));
        settle(&mut a, &mut b);
        b.report_replays();
        let ev = b.take_events();
        assert!(
            ev.iter().any(
                |e| matches!(e, EngineEvent::Replay { channel, seq: 2, count: 1 } if *channel == cb)
            ),
            "{ev:?}"
        );
        assert_eq!(b.total_stats().replays, 1);
        assert!(read_all(&mut b, cb).is_empty());
        a.send(ca, b"m3").unwrap();
        settle(&mut a, &mut b);
        assert_eq!(read_all(&mut b, cb), vec![b"m3".to_vec()]);
    }

    #[test]
    fn unacknowledged_duplicates_are_dropped_silently_but_acknowledged_ones_are_replays() {
        let mut b = Engine::new(cfg(Policy::Block, 100));
        let id = b.open_channel("state", None, None, None).unwrap();
        b.handle_frame(Frame {
            payload: b"state".to_vec(),
            ..Frame::empty(FrameType::Open, 9, 0)
        })
        .unwrap();
        let mut out = Vec::new();
        b.fill(&mut out, 1 << 16); // grants credit
        let data = |seq| Frame {
            flags: FLAG_END,
            payload: vec![seq as u8],
            ..Frame::empty(FrameType::Data, 9, seq)
        };
        b.handle_frame(data(1)).unwrap();
        b.handle_frame(data(1)).unwrap(); // not acknowledged yet: a duplicate
        assert_eq!(b.total_stats().replays, 0);
        out.clear();
        b.fill(&mut out, 1 << 16); // ACK 1 goes out
        b.handle_frame(data(1)).unwrap(); // now a replay
        assert_eq!(b.total_stats().replays, 1);
        assert!(
            !b.take_events()
                .iter()
                .any(|e| matches!(e, EngineEvent::Replay { .. })),
            "a replay queues no event by itself"
        );
        for _ in 0..9_999 {
            b.handle_frame(data(1)).unwrap();
        }
        assert_eq!(
            (b.total_stats().replays, b.replays_seen()),
            (10_000, 10_000)
        );
        assert!(b.replays_unreported());
        b.report_replays();
        assert_eq!(
            b.take_events(),
            vec![EngineEvent::Replay {
                channel: id,
                seq: 1,
                count: 10_000
            }],
            "ten thousand replays, one coalesced event"
        );
        b.report_replays();
        assert!(b.take_events().is_empty());
        assert!(!b.replays_unreported());
        let mut buf = [0u8; 64];
        assert_eq!(
            b.recv_into(id, &mut buf).unwrap(),
            (5, 0),
            "one message, once"
        );
    }

    #[test]
    fn gaps_unknown_channels_and_credit_abuse_are_protocol_errors() {
        let mut b = Engine::new(cfg(Policy::Block, 100));
        let data = |ch, seq| Frame {
            flags: FLAG_END,
            ..Frame::empty(FrameType::Data, ch, seq)
        };
        assert!(b.handle_frame(data(1, 1)).is_err());
        b.handle_frame(Frame {
            payload: b"state".to_vec(),
            ..Frame::empty(FrameType::Open, 1, 0)
        })
        .unwrap();
        // No credit announced yet.
        assert!(b.handle_frame(data(1, 1)).is_err());
        let mut out = Vec::new();
        b.fill(&mut out, 1 << 16);
        assert!(b.handle_frame(data(1, 2)).is_err(), "gap");
        b.handle_frame(data(1, 1)).unwrap();
        assert!(
            b.handle_frame(Frame::empty(FrameType::Ack, 1, 5)).is_err(),
            "ack of unsent"
        );
    }

    #[test]
    fn flush_completes_on_ack_and_fails_on_close() {
        let mut a = Engine::new(cfg(Policy::Block, 100));
        let mut b = Engine::new(cfg(Policy::Block, 100));
        let ca = a.open_channel("state", None, None, None).unwrap();
        b.open_channel("state", None, None, None).unwrap();
        a.send(ca, b"x").unwrap();
        a.flush(ca, 77).unwrap();
        assert!(a.take_events().is_empty());
        settle(&mut a, &mut b);
        assert_eq!(
            a.take_events(),
            vec![EngineEvent::Flushed {
                op: 77,
                channel: ca
            }]
        );
        a.send(ca, b"y").unwrap();
        a.flush(ca, 78).unwrap();
        assert_eq!(a.fail_all(), 1);
        assert_eq!(
            a.take_events(),
            vec![EngineEvent::FlushFailed {
                op: 78,
                channel: ca,
                undelivered: 1
            }]
        );
    }

    #[test]
    fn half_close_ends_the_peers_reads_after_the_data() {
        let mut a = Engine::new(cfg(Policy::Block, 100));
        let mut b = Engine::new(cfg(Policy::Block, 100));
        let ca = a.open_channel("knowledge", None, None, None).unwrap();
        let cb = b.open_channel("knowledge", None, None, None).unwrap();
        a.send(ca, b"last").unwrap();
        a.close_channel(ca).unwrap();
        assert_eq!(a.send(ca, b"more"), Err(SendError::ChannelClosed));
        settle(&mut a, &mut b);
        assert_eq!(read_all(&mut b, cb), vec![b"last".to_vec()]);
        let mut buf = [0u8; 16];
        assert_eq!(b.recv_into(cb, &mut buf), Err(SendError::ChannelClosed));
        assert!(a.all_acked());
    }

    #[test]
    fn hostile_frame_sequences_never_panic_the_engine() {
        let mut rng = Prng::new(99);
        let types = [
            FrameType::Hello,
            FrameType::Open,
            FrameType::Data,
            FrameType::Fin,
            FrameType::Ack,
            FrameType::Credit,
            FrameType::Ping,
            FrameType::Pong,
            FrameType::Close,
        ];
        let mut buf = vec![0u8; 4096];
        for _ in 0..300 {
            let mut e = Engine::new(cfg(Policy::DropOldest, 4));
            let id = e.open_channel("state", None, None, None).unwrap();
            for _ in 0..200 {
                let kind = types[rng.below(types.len() as u64) as usize];
                let payload: Vec<u8> = match (kind, rng.below(3)) {
                    (FrameType::Open, 0) => b"state".to_vec(),
                    (FrameType::Credit, 0) => {
                        codec::encode_credit(rng.below(1 << 20), rng.below(100))
                    }
                    _ => (0..rng.below(40)).map(|_| rng.next_u64() as u8).collect(),
                };
                let f = Frame {
                    kind,
                    flags: (rng.below(2) as u8) & FLAG_END,
                    channel: rng.below(4) as u32,
                    seq: rng.below(8),
                    payload,
                };
                let _ = e.handle_frame(f);
                let _ = e.send(id, &[1, 2, 3]);
                let mut out = Vec::new();
                e.fill(&mut out, 1 << 16);
                let _ = e.recv_into(id, &mut buf);
                if rng.below(50) == 0 {
                    let st = e.resume_state();
                    e.on_new_connection(&st);
                }
            }
        }
    }

    #[test]
    fn channel_limit_is_enforced() {
        let mut a = Engine::new(cfg(Policy::Block, 1));
        for i in 0..8 {
            a.open_channel(&format!("c{i}"), None, None, None).unwrap();
        }
        assert_eq!(
            a.open_channel("c9", None, None, None),
            Err(OpenError::TooManyChannels)
        );
        assert_eq!(
            a.open_channel("c1", None, None, None),
            Ok(2),
            "joining an open kind is fine"
        );
        assert_eq!(
            a.open_channel("Bad", None, None, None),
            Err(OpenError::InvalidKind)
        );
    }
}
