//! Connections: dialing (new sessions and resumptions), bytes in
//! (decoding and dispatching frames), bytes out (preparing and encrypting
//! batches), and their ends.

use std::sync::Arc;

use super::{ms, Endpoint, DEFER_ACK_US, MAX_CACHED_CLIENT_CONFIGS};
use crate::codec::{Frame, FrameType, Hello};
use crate::conn::{
    Conn, ConnError, Handshake, HandshakeFailure, Input, Phase, Purpose, Role, OUT_BATCH,
};
use crate::engine::Signal;
use crate::error::EndpointError;
use crate::event::Event;
use crate::record::MAX_PLAINTEXT;
use crate::session::{End, State};
use crate::timers::{ConnTimer, Timer};
use crate::tls;

impl Endpoint {
    pub(crate) fn client_conn(
        &mut self,
        fingerprint: &str,
        purpose: Purpose,
        hs_us: u64,
        now: u64,
    ) -> Result<u32, EndpointError> {
        let cfg = self.client_config(fingerprint)?;
        let name = rustls::pki_types::ServerName::try_from("web4-rtt").expect("valid name");
        let tls = rustls::client::UnbufferedClientConnection::new(cfg, name)
            .map_err(EndpointError::Tls)?;
        let id = self.conn_id();
        let c = Box::new(Conn::new(
            Handshake::Client(tls),
            Role::Client {
                fingerprint: fingerprint.to_string(),
                purpose,
            },
            now,
        ));
        self.conns.insert(id, c);
        let hs = now.saturating_add(hs_us);
        self.timers.set(Timer::Conn(id, ConnTimer::Handshake), hs);
        self.mark_dirty(id);
        Ok(id)
    }

    /// The client TLS configuration pinned to `fingerprint`, built once per
    /// peer (building one parses our key and sets up the signer).
    pub(crate) fn client_config(
        &mut self,
        fingerprint: &str,
    ) -> Result<Arc<rustls::ClientConfig>, EndpointError> {
        if let Some(c) = self.client_cfgs.get(fingerprint) {
            return Ok(c.clone());
        }
        let cfg = tls::client_config(&self.identity, fingerprint)?;
        if self.client_cfgs.len() >= MAX_CACHED_CLIENT_CONFIGS {
            self.client_cfgs.clear();
        }
        self.client_cfgs
            .insert(fingerprint.to_string(), cfg.clone());
        Ok(cfg)
    }

    /// A new outbound connection for a new session pinned to `fingerprint`
    /// (the driver connected a socket). `Connected` or `ConnectFailed`
    /// with this connection id follows.
    pub fn conn_connect(
        &mut self,
        fingerprint: &str,
        timeout_ms: u32,
        now: u64,
    ) -> Result<u32, EndpointError> {
        self.check_running()?;
        if !tls::valid_fingerprint(fingerprint) {
            return Err(EndpointError::BadFingerprint(fingerprint.to_string()));
        }
        let t = if timeout_ms == 0 {
            ms(self.cfg.handshake_timeout_ms)
        } else {
            ms(u64::from(timeout_ms))
        };
        self.client_conn(fingerprint, Purpose::Connect, t, now)
    }

    /// A new outbound connection resuming `session` (after a `Dial` event).
    pub fn conn_resume(&mut self, session: u64, now: u64) -> Result<u32, EndpointError> {
        self.check_running()?;
        let s = self.session(session)?;
        if !matches!(s.state, State::Disconnected { .. }) {
            return Err(EndpointError::NotReconnecting {
                session: tls::hex(&s.id),
            });
        }
        let fp = s.peer_fp.clone();
        self.client_conn(
            &fp,
            Purpose::Resume(session),
            ms(self.cfg.handshake_timeout_ms),
            now,
        )
    }

    /// The driver could not open the socket a `Dial` asked for.
    pub fn dial_failed(&mut self, session: u64, now: u64) -> Result<(), EndpointError> {
        self.session(session)?;
        self.reconnect_failed(session, now);
        Ok(())
    }

    /// Bytes received on connection `id`. The core decrypts them in place:
    /// the caller's bytes are overwritten (a driver reads into a buffer it
    /// owns and reads again into it, so nothing is lost).
    pub fn conn_input(&mut self, id: u32, bytes: &mut [u8], now: u64) -> Result<(), EndpointError> {
        let Some(mut c) = self.conns.remove(&id) else {
            return Err(EndpointError::UnknownConnection(id));
        };
        if c.phase == Phase::Ended {
            self.conns.insert(id, c);
            return Ok(());
        }
        c.last_rx = now;
        if !c.got_input && !bytes.is_empty() {
            c.got_input = true;
            self.timers.clear(Timer::Conn(id, ConnTimer::ClientHello));
        }
        if c.tls_handshaking() {
            match c.feed_handshake(bytes) {
                Ok(true) => match self.tls_done(&mut c) {
                    Ok(true) => {}
                    Ok(false) => {
                        // The session to resume is gone: nothing to report.
                        self.conns.insert(id, c);
                        self.end_conn(id, None, now);
                        return Ok(());
                    }
                    Err(f) => {
                        self.conns.insert(id, c);
                        self.handshake_failed(id, f, now);
                        return Ok(());
                    }
                },
                Ok(false) => {}
                Err(ConnError::Handshake(f)) => {
                    self.conns.insert(id, c);
                    self.handshake_failed(id, f, now);
                    return Ok(());
                }
                Err(e) => {
                    return self.finish_input(id, c, Some(End::Io(e.to_string())), now);
                }
            }
            // Frames rustls decrypted with the end of the handshake (a
            // HELLO), then what followed them (kept as a partial record).
            let end = match self.process_frames(id, &mut c, &[], now) {
                Ok(end) => end,
                Err(f) => {
                    self.conns.insert(id, c);
                    self.handshake_failed(id, f, now);
                    return Ok(());
                }
            };
            if end.is_some() || c.tls_handshaking() {
                return self.finish_input(id, c, end, now);
            }
            return self.input_records(id, c, &mut [], now);
        }
        self.input_records(id, c, bytes, now)
    }

    /// The TLS handshake of `c` completed: checks the peer and starts the
    /// RTT handshake (a client sends its HELLO). False when the session a
    /// client resumes is gone.
    fn tls_done(&mut self, c: &mut Conn) -> Result<bool, HandshakeFailure> {
        c.authenticated()?;
        match &c.role {
            Role::Client { purpose, .. } => {
                let hello = match purpose {
                    Purpose::Connect => Hello {
                        resume: None,
                        last_received: Vec::new(),
                    },
                    Purpose::Resume(s) => match self.sessions.get(s) {
                        Some(s) => Hello {
                            resume: Some(s.id),
                            last_received: s.engine.resume_state(),
                        },
                        None => return Ok(false),
                    },
                };
                c.write_frame(&Frame {
                    payload: hello.encode(),
                    ..Frame::empty(FrameType::Hello, 0, 0)
                });
                c.phase = Phase::AwaitAccept;
            }
            Role::Server => c.phase = Phase::AwaitHello,
        }
        Ok(true)
    }

    /// Opens the records in `bytes` (after the TLS handshake) and handles
    /// their frames.
    fn input_records(
        &mut self,
        id: u32,
        mut c: Box<Conn>,
        bytes: &mut [u8],
        now: u64,
    ) -> Result<(), EndpointError> {
        let mut end = None;
        let mut failed = None;
        let r = c.input_records(bytes, |c, plain| {
            match self.process_frames(id, c, plain, now) {
                Ok(None) => true,
                Ok(Some(e)) => {
                    end = Some(e);
                    false
                }
                Err(f) => {
                    failed = Some(f);
                    false
                }
            }
        });
        if let Some(f) = failed {
            self.conns.insert(id, c);
            self.handshake_failed(id, f, now);
            return Ok(());
        }
        match r {
            Ok(Input::Read | Input::Stopped) => self.finish_input(id, c, end, now),
            Ok(Input::PeerClosed) => {
                let end = end.unwrap_or(End::Io("the peer closed the TLS stream".into()));
                self.finish_input(id, c, Some(end), now)
            }
            Err(ConnError::Handshake(f)) => {
                self.conns.insert(id, c);
                self.handshake_failed(id, f, now);
                Ok(())
            }
            Err(e) => {
                // A record that fails (altered, truncated, an alert) is the
                // path's failure or the TLS stream's end, not a frame the
                // authenticated peer sent: the connection is lost and the
                // session may resume on a new one (an on-path attacker
                // cannot close it for good).
                let end = end.unwrap_or(End::Io(e.to_string()));
                if c.handshaking() {
                    let f = HandshakeFailure::new("TLS_FAILED", e.to_string());
                    self.conns.insert(id, c);
                    self.handshake_failed(id, f, now);
                    return Ok(());
                }
                self.finish_input(id, c, Some(end), now)
            }
        }
    }

    pub(crate) fn finish_input(
        &mut self,
        id: u32,
        c: Box<Conn>,
        end: Option<End>,
        now: u64,
    ) -> Result<(), EndpointError> {
        let phase = c.phase;
        // Transmit only when there is something to write: most reads of a
        // request/response leave only a deferred ACK, which waits for the
        // reply or the deferral deadline.
        let wants = c.wants_write()
            || c.rekey_bytes >= self.cfg.rekey_after_bytes
            || match phase {
                Phase::Open(key) => self
                    .sessions
                    .get(&key)
                    .is_none_or(|s| !matches!(s.state, State::Open) || s.engine.has_output()),
                _ => true,
            };
        if !wants {
            if let Phase::Open(key) = phase {
                let deferred = self
                    .sessions
                    .get(&key)
                    .is_some_and(|s| s.engine.has_deferred());
                let t = Timer::Conn(id, ConnTimer::Deferred);
                if deferred && self.timers.get(t).is_none() {
                    self.timers.set(t, now + DEFER_ACK_US);
                }
            }
        }
        self.conns.insert(id, c);
        if wants {
            self.mark_dirty(id);
        }
        if let Some(end) = end {
            match phase {
                Phase::Open(s) => self.connection_ended(s, id, end, now),
                Phase::Ended => {}
                _ => {
                    let msg = match end {
                        End::Io(m) | End::Protocol(m) | End::Violation(_, m) => m,
                        _ => "connection closed during the handshake".into(),
                    };
                    self.handshake_failed(id, HandshakeFailure::new("TLS_FAILED", msg), now);
                }
            }
        }
        Ok(())
    }

    /// Decodes and handles the frames received on `c` (taken out of the
    /// table): those pending, then those in `plain` (a record's plaintext).
    pub(crate) fn process_frames(
        &mut self,
        id: u32,
        c: &mut Conn,
        plain: &[u8],
        now: u64,
    ) -> Result<Option<End>, HandshakeFailure> {
        let mut plain = plain;
        loop {
            match c.phase {
                Phase::AwaitHello | Phase::AwaitAccept => {
                    // One handshake frame at a time: it changes the phase.
                    let mut first = None;
                    let r = c.frames_in(std::mem::take(&mut plain), |f| {
                        first = Some(f.to_frame());
                        false
                    });
                    if let Err(e) = r {
                        return Err(HandshakeFailure::new("TLS_FAILED", e.to_string()));
                    }
                    let Some(f) = first else { return Ok(None) };
                    if c.phase == Phase::AwaitHello {
                        self.on_hello(id, c, f, now)?;
                    } else {
                        self.on_accept(id, c, f, now)?;
                    }
                }
                Phase::Open(key) => {
                    let Some(s) = self.sessions.get_mut(&key) else {
                        return Ok(None);
                    };
                    let mut result = None;
                    let mut pongs = Vec::new();
                    let r = c.frames_in(plain, |f| match s.engine.handle_frame_ref(f) {
                        Ok(None) => true,
                        Ok(Some(Signal::Pong(n))) => {
                            pongs.push(n);
                            true
                        }
                        Ok(Some(Signal::Close(why))) => {
                            result = Some(End::PeerClosed(why));
                            false
                        }
                        Err(e @ crate::engine::ProtocolError::OverBudget { .. }) => {
                            result = Some(End::Violation("message_too_large", e.to_string()));
                            false
                        }
                        Err(e) => {
                            result = Some(End::Protocol(e.to_string()));
                            false
                        }
                    });
                    for n in pongs {
                        if let Some(i) = c.pings.iter().position(|p| p.0 == n) {
                            let sample = now.saturating_sub(c.pings[i].1);
                            s.latency.record(sample);
                            c.pings.drain(..=i);
                        }
                    }
                    if let Err(e) = r {
                        result = result.or(Some(End::Protocol(e.to_string())));
                    }
                    if let Some(v) = self.count_replays(key, now) {
                        result = result.or(Some(v));
                    }
                    self.pump(key);
                    return Ok(result);
                }
                Phase::Tls | Phase::Ended => return Ok(None),
            }
        }
    }

    /// Detaches connection `id` from everything and asks the driver to close it.
    /// Writes CLOSE `CODE\nmessage` and close_notify on connection `id`,
    /// still being detached: its remaining output is written before the
    /// socket closes.
    pub(crate) fn send_refusal(&mut self, id: u32, code: &str, message: &str) {
        if let Some(c) = self.conns.get_mut(&id) {
            let mut text = format!("{code}\n{message}");
            let mut n = text.len().min(1024);
            while !text.is_char_boundary(n) {
                n -= 1;
            }
            text.truncate(n);
            c.write_frame(&Frame {
                payload: text.into_bytes(),
                ..Frame::empty(FrameType::Close, 0, 0)
            });
            c.send_close_notify();
            self.mark_dirty(id);
        }
    }

    pub(crate) fn detach_conn(&mut self, id: u32) {
        if let Some(c) = self.conns.get_mut(&id) {
            if c.phase != Phase::Ended {
                c.phase = Phase::Ended;
                self.timers.clear_conn(id);
                self.emit(Event::CloseConn { conn: id });
                self.mark_dirty(id);
            }
        }
    }

    /// Ends connection `id`; `end` set when it carried a session.
    pub(crate) fn end_conn(&mut self, id: u32, end: Option<End>, now: u64) {
        let Some(c) = self.conns.get(&id) else { return };
        if let (Phase::Open(s), Some(end)) = (c.phase, end) {
            self.connection_ended(s, id, end, now);
        }
        self.detach_conn(id);
    }

    /// The driver's socket of connection `id` ended (EOF, error, cancel) or
    /// was closed after a `CloseConn`. The id is invalid afterwards.
    pub fn conn_closed(&mut self, id: u32, now: u64) -> Result<(), EndpointError> {
        let Some(c) = self.conns.get(&id) else {
            return Err(EndpointError::UnknownConnection(id));
        };
        match c.phase {
            Phase::Ended => {}
            Phase::Open(s) => {
                self.connection_ended(s, id, End::Io("connection closed by peer".into()), now)
            }
            _ => {
                let role = c.role.clone();
                self.pending.retain(|p| *p != id);
                let f = HandshakeFailure::new("TLS_FAILED", "tls handshake eof");
                let f = if matches!(role, Role::Client { .. }) {
                    HandshakeFailure::new("IO", "Connection closed during the handshake")
                } else {
                    f
                };
                self.report_handshake_failure(id, role, f, now);
            }
        }
        self.conns.remove(&id);
        self.timers.clear_conn(id);
        self.dirty.retain(|d| *d != id);
        Ok(())
    }

    /// The next connection with output to write (marked busy until
    /// [`Endpoint::conn_transmit`] returns 0), or 0.
    pub fn next_transmit(&mut self) -> u32 {
        while let Some(id) = self.dirty.pop_front() {
            if let Some(c) = self.conns.get_mut(&id) {
                c.dirty = false;
                if !c.busy {
                    c.busy = true;
                    return id;
                }
            }
        }
        0
    }

    /// Copies bytes to write on connection `id` into `buf`; 0 when there is
    /// nothing (the connection is then no longer busy).
    pub fn conn_transmit(
        &mut self,
        id: u32,
        buf: &mut [u8],
        now: u64,
    ) -> Result<usize, EndpointError> {
        Ok(self.conn_transmit_more(id, buf, now)?.0)
    }

    /// [`Endpoint::conn_transmit`], also saying whether more output is pending
    /// after this batch. When none is, the connection stops being busy at
    /// once (the driver need not call again; new output marks it again).
    pub fn conn_transmit_more(
        &mut self,
        id: u32,
        buf: &mut [u8],
        now: u64,
    ) -> Result<(usize, bool), EndpointError> {
        let Some(mut c) = self.conns.remove(&id) else {
            return Err(EndpointError::UnknownConnection(id));
        };
        if let Phase::Open(key) = c.phase {
            if !c.wants_write() {
                let budget = Conn::batch_for(buf.len()).min(OUT_BATCH);
                // A batch may pass its budget by one frame: keep that frame
                // inside the buffer too (at least one frame goes out).
                let budget = budget.saturating_sub(MAX_PLAINTEXT).max(1);
                self.prepare(id, key, &mut c, budget, now);
            }
        }
        let n = c.transmit(buf);
        let more = c.wants_write()
            || match c.phase {
                Phase::Open(key) => self
                    .sessions
                    .get(&key)
                    .is_none_or(|s| !matches!(s.state, State::Open) || s.engine.has_output()),
                _ => false,
            };
        if n == 0 || !more {
            c.busy = false;
        }
        self.conns.insert(id, c);
        Ok((n, more))
    }

    /// Prepares the next batch of session `key`'s frames on `c` (about
    /// `budget` bytes; sealed when the driver takes it).
    pub(crate) fn prepare(&mut self, id: u32, key: u64, c: &mut Conn, budget: usize, now: u64) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if let State::Closing { deadline, reason } = s.state {
            if s.engine.all_acked() || now >= deadline {
                s.engine.queue_close();
                s.engine.fill(&mut c.scratch, usize::MAX, now);
                c.send_close_notify();
                c.phase = Phase::Ended;
                self.timers.clear_conn(id);
                s.conn = None;
                self.finish_close(key, reason, None);
                self.emit(Event::CloseConn { conn: id });
                return;
            }
        }
        let deferred = Timer::Conn(id, ConnTimer::Deferred);
        let flush = std::mem::take(&mut c.flush_deferred) || self.timers.due(deferred, now);
        s.engine.fill_lazy(&mut c.scratch, budget, flush, now);
        // The ACK watch: armed when data waits and it is not (it moves
        // itself forward when it fires), so sending costs no timer update.
        let watch = Timer::Conn(id, ConnTimer::AckWatch);
        if self.timers.get(watch).is_none() {
            if let Some(at) = s.engine.oldest_unacked_at() {
                let at = at.saturating_add(ms(self.cfg.ack_timeout_ms)) + 1;
                self.timers.set(watch, at);
            }
        }
        if s.engine.has_deferred() {
            if flush || self.timers.get(deferred).is_none() {
                self.timers.set(deferred, now + DEFER_ACK_US);
            }
        } else {
            self.timers.clear(deferred);
        }
        let rekey = Timer::Conn(id, ConnTimer::Rekey);
        if c.rekey_bytes >= self.cfg.rekey_after_bytes
            || std::mem::take(&mut c.rekey_due)
            || self.timers.due(rekey, now)
        {
            if c.refresh_traffic_keys() {
                s.rekeys += 1;
                let n = s.rekeys;
                self.emit(Event::Rekey {
                    session: key,
                    rekeys: n,
                });
            }
            c.rekey_bytes = 0;
            let at = now.saturating_add(ms(self.cfg.rekey_after_ms));
            self.timers.set(rekey, at);
        }
        self.pump(key);
    }
}
