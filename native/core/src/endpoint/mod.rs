//! The endpoint: the handle tables of sessions and connections,
//! per-address admission, accepting and dialing, the event queue, and the
//! one timer table. Nothing here opens a socket, starts a thread or reads a
//! clock: the caller (the TypeScript driver) feeds received bytes with
//! [`Endpoint::conn_input`], drains bytes to write with
//! [`Endpoint::conn_transmit`], passes the time in (microseconds of its
//! monotonic clock) and calls [`Endpoint::handle_timeout`] at
//! [`Endpoint::next_deadline`]. Sessions and their handshake are
//! [`crate::session`].

mod admission;
mod io;
mod timeout;

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::codec::Prng;
use crate::config::{AllowPeers, Config};
use crate::conn::{Conn, HandshakeFailure};
use crate::engine::{EngineConfig, Stats};
use crate::error::EndpointError;
use crate::event::Event;
use crate::session::{Latency, Session, State};
use crate::timers::Timers;
use crate::tls::{self, AllowPolicy, Identity};

pub use admission::address_key;

/// Refused-handshake events are not queued beyond this backlog (they are
/// still counted), so a flood of bad connections cannot grow memory.
pub(crate) const MAX_DIAGNOSTIC_BACKLOG: usize = 4096;

/// Events queued for the driver at most, counting only those a peer can
/// cause at will (REPLAY, DROP, VERIFICATION_FAILURE); beyond it they are
/// counted (`events_dropped`), not queued. Lifecycle and I/O events are
/// never dropped: they are bounded by sessions, connections and channels,
/// and the driver drains the queue after every call.
pub const MAX_QUEUED_EVENTS: usize = 65_536;

/// Client TLS configurations kept (one per pinned peer fingerprint).
pub(crate) const MAX_CACHED_CLIENT_CONFIGS: usize = 64;

/// How long a deferred ACK or credit grant may wait for a frame to ride
/// along with before it is written on its own (us).
pub(crate) const DEFER_ACK_US: u64 = 2_000;

pub(crate) fn ms(v: u64) -> u64 {
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

#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) stats: Stats,
    pub(crate) reconnects: u64,
    pub(crate) rekeys: u64,
    pub(crate) latency: Latency,
}

/// Gauges of the limits against abuse ([`Endpoint::gauges`]).
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

/// An RTT endpoint (a node).
pub struct Endpoint {
    /// Configuration.
    pub cfg: Config,
    pub(crate) ecfg: EngineConfig,
    pub(crate) identity: Arc<Identity>,
    pub(crate) server_cfg: Arc<rustls::ServerConfig>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) sessions: KeyMap<u64, Session>,
    pub(crate) by_id: HashMap<[u8; 16], u64>,
    /// Boxed: a connection (rustls state included) is large, and the hot
    /// paths take it out of the table and put it back.
    pub(crate) conns: KeyMap<u32, Box<Conn>>,
    /// Inbound connections in their handshake, oldest first.
    pub(crate) pending: VecDeque<u32>,
    pub(crate) dirty: VecDeque<u32>,
    pub(crate) client_cfgs: HashMap<String, Arc<rustls::ClientConfig>>,
    pub(crate) next_key: u64,
    pub(crate) next_conn: u32,
    pub(crate) live: usize,
    pub(crate) totals: Totals,
    pub(crate) verification_failures: u64,
    /// Pending handshakes shed.
    pub(crate) shed: u64,
    /// Optional events not queued (queue at [`MAX_QUEUED_EVENTS`]).
    pub(crate) events_dropped: u64,
    pub(crate) shut_down: bool,
    /// Set by the FFI layer when the node's handle is freed.
    pub freed: bool,
    pub(crate) rng: Prng,
    /// Where session ids come from (seeded by `Config::id_seed`).
    pub(crate) ids: IdSource,
    /// Every deadline of every connection and session.
    pub(crate) timers: Timers,
}

/// Session ids: the first 16 bytes of SHA-256(seed || counter), so one seed
/// gives one sequence and the ids cannot be told from the seed's other uses.
pub(crate) struct IdSource {
    seed: [u8; 32],
    counter: u64,
}

impl IdSource {
    /// From `seed`, or from the system's random source when it is `None`.
    pub(crate) fn new(seed: Option<[u8; 32]>) -> IdSource {
        let seed = seed.unwrap_or_else(|| {
            let mut s = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut s)
                .expect("system randomness");
            s
        });
        IdSource { seed, counter: 0 }
    }

    /// The next 16-byte id.
    pub(crate) fn next_id(&mut self) -> [u8; 16] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.seed);
        ctx.update(&self.counter.to_le_bytes());
        self.counter += 1;
        let digest = ctx.finish();
        digest.as_ref()[..16].try_into().expect("16")
    }
}

impl Endpoint {
    /// Creates a node from its JSON configuration.
    pub fn create(cfg: Config) -> Result<Endpoint, EndpointError> {
        cfg.validate()?;
        let identity = Identity::from_pem(cfg.key_pem.as_bytes())?;
        let policy = match &cfg.allow_peers {
            AllowPeers::List(l) => AllowPolicy::List(l.clone()),
            AllowPeers::Word(_) => AllowPolicy::Any,
        };
        let server_cfg = tls::server_config(&identity, policy)?;
        let mut ids = IdSource::new(cfg.id_seed_bytes());
        let seed = u64::from_le_bytes(ids.next_id()[..8].try_into().expect("8"));
        Ok(Endpoint {
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
            ids,
            timers: Timers::default(),
        })
    }

    /// The node's own fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.identity.fingerprint
    }

    pub(crate) fn key(&mut self) -> u64 {
        let k = self.next_key;
        self.next_key += 1;
        k
    }

    pub(crate) fn conn_id(&mut self) -> u32 {
        loop {
            let id = self.next_conn;
            self.next_conn = self.next_conn.wrapping_add(1).max(1) & 0x7fff_ffff;
            if id != 0 && !self.conns.contains_key(&id) {
                return id;
            }
        }
    }

    pub(crate) fn check_running(&self) -> Result<(), EndpointError> {
        if self.shut_down {
            return Err(EndpointError::ShutDown);
        }
        Ok(())
    }

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

    pub(crate) fn emit(&mut self, e: Event) {
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

    pub(crate) fn diagnostic(&mut self, f: HandshakeFailure) {
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

    pub(crate) fn mark_dirty(&mut self, id: u32) {
        if let Some(c) = self.conns.get_mut(&id) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push_back(id);
            }
        }
    }

    pub(crate) fn mark_session_dirty(&mut self, key: u64) {
        if let Some(c) = self.sessions.get(&key).and_then(|s| s.conn) {
            self.mark_dirty(c);
        }
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

    /// Receive bytes granted and unread over the node's live sessions.
    pub fn node_recv_outstanding(&self) -> u64 {
        self.ecfg
            .node_recv
            .used
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod id_tests {
    use super::IdSource;

    #[test]
    fn one_seed_gives_one_sequence_of_distinct_ids() {
        let (mut a, mut b) = (IdSource::new(Some([7; 32])), IdSource::new(Some([7; 32])));
        let ids: Vec<[u8; 16]> = (0..4).map(|_| a.next_id()).collect();
        assert_eq!(ids, (0..4).map(|_| b.next_id()).collect::<Vec<_>>());
        assert!(ids.windows(2).all(|w| w[0] != w[1]));
        assert_ne!(IdSource::new(Some([8; 32])).next_id(), ids[0]);
        assert_ne!(IdSource::new(None).next_id(), IdSource::new(None).next_id());
    }
}
