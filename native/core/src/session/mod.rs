//! One RTT session: its engine, the connection carrying it, and its
//! lifecycle (the one state-transition path, close, loss and resumption,
//! reconnect schedule, replay accounting), and the application's calls on
//! it (the application's calls are in [`calls`]).

mod calls;
mod handshake;

use std::collections::VecDeque;
use std::sync::Arc;

use crate::endpoint::{ms, Endpoint};
use crate::engine::{Engine, EngineEvent};
use crate::event::Event;
use crate::timers::{SessionTimer, Timer};

/// A bounded window of latency samples (microseconds).
#[derive(Debug, Default, Clone)]
pub struct Latency {
    samples: VecDeque<u64>,
}

impl Latency {
    const CAP: usize = 1024;

    /// Adds a sample.
    pub fn record(&mut self, us: u64) {
        if self.samples.len() == Self::CAP {
            self.samples.pop_front();
        }
        self.samples.push_back(us);
    }

    pub(crate) fn merge(&mut self, o: &Latency) {
        for &s in &o.samples {
            self.record(s);
        }
    }

    /// The `q` quantile (0..=1), 0 without samples.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.samples.is_empty() {
            return 0;
        }
        let mut v: Vec<u64> = self.samples.iter().copied().collect();
        v.sort_unstable();
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v[i.min(v.len() - 1)]
    }
}

/// Session lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A connection carries the session.
    Open,
    /// The connection was lost; resumption pending until `until` (us).
    Disconnected {
        /// End of the resume window.
        until: u64,
    },
    /// Graceful close in progress.
    Closing {
        /// Flush deadline (us).
        deadline: u64,
        /// Reason reported when done.
        reason: &'static str,
    },
    /// Final.
    Closed,
}

impl State {
    /// The name the application sees.
    pub fn name(&self) -> &'static str {
        match self {
            State::Open => "open",
            State::Disconnected { .. } => "disconnected",
            State::Closing { .. } => "closing",
            State::Closed => "closed",
        }
    }
}

/// The reconnect schedule of a dialing session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reconnect {
    pub(crate) attempts: u32,
    pub(crate) delay_us: u64,
    pub(crate) at: u64,
    pub(crate) dialing: bool,
}

/// One RTT session.
pub struct Session {
    /// Session id.
    pub id: [u8; 16],
    /// Authenticated peer fingerprint.
    pub peer_fp: String,
    /// The session engine.
    pub engine: Engine,
    /// Lifecycle state (changed only by [`Endpoint::set_state`]).
    pub(crate) state: State,
    /// The connection carrying it.
    pub(crate) conn: Option<u32>,
    /// We dialed, so we reconnect.
    pub(crate) dialer: bool,
    pub(crate) reconnect: Option<Reconnect>,
    pub(crate) reconnects: u64,
    pub(crate) rekeys: u64,
    pub(crate) latency: Latency,
    /// The remote address of an inbound session's first connection ("" otherwise).
    pub(crate) addr: Arc<str>,
    /// Replay flood window: its start (us) and the replays counted in it.
    pub(crate) replay_window: (u64, u64),
    /// Replays of the engine already counted into a window.
    pub(crate) replays_counted: u64,
    /// Earliest time (us) of the next replay report.
    pub(crate) next_replay_report: u64,
    /// Marked by the application ([`Endpoint::set_budget`]): never evicted to
    /// make room for another session, its resume handshakes shed last.
    pub(crate) protected: bool,
}

/// How a connection ended.
pub(crate) enum End {
    Heartbeat,
    Io(String),
    Protocol(String),
    /// A limit the peer broke: the session ends with this reason (no resumption).
    Violation(&'static str, String),
    PeerClosed(Option<String>),
}

impl Endpoint {
    /// The one path by which a session's state changes.
    /// The session's timers follow its state: a closing session's flush
    /// deadline, a disconnected one's resume window; none once closed.
    pub(crate) fn set_state(&mut self, key: u64, state: State) {
        if let Some(s) = self.sessions.get_mut(&key) {
            if s.state == State::Closed {
                return;
            }
            s.state = state;
            let t = |k| Timer::Session(key, k);
            match state {
                State::Open => {
                    self.timers.clear(t(SessionTimer::Close));
                    self.timers.clear(t(SessionTimer::ResumeWindow));
                    self.timers.clear(t(SessionTimer::Reconnect));
                }
                State::Closing { deadline, .. } => {
                    self.timers.clear(t(SessionTimer::ResumeWindow));
                    self.timers.clear(t(SessionTimer::Reconnect));
                    self.timers.set(t(SessionTimer::Close), deadline);
                }
                State::Disconnected { until } => {
                    self.timers.set(t(SessionTimer::ResumeWindow), until);
                }
                State::Closed => self.timers.clear_session(key),
            }
        }
    }

    /// Counts the replays of session `key` into its flood window (a fixed
    /// window starting at the first replay after the previous one expired)
    /// and queues the coalesced report when due. More than
    /// `replay_flood_limit` in a window is a violation.
    pub(crate) fn count_replays(&mut self, key: u64, now: u64) -> Option<End> {
        let s = self.sessions.get_mut(&key)?;
        let seen = s.engine.replays_seen();
        let new = seen - s.replays_counted;
        if new == 0 {
            return None;
        }
        s.replays_counted = seen;
        let window = ms(self.cfg.replay_flood_window_ms);
        if s.replay_window.1 == 0 || now >= s.replay_window.0.saturating_add(window) {
            s.replay_window = (now, 0);
        }
        s.replay_window.1 += new;
        let flood = s.replay_window.1 > self.cfg.replay_flood_limit;
        if flood || now >= s.next_replay_report {
            s.engine.report_replays();
            s.next_replay_report = now.saturating_add(ms(self.cfg.replay_report_interval_ms));
        } else {
            let at = s.next_replay_report;
            self.timers
                .set(Timer::Session(key, SessionTimer::ReplayReport), at);
        }
        flood.then(|| {
            End::Violation(
                "replay_flood",
                format!(
                    "{} replayed frames within {} ms (limit {})",
                    s.replay_window.1, self.cfg.replay_flood_window_ms, self.cfg.replay_flood_limit
                ),
            )
        })
    }

    /// Forwards the engine's events of session `key`.
    pub(crate) fn pump(&mut self, key: u64) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        let _ = s.engine.take_room_freed();
        if !s.engine.has_events() {
            return;
        }
        let events = s.engine.take_events();
        for e in events {
            let s = self.sessions.get(&key).expect("exists");
            let kind_of = |c: u32| s.engine.kind(c).unwrap_or("").to_string();
            let ev = match e {
                EngineEvent::Readable(channel) => Event::Readable {
                    session: key,
                    channel,
                },
                EngineEvent::Writable(channel) => Event::Writable {
                    session: key,
                    channel,
                },
                EngineEvent::Drop {
                    channel,
                    cause,
                    count,
                } => Event::Drop {
                    session: key,
                    kind: kind_of(channel),
                    cause,
                    count,
                },
                EngineEvent::Replay {
                    channel,
                    seq,
                    count,
                } => Event::Replay {
                    session: key,
                    kind: kind_of(channel),
                    seq,
                    count,
                },
                EngineEvent::Flushed { op, .. } => Event::Flushed { session: key, op },
                EngineEvent::FlushFailed {
                    op, undelivered, ..
                } => Event::FlushFailed {
                    session: key,
                    op,
                    undelivered,
                },
            };
            self.emit(ev);
        }
    }

    /// Ends session `key` for good (events: failed flushes, then `SessionClose`).
    pub(crate) fn finish_close(&mut self, key: u64, reason: &'static str, detail: Option<String>) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if !s.engine.recv_budget_returned() {
            s.engine.return_recv_budget();
            self.ecfg
                .node_recv
                .sessions
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        if s.state == State::Closed {
            return;
        }
        let undelivered = s.engine.fail_all();
        let conn = s.conn.take();
        let id = s.id;
        self.pump(key);
        self.set_state(key, State::Closed);
        if let Some(c) = conn {
            self.detach_conn(c);
        }
        self.emit(Event::SessionClose {
            session: key,
            reason,
            message: detail,
            undelivered,
        });
        self.by_id.remove(&id);
        self.live -= 1;
        let s = self.sessions.get(&key).expect("exists");
        self.totals.stats.add(&s.engine.total_stats());
        self.totals.reconnects += s.reconnects;
        self.totals.rekeys += s.rekeys;
        let lat = s.latency.clone();
        self.totals.latency.merge(&lat);
    }

    /// The connection `conn` of session `key` ended.
    pub(crate) fn connection_ended(&mut self, key: u64, conn: u32, end: End, now: u64) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if s.conn != Some(conn) || s.state == State::Closed {
            return;
        }
        s.conn = None;
        self.detach_conn(conn);
        let s = self.sessions.get(&key).expect("exists");
        if let State::Closing { reason, .. } = s.state {
            self.finish_close(key, reason, None);
            return;
        }
        let reason = match end {
            End::PeerClosed(why) => {
                self.finish_close(key, "peer_closed", why);
                return;
            }
            End::Heartbeat => {
                self.emit(Event::HeartbeatTimeout { session: key });
                "heartbeat_timeout".to_string()
            }
            End::Io(e) => format!("io: {e}"),
            End::Protocol(e) => {
                // Resuming would meet the same violation again. The peer
                // learns why: CLOSE with a code, then TLS close_notify.
                self.send_refusal(conn, "PROTOCOL_ERROR", &e);
                self.finish_close(key, "protocol_error", Some(e));
                return;
            }
            End::Violation(reason, e) => {
                let code = reason.to_ascii_uppercase();
                self.send_refusal(conn, &code, &e);
                self.finish_close(key, reason, Some(e));
                return;
            }
        };
        if self.cfg.resume_window_ms == 0 || self.shut_down {
            let r = if reason == "heartbeat_timeout" {
                "heartbeat_timeout"
            } else {
                "connection_lost"
            };
            self.finish_close(key, r, None);
            return;
        }
        self.emit(Event::ConnectionLost {
            session: key,
            reason,
        });
        let until = now.saturating_add(ms(self.cfg.resume_window_ms));
        self.set_state(key, State::Disconnected { until });
        let s = self.sessions.get_mut(&key).expect("exists");
        if s.dialer {
            s.reconnect = Some(Reconnect {
                attempts: 0,
                delay_us: ms(self.cfg.reconnect_initial_delay_ms),
                at: 0,
                dialing: false,
            });
            self.schedule_reconnect(key, now);
        }
    }

    /// Schedules the next reconnect attempt (backoff with jitter), or ends
    /// the session when the attempts are used up.
    pub(crate) fn schedule_reconnect(&mut self, key: u64, now: u64) {
        let max_attempts = self.cfg.reconnect_max_attempts;
        let max_delay = ms(self.cfg.reconnect_max_delay_ms);
        let jitter = 500 + self.rng.below(501);
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        let Some(r) = s.reconnect.as_mut() else {
            return;
        };
        if r.attempts >= max_attempts {
            s.reconnect = None;
            self.finish_close(key, "reconnect_failed", None);
            return;
        }
        r.at = now + r.delay_us * jitter / 1000;
        r.delay_us = (r.delay_us * 2).min(max_delay).max(1000);
        r.dialing = false;
        let at = r.at;
        self.timers
            .set(Timer::Session(key, SessionTimer::Reconnect), at);
    }

    pub(crate) fn reconnect_failed(&mut self, key: u64, now: u64) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if !matches!(s.state, State::Disconnected { .. }) {
            return;
        }
        self.schedule_reconnect(key, now);
    }
}
