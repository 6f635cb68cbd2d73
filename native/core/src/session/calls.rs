//! The application's calls on a session: channels (open, send, receive,
//! flush, half-close), its budget, close and release, statistics.

use super::{Session, State};
use crate::config::Policy;
use crate::endpoint::{ms, Endpoint, DEFER_ACK_US};
use crate::engine::{SendError, Stats};
use crate::error::EndpointError;
use crate::session::Latency;
use crate::timers::{ConnTimer, Timer};
use crate::tls;

impl Endpoint {
    pub(crate) fn session(&self, key: u64) -> Result<&Session, EndpointError> {
        self.sessions
            .get(&key)
            .ok_or(EndpointError::UnknownSession(key))
    }

    pub(crate) fn session_mut(&mut self, key: u64) -> Result<&mut Session, EndpointError> {
        self.sessions
            .get_mut(&key)
            .ok_or(EndpointError::UnknownSession(key))
    }

    pub(crate) fn chan_err(s: &Session, ch: u32, e: SendError) -> EndpointError {
        EndpointError::Channel {
            session: tls::hex(&s.id),
            peer: s.peer_fp.clone(),
            channel: ch,
            kind: s.engine.kind(ch).map(str::to_string),
            source: e,
        }
    }

    /// Opens (or joins) a channel; `priority` 0 (first) to 2.
    pub fn open_channel(
        &mut self,
        key: u64,
        kind: &str,
        policy: Option<Policy>,
        max_queue: Option<usize>,
        max_queue_bytes: Option<usize>,
        priority: u8,
    ) -> Result<u32, EndpointError> {
        let s = self.session_mut(key)?;
        if s.state == State::Closed {
            return Err(EndpointError::SessionClosed {
                session: tls::hex(&s.id),
            });
        }
        let r = s
            .engine
            .open_channel(kind, policy, max_queue, max_queue_bytes);
        if let Ok(id) = r {
            s.engine.set_priority(id, priority);
        }
        let sid = tls::hex(&s.id);
        self.pump(key);
        self.mark_session_dirty(key);
        r.map_err(|source| EndpointError::Open {
            session: sid,
            kind: kind.to_string(),
            source,
        })
    }

    /// Queues a message (policy applied).
    pub fn send(&mut self, key: u64, ch: u32, data: &[u8]) -> Result<(), EndpointError> {
        let s = self.session_mut(key)?;
        let r = s
            .engine
            .send(ch, data)
            .map_err(|e| Self::chan_err(s, ch, e));
        self.pump(key);
        if r.is_ok() {
            self.mark_session_dirty(key);
        }
        r
    }

    /// Retries a blocked send: `Ok(true)` queued, `Ok(false)` still full.
    pub fn retry_send(&mut self, key: u64, ch: u32, data: &[u8]) -> Result<bool, EndpointError> {
        let s = self.session_mut(key)?;
        let r = s
            .engine
            .try_enqueue(ch, data)
            .map_err(|e| Self::chan_err(s, ch, e));
        if matches!(r, Ok(true)) {
            self.mark_session_dirty(key);
        }
        r
    }

    /// Counts a blocked send that timed out.
    pub fn block_timeout(&mut self, key: u64, ch: u32) -> Result<(), EndpointError> {
        self.session_mut(key)?.engine.count_block_timeout(ch);
        Ok(())
    }

    /// Sets session `key`'s budget: `receive_bytes` (received and unread
    /// bytes it may hold over all its channels; `None` keeps it) and
    /// `protected` (never evicted for another session; `None` keeps it).
    /// A raised budget may grant credit at once.
    pub fn set_budget(
        &mut self,
        key: u64,
        receive_bytes: Option<u64>,
        protected: Option<bool>,
    ) -> Result<(), EndpointError> {
        let s = self.session_mut(key)?;
        if let Some(b) = receive_bytes {
            if b == 0 {
                return Err(EndpointError::ZeroBudget);
            }
            s.engine.set_recv_budget(b);
        }
        if let Some(p) = protected {
            s.protected = p;
        }
        self.mark_session_dirty(key);
        Ok(())
    }

    /// Bytes received and unread on channel `ch` of session `key`.
    pub fn channel_held(&self, key: u64, ch: u32) -> Result<u64, EndpointError> {
        Ok(self.session(key)?.engine.channel_held(ch))
    }

    /// Session `key`'s receive budget, the bytes it holds received and
    /// unread, and whether it is protected.
    pub fn budget(&self, key: u64) -> Result<(u64, u64, bool), EndpointError> {
        let s = self.session(key)?;
        Ok((s.engine.recv_budget(), s.engine.recv_held(), s.protected))
    }

    /// Copies out received messages; see [`Engine::recv_into`].
    pub fn recv(
        &mut self,
        key: u64,
        ch: u32,
        out: &mut [u8],
    ) -> Result<(usize, u64), EndpointError> {
        self.recv_with(key, ch, out, true)
    }

    /// Copies out the next received message alone; see [`Engine::recv_message`].
    pub fn recv_message(
        &mut self,
        key: u64,
        ch: u32,
        out: &mut [u8],
    ) -> Result<(usize, u64), EndpointError> {
        self.recv_with(key, ch, out, false)
    }

    fn recv_with(
        &mut self,
        key: u64,
        ch: u32,
        out: &mut [u8],
        framed: bool,
    ) -> Result<(usize, u64), EndpointError> {
        let s = self.session_mut(key)?;
        let r = if framed {
            s.engine.recv_into(ch, out)
        } else {
            s.engine.recv_message(ch, out)
        }
        .map_err(|e| Self::chan_err(s, ch, e));
        // Reading frees credit: a grant due at once is written now, a
        // deferred one by the deferral timer.
        if matches!(r, Ok((n, _)) if n > 0) {
            let now_due = s.engine.credit_due_now(ch);
            let deferred = s.engine.has_deferred();
            if let Some(cid) = s.conn {
                if now_due {
                    self.mark_dirty(cid);
                } else if deferred {
                    let t = Timer::Conn(cid, ConnTimer::Deferred);
                    if self.timers.get(t).is_none() {
                        let last_rx = self.conns.get(&cid).expect("attached connection").last_rx;
                        self.timers.set(t, last_rx + DEFER_ACK_US);
                    }
                }
            }
        }
        r
    }

    /// Registers a flush; returns its operation id.
    pub fn flush(&mut self, key: u64, ch: u32) -> Result<u64, EndpointError> {
        let op = self.key();
        let s = self.session_mut(key)?;
        s.engine
            .flush(ch, op)
            .map_err(|e| Self::chan_err(s, ch, e))?;
        self.pump(key);
        Ok(op)
    }

    /// Half-closes a channel.
    pub fn close_channel(&mut self, key: u64, ch: u32) -> Result<(), EndpointError> {
        let s = self.session_mut(key)?;
        s.engine
            .close_channel(ch)
            .map_err(|e| Self::chan_err(s, ch, e))?;
        self.mark_session_dirty(key);
        Ok(())
    }

    /// Starts a graceful close: queued data is flushed until the deadline.
    pub fn close_session(
        &mut self,
        key: u64,
        deadline_ms: u32,
        reason: &'static str,
        now: u64,
    ) -> Result<(), EndpointError> {
        let s = self.session_mut(key)?;
        match s.state {
            State::Closed | State::Closing { .. } => {}
            State::Disconnected { .. } => self.finish_close(key, reason, None),
            State::Open => {
                s.engine.close();
                self.set_state(
                    key,
                    State::Closing {
                        deadline: now + ms(u64::from(deadline_ms)),
                        reason,
                    },
                );
                self.mark_session_dirty(key);
            }
        }
        Ok(())
    }

    /// Frees a closed session.
    pub fn release(&mut self, key: u64) -> Result<(), EndpointError> {
        let s = self.session(key)?;
        if s.state != State::Closed {
            return Err(EndpointError::NotClosed {
                session: tls::hex(&s.id),
            });
        }
        self.sessions.remove(&key);
        Ok(())
    }

    /// Session statistics: (stats, latency, reconnects, rekeys, state).
    pub fn session_stats(&self, key: u64) -> Result<(Stats, &Latency, u64, u64), EndpointError> {
        let s = self.session(key)?;
        Ok((s.engine.total_stats(), &s.latency, s.reconnects, s.rekeys))
    }

    /// Channel statistics: (stats, kind, queue length, queue bytes).
    pub fn channel_stats(
        &self,
        key: u64,
        ch: u32,
    ) -> Result<(Stats, String, usize, usize), EndpointError> {
        let s = self.session(key)?;
        let (st, ql, qb) = s
            .engine
            .channel_stats(ch)
            .ok_or_else(|| Self::chan_err(s, ch, SendError::UnknownChannel))?;
        Ok((st, s.engine.kind(ch).unwrap_or("").to_string(), ql, qb))
    }

    /// Session state name (tests, diagnostics).
    pub fn state_name(&self, key: u64) -> Option<&'static str> {
        self.sessions.get(&key).map(|s| s.state.name())
    }

    /// Test only: the session id of session `key`, and a way to forge it.
    #[cfg(test)]
    pub(crate) fn test_session_id(&mut self, key: u64, forge: Option<[u8; 16]>) -> [u8; 16] {
        let s = self.sessions.get_mut(&key).expect("session");
        if let Some(id) = forge {
            s.id = id;
        }
        s.id
    }

    /// Receive bytes session `key` granted and the application has not read.
    pub fn session_recv_outstanding(&self, key: u64) -> Option<u64> {
        self.sessions.get(&key).map(|s| s.engine.recv_outstanding())
    }
}
