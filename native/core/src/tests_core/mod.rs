//! Core tests: nodes wired together in memory, deterministically (time is a
//! number the test advances; bytes move only when the test moves them).

use std::collections::HashMap;

use crate::config::Config;
use crate::endpoint::Endpoint;
use crate::event::Event;
use crate::tls::test_keys::random_pem;

fn make_node(extra: serde_json::Value) -> Endpoint {
    let mut cfg = serde_json::json!({"key_pem": random_pem(), "test_hooks": true});
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    let cfg: Config = serde_json::from_value(cfg).unwrap();
    Endpoint::create(cfg).unwrap()
}

/// Two nodes and the links between their connections.
struct Net {
    nodes: Vec<Endpoint>,
    /// (node, conn) -> (other node, other conn); absent once cut.
    links: HashMap<(usize, u32), (usize, u32)>,
    events: Vec<Vec<Event>>,
    now: u64,
    /// Sessions that asked to dial, per node.
    dials: Vec<(usize, u64)>,
    /// A node whose output is dropped (a peer that reads and never answers).
    muted: Option<usize>,
    /// Nodes whose output is kept in `in_flight` instead of delivered (a
    /// slow link), until [`Net::release`].
    held: Vec<usize>,
    /// Held output, in the order it was written: (node, conn, bytes).
    in_flight: Vec<(usize, u32, Vec<u8>)>,
}

impl Net {
    fn new(a: serde_json::Value, b: serde_json::Value) -> Self {
        Net {
            nodes: vec![make_node(a), make_node(b)],
            links: HashMap::new(),
            events: vec![Vec::new(), Vec::new()],
            now: 1_000_000,
            dials: Vec::new(),
            muted: None,
            held: Vec::new(),
            in_flight: Vec::new(),
        }
    }

    fn fp(&self, i: usize) -> String {
        self.nodes[i].fingerprint().to_string()
    }

    /// Adds a node; returns its index.
    fn add(&mut self, cfg: serde_json::Value) -> usize {
        self.nodes.push(make_node(cfg));
        self.events.push(Vec::new());
        self.nodes.len() - 1
    }

    /// Node `from` connects to node `to`; returns the client's conn id.
    fn connect(&mut self, from: usize, to: usize, fp: &str) -> u32 {
        self.connect_from(from, to, fp, "")
    }

    /// [`Net::connect`] with the remote address node `to` sees.
    fn connect_from(&mut self, from: usize, to: usize, fp: &str, addr: &str) -> u32 {
        let c = self.nodes[from].conn_connect(fp, 0, self.now).unwrap();
        let s = self.nodes[to].conn_accept_from(self.now, addr).unwrap();
        self.links.insert((from, c), (to, s));
        self.links.insert((to, s), (from, c));
        c
    }

    /// Cuts the link of node `i`'s conn `c` (both sockets report an end).
    fn cut(&mut self, i: usize, c: u32) {
        if let Some((j, d)) = self.links.remove(&(i, c)) {
            self.links.remove(&(j, d));
            let now = self.now;
            let _ = self.nodes[i].conn_closed(c, now);
            let _ = self.nodes[j].conn_closed(d, now);
        }
    }

    /// Moves bytes and handles driver events until nothing changes.
    fn run(&mut self) {
        let mut buf = vec![0u8; 64 * 1024];
        for _ in 0..10_000 {
            let mut progress = false;
            for i in 0..self.nodes.len() {
                loop {
                    let c = self.nodes[i].next_transmit();
                    if c == 0 {
                        break;
                    }
                    loop {
                        let n = self.nodes[i].conn_transmit(c, &mut buf, self.now).unwrap();
                        if n == 0 {
                            break;
                        }
                        progress = true;
                        if self.muted == Some(i) {
                            continue;
                        }
                        if self.held.contains(&i) {
                            self.in_flight.push((i, c, buf[..n].to_vec()));
                            continue;
                        }
                        if let Some(&(j, d)) = self.links.get(&(i, c)) {
                            let now = self.now;
                            let _ = self.nodes[j].conn_input(d, &mut buf[..n], now);
                        }
                    }
                }
                while let Some(e) = self.nodes[i].pop_event() {
                    progress = true;
                    match e {
                        Event::CloseConn { conn } => {
                            if self.links.contains_key(&(i, conn)) {
                                self.cut(i, conn);
                            } else {
                                let _ = self.nodes[i].conn_closed(conn, self.now);
                            }
                        }
                        Event::Dial { session } => self.dials.push((i, session)),
                        e => self.events[i].push(e),
                    }
                }
            }
            if !progress {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// Stops holding node `i`'s output and delivers what was held, in order.
    fn release(&mut self, i: usize) {
        self.held.retain(|&h| h != i);
        let now = self.now;
        let (mine, others) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition::<Vec<_>, _>(|f| f.0 == i);
        self.in_flight = others;
        for (_, c, mut bytes) in mine {
            if let Some(&(j, d)) = self.links.get(&(i, c)) {
                let _ = self.nodes[j].conn_input(d, &mut bytes, now);
            }
        }
        self.run();
    }

    /// Advances time by `ms`, in steps, running timers and traffic.
    fn advance(&mut self, ms: u64) {
        let end = self.now + ms * 1000;
        while self.now < end {
            let next = self.nodes.iter().filter_map(|n| n.next_deadline()).min();
            self.now = next.map_or(end, |t| t.clamp(self.now + 1, end));
            for n in &mut self.nodes {
                n.handle_timeout(self.now);
            }
            self.run();
        }
    }

    fn session_of(&self, i: usize) -> u64 {
        self.events[i]
            .iter()
            .find_map(|e| match e {
                Event::Accepted { session, .. } | Event::Connected { session, .. } => {
                    Some(*session)
                }
                _ => None,
            })
            .expect("a session")
    }

    fn recv_all(&mut self, i: usize, s: u64, ch: u32) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let (n, _) = self.nodes[i].recv(s, ch, &mut buf).unwrap_or((0, 0));
            if n == 0 {
                return out;
            }
            let mut at = 0;
            while at < n {
                let len = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
                out.push(buf[at + 4..at + 4 + len].to_vec());
                at += 4 + len;
            }
        }
    }

    fn closes(&self, i: usize) -> Vec<&'static str> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::SessionClose { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }
}

fn pair(a: serde_json::Value, b: serde_json::Value) -> (Net, u64, u64, u32) {
    let mut net = Net::new(a, b);
    let fp = net.fp(1);
    let c = net.connect(0, 1, &fp);
    net.run();
    let (s0, s1) = (net.session_of(0), net.session_of(1));
    (net, s0, s1, c)
}

/// Node 0 connects to node 1 and must see `ConnectFailed` with `code`.
fn assert_connect_fails(net: &mut Net, code: &str) {
    let fp = net.fp(1);
    net.connect(0, 1, &fp);
    net.run();
    assert!(
        net.events[0]
            .iter()
            .any(|e| matches!(e, Event::ConnectFailed { code: c, .. } if *c == code)),
        "expected ConnectFailed {code}"
    );
}

fn none() -> serde_json::Value {
    serde_json::json!({})
}

#[test]
fn handshake_data_flush_and_graceful_close() {
    let (mut net, s0, s1, _) = pair(none(), none());
    assert!(net.events[0]
        .iter()
        .any(|e| matches!(e, Event::Connected { peer, .. } if *peer == net.fp(1))));
    assert!(net.events[1]
        .iter()
        .any(|e| matches!(e, Event::Accepted { peer, .. } if *peer == net.fp(0))));
    let a = net.nodes[0]
        .open_channel(s0, "state", None, None, None, 1)
        .unwrap();
    for i in 0..100u32 {
        net.nodes[0].send(s0, a, &i.to_le_bytes()).unwrap();
    }
    let op = net.nodes[0].flush(s0, a).unwrap();
    net.run();
    let b = net.nodes[1]
        .open_channel(s1, "state", None, None, None, 1)
        .unwrap();
    // Until the open, only the small window of an unopened channel crossed.
    net.run();
    let got = net.recv_all(1, s1, b);
    assert_eq!(got.len(), 100);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, m)| m == &(i as u32).to_le_bytes()));
    net.advance(5);
    assert!(net.events[0]
        .iter()
        .any(|e| matches!(e, Event::Flushed { op: o, .. } if *o == op)));
    net.nodes[0]
        .close_session(s0, 1000, "manual", net.now)
        .unwrap();
    net.run();
    assert_eq!(net.closes(0), vec!["manual"]);
    assert_eq!(net.closes(1), vec!["peer_closed"]);
    assert_eq!(net.nodes[0].conn_count() + net.nodes[1].conn_count(), 0);
    // Nothing left to wake up for: the one timer table holds no stale entry.
    assert!(net.nodes[0].timers.is_empty() && net.nodes[1].timers.is_empty());
    assert_eq!(net.nodes[0].next_deadline(), None);
}

#[test]
fn two_nodes_agree_on_the_first_preferred_cipher_suite() {
    let (net, _, _, c) = pair(none(), none());
    let suite = |node: usize, id: u32| net.nodes[node].conns[&id].negotiated_cipher_suite();
    let (_, s) = net.links[&(0, c)];
    let want = rustls::CipherSuite::TLS13_AES_128_GCM_SHA256;
    assert_eq!(suite(0, c), Some(want));
    assert_eq!(suite(1, s), Some(want));
    assert_eq!(crate::tls::CIPHER_SUITES[0].suite(), want);
}

#[test]
fn a_wrong_pin_fails_with_fingerprint_mismatch() {
    let mut net = Net::new(none(), none());
    let wrong = "ab".repeat(32);
    let c = net.connect(0, 1, &wrong);
    net.run();
    assert!(net.events[0].iter().any(
        |e| matches!(e, Event::ConnectFailed { conn, code: "FINGERPRINT_MISMATCH", .. } if *conn == c)
    ));
    assert!(net.events[1]
        .iter()
        .any(|e| matches!(e, Event::VerificationFailure { .. })));
    assert_eq!(net.nodes[0].metrics().4, 1, "counted on the client");
}

#[test]
fn an_allow_list_miss_is_peer_not_allowed() {
    let mut net = Net::new(
        none(),
        serde_json::json!({"allow_peers": ["cd".repeat(32)]}),
    );
    assert_connect_fails(&mut net, "PEER_NOT_ALLOWED");
}

#[test]
fn a_cut_connection_resumes_and_loses_nothing() {
    let (mut net, s0, s1, c) = pair(none(), none());
    let a = net.nodes[0]
        .open_channel(s0, "state", None, None, None, 1)
        .unwrap();
    let b = net.nodes[1]
        .open_channel(s1, "state", None, None, None, 1)
        .unwrap();
    for i in 0..50u32 {
        net.nodes[0].send(s0, a, &i.to_le_bytes()).unwrap();
    }
    // Cut before anything moves: every message must come through the resumed connection.
    net.cut(0, c);
    net.run();
    assert!(net.events[0]
        .iter()
        .any(|e| matches!(e, Event::ConnectionLost { .. })));
    for i in 50..100u32 {
        net.nodes[0].send(s0, a, &i.to_le_bytes()).unwrap();
    }
    // The driver dials when asked.
    for _ in 0..100 {
        net.advance(10);
        if let Some((i, s)) = net.dials.pop() {
            let fp = net.fp(1);
            let _ = fp;
            let cc = net.nodes[i].conn_resume(s, net.now).unwrap();
            let sc = net.nodes[1].conn_accept(net.now).unwrap();
            net.links.insert((0, cc), (1, sc));
            net.links.insert((1, sc), (0, cc));
            net.run();
            break;
        }
    }
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        Event::SessionOpen {
            resumed: true,
            reconnects: 1,
            ..
        }
    )));
    let got = net.recv_all(1, s1, b);
    assert_eq!(got.len(), 100, "exactly once");
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, m)| m == &(i as u32).to_le_bytes()));
}

#[test]
fn heartbeat_timeout_without_resumption_closes_the_session() {
    let (mut net, _, _, c) = pair(
        serde_json::json!({"resume_window_ms": 0, "heartbeat_interval_ms": 50, "heartbeat_timeout_ms": 200}),
        serde_json::json!({"resume_window_ms": 0}),
    );
    // Stall: keep the link but stop delivering (remove it without telling either side).
    let other = net.links.remove(&(0, c)).unwrap();
    net.links.remove(&other);
    net.advance(400);
    let i = net.events[0]
        .iter()
        .position(|e| matches!(e, Event::HeartbeatTimeout { .. }))
        .expect("heartbeat_timeout");
    assert!(net.events[0][i..].iter().any(|e| matches!(
        e,
        Event::SessionClose {
            reason: "heartbeat_timeout",
            ..
        }
    )));
}

#[test]
fn a_fresh_session_replaces_the_disconnected_one_of_the_same_peer() {
    let (mut net, _, s1, c) = pair(none(), none());
    net.cut(0, c);
    net.run();
    assert_eq!(net.nodes[1].state_name(s1), Some("disconnected"));
    let fp = net.fp(1);
    net.connect(0, 1, &fp);
    net.run();
    assert!(net.events[1].iter().any(
        |e| matches!(e, Event::SessionClose { session, reason: "replaced", .. } if *session == s1)
    ));
}

#[test]
fn a_full_session_table_refuses_with_too_many_handshakes() {
    let (mut net, _, _, _) = pair(none(), serde_json::json!({"max_sessions": 1}));
    // A second client identity: a fresh node connecting to node 1.
    net.nodes[0] = make_node(none());
    assert_connect_fails(&mut net, "TOO_MANY_HANDSHAKES");
}

#[test]
fn pending_handshakes_beyond_the_limit_shed_one() {
    let mut net = Net::new(none(), serde_json::json!({"max_pending_handshakes": 2}));
    for _ in 0..3 {
        net.nodes[1].conn_accept(net.now).unwrap();
    }
    net.run();
    assert_eq!(net.nodes[1].metrics().6, 2);
    assert!(net.events[1].iter().any(|e| matches!(
        e,
        Event::VerificationFailure {
            code: "TOO_MANY_HANDSHAKES",
            ..
        }
    )));
}

#[test]
fn a_silent_inbound_connection_times_out() {
    let mut net = Net::new(none(), serde_json::json!({"handshake_timeout_ms": 100}));
    net.nodes[1].conn_accept(net.now).unwrap();
    net.advance(150);
    assert!(net.events[1].iter().any(|e| matches!(
        e,
        Event::VerificationFailure {
            code: "HANDSHAKE_TIMEOUT",
            ..
        }
    )));
    assert_eq!(net.nodes[1].conn_count(), 0);
}

#[test]
fn rekey_after_bytes_is_counted_and_delivery_goes_on() {
    let (mut net, s0, s1, _) = pair(serde_json::json!({"rekey_after_bytes": 4096}), none());
    let a = net.nodes[0]
        .open_channel(s0, "knowledge", None, None, None, 2)
        .unwrap();
    let b = net.nodes[1]
        .open_channel(s1, "knowledge", None, None, None, 2)
        .unwrap();
    for _ in 0..20 {
        net.nodes[0].send(s0, a, &[7u8; 2000]).unwrap();
        net.run();
    }
    assert!(net.events[0]
        .iter()
        .any(|e| matches!(e, Event::Rekey { .. })));
    assert_eq!(net.recv_all(1, s1, b).len(), 20);
}

#[test]
fn a_replayed_frame_is_dropped_and_reported() {
    let (mut net, s0, s1, _) = pair(none(), none());
    let a = net.nodes[0]
        .open_channel(s0, "state", None, None, None, 1)
        .unwrap();
    let b = net.nodes[1]
        .open_channel(s1, "state", None, None, None, 1)
        .unwrap();
    net.nodes[0].send(s0, a, b"x").unwrap();
    net.run();
    net.advance(5);
    net.nodes[0].inject_replay(s0, "state").unwrap();
    net.run();
    assert!(net.events[1]
        .iter()
        .any(|e| matches!(e, Event::Replay { .. })));
    assert_eq!(net.recv_all(1, s1, b), vec![b"x".to_vec()]);
    assert_eq!(net.nodes[1].state_name(s1), Some("open"));
}

/// A pair with a "state" channel open on both sides and one message delivered
/// and acknowledged, so node 0 can replay it.
fn replay_pair(b_cfg: serde_json::Value) -> (Net, u64, u64) {
    let (mut net, s0, s1, _) = pair(none(), b_cfg);
    let a = net.nodes[0]
        .open_channel(s0, "state", None, None, None, 1)
        .unwrap();
    let b = net.nodes[1]
        .open_channel(s1, "state", None, None, None, 1)
        .unwrap();
    net.nodes[0].send(s0, a, b"x").unwrap();
    net.run();
    net.advance(5);
    assert_eq!(net.recv_all(1, s1, b), vec![b"x".to_vec()]);
    (net, s0, s1)
}

fn replay_events(net: &Net) -> Vec<(u64, u64)> {
    net.events[1]
        .iter()
        .filter_map(|e| match e {
            Event::Replay { seq, count, .. } => Some((*seq, *count)),
            _ => None,
        })
        .collect()
}

#[test]
fn replays_are_coalesced_into_one_event_per_channel_per_interval() {
    let (mut net, s0, s1) = replay_pair(serde_json::json!({"replay_report_interval_ms": 1000}));
    for _ in 0..40 {
        net.nodes[0].inject_replay(s0, "state").unwrap();
        net.run();
    }
    // The first is reported at once, the other 39 wait for the interval.
    assert_eq!(replay_events(&net), vec![(1, 1)]);
    net.advance(1000);
    assert_eq!(replay_events(&net), vec![(1, 1), (1, 39)]);
    assert_eq!(net.nodes[1].state_name(s1), Some("open"));
}

#[test]
fn a_replay_flood_closes_the_session_with_replay_flood() {
    let (mut net, s0, s1) = replay_pair(serde_json::json!({"replay_flood_limit": 5}));
    for _ in 0..5 {
        net.nodes[0].inject_replay(s0, "state").unwrap();
        net.run();
    }
    assert_eq!(
        net.nodes[1].state_name(s1),
        Some("open"),
        "5 is within the limit"
    );
    net.nodes[0].inject_replay(s0, "state").unwrap();
    net.run();
    assert!(net.events[1].iter().any(|e| matches!(
        e,
        Event::SessionClose { session, reason: "replay_flood", .. } if *session == s1
    )));
    let total: u64 = replay_events(&net).iter().map(|r| r.1).sum();
    assert_eq!(total, 6, "every replay is reported before the close");
}

#[test]
fn replays_in_separate_windows_do_not_add_up() {
    let (mut net, s0, s1) = replay_pair(serde_json::json!({
        "replay_flood_limit": 5, "replay_flood_window_ms": 2000
    }));
    for round in 0..3 {
        for _ in 0..5 {
            net.nodes[0].inject_replay(s0, "state").unwrap();
            net.run();
        }
        assert_eq!(net.nodes[1].state_name(s1), Some("open"), "round {round}");
        net.advance(2001);
    }
}

mod ack;
mod limits;
