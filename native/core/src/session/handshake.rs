//! The RTT handshake after TLS: HELLO (new or resuming session), ACCEPT
//! and REJECT, admission of new sessions (per peer, per address, the
//! session table and its eviction), and failed handshakes.

use std::sync::Arc;

use crate::codec::{self, Accept, Frame, FrameType, Hello};
use crate::conn::{Conn, HandshakeFailure, Phase, Purpose, Role};
use crate::endpoint::Endpoint;
use crate::engine::Engine;
use crate::event::Event;
use crate::session::{Latency, Session, State};
use crate::tls;

impl Endpoint {
    pub(crate) fn on_hello(
        &mut self,
        id: u32,
        c: &mut Conn,
        f: Frame,
        now: u64,
    ) -> Result<(), HandshakeFailure> {
        let peer = c.peer_fp.clone();
        if f.kind != FrameType::Hello {
            c.write_frame(&Conn::reject_frame(
                "PROTOCOL_ERROR",
                &format!("{:?} instead of HELLO", f.kind),
            ));
            return Err(HandshakeFailure::new(
                "TLS_FAILED",
                format!("Peer {peer} sent {:?} instead of HELLO", f.kind),
            ));
        }
        let hello = codec::check_fields(&f.borrowed())
            .and_then(|()| Hello::decode(&f.payload))
            .map_err(|e| {
                // Refused with a reason the peer can read, not a bare close.
                c.write_frame(&Conn::reject_frame(
                    "PROTOCOL_ERROR",
                    &format!("HELLO refused: {e}"),
                ));
                HandshakeFailure::new("TLS_FAILED", format!("Peer {peer}: {e}"))
            })?;
        self.pending.retain(|p| *p != id);
        if let Some(sid) = hello.resume {
            return self.on_resume_hello(id, c, sid, hello.last_received);
        }
        // A fresh session from a peer holding a disconnected one replaces it
        // (spec decision): the restarted peer can never resume it.
        let old: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.peer_fp == peer && matches!(s.state, State::Disconnected { .. }))
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            self.finish_close(k, "replaced", None);
        }
        let refuse = |c: &mut Conn, code: &'static str, why: String| {
            c.write_frame(&Conn::reject_frame(code, &why));
            Err(HandshakeFailure::new(
                code,
                format!("Peer {peer} refused: {why}"),
            ))
        };
        let of_peer = self
            .sessions
            .values()
            .filter(|s| s.peer_fp == peer && s.state != State::Closed)
            .count();
        if of_peer >= self.cfg.max_sessions_per_peer {
            return refuse(
                c,
                "TOO_MANY_SESSIONS",
                format!("{of_peer} sessions of this peer (max_sessions_per_peer)"),
            );
        }
        if !c.addr.is_empty() {
            let of_addr = self.sessions_from(&c.addr);
            if of_addr >= self.cfg.max_sessions_per_address {
                return refuse(
                    c,
                    "TOO_MANY_SESSIONS",
                    format!("{of_addr} sessions from this address (max_sessions_per_address)"),
                );
            }
        }
        if !self.shut_down && self.live >= self.cfg.max_sessions {
            // Full: a disconnected (resumable) session makes room first, the
            // longest disconnected one; live sessions and the ones the
            // application protected (a trusted peer's) are never evicted.
            let evict = self
                .sessions
                .iter()
                .filter_map(|(k, s)| match s.state {
                    State::Disconnected { until } if !s.protected => Some((until, *k)),
                    _ => None,
                })
                .min();
            if let Some((_, k)) = evict {
                self.finish_close(k, "evicted", None);
            }
        }
        if self.shut_down || self.live >= self.cfg.max_sessions {
            return refuse(c, "TOO_MANY_HANDSHAKES", "session limit reached".into());
        }
        let sid = self.ids.next_id();
        c.write_frame(&Frame {
            payload: Accept {
                session_id: sid,
                resumed: false,
                last_received: Vec::new(),
            }
            .encode(),
            ..Frame::empty(FrameType::Accept, 0, 0)
        });
        let key = self.register(sid, peer.clone(), c.addr.clone(), false, id);
        c.phase = Phase::Open(key);
        self.start_conn_timers(id, c, now);
        self.emit(Event::Accepted {
            session: key,
            id: tls::hex(&sid),
            peer,
        });
        Ok(())
    }

    pub(crate) fn on_resume_hello(
        &mut self,
        id: u32,
        c: &mut Conn,
        sid: [u8; 16],
        peer_last: Vec<(u32, u64)>,
    ) -> Result<(), HandshakeFailure> {
        let peer = c.peer_fp.clone();
        let Some(&key) = self.by_id.get(&sid) else {
            c.write_frame(&Conn::reject_frame("RESUME_REJECTED", "unknown session"));
            return Err(HandshakeFailure::new(
                "RESUME_REJECTED",
                format!("Peer {peer} asked to resume an unknown session"),
            ));
        };
        let s = self.sessions.get(&key).expect("indexed session");
        if s.peer_fp != peer {
            c.write_frame(&Conn::reject_frame(
                "RESUME_REJECTED",
                "session belongs to another peer",
            ));
            return Err(HandshakeFailure {
                code: "FINGERPRINT_MISMATCH",
                message: format!("Peer {peer} tried to resume session of peer {}", s.peer_fp),
                counted: true,
            });
        }
        if matches!(s.state, State::Closed | State::Closing { .. }) {
            c.write_frame(&Conn::reject_frame("RESUME_REJECTED", "session closed"));
            return Err(HandshakeFailure::new(
                "RESUME_REJECTED",
                format!("Peer {peer} asked to resume a closed session"),
            ));
        }
        if let Err(why) = s.engine.check_resume_list(&peer_last) {
            c.write_frame(&Conn::reject_frame("RESUME_REJECTED", &why.to_string()));
            return Err(HandshakeFailure::new(
                "RESUME_REJECTED",
                format!("Peer {peer}: {why}"),
            ));
        }
        if let Some(old) = s.conn {
            // The old connection is superseded by this one.
            self.emit(Event::ConnectionLost {
                session: key,
                reason: "superseded".into(),
            });
            self.sessions.get_mut(&key).expect("exists").conn = None;
            self.detach_conn(old);
        }
        let s = self.sessions.get_mut(&key).expect("exists");
        s.engine.on_new_connection(&peer_last);
        s.conn = Some(id);
        s.reconnects += 1;
        let accept = Accept {
            session_id: sid,
            resumed: true,
            last_received: s.engine.resume_state(),
        };
        let n = s.reconnects;
        c.write_frame(&Frame {
            payload: accept.encode(),
            ..Frame::empty(FrameType::Accept, 0, 0)
        });
        c.phase = Phase::Open(key);
        self.set_state(key, State::Open);
        self.emit(Event::SessionOpen {
            session: key,
            resumed: true,
            reconnects: n,
        });
        let now = c.last_rx;
        self.start_conn_timers(id, c, now);
        Ok(())
    }

    pub(crate) fn on_accept(
        &mut self,
        id: u32,
        c: &mut Conn,
        f: Frame,
        now: u64,
    ) -> Result<(), HandshakeFailure> {
        let Role::Client {
            fingerprint,
            purpose,
        } = c.role.clone()
        else {
            unreachable!("only clients await ACCEPT");
        };
        let peer = fingerprint.clone();
        match f.kind {
            FrameType::Accept => {}
            FrameType::Reject => {
                let text = String::from_utf8_lossy(&f.payload).to_string();
                let (code, msg) = text
                    .split_once('\n')
                    .unwrap_or(("TLS_FAILED", text.as_str()));
                let code = match code {
                    "RESUME_REJECTED" => "RESUME_REJECTED",
                    "TOO_MANY_HANDSHAKES" => "TOO_MANY_HANDSHAKES",
                    "TOO_MANY_SESSIONS" => "TOO_MANY_SESSIONS",
                    "PEER_NOT_ALLOWED" => "PEER_NOT_ALLOWED",
                    _ => "TLS_FAILED",
                };
                return Err(HandshakeFailure::new(
                    code,
                    format!("Peer {peer} refused the session: {msg}"),
                ));
            }
            k => {
                return Err(HandshakeFailure::new(
                    "TLS_FAILED",
                    format!("Peer {peer} sent {k:?} instead of ACCEPT"),
                ))
            }
        }
        let a = codec::check_fields(&f.borrowed())
            .and_then(|()| Accept::decode(&f.payload))
            .map_err(|e| HandshakeFailure::new("TLS_FAILED", format!("Peer {peer}: {e}")))?;
        if a.resumed != matches!(purpose, Purpose::Resume(_)) {
            return Err(HandshakeFailure::new(
                "TLS_FAILED",
                format!("Peer {peer} answered with the wrong kind of ACCEPT"),
            ));
        }
        match purpose {
            Purpose::Connect => {
                if self.by_id.contains_key(&a.session_id) {
                    return Err(HandshakeFailure::new(
                        "TLS_FAILED",
                        "Peer reused a session id",
                    ));
                }
                let key = self.register(a.session_id, fingerprint, Arc::from(""), true, id);
                c.phase = Phase::Open(key);
                self.start_conn_timers(id, c, now);
                self.emit(Event::Connected {
                    conn: id,
                    session: key,
                    id: tls::hex(&a.session_id),
                    peer,
                });
                Ok(())
            }
            Purpose::Resume(key) => {
                let ok = self.sessions.get(&key).is_some_and(|s| {
                    matches!(s.state, State::Disconnected { .. })
                        && a.resumed
                        && a.session_id == s.id
                });
                if !ok {
                    return Err(HandshakeFailure::new(
                        "RESUME_REJECTED",
                        format!("Peer {peer} did not resume the session"),
                    ));
                }
                let s = self.sessions.get_mut(&key).expect("exists");
                if let Err(why) = s.engine.check_resume_list(&a.last_received) {
                    return Err(HandshakeFailure::new(
                        "RESUME_REJECTED",
                        format!("Peer {peer}: {why}"),
                    ));
                }
                s.engine.on_new_connection(&a.last_received);
                s.conn = Some(id);
                s.reconnect = None;
                s.reconnects += 1;
                let n = s.reconnects;
                c.phase = Phase::Open(key);
                self.start_conn_timers(id, c, now);
                self.set_state(key, State::Open);
                self.emit(Event::SessionOpen {
                    session: key,
                    resumed: true,
                    reconnects: n,
                });
                Ok(())
            }
        }
    }

    pub(crate) fn register(
        &mut self,
        id: [u8; 16],
        peer_fp: String,
        addr: Arc<str>,
        dialer: bool,
        conn: u32,
    ) -> u64 {
        let key = self.key();
        self.sessions.insert(
            key,
            Session {
                id,
                peer_fp,
                engine: Engine::new(self.ecfg.clone()),
                state: State::Open,
                conn: Some(conn),
                dialer,
                reconnect: None,
                reconnects: 0,
                rekeys: 0,
                latency: Latency::default(),
                addr,
                replay_window: (0, 0),
                replays_counted: 0,
                next_replay_report: 0,
                protected: false,
            },
        );
        self.live += 1;
        self.ecfg
            .node_recv
            .sessions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.by_id.insert(id, key);
        key
    }

    /// Reports a failed handshake of connection `id` and ends it.
    pub(crate) fn handshake_failed(&mut self, id: u32, f: HandshakeFailure, now: u64) {
        let Some(c) = self.conns.get(&id) else { return };
        let role = c.role.clone();
        self.pending.retain(|p| *p != id);
        self.report_handshake_failure(id, role, f, now);
        self.end_conn(id, None, now);
    }

    pub(crate) fn report_handshake_failure(
        &mut self,
        id: u32,
        role: Role,
        f: HandshakeFailure,
        now: u64,
    ) {
        match role {
            Role::Server => self.diagnostic(f),
            Role::Client {
                purpose: Purpose::Connect,
                ..
            } => {
                if f.counted {
                    self.verification_failures += 1;
                }
                self.emit(Event::ConnectFailed {
                    conn: id,
                    code: f.code,
                    message: f.message,
                });
            }
            Role::Client {
                purpose: Purpose::Resume(key),
                ..
            } => {
                if f.code == "RESUME_REJECTED" || f.counted {
                    if self
                        .sessions
                        .get(&key)
                        .is_some_and(|s| matches!(s.state, State::Disconnected { .. }))
                    {
                        self.finish_close(key, "resume_rejected", None);
                    }
                } else {
                    self.reconnect_failed(key, now);
                }
            }
        }
    }
}
