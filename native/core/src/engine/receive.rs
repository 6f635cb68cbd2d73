//! Received frames: OPEN, DATA/FIN reassembly within the granted credit,
//! ACK, CREDIT, PING/PONG, CLOSE, and the application's reads.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::channel::RecvState;
use super::{Engine, EngineEvent, ProtocolError, SendError, Signal, MAX_CONTROL_BACKLOG};
use super::{MAX_CREDIT_WINDOW_BYTES, MAX_CREDIT_WINDOW_MSGS};
use crate::codec::{self, Frame, FrameRef, FrameType, FLAG_END};

impl Engine {
    /// Copies whole received messages into `out` as `[u32 len LE][bytes]`
    /// records. Returns (bytes written, what is left: the record size of the
    /// next message, 1 when only the channel's end is left, 0 for nothing).
    /// `Err(ChannelClosed)` means the peer closed the channel and it is drained.
    #[allow(clippy::result_unit_err)]
    pub fn recv_into(&mut self, id: u32, out: &mut [u8]) -> Result<(usize, u64), SendError> {
        self.recv_records(id, out, true)
    }

    /// Copies the next received message alone (no length prefix) into
    /// `out`, when it fits: for a large message the caller passes a buffer of
    /// exactly its size, so the message is copied once, into memory the
    /// caller keeps. Returns (bytes written, what is left as in
    /// [`Engine::recv_into`]: a record size, so 4 more than the message).
    pub fn recv_message(&mut self, id: u32, out: &mut [u8]) -> Result<(usize, u64), SendError> {
        self.recv_records(id, out, false)
    }

    fn recv_records(
        &mut self,
        id: u32,
        out: &mut [u8],
        framed: bool,
    ) -> Result<(usize, u64), SendError> {
        let budget = (!self.budget_returned).then(|| self.cfg.node_recv.clone());
        let pool = Arc::clone(&self.cfg.buffers);
        let c = self.local(id)?;
        let mut pos = 0;
        let mut read = 0;
        while let Some(m) = c.ready.front() {
            let head = if framed { 4 } else { 0 };
            let need = head + m.len();
            // Unframed: one non-empty message at most (an empty one is left
            // for `recv_into`, since 0 bytes written means nothing was).
            if pos + need > out.len() || (!framed && (pos > 0 || m.is_empty())) {
                if pos == 0 {
                    return Ok((0, 4 + m.len() as u64));
                }
                break;
            }
            if framed {
                out[pos..pos + 4].copy_from_slice(&(m.len() as u32).to_le_bytes());
            }
            out[pos + head..pos + need].copy_from_slice(m);
            pos += need;
            c.consumed_bytes += m.len() as u64;
            c.consumed_msgs += 1;
            read += m.len() as u64;
            if let Some(done) = c.ready.pop_front() {
                pool.put(done);
            }
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

    pub(super) fn local_of(&self, remote: u32) -> Result<u32, ProtocolError> {
        self.remote
            .get(&remote)
            .copied()
            .ok_or(ProtocolError::UnknownChannel(remote))
    }

    pub(super) fn on_ack(&mut self, id: u32, seq: u64) -> Result<(), ProtocolError> {
        let pool = Arc::clone(&self.cfg.buffers);
        let c = self.ch_mut(id).expect("exists");
        if seq >= c.next_seq {
            return Err(ProtocolError::AckBeyondSent {
                kind: c.kind.clone(),
                seq,
            });
        }
        let popped = c.pop_acked(seq, &pool);
        c.resend_pos = c.resend_pos.saturating_sub(popped);
        self.check_flushes(id);
        Ok(())
    }

    pub(super) fn on_data(&mut self, f: &FrameRef<'_>) -> Result<(), ProtocolError> {
        let id = self.local_of(f.channel)?;
        let max_message = self.cfg.max_message;
        let budget = self.recv_budget;
        let pool = Arc::clone(&self.cfg.buffers);
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
        if c.reassembly.is_empty() && c.reassembly.capacity() == 0 {
            // A whole message, or the first fragment of a longer one (room
            // for a few fragments at once instead of growing by
            // reallocation), in a recycled buffer when it is large.
            // (A power of two: fragments are a frame header short of 16 KiB,
            // so four of them fill 64 KiB less 80 bytes, and a 64 KiB
            // message would otherwise grow its buffer, copying it, for the
            // last 80.)
            let want = if f.flags & FLAG_END != 0 {
                f.payload.len()
            } else {
                (f.payload.len() * 4).next_power_of_two().min(max_message)
            };
            c.reassembly = pool.take(want);
        }
        c.reassembly.extend_from_slice(f.payload);
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
}
