//! The session engine: channels, send queues and their policies, credit flow
//! control, sequencing, acknowledgements, resumption and replay detection.
//!
//! It is pure state (no sockets, no clocks): the connection driver feeds it
//! decoded frames and asks it for bytes to write, so every rule here is
//! testable by wiring two engines together in memory.

mod channel;
mod error;
mod flow;
mod out;
mod pool;
mod receive;
mod resume;
mod schedule;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::codec::{self, Frame, FrameType};
use crate::config::Policy;
use channel::{Channel, OutMsg, RecvState, SendState};

pub use channel::Stats;
pub use error::{OpenError, ProtocolError, ResumeListError, SendError};
pub use flow::RecvBudget;
pub use out::{FrameOut, OutBatch};
pub use pool::BufferPool;

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
    /// The node's spare message buffers, shared by its sessions.
    pub buffers: Arc<BufferPool>,
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
            buffers: Arc::new(BufferPool::default()),
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
    /// The session's share of the node receive budget was given back.
    budget_returned: bool,
    /// Bytes this session may hold received and unread ([`Engine::set_recv_budget`]).
    recv_budget: u64,
    /// The channel (index) whose message being reassembled may complete
    /// beyond the channels' grants ([`Engine::reassembles`]).
    reassembling: Option<usize>,
    /// The highest budget in force since the channels' grants last fitted
    /// the budget: unused credit up to it is no overdraft.
    grant_base: u64,
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
            grant_base: cfg.session_recv_budget,
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
            budget_returned: false,
            reassembling: None,
            test_no_acks: false,
        }
    }

    /// When (us) the oldest DATA or FIN frame written on the current
    /// connection and not yet acknowledged was written, over all channels;
    /// `None` when nothing written on it waits for an ACK. The node ends a
    /// session whose peer lets this wait `ack_timeout_ms`. One look per
    /// channel (the oldest frame is each channel's first).
    pub fn oldest_unacked_at(&self) -> Option<u64> {
        self.channels
            .iter()
            .filter_map(Channel::oldest_unacked_at)
            .min()
    }

    /// Unacknowledged DATA bytes, summed over channels and the largest of one channel.
    pub fn unacked_bytes(&self) -> (u64, u64) {
        self.channels.iter().fold((0, 0), |(sum, max), c| {
            (sum + c.unacked_bytes, max.max(c.unacked_bytes))
        })
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
        let mut owned = self.cfg.buffers.take(data.len());
        owned.extend_from_slice(data);
        self.send_owned(id, owned, data.len())
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
}
