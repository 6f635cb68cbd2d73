//! Time: arming a connection's timers, handling every due timer, and the
//! next deadline (the minimum of the one timer table, [`crate::timers`]).

use super::{ms, Endpoint, DEFER_ACK_US};
use crate::conn::{Conn, HandshakeFailure, Phase, Role};
use crate::event::Event;
use crate::session::{End, State};
use crate::timers::{ConnTimer as C, SessionTimer as S, Timer};

impl Endpoint {
    /// Arms the timers of connection `id` as it starts carrying a session
    /// (its handshake timers end).
    pub(crate) fn start_conn_timers(&mut self, id: u32, c: &mut Conn, now: u64) {
        c.last_rx = now;
        c.rekey_bytes = 0;
        c.rekey_due = false;
        let t = &mut self.timers;
        t.clear(Timer::Conn(id, C::Handshake));
        t.clear(Timer::Conn(id, C::ClientHello));
        t.set(
            Timer::Conn(id, C::Idle),
            now.saturating_add(ms(self.cfg.heartbeat_timeout_ms)) + 1,
        );
        t.set(
            Timer::Conn(id, C::Ping),
            now + ms(self.cfg.heartbeat_interval_ms),
        );
        t.set(
            Timer::Conn(id, C::Rekey),
            now.saturating_add(ms(self.cfg.rekey_after_ms)),
        );
    }

    /// Handles every timer due at `now`: connections first, then sessions,
    /// each examined once however many of its timers are due.
    pub fn handle_timeout(&mut self, now: u64) {
        let due = self.timers.take_due(now);
        let mut conns: Vec<(u32, Vec<C>)> = Vec::new();
        let mut sessions: Vec<u64> = Vec::new();
        for t in due {
            match t {
                Timer::Conn(id, k) => match conns.iter_mut().find(|(c, _)| *c == id) {
                    Some((_, kinds)) => kinds.push(k),
                    None => conns.push((id, vec![k])),
                },
                Timer::Session(key, _) => {
                    if !sessions.contains(&key) {
                        sessions.push(key);
                    }
                }
            }
        }
        for (id, kinds) in conns {
            self.conn_timeout(id, &kinds, now);
        }
        for key in sessions {
            self.session_timeout(key, now);
        }
    }

    /// The earliest time (us) at which [`Endpoint::handle_timeout`] has work, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.next()
    }

    /// Connection `id`'s timers `kinds` are due.
    fn conn_timeout(&mut self, id: u32, kinds: &[C], now: u64) {
        let hb_to = ms(self.cfg.heartbeat_timeout_ms);
        let ack_to = ms(self.cfg.ack_timeout_ms);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        match c.phase {
            Phase::Ended => {}
            Phase::Open(key) => {
                if now.saturating_sub(c.last_rx) > hb_to {
                    self.end_conn(id, Some(End::Heartbeat), now);
                    return;
                }
                // Armed lazily: moved forward only when it fires.
                let idle = c.last_rx.saturating_add(hb_to) + 1;
                self.timers.set(Timer::Conn(id, C::Idle), idle);
                if kinds.contains(&C::AckWatch) {
                    // Pongs prove the peer reads; ACKs prove it keeps what we
                    // send. A peer that stops acknowledging would make us hold
                    // a retransmit buffer for it forever. The watch is armed
                    // at the oldest unacknowledged frame's deadline and moved
                    // here, when it fires, past the frames ACKs took away.
                    let oldest = self
                        .sessions
                        .get(&key)
                        .and_then(|s| s.engine.oldest_unacked_at());
                    match oldest {
                        Some(at) if now.saturating_sub(at) > ack_to => {
                            let msg = format!(
                                "no acknowledgement for {} ms with data outstanding",
                                self.cfg.ack_timeout_ms
                            );
                            self.end_conn(id, Some(End::Violation("ack_timeout", msg)), now);
                            return;
                        }
                        Some(at) => {
                            let watch = at.saturating_add(ack_to) + 1;
                            self.timers.set(Timer::Conn(id, C::AckWatch), watch);
                        }
                        None => {}
                    }
                }
                let mut dirty = false;
                if kinds.contains(&C::Ping) {
                    let interval = ms(self.cfg.heartbeat_interval_ms);
                    self.timers.set(Timer::Conn(id, C::Ping), now + interval);
                    if let Some(s) = self.sessions.get_mut(&key) {
                        let nonce = s.engine.queue_ping();
                        c.pings.push_back((nonce, now));
                        if c.pings.len() > 64 {
                            c.pings.pop_front();
                        }
                    }
                    dirty = true;
                }
                if kinds.contains(&C::Deferred) {
                    c.flush_deferred = true;
                    dirty = true;
                }
                if kinds.contains(&C::Rekey) {
                    c.rekey_due = true;
                    dirty = true;
                }
                if dirty {
                    self.mark_dirty(id);
                }
            }
            _ => {
                let silent = kinds.contains(&C::ClientHello)
                    && matches!(c.role, Role::Server)
                    && !c.got_input;
                if silent {
                    self.handshake_failed(
                        id,
                        HandshakeFailure::new(
                            "HANDSHAKE_TIMEOUT",
                            "Inbound connection sent no ClientHello in time",
                        ),
                        now,
                    );
                } else if kinds.contains(&C::Handshake) {
                    let f = match c.role {
                        Role::Server => HandshakeFailure::new(
                            "HANDSHAKE_TIMEOUT",
                            "Inbound handshake timed out",
                        ),
                        Role::Client { .. } => HandshakeFailure::new(
                            "HANDSHAKE_TIMEOUT",
                            "Connecting timed out during the handshake",
                        ),
                    };
                    self.handshake_failed(id, f, now);
                }
            }
        }
    }

    /// One of session `key`'s timers is due.
    fn session_timeout(&mut self, key: u64, now: u64) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if s.engine.replays_unreported() && now >= s.next_replay_report {
            s.engine.report_replays();
            s.next_replay_report = now.saturating_add(ms(self.cfg.replay_report_interval_ms));
            self.pump(key);
        }
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        match s.state {
            State::Closing { deadline, reason } if now >= deadline => match s.conn {
                Some(c) => {
                    // The flush deadline passed: the next batch closes the
                    // connection. Look again shortly in case no batch is
                    // prepared (a write still in flight).
                    self.mark_dirty(c);
                    self.timers
                        .set(Timer::Session(key, S::Close), now + DEFER_ACK_US);
                }
                None => self.finish_close(key, reason, None),
            },
            State::Disconnected { until } => {
                if now >= until {
                    self.finish_close(key, "resume_timeout", None);
                } else if let Some(r) = s.reconnect.as_mut() {
                    if !r.dialing && now >= r.at {
                        r.dialing = true;
                        r.attempts += 1;
                        self.emit(Event::Dial { session: key });
                    }
                }
            }
            _ => {}
        }
    }
}
