//! Nodes and sessions: the sans-I/O core of RTT.
//!
//! A node holds its sessions, its connections (each a rustls connection in
//! memory, see [`crate::conn`]) and a queue of typed [`Event`]s. Nothing here
//! opens a socket, starts a thread or reads a clock: the caller (the
//! TypeScript driver) feeds received bytes with [`Node::conn_input`], drains
//! bytes to write with [`Node::conn_transmit`], passes the time in
//! (microseconds of its monotonic clock) and calls [`Node::handle_timeout`]
//! at [`Node::next_deadline`]. Every session state change goes through
//! [`Node::set_state`].
#![deny(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::codec::{self, Accept, Frame, FrameType, Hello, Prng};
use crate::config::{AllowPeers, Config, Policy};
use crate::conn::{Conn, ConnError, HandshakeFailure, Phase, Purpose, Role, OUT_BATCH};
use crate::engine::{Engine, EngineConfig, EngineEvent, OpenError, SendError, Signal, Stats};
use crate::tls::{self, AllowPolicy, Identity};

/// Refused-handshake events are not queued beyond this backlog (they are
/// still counted), so a flood of bad connections cannot grow memory.
const MAX_DIAGNOSTIC_BACKLOG: usize = 4096;

/// Events queued for the driver at most, counting only those a peer can
/// cause at will (REPLAY, DROP, VERIFICATION_FAILURE); beyond it they are
/// counted (`events_dropped`), not queued. Lifecycle and I/O events are
/// never dropped: they are bounded by sessions, connections and channels,
/// and the driver drains the queue after every call.
pub const MAX_QUEUED_EVENTS: usize = 65_536;

/// Client TLS configurations kept (one per pinned peer fingerprint).
const MAX_CACHED_CLIENT_CONFIGS: usize = 64;

/// How long a deferred ACK or credit grant may wait for a frame to ride
/// along with before it is written on its own (us).
const DEFER_ACK_US: u64 = 2_000;

fn ms(v: u64) -> u64 {
    v.saturating_mul(1000)
}

/// A hasher for the node's own sequential keys (session keys, connection
/// ids): they are not chosen by peers, so the identity is a fine hash and
/// much cheaper than SipHash on every call.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        // Spread the low bits, which hashbrown uses for buckets and tags.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by the node's own sequential keys.
pub type KeyMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// Errors of the node layer (converted to status codes only by `ffi`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeError {
    /// A bad argument.
    Invalid(String),
    /// No such session, channel or connection.
    Unknown(String),
    /// A channel operation refused by the engine.
    Send(SendError, String),
    /// Too many channels.
    TooManyChannels(String),
    /// The session is closed.
    SessionClosed(String),
    /// The node is shut down.
    ShutDown,
    /// The configuration or key was refused.
    Config(String),
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeError::Invalid(m)
            | NodeError::Unknown(m)
            | NodeError::Send(_, m)
            | NodeError::TooManyChannels(m)
            | NodeError::SessionClosed(m)
            | NodeError::Config(m) => f.write_str(m),
            NodeError::ShutDown => f.write_str("The node is shut down"),
        }
    }
}

impl std::error::Error for NodeError {}

/// Something the application or the I/O driver must hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An inbound session was accepted.
    Accepted {
        /// Session key.
        session: u64,
        /// Session id (hex).
        id: String,
        /// Peer fingerprint.
        peer: String,
    },
    /// An outbound connect completed (`conn` is the connect's connection).
    Connected {
        /// The connection the connect started.
        conn: u32,
        /// Session key.
        session: u64,
        /// Session id (hex).
        id: String,
        /// Peer fingerprint.
        peer: String,
    },
    /// An outbound connect failed.
    ConnectFailed {
        /// The connection the connect started.
        conn: u32,
        /// Handshake error code.
        code: &'static str,
        /// Text.
        message: String,
    },
    /// A session (re)opened.
    SessionOpen {
        /// Session key.
        session: u64,
        /// Whether it was resumed.
        resumed: bool,
        /// Reconnects so far.
        reconnects: u64,
    },
    /// The session lost its connection; resumption pending.
    ConnectionLost {
        /// Session key.
        session: u64,
        /// Why.
        reason: String,
    },
    /// Nothing arrived within the heartbeat timeout.
    HeartbeatTimeout {
        /// Session key.
        session: u64,
    },
    /// Final end of a session.
    SessionClose {
        /// Session key.
        session: u64,
        /// `manual`, `peer_closed`, `heartbeat_timeout`, ...
        reason: &'static str,
        /// Detail (protocol errors).
        message: Option<String>,
        /// Messages not delivered.
        undelivered: u64,
    },
    /// A channel has messages (or ended).
    Readable {
        /// Session key.
        session: u64,
        /// Channel id.
        channel: u32,
    },
    /// A channel has room again.
    Writable {
        /// Session key.
        session: u64,
        /// Channel id.
        channel: u32,
    },
    /// Messages dropped by a dropping policy.
    Drop {
        /// Session key.
        session: u64,
        /// Channel kind.
        kind: String,
        /// `drop_oldest` / `drop_newest`.
        cause: &'static str,
        /// How many.
        count: u64,
    },
    /// Replayed frames were dropped (coalesced: at most one event per
    /// channel per `replay_report_interval_ms`).
    Replay {
        /// Session key.
        session: u64,
        /// Channel kind.
        kind: String,
        /// The sequence of the last one.
        seq: u64,
        /// How many since the previous report.
        count: u64,
    },
    /// A flush completed.
    Flushed {
        /// Session key.
        session: u64,
        /// Flush operation.
        op: u64,
    },
    /// A flush failed.
    FlushFailed {
        /// Session key.
        session: u64,
        /// Flush operation.
        op: u64,
        /// Messages not delivered.
        undelivered: u64,
    },
    /// A TLS key update.
    Rekey {
        /// Session key.
        session: u64,
        /// Key updates so far.
        rekeys: u64,
    },
    /// An inbound handshake was refused.
    VerificationFailure {
        /// Code.
        code: &'static str,
        /// Peer fingerprint if known.
        peer: String,
        /// Text.
        message: String,
    },
    /// Driver: open a new socket to the session's peer and call
    /// [`Node::conn_resume`] (or [`Node::dial_failed`]).
    Dial {
        /// Session key.
        session: u64,
    },
    /// Driver: write the connection's remaining output, close its socket,
    /// then call [`Node::conn_closed`].
    CloseConn {
        /// Connection id.
        conn: u32,
    },
}

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

    fn merge(&mut self, o: &Latency) {
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
struct Reconnect {
    attempts: u32,
    delay_us: u64,
    at: u64,
    dialing: bool,
}

/// One RTT session.
pub struct Session {
    /// Session id.
    pub id: [u8; 16],
    /// Authenticated peer fingerprint.
    pub peer_fp: String,
    /// The session engine.
    pub engine: Engine,
    /// Lifecycle state (changed only by [`Node::set_state`]).
    state: State,
    /// The connection carrying it.
    conn: Option<u32>,
    /// We dialed, so we reconnect.
    dialer: bool,
    reconnect: Option<Reconnect>,
    reconnects: u64,
    rekeys: u64,
    latency: Latency,
    /// The remote address of an inbound session's first connection ("" otherwise).
    addr: Arc<str>,
    /// Replay flood window: its start (us) and the replays counted in it.
    replay_window: (u64, u64),
    /// Replays of the engine already counted into a window.
    replays_counted: u64,
    /// Earliest time (us) of the next replay report.
    next_replay_report: u64,
    /// Marked by the application ([`Node::set_budget`]): never evicted to
    /// make room for another session, its resume handshakes shed last.
    protected: bool,
}

#[derive(Default)]
struct Totals {
    stats: Stats,
    reconnects: u64,
    rekeys: u64,
    latency: Latency,
}

/// Gauges of the limits against abuse ([`Node::gauges`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Pending handshakes shed so far.
    pub handshakes_shed: u64,
    /// Most pending handshakes of one remote address, now.
    pub max_pending_per_address: u64,
    /// Most live inbound sessions of one remote address, now.
    pub max_sessions_per_address: u64,
    /// Receive bytes granted and unread over the node, now.
    pub receive_bytes_outstanding: u64,
    /// Bytes received and unread over the node's live sessions, now.
    pub receive_bytes_held: u64,
    /// Most unacknowledged bytes of one channel, now.
    pub max_unacked_bytes: u64,
    /// Events queued for the driver, now.
    pub queued_events: u64,
    /// Optional events not queued because the queue was full.
    pub events_dropped: u64,
}

/// An RTT node.
pub struct Node {
    /// Configuration.
    pub cfg: Config,
    ecfg: EngineConfig,
    identity: Arc<Identity>,
    server_cfg: Arc<rustls::ServerConfig>,
    events: VecDeque<Event>,
    sessions: KeyMap<u64, Session>,
    by_id: HashMap<[u8; 16], u64>,
    /// Boxed: a connection (rustls state included) is large, and the hot
    /// paths take it out of the table and put it back.
    conns: KeyMap<u32, Box<Conn>>,
    /// Inbound connections in their handshake, oldest first.
    pending: VecDeque<u32>,
    dirty: VecDeque<u32>,
    client_cfgs: HashMap<String, Arc<rustls::ClientConfig>>,
    next_key: u64,
    next_conn: u32,
    live: usize,
    totals: Totals,
    verification_failures: u64,
    /// Pending handshakes shed.
    shed: u64,
    /// Optional events not queued (queue at [`MAX_QUEUED_EVENTS`]).
    events_dropped: u64,
    shut_down: bool,
    /// Set by the FFI layer when the node's handle is freed.
    pub freed: bool,
    rng: Prng,
}

/// The key the per-address limits count under: an IPv6 address stands for
/// its /64 (one host or site usually holds a whole /64, so counting single
/// addresses would let it open as many sessions as it likes), an
/// IPv4-mapped IPv6 address for its IPv4 address, IPv4 for itself. Text
/// that is not an IP address (a test pipe's name) is its own key.
pub fn address_key(addr: &str) -> String {
    use std::net::IpAddr;
    let bare = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    // A zone (fe80::1%eth0) names an interface, not another host.
    let bare = bare.split('%').next().unwrap_or(bare);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
        Err(_) => addr.to_string(),
    }
}

fn random_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .expect("system randomness");
    id
}

/// How a connection ended.
enum End {
    Heartbeat,
    Io(String),
    Protocol(String),
    /// A limit the peer broke: the session ends with this reason (no resumption).
    Violation(&'static str, String),
    PeerClosed(Option<String>),
}

impl Node {
    /// Creates a node from its JSON configuration.
    pub fn create(json: &[u8]) -> Result<Node, NodeError> {
        let cfg = Config::from_json(json).map_err(NodeError::Invalid)?;
        let identity =
            Identity::from_pem(cfg.key_pem.as_bytes()).map_err(|e| NodeError::Invalid(e.0))?;
        let policy = match &cfg.allow_peers {
            AllowPeers::List(l) => AllowPolicy::List(l.clone()),
            AllowPeers::Word(_) => AllowPolicy::Any,
        };
        let server_cfg =
            tls::server_config(&identity, policy).map_err(|e| NodeError::Config(e.0))?;
        let seed = u64::from_le_bytes(random_id()[..8].try_into().expect("8"));
        Ok(Node {
            ecfg: EngineConfig::from_config(&cfg),
            cfg,
            identity: Arc::new(identity),
            server_cfg,
            events: VecDeque::new(),
            sessions: KeyMap::default(),
            by_id: HashMap::new(),
            conns: KeyMap::default(),
            pending: VecDeque::new(),
            dirty: VecDeque::new(),
            client_cfgs: HashMap::new(),
            next_key: 1,
            next_conn: 1,
            live: 0,
            totals: Totals::default(),
            verification_failures: 0,
            shed: 0,
            events_dropped: 0,
            shut_down: false,
            freed: false,
            rng: Prng::new(seed),
        })
    }

    /// The node's own fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.identity.fingerprint
    }

    fn key(&mut self) -> u64 {
        let k = self.next_key;
        self.next_key += 1;
        k
    }

    fn conn_id(&mut self) -> u32 {
        loop {
            let id = self.next_conn;
            self.next_conn = self.next_conn.wrapping_add(1).max(1) & 0x7fff_ffff;
            if id != 0 && !self.conns.contains_key(&id) {
                return id;
            }
        }
    }

    fn check_running(&self) -> Result<(), NodeError> {
        if self.shut_down {
            return Err(NodeError::ShutDown);
        }
        Ok(())
    }

    // ----- events -----

    /// Whether events are queued.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Whether a connection waits to transmit.
    pub fn has_transmit(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The next queued event.
    pub fn front_event(&self) -> Option<&Event> {
        self.events.front()
    }

    /// Removes the next queued event.
    pub fn pop_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn emit(&mut self, e: Event) {
        let optional = matches!(
            e,
            Event::Replay { .. } | Event::Drop { .. } | Event::VerificationFailure { .. }
        );
        if optional && self.events.len() >= MAX_QUEUED_EVENTS {
            self.events_dropped += 1;
            return;
        }
        self.events.push_back(e);
    }

    /// Test only: emits `n` replay reports for session `key`.
    #[cfg(test)]
    pub(crate) fn test_emit_replays(&mut self, key: u64, n: usize) {
        for seq in 0..n as u64 {
            self.emit(Event::Replay {
                session: key,
                kind: "state".into(),
                seq,
                count: 1,
            });
        }
    }

    fn diagnostic(&mut self, f: HandshakeFailure) {
        if f.counted {
            self.verification_failures += 1;
        }
        if self.events.len() < MAX_DIAGNOSTIC_BACKLOG {
            self.emit(Event::VerificationFailure {
                code: f.code,
                peer: String::new(),
                message: f.message,
            });
        }
    }

    fn mark_dirty(&mut self, id: u32) {
        if let Some(c) = self.conns.get_mut(&id) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push_back(id);
            }
        }
    }

    fn mark_session_dirty(&mut self, key: u64) {
        if let Some(c) = self.sessions.get(&key).and_then(|s| s.conn) {
            self.mark_dirty(c);
        }
    }

    // ----- connections -----

    /// A new inbound connection (the driver accepted a socket), address unknown.
    pub fn conn_accept(&mut self, now: u64) -> Result<u32, NodeError> {
        self.conn_accept_from(now, "")
    }

    /// A new inbound connection from remote address `addr` (any stable text,
    /// e.g. the IP; "" if unknown, then only the node-wide limits apply).
    /// Beyond `max_pending_handshakes_per_address` one of that address's
    /// pending handshakes is shed, beyond `max_pending_handshakes` one of the
    /// address holding the most: an idle one (no byte received) at random if
    /// there is one, else any at random. A slow legitimate handshake from
    /// another address is therefore never the one shed by a flood.
    pub fn conn_accept_from(&mut self, now: u64, addr: &str) -> Result<u32, NodeError> {
        self.check_running()?;
        let tls = rustls::ServerConnection::new(self.server_cfg.clone())
            .map_err(|e| NodeError::Config(e.to_string()))?;
        let id = self.conn_id();
        let mut c = Box::new(Conn::new(
            rustls::Connection::Server(tls),
            Role::Server,
            now,
            ms(self.cfg.handshake_timeout_ms),
        ));
        let addr = address_key(addr);
        c.addr = Arc::from(addr.as_str());
        self.conns.insert(id, c);
        self.pending.push_back(id);
        if !addr.is_empty()
            && self.pending_from(&addr) > self.cfg.max_pending_handshakes_per_address
        {
            self.shed_pending(
                &addr,
                now,
                "too many handshakes in flight from this address",
            );
        }
        while self.pending.len() > self.cfg.max_pending_handshakes {
            let busiest = self.busiest_pending_address();
            self.shed_pending(&busiest, now, "too many handshakes in flight");
        }
        Ok(id)
    }

    /// Pending inbound handshakes from `addr` (an [`address_key`]).
    pub fn pending_from(&self, addr: &str) -> usize {
        let addr = address_key(addr);
        let addr = addr.as_str();
        self.pending
            .iter()
            .filter(|p| self.conns.get(p).is_some_and(|c| &*c.addr == addr))
            .count()
    }

    /// Live (not closed) inbound sessions from `addr`.
    pub fn sessions_from(&self, addr: &str) -> usize {
        let addr = address_key(addr);
        let addr = addr.as_str();
        self.sessions
            .values()
            .filter(|s| s.state != State::Closed && &*s.addr == addr)
            .count()
    }

    fn busiest_pending_address(&mut self) -> String {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for p in &self.pending {
            if let Some(c) = self.conns.get(p) {
                *counts.entry(&c.addr).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(a, _)| a.to_string())
            .unwrap_or_default()
    }

    /// Sheds one pending handshake of `addr`: idle first, at random.
    fn shed_pending(&mut self, addr: &str, now: u64, why: &str) {
        // A connection whose TLS handshake authenticated a peer holding a
        // protected session (its resumption, most likely) is shed last.
        let of_addr: Vec<(u32, bool)> =
            self.pending
                .iter()
                .filter_map(|p| {
                    let c = self.conns.get(p)?;
                    let trusted = !c.peer_fp.is_empty()
                        && self.sessions.values().any(|s| {
                            s.protected && s.state != State::Closed && s.peer_fp == c.peer_fp
                        });
                    (&*c.addr == addr && !trusted).then_some((*p, c.got_input))
                })
                .collect();
        let of_addr = if of_addr.is_empty() {
            self.pending
                .iter()
                .filter_map(|p| {
                    let c = self.conns.get(p)?;
                    (&*c.addr == addr).then_some((*p, c.got_input))
                })
                .collect()
        } else {
            of_addr
        };
        let idle: Vec<u32> = of_addr.iter().filter(|p| !p.1).map(|p| p.0).collect();
        let pool: Vec<u32> = if idle.is_empty() {
            of_addr.iter().map(|p| p.0).collect()
        } else {
            idle
        };
        if pool.is_empty() {
            // Unreachable while the counts hold; never loop on it.
            if let Some(old) = self.pending.pop_front() {
                self.end_conn(old, None, now);
            }
            return;
        }
        let victim = pool[self.rng.below(pool.len() as u64) as usize];
        self.pending.retain(|p| *p != victim);
        self.shed += 1;
        self.diagnostic(HandshakeFailure::new(
            "TOO_MANY_HANDSHAKES",
            format!("Pending handshake shed: {why}"),
        ));
        self.end_conn(victim, None, now);
    }

    fn client_conn(
        &mut self,
        fingerprint: &str,
        purpose: Purpose,
        hs_us: u64,
        now: u64,
    ) -> Result<u32, NodeError> {
        let cfg = self.client_config(fingerprint)?;
        let name = rustls::pki_types::ServerName::try_from("web4-rtt").expect("valid name");
        let tls = rustls::ClientConnection::new(cfg, name)
            .map_err(|e| NodeError::Config(e.to_string()))?;
        let id = self.conn_id();
        let c = Box::new(Conn::new(
            rustls::Connection::Client(tls),
            Role::Client {
                fingerprint: fingerprint.to_string(),
                purpose,
            },
            now,
            hs_us,
        ));
        self.conns.insert(id, c);
        self.mark_dirty(id);
        Ok(id)
    }

    /// The client TLS configuration pinned to `fingerprint`, built once per
    /// peer (building one parses our key and sets up the signer).
    fn client_config(&mut self, fingerprint: &str) -> Result<Arc<rustls::ClientConfig>, NodeError> {
        if let Some(c) = self.client_cfgs.get(fingerprint) {
            return Ok(c.clone());
        }
        let cfg =
            tls::client_config(&self.identity, fingerprint).map_err(|e| NodeError::Config(e.0))?;
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
    ) -> Result<u32, NodeError> {
        self.check_running()?;
        if !tls::valid_fingerprint(fingerprint) {
            return Err(NodeError::Invalid(format!(
                "Fingerprint {fingerprint:?} is not 64 lowercase hex digits"
            )));
        }
        let t = if timeout_ms == 0 {
            ms(self.cfg.handshake_timeout_ms)
        } else {
            ms(u64::from(timeout_ms))
        };
        self.client_conn(fingerprint, Purpose::Connect, t, now)
    }

    /// A new outbound connection resuming `session` (after a `Dial` event).
    pub fn conn_resume(&mut self, session: u64, now: u64) -> Result<u32, NodeError> {
        self.check_running()?;
        let s = self.session(session)?;
        if !matches!(s.state, State::Disconnected { .. }) {
            return Err(NodeError::SessionClosed(format!(
                "Session {} is not waiting for a reconnect",
                tls::hex(&s.id)
            )));
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
    pub fn dial_failed(&mut self, session: u64, now: u64) -> Result<(), NodeError> {
        self.session(session)?;
        self.reconnect_failed(session, now);
        Ok(())
    }

    /// Bytes received on connection `id`.
    pub fn conn_input(&mut self, id: u32, bytes: &[u8], now: u64) -> Result<(), NodeError> {
        let Some(mut c) = self.conns.remove(&id) else {
            return Err(NodeError::Unknown(format!("Unknown connection {id}")));
        };
        if c.phase == Phase::Ended {
            self.conns.insert(id, c);
            return Ok(());
        }
        c.last_rx = now;
        c.got_input |= !bytes.is_empty();
        let r = c.feed(bytes);
        let done_tls = match r {
            Ok(d) => d,
            Err(ConnError::PeerClosedTls) => {
                // Frames decoded before close_notify still count (a CLOSE).
                return match self.process_frames(id, &mut c, now) {
                    Ok(end) => {
                        let end = end.unwrap_or(End::Io("the peer closed the TLS stream".into()));
                        self.finish_input(id, c, Some(end), now)
                    }
                    Err(f) => {
                        self.conns.insert(id, c);
                        self.handshake_failed(id, f, now);
                        Ok(())
                    }
                };
            }
            Err(ConnError::Handshake(f)) => {
                self.conns.insert(id, c);
                self.handshake_failed(id, f, now);
                return Ok(());
            }
            Err(e) => {
                return self.finish_input(id, c, Some(End::Protocol(e.to_string())), now);
            }
        };
        if done_tls {
            if let Err(f) = c.authenticated() {
                self.conns.insert(id, c);
                self.handshake_failed(id, f, now);
                return Ok(());
            }
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
                            None => {
                                self.conns.insert(id, c);
                                self.end_conn(id, None, now);
                                return Ok(());
                            }
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
        }
        match self.process_frames(id, &mut c, now) {
            Ok(end) => self.finish_input(id, c, end, now),
            Err(f) => {
                self.conns.insert(id, c);
                self.handshake_failed(id, f, now);
                Ok(())
            }
        }
    }

    fn finish_input(
        &mut self,
        id: u32,
        c: Box<Conn>,
        end: Option<End>,
        now: u64,
    ) -> Result<(), NodeError> {
        let phase = c.phase;
        let mut c = c;
        // Transmit only when there is something to write: most reads of a
        // request/response leave only a deferred ACK, which waits for the
        // reply or the deferral deadline.
        let wants = c.tls.wants_write()
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
                if deferred && c.deferred_at.is_none() {
                    c.deferred_at = Some(now + DEFER_ACK_US);
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

    /// Decodes and handles the frames received on `c` (taken out of the table).
    fn process_frames(
        &mut self,
        id: u32,
        c: &mut Conn,
        now: u64,
    ) -> Result<Option<End>, HandshakeFailure> {
        loop {
            match c.phase {
                Phase::AwaitHello | Phase::AwaitAccept => {
                    // One handshake frame at a time: it changes the phase.
                    let mut first = None;
                    if let Err(e) = c.frames(|f| {
                        first = Some(f.to_frame());
                        false
                    }) {
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
                    let r = c.frames(|f| match s.engine.handle_frame_ref(f) {
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

    fn on_hello(
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
        let sid = random_id();
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
        self.start_conn_timers(c, now);
        self.emit(Event::Accepted {
            session: key,
            id: tls::hex(&sid),
            peer,
        });
        Ok(())
    }

    fn on_resume_hello(
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
            c.write_frame(&Conn::reject_frame("RESUME_REJECTED", &why));
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
        self.start_conn_timers(c, now);
        Ok(())
    }

    fn on_accept(
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
                self.start_conn_timers(c, now);
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
                self.start_conn_timers(c, now);
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

    fn start_conn_timers(&self, c: &mut Conn, now: u64) {
        c.last_rx = now;
        c.next_ping = now + ms(self.cfg.heartbeat_interval_ms);
        c.rekey_at = now.saturating_add(ms(self.cfg.rekey_after_ms));
        c.rekey_bytes = 0;
    }

    fn register(
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
    fn handshake_failed(&mut self, id: u32, f: HandshakeFailure, now: u64) {
        let Some(c) = self.conns.get(&id) else { return };
        let role = c.role.clone();
        self.pending.retain(|p| *p != id);
        self.report_handshake_failure(id, role, f, now);
        self.end_conn(id, None, now);
    }

    fn report_handshake_failure(&mut self, id: u32, role: Role, f: HandshakeFailure, now: u64) {
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

    /// Detaches connection `id` from everything and asks the driver to close it.
    /// Writes CLOSE `CODE\nmessage` and close_notify on connection `id`,
    /// still being detached: its remaining output is written before the
    /// socket closes.
    fn send_refusal(&mut self, id: u32, code: &str, message: &str) {
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
            c.tls.send_close_notify();
            self.mark_dirty(id);
        }
    }

    fn detach_conn(&mut self, id: u32) {
        if let Some(c) = self.conns.get_mut(&id) {
            if c.phase != Phase::Ended {
                c.phase = Phase::Ended;
                self.emit(Event::CloseConn { conn: id });
                self.mark_dirty(id);
            }
        }
    }

    /// Ends connection `id`; `end` set when it carried a session.
    fn end_conn(&mut self, id: u32, end: Option<End>, now: u64) {
        let Some(c) = self.conns.get(&id) else { return };
        if let (Phase::Open(s), Some(end)) = (c.phase, end) {
            self.connection_ended(s, id, end, now);
        }
        self.detach_conn(id);
    }

    /// The driver's socket of connection `id` ended (EOF, error, cancel) or
    /// was closed after a `CloseConn`. The id is invalid afterwards.
    pub fn conn_closed(&mut self, id: u32, now: u64) -> Result<(), NodeError> {
        let Some(c) = self.conns.get(&id) else {
            return Err(NodeError::Unknown(format!("Unknown connection {id}")));
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
        self.dirty.retain(|d| *d != id);
        Ok(())
    }

    // ----- output -----

    /// The next connection with output to write (marked busy until
    /// [`Node::conn_transmit`] returns 0), or 0.
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
    pub fn conn_transmit(&mut self, id: u32, buf: &mut [u8], now: u64) -> Result<usize, NodeError> {
        Ok(self.conn_transmit_more(id, buf, now)?.0)
    }

    /// [`Node::conn_transmit`], also saying whether more output is pending
    /// after this batch. When none is, the connection stops being busy at
    /// once (the driver need not call again; new output marks it again).
    pub fn conn_transmit_more(
        &mut self,
        id: u32,
        buf: &mut [u8],
        now: u64,
    ) -> Result<(usize, bool), NodeError> {
        let Some(mut c) = self.conns.remove(&id) else {
            return Err(NodeError::Unknown(format!("Unknown connection {id}")));
        };
        if let Phase::Open(key) = c.phase {
            if !c.tls.wants_write() {
                self.prepare(id, key, &mut c, now);
            }
        }
        let n = c.drain_tls(buf);
        let more = c.tls.wants_write()
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

    /// Encrypts the next batch of session `key`'s frames on `c`.
    fn prepare(&mut self, id: u32, key: u64, c: &mut Conn, now: u64) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if let State::Closing { deadline, reason } = s.state {
            if s.engine.all_acked() || now >= deadline {
                s.engine.queue_close();
                s.engine.fill(&mut c.scratch, usize::MAX);
                c.write_scratch();
                c.tls.send_close_notify();
                c.phase = Phase::Ended;
                s.conn = None;
                self.finish_close(key, reason, None);
                self.emit(Event::CloseConn { conn: id });
                return;
            }
        }
        let flush =
            std::mem::take(&mut c.flush_deferred) || c.deferred_at.is_some_and(|t| now >= t);
        s.engine.fill_lazy(&mut c.scratch, OUT_BATCH, flush);
        c.write_scratch();
        if s.engine.has_deferred() {
            if c.deferred_at.is_none() || flush {
                c.deferred_at = Some(now + DEFER_ACK_US);
            }
        } else {
            c.deferred_at = None;
        }
        if c.rekey_bytes >= self.cfg.rekey_after_bytes || now >= c.rekey_at {
            if c.tls.refresh_traffic_keys().is_ok() {
                s.rekeys += 1;
                let n = s.rekeys;
                self.emit(Event::Rekey {
                    session: key,
                    rekeys: n,
                });
            }
            c.rekey_bytes = 0;
            c.rekey_at = now.saturating_add(ms(self.cfg.rekey_after_ms));
        }
        self.pump(key);
    }

    // ----- session lifecycle -----

    /// The one path by which a session's state changes.
    fn set_state(&mut self, key: u64, state: State) {
        if let Some(s) = self.sessions.get_mut(&key) {
            if s.state == State::Closed {
                return;
            }
            s.state = state;
        }
    }

    /// Counts the replays of session `key` into its flood window (a fixed
    /// window starting at the first replay after the previous one expired)
    /// and queues the coalesced report when due. More than
    /// `replay_flood_limit` in a window is a violation.
    fn count_replays(&mut self, key: u64, now: u64) -> Option<End> {
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
    fn pump(&mut self, key: u64) {
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
    fn finish_close(&mut self, key: u64, reason: &'static str, detail: Option<String>) {
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
    fn connection_ended(&mut self, key: u64, conn: u32, end: End, now: u64) {
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
    fn schedule_reconnect(&mut self, key: u64, now: u64) {
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
    }

    fn reconnect_failed(&mut self, key: u64, now: u64) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if !matches!(s.state, State::Disconnected { .. }) {
            return;
        }
        self.schedule_reconnect(key, now);
    }

    // ----- time -----

    /// Handles every timer due at `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        let hb_to = ms(self.cfg.heartbeat_timeout_ms);
        let hb_int = ms(self.cfg.heartbeat_interval_ms);
        let ack_to = ms(self.cfg.ack_timeout_ms);
        let hello_to = ms(self.cfg.client_hello_timeout_ms);
        let ids: Vec<u32> = self.conns.keys().copied().collect();
        for id in ids {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            match c.phase {
                Phase::Ended => {}
                Phase::Open(key) => {
                    if now.saturating_sub(c.last_rx) > hb_to {
                        self.end_conn(id, Some(End::Heartbeat), now);
                        continue;
                    }
                    if let Some(s) = self.sessions.get(&key) {
                        // Pongs prove the peer reads; ACKs prove it keeps what we
                        // send. A peer that stops acknowledging would make us hold
                        // a retransmit buffer for it forever.
                        let acks = s.engine.acks_received();
                        if c.ack_watch.1 == 0 || acks != c.ack_watch.0 || !s.engine.awaits_ack() {
                            c.ack_watch = (acks, now);
                        } else if now.saturating_sub(c.ack_watch.1) > ack_to {
                            let msg = format!(
                                "no acknowledgement for {} ms with data outstanding",
                                self.cfg.ack_timeout_ms
                            );
                            self.end_conn(id, Some(End::Violation("ack_timeout", msg)), now);
                            continue;
                        }
                    }
                    let mut dirty = false;
                    if now >= c.next_ping {
                        c.next_ping = now + hb_int;
                        if let Some(s) = self.sessions.get_mut(&key) {
                            let nonce = s.engine.queue_ping();
                            c.pings.push_back((nonce, now));
                            if c.pings.len() > 64 {
                                c.pings.pop_front();
                            }
                        }
                        dirty = true;
                    }
                    if c.deferred_at.is_some_and(|t| now >= t) {
                        c.flush_deferred = true;
                        dirty = true;
                    }
                    if now >= c.rekey_at {
                        dirty = true;
                    }
                    if dirty {
                        self.mark_dirty(id);
                    }
                }
                _ => {
                    let silent = matches!(c.role, Role::Server)
                        && !c.got_input
                        && now >= c.started.saturating_add(hello_to);
                    if silent {
                        self.handshake_failed(
                            id,
                            HandshakeFailure::new(
                                "HANDSHAKE_TIMEOUT",
                                "Inbound connection sent no ClientHello in time",
                            ),
                            now,
                        );
                    } else if now >= c.handshake_deadline {
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
        let keys: Vec<u64> = self.sessions.keys().copied().collect();
        for key in keys {
            let s = self.sessions.get_mut(&key).expect("exists");
            if s.engine.replays_unreported() && now >= s.next_replay_report {
                s.engine.report_replays();
                s.next_replay_report = now.saturating_add(ms(self.cfg.replay_report_interval_ms));
                self.pump(key);
            }
            let s = self.sessions.get_mut(&key).expect("exists");
            match s.state {
                State::Closing { deadline, .. } if now >= deadline => match s.conn {
                    Some(c) => self.mark_dirty(c),
                    None => {
                        let State::Closing { reason, .. } = s.state else {
                            unreachable!()
                        };
                        self.finish_close(key, reason, None);
                    }
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

    /// The earliest time (us) at which [`Node::handle_timeout`] has work, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        let hb_to = ms(self.cfg.heartbeat_timeout_ms);
        let mut best: Option<u64> = None;
        let mut at = |t: u64| best = Some(best.map_or(t, |b| b.min(t)));
        for c in self.conns.values() {
            match c.phase {
                Phase::Ended => {}
                Phase::Open(_) => {
                    at(c.last_rx.saturating_add(hb_to).saturating_add(1));
                    at(c.next_ping);
                    if c.ack_watch.1 != 0 {
                        at(c.ack_watch.1.saturating_add(ms(self.cfg.ack_timeout_ms)) + 1);
                    }
                    if let Some(d) = c.deferred_at {
                        at(d);
                    }
                    at(c.rekey_at);
                }
                _ => {
                    at(c.handshake_deadline);
                    if matches!(c.role, Role::Server) && !c.got_input {
                        at(c.started
                            .saturating_add(ms(self.cfg.client_hello_timeout_ms)));
                    }
                }
            }
        }
        for s in self.sessions.values() {
            if s.engine.replays_unreported() {
                at(s.next_replay_report);
            }
            match s.state {
                State::Closing { deadline, .. } => at(deadline),
                State::Disconnected { until } => {
                    at(until);
                    if let Some(r) = s.reconnect {
                        if !r.dialing {
                            at(r.at);
                        }
                    }
                }
                _ => {}
            }
        }
        best
    }

    // ----- the application's calls -----

    fn session(&self, key: u64) -> Result<&Session, NodeError> {
        self.sessions
            .get(&key)
            .ok_or_else(|| NodeError::Unknown(format!("Unknown session handle {key}")))
    }

    fn session_mut(&mut self, key: u64) -> Result<&mut Session, NodeError> {
        self.sessions
            .get_mut(&key)
            .ok_or_else(|| NodeError::Unknown(format!("Unknown session handle {key}")))
    }

    fn chan_err(s: &Session, ch: u32, e: SendError) -> NodeError {
        let kind = s.engine.kind(ch).unwrap_or("?");
        let sid = tls::hex(&s.id);
        let msg = match e {
            SendError::UnknownChannel => format!("Unknown channel {ch} in session {sid}"),
            SendError::ChannelClosed => format!("Channel {kind:?} of session {sid} is closed"),
            SendError::SessionClosed => format!("Session {sid} with peer {} is closed", s.peer_fp),
            SendError::TooLarge => format!("Message on channel {kind:?} exceeds max_message_bytes"),
            SendError::QueueFull => format!("Send queue of channel {kind:?} is full"),
            SendError::WouldBlock => {
                format!("Send queue of channel {kind:?} is full; wait for room")
            }
        };
        NodeError::Send(e, msg)
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
    ) -> Result<u32, NodeError> {
        let s = self.session_mut(key)?;
        if s.state == State::Closed {
            return Err(NodeError::SessionClosed(format!(
                "Session {} is closed",
                tls::hex(&s.id)
            )));
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
        r.map_err(|e| match e {
            OpenError::InvalidKind => {
                NodeError::Invalid(format!("Channel kind {kind:?} is not valid"))
            }
            OpenError::TooManyChannels => NodeError::TooManyChannels(format!(
                "Cannot open channel {kind:?}: max_channels reached"
            )),
            OpenError::SessionClosed => {
                NodeError::SessionClosed(format!("Session {sid} is closed"))
            }
        })
    }

    /// Queues a message (policy applied).
    pub fn send(&mut self, key: u64, ch: u32, data: &[u8]) -> Result<(), NodeError> {
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
    pub fn retry_send(&mut self, key: u64, ch: u32, data: &[u8]) -> Result<bool, NodeError> {
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
    pub fn block_timeout(&mut self, key: u64, ch: u32) -> Result<(), NodeError> {
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
    ) -> Result<(), NodeError> {
        let s = self.session_mut(key)?;
        if let Some(b) = receive_bytes {
            if b == 0 {
                return Err(NodeError::Invalid(
                    "A session receive budget must be at least 1 byte".into(),
                ));
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
    pub fn channel_held(&self, key: u64, ch: u32) -> Result<u64, NodeError> {
        Ok(self.session(key)?.engine.channel_held(ch))
    }

    /// Session `key`'s receive budget, the bytes it holds received and
    /// unread, and whether it is protected.
    pub fn budget(&self, key: u64) -> Result<(u64, u64, bool), NodeError> {
        let s = self.session(key)?;
        Ok((s.engine.recv_budget(), s.engine.recv_held(), s.protected))
    }

    /// Copies out received messages; see [`Engine::recv_into`].
    pub fn recv(&mut self, key: u64, ch: u32, out: &mut [u8]) -> Result<(usize, u64), NodeError> {
        let s = self.session_mut(key)?;
        let r = s
            .engine
            .recv_into(ch, out)
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
                    let c = self.conns.get_mut(&cid).expect("attached connection");
                    if c.deferred_at.is_none() {
                        c.deferred_at = Some(c.last_rx + DEFER_ACK_US);
                    }
                }
            }
        }
        r
    }

    /// Registers a flush; returns its operation id.
    pub fn flush(&mut self, key: u64, ch: u32) -> Result<u64, NodeError> {
        let op = self.key();
        let s = self.session_mut(key)?;
        s.engine
            .flush(ch, op)
            .map_err(|e| Self::chan_err(s, ch, e))?;
        self.pump(key);
        Ok(op)
    }

    /// Half-closes a channel.
    pub fn close_channel(&mut self, key: u64, ch: u32) -> Result<(), NodeError> {
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
    ) -> Result<(), NodeError> {
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
    pub fn release(&mut self, key: u64) -> Result<(), NodeError> {
        let s = self.session(key)?;
        if s.state != State::Closed {
            return Err(NodeError::Invalid(format!(
                "Session {} is not closed yet",
                tls::hex(&s.id)
            )));
        }
        self.sessions.remove(&key);
        Ok(())
    }

    /// Test hook: re-sends the last acknowledged frame of `kind`.
    fn check_test_hooks(&self) -> Result<(), NodeError> {
        if !self.cfg.test_hooks {
            return Err(NodeError::Invalid(
                "Test hooks are disabled (node config test_hooks is false)".into(),
            ));
        }
        Ok(())
    }

    /// Test hook: an attacker's raw frame, `repeat` times; `channel_kind`
    /// names one of our channels whose id replaces `f.channel`.
    pub fn inject_raw(
        &mut self,
        key: u64,
        mut f: Frame,
        channel_kind: Option<&str>,
        repeat: usize,
    ) -> Result<(), NodeError> {
        self.check_test_hooks()?;
        let s = self.session_mut(key)?;
        if let Some(kind) = channel_kind {
            f.channel = s
                .engine
                .channel_by_kind(kind)
                .ok_or_else(|| NodeError::Invalid(format!("No channel {kind:?}")))?;
        }
        s.engine.inject_raw(f, repeat);
        self.mark_session_dirty(key);
        Ok(())
    }

    /// Test hook: stop (or resume) writing ACKs on session `key`.
    pub fn inject_no_acks(&mut self, key: u64, on: bool) -> Result<(), NodeError> {
        self.check_test_hooks()?;
        self.session_mut(key)?.engine.test_no_acks = on;
        Ok(())
    }

    pub fn inject_replay(&mut self, key: u64, kind: &str) -> Result<(), NodeError> {
        self.check_test_hooks()?;
        let s = self.session_mut(key)?;
        if !s.engine.inject_replay(kind) {
            return Err(NodeError::Invalid(format!(
                "Channel {kind:?} has no acknowledged frame to replay"
            )));
        }
        self.mark_session_dirty(key);
        Ok(())
    }

    /// Session statistics: (stats, latency, reconnects, rekeys, state).
    pub fn session_stats(&self, key: u64) -> Result<(Stats, &Latency, u64, u64), NodeError> {
        let s = self.session(key)?;
        Ok((s.engine.total_stats(), &s.latency, s.reconnects, s.rekeys))
    }

    /// Channel statistics: (stats, kind, queue length, queue bytes).
    pub fn channel_stats(
        &self,
        key: u64,
        ch: u32,
    ) -> Result<(Stats, String, usize, usize), NodeError> {
        let s = self.session(key)?;
        let (st, ql, qb) = s
            .engine
            .channel_stats(ch)
            .ok_or_else(|| NodeError::Unknown(format!("Unknown channel {ch}")))?;
        Ok((st, s.engine.kind(ch).unwrap_or("").to_string(), ql, qb))
    }

    /// Node-wide metrics: (stats, latency, reconnects, rekeys,
    /// verification failures, live sessions, pending handshakes).
    /// Gauges of the limits against abuse, for tests and monitoring.
    pub fn gauges(&self) -> Gauges {
        let mut pending: HashMap<&str, u64> = HashMap::new();
        for p in &self.pending {
            if let Some(c) = self.conns.get(p) {
                *pending.entry(&c.addr).or_default() += 1;
            }
        }
        let mut by_addr: HashMap<&str, u64> = HashMap::new();
        let mut max_unacked = 0;
        let mut held = 0;
        for s in self.sessions.values() {
            if s.state == State::Closed {
                continue;
            }
            held += s.engine.recv_held();
            if !s.addr.is_empty() {
                *by_addr.entry(&s.addr).or_default() += 1;
            }
            max_unacked = max_unacked.max(s.engine.unacked_bytes().1);
        }
        Gauges {
            handshakes_shed: self.shed,
            max_pending_per_address: pending.values().copied().max().unwrap_or(0),
            max_sessions_per_address: by_addr.values().copied().max().unwrap_or(0),
            receive_bytes_outstanding: self.node_recv_outstanding(),
            receive_bytes_held: held,
            max_unacked_bytes: max_unacked,
            queued_events: self.events.len() as u64,
            events_dropped: self.events_dropped,
        }
    }

    pub fn metrics(&self) -> (Stats, Latency, u64, u64, u64, usize, usize) {
        let mut stats = Stats::default();
        let (mut reconnects, mut rekeys) = (0, 0);
        let mut lat = Latency::default();
        for s in self.sessions.values() {
            if s.state == State::Closed {
                continue;
            }
            stats.add(&s.engine.total_stats());
            reconnects += s.reconnects;
            rekeys += s.rekeys;
            lat.merge(&s.latency);
        }
        stats.add(&self.totals.stats);
        reconnects += self.totals.reconnects;
        rekeys += self.totals.rekeys;
        lat.merge(&self.totals.latency);
        (
            stats,
            lat,
            reconnects,
            rekeys,
            self.verification_failures,
            self.live,
            self.pending.len(),
        )
    }

    /// Ends every session at once (reason `shutdown`) and refuses new work.
    pub fn shutdown(&mut self) {
        self.shut_down = true;
        let keys: Vec<u64> = self.sessions.keys().copied().collect();
        for k in keys {
            self.finish_close(k, "shutdown", None);
        }
    }

    /// Number of connections (tests).
    pub fn conn_count(&self) -> usize {
        self.conns.len()
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

    /// Receive bytes granted and unread over the node's live sessions.
    pub fn node_recv_outstanding(&self) -> u64 {
        self.ecfg
            .node_recv
            .used
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}
