//! Resumption and replays: what each side last received, resending what
//! the peer lacks on a new connection, and coalesced replay reports.

use std::collections::HashMap;

#[cfg(any(test, feature = "test-hooks"))]
use super::channel::Sent;
use super::{Engine, EngineEvent, ResumeListError};
use crate::codec::{Frame, FrameType};

impl Engine {
    /// Checks a peer's resume list: every entry names one of our channels
    /// (once) with a sequence we sent (at most the last one).
    pub fn check_resume_list(&self, list: &[(u32, u64)]) -> Result<(), ResumeListError> {
        let mut seen = std::collections::HashSet::new();
        for &(id, seq) in list {
            let Some(c) = self.ch(id) else {
                return Err(ResumeListError::UnknownChannel(id));
            };
            if !seen.insert(id) {
                return Err(ResumeListError::Twice(id));
            }
            if seq >= c.next_seq {
                return Err(ResumeListError::Beyond {
                    channel: id,
                    seq,
                    sent: c.next_seq - 1,
                });
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
                c.pop_acked(l, &self.cfg.buffers);
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

    /// Replayed frames dropped over the session's life (the node counts the
    /// flood window from it).
    pub fn replays_seen(&self) -> u64 {
        self.replays_seen
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

    /// Test hook: re-sends the last acknowledged frame of `kind` (a replay).
    #[cfg(any(test, feature = "test-hooks"))]
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
}
