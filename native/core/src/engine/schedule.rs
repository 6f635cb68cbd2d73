//! What to write next: control frames, urgent and deferred ACKs and
//! credit, and DATA by priority class (round robin inside a class, a share
//! kept for lower classes so none starves).

use super::channel::{Channel, SendState, Sent};
use super::flow::Due;
use super::out::FrameOut;
use super::{Engine, EngineEvent, ACK_EVERY_FRAMES};
use crate::codec::{self, Frame, FrameType, FLAG_END, FRAGMENT_SIZE};

impl Engine {
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

    /// Test hook: queues `repeat` copies of a raw frame (any fields, even
    /// forbidden ones) ahead of everything else.
    #[cfg(any(test, feature = "test-hooks"))]
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

    pub(super) fn ack_urgent(c: &Channel) -> bool {
        c.ack_pending && (c.ack_now || c.last_received - c.acked_to_peer >= ACK_EVERY_FRAMES)
    }

    /// Encodes frames to send into `out` until about `budget` bytes,
    /// deferred ACKs and credit included (tests, graceful close); `now` (us)
    /// is when they are written (the ACK timeout counts from it).
    pub fn fill(&mut self, out: &mut impl FrameOut, budget: usize, now: u64) {
        self.fill_lazy(out, budget, true, now);
    }

    /// Encodes frames to send into `out` until about `budget` bytes. Deferred
    /// ACKs and credit grants are written only when `flush_deferred` is set
    /// or when anything else is written (they then share its TLS record).
    /// DATA and FIN frames written are stamped `now` (us), for
    /// [`Engine::oldest_unacked_at`].
    pub fn fill_lazy(
        &mut self,
        out: &mut impl FrameOut,
        budget: usize,
        flush_deferred: bool,
        now: u64,
    ) {
        let start = out.written();
        while let Some(f) = self.ctrl.pop_front() {
            codec::encode(&f, out.head());
        }
        for i in 0..self.channels.len() {
            if Self::ack_urgent(&self.channels[i]) {
                self.write_ack(i, out);
            }
            if self.credit_due(&self.channels[i]) == Due::Now {
                self.write_credit(i, out);
            }
        }
        while out.written() < budget {
            let Some(i) = self.pick() else { break };
            self.emit_one(i, out, now);
        }
        if flush_deferred || out.written() > start {
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

    pub(super) fn write_ack(&mut self, i: usize, out: &mut impl FrameOut) {
        let c = &mut self.channels[i];
        if !self.test_no_acks {
            codec::encode_header(
                out.head(),
                FrameType::Ack,
                0,
                i as u32 + 1,
                c.last_received,
                0,
            );
        }
        c.acked_to_peer = c.last_received;
        c.ack_pending = false;
        c.ack_now = false;
    }

    /// Priority scheduling: control > state > the rest, with a share kept
    /// for lower classes so none starves; round robin inside a class.
    pub(super) fn pick(&mut self) -> Option<usize> {
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

    pub(super) fn emit_one(&mut self, i: usize, out: &mut impl FrameOut, now: u64) {
        let id = i as u32 + 1;
        let c = &mut self.channels[i];
        if c.resend_pos < c.unacked.len() {
            // Resent on a new connection: its wait for an ACK starts again.
            c.unacked[c.resend_pos].at = now;
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
                codec::encode(&f, out.head());
                c.push_unacked(Sent {
                    frame: f,
                    body: None,
                    msg: None,
                    at: now,
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
            at: now,
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
}
