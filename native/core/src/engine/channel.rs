//! One channel's state: its send queue, unacknowledged frames, sequence
//! numbers and receive side, and the statistics of a channel.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::codec::{self, Frame};
use crate::config::Policy;

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
pub(super) struct OutMsg {
    pub(super) id: u64,
    /// Shared with the [`Sent`] fragments cut from it, so a fragment is
    /// encoded (and re-sent after a reconnect) without a copy of its own.
    pub(super) data: Arc<Vec<u8>>,
}

/// A frame sent and not yet acknowledged, kept for resending.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    /// Header fields; for DATA the payload is `body` instead.
    pub(super) frame: Frame,
    /// DATA payload: a range of the message.
    pub(super) body: Option<(Arc<Vec<u8>>, std::ops::Range<usize>)>,
    pub(super) msg: Option<u64>,
    /// When it was last written (us of the caller's clock): on the current
    /// connection for the frames before [`Channel::resend_pos`].
    pub(super) at: u64,
}

impl Sent {
    pub(super) fn payload(&self) -> &[u8] {
        match &self.body {
            Some((data, r)) => &data[r.clone()],
            None => &self.frame.payload,
        }
    }

    pub(super) fn encode(&self, out: &mut impl super::out::FrameOut) {
        let f = &self.frame;
        let len = self.payload().len();
        codec::encode_header(out.head(), f.kind, f.flags, f.channel, f.seq, len);
        match &self.body {
            // DATA: a slice of the message, not a copy (for large payloads).
            Some((data, r)) => out.body(data, r.clone()),
            None => out.head().extend_from_slice(&f.payload),
        }
    }

    #[cfg(any(test, feature = "test-hooks"))]
    pub(super) fn to_frame(&self) -> Frame {
        Frame {
            payload: self.payload().to_vec(),
            ..self.frame.clone()
        }
    }
}

/// Our sending side of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SendState {
    /// Sends are accepted.
    Open,
    /// Closed by the application: FIN goes out after what is queued.
    FinRequested,
    /// FIN sent (it is sequenced and resent like data until acknowledged).
    FinSent,
}

/// The peer's sending side, as we receive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RecvState {
    /// Between messages.
    Idle,
    /// Fragments of a message are arriving.
    InMessage,
    /// The peer's FIN arrived: nothing more will.
    Ended,
}

#[derive(Debug)]
pub(super) struct Channel {
    pub(super) kind: String,
    /// Scheduling class given by the application: 0 first, 2 last.
    pub(super) priority: u8,
    pub(super) local_opened: bool,
    pub(super) remote_id: Option<u32>,
    pub(super) policy: Policy,
    pub(super) max_queue: usize,
    pub(super) max_queue_bytes: usize,
    // send side
    pub(super) queue: VecDeque<OutMsg>,
    pub(super) queue_bytes: usize,
    pub(super) cur: Option<(OutMsg, usize)>,
    pub(super) next_seq: u64,
    pub(super) next_msg_id: u64,
    pub(super) unacked: VecDeque<Sent>,
    /// Payload bytes held in `unacked`.
    pub(super) unacked_bytes: u64,
    pub(super) resend_pos: usize,
    pub(super) last_acked: Option<Sent>,
    pub(super) credit_bytes: u64,
    pub(super) credit_msgs: u64,
    pub(super) sent_bytes: u64,
    pub(super) sent_msgs: u64,
    pub(super) send_state: SendState,
    pub(super) want_writable: bool,
    pub(super) flushes: Vec<(u64, u64)>,
    // receive side
    /// Replays not yet reported, and the sequence of the last one.
    pub(super) unreported_replays: (u64, u64),
    pub(super) last_received: u64,
    pub(super) acked_to_peer: u64,
    pub(super) ack_pending: bool,
    pub(super) ack_now: bool,
    pub(super) reassembly: Vec<u8>,
    pub(super) recv_state: RecvState,
    pub(super) ready: VecDeque<Vec<u8>>,
    pub(super) recv_bytes: u64,
    pub(super) recv_msgs: u64,
    pub(super) consumed_bytes: u64,
    pub(super) consumed_msgs: u64,
    pub(super) announced: Option<(u64, u64)>,
    pub(super) granted: (u64, u64),
    pub(super) stats: Stats,
}

impl Channel {
    pub(super) fn class(&self) -> usize {
        usize::from(self.priority)
    }

    pub(super) fn queue_full(&self, len: usize) -> bool {
        !self.queue.is_empty()
            && (self.queue.len() >= self.max_queue || self.queue_bytes + len > self.max_queue_bytes)
    }

    pub(super) fn sendable(&self, max_unacked: u64) -> bool {
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

    pub(super) fn push_unacked(&mut self, s: Sent) {
        self.unacked_bytes += s.payload().len() as u64;
        self.unacked.push_back(s);
        self.resend_pos = self.unacked.len();
    }

    /// Drops the frames acknowledged through `seq`; returns how many.
    /// A message whose last reference was dropped goes back to `pool`.
    pub(super) fn pop_acked(&mut self, seq: u64, pool: &super::pool::BufferPool) -> usize {
        let mut popped = 0;
        while self.unacked.front().is_some_and(|s| s.frame.seq <= seq) {
            let s = self.unacked.pop_front().expect("front");
            self.unacked_bytes -= s.payload().len() as u64;
            if let Some(Sent {
                body: Some((data, _)),
                ..
            }) = self.last_acked.replace(s)
            {
                if let Ok(buf) = Arc::try_unwrap(data) {
                    pool.put(buf);
                }
            }
            popped += 1;
        }
        popped
    }

    /// When the oldest frame written on the current connection and not yet
    /// acknowledged was written (frames waiting to be resent after a
    /// reconnect were not written on it). Frames are written in order, so it
    /// is the first one's time.
    pub(super) fn oldest_unacked_at(&self) -> Option<u64> {
        (self.resend_pos > 0).then(|| self.unacked.front().map(|s| s.at))?
    }

    pub(super) fn outstanding_min(&self) -> Option<u64> {
        self.unacked
            .iter()
            .find_map(|s| s.msg)
            .or(self.cur.as_ref().map(|c| c.0.id))
            .or(self.queue.front().map(|m| m.id))
    }

    pub(super) fn undelivered(&self) -> u64 {
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
    pub(super) fn outstanding(&self) -> u64 {
        self.granted.0.saturating_sub(self.consumed_bytes)
    }

    /// Received and not yet read by the application (bytes): whole messages
    /// waiting and the message being reassembled.
    pub(super) fn held(&self) -> u64 {
        self.recv_bytes.saturating_sub(self.consumed_bytes)
    }
}
