//! Credit flow control: receive windows, the session's receive budget and
//! the node's, when a CREDIT is due and what it grants.

use std::sync::atomic::{AtomicU64, Ordering};

use super::channel::{Channel, RecvState};
use super::Engine;
use crate::codec::{self, FrameType, FRAGMENT_SIZE};

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

/// When a CREDIT frame is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    No,
    Deferred,
    Now,
}

impl Engine {
    /// Sets the session's receive budget: the bytes it may hold received and
    /// unread over all its channels (at least 1). Lowering it below what is
    /// held or granted loses nothing: no more credit is granted until reads
    /// bring the session under it. A message larger than it is refused
    /// ([`ProtocolError::OverBudget`]) once it needs more credit than the
    /// budget allows.
    pub fn set_recv_budget(&mut self, bytes: u64) {
        self.recv_budget = bytes.max(1);
        self.grant_base = self.grant_base.max(self.recv_budget);
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

    /// Granted and unread bytes over the session's channels.
    pub fn recv_outstanding(&self) -> u64 {
        self.channels.iter().map(Channel::outstanding).sum()
    }

    /// Whether a credit grant for channel `id` is due at once (not deferred).
    pub fn credit_due_now(&self, id: u32) -> bool {
        self.ch(id).is_some_and(|c| self.credit_due(c) == Due::Now)
    }

    /// Whether a CREDIT frame is due: at once when the channel was never
    /// announced on this connection or the grant moved by a quarter of the
    /// window; deferred when the application has read everything and the
    /// grant moved less than that (a sender waiting for that small grant
    /// gets it when the deferral timer fires).
    pub(super) fn credit_due(&self, c: &Channel) -> Due {
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

    /// The receive window of channel `c`: small until the application opens it.
    pub(super) fn window(&self, c: &Channel) -> (u64, u64) {
        if c.local_opened {
            (self.cfg.window_bytes, self.cfg.window_msgs)
        } else {
            self.cfg.unopened_window
        }
    }

    /// The receive window of channel `c` within the budgets: its byte part
    /// at most the session budget and an even share of the node budget over
    /// its sessions. How much of it is granted is [`Engine::grant`]'s.
    pub(super) fn effective_window(&self, c: &Channel) -> (u64, u64) {
        let (wb, wm) = self.window(c);
        let node = &self.cfg.node_recv;
        let node_share =
            (node.limit / node.sessions.load(Ordering::Relaxed).max(1)).max(FRAGMENT_SIZE as u64);
        (wb.min(self.recv_budget).min(node_share), wm)
    }

    /// The bytes of the session budget every channel is sure to be granted
    /// (outstanding at once): the budget over twice the most channels a
    /// session may have, so half the budget is kept for channels' floors and
    /// the other half goes to whichever channels use it.
    fn floor(&self) -> u64 {
        (self.recv_budget / (4 * self.cfg.max_channels.max(1) as u64)).max(1)
    }

    /// The session budget kept for channels other than `c` to reach their
    /// floor: each channel that may still receive and has less than its floor
    /// outstanding, and each channel the session may still get.
    fn reserved_for_others(&self, c: &Channel) -> u64 {
        let floor = self.floor();
        let future = self.cfg.max_channels.saturating_sub(self.channels.len()) as u64;
        let existing: u64 = self
            .channels
            .iter()
            .filter(|o| !std::ptr::eq(*o, c) && o.recv_state != RecvState::Ended)
            .map(|o| floor.saturating_sub(o.outstanding()))
            .sum();
        existing + future * floor
    }

    /// Whether channel `c` is the one whose message being reassembled may
    /// complete beyond what the channels have granted (see [`Engine::grant`]):
    /// it has nothing else to read, and no other channel holds that right
    /// (one at a time, so the session holds at most one such message).
    pub(super) fn reassembles(&self, c: &Channel) -> bool {
        let waiting = |o: &Channel| o.recv_state == RecvState::InMessage && o.ready.is_empty();
        waiting(c)
            && !self
                .reassembling
                .and_then(|j| self.channels.get(j))
                .is_some_and(|o| !std::ptr::eq(o, c) && waiting(o))
    }

    /// The cumulative grant (bytes, messages) for channel `c`: what was read
    /// plus the window, the byte part bounded by the session's and the
    /// node's receive budgets (grants never shrink).
    ///
    /// The session budget works as a connection window over the channels'
    /// windows and is the binding one: what the channels have granted and
    /// not had read stays within it. Part of it is kept so that no channel is
    /// ever starved: each channel (and each the session may still get) is
    /// sure of a floor ([`Engine::floor`]) that no other channel's grant may
    /// take, and the rest goes to the channels that read, as they read. So a
    /// channel opened last, or one beside a channel that holds idle credit,
    /// still gets credit while the session is under its budget.
    ///
    /// A message being reassembled on a channel with nothing else to read
    /// cannot be read before it completes, so for one such channel at a
    /// time ([`Engine::reassembles`]) the window counts from what was
    /// received (not read), and the session's room from what is held (not
    /// granted, floors not kept): a message up to the session budget
    /// completes even when other channels hold unused credit (within the
    /// budget, or the higher budget it was granted under). So what a session
    /// holds stays within its budget plus that one message, and what it
    /// granted within twice the budget, not adding up over such messages.
    pub(super) fn grant(&self, c: &Channel) -> (u64, u64) {
        let (wb, wm) = self.effective_window(c);
        let node = &self.cfg.node_recv;
        let budget = self.recv_budget;
        let waiting = self.reassembles(c);
        let want = if waiting {
            c.recv_bytes + wb
        } else {
            c.consumed_bytes + wb
        };
        let have = c.granted.0.max(c.consumed_bytes);
        let b = if want > have {
            let session_room = if waiting {
                // Other channels' unused credit within the budget does not
                // hold the message back; beyond it (what earlier messages
                // completed this way left unused) it does, so this never
                // adds up over messages.
                let others = self.recv_outstanding().saturating_sub(c.outstanding());
                let used = self.recv_held()
                    + c.granted.0.saturating_sub(c.recv_bytes)
                    + others.saturating_sub(self.grant_base);
                budget.saturating_sub(used)
            } else {
                let free = budget.saturating_sub(self.recv_outstanding());
                let own_floor = self.floor().saturating_sub(c.outstanding());
                // The floor is granted whenever the session holds less than
                // its budget, even when credit granted under a higher budget
                // and not used fills it.
                let under = budget.saturating_sub(self.recv_held());
                free.saturating_sub(self.reserved_for_others(c))
                    .max(own_floor.min(under))
            };
            let node_room = node.limit.saturating_sub(node.used.load(Ordering::Relaxed));
            have + (want - have).min(session_room).min(node_room)
        } else {
            have
        };
        (b, (c.consumed_msgs + wm).max(c.granted.1))
    }

    pub(super) fn write_credit(&mut self, i: usize, out: &mut impl super::out::FrameOut) {
        if self.budget_returned {
            return;
        }
        let (b, m) = self.grant(&self.channels[i]);
        if self.reassembles(&self.channels[i]) {
            self.reassembling = Some(i);
        }
        if self.recv_outstanding() <= self.recv_budget {
            self.grant_base = self.recv_budget;
        }
        let c = &mut self.channels[i];
        let old = c.granted.0;
        c.announced = Some((b, m));
        c.granted = (c.granted.0.max(b), c.granted.1.max(m));
        self.cfg
            .node_recv
            .used
            .fetch_add(c.granted.0 - old, Ordering::Relaxed);
        let payload = codec::encode_credit(b, m);
        let head = out.head();
        codec::encode_header(head, FrameType::Credit, 0, i as u32 + 1, 0, payload.len());
        head.extend_from_slice(&payload);
    }
}
