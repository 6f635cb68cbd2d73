//! Core tests: nodes wired together in memory, deterministically (time is a
//! number the test advances; bytes move only when the test moves them).

use std::collections::HashMap;

use crate::node::{Event, Node};
use crate::tls::test_keys::random_pem;

fn make_node(extra: serde_json::Value) -> Node {
    let mut cfg = serde_json::json!({"key_pem": random_pem(), "test_hooks": true});
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    Node::create(cfg.to_string().as_bytes()).unwrap()
}

/// Two nodes and the links between their connections.
struct Net {
    nodes: Vec<Node>,
    /// (node, conn) -> (other node, other conn); absent once cut.
    links: HashMap<(usize, u32), (usize, u32)>,
    events: Vec<Vec<Event>>,
    now: u64,
    /// Sessions that asked to dial, per node.
    dials: Vec<(usize, u64)>,
    /// A node whose output is dropped (a peer that reads and never answers).
    muted: Option<usize>,
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
                        if let Some(&(j, d)) = self.links.get(&(i, c)) {
                            let now = self.now;
                            let _ = self.nodes[j].conn_input(d, &buf[..n], now);
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

#[test]
fn a_peer_that_stops_acknowledging_is_dead_after_the_ack_timeout() {
    // Heartbeats are answered by node 0 itself here (node 1's pongs are lost
    // too), so the heartbeat timeout is set far beyond the ACK timeout.
    let slow_hb = serde_json::json!({"heartbeat_timeout_ms": 1_000_000, "ack_timeout_ms": 3000});
    let (mut net, s0, s1, _) = pair(slow_hb.clone(), slow_hb);
    let a = net.nodes[0]
        .open_channel(s0, "state", None, None, None, 1)
        .unwrap();
    net.nodes[1]
        .open_channel(s1, "state", None, None, None, 1)
        .unwrap();
    net.run();
    net.muted = Some(1);
    net.nodes[0].send(s0, a, b"never acknowledged").unwrap();
    net.run();
    net.advance(2500);
    assert_eq!(
        net.nodes[0].state_name(s0),
        Some("open"),
        "within the timeout"
    );
    net.advance(2000);
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        Event::SessionClose { session, reason: "ack_timeout", .. } if *session == s0
    )));
}

#[test]
fn acknowledged_traffic_never_meets_the_ack_timeout() {
    let cfg = serde_json::json!({"ack_timeout_ms": 50});
    let (mut net, s0, s1, _) = pair(cfg.clone(), cfg);
    let a = net.nodes[0]
        .open_channel(s0, "state", None, None, None, 1)
        .unwrap();
    let b = net.nodes[1]
        .open_channel(s1, "state", None, None, None, 1)
        .unwrap();
    for i in 0..20u8 {
        net.nodes[0].send(s0, a, &[i; 100]).unwrap();
        net.advance(30);
    }
    assert_eq!(net.recv_all(1, s1, b).len(), 20);
    net.advance(500);
    assert_eq!(net.nodes[0].state_name(s0), Some("open"));
}

#[test]
fn a_channel_nobody_opened_gets_only_the_small_window() {
    let (mut net, s0, s1, _) = pair(
        none(),
        serde_json::json!({"unopened_window_bytes": 4096, "unopened_window_msgs": 1000}),
    );
    let a = net.nodes[0]
        .open_channel(s0, "knowledge", None, None, None, 2)
        .unwrap();
    for _ in 0..20 {
        net.nodes[0].send(s0, a, &[1u8; 1000]).unwrap();
    }
    net.run();
    let before = net.nodes[1].session_recv_outstanding(s1).unwrap();
    assert_eq!(before, 4096, "the unopened window, not the full one");
    let b = net.nodes[1]
        .open_channel(s1, "knowledge", None, None, None, 2)
        .unwrap();
    net.run();
    assert_eq!(
        net.recv_all(1, s1, b).len(),
        20,
        "opening grants the full window"
    );
}

#[test]
fn the_session_and_node_receive_budgets_bound_what_peers_may_send_unread() {
    // One channel's window is max(max_message, max_queue_bytes) = 64 KiB here.
    let cfg = serde_json::json!({
        "max_message_bytes": 65536, "max_queue_bytes": 65536, "unopened_window_bytes": 65536,
        "max_session_receive_bytes": 100_000, "max_node_receive_bytes": 150_000
    });
    let (mut net, s0, s1, _) = pair(none(), cfg);
    for k in ["c1", "c2", "c3"] {
        let a = net.nodes[0]
            .open_channel(s0, k, None, None, None, 2)
            .unwrap();
        for _ in 0..100 {
            net.nodes[0].send(s0, a, &[1u8; 1000]).unwrap();
        }
    }
    net.run();
    let granted = net.nodes[1].session_recv_outstanding(s1).unwrap();
    assert!((99_000..=100_000).contains(&granted), "{granted}");
    let mut read = 0;
    for k in ["c1", "c2", "c3"] {
        let b = net.nodes[1]
            .open_channel(s1, k, None, None, None, 2)
            .unwrap();
        for _ in 0..40 {
            net.advance(3); // deferred grants go out after 2 ms
            read += net.recv_all(1, s1, b).len();
            assert!(net.nodes[1].session_recv_outstanding(s1).unwrap() <= 100_000);
        }
    }
    assert_eq!(read, 300, "reading frees the budget: everything arrives");
}

#[test]
fn the_node_receive_budget_bounds_every_session_and_comes_back_when_a_session_ends() {
    let cfg = serde_json::json!({
        "max_message_bytes": 65536, "max_queue_bytes": 65536, "unopened_window_bytes": 65536,
        "max_session_receive_bytes": 1_000_000, "max_node_receive_bytes": 80_000
    });
    let (mut net, s0, s1, _) = pair(none(), cfg);
    for k in ["c1", "c2"] {
        let a = net.nodes[0]
            .open_channel(s0, k, None, None, None, 2)
            .unwrap();
        for _ in 0..100 {
            net.nodes[0].send(s0, a, &[1u8; 1000]).unwrap();
        }
    }
    net.run();
    assert_eq!(net.nodes[1].node_recv_outstanding(), 80_000);
    net.nodes[1]
        .close_session(s1, 0, "manual", net.now)
        .unwrap();
    net.advance(100);
    assert_eq!(net.nodes[1].state_name(s1), Some("closed"));
    assert_eq!(net.nodes[1].node_recv_outstanding(), 0);
}

fn closes(net: &Net, i: usize, reason: &str) -> usize {
    net.events[i]
        .iter()
        .filter(|e| matches!(e, Event::SessionClose { reason: r, .. } if *r == reason))
        .count()
}

fn connect_failures(net: &Net, i: usize, code: &str) -> usize {
    net.events[i]
        .iter()
        .filter(|e| matches!(e, Event::ConnectFailed { code: c, .. } if *c == code))
        .count()
}

#[test]
fn sessions_per_peer_and_per_address_are_limited_with_a_typed_reject() {
    let (mut net, _, _, _) = pair(
        none(),
        serde_json::json!({"max_sessions_per_peer": 2, "max_sessions_per_address": 3}),
    );
    let fp1 = net.fp(1);
    net.connect(0, 1, &fp1);
    net.run();
    net.connect(0, 1, &fp1);
    net.run();
    assert_eq!(
        connect_failures(&net, 0, "TOO_MANY_SESSIONS"),
        1,
        "third of one peer"
    );
    // Per address: three peers from 10.0.0.9 fit, the fourth does not.
    let mut refused = 0;
    for _ in 0..4 {
        let k = net.add(none());
        net.connect_from(k, 1, &fp1, "10.0.0.9");
        net.run();
        refused += connect_failures(&net, k, "TOO_MANY_SESSIONS");
    }
    assert_eq!(refused, 1);
    assert_eq!(net.nodes[1].sessions_from("10.0.0.9"), 3);
    assert_eq!(net.nodes[1].gauges().max_sessions_per_address, 3);
    // Another address is not affected.
    let k = net.add(none());
    net.connect_from(k, 1, &fp1, "10.0.0.10");
    net.run();
    assert_eq!(net.nodes[1].sessions_from("10.0.0.10"), 1);
}

#[test]
fn a_full_table_evicts_a_disconnected_session_before_refusing() {
    let (mut net, _, _, c) = pair(none(), serde_json::json!({"max_sessions": 2}));
    let fp1 = net.fp(1);
    let k = net.add(none());
    net.connect(k, 1, &fp1);
    net.run();
    // Node 0's session drops (resumable on node 1); node 0 does not redial.
    net.cut(0, c);
    net.run();
    assert_eq!(
        net.nodes[1].metrics().5,
        2,
        "full, one of them disconnected"
    );
    let j = net.add(none());
    net.connect(j, 1, &fp1);
    net.run();
    assert_eq!(closes(&net, 1, "evicted"), 1);
    assert!(net.events[j]
        .iter()
        .any(|e| matches!(e, Event::Connected { .. })));
    // Full of live sessions: refused with the full table's code.
    let l = net.add(none());
    net.connect(l, 1, &fp1);
    net.run();
    assert_eq!(connect_failures(&net, l, "TOO_MANY_HANDSHAKES"), 1);
}

#[test]
fn a_flood_from_one_address_sheds_its_own_idle_handshakes_not_a_slow_legitimate_one() {
    let mut net = Net::new(
        none(),
        serde_json::json!({
            "max_pending_handshakes": 8, "max_pending_handshakes_per_address": 4
        }),
    );
    let fp1 = net.fp(1);
    // A legitimate client from another address starts its handshake and is slow.
    let legit = net.nodes[0].conn_connect(&fp1, 0, net.now).unwrap();
    let server_side = net.nodes[1].conn_accept_from(net.now, "10.0.0.1").unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let n = net.nodes[0]
        .conn_transmit(legit, &mut buf, net.now)
        .unwrap();
    net.nodes[1]
        .conn_input(server_side, &buf[..n], net.now)
        .unwrap();
    // 100 bare connects (no byte) from the attacker's address.
    for _ in 0..100 {
        net.nodes[1].conn_accept_from(net.now, "10.0.0.66").unwrap();
        assert!(net.nodes[1].pending_from("10.0.0.66") <= 4);
    }
    let g = net.nodes[1].gauges();
    assert_eq!(g.max_pending_per_address, 4);
    assert!(g.handshakes_shed >= 96);
    // The slow one is still pending and completes.
    net.links.insert((0, legit), (1, server_side));
    net.links.insert((1, server_side), (0, legit));
    net.run();
    assert!(net.events[0]
        .iter()
        .any(|e| matches!(e, Event::Connected { .. })));
}

#[test]
fn a_connection_that_sends_no_client_hello_meets_its_own_short_deadline() {
    let mut net = Net::new(
        none(),
        serde_json::json!({
            "client_hello_timeout_ms": 100, "handshake_timeout_ms": 10_000
        }),
    );
    net.nodes[1].conn_accept_from(net.now, "10.0.0.66").unwrap();
    assert_eq!(net.nodes[1].metrics().6, 1);
    net.advance(99);
    assert_eq!(net.nodes[1].metrics().6, 1, "not before its deadline");
    net.advance(5);
    assert_eq!(net.nodes[1].metrics().6, 0);
    assert!(net.events[1].iter().any(|e| matches!(
        e,
        Event::VerificationFailure { code: "HANDSHAKE_TIMEOUT", message, .. } if message.contains("ClientHello")
    )));
}

#[test]
fn a_resume_with_another_key_is_refused_and_the_real_session_keeps_working() {
    let (mut net, s0, s1, _) = pair(none(), none());
    let fp1 = net.fp(1);
    let victim_id = net.nodes[0].test_session_id(s0, None);
    // An attacker with its own key and its own session to node 1...
    let k = net.add(none());
    let c = net.connect(k, 1, &fp1);
    net.run();
    let sk = net.session_of(k);
    net.cut(k, c);
    net.run();
    // ...resumes with the victim's session id.
    net.nodes[k].test_session_id(sk, Some(victim_id));
    let d = net.nodes[k].conn_resume(sk, net.now).unwrap();
    let e = net.nodes[1].conn_accept(net.now).unwrap();
    net.links.insert((k, d), (1, e));
    net.links.insert((1, e), (k, d));
    net.run();
    assert!(net.events[1].iter().any(|e| matches!(
        e,
        Event::VerificationFailure {
            code: "FINGERPRINT_MISMATCH",
            ..
        }
    )));
    assert_eq!(net.nodes[1].state_name(s1), Some("open"));
    let a = net.nodes[0]
        .open_channel(s0, "state", None, None, None, 1)
        .unwrap();
    let b = net.nodes[1]
        .open_channel(s1, "state", None, None, None, 1)
        .unwrap();
    net.nodes[0].send(s0, a, b"still mine").unwrap();
    net.run();
    assert_eq!(net.recv_all(1, s1, b), vec![b"still mine".to_vec()]);
}

#[test]
fn the_event_queue_is_bounded_but_never_drops_a_lifecycle_event() {
    let (mut net, _, s1, _) = pair(none(), none());
    let n = crate::node::MAX_QUEUED_EVENTS + 1000;
    net.nodes[1].test_emit_replays(s1, n);
    let g = net.nodes[1].gauges();
    assert_eq!(g.queued_events, crate::node::MAX_QUEUED_EVENTS as u64);
    assert_eq!(g.events_dropped, 1000);
    net.nodes[1]
        .close_session(s1, 0, "manual", net.now)
        .unwrap();
    net.advance(10);
    assert!(net.events[1].iter().any(|e| matches!(
        e,
        Event::SessionClose {
            reason: "manual",
            ..
        }
    )));
}

#[test]
#[ignore = "timing, run by hand: cargo test --release -- --ignored --nocapture"]
fn round_trip_cost_of_the_core() {
    let (mut net, s0, s1, _) = pair(none(), none());
    let a = net.nodes[0]
        .open_channel(s0, "bench", None, None, None, 2)
        .unwrap();
    let b = net.nodes[1]
        .open_channel(s1, "bench", None, None, None, 2)
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = 20_000;
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        net.nodes[0].send(s0, a, &[7u8; 64]).unwrap();
        net.run();
        let (k, _) = net.nodes[1].recv(s1, b, &mut buf).unwrap();
        assert_eq!(k, 68);
        net.nodes[1].send(s1, b, &[8u8; 64]).unwrap();
        net.run();
        let (k, _) = net.nodes[0].recv(s0, a, &mut buf).unwrap();
        assert_eq!(k, 68);
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("core round trip: {us:.2} us");
}

/// A pair whose node 1 set session budget `budget` before any channel
/// was declared (credit granted before is not taken back), and reads only
/// when the test says so.
fn budget_pair(budget: u64) -> (Net, u64, u64, u32, u32) {
    let (mut net, s0, s1, _) = pair(none(), none());
    net.nodes[1].set_budget(s1, Some(budget), None).unwrap();
    let a = net.nodes[0]
        .open_channel(s0, "knowledge", None, None, None, 2)
        .unwrap();
    let b = net.nodes[1]
        .open_channel(s1, "knowledge", None, None, None, 2)
        .unwrap();
    // Two idle channels that hold unused credit, as an agent's do.
    for k in ["control", "state"] {
        net.nodes[0]
            .open_channel(s0, k, None, None, None, 0)
            .unwrap();
        net.nodes[1]
            .open_channel(s1, k, None, None, None, 0)
            .unwrap();
    }
    net.run();
    (net, s0, s1, a, b)
}

#[test]
fn a_session_budget_stops_a_sender_through_credit_and_reading_resumes_it() {
    let (mut net, s0, s1, a, b) = budget_pair(100_000);
    for i in 0..100u8 {
        net.nodes[0].send(s0, a, &[i; 4000]).unwrap();
    }
    net.advance(10);
    let held = net.nodes[1].budget(s1).unwrap().1;
    assert!(held <= 100_000, "held {held}");
    assert!(
        held >= 33_000,
        "a channel's share of the budget is used: {held}"
    );
    let (_, _, ql, _) = net.nodes[0].channel_stats(s0, a).unwrap();
    assert!(ql > 50, "the rest waits in the sender's queue: {ql}");
    // Lowering below what is held loses nothing: reads drain it all.
    net.nodes[1].set_budget(s1, Some(10_000), None).unwrap();
    let mut got = Vec::new();
    for _ in 0..400 {
        got.extend(net.recv_all(1, s1, b));
        assert!(net.nodes[1].budget(s1).unwrap().1 <= 100_000);
        net.advance(3);
        if got.len() == 100 {
            break;
        }
    }
    assert_eq!(got.len(), 100);
    assert!(got.iter().enumerate().all(|(i, m)| m[0] == i as u8));
    assert!(net.closes(1).is_empty());
}

#[test]
fn a_message_up_to_the_budget_completes_though_larger_than_a_channel_share() {
    let (mut net, s0, s1, a, b) = budget_pair(300_000);
    // Three channels: a share is 100 KB; the message is 290 KB.
    let big: Vec<u8> = (0..290_000u32).map(|i| i as u8).collect();
    net.nodes[0].send(s0, a, &big).unwrap();
    net.run();
    net.advance(20);
    assert!(net.nodes[1].budget(s1).unwrap().1 <= 300_000);
    let got = net.recv_all(1, s1, b);
    assert!(got == vec![big], "{} messages", got.len());
    assert!(net.closes(1).is_empty());
}

#[test]
fn a_message_larger_than_the_budget_closes_the_session_with_message_too_large() {
    let (mut net, s0, s1, a, b) = budget_pair(64_000);
    net.nodes[0].send(s0, a, b"small first").unwrap();
    net.nodes[0].send(s0, a, &vec![7u8; 200_000]).unwrap();
    for _ in 0..20 {
        net.advance(3);
        let _ = net.recv_all(1, s1, b);
    }
    assert_eq!(net.closes(1), vec!["message_too_large"]);
    let peer = net.events[0].iter().find_map(|e| match e {
        Event::SessionClose {
            reason, message, ..
        } => Some((*reason, message.clone())),
        _ => None,
    });
    let (reason, message) = peer.expect("the sender's session closed");
    assert_eq!(reason, "peer_closed");
    assert!(
        message
            .unwrap_or_default()
            .starts_with("MESSAGE_TOO_LARGE\n"),
        "the sender learns why"
    );
    assert!(net.nodes[1].budget(s1).unwrap().1 <= 64_000 + 16_384);
}

#[test]
fn a_protected_disconnected_session_is_never_evicted_for_a_new_one() {
    let (mut net, _, s1, c) = pair(none(), serde_json::json!({"max_sessions": 2}));
    let fp1 = net.fp(1);
    net.nodes[1].set_budget(s1, None, Some(true)).unwrap();
    let k = net.add(none());
    net.connect(k, 1, &fp1);
    net.run();
    net.cut(0, c);
    net.run();
    assert_eq!(net.nodes[1].state_name(s1), Some("disconnected"));
    for _ in 0..5 {
        let j = net.add(none());
        net.connect(j, 1, &fp1);
        net.run();
        assert_eq!(connect_failures(&net, j, "TOO_MANY_HANDSHAKES"), 1);
    }
    assert_eq!(closes(&net, 1, "evicted"), 0);
    assert_eq!(net.nodes[1].state_name(s1), Some("disconnected"));
    // Unprotected again, it is the one evicted.
    net.nodes[1].set_budget(s1, None, Some(false)).unwrap();
    let j = net.add(none());
    net.connect(j, 1, &fp1);
    net.run();
    assert_eq!(closes(&net, 1, "evicted"), 1);
}

#[test]
fn per_address_limits_count_an_ipv6_slash_64_as_one_address() {
    use crate::node::address_key;
    assert_eq!(address_key("10.1.2.3"), "10.1.2.3");
    assert_eq!(address_key("::ffff:10.1.2.3"), "10.1.2.3");
    assert_eq!(address_key("2001:db8:1:2::5"), "2001:db8:1:2::/64");
    assert_eq!(address_key("[2001:db8:1:2:aaaa::9]"), "2001:db8:1:2::/64");
    assert_ne!(
        address_key("2001:db8:1:3::5"),
        address_key("2001:db8:1:2::5")
    );
    assert_eq!(address_key("fe80::1%eth0"), "fe80::/64");
    assert_eq!(address_key("pipe-a"), "pipe-a");
    let (mut net, _, _, _) = pair(none(), serde_json::json!({"max_sessions_per_address": 2}));
    let fp1 = net.fp(1);
    let mut refused = 0;
    for addr in ["2001:db8::1", "2001:db8::2", "2001:db8:0:0:ffff::3"] {
        let k = net.add(none());
        net.connect_from(k, 1, &fp1, addr);
        net.run();
        refused += connect_failures(&net, k, "TOO_MANY_SESSIONS");
    }
    assert_eq!(refused, 1, "three addresses of one /64 share two sessions");
    assert_eq!(net.nodes[1].sessions_from("2001:db8::77"), 2);
    let k = net.add(none());
    net.connect_from(k, 1, &fp1, "2001:db8:0:1::1");
    net.run();
    assert_eq!(
        connect_failures(&net, k, "TOO_MANY_SESSIONS"),
        0,
        "another /64"
    );
}
