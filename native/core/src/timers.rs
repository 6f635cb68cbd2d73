//! The endpoint's one timer table: every deadline of every connection and
//! session, keyed by [`Timer`], so the next deadline is the table's minimum
//! (no scan over connections and sessions, no second list to keep in step).
//!
//! A deadline may be early, never late: the handler of a timer checks the
//! state it guards and re-arms what is not due yet (the idle timer of a
//! connection is armed at `last_rx + heartbeat_timeout` and moves forward
//! only when it fires, so receiving bytes costs nothing here).

use std::collections::{BTreeSet, HashMap};

/// A connection's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnTimer {
    /// The whole handshake's deadline.
    Handshake,
    /// An inbound connection that has sent no byte yet (no ClientHello).
    ClientHello,
    /// Nothing received for `heartbeat_timeout_ms` (armed lazily).
    Idle,
    /// The next heartbeat ping.
    Ping,
    /// The oldest frame written on the connection and still unacknowledged
    /// reaches `ack_timeout_ms` (armed when data waits and it is not; when
    /// it fires it moves on to the new oldest frame, if ACKs took the old).
    AckWatch,
    /// Deferred ACKs and credit must be written.
    Deferred,
    /// The time-based rekey.
    Rekey,
}

/// A session's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionTimer {
    /// Coalesced replays are due to be reported.
    ReplayReport,
    /// A graceful close's flush deadline.
    Close,
    /// The end of the resume window of a disconnected session.
    ResumeWindow,
    /// The next reconnect attempt of a dialing session.
    Reconnect,
}

/// One timer of the table. Connection timers order before session timers,
/// so at one instant connections are handled first (as their ends feed the
/// sessions' lifecycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// A timer of connection `0`.
    Conn(u32, ConnTimer),
    /// A timer of session `0`.
    Session(u64, SessionTimer),
}

const CONN_TIMERS: [ConnTimer; 7] = [
    ConnTimer::Handshake,
    ConnTimer::ClientHello,
    ConnTimer::Idle,
    ConnTimer::Ping,
    ConnTimer::AckWatch,
    ConnTimer::Deferred,
    ConnTimer::Rekey,
];

const SESSION_TIMERS: [SessionTimer; 4] = [
    SessionTimer::ReplayReport,
    SessionTimer::Close,
    SessionTimer::ResumeWindow,
    SessionTimer::Reconnect,
];

/// Deadlines (us of the caller's clock) by timer.
#[derive(Debug, Default)]
pub struct Timers {
    by_deadline: BTreeSet<(u64, Timer)>,
    deadlines: HashMap<Timer, u64>,
}

impl Timers {
    /// Arms (or moves) `t` to `at`.
    pub fn set(&mut self, t: Timer, at: u64) {
        if let Some(old) = self.deadlines.insert(t, at) {
            if old == at {
                return;
            }
            self.by_deadline.remove(&(old, t));
        }
        self.by_deadline.insert((at, t));
    }

    /// Disarms `t`.
    pub fn clear(&mut self, t: Timer) {
        if let Some(old) = self.deadlines.remove(&t) {
            self.by_deadline.remove(&(old, t));
        }
    }

    /// When `t` is due, if armed.
    pub fn get(&self, t: Timer) -> Option<u64> {
        self.deadlines.get(&t).copied()
    }

    /// Whether `t` is armed and due at `now`.
    pub fn due(&self, t: Timer, now: u64) -> bool {
        self.get(t).is_some_and(|at| now >= at)
    }

    /// The earliest deadline, if any timer is armed.
    pub fn next(&self) -> Option<u64> {
        self.by_deadline.first().map(|(at, _)| *at)
    }

    /// Disarms and returns every timer due at `now`, earliest first.
    pub fn take_due(&mut self, now: u64) -> Vec<Timer> {
        let mut due = Vec::new();
        while let Some(&(at, t)) = self.by_deadline.first() {
            if at > now {
                break;
            }
            self.by_deadline.pop_first();
            self.deadlines.remove(&t);
            due.push(t);
        }
        due
    }

    /// Disarms every timer of connection `id`.
    pub fn clear_conn(&mut self, id: u32) {
        for k in CONN_TIMERS {
            self.clear(Timer::Conn(id, k));
        }
    }

    /// Disarms every timer of session `key`.
    pub fn clear_session(&mut self, key: u64) {
        for k in SESSION_TIMERS {
            self.clear(Timer::Session(key, k));
        }
    }

    /// Armed timers (tests, gauges).
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_deadline_is_the_minimum_and_moving_a_timer_keeps_one_entry() {
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Session(1, SessionTimer::Close), 50);
        t.set(Timer::Conn(3, ConnTimer::Ping), 20);
        t.set(Timer::Conn(3, ConnTimer::Ping), 70);
        assert_eq!(t.len(), 2);
        assert_eq!(t.next(), Some(50));
        assert!(t.due(Timer::Session(1, SessionTimer::Close), 50));
        assert_eq!(t.take_due(60), vec![Timer::Session(1, SessionTimer::Close)]);
        assert_eq!(t.next(), Some(70));
        t.clear_conn(3);
        assert!(t.is_empty());
        assert_eq!(t.next(), None);
    }
}
